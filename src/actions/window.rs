//! The compromise window the persistence actions look in (`registered_after`, optionally
//! `registered_before`), and the small helpers they share: reading a step's list parameters and
//! the user path their Graph calls start from.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::lifecycle::ActionError;
use super::runner::{GraphRunner, graph_failure, target_id, target_text};
use crate::graph::{Expect, GraphPath, GraphRequest};
use stanch_core::engine::PlannedAction;

#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    after: DateTime<Utc>,
    before: Option<DateTime<Utc>>,
}

impl Window {
    /// The step's window. Its start always has a value (the playbook default is the campaign's
    /// window start); without one the action refuses rather than treat everything as inside.
    pub(super) fn of(action: &PlannedAction) -> Result<Window, ActionError> {
        let time = |name: &str| -> Result<Option<DateTime<Utc>>, ActionError> {
            let Some(value) = action.params.get(name) else {
                return Ok(None);
            };
            value
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| Some(t.with_timezone(&Utc)))
                .ok_or_else(|| failed(action, format!("`{name}` is not an RFC 3339 time: {value}")))
        };
        let after = time("registered_after")?.ok_or_else(|| {
            failed(
                action,
                "no `registered_after`: without a window start everything would count as the attacker's"
                    .into(),
            )
        })?;
        Ok(Window {
            after,
            before: time("registered_before")?,
        })
    }

    /// Whether a Graph timestamp falls inside; `None` when there is none or it does not parse.
    pub(super) fn contains(&self, stamp: &Value) -> Option<bool> {
        let at = DateTime::parse_from_rfc3339(stamp.as_str()?).ok()?;
        let at = at.with_timezone(&Utc);
        Some(at >= self.after && self.before.is_none_or(|end| at < end))
    }

    pub(super) fn describe(&self) -> Value {
        json!({"registered_after": self.after, "registered_before": self.before})
    }
}

pub(super) fn failed(action: &PlannedAction, reason: String) -> ActionError {
    ActionError::Failed {
        action: action.action.to_string(),
        target: target_text(action),
        reason,
    }
}

pub(super) fn needs_human(action: &PlannedAction, reason: String) -> ActionError {
    ActionError::NeedsHuman {
        action: action.action.to_string(),
        target: target_text(action),
        reason,
    }
}

/// A list parameter as lower-cased strings (empty when the step does not set it).
pub(super) fn list_param(action: &PlannedAction, name: &str) -> Vec<String> {
    action
        .params
        .get(name)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_lowercase)
        .collect()
}

/// `users/{target}`, the start of every per-user call.
pub(super) fn user_path(action: &PlannedAction) -> Result<GraphPath, ActionError> {
    GraphPath::new(["users"])
        .id(target_id(action)?)
        .map_err(|e| graph_failure(action, e))
}

/// Appends an opaque Graph id to `path`, as an action failure when it is unusable.
pub(super) fn with_id(
    action: &PlannedAction,
    path: GraphPath,
    id: &str,
) -> Result<GraphPath, ActionError> {
    path.opaque(id).map_err(|e| graph_failure(action, e))
}

/// Sets `accountEnabled` on the directory object at `path` (a device, a service principal):
/// Graph's error is handed back for the caller to judge (a 404 may mean there is nothing to do).
pub(super) async fn set_object_enabled(
    runner: &GraphRunner,
    action: &PlannedAction,
    path: GraphPath,
    enabled: bool,
) -> Result<Result<(), crate::graph::GraphError>, ActionError> {
    let request =
        GraphRequest::patch(path, json!({"accountEnabled": enabled})).expecting(Expect::NoContent);
    Ok(runner.call_raw(action, request).await?.map(|_| ()))
}

/// A verification's verdict: fine when nothing is `left`, else a failure naming each id.
pub(super) fn none_left<S: AsRef<str>>(
    action: &PlannedAction,
    what: &str,
    left: &[S],
) -> Result<(), ActionError> {
    if left.is_empty() {
        return Ok(());
    }
    let left: Vec<&str> = left.iter().map(AsRef::as_ref).collect();
    Err(failed(action, format!("{what}: {}", left.join(", "))))
}

/// The ids of `items` that are still in `now` (for verification after removal).
pub(super) fn still_present<'a>(items: &'a [Value], now: &[Value]) -> Vec<&'a str> {
    items
        .iter()
        .filter_map(|item| item["id"].as_str())
        .filter(|id| now.iter().any(|n| n["id"].as_str() == Some(*id)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_includes_its_start_and_excludes_its_end_and_undated_items() {
        let window = Window {
            after: "2021-06-01T00:00:00Z".parse().unwrap(),
            before: Some("2021-06-02T00:00:00Z".parse().unwrap()),
        };
        let at = |t: &str| window.contains(&json!(t));
        assert_eq!(at("2021-06-01T00:00:00Z"), Some(true));
        assert_eq!(at("2021-06-01T08:31:00+02:00"), Some(true));
        assert_eq!(at("2021-05-31T23:59:59Z"), Some(false));
        assert_eq!(at("2021-06-02T00:00:00Z"), Some(false));
        assert_eq!(window.contains(&Value::Null), None);
        assert_eq!(at("yesterday"), None);
    }
}
