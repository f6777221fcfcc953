//! Who received a message: the sender's own copy (its to, cc and bcc lines) and message trace
//! (one row per recipient, which also finds them when the attacker deleted the Sent Items copy).
//! Message trace allows 100 requests per 5 minutes for the whole tenant, so it is asked once per
//! wave (every recipient in one filtered read) and the answer is cached for five minutes: the
//! several detections one wave raises, and retries, do not ask again.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::lifecycle::ActionError;
use super::runner::{GraphRunner, graph_failure, target_id};
use crate::graph::{GraphPath, GraphRequest, PageRef};
use stanch_core::engine::PlannedAction;

/// Message trace keeps 90 days; a window starting earlier is refused by Graph.
const TRACE_KEEPS_DAYS: i64 = 89;
/// Pages of 5,000 rows: a wave to 25,000 recipients is listed in five requests.
const TRACE_PAGE: &str = "5000";
const TRACE_MAX_PAGES: usize = 5;

/// The recipients found, and how: the evidence says where each list came from.
pub(super) struct Recipients {
    pub addresses: Vec<String>,
    pub evidence: Value,
}

/// An OData string literal: quotes doubled.
pub(super) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

pub(super) async fn find(
    runner: &GraphRunner,
    action: &PlannedAction,
    internet_message_id: &str,
    sent_around: Option<DateTime<Utc>>,
) -> Result<Recipients, ActionError> {
    let sender = target_id(action)?.to_lowercase();
    let mut found = BTreeSet::new();
    let mut sender_addresses = BTreeSet::from([sender.clone()]);
    let copy = sent_copy(runner, action, &sender, internet_message_id).await?;
    let mut sent_at = sent_around;
    if let Some(copies) = copy["copies"].as_array() {
        for message in copies {
            for line in ["toRecipients", "ccRecipients", "bccRecipients"] {
                found.extend(addresses(&message[line]));
            }
            sender_addresses.extend(addresses(&json!([message["from"]])));
            if let Some(at) = message["sentDateTime"].as_str().and_then(parse_time) {
                sent_at = Some(at);
            }
        }
    }
    // The trace names the sender by SMTP address: the copy's `from`, else the target's UPN.
    let smtp = sender_addresses
        .iter()
        .find(|a| **a != sender)
        .or_else(|| sender_addresses.iter().find(|a| a.contains('@')))
        .cloned();
    let trace = match (smtp, sent_at) {
        (Some(smtp), Some(at)) => {
            let traced = traced(runner, action, &smtp, internet_message_id, at).await?;
            if let Some(rows) = traced["recipients"].as_array() {
                found.extend(rows.iter().filter_map(Value::as_str).map(str::to_string));
            }
            traced
        }
        (None, _) => {
            json!({"asked": false, "why": "the sender's SMTP address is unknown (no Sent Items copy, target given by object id)"})
        }
        (_, None) => {
            json!({"asked": false, "why": "no time to search around (no Sent Items copy, no `sent_around`)"})
        }
    };
    // The compromised sender's own mailbox is evidence, not a recipient.
    found.retain(|a| !sender_addresses.contains(a));
    Ok(Recipients {
        addresses: found.into_iter().collect(),
        evidence: json!({"sent_items": copy, "message_trace": trace}),
    })
}

/// The sender's copies of the message, with their recipient lines.
async fn sent_copy(
    runner: &GraphRunner,
    action: &PlannedAction,
    sender: &str,
    internet_message_id: &str,
) -> Result<Value, ActionError> {
    let path = GraphPath::new(["users"])
        .id(sender)
        .map_err(|e| graph_failure(action, e))?
        .segment("messages")
        .query("$filter", &format!("internetMessageId eq {}", literal(internet_message_id)))
        .query(
            "$select",
            "id,internetMessageId,parentFolderId,subject,sentDateTime,from,toRecipients,ccRecipients,bccRecipients",
        );
    let request = GraphRequest::get(path).with_mailbox(sender.to_string());
    match runner.call_raw(action, request).await? {
        Ok(response) => {
            let copies: Vec<Value> = response.body["value"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|m| m["internetMessageId"] == internet_message_id)
                .cloned()
                .collect();
            Ok(json!({"read": true, "copies": copies}))
        }
        // The attacker's mailbox may be gone or out of scope; message trace still answers.
        Err(e) if e.is_forbidden() || e.is_not_found() => {
            Ok(json!({"read": false, "status": e.status(), "code": e.code()}))
        }
        Err(e) => Err(graph_failure(action, e)),
    }
}

/// Message trace rows of this message from this sender, two days either side of `at`.
async fn traced(
    runner: &GraphRunner,
    action: &PlannedAction,
    sender: &str,
    internet_message_id: &str,
    at: DateTime<Utc>,
) -> Result<Value, ActionError> {
    let key = (sender.to_string(), internet_message_id.to_string());
    if let Some(recipients) = runner.traces.get(&key) {
        return Ok(json!({"asked": true, "cached": true, "recipients": recipients}));
    }
    let now = Utc::now();
    let from = at - chrono::Duration::days(2);
    let until = (at + chrono::Duration::days(2)).min(now);
    if from < now - chrono::Duration::days(TRACE_KEEPS_DAYS) || until <= from {
        return Ok(json!({"asked": false, "why": format!(
            "message trace keeps 90 days and the wave went out at {}: recipients come from the Sent Items copy",
            at.to_rfc3339()
        )}));
    }
    let stamp = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let filter = format!(
        "senderAddress eq {} and messageId eq {} and receivedDateTime ge {} and receivedDateTime le {}",
        literal(sender),
        literal(internet_message_id),
        stamp(from),
        stamp(until)
    );
    let path = GraphPath::new(["admin", "exchange", "tracing", "messageTraces"])
        .query("$filter", &filter)
        .query("$top", TRACE_PAGE);
    let mut at_page = PageRef::First(path);
    let mut recipients = BTreeSet::new();
    for page_number in 1..=TRACE_MAX_PAGES {
        let page = runner.call_page(action, &at_page).await?;
        recipients.extend(
            page.items
                .iter()
                .filter(|row| row["messageId"] == internet_message_id)
                .filter_map(|row| row["recipientAddress"].as_str())
                .map(str::to_lowercase),
        );
        match page.next {
            Some(next) if page_number < TRACE_MAX_PAGES => at_page = next,
            Some(_) => {
                return Err(ActionError::NeedsHuman {
                    action: action.action.to_string(),
                    target: super::runner::target_text(action),
                    reason: format!(
                        "message trace lists more than {} pages of recipients",
                        TRACE_MAX_PAGES
                    ),
                });
            }
            None => break,
        }
    }
    let recipients: Vec<String> = recipients.into_iter().collect();
    runner.traces.put(key, recipients.clone());
    Ok(
        json!({"asked": true, "cached": false, "from": stamp(from), "until": stamp(until), "recipients": recipients}),
    )
}

/// Lower-cased addresses of a recipient list (`[{"emailAddress": {"address": …}}]`).
fn addresses(list: &Value) -> Vec<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["emailAddress"]["address"].as_str())
        .map(|a| a.trim().to_lowercase())
        .filter(|a| !a.is_empty())
        .collect()
}

pub(super) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).ok().map(|t| t.to_utc())
}
