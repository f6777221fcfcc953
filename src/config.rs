//! Configuration: a YAML file (`--config FILE`), then `STANCH_*` environment overrides.
//!
//! ```yaml
//! mode: passive                 # passive (default) or active
//! database_url: sqlite://stanch.db
//! protected_accounts: [breakglass@contoso.com]
//! playbooks: [playbooks]
//! ```

use std::path::{Path, PathBuf};

use crate::engine::Mode;
use crate::playbook::decode;
use crate::playbook::diag::Problems;
use crate::playbook::yaml::{self, Loc};

const KEYS: &[&str] = &["mode", "database_url", "protected_accounts", "playbooks"];

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The mode for playbooks and steps that do not set their own. Passive unless promoted.
    pub mode: Mode,
    pub database_url: String,
    /// UPNs or object ids that no automatic action may touch.
    pub protected_accounts: Vec<String>,
    /// Playbook files or directories.
    pub playbooks: Vec<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Passive,
            database_url: "sqlite://stanch.db".to_string(),
            protected_accounts: Vec::new(),
            playbooks: vec![PathBuf::from("playbooks")],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{col}: {message}")]
    Invalid {
        path: String,
        line: u64,
        col: u64,
        message: String,
    },
    #[error("environment variable {name}={value}: {reason}")]
    Env {
        name: &'static str,
        value: String,
        reason: String,
    },
}

impl Config {
    /// Reads the optional file, then applies environment overrides from `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut config = match path {
            Some(path) => Self::from_file(path)?,
            None => Config::default(),
        };
        config.apply_env(env)?;
        Ok(config)
    }

    fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        let mut config = Config::default();
        if text.trim().is_empty() {
            return Ok(config);
        }
        let invalid = |loc: Loc, message: String| ConfigError::Invalid {
            path: shown.clone(),
            line: loc.line,
            col: loc.col,
            message,
        };
        let root = yaml::parse(&text).map_err(|e| invalid(e.loc, e.message))?;
        let mut p = Problems::default();
        if let Some(f) = decode::fields(&mut p, &root, "the config", KEYS) {
            if let Some(node) = f.get("mode") {
                match decode::string(&mut p, node, "`mode`").map(|t| (t, Mode::parse(t))) {
                    Some((_, Some(mode))) => config.mode = mode,
                    Some((text, None)) => p.error(
                        node.loc,
                        format!("unknown mode `{text}`; expected `passive` or `active`"),
                    ),
                    None => {}
                }
            }
            if let Some(url) = f
                .get("database_url")
                .and_then(|n| decode::string(&mut p, n, "`database_url`"))
            {
                config.database_url = url.to_string();
            }
            if let Some(node) = f.get("protected_accounts") {
                config.protected_accounts = decode::strings(&mut p, node, "`protected_accounts`")
                    .into_iter()
                    .map(|(_, s)| s.to_string())
                    .collect();
            }
            if let Some(node) = f.get("playbooks") {
                config.playbooks = decode::strings(&mut p, node, "`playbooks`")
                    .into_iter()
                    .map(|(_, s)| PathBuf::from(s))
                    .collect();
            }
        }
        match p.items.into_iter().next() {
            Some((loc, _, message)) => Err(invalid(loc, message)),
            None => Ok(config),
        }
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(value) = env("STANCH_MODE") {
            self.mode = Mode::parse(&value).ok_or_else(|| ConfigError::Env {
                name: "STANCH_MODE",
                value: value.clone(),
                reason: "expected `passive` or `active`".into(),
            })?;
        }
        if let Some(value) = env("STANCH_DATABASE_URL") {
            self.database_url = value;
        }
        if let Some(value) = env("STANCH_PROTECTED_ACCOUNTS") {
            self.protected_accounts = split_list(&value);
        }
        if let Some(value) = env("STANCH_PLAYBOOKS") {
            self.playbooks = split_list(&value).into_iter().map(PathBuf::from).collect();
        }
        Ok(())
    }
}

fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        file
    }

    #[test]
    fn file_then_environment() {
        let file = write(
            "mode: active\ndatabase_url: sqlite:///tmp/x.db\nprotected_accounts: [bg@contoso.com]\n",
        );
        let config = Config::load(Some(file.path()), |name| {
            (name == "STANCH_PROTECTED_ACCOUNTS")
                .then(|| "a@contoso.com, b@contoso.com".to_string())
        })
        .unwrap();
        assert_eq!(config.mode, Mode::Active);
        assert_eq!(config.database_url, "sqlite:///tmp/x.db");
        assert_eq!(
            config.protected_accounts,
            ["a@contoso.com", "b@contoso.com"]
        );
        assert_eq!(config.playbooks, [PathBuf::from("playbooks")]);
        assert_eq!(Config::load(None, |_| None).unwrap(), Config::default());
    }

    #[test]
    fn mistakes_are_located() {
        let file = write("mode: passive\ndatabse_url: x\n");
        let err = Config::load(Some(file.path()), |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                ":2:1: unknown key `databse_url` in the config; did you mean `database_url`?"
            ),
            "{err}"
        );
        let file = write("mode: dry\n");
        let err = Config::load(Some(file.path()), |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(":1:7:"), "{err}");
        let err = Config::load(None, |n| (n == "STANCH_MODE").then(|| "loud".to_string()))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "environment variable STANCH_MODE=loud: expected `passive` or `active`"
        );
    }
}
