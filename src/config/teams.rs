//! `approvals.teams` in the config: the Teams channel, a Workflows webhook.
//!
//! ```yaml
//! approvals:
//!   teams:
//!     webhook_url: https://prod-00.westeurope.logic.azure.com/workflows/...&sig=...   # or STANCH_TEAMS_WEBHOOK_URL
//!     personal_webhook_url: https://...   # a flow posting each card in its `recipient`'s chat; links go only there
//! ```
//!
//! The URL is the flow's "When a Teams webhook request is received" trigger. Its `sig=` query
//! parameter is the only thing that authorises a post, so the whole URL is a secret: it is kept
//! in a `SecretString` and never appears in logs, errors or the store.

use crate::approvals::TeamsSettings;
use stanch_core::yaml::Node;
use stanch_core::yaml::decode;
use stanch_core::yaml::diag::Problems;

const TEAMS_KEYS: &[&str] = &["webhook_url", "personal_webhook_url"];

pub(super) fn decode_teams(p: &mut Problems, node: &Node) -> Option<TeamsSettings> {
    let f = decode::fields(p, node, "`approvals.teams`", TEAMS_KEYS)?;
    let n = f.require(p, "webhook_url", "`approvals.teams`")?;
    let url = decode::string(p, n, "`approvals.teams.webhook_url`")?;
    let mut settings = match TeamsSettings::from_url(url) {
        Ok(settings) => settings,
        Err(message) => {
            p.error(n.loc, message);
            return None;
        }
    };
    if let Some(n) = f.get("personal_webhook_url") {
        let url = decode::string(p, n, "`approvals.teams.personal_webhook_url`")?;
        match TeamsSettings::from_url(url) {
            Ok(personal) => settings.personal_webhook_url = Some(personal.webhook_url),
            Err(message) => p.error(n.loc, message),
        }
    }
    Some(settings)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn the_webhook_url_comes_from_file_or_environment_and_is_never_shown() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let url = "https://prod.example.logic.azure.com/workflows/1/triggers/manual/paths/invoke?api-version=1&sig=s3cr3t";
        std::fs::write(
            file.path(),
            format!("approvals:\n  teams:\n    webhook_url: \"{url}\"\n"),
        )
        .unwrap();
        let config = Config::load(Some(file.path()), |_| None).unwrap();
        let teams = config.approvals.teams.clone().unwrap();
        assert_eq!(teams.webhook_url.expose(), url);
        assert!(!format!("{config:?}").contains("s3cr3t"));

        let from_env = Config::load(None, |name| {
            (name == "STANCH_TEAMS_WEBHOOK_URL").then(|| url.to_string())
        })
        .unwrap();
        assert_eq!(from_env.approvals.teams, Some(teams));
        let err = Config::load(None, |name| {
            (name == "STANCH_TEAMS_WEBHOOK_URL").then(|| "ftp://x/?sig=s3cr3t".to_string())
        })
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("must start with https://") && !err.contains("s3cr3t"),
            "{err}"
        );

        std::fs::write(file.path(), "approvals:\n  teams:\n    url: x\n").unwrap();
        let err = Config::load(Some(file.path()), |_| None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown key `url` in `approvals.teams`"),
            "{err}"
        );
    }
}
