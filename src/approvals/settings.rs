//! Where approval requests go and what applies when a step does not say (`approvals:` in the
//! config, decoded by `config`): links, the default policy, the webhook, Slack and Teams.

use stanch_core::secret::{SecretString, SecretUrl};
use stanch_core::vocab::ApprovalPolicy;

const DEFAULT_LINK_TTL_SECS: u64 = 60 * 60;

/// Approval channels and defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalSettings {
    /// HMAC secret for approval links; links are off without one.
    pub link_secret: Option<SecretString>,
    /// The address approvers reach `stanch serve` at, e.g. `https://stanch.example.com`.
    pub public_url: Option<String>,
    pub link_ttl_secs: u64,
    /// The policy of gates that have none of their own.
    pub default_policy: Option<ApprovalPolicy>,
    pub webhook: Option<WebhookSettings>,
    pub slack: Option<SlackSettings>,
    pub teams: Option<TeamsSettings>,
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        ApprovalSettings {
            link_secret: None,
            public_url: None,
            link_ttl_secs: DEFAULT_LINK_TTL_SECS,
            default_policy: None,
            webhook: None,
            slack: None,
            teams: None,
        }
    }
}

/// The generic webhook channel: approval requests and decisions as signed JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    /// A secret (a token may be in its path or query): shown redacted.
    pub url: SecretUrl,
    pub secret: SecretString,
}

pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";

/// The current secret, and the previous one during a rotation.
pub const MAX_SIGNING_SECRETS: usize = 2;

/// The Slack channel of approval requests.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackSettings {
    pub bot_token: Option<SecretString>,
    pub signing_secrets: Vec<SecretString>,
    /// A channel id such as `C0SECOPS`.
    pub channel: String,
    /// Without a trailing slash.
    pub api_url: String,
    pub team_id: Option<String>,
    pub app_id: Option<String>,
}

impl Default for SlackSettings {
    fn default() -> Self {
        SlackSettings {
            bot_token: None,
            signing_secrets: Vec::new(),
            channel: String::new(),
            api_url: DEFAULT_SLACK_API_URL.to_string(),
            team_id: None,
            app_id: None,
        }
    }
}

impl SlackSettings {
    /// What is still missing once the file and the environment were read (secrets may come from
    /// either, so this cannot be checked while decoding the file).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.bot_token.is_none() {
            problems.push(
                "`approvals.slack.bot_token` is not set (or STANCH_SLACK_BOT_TOKEN)".to_string(),
            );
        }
        if self.signing_secrets.is_empty() || self.signing_secrets.len() > MAX_SIGNING_SECRETS {
            problems.push(
                "`approvals.slack.signing_secrets` needs 1 or 2 secrets (or STANCH_SLACK_SIGNING_SECRETS)"
                    .to_string(),
            );
        }
        if self.channel.is_empty() {
            problems.push("`approvals.slack.channel` is not set".to_string());
        }
        problems
    }
}

/// Where Teams approval cards are posted.
#[derive(Debug, Clone, PartialEq)]
pub struct TeamsSettings {
    /// The shared channel's flow: the evidence, never a link.
    pub webhook_url: SecretString,
    /// A flow that posts each card in the chat of the message's `recipient`: where personal
    /// approval links go. Without one, Teams carries no links.
    pub personal_webhook_url: Option<SecretString>,
}

impl TeamsSettings {
    /// Settings from a URL, refused (without repeating the URL) unless it is http(s).
    pub fn from_url(url: &str) -> Result<TeamsSettings, String> {
        let url = url.trim();
        if url.starts_with("https://") || url.starts_with("http://") {
            Ok(TeamsSettings {
                webhook_url: SecretString::new(url),
                personal_webhook_url: None,
            })
        } else {
            Err("the Teams webhook URL must start with https:// (the Workflows trigger URL)".into())
        }
    }
}
