//! A button click as Slack posts it to the Interactivity Request URL: a form-encoded body whose
//! `payload` field is the `block_actions` JSON, and the button's value, which names the action
//! and the hash it had when the message was posted.

use serde_json::Value;

/// What a `block_actions` payload says that matters to stanch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Click {
    pub kind: String,
    pub user_id: String,
    pub team_id: Option<String>,
    pub app_id: Option<String>,
    pub channel_id: String,
    pub channel_name: String,
    /// `trigger_id` + `action_ts`: the same for a replayed request, different for a new click.
    pub key: String,
    pub action_id: String,
    pub value: String,
}

impl Click {
    /// Reads a click from the raw (already signature-checked) body; the error says what is
    /// missing or malformed.
    pub fn parse(body: &[u8]) -> Result<Click, String> {
        let payload = form_urlencoded::parse(body)
            .find(|(k, _)| k == "payload")
            .map(|(_, v)| v)
            .ok_or("the body has no `payload` field")?;
        let p: Value =
            serde_json::from_str(&payload).map_err(|e| format!("the payload is not JSON: {e}"))?;
        let text = |v: &Value| v.as_str().map(str::to_string);
        let action = &p["actions"][0];
        let channel_id = text(&p["channel"]["id"])
            .or_else(|| text(&p["container"]["channel_id"]))
            .unwrap_or_default();
        Ok(Click {
            kind: text(&p["type"]).unwrap_or_default(),
            user_id: text(&p["user"]["id"]).ok_or("the payload names no user.id")?,
            team_id: text(&p["team"]["id"]).or_else(|| text(&p["user"]["team_id"])),
            app_id: text(&p["api_app_id"]),
            channel_name: text(&p["channel"]["name"]).unwrap_or_else(|| channel_id.clone()),
            channel_id,
            key: format!(
                "{}/{}",
                text(&p["trigger_id"]).unwrap_or_default(),
                text(&action["action_ts"]).unwrap_or_default()
            ),
            action_id: text(&action["action_id"]).unwrap_or_default(),
            value: text(&action["value"]).unwrap_or_default(),
        })
    }
}

/// The button value: the action and the hash it had when the message was posted, so a click
/// on an old message cannot decide a changed action.
pub fn button_value(action: i64, action_hash: &str) -> String {
    format!("{action}:{action_hash}")
}

/// The action and hash a button value names; `None` unless the hash is 64 hex digits.
pub fn parse_button_value(value: &str) -> Option<(i64, &str)> {
    let (pk, hash) = value.split_once(':')?;
    let pk = pk.parse().ok()?;
    let hash_ok = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    hash_ok.then_some((pk, hash))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clicks_are_read_from_the_form_encoded_payload() {
        let payload = json!({"type": "block_actions",
            "user": {"id": "U024BE7LH", "username": "alice.sec", "team_id": "T024BE7LD"},
            "api_app_id": "A0APP", "team": {"id": "T024BE7LD"},
            "container": {"type": "message", "channel_id": "C0SECOPS"},
            "channel": {"id": "C0SECOPS", "name": "secops-approvals"},
            "trigger_id": "1234.5678.abcd",
            "actions": [{"action_id": "approve", "value": "7:abc", "action_ts": "1700000005.123456"}]});
        let body: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &payload.to_string())
            .finish();
        let click = Click::parse(body.as_bytes()).unwrap();
        assert_eq!(click.user_id, "U024BE7LH");
        assert_eq!(click.team_id.as_deref(), Some("T024BE7LD"));
        assert_eq!(click.channel_name, "secops-approvals");
        assert_eq!(click.key, "1234.5678.abcd/1700000005.123456");
        assert_eq!(
            (click.action_id.as_str(), click.value.as_str()),
            ("approve", "7:abc")
        );
        assert!(Click::parse(b"token=x").is_err());
        assert!(Click::parse(b"payload=%7Bnot-json").is_err());
        assert!(
            Click::parse(b"payload=%7B%7D")
                .unwrap_err()
                .contains("user.id")
        );
    }

    #[test]
    fn button_values_name_an_action_and_a_full_hash() {
        let hash = "ab".repeat(32);
        assert_eq!(
            parse_button_value(&button_value(7, &hash)),
            Some((7, hash.as_str()))
        );
        assert_eq!(parse_button_value("7:short"), None);
        assert_eq!(parse_button_value("x:abc"), None);
    }
}
