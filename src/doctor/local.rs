//! The checks outside the tenant: Slack's `auth.test`, what approval links need, the database.

use std::net::SocketAddr;

use super::{Finding, Report};
use crate::config::Config;
use crate::store::Store;

pub(super) async fn check(report: &mut Report, config: &Config, store: Result<&Store, String>) {
    slack(report, config).await;
    operators(report, config).await;
    links(report, config);
    database(report, store).await;
}

/// The audit receivers of `audit.forward` can be reached (and take the HEC token).
pub(super) async fn forwarding(report: &mut Report, config: &Config) {
    for (name, receiver, outcome) in crate::forward::probe(&config.audit_forward).await {
        report.findings.push(match outcome {
            Ok(()) => Finding::pass("forward", format!("{name} receiver {receiver} answers")),
            Err(why) => Finding::fail(
                "forward",
                format!("the audit trail cannot be forwarded: {why}"),
                "check audit.forward (address, TLS and ca_file, HEC URL and token) and that the receiver is up; records wait meanwhile, none is skipped",
            ),
        });
    }
}

async fn slack(report: &mut Report, config: &Config) {
    let Some(slack) = &config.approvals.slack else {
        return;
    };
    let problems = slack.problems();
    let Some(token) = slack.bot_token.as_ref().filter(|_| problems.is_empty()) else {
        report.findings.push(Finding::fail(
            "slack",
            format!("the Slack channel is incomplete: {}", problems.join("; ")),
            "complete `approvals.slack` (see the README's Slack section)",
        ));
        return;
    };
    let url = format!("{}/auth.test", slack.api_url);
    let answer = reqwest::Client::new()
        .post(&url)
        .bearer_auth(token.expose())
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await;
    let body: Result<serde_json::Value, String> = match answer {
        Ok(answer) => answer.json().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    report.findings.push(match body {
        Ok(body) if body["ok"] == true => Finding::pass(
            "slack",
            format!(
                "auth.test: the bot token works (team {})",
                body["team"].as_str().or(body["team_id"].as_str()).unwrap_or("?")
            ),
        ),
        Ok(body) => Finding::fail(
            "slack",
            format!(
                "auth.test refused the bot token: {}",
                body["error"].as_str().unwrap_or("no error given")
            ),
            "put the app's Bot User OAuth Token (xoxb-…) in approvals.slack.bot_token or STANCH_SLACK_BOT_TOKEN",
        ),
        // Unreachable may be Slack's moment, not the config: a warning, so a chat outage does
        // not make the intake unready (requests still go to the other channels and the CLI).
        Err(e) => Finding::warn(
            "slack",
            format!("cannot reach Slack at {}: {e}", slack.api_url),
            "check approvals.slack.api_url and the proxy or firewall",
        ),
    });
}

/// The operator API's issuer publishes its discovery document and signing keys. Unreachable is
/// a warning: the intake does not need it, and tokens are checked again on every call.
async fn operators(report: &mut Report, config: &Config) {
    let Some(operators) = &config.operators else {
        return;
    };
    let login_root = crate::http::oidc::login_root(config.graph.as_ref());
    let verifier = crate::http::oidc::Verifier::new(operators.clone(), &login_root);
    report.findings.push(match verifier.probe().await {
        Ok(0) => Finding::fail(
            "operators",
            format!("the issuer {} publishes no signing keys", verifier.issuer()),
            "check operators.issuer (or graph.login_url and operators.tenant_id)",
        ),
        Ok(keys) => Finding::pass(
            "operators",
            format!("{keys} signing key(s) from {}", verifier.issuer()),
        ),
        Err(why) => Finding::warn(
            "operators",
            format!("operator tokens cannot be checked now: {why}"),
            "check operators.issuer (or graph.login_url and operators.tenant_id) and that the identity provider is reachable",
        ),
    });
}

/// Signed links need a secret to sign with and an address approvers' browsers reach.
fn links(report: &mut Report, config: &Config) {
    let approvals = &config.approvals;
    let personal = approvals
        .teams
        .as_ref()
        .is_some_and(|t| t.personal_webhook_url.is_some());
    let uses_links = approvals.link_secret.is_some() || approvals.public_url.is_some() || personal;
    if !uses_links {
        return;
    }
    if approvals.link_secret.is_none() {
        let message = "`approvals.link_secret` is not set: approval requests carry no links (people decide with `stanch approvals approve`)";
        let fix =
            "set approvals.link_secret (or STANCH_APPROVAL_LINK_SECRET) to a long random value";
        // The personal Teams flow exists only to carry each approver's link.
        report.findings.push(if personal {
            Finding::fail(
                "links",
                format!("Teams `personal_webhook_url` is set but {message}"),
                fix,
            )
        } else {
            Finding::warn("links", message, fix)
        });
        return;
    }
    let finding = match &approvals.public_url {
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => Finding::pass(
            "links",
            format!("approval links are signed and point at {url}"),
        ),
        Some(url) => Finding::fail(
            "links",
            format!("approvals.public_url `{url}` is not an http(s) URL"),
            "set it to the address approvers' browsers reach stanch serve at, e.g. https://stanch.example.com",
        ),
        None => match config.listen.parse::<SocketAddr>() {
            Ok(addr) if addr.ip().is_unspecified() => Finding::fail(
                "links",
                format!(
                    "`approvals.public_url` is not set and stanch listens on {addr}: links would have no address"
                ),
                "set approvals.public_url to the address approvers' browsers reach",
            ),
            _ => Finding::warn(
                "links",
                format!(
                    "`approvals.public_url` is not set: links point at http:// + the address serve binds ({}), and `stanch job run` sends none",
                    config.listen
                ),
                "set approvals.public_url to the address approvers' browsers reach",
            ),
        },
    };
    report.findings.push(finding);
}

async fn database(report: &mut Report, store: Result<&Store, String>) {
    let store = match store {
        Ok(store) => store,
        Err(why) => {
            report.findings.push(Finding::fail(
                "database",
                why,
                "check database_url, the directory's permissions and that the server is up",
            ));
            return;
        }
    };
    if let Err(e) = store.check_writable(1000).await {
        report.findings.push(Finding::fail(
            "database",
            format!("the database does not take a write: {e}"),
            "check the disk, the file's permissions, or who holds the database locked",
        ));
        return;
    }
    report.findings.push(match store.migrations().await {
        Ok((applied, known)) if applied >= known => Finding::pass(
            "database",
            format!("writable, {applied} migration(s) applied"),
        ),
        Ok((applied, known)) => Finding::fail(
            "database",
            format!("{applied} of {known} migrations applied"),
            "restart stanch serve (it migrates at start) and read its log",
        ),
        Err(e) => Finding::fail(
            "database",
            format!("cannot read the migrations: {e}"),
            "check database_url points at stanch's database",
        ),
    });
}
