//! `remove_auth_methods`: remove the sign-in methods the attacker registered, keep the user's own.
//!
//! How a method is judged the attacker's: Graph gives `createdDateTime` on some method types
//! (Microsoft Authenticator, FIDO2, Windows Hello, platform credentials, password, TAP) and none
//! on others (phone, email, software OATH). A dated method is removed when its `createdDateTime`
//! falls inside the window (`registered_after`..`registered_before`) and its type passes
//! `method_types`; an undated one is kept and named in the outcome for a person to check,
//! unless the step names its type in `method_types` and sets `include_undated`. The password
//! is never removed (it is reset, not deleted), nor a Temporary Access Pass.
//!
//! Graph has no undo for a removed method, so the outcome and the restore data list exactly
//! what was removed (for people: the user registers again), and rollback refuses, saying why.
//! A removal that would leave the user no method besides the password needs a person.
//! With `temporary_access_pass` the user gets a pass to register again (`access_pass.rs`).

use serde_json::{Value, json};

use super::access_pass;
use super::lifecycle::{ActionError, Evidence, Execution, Restore};
use super::runner::{GraphRunner, graph_failure};
use super::window::{
    Window, failed, list_param, needs_human, none_left, still_present, user_path, with_id,
};
use crate::graph::{Expect, GraphRequest};
use stanch_core::engine::PlannedAction;

/// Each removable method type: its `@odata.type`, its name in `method_types`, its collection.
const REMOVABLE: &[(&str, &str, &str)] = &[
    (
        "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod",
        "microsoftauthenticator",
        "microsoftAuthenticatorMethods",
    ),
    (
        "#microsoft.graph.phoneAuthenticationMethod",
        "phone",
        "phoneMethods",
    ),
    (
        "#microsoft.graph.emailAuthenticationMethod",
        "email",
        "emailMethods",
    ),
    (
        "#microsoft.graph.softwareOathAuthenticationMethod",
        "softwareoath",
        "softwareOathMethods",
    ),
    (
        "#microsoft.graph.fido2AuthenticationMethod",
        "fido2",
        "fido2Methods",
    ),
    (
        "#microsoft.graph.windowsHelloForBusinessAuthenticationMethod",
        "windowshelloforbusiness",
        "windowsHelloForBusinessMethods",
    ),
    (
        "#microsoft.graph.platformCredentialAuthenticationMethod",
        "platformcredential",
        "platformCredentialMethods",
    ),
];

const PASSWORD: &str = "#microsoft.graph.passwordAuthenticationMethod";

pub(super) const NO_UNDO: &str = "Graph cannot restore a removed authentication method: the user registers it again (a Temporary Access Pass lets them sign in to do so); the outcome lists what was removed";

fn removable(method: &Value) -> Option<&'static (&'static str, &'static str, &'static str)> {
    let kind = method["@odata.type"].as_str()?;
    REMOVABLE.iter().find(|(t, _, _)| *t == kind)
}

/// What the outcome keeps of a method: enough for a person to recognize it.
fn summary(method: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for key in [
        "id",
        "@odata.type",
        "displayName",
        "createdDateTime",
        "phoneNumber",
        "phoneType",
        "emailAddress",
        "model",
        "deviceTag",
    ] {
        if let Some(v) = method.get(key).filter(|v| !v.is_null()) {
            out.insert(key.to_string(), v.clone());
        }
    }
    Value::Object(out)
}

/// Every method of the user. The list's documentation names no query parameters, so the whole
/// objects are read (they are small).
pub(super) async fn read_methods(
    runner: &GraphRunner,
    action: &PlannedAction,
) -> Result<Value, ActionError> {
    let path = user_path(action)?
        .segment("authentication")
        .segment("methods");
    let body = runner.call(action, GraphRequest::get(path)).await?.body;
    Ok(json!({"methods": body["value"].clone()}))
}

struct Selection {
    remove: Vec<Value>,
    kept: Vec<Value>,
    undated: Vec<Value>,
}

fn select(action: &PlannedAction, methods: &[Value]) -> Result<Selection, ActionError> {
    let window = Window::of(action)?;
    let types = list_param(action, "method_types");
    let include_undated = action.params.get("include_undated") == Some(&Value::Bool(true));
    if include_undated && types.is_empty() {
        return Err(failed(
            action,
            "`include_undated` needs `method_types`: undated methods of every type would include the user's own phone".into(),
        ));
    }
    let mut selection = Selection {
        remove: Vec::new(),
        kept: Vec::new(),
        undated: Vec::new(),
    };
    for method in methods {
        let Some((_, name, _)) = removable(method) else {
            selection.kept.push(summary(method));
            continue;
        };
        let typed = types.is_empty() || types.iter().any(|t| t == name);
        match window.contains(&method["createdDateTime"]) {
            Some(inside) if inside && typed => selection.remove.push(method.clone()),
            Some(_) => selection.kept.push(summary(method)),
            None if typed && include_undated => selection.remove.push(method.clone()),
            None => selection.undated.push(summary(method)),
        }
    }
    Ok(selection)
}

pub(super) async fn remove_methods(
    runner: &GraphRunner,
    action: &PlannedAction,
    evidence: &Evidence,
) -> Result<Execution, ActionError> {
    let methods = evidence.0["methods"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let selection = select(action, &methods)?;
    let pass_channel = access_pass::channel(runner, action)?;
    let left = methods
        .iter()
        .filter(|m| m["@odata.type"] != PASSWORD)
        .filter(|m| !selection.remove.iter().any(|r| r["id"] == m["id"]))
        .count();
    if !selection.remove.is_empty() && left == 0 {
        let named: Vec<Value> = selection.remove.iter().map(summary).collect();
        return Err(needs_human(
            action,
            format!(
                "removing {} would leave the user no sign-in method but the password; a person decides (nothing was removed)",
                Value::Array(named)
            ),
        ));
    }
    let mut removed = Vec::new();
    for method in &selection.remove {
        let (_, _, collection) = removable(method).expect("selected methods are removable");
        let id = method["id"].as_str().unwrap_or_default();
        let path = with_id(
            action,
            user_path(action)?
                .segment("authentication")
                .segment(collection),
            id,
        )?;
        let request = GraphRequest::delete(path).expecting(Expect::NoContent);
        match runner.call_raw(action, request).await? {
            Ok(_) => removed.push(summary(method)),
            // Gone since the pre-check (a person, or an earlier run): nothing left to do.
            Err(e) if e.is_not_found() => {}
            Err(e) if e.status() == Some(400) && e.to_string().contains("default method") => {
                return Err(needs_human(
                    action,
                    format!(
                        "`{}` is the user's default sign-in method, which Graph will not delete while others remain: change the default in Entra, then retry (already removed: {})",
                        method["displayName"].as_str().unwrap_or(id),
                        Value::Array(removed)
                    ),
                ));
            }
            Err(e) => return Err(graph_failure(action, e)),
        }
    }
    let mut manual_steps: Vec<Value> = selection
        .undated
        .iter()
        .map(|m| {
            json!(format!(
                "Graph gives no registration time for {} `{}`: check it with the user",
                m["@odata.type"].as_str().unwrap_or_default(),
                m["phoneNumber"]
                    .as_str()
                    .or(m["emailAddress"].as_str())
                    .or(m["id"].as_str())
                    .unwrap_or_default()
            ))
        })
        .collect();
    if !removed.is_empty() {
        manual_steps.push(json!(NO_UNDO));
    }
    let pass = match pass_channel {
        Some(channel) => access_pass::issue(runner, action, &methods, &channel).await?,
        None => Value::Null,
    };
    let window = Window::of(action)?.describe();
    Ok(Execution {
        evidence: evidence.clone(),
        outcome: json!({
            "window": window,
            "removed": removed,
            "kept": selection.kept,
            "undated_kept": selection.undated,
            "manual_steps": manual_steps,
            "temporary_access_pass": pass,
        }),
        // Kept for people only: nothing can put a removed method back.
        restore: (!removed.is_empty())
            .then(|| Restore(json!({"removed": removed, "undo": NO_UNDO}))),
    })
}

pub(super) async fn verify_removed(
    runner: &GraphRunner,
    action: &PlannedAction,
    execution: &Execution,
) -> Result<(), ActionError> {
    let removed = execution.outcome["removed"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if removed.is_empty() {
        return Ok(());
    }
    let now = read_methods(runner, action).await?;
    let now = now["methods"].as_array().cloned().unwrap_or_default();
    none_left(
        action,
        "methods still registered after removing them",
        &still_present(&removed, &now),
    )
}
