//! Identity Protection (risky users) and the sign-in log.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::fixture::Fixture;
use crate::wire::{
    GraphRequest, GraphResponse, bad_request, json_body, metadata, method_not_allowed, not_found,
    now_rfc3339, query_pairs, query_param, unknown_segment,
};

/// The beta docs cap dismiss at 60 ids; the contract applies it to both calls.
const MAX_IDS: usize = 60;

/// `segs` starts after `riskyUsers`.
pub fn risky_users(tenant: &mut Fixture, req: &GraphRequest, segs: &[String]) -> GraphResponse {
    let action = segs.first().map(|s| s.to_ascii_lowercase());
    match (action.as_deref(), &req.method, segs.len()) {
        (None, &Method::GET, _) => GraphResponse::ok(json!({
            "@odata.context": metadata("identityProtection/riskyUsers"),
            "value": tenant.risky_users,
        })),
        (Some(a @ ("confirmcompromised" | "dismiss")), &Method::POST, 1) => {
            change_risk(tenant, req, a == "confirmcompromised")
        }
        (Some(_), &Method::GET, 1) => {
            let id = &segs[0];
            match tenant.risky_users.iter().find(|r| {
                r.get("id")
                    .and_then(Value::as_str)
                    .is_some_and(|v| v.eq_ignore_ascii_case(id))
            }) {
                Some(r) => GraphResponse::ok(r.clone()),
                None => not_found(id),
            }
        }
        (Some(_), _, 1) | (None, _, _) => method_not_allowed(),
        _ => unknown_segment(segs.last().map(String::as_str).unwrap_or("")),
    }
}

fn change_risk(tenant: &mut Fixture, req: &GraphRequest, confirm: bool) -> GraphResponse {
    let body = match json_body(req) {
        Ok(body) => body,
        Err(e) => return e,
    };
    let Some(ids) = body.get("userIds").and_then(Value::as_array) else {
        return bad_request("The 'userIds' property is required.");
    };
    if ids.is_empty() || ids.len() > MAX_IDS {
        return bad_request(&format!("userIds must hold between 1 and {MAX_IDS} ids."));
    }
    let Some(ids): Option<Vec<&str>> = ids.iter().map(Value::as_str).collect() else {
        return bad_request("userIds must be strings.");
    };
    let (level, state, detail) = if confirm {
        (
            "high",
            "confirmedCompromised",
            "adminConfirmedUserCompromised",
        )
    } else {
        ("none", "dismissed", "adminDismissedAllRiskForUser")
    };
    let now = now_rfc3339();
    for id in ids {
        // Identity Protection creates the record on first use; ids that are not users are ignored.
        let Some(u) = tenant.user_index(id) else {
            continue;
        };
        let user = &tenant.users[u];
        let (user_id, upn, name) = (
            user.id.clone(),
            user.user_principal_name.clone(),
            user.display_name.clone(),
        );
        let pos = match tenant.risky_users.iter().position(|r| {
            r.get("id")
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case(&user_id))
        }) {
            Some(pos) => pos,
            None => {
                tenant.risky_users.push(json!({
                    "id": user_id, "isDeleted": false, "isProcessing": false,
                    "userDisplayName": name, "userPrincipalName": upn,
                }));
                tenant.risky_users.len() - 1
            }
        };
        let record = &mut tenant.risky_users[pos];
        record["riskLevel"] = json!(level);
        record["riskState"] = json!(state);
        record["riskDetail"] = json!(detail);
        record["riskLastUpdatedDateTime"] = json!(now);
    }
    GraphResponse::no_content()
}

/// One `field op value` clause of the sign-in `$filter`.
struct Clause {
    field: String,
    op: String,
    value: String,
}

fn parse_filter(filter: &str) -> Result<Vec<Clause>, GraphResponse> {
    let unsupported = || {
        GraphResponse::error(
            StatusCode::BAD_REQUEST,
            "Request_UnsupportedQuery",
            &format!("Invalid filter clause: {filter}"),
        )
    };
    let mut clauses = Vec::new();
    let parts = crate::wire::split_conjunction(filter);
    for part in parts {
        let mut words = part.trim().splitn(3, ' ');
        let (Some(field), Some(op), Some(value)) = (words.next(), words.next(), words.next())
        else {
            return Err(unsupported());
        };
        let op = op.to_ascii_lowercase();
        if !matches!(op.as_str(), "eq" | "ne" | "ge" | "le" | "gt" | "lt") {
            return Err(unsupported());
        }
        let value = value.trim();
        let value = value
            .strip_prefix('\'')
            .and_then(|v| v.strip_suffix('\''))
            .unwrap_or(value)
            .replace("''", "'");
        let known = [
            "id",
            "userId",
            "appId",
            "createdDateTime",
            "userPrincipalName",
            "ipAddress",
            "location/countryOrRegion",
            "status/errorCode",
            "clientAppUsed",
            "conditionalAccessStatus",
            "correlationId",
            "appDisplayName",
        ];
        let Some(field) = known.iter().find(|k| k.eq_ignore_ascii_case(field)) else {
            return Err(unsupported());
        };
        clauses.push(Clause {
            field: field.to_string(),
            op,
            value,
        });
    }
    Ok(clauses)
}

fn matches(sign_in: &Value, clause: &Clause) -> bool {
    let actual = match sign_in.pointer(&format!("/{}", clause.field)) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => other.to_string(),
        None => return false,
    };
    let ordering = if clause.field == "createdDateTime" {
        match (
            chrono::DateTime::parse_from_rfc3339(&actual),
            chrono::DateTime::parse_from_rfc3339(&clause.value),
        ) {
            (Ok(a), Ok(b)) => a.cmp(&b),
            _ => return false,
        }
    } else if clause.field == "status/errorCode" {
        match (actual.parse::<i64>(), clause.value.parse::<i64>()) {
            (Ok(a), Ok(b)) => a.cmp(&b),
            _ => return false,
        }
    } else {
        actual
            .to_ascii_lowercase()
            .cmp(&clause.value.to_ascii_lowercase())
    };
    use std::cmp::Ordering::*;
    match clause.op.as_str() {
        "eq" => ordering == Equal,
        "ne" => ordering != Equal,
        "ge" => ordering != Less,
        "le" => ordering != Greater,
        "gt" => ordering == Greater,
        _ => ordering == Less,
    }
}

pub fn sign_ins(tenant: &Fixture, req: &GraphRequest) -> GraphResponse {
    if req.method != Method::GET {
        return method_not_allowed();
    }
    let params = query_pairs(&req.query);
    let get = |name: &str| query_param(&params, name);
    let clauses = match get("$filter").map(|f| parse_filter(&f)).transpose() {
        Ok(c) => c.unwrap_or_default(),
        Err(e) => return e,
    };
    let top = match get("$top").map(|t| t.parse::<usize>()) {
        None => 1000,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => {
            return bad_request("Invalid page size specified: '$top' must be between 1 and 1000.");
        }
    };
    let skip = get("$skiptoken")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0);
    let mut found: Vec<&Value> = tenant
        .sign_ins
        .iter()
        .filter(|s| clauses.iter().all(|c| matches(s, c)))
        .collect();
    // Newest first; RFC 3339 UTC strings of the same shape sort like their instants.
    found.sort_by(|a, b| {
        let key = |v: &Value| {
            v.get("createdDateTime")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        key(b).cmp(&key(a))
    });
    crate::paging::page(
        req,
        "auditLogs/signIns",
        &found,
        skip,
        top,
        &[("$filter", get("$filter"))],
    )
}
