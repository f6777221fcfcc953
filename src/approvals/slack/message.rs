//! The Block Kit messages: the request (evidence and Approve / Deny buttons) and what replaces
//! it once the action is decided (the outcome, no buttons).
//!
//! Everything shown comes from a detection, that is from outside, so text is escaped for
//! mrkdwn: a crafted detection name cannot ping `<!channel>` or show a disguised link.

use serde_json::{Value, json};

use crate::approvals::outcome::Outcome;
use crate::approvals::request::ApprovalRequest;
use stanch_core::slack::payload::button_value;
use stanch_core::vocab::{ApprovalState, Decision};

/// Section text is limited to 3000 characters; values are cut well before that.
const MAX_VALUE_CHARS: usize = 400;
const MAX_SECTION_CHARS: usize = 2900;
pub const APPROVE: &str = Decision::Approve.as_str();
pub const DENY: &str = Decision::Deny.as_str();

/// The `chat.postMessage` body for an approval request.
pub fn request(channel: &str, req: &ApprovalRequest) -> Value {
    let value = button_value(req.action, &req.action_hash);
    let facts = req
        .facts()
        .into_iter()
        .map(|(label, v)| format!("*{label}:* {}", escape(&cut(&v, MAX_VALUE_CHARS))))
        .collect::<Vec<_>>()
        .join("\n");
    json!({
        "channel": channel,
        "text": req.summary(),
        "unfurl_links": false,
        "unfurl_media": false,
        "blocks": [
            section(&format!("*{}*", escape(&req.summary()))),
            section(&cut(&facts, MAX_SECTION_CHARS)),
            {"type": "actions", "block_id": format!("stanch_action_{}", req.action), "elements": [
                {"type": "button", "action_id": APPROVE, "style": "primary", "value": value,
                 "text": {"type": "plain_text", "text": "Approve"},
                 "confirm": {
                    "title": {"type": "plain_text", "text": "Approve this action?"},
                    "text": {"type": "plain_text", "text": cut(&format!("{} on {}", req.kind, req.target.as_deref().unwrap_or("the tenant")), 250)},
                    "confirm": {"type": "plain_text", "text": "Approve"},
                    "deny": {"type": "plain_text", "text": "Cancel"}}},
                {"type": "button", "action_id": DENY, "style": "danger", "value": value,
                 "text": {"type": "plain_text", "text": "Deny"}}
            ]},
            // Personal signed links are not posted: in a shared channel anyone could use someone
            // else's, which would bypass the per-person checks the buttons get.
            {"type": "context", "elements": [{"type": "mrkdwn", "text": format!(
                "Action #{} · hash `{}` · or `stanch approvals approve|deny {} --as <you> --reason ...`",
                req.action, &req.action_hash[..12.min(req.action_hash.len())], req.action)}]}
        ]
    })
}

/// The `chat.update` body that replaces a request by its outcome.
pub fn outcome(channel: &str, ts: &str, summary: &str, outcome: &Outcome) -> Value {
    let mark = match outcome.state {
        ApprovalState::Approved => ":white_check_mark:",
        ApprovalState::Denied => ":no_entry:",
        ApprovalState::TimedOut => ":hourglass:",
        ApprovalState::Escalated => ":arrow_up:",
        ApprovalState::Waiting => ":information_source:",
    };
    let line = format!("{mark} *{}*", escape(&outcome.text));
    json!({
        "channel": channel,
        "ts": ts,
        "text": format!("{summary}: {}", outcome.text),
        "blocks": [
            section(&escape(summary)),
            section(&line),
            {"type": "context", "elements": [{"type": "mrkdwn", "text": format!("Action #{} · {}", outcome.action, outcome.state)}]}
        ]
    })
}

/// A reply in the request's thread (progress that must keep the buttons, like a partial quorum).
pub fn thread_reply(channel: &str, ts: &str, text: &str) -> Value {
    json!({"channel": channel, "thread_ts": ts, "text": text})
}

fn section(text: &str) -> Value {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// mrkdwn's three control characters (Slack's own escaping rules).
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> ApprovalRequest {
        ApprovalRequest {
            action: 7,
            action_hash: "ab".repeat(32),
            round: 0,
            kind: "disable_account".into(),
            target: Some("b.jones@contoso.com".into()),
            params: json!({}),
            playbook: "sender-surge".into(),
            step: "disable".into(),
            reasons: json!(["step `disable` asks for approval"]),
            detection: json!({"name": "<!channel> <https://evil.example|click>", "severity": "high"}),
            approvers: vec!["group:SOC Tier 2".into()],
            quorum: 1,
            deadline: "2021-06-01T10:20:00Z".into(),
            links: Vec::new(),
        }
    }

    #[test]
    fn requests_carry_evidence_and_bound_buttons_and_escape_detection_text() {
        let body = request("C0SECOPS", &req());
        assert_eq!(body["channel"], "C0SECOPS");
        let text = body.to_string();
        assert!(text.contains("b.jones@contoso.com"), "{text}");
        assert!(
            !text.contains("<!channel>") && text.contains("&lt;!channel&gt;"),
            "{text}"
        );
        let buttons = &body["blocks"][2]["elements"];
        assert_eq!(buttons[0]["style"], "primary");
        assert_eq!(buttons[1]["style"], "danger");
        let value = buttons[0]["value"].as_str().unwrap();
        assert_eq!(
            stanch_core::slack::payload::parse_button_value(value),
            Some((7, "ab".repeat(32).as_str()))
        );
    }

    #[test]
    fn outcomes_replace_the_buttons() {
        let o = Outcome {
            action: 7,
            state: ApprovalState::Approved,
            by: Some("f.okafor@contoso.com".into()),
            text: "Approved by f.okafor@contoso.com".into(),
        };
        let body = outcome("C0SECOPS", "1.2", "Approval needed: x", &o);
        assert_eq!(body["ts"], "1.2");
        let text = body.to_string();
        assert!(text.contains("Approved by f.okafor@contoso.com") && !text.contains("button"));
        assert_eq!(cut("ééé", 2), "éé…");
    }
}
