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

/// How `stanch serve` bounds its connections (`server:` in the config).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerSettings {
    /// Connections served at once; more wait in the kernel's queue. Keep it under the open-file
    /// limit (`LimitNOFILE=`), which also holds the database and Graph connections.
    pub max_connections: usize,
    /// A request's head must arrive within it, counted from the accept or, on a kept-alive
    /// connection, from the previous answer (so it is also the idle timeout).
    pub header_timeout: std::time::Duration,
    /// A request's body must arrive whole within it, counted from its head.
    pub body_timeout: std::time::Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            max_connections: 512,
            header_timeout: std::time::Duration::from_secs(10),
            body_timeout: std::time::Duration::from_secs(30),
        }
    }
}
