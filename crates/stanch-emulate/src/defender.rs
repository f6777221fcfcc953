//! Defender for Office 365's email entities (`security/collaboration/analyzedEmails`, v1.0): one
//! row per recipient of each delivered message, built from the mailboxes, and `remediate`, which
//! moves or deletes the copies it names. Real Defender answers `202` and acts later through its
//! Action Center; the emulator acts before answering, which a client must not rely on. Defender
//! reaches every mailbox, including one the app cannot read through `Mail.ReadWrite`.

use std::hash::{DefaultHasher, Hash, Hasher};

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::fixture::Fixture;
use crate::wire::{
    GraphRequest, GraphResponse, bad_request, json_body, metadata, method_not_allowed, parse_eq,
    query_pairs, query_param, split_conjunction, unknown_segment, unsupported_query,
};

const FILTER_FIELDS: &[&str] = &[
    "internetMessageId",
    "networkMessageId",
    "recipientEmailAddress",
];

/// Where each remediation puts a copy; `None` deletes it for good.
fn destination(action: &str) -> Option<Option<&'static str>> {
    match action {
        "moveToDeletedItems" => Some(Some("deleteditems")),
        "softDelete" => Some(Some("recoverableitemsdeletions")),
        "moveToInbox" => Some(Some("inbox")),
        "hardDelete" => Some(None),
        _ => None,
    }
}

/// The same message's id in every mailbox, as Exchange gives one per message in the tenant.
pub fn network_message_id(internet_message_id: &str) -> String {
    let part = |salt: u8| {
        let mut hasher = DefaultHasher::new();
        (salt, internet_message_id).hash(&mut hasher);
        hasher.finish()
    };
    let (a, b) = (part(1), part(2));
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_default()
}

pub fn route(tenant: &mut Fixture, req: &GraphRequest, rest: &[String]) -> GraphResponse {
    let rest: Vec<String> = rest.iter().map(|s| s.to_ascii_lowercase()).collect();
    match (
        rest.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        &req.method,
    ) {
        (["analyzedemails"], &Method::GET) => list(tenant, req),
        (["analyzedemails", "remediate"], &Method::POST) => remediate(tenant, req),
        (["analyzedemails"] | ["analyzedemails", "remediate"], _) => method_not_allowed(),
        _ => unknown_segment(rest.last().map(String::as_str).unwrap_or("collaboration")),
    }
}

/// Every recipient's copy of every message, the sender's own left out.
fn rows(tenant: &Fixture) -> Vec<Value> {
    let mut rows = Vec::new();
    for user in &tenant.users {
        let upn = &user.user_principal_name;
        let Some(messages) = tenant
            .messages
            .get(upn)
            .or_else(|| tenant.messages.get(&user.id))
        else {
            continue;
        };
        for m in messages {
            let sender = m["sender"]["emailAddress"]["address"]
                .as_str()
                .unwrap_or_default();
            if sender.eq_ignore_ascii_case(upn) {
                continue;
            }
            let network_id = network_message_id(text(m, "internetMessageId"));
            rows.push(json!({
                "id": format!("{network_id}-{}", upn.to_ascii_lowercase()),
                "loggedDateTime": m["receivedDateTime"],
                "networkMessageId": network_id,
                "internetMessageId": m["internetMessageId"],
                "recipientEmailAddress": upn,
                "senderDetail": {"fromAddress": sender, "mailFromAddress": sender},
                "subject": m["subject"],
                "directionality": "intraOrg",
                "latestDelivery": {"location": m["parentFolderId"]},
            }));
        }
    }
    rows
}

fn list(tenant: &Fixture, req: &GraphRequest) -> GraphResponse {
    let pairs = query_pairs(&req.query);
    let time = |name: &str| -> Result<Option<DateTime<Utc>>, GraphResponse> {
        match query_param(&pairs, name) {
            None => Ok(None),
            Some(t) => DateTime::parse_from_rfc3339(&t)
                .map(|t| Some(t.to_utc()))
                .map_err(|_| bad_request(&format!("{name} must be a DateTime, found {t}"))),
        }
    };
    let (start, end) = match (time("startTime"), time("endTime")) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let filter = query_param(&pairs, "$filter").unwrap_or_default();
    let mut clauses = Vec::new();
    if !filter.trim().is_empty() {
        for clause in split_conjunction(&filter) {
            match parse_eq(clause, FILTER_FIELDS) {
                Some(c) => clauses.push(c),
                None => return unsupported_query(&filter),
            }
        }
    }
    let value: Vec<Value> = rows(tenant)
        .into_iter()
        .filter(|row| {
            let at = DateTime::parse_from_rfc3339(text(row, "loggedDateTime")).map(|t| t.to_utc());
            let inside =
                at.is_ok_and(|at| start.is_none_or(|s| at >= s) && end.is_none_or(|e| at <= e));
            inside
                && clauses
                    .iter()
                    .all(|(field, v)| text(row, field).eq_ignore_ascii_case(v))
        })
        .collect();
    GraphResponse::ok(
        json!({"@odata.context": metadata("security/collaboration/analyzedEmails"), "value": value}),
    )
}

fn remediate(tenant: &mut Fixture, req: &GraphRequest) -> GraphResponse {
    let body = match json_body(req) {
        Ok(body) => body,
        Err(e) => return e,
    };
    let action = body
        .get("action")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(destination) = destination(action) else {
        return bad_request(&format!("Invalid remediation action '{action}'."));
    };
    if body
        .get("displayName")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return bad_request("displayName is required.");
    }
    let Some(emails) = body
        .get("analyzedEmails")
        .and_then(Value::as_array)
        .filter(|e| !e.is_empty())
    else {
        return bad_request("analyzedEmails must list at least one email.");
    };
    for email in emails {
        let (network_id, recipient) = (
            text(email, "networkMessageId"),
            text(email, "recipientEmailAddress"),
        );
        if network_id.is_empty() || recipient.is_empty() {
            return bad_request(
                "Each analyzed email needs networkMessageId and recipientEmailAddress.",
            );
        }
        let Some(user) = tenant.user_index(recipient) else {
            continue;
        };
        let messages = tenant.messages_mut(user);
        let same = |m: &Value| network_message_id(text(m, "internetMessageId")) == network_id;
        match destination {
            Some(folder) => messages
                .iter_mut()
                .filter(|m| same(m))
                .for_each(|m| m["parentFolderId"] = json!(folder)),
            None => messages.retain(|m| !same(m)),
        }
    }
    let bulk = uuid::Uuid::new_v4();
    GraphResponse {
        status: StatusCode::ACCEPTED,
        headers: Vec::new(),
        body: None,
        raw: None,
    }
    .with_header(
        "Location",
        format!("https://security.microsoft.com/action-center/history?filters={{\"bulkId\":[\"{bulk}\"]}}"),
    )
}
