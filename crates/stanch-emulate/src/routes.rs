//! Path dispatch below the version prefix. Routing by hand rather than with axum routes
//! lets `$batch` items reuse it and keeps percent-encoded ids (`/`, `+`, `=`) intact.

use axum::http::StatusCode;

use crate::fixture::Fixture;
use crate::wire::{GraphRequest, GraphResponse, segments, unknown_segment};
use crate::{alerts, consents, defender, devices, groups, policies, risk, select, trace, users};

/// Routes the request, then applies `$select` to a successful read, as Graph does.
pub fn route(tenant: &mut Fixture, req: &GraphRequest) -> GraphResponse {
    let mut response = dispatch(tenant, req);
    if req.method == axum::http::Method::GET
        && response.status == StatusCode::OK
        && let Some(fields) = select::selected(req)
    {
        response.body = response.body.map(|body| select::project(body, &fields));
    }
    response
}

fn dispatch(tenant: &mut Fixture, req: &GraphRequest) -> GraphResponse {
    let segs = segments(&req.path);
    let first = segs
        .first()
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    let second = segs
        .get(1)
        .map(|s| s.to_ascii_lowercase())
        .unwrap_or_default();
    match (first.as_str(), second.as_str()) {
        ("users", _) => users::route(tenant, req, &segs),
        (f, _) if f.starts_with("users(") => users::route(tenant, req, &segs),
        ("groups", _) => groups::route(tenant, req, &segs[1..]),
        ("directoryroles", _) => groups::directory_roles(tenant, req, &segs[1..]),
        ("identity", "conditionalaccess") => policies::route(tenant, req, &segs[2..]),
        ("identityprotection", "riskyusers") => risk::risky_users(tenant, req, &segs[2..]),
        // Beta also serves risky users at the root.
        ("riskyusers", _) => risk::risky_users(tenant, req, &segs[1..]),
        ("auditlogs", "signins") if segs.len() == 2 => risk::sign_ins(tenant, req),
        ("security", "alerts_v2") => alerts::route(tenant, req, &segs[2..]),
        ("security", "collaboration") => defender::route(tenant, req, &segs[2..]),
        ("admin", "exchange")
            if segs[2..]
                .iter()
                .map(|s| s.to_ascii_lowercase())
                .eq(["tracing", "messagetraces"]) =>
        {
            trace::route(tenant, req)
        }
        ("oauth2permissiongrants", _) => consents::grants(tenant, req, &segs[1..]),
        ("serviceprincipals", _) => consents::service_principals(tenant, req, &segs[1..]),
        ("devices", _) => devices::route(tenant, req, &segs[1..]),
        ("me", _) => GraphResponse::error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "/me request is only valid with delegated authentication flow.",
        ),
        _ => unknown_segment(segs.last().map(String::as_str).unwrap_or("")),
    }
}
