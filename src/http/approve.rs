//! The signed approval page: `GET /approve/{token}` shows the evidence and a form (it never
//! decides, so link scanners approve nothing); `POST /approve/{token}` decides. Plain HTML, no
//! JavaScript; `tests/cli/browser.rs` drives it in headless Chromium.
//!
//! A POST from another site is refused (and audited), so a page elsewhere cannot make an
//! approver's browser decide: when the request carries `Sec-Fetch-Site` it must be
//! `same-origin`, and when it carries `Origin` that must be `approvals.public_url`'s origin (or,
//! without one, the `Host` the request was sent to; `null` only with `Sec-Fetch-Site:
//! same-origin`). Browsers send at least one of them on every
//! POST; a request with neither comes from a non-browser client (a script holding the link) and
//! is decided like any other.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use super::AppState;
use crate::approvals::link::{LinkClaims, verify_link};
use crate::approvals::{ApprovalError, Deciding, DecisionRequest, action_hash, decide};
use crate::store::ActionRow;
use stanch_core::audit::AuditEvent;
use stanch_core::vocab::{ActionStatus, Decision};

/// The form's fields, read from the raw body (kept whole so its hash goes in the audit trail).
#[derive(Debug, Default)]
struct DecisionForm {
    decision: String,
    reason: String,
}

impl DecisionForm {
    fn parse(body: &[u8]) -> DecisionForm {
        let mut form = DecisionForm::default();
        for (key, value) in form_urlencoded::parse(body) {
            match key.as_ref() {
                "decision" => form.decision = value.into_owned(),
                "reason" => form.reason = value.into_owned(),
                _ => {}
            }
        }
        form
    }
}

pub(super) async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let (claims, row) = match open(&state, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let detection = state
        .service
        .store
        .detection_at(row.detection_seq)
        .await
        .ok()
        .flatten()
        .map(|d| d["detection"].clone())
        .unwrap_or(Value::Null);
    // The form only while there is something to decide, so a reopened link (or the back button
    // after deciding) shows why instead of a form that can only be refused.
    let mine = state
        .service
        .store
        .decisions(row.pk)
        .await
        .ok()
        .and_then(|all| {
            all.into_iter()
                .find(|d| d.approver.eq_ignore_ascii_case(&claims.u))
        });
    let closed = if row.status != ActionStatus::AwaitingApproval {
        Some(format!(
            "This action is no longer waiting for a decision (status: {}).",
            row.status
        ))
    } else {
        mine.map(|d| {
            format!(
                "You already decided on this action: {} at {}.",
                d.decision, d.decided_at
            )
        })
    };
    let mut html = evidence(&row, &claims, &detection);
    let title = match closed {
        Some(why) => {
            html.push_str(&format!("<p><strong>{}</strong></p>", escape(&why)));
            "Already decided"
        }
        None => {
            html.push_str(&form(&token));
            "Approval requested"
        }
    };
    page(StatusCode::OK, title, &html)
}

pub(super) async fn submit(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(why) = same_origin(&headers, state.service.approvals.public_url.as_deref()) {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let event = AuditEvent::new(
            Utc::now(),
            "approval.refused",
            "link",
            json!({"channel": "link", "why": why, "origin": header("origin"),
                   "sec_fetch_site": header("sec-fetch-site"),
                   "token_sha256": stanch_core::util::sha256_hex(token.as_bytes())}),
        );
        if let Err(e) = state.service.store.append_audit(&[event]).await {
            tracing::error!(error = %e, "cannot audit a cross-origin approval post");
        }
        return page(
            StatusCode::FORBIDDEN,
            "Refused",
            &format!("<p>{}. Nothing was decided.</p>", escape(&why)),
        );
    }
    let form = DecisionForm::parse(&body);
    let (claims, _row) = match open(&state, &token).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let approve = match Decision::parse(&form.decision) {
        Some(decision) => decision == Decision::Approve,
        None => {
            return page(
                StatusCode::BAD_REQUEST,
                "Unknown decision",
                "<p>Choose approve or deny.</p>",
            );
        }
    };
    let ctx = Deciding {
        store: &state.service.store,
        directory: state.service.runner.as_ref(),
        settings: &state.service.approvals,
    };
    let request = DecisionRequest {
        pk: claims.a,
        approver: &claims.u,
        approve,
        reason: &form.reason,
        channel: "link",
        raw_sha256: Some(stanch_core::util::sha256_hex(
            &[format!("POST /approve/{token}\n").as_bytes(), &body[..]].concat(),
        )),
    };
    match decide(ctx, &request).await {
        Ok(effect) => {
            state.service.wake.notify_one();
            if let Err(e) = state
                .service
                .dispatcher()
                .announce_decision(claims.a, &effect, &claims.u)
                .await
            {
                tracing::warn!(action = claims.a, error = %e, "cannot update the approval request's messages");
            }
            let text = serde_json::to_value(&effect)
                .map(|v| v["result"].as_str().unwrap_or("recorded").to_string())
                .unwrap_or_default();
            page(
                StatusCode::OK,
                "Decision recorded",
                &format!(
                    "<p>Your decision on action #{} was recorded: <strong>{}</strong>.</p>",
                    claims.a,
                    escape(&text)
                ),
            )
        }
        Err(ApprovalError::Refused(why)) => page(
            StatusCode::FORBIDDEN,
            "Refused",
            &format!("<p>{}</p>", escape(&why)),
        ),
        Err(ApprovalError::Decision(e)) => page(
            StatusCode::CONFLICT,
            "Already decided",
            &format!("<p>{}</p>", escape(&e.to_string())),
        ),
        Err(e) => {
            tracing::error!(error = %e, "approval page failed");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<p>Nothing was decided.</p>",
            )
        }
    }
}

/// Whether a POST comes from the approval page itself (see the module doc); why not.
fn same_origin(headers: &HeaderMap, public_url: Option<&str>) -> Result<(), String> {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("?"));
    if let Some(site) = header("sec-fetch-site")
        && site != "same-origin"
    {
        return Err(format!(
            "the decision was sent from another site (Sec-Fetch-Site: {site})"
        ));
    }
    let Some(origin) = header("origin") else {
        return Ok(());
    };
    // The browser vouches for the site (a forbidden header), and a privacy setting made the
    // origin opaque.
    if origin == "null" && header("sec-fetch-site") == Some("same-origin") {
        return Ok(());
    }
    let expected = match public_url {
        Some(url) => origin_of(url),
        None => header("host").map(|host| host.to_ascii_lowercase()),
    };
    let matches = match (public_url, expected) {
        (Some(_), Some(expected)) => origin.eq_ignore_ascii_case(&expected),
        // Without a public URL only the authority can be compared (the scheme is the proxy's).
        (None, Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(&host)),
        _ => false,
    };
    if matches {
        Ok(())
    } else {
        Err(format!(
            "the decision was sent from another origin ({origin})"
        ))
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    Some(format!("{scheme}://{authority}"))
}

/// Verifies the token and that the action is still the one the link was made for.
async fn open(state: &AppState, token: &str) -> Result<(LinkClaims, ActionRow), Response> {
    let Some(secret) = state.service.approvals.link_secret.as_ref() else {
        return Err(page(
            StatusCode::NOT_FOUND,
            "Not found",
            "<p>Approval links are not enabled on this server.</p>",
        ));
    };
    let refuse = |why: String| async move {
        let digest = stanch_core::util::sha256_hex(token.as_bytes());
        let event = AuditEvent::new(
            Utc::now(),
            "approval.refused",
            "link",
            json!({"channel": "link", "why": why, "token_sha256": digest}),
        );
        let _ = state.service.store.append_audit(&[event]).await;
        page(
            StatusCode::FORBIDDEN,
            "Link refused",
            &format!("<p>{}</p>", escape(&why)),
        )
    };
    let claims = match verify_link(secret.expose().as_bytes(), token, Utc::now().timestamp()) {
        Ok(claims) => claims,
        Err(e) => return Err(refuse(e.to_string()).await),
    };
    let row = match state.service.store.action(claims.a).await {
        Ok(Some(row)) => row,
        Ok(None) => return Err(refuse(format!("no action #{}", claims.a)).await),
        Err(e) => {
            tracing::error!(error = %e, "approval page cannot read the action");
            return Err(page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<p>Nothing was decided.</p>",
            ));
        }
    };
    if action_hash(&row) != claims.h {
        return Err(refuse(
            "the action changed since this link was sent; it cannot be decided with it".into(),
        )
        .await);
    }
    Ok((claims, row))
}

fn evidence(row: &ActionRow, claims: &LinkClaims, detection: &Value) -> String {
    let target = row
        .target_upn
        .as_deref()
        .or(row.target_id.as_deref())
        .unwrap_or("the whole tenant");
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    };
    let mut rows = vec![
        ("Action", row.kind.clone()),
        ("Target", target.to_string()),
        ("Parameters", row.params.to_string()),
        ("Why", row.gate["reasons"].to_string()),
        ("Playbook", format!("{} / {}", row.playbook, row.step)),
        ("Status", row.status.to_string()),
        (
            "Detection",
            format!(
                "{} ({})",
                text(&detection["name"]),
                text(&detection["severity"])
            ),
        ),
        (
            "Source",
            format!(
                "{} / {}",
                text(&detection["source"]),
                text(&detection["id"])
            ),
        ),
        ("Observed", text(&detection["observed_at"])),
    ];
    if !detection["ip"].is_null() {
        rows.push(("From", text(&detection["ip"])));
    }
    let mut html = format!(
        "<p>stanch asks <strong>{}</strong> to decide on action #{}.</p><dl>",
        escape(&claims.u),
        row.pk
    );
    for (label, value) in rows {
        let value = escape(&value);
        let value = if label == "Parameters" {
            format!("<code>{value}</code>")
        } else {
            value
        };
        html.push_str(&format!("<dt>{label}</dt><dd>{value}</dd>"));
    }
    html.push_str("</dl>");
    html
}

/// The decision form. Its action is relative (the token itself), so it posts back to the URL the
/// page was opened at, also behind a proxy that serves stanch under a path prefix.
fn form(token: &str) -> String {
    format!(
        "<form method=\"post\" action=\"./{t}\" accept-charset=\"utf-8\">\
         <p><label for=\"reason\">Reason (recorded in the audit trail)</label><br>\
         <input id=\"reason\" name=\"reason\" required maxlength=\"1000\" size=\"60\" autocomplete=\"off\"></p>\
         <p><button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></p></form>",
        t = escape(token)
    )
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{t} · stanch</title>\
         <style>body{{font-family:sans-serif;max-width:50rem;margin:1rem auto;padding:0 1rem}}dt{{font-weight:bold}}dd{{margin:0 0 .5rem 1rem;overflow-wrap:anywhere}}</style>\
         </head><body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    );
    (
        status,
        [
            ("cache-control", "no-store"),
            // The token never leaves for another site, and a same-origin POST still carries
            // its `Origin` (under `no-referrer` browsers send `Origin: null`).
            ("referrer-policy", "same-origin"),
            // No scripts, no framing (an approval page inside someone else's page invites
            // clickjacking), and the form may only post back here.
            (
                "content-security-policy",
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
            ("x-frame-options", "DENY"),
            ("x-content-type-options", "nosniff"),
        ],
        Html(html),
    )
        .into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn posts_from_other_origins_are_refused_and_non_browser_clients_accepted() {
        let public = Some("https://stanch.example.com/prefix");
        let ok = |pairs: &[(&'static str, &str)], url| same_origin(&headers(pairs), url).is_ok();
        assert!(ok(&[("origin", "https://stanch.example.com")], public));
        assert!(ok(
            &[
                ("sec-fetch-site", "same-origin"),
                ("origin", "https://STANCH.example.com")
            ],
            public
        ));
        assert!(ok(&[], public), "no browser headers: a non-browser client");
        assert!(!ok(&[("origin", "https://evil.example")], public));
        assert!(!ok(&[("origin", "null")], public));
        assert!(ok(
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
            public
        ));
        assert!(
            !ok(&[("origin", "http://stanch.example.com")], public),
            "another scheme"
        );
        assert!(
            !ok(&[("origin", "https://stanch.example.com:8443")], public),
            "another port"
        );
        assert!(!ok(&[("sec-fetch-site", "cross-site")], public));
        assert!(
            !ok(&[("sec-fetch-site", "same-site")], public),
            "a sibling host is another origin"
        );
        // Without a public URL, the host the request was sent to.
        let host = [
            ("host", "127.0.0.1:8940"),
            ("origin", "http://127.0.0.1:8940"),
        ];
        assert!(ok(&host, None));
        assert!(!ok(
            &[
                ("host", "127.0.0.1:8940"),
                ("origin", "http://evil.example")
            ],
            None
        ));
        assert!(
            !ok(&[("origin", "http://127.0.0.1:8940")], None),
            "no host to compare"
        );
    }
}
