//! Message trace (`admin/exchange/tracing/messageTraces`, v1.0): one row per recipient of each
//! message, with its documented limits. At most 100 requests in a running 5-minute window (past
//! it: 429 with `Retry-After`, until the oldest request leaves the window); without a
//! `receivedDateTime` range only the last 48 hours are searched; a range must have both bounds,
//! span at most 10 days, start at most 90 days ago and end no later than now.

use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::fixture::Fixture;
use crate::wire::{
    GraphRequest, GraphResponse, method_not_allowed, query_pairs, query_param, split_conjunction,
};

pub const MAX_REQUESTS: usize = 100;
pub const WINDOW: Duration = Duration::from_secs(300);

/// Properties the documentation lets `$filter` compare with `eq`.
const EQ_FIELDS: &[&str] = &[
    "id",
    "senderAddress",
    "recipientAddress",
    "messageId",
    "status",
    "fromIP",
    "toIP",
];

fn bad(message: &str) -> GraphResponse {
    GraphResponse::error(StatusCode::BAD_REQUEST, "BadRequest", message)
}

pub fn route(tenant: &mut Fixture, req: &GraphRequest) -> GraphResponse {
    if req.method != Method::GET {
        return method_not_allowed();
    }
    if let Some(wait) = throttled(tenant) {
        return GraphResponse::error(
            StatusCode::TOO_MANY_REQUESTS,
            "TooManyRequests",
            "Message trace allows 100 requests per 5 minutes; retry later.",
        )
        .with_header("Retry-After", wait.as_secs().max(1).to_string());
    }
    let params = query_pairs(&req.query);
    let filter = query_param(&params, "$filter").unwrap_or_default();
    let (equal, range) = match parse(&filter) {
        Ok(parsed) => parsed,
        Err(e) => return e,
    };
    let now = Utc::now();
    let (from, until) = match range {
        (None, None) => (now - chrono::Duration::hours(48), now),
        (Some(from), Some(until)) => {
            if until - from > chrono::Duration::days(10) {
                return bad("The time interval must not exceed 10 days.");
            }
            if from < now - chrono::Duration::days(90) {
                return bad(
                    "The start date must not be more than 90 days before the current date.",
                );
            }
            if until > now {
                return bad("The end date must not be later than the current date.");
            }
            (from, until)
        }
        _ => return bad("Filter on receivedDateTime with both a ge and a le bound."),
    };
    let top = match query_param(&params, "$top").map(|t| t.parse::<usize>()) {
        None => 1000,
        Some(Ok(n)) if (1..=5000).contains(&n) => n,
        Some(_) => return bad("$top must be between 1 and 5000."),
    };
    let skip = query_param(&params, "$skiptoken")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0);
    let found: Vec<&Value> = tenant
        .message_traces
        .iter()
        .filter(|row| {
            equal.iter().all(|(field, value)| {
                row.get(field.as_str())
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case(value))
            })
        })
        .filter(|row| received(row).is_some_and(|at| at >= from && at <= until))
        .collect();
    crate::paging::page(
        req,
        "admin/exchange/tracing/messageTraces",
        &found,
        skip,
        top,
        &[("$filter", query_param(&params, "$filter"))],
    )
}

/// Counts this request in the running window; how long to wait if the window is full.
fn throttled(tenant: &mut Fixture) -> Option<Duration> {
    let now = Instant::now();
    tenant
        .trace_requests
        .retain(|at| now.duration_since(*at) < WINDOW);
    if tenant.trace_requests.len() >= MAX_REQUESTS {
        let oldest = tenant.trace_requests[0];
        return Some(WINDOW.saturating_sub(now.duration_since(oldest)));
    }
    tenant.trace_requests.push(now);
    None
}

fn received(row: &Value) -> Option<DateTime<Utc>> {
    row.get("receivedDateTime")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc())
}

type Bounds = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// `field eq 'value'` clauses and the `receivedDateTime ge/le` bounds, joined by `and`.
fn parse(filter: &str) -> Result<(Vec<(String, String)>, Bounds), GraphResponse> {
    let invalid = || bad(&format!("Invalid filter clause: {filter}"));
    let mut equal = Vec::new();
    let mut bounds: Bounds = (None, None);
    if filter.trim().is_empty() {
        return Ok((equal, bounds));
    }
    for clause in split_conjunction(filter) {
        let mut words = clause.trim().splitn(3, ' ');
        let (Some(field), Some(op), Some(value)) = (words.next(), words.next(), words.next())
        else {
            return Err(invalid());
        };
        let op = op.to_ascii_lowercase();
        if field.eq_ignore_ascii_case("receivedDateTime") {
            let at = DateTime::parse_from_rfc3339(value.trim())
                .map_err(|_| invalid())?
                .to_utc();
            match op.as_str() {
                "ge" => bounds.0 = Some(at),
                "le" => bounds.1 = Some(at),
                _ => return Err(invalid()),
            }
            continue;
        }
        let Some(known) = EQ_FIELDS.iter().find(|k| k.eq_ignore_ascii_case(field)) else {
            return Err(invalid());
        };
        let quoted = value
            .trim()
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''));
        match (op.as_str(), quoted) {
            ("eq", Some(text)) => equal.push((known.to_string(), text.replace("''", "'"))),
            _ => return Err(invalid()),
        }
    }
    Ok((equal, bounds))
}
