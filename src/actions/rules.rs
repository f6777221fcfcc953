//! Which inbox rules are risky: the ones attackers create to forward, delete or hide mail.
//!
//! Pure, so the judgement is tested on its own. It works on Graph `messageRule` JSON.

use serde_json::Value;

/// Folders attackers move mail into so the victim never sees the replies.
const HIDING_FOLDERS: &[&str] = &[
    "rss feeds",
    "rss subscriptions",
    "archive",
    "conversation history",
    "junk email",
    "junkemail",
    "deleted items",
    "deleteditems",
    "notes",
    "sync issues",
];

/// Why a rule is risky; empty when it is benign.
pub fn assess(rule: &Value, any_move_is_risky: bool) -> Vec<String> {
    let actions = &rule["actions"];
    let mut reasons = Vec::new();
    for key in ["forwardTo", "forwardAsAttachmentTo", "redirectTo"] {
        let targets = recipients(&actions[key]);
        if !targets.is_empty() {
            reasons.push(format!("{key} {}", targets.join(", ")));
        }
    }
    if actions["delete"] == true {
        reasons.push("deletes matching mail".to_string());
    }
    if actions["permanentDelete"] == true {
        reasons.push("permanently deletes matching mail".to_string());
    }
    let mut moves = false;
    for key in ["moveToFolder", "copyToFolder"] {
        if let Some(folder) = actions[key].as_str().filter(|f| !f.is_empty()) {
            moves = true;
            let hiding = HIDING_FOLDERS.contains(&folder.trim().to_lowercase().as_str());
            if hiding || any_move_is_risky {
                reasons.push(format!("{key} `{folder}`"));
            }
        }
    }
    if actions["markAsRead"] == true && (moves || actions["delete"] == true) {
        reasons.push("marks mail read while moving it away".to_string());
    }
    let name = rule["displayName"].as_str().unwrap_or_default();
    if (!reasons.is_empty() || moves) && name.chars().all(|c| !c.is_alphanumeric()) {
        reasons.push(format!(
            "named `{name}`, only punctuation, as attackers name rules to hide them"
        ));
    }
    reasons
}

/// Addresses from a recipient list (v1.0) or a single recipient (beta `redirectTo`).
fn recipients(value: &Value) -> Vec<String> {
    let address = |r: &Value| r["emailAddress"]["address"].as_str().map(str::to_string);
    match value {
        Value::Array(items) => items.iter().filter_map(address).collect(),
        Value::Object(_) => address(value).into_iter().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Data-driven: (rule actions, display name, risky?).
    #[test]
    fn risky_rules_are_told_from_benign_ones() {
        let cases = [
            (
                json!({"forwardTo": [{"emailAddress": {"address": "drop@evil.example"}}]}),
                "x",
                true,
            ),
            (
                json!({"redirectTo": {"emailAddress": {"address": "drop@evil.example"}}}),
                "x",
                true,
            ),
            (json!({"delete": true}), ".", true),
            (json!({"permanentDelete": true}), "Cleanup", true),
            (
                json!({"moveToFolder": "RSS Feeds", "markAsRead": true}),
                "..",
                true,
            ),
            (json!({"moveToFolder": "Newsletters"}), "Newsletters", false),
            (json!({"moveToFolder": "Newsletters"}), ".", true),
            (
                json!({"assignCategories": ["Blue"], "markImportance": "high"}),
                "Boss",
                false,
            ),
            (json!({"markAsRead": true}), "Read receipts", false),
            (
                json!({"stopProcessingRules": true, "moveToFolder": "Projects"}),
                "Projects",
                false,
            ),
        ];
        for (actions, name, risky) in cases {
            let rule = json!({"id": "r", "displayName": name, "actions": actions});
            let reasons = assess(&rule, false);
            assert_eq!(!reasons.is_empty(), risky, "{rule}: {reasons:?}");
        }
        let ordinary_move =
            json!({"displayName": "News", "actions": {"moveToFolder": "Newsletters"}});
        assert!(
            !assess(&ordinary_move, true).is_empty(),
            "any move is risky when asked"
        );
    }
}
