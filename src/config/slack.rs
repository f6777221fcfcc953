//! `approvals.slack` in the config: the Slack app that posts approval requests and receives the
//! button clicks.
//!
//! ```yaml
//! approvals:
//!   slack:
//!     bot_token: xoxb-...                # or STANCH_SLACK_BOT_TOKEN; scopes chat:write, users:read.email
//!     signing_secrets: [current, old]    # or STANCH_SLACK_SIGNING_SECRETS (comma-separated); 1 or 2
//!     channel: C0SECOPS                  # where requests are posted
//!     api_url: https://slack.com/api     # the default; tests point it at a fake
//!     team_id: T024BE7LD                 # optional: clicks from another workspace are refused
//!     app_id: A0APP                      # optional: clicks for another app are refused
//! ```
//!
//! Two signing secrets because Slack keeps the old one valid for a while after a rotation; both
//! are accepted until the old one is removed from the config.

use super::ConfigError;
use crate::approvals::{MAX_SIGNING_SECRETS, SlackSettings};
use stanch_core::secret::SecretString;
use stanch_core::yaml::Node;
use stanch_core::yaml::decode;
use stanch_core::yaml::diag::Problems;

const SLACK_KEYS: &[&str] = &[
    "bot_token",
    "signing_secrets",
    "channel",
    "api_url",
    "team_id",
    "app_id",
];

pub(super) fn decode_slack(p: &mut Problems, node: &Node) -> Option<SlackSettings> {
    let f = decode::fields(p, node, "`approvals.slack`", SLACK_KEYS)?;
    let mut settings = SlackSettings::default();
    let text = |p: &mut Problems, key: &str| {
        f.get(key)
            .and_then(|n| decode::string(p, n, &format!("`approvals.slack.{key}`")))
            .map(str::to_string)
    };
    settings.bot_token = text(p, "bot_token").map(SecretString::new);
    if let Some(n) = f.get("signing_secrets") {
        let secrets = decode::strings(p, n, "`approvals.slack.signing_secrets`");
        if secrets.is_empty() || secrets.len() > MAX_SIGNING_SECRETS {
            p.error(
                n.loc,
                "`approvals.slack.signing_secrets` takes the current secret and at most one previous one",
            );
        }
        settings.signing_secrets = secrets
            .into_iter()
            .map(|(_, s)| SecretString::new(s))
            .collect();
    }
    if let Some(channel) = f
        .require(p, "channel", "`approvals.slack`")
        .and_then(|n| decode::string(p, n, "`approvals.slack.channel`"))
    {
        settings.channel = channel.to_string();
    }
    if let Some(n) = f.get("api_url")
        && let Some(url) = decode::string(p, n, "`approvals.slack.api_url`")
    {
        if url.starts_with("https://") || url.starts_with("http://") {
            settings.api_url = url.trim_end_matches('/').to_string();
        } else {
            p.error(n.loc, "`approvals.slack.api_url` must be an http(s) URL");
        }
    }
    settings.team_id = text(p, "team_id");
    settings.app_id = text(p, "app_id");
    Some(settings)
}

/// `STANCH_SLACK_BOT_TOKEN` and `STANCH_SLACK_SIGNING_SECRETS` override the file (and turn the
/// channel on, though it then still needs `channel` from the file).
pub(super) fn apply_env(
    slot: &mut Option<SlackSettings>,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let token = env("STANCH_SLACK_BOT_TOKEN");
    let secrets = env("STANCH_SLACK_SIGNING_SECRETS");
    if token.is_none() && secrets.is_none() {
        return Ok(());
    }
    let settings = slot.get_or_insert_with(SlackSettings::default);
    if let Some(token) = token {
        settings.bot_token = Some(SecretString::new(token));
    }
    if let Some(value) = secrets {
        let list = super::split_list(&value);
        if list.is_empty() || list.len() > MAX_SIGNING_SECRETS {
            return Err(ConfigError::Env {
                name: "STANCH_SLACK_SIGNING_SECRETS",
                value: "[redacted]".into(),
                reason: "expected the current secret and at most one previous one, comma-separated"
                    .into(),
            });
        }
        settings.signing_secrets = list.into_iter().map(SecretString::new).collect();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), text).unwrap();
        Config::load(Some(file.path()), |name| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
        .map_err(|e| e.to_string())
    }

    #[test]
    fn slack_from_file_and_environment_with_secrets_redacted() {
        let config = load(
            "approvals:\n  slack:\n    channel: C0SECOPS\n    api_url: http://127.0.0.1:9/api/\n    team_id: T1\n",
            &[
                ("STANCH_SLACK_BOT_TOKEN", "xoxb-1"),
                ("STANCH_SLACK_SIGNING_SECRETS", "new-s3cr3t, old-s3cr3t"),
            ],
        )
        .unwrap();
        let slack = config.approvals.slack.clone().unwrap();
        assert!(slack.problems().is_empty(), "{:?}", slack.problems());
        assert_eq!(slack.api_url, "http://127.0.0.1:9/api");
        assert_eq!(slack.signing_secrets.len(), 2);
        assert_eq!(slack.team_id.as_deref(), Some("T1"));
        assert_eq!(slack.app_id, None);
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("xoxb-1") && !shown.contains("s3cr3t"),
            "{shown}"
        );

        let bare = load("approvals:\n  slack:\n    channel: C0SECOPS\n", &[]).unwrap();
        let slack = bare.approvals.slack.unwrap();
        assert_eq!(slack.api_url, "https://slack.com/api");
        assert_eq!(slack.problems().len(), 2, "{:?}", slack.problems());
    }

    #[test]
    fn slack_mistakes_are_located() {
        let err = load(
            "approvals:\n  slack:\n    channel: C0SECOPS\n    signing_secret: x\n",
            &[],
        )
        .unwrap_err();
        assert!(
            err.contains(":4:5: error: unknown key `signing_secret`"),
            "{err}"
        );
        let err = load(
            "approvals:\n  slack:\n    channel: C0SECOPS\n    signing_secrets: [a, b, c]\n",
            &[],
        )
        .unwrap_err();
        assert!(err.contains(":4:22:"), "{err}");
        let err = load("approvals:\n  slack:\n    bot_token: x\n", &[]).unwrap_err();
        assert!(err.contains("missing the required key `channel`"), "{err}");
        let err = load(
            "approvals:\n  slack:\n    channel: C1\n",
            &[("STANCH_SLACK_SIGNING_SECRETS", "s1,s2,s3")],
        )
        .unwrap_err();
        assert!(
            err.contains("STANCH_SLACK_SIGNING_SECRETS=[redacted]"),
            "{err}"
        );
        assert!(!err.contains("s1"), "the secrets are not echoed: {err}");
    }
}
