//! `approvals:` in the config: where approval requests go and what applies when a step does not
//! say (actions gated because the account is protected or a budget is spent have no step policy).
//!
//! ```yaml
//! approvals:
//!   public_url: https://stanch.example.com   # where approvers reach `stanch serve`
//!   link_secret: ...                         # or STANCH_APPROVAL_LINK_SECRET; signed links are off without it
//!   link_ttl: 1h                             # links expire then, or at the request's deadline if sooner
//!   default:                                 # the policy for gates without a step `approval` block
//!     approvers: [group:SOC Tier 2]
//!     timeout: 30m
//!     on_timeout: deny
//!   webhook:                                 # generic channel: signed JSON POST
//!     url: https://soar.example.com/hooks/stanch   # a secret: shown as https://soar.example.com/…
//!     secret: ...                            # X-Stanch-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">
//!   slack: { ... }                           # see `config/slack.rs`
//!   teams:                                   # Adaptive Cards through a Workflows webhook (`teams.rs`)
//!     webhook_url: ...                       # or STANCH_TEAMS_WEBHOOK_URL; a secret
//! ```

use crate::approvals::{ApprovalSettings, WebhookSettings};
use stanch_core::secret::{SecretString, SecretUrl};
use stanch_core::util::parse_duration;
use stanch_core::yaml::Node;
use stanch_core::yaml::decode;
use stanch_core::yaml::diag::Problems;

pub(super) const APPROVAL_KEYS: &[&str] = &[
    "link_secret",
    "public_url",
    "link_ttl",
    "default",
    "webhook",
    "slack",
    "teams",
];
const WEBHOOK_KEYS: &[&str] = &["url", "secret"];

pub(super) fn decode_approvals(p: &mut Problems, node: &Node) -> ApprovalSettings {
    let mut settings = ApprovalSettings::default();
    let Some(f) = decode::fields(p, node, "`approvals`", APPROVAL_KEYS) else {
        return settings;
    };
    if let Some(secret) = f
        .get("link_secret")
        .and_then(|n| decode::string(p, n, "`approvals.link_secret`"))
    {
        settings.link_secret = Some(SecretString::new(secret));
    }
    if let Some(url) = f
        .get("public_url")
        .and_then(|n| decode::string(p, n, "`approvals.public_url`"))
    {
        settings.public_url = Some(url.trim_end_matches('/').to_string());
    }
    if let Some(n) = f.get("link_ttl")
        && let Some(text) = decode::string(p, n, "`approvals.link_ttl`")
    {
        match parse_duration(text) {
            Ok(secs) => settings.link_ttl_secs = secs,
            Err(m) => p.error(n.loc, m),
        }
    }
    if let Some(n) = f.get("default") {
        settings.default_policy = stanch_core::playbook::compile_approval(p, n);
    }
    if let Some(n) = f.get("webhook")
        && let Some(w) = decode::fields(p, n, "`approvals.webhook`", WEBHOOK_KEYS)
    {
        let url_node = w.require(p, "url", "`approvals.webhook`");
        let url = url_node.and_then(|n| decode::string(p, n, "`approvals.webhook.url`"));
        let secret = w
            .require(p, "secret", "`approvals.webhook`")
            .and_then(|n| decode::string(p, n, "`approvals.webhook.secret`"));
        if let (Some(n), Some(url)) = (url_node, url)
            && let Some(problem) = super::response::not_http(url, "`approvals.webhook.url`")
        {
            p.error(n.loc, problem);
        }
        if let (Some(url), Some(secret)) = (url, secret) {
            settings.webhook = Some(WebhookSettings {
                url: SecretUrl::webhook(url),
                secret: SecretString::new(secret),
            });
        }
    }
    if let Some(n) = f.get("slack") {
        settings.slack = super::slack::decode_slack(p, n);
    }
    if let Some(n) = f.get("teams") {
        settings.teams = super::teams::decode_teams(p, n);
    }
    settings
}
