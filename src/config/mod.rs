//! Configuration: a YAML file (`--config FILE`), then `STANCH_*` environment overrides.
//!
//! ```yaml
//! mode: passive                 # passive (default) or active
//! database_url: sqlite://stanch.db
//! protected_accounts: [breakglass@contoso.com]
//! playbooks: [playbooks]
//! ```

mod approvals;
mod audit;
mod campaigns;
mod operators;
mod response;
mod safety;
mod service;
mod slack;
mod teams;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

// Each component owns its settings; the config file only assembles them.
pub use crate::actions::ContainmentSettings;
pub use crate::approvals::{
    ApprovalSettings, DEFAULT_SLACK_API_URL, SlackSettings, TeamsSettings, WebhookSettings,
};
pub use crate::graph::{CLOUDS, GraphSettings};
pub use crate::http::IntakeSettings;
pub use crate::schedule::ScheduleSetting;
pub use stanch_core::rails::{Budget, SafetySettings};
pub use stanch_core::secret::{SecretString, SecretUrl};

use stanch_core::vocab::Mode;
use stanch_core::yaml::decode;
use stanch_core::yaml::diag::{Diagnostic, Level, Problems};
use stanch_core::yaml::{self, Loc};

const KEYS: &[&str] = &[
    "mode",
    "database_url",
    "protected_accounts",
    "playbooks",
    "graph",
    "containment",
    "notify",
    "listen",
    "intake",
    "server",
    "schedules",
    "approvals",
    "safety",
    "protected_groups",
    "protected_roles",
    "campaigns",
    "audit",
    "operators",
];

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The mode for playbooks and steps that do not set their own. Passive unless promoted.
    pub mode: Mode,
    /// Shown without its password (`Display`); `expose()` to connect.
    pub database_url: SecretUrl,
    /// UPNs or object ids that no automatic action may touch.
    pub protected_accounts: Vec<String>,
    /// Playbook files or directories.
    pub playbooks: Vec<PathBuf>,
    /// How to reach Microsoft Graph; needed only to act (active mode).
    pub graph: Option<GraphSettings>,
    pub containment: ContainmentSettings,
    /// Notification channels: name → webhook URL (a secret: its path is the token).
    pub notify: BTreeMap<String, SecretUrl>,
    /// Where `stanch serve` listens.
    pub listen: String,
    pub intake: IntakeSettings,
    /// Connection limits and timeouts of `stanch serve`.
    pub server: crate::http::ServerSettings,
    /// Cron jobs run by `stanch serve` (alert polling, audit verification...).
    pub schedules: Vec<ScheduleSetting>,
    pub approvals: ApprovalSettings,
    pub safety: SafetySettings,
    /// Groups (by display name) whose members are protected, resolved through Graph.
    pub protected_groups: Vec<String>,
    /// Directory roles (e.g. Global Administrator) whose members are protected.
    pub protected_roles: Vec<String>,
    /// How detections are grouped into campaigns.
    pub campaigns: stanch_core::campaign::Settings,
    /// Where `stanch serve` streams the audit trail (`audit.forward`).
    pub audit_forward: crate::forward::ForwardSettings,
    /// Who may use the operator API under `/v1` (`operators:`); without it, no one may.
    pub operators: Option<crate::http::oidc::OperatorSettings>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            mode: Mode::Passive,
            database_url: SecretUrl::database("sqlite://stanch.db"),
            protected_accounts: Vec::new(),
            playbooks: vec![PathBuf::from("playbooks")],
            graph: None,
            containment: ContainmentSettings::default(),
            notify: BTreeMap::new(),
            listen: "127.0.0.1:8940".to_string(),
            intake: IntakeSettings::default(),
            server: crate::http::ServerSettings::default(),
            schedules: Vec::new(),
            approvals: ApprovalSettings::default(),
            safety: SafetySettings::default(),
            protected_groups: Vec::new(),
            protected_roles: Vec::new(),
            campaigns: stanch_core::campaign::Settings::default(),
            audit_forward: crate::forward::ForwardSettings::default(),
            operators: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {cause}")]
    Read { path: String, cause: std::io::Error },
    /// Every mistake in the file at once, each as playbook mistakes are shown: file:line:col,
    /// the line, and a caret under the column.
    #[error("{}", render_all(.path, .rendered))]
    Invalid {
        path: String,
        problems: Vec<Diagnostic>,
        /// Each problem with its snippet.
        rendered: Vec<String>,
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
        let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Read {
            path: shown.clone(),
            cause,
        })?;
        let mut config = Config::default();
        if text.trim().is_empty() {
            return Ok(config);
        }
        let invalid = |items: Vec<(Loc, Level, String)>| {
            let problems: Vec<Diagnostic> = items
                .into_iter()
                .map(|(loc, level, message)| Diagnostic {
                    file: shown.clone(),
                    loc,
                    level,
                    message,
                })
                .collect();
            let rendered = problems.iter().map(|d| d.render(&text)).collect();
            ConfigError::Invalid {
                path: shown.clone(),
                problems,
                rendered,
            }
        };
        let root =
            yaml::parse(&text).map_err(|e| invalid(vec![(e.loc, Level::Error, e.message)]))?;
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
                config.database_url = SecretUrl::database(url);
            }
            if let Some(node) = f.get("protected_accounts") {
                config.protected_accounts = decode::strings(&mut p, node, "`protected_accounts`")
                    .into_iter()
                    .map(|(_, s)| s.to_string())
                    .collect();
            }
            for (key, what) in [
                ("protected_groups", "`protected_groups`"),
                ("protected_roles", "`protected_roles`"),
            ] {
                if let Some(node) = f.get(key) {
                    let names = decode::strings(&mut p, node, what)
                        .into_iter()
                        .map(|(_, s)| s.to_string())
                        .collect();
                    if key == "protected_groups" {
                        config.protected_groups = names;
                    } else {
                        config.protected_roles = names;
                    }
                }
            }
            if let Some(node) = f.get("safety") {
                config.safety = safety::decode_safety(&mut p, node);
            }
            if let Some(node) = f.get("graph") {
                config.graph = response::decode_graph(&mut p, node);
            }
            if let Some(node) = f.get("operators")
                && let Some(mut operators) = operators::decode_operators(&mut p, node)
            {
                if operators.tenant_id.is_empty() {
                    match config.graph.as_ref().filter(|g| !g.tenant_id.is_empty()) {
                        Some(graph) => operators.tenant_id = graph.tenant_id.clone(),
                        None => p.error(
                            node.loc,
                            "`operators.tenant_id` is not set and there is no `graph.tenant_id` to default to",
                        ),
                    }
                }
                if operators.client_id.is_empty()
                    && let Some(graph) = &config.graph
                {
                    operators.client_id = graph.client_id.clone();
                }
                config.operators = Some(operators);
            }
            if let Some(node) = f.get("containment") {
                config.containment = response::decode_containment(&mut p, node).unwrap_or_default();
            }
            if let Some(listen) = f
                .get("listen")
                .and_then(|n| decode::string(&mut p, n, "`listen`"))
            {
                config.listen = listen.to_string();
            }
            if let Some(node) = f.get("campaigns") {
                config.campaigns = campaigns::decode_campaigns(&mut p, node);
            }
            if let Some(node) = f.get("audit") {
                config.audit_forward = audit::decode_audit(&mut p, node);
            }
            if let Some(node) = f.get("approvals") {
                config.approvals = approvals::decode_approvals(&mut p, node);
            }
            if let Some(node) = f.get("schedules") {
                config.schedules = service::decode_schedules(&mut p, node);
            }
            if let Some(node) = f.get("server") {
                config.server = service::decode_server(&mut p, node);
            }
            if let Some(node) = f.get("intake") {
                config.intake = service::decode_intake(&mut p, node);
            }
            if let Some(node) = f.get("notify") {
                config.notify = response::decode_notify(&mut p, node);
            }
            if let Some(node) = f.get("playbooks") {
                config.playbooks = decode::strings(&mut p, node, "`playbooks`")
                    .into_iter()
                    .map(|(_, s)| PathBuf::from(s))
                    .collect();
            }
        }
        if p.items.is_empty() {
            Ok(config)
        } else {
            let mut items = p.items;
            items.sort_by_key(|(loc, ..)| (loc.line, loc.col));
            Err(invalid(items))
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
            self.database_url = SecretUrl::database(value);
        }
        if let Some(value) = env("STANCH_PROTECTED_ACCOUNTS") {
            self.protected_accounts = split_list(&value);
        }
        if let Some(value) = env("STANCH_PLAYBOOKS") {
            self.playbooks = split_list(&value).into_iter().map(PathBuf::from).collect();
        }
        if let Some(value) = env("STANCH_APPROVAL_LINK_SECRET") {
            self.approvals.link_secret = Some(SecretString::new(value));
        }
        slack::apply_env(&mut self.approvals.slack, &env)?;
        audit::apply_env(&mut self.audit_forward, &env)?;
        if let Some(value) = env("STANCH_TEAMS_WEBHOOK_URL") {
            // The value is a secret, so the error does not repeat it.
            let teams = TeamsSettings::from_url(&value).map_err(|reason| ConfigError::Env {
                name: "STANCH_TEAMS_WEBHOOK_URL",
                value: "[redacted]".into(),
                reason,
            })?;
            self.approvals.teams = Some(teams);
        }
        if let Some(value) = env("STANCH_LISTEN") {
            self.listen = value;
        }
        if let Some(value) = env("STANCH_INTAKE_BEARER_TOKENS") {
            self.intake.bearer_tokens = split_list(&value)
                .into_iter()
                .map(SecretString::new)
                .collect();
        }
        let graph_vars = [
            "STANCH_GRAPH_TENANT_ID",
            "STANCH_GRAPH_CLIENT_ID",
            "STANCH_GRAPH_CLIENT_SECRET",
            "STANCH_GRAPH_CERTIFICATE_PATH",
            "STANCH_GRAPH_CLOUD",
            "STANCH_GRAPH_URL",
            "STANCH_LOGIN_URL",
        ];
        if graph_vars.iter().any(|name| env(name).is_some()) {
            let graph = self.graph.get_or_insert_with(|| GraphSettings {
                cloud: "global".into(),
                ..GraphSettings::default()
            });
            if let Some(value) = env("STANCH_GRAPH_TENANT_ID") {
                graph.tenant_id = value;
            }
            if let Some(value) = env("STANCH_GRAPH_CLIENT_ID") {
                graph.client_id = value;
            }
            if let Some(value) = env("STANCH_GRAPH_CLIENT_SECRET") {
                graph.client_secret = Some(SecretString::new(value));
            }
            if let Some(value) = env("STANCH_GRAPH_CERTIFICATE_PATH") {
                graph.certificate_path = Some(PathBuf::from(value));
            }
            if let Some(value) = env("STANCH_GRAPH_CLOUD") {
                if !CLOUDS.contains(&value.as_str()) {
                    return Err(ConfigError::Env {
                        name: "STANCH_GRAPH_CLOUD",
                        value,
                        reason: format!("expected one of {}", CLOUDS.join(", ")),
                    });
                }
                graph.cloud = value;
            }
            if let Some(value) = env("STANCH_GRAPH_URL") {
                graph.graph_url = Some(value);
            }
            if let Some(value) = env("STANCH_LOGIN_URL") {
                graph.login_url = Some(value);
            }
        }
        Ok(())
    }
}

/// The config a file holding `text` loads to (without environment), or its error as text.
#[cfg(test)]
pub(crate) fn load_text(text: &str) -> Result<Config, String> {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    Config::load(Some(file.path()), |_| None).map_err(|e| e.to_string())
}

/// One mistake as it is; several counted first, a blank line between them.
fn render_all(path: &str, rendered: &[String]) -> String {
    match rendered {
        [one] => one.clone(),
        all => format!("{} mistakes in {path}:\n\n{}", all.len(), all.join("\n\n")),
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
mod tests;
