//! Defender XDR alerts: `GET /security/alerts_v2` (and `/{id}`) from the fixture's
//! `securityAlerts`, with `$filter` on `createdDateTime` (`ge`, `gt`, `le`, `lt`, `eq`, joined
//! by `and`), `$orderby=createdDateTime asc|desc`, `$top` and `@odata.nextLink` paging.
//! `POST /_emulator/alerts` (or [`Emulator::add_alert`]) raises an alert at runtime.

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::emulator::{Emulator, lock};
use crate::fixture::Fixture;
use crate::wire::{
    GraphRequest, GraphResponse, bad_request, method_not_allowed, not_found, now_rfc3339,
    query_pairs, query_param, unknown_segment,
};

/// Graph's page size cap for alerts_v2.
const MAX_TOP: usize = 2000;

impl Emulator {
    /// Adds an alert as if Defender had just raised it. A missing `id` gets a fresh GUID and a
    /// missing `createdDateTime` the current time. Returns the stored alert.
    pub fn add_alert(&self, mut alert: Value) -> Value {
        if let Some(obj) = alert.as_object_mut() {
            obj.entry("id")
                .or_insert_with(|| json!(uuid::Uuid::new_v4().to_string()));
            obj.entry("createdDateTime")
                .or_insert_with(|| json!(now_rfc3339()));
        }
        lock(&self.shared.tenant)
            .security_alerts
            .push(alert.clone());
        alert
    }
}

pub fn control_router() -> Router<Emulator> {
    Router::new().route("/_emulator/alerts", post(add))
}

async fn add(State(emulator): State<Emulator>, body: axum::body::Bytes) -> Response {
    match serde_json::from_slice::<Value>(&body) {
        Ok(alert @ Value::Object(_)) => {
            (StatusCode::CREATED, Json(emulator.add_alert(alert))).into_response()
        }
        Ok(_) => (StatusCode::BAD_REQUEST, "an alert must be a JSON object").into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, format!("not JSON: {e}")).into_response(),
    }
}

/// `segs` starts after `alerts_v2`.
pub fn route(tenant: &Fixture, req: &GraphRequest, segs: &[String]) -> GraphResponse {
    if req.method != Method::GET {
        return method_not_allowed();
    }
    match segs {
        [] => list(tenant, req),
        [id] => tenant
            .security_alerts
            .iter()
            .find(|a| a.get("id").and_then(Value::as_str) == Some(id.as_str()))
            .map_or_else(|| not_found(id), |a| GraphResponse::ok(a.clone())),
        _ => unknown_segment(segs.last().map(String::as_str).unwrap_or("")),
    }
}

fn created(alert: &Value) -> Option<DateTime<Utc>> {
    alert
        .get("createdDateTime")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// `createdDateTime <op> <time>` clauses joined by `and`.
fn parse_filter(filter: &str) -> Result<Vec<(String, DateTime<Utc>)>, GraphResponse> {
    let invalid = || {
        GraphResponse::error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Invalid filter clause: {filter}"),
        )
    };
    let mut clauses = Vec::new();
    for part in filter.split(" and ") {
        let words: Vec<&str> = part.split_whitespace().collect();
        let [field, op, value] = words.as_slice() else {
            return Err(invalid());
        };
        let op = op.to_ascii_lowercase();
        if !field.eq_ignore_ascii_case("createdDateTime")
            || !matches!(op.as_str(), "eq" | "ge" | "gt" | "le" | "lt")
        {
            return Err(invalid());
        }
        let value = value.trim_matches('\'');
        let at = DateTime::parse_from_rfc3339(value).map_err(|_| invalid())?;
        clauses.push((op, at.with_timezone(&Utc)));
    }
    Ok(clauses)
}

fn matches(alert: &Value, clauses: &[(String, DateTime<Utc>)]) -> bool {
    let Some(at) = created(alert) else {
        return clauses.is_empty();
    };
    clauses.iter().all(|(op, value)| match op.as_str() {
        "eq" => at == *value,
        "ge" => at >= *value,
        "gt" => at > *value,
        "le" => at <= *value,
        _ => at < *value,
    })
}

fn list(tenant: &Fixture, req: &GraphRequest) -> GraphResponse {
    let params = query_pairs(&req.query);
    let get = |name: &str| query_param(&params, name);
    let clauses = match get("$filter").map(|f| parse_filter(&f)).transpose() {
        Ok(c) => c.unwrap_or_default(),
        Err(e) => return e,
    };
    let descending = match get("$orderby").map(|o| o.to_ascii_lowercase()) {
        None => false,
        Some(o) if o == "createddatetime" || o == "createddatetime asc" => false,
        Some(o) if o == "createddatetime desc" => true,
        Some(o) => return bad_request(&format!("Unsupported $orderby: {o}")),
    };
    let top = match get("$top").map(|t| t.parse::<usize>()) {
        None => MAX_TOP,
        Some(Ok(n)) if (1..=MAX_TOP).contains(&n) => n,
        Some(_) => return bad_request(&format!("$top must be between 1 and {MAX_TOP}.")),
    };
    let skip = get("$skiptoken")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0);
    let mut found: Vec<&Value> = tenant
        .security_alerts
        .iter()
        .filter(|a| matches(a, &clauses))
        .collect();
    // Stable: alerts created at the same instant keep the order they were raised in.
    found.sort_by_key(|a| created(a));
    if descending {
        found.reverse();
    }
    crate::paging::page(
        req,
        "security/alerts_v2",
        &found,
        skip,
        top,
        &[("$filter", get("$filter")), ("$orderby", get("$orderby"))],
    )
}
