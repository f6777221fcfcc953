//! The Temporary Access Pass `remove_auth_methods` may issue, so the user can sign in once and
//! register their methods again.
//!
//! Graph shows the pass once, in the 201 of `POST …/temporaryAccessPassMethods`. It goes only to
//! the `notify` channel the step names in `pass_channel` (people who hand it over by phone or in
//! person), never to the user's mailbox, which the attacker may still read. It never reaches the
//! audit trail (the request carries no pass, the answer's body is not recorded, the delivery's
//! record shows `[redacted]`), the outcome or a log; it lives in a [`SecretString`].

use serde_json::{Value, json};
use stanch_core::secret::SecretString;

use super::lifecycle::ActionError;
use super::notify::deliver;
use super::runner::{GraphRunner, target_text};
use super::window::{failed, user_path, with_id};
use crate::graph::{Expect, GraphRequest};
use stanch_core::engine::PlannedAction;

const LIFETIME_MINUTES: i64 = 60;
const TAP_TYPE: &str = "#microsoft.graph.temporaryAccessPassAuthenticationMethod";
pub(super) const REDACTED: &str = "[redacted]";

/// The channel a pass would go to, checked before anything is removed: a pass that could not be
/// delivered is not issued. `None` when the step asks for no pass.
pub(super) fn channel(
    runner: &GraphRunner,
    action: &PlannedAction,
) -> Result<Option<String>, ActionError> {
    if action.params.get("temporary_access_pass") != Some(&Value::Bool(true)) {
        return Ok(None);
    }
    let Some(channel) = action.params.get("pass_channel").and_then(Value::as_str) else {
        return Err(failed(
            action,
            "`temporary_access_pass` needs `pass_channel`: the pass goes only to a configured notify channel, never to the mailbox".into(),
        ));
    };
    if !runner.notify.contains_key(channel) {
        return Err(failed(
            action,
            format!(
                "no webhook for the pass channel `{channel}`; set `notify.{channel}` in the config (nothing was removed)"
            ),
        ));
    }
    Ok(Some(channel.to_string()))
}

/// Issues a single-use pass and delivers it; a user who already holds one gets no second.
pub(super) async fn issue(
    runner: &GraphRunner,
    action: &PlannedAction,
    methods: &[Value],
    channel: &str,
) -> Result<Value, ActionError> {
    if methods.iter().any(|m| m["@odata.type"] == TAP_TYPE) {
        return Ok(json!({
            "issued": false,
            "why": "the user already holds a Temporary Access Pass (from a person or an earlier run); delete it in Entra to have a new one issued",
        }));
    }
    let collection = user_path(action)?
        .segment("authentication")
        .segment("temporaryAccessPassMethods");
    let request = GraphRequest::post(
        collection.clone(),
        Some(json!({"lifetimeInMinutes": LIFETIME_MINUTES, "isUsableOnce": true})),
    )
    .expecting(Expect::Created);
    let body = runner.call(action, request).await?.body;
    let id = body["id"].as_str().unwrap_or_default().to_string();
    let Some(pass) = body["temporaryAccessPass"].as_str().map(SecretString::new) else {
        return Err(failed(
            action,
            format!(
                "Graph issued Temporary Access Pass {id} without showing it; delete it in Entra"
            ),
        ));
    };
    let message = |pass: &str| {
        format!(
            "Temporary Access Pass for {}: {pass} (single use, valid {LIFETIME_MINUTES} minutes from {}). Hand it to the user by phone or in person, never by email.",
            target_text(action),
            body["startDateTime"].as_str().unwrap_or("now"),
        )
    };
    if let Err(undelivered) = deliver(
        runner,
        action,
        channel,
        &message(pass.expose()),
        &message(REDACTED),
    )
    .await
    {
        // Nobody has the pass: withdraw it so a retry issues one that can be delivered.
        let path = with_id(action, collection, &id)?;
        let request = GraphRequest::delete(path).expecting(Expect::NoContent);
        let withdrawn = runner.call_raw(action, request).await?.is_ok();
        return Err(failed(
            action,
            format!(
                "the Temporary Access Pass could not be delivered ({undelivered}); {}",
                if withdrawn {
                    "it was withdrawn"
                } else {
                    "withdrawing it failed: delete it in Entra"
                }
            ),
        ));
    }
    Ok(json!({
        "issued": true,
        "id": id,
        "pass": REDACTED,
        "lifetimeInMinutes": body["lifetimeInMinutes"],
        "isUsableOnce": body["isUsableOnce"],
        "startDateTime": body["startDateTime"],
        "delivered_to": channel,
    }))
}
