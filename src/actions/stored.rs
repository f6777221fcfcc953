//! How much of what Graph answered an action keeps: the evidence is stored in the action's
//! result, so one enormous answer (a mailbox with thousands of rules) cannot bloat the
//! database; past the cap, a preview and the size say what was there.

use serde_json::{Value, json};

/// Largest evidence kept in an action's result, as serialized JSON.
pub const MAX_STORED_EVIDENCE_BYTES: usize = 256 * 1024;

/// Characters of a too-large value kept as its preview.
const PREVIEW_CHARS: usize = 2048;

/// `value` if its JSON fits in `limit` bytes, else a note with its size and a preview.
pub(super) fn capped(value: &Value, limit: usize) -> Value {
    let text = value.to_string();
    if text.len() <= limit {
        return value.clone();
    }
    let end = text
        .char_indices()
        .nth(PREVIEW_CHARS)
        .map_or(text.len(), |(i, _)| i);
    json!({
        "truncated": true,
        "bytes": text.len(),
        "kept_at_most": limit,
        "preview": &text[..end],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_over_the_cap_is_kept_as_a_preview_with_its_size() {
        let small = json!({"rules": [{"id": "r1"}]});
        assert_eq!(capped(&small, 1024), small);
        let huge =
            json!({"rules": vec![json!({"id": "r", "displayName": "x".repeat(100)}); 10_000]});
        let kept = capped(&huge, MAX_STORED_EVIDENCE_BYTES);
        assert_eq!(kept["truncated"], true);
        assert_eq!(kept["bytes"].as_u64(), Some(huge.to_string().len() as u64));
        assert!(
            kept.to_string().len() < 10 * 1024,
            "{}",
            kept.to_string().len()
        );
    }
}
