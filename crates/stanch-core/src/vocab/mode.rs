//! Passive or active: whether stanch acts or only records what it would have done.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Whether actions are carried out (`active`) or only recorded as "would have done" (`passive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Passive,
    Active,
}

impl Mode {
    pub fn parse(text: &str) -> Option<Mode> {
        match text.trim().to_ascii_lowercase().as_str() {
            "passive" => Some(Mode::Passive),
            "active" => Some(Mode::Active),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Passive => "passive",
            Mode::Active => "active",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl PartialEq<&str> for Mode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}
