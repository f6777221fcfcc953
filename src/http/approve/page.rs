//! The approval page's HTML: the evidence in words, the decision form, the page frame.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde_json::Value;

use crate::approvals::link::LinkClaims;
use crate::store::ActionRow;

pub(super) fn evidence(row: &ActionRow, claims: &LinkClaims, detection: &Value) -> String {
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
pub(super) fn form(token: &str) -> String {
    format!(
        "<form method=\"post\" action=\"./{t}\" accept-charset=\"utf-8\">\
         <p><label for=\"reason\">Reason (recorded in the audit trail)</label><br>\
         <input id=\"reason\" name=\"reason\" required maxlength=\"1000\" size=\"60\" autocomplete=\"off\"></p>\
         <p><button type=\"submit\" name=\"decision\" value=\"approve\">Approve</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></p></form>",
        t = escape(token)
    )
}

pub(super) fn page(status: StatusCode, title: &str, body: &str) -> Response {
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

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}
