//! Who may post detections, and how much (`intake:` in the config).

use std::collections::BTreeMap;

use stanch_core::secret::SecretString;

/// Who may post detections, and how much.
#[derive(Debug, Clone, PartialEq)]
pub struct IntakeSettings {
    pub bearer_tokens: Vec<SecretString>,
    /// Source name → shared secret for the HMAC signature header.
    pub hmac_secrets: BTreeMap<String, SecretString>,
    pub max_body_bytes: usize,
    /// Detections (lines, array elements, alerts of a page) taken per request; over it, 413.
    pub max_items: usize,
    pub replay_window_secs: u64,
}

impl Default for IntakeSettings {
    fn default() -> Self {
        IntakeSettings {
            bearer_tokens: Vec::new(),
            hmac_secrets: BTreeMap::new(),
            max_body_bytes: 1 << 20,
            max_items: 1000,
            replay_window_secs: 300,
        }
    }
}
