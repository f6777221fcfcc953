//! Operator commands around execution: `stanch emulate`, `stanch actions`, `stanch setup`.

use super::mistake::{bad_argument, mistake};
use std::path::PathBuf;

use anyhow::Context as _;

use super::Verdict;
use super::run::graph_runner;
use crate::actions::rollback;
use crate::config::Config;
use crate::emulate::Emulator;
use crate::store::Store;
use stanch_core::vocab::ActionStatus;

/// Serves the Graph emulator until interrupted.
pub(crate) async fn emulate(listen: &str, fixture: Option<PathBuf>) -> anyhow::Result<Verdict> {
    let (emulator, serving) = match &fixture {
        Some(path) => (
            Emulator::from_file(path)
                .with_context(|| format!("loading the tenant fixture {}", path.display()))?,
            path.display().to_string(),
        ),
        None => {
            let tenant: crate::emulate::Fixture =
                serde_json::from_str(super::demo::TENANT).context("the built-in tenant fixture")?;
            (
                Emulator::new(tenant),
                "the attack story (built in; --fixture FILE for another)".to_string(),
            )
        }
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    println!("stanch emulator serving the tenant of {serving} at {url}");
    println!("  point stanch at it with graph.graph_url: {url} and graph.login_url: {url}");
    println!(
        "  request log: {url}/_emulator/requests   state: {url}/_emulator/state   faults: POST {url}/_emulator/faults"
    );
    tokio::select! {
        served = emulator.serve(listener) => served.context("serving the emulator")?,
        _ = tokio::signal::ctrl_c() => println!("stopped"),
    }
    Ok(Verdict::Clean)
}

pub(crate) async fn actions_list(
    config: &Config,
    json_output: bool,
    status: Option<String>,
) -> anyhow::Result<Verdict> {
    let status: Option<ActionStatus> = status
        .map(|s| s.parse())
        .transpose()
        .map_err(|e| bad_argument("--status", e))?;
    let store = open(config).await?;
    let actions: Vec<_> = store
        .actions(None)
        .await?
        .into_iter()
        .filter(|a| status.is_none_or(|s| a.status == s))
        .collect();
    if json_output {
        println!("{}", serde_json::to_string(&actions)?);
        return Ok(Verdict::Clean);
    }
    for a in &actions {
        let target = a
            .target_upn
            .as_deref()
            .or(a.target_id.as_deref())
            .unwrap_or("tenant");
        println!(
            "#{:<6} {:<24} {:<20} {:<28} {:<8} {}/{}{}",
            a.pk,
            a.status,
            a.kind,
            target,
            a.mode,
            a.playbook,
            a.step,
            expiry_note(a)
        );
    }
    println!("{} action(s)", actions.len());
    Ok(Verdict::Clean)
}

/// The note column of `actions list`: what an unverified action needs, or the expiry of one
/// that has (or had) a deadline.
fn expiry_note(a: &crate::store::ActionRow) -> String {
    if a.status == ActionStatus::Refused {
        return format!("  refused: {}", refusals(a).join("; "));
    }
    if a.status == ActionStatus::Unverified {
        return format!(
            "  may or may not have happened: check by hand, then `stanch actions retry {} --as NAME --reason TEXT` or leave it",
            a.pk
        );
    }
    match (&a.expires_at, &a.confirmed_by) {
        (Some(_), Some(by)) => format!("  confirmed by {by}"),
        (Some(at), None) if a.status == ActionStatus::Succeeded => format!("  expires {at}"),
        (Some(at), None) => format!("  deadline {at}"),
        (None, _) => String::new(),
    }
}

/// Each range a refused action names, with why: from its result when the executor refused it,
/// from its plan when the engine did.
fn refusals(a: &crate::store::ActionRow) -> Vec<String> {
    let from_result = a.result.as_ref().map(|r| r["refused"].clone());
    let list = from_result
        .filter(|r| r.as_array().is_some_and(|l| !l.is_empty()))
        .unwrap_or_else(|| a.gate["refused"].clone());
    let each: Vec<String> = (list.as_array().into_iter().flatten())
        .map(|r| {
            format!(
                "`{}` {}",
                r["range"].as_str().unwrap_or_default(),
                r["why"].as_str().unwrap_or_default()
            )
        })
        .collect();
    if each.is_empty() {
        // Refused as a whole (the named location it would change): the error says why.
        let error = a.result.as_ref().and_then(|r| r["error"].as_str());
        return vec![error.unwrap_or("see the audit trail").to_string()];
    }
    each
}

/// An operator's name and reason, both required: what a local write records beside the OS user.
fn named(operator: &str, reason: &str) -> anyhow::Result<stanch_core::audit::Actor> {
    if operator.trim().is_empty() {
        mistake!("--as needs the name of who asks; it is empty");
    }
    if reason.trim().is_empty() {
        mistake!("--reason must say why; the audit trail records it");
    }
    Ok(super::local::local_actor(Some(operator.trim())))
}

pub(crate) async fn actions_retry(
    config: &Config,
    pk: i64,
    operator: &str,
    reason: &str,
) -> anyhow::Result<Verdict> {
    let actor = named(operator, reason)?;
    let store = open(config).await?;
    if store.requeue_by(pk, &actor, reason.trim()).await? {
        println!("action #{pk} is queued again; `stanch serve` will carry it out");
        Ok(Verdict::Clean)
    } else if let Some(row) = store
        .action(pk)
        .await?
        .filter(|r| r.status == ActionStatus::Refused)
    {
        mistake!(
            "action #{pk} was refused by the safety rails and a retry would be refused again ({}); if the block is really wanted, make it in the Entra admin center",
            refusals(&row).join("; ")
        )
    } else {
        mistake!(
            "action #{pk} is not failed, unverified or waiting for a human, so it cannot be retried"
        )
    }
}

pub(crate) async fn actions_rollback(
    config: &Config,
    pk: i64,
    operator: &str,
    reason: &str,
) -> anyhow::Result<Verdict> {
    let actor = named(operator, reason)?;
    let store = open(config).await?;
    let runner = graph_runner(config, &store)?
        .context("rolling back needs a `graph` connection in the config")?;
    let took = rollback(&runner, &store, pk, reason.trim(), &actor)
        .await
        .with_context(|| format!("rolling back action #{pk}"))?;
    println!("action #{pk} rolled back in {} ms", took.as_millis());
    Ok(Verdict::Clean)
}

/// `stanch actions extend ID --by D` (with `by`) and `stanch actions confirm ID`, each audited
/// with who and why.
pub(crate) async fn actions_expiry(
    config: &Config,
    pk: i64,
    by: Option<&str>,
    operator: &str,
    reason: &str,
) -> anyhow::Result<Verdict> {
    use crate::store::{ExpiryChange, ExpiryOperator};
    let change = match by {
        Some(text) => {
            let secs =
                stanch_core::util::parse_duration(text).map_err(|e| bad_argument("--by", e))?;
            if secs == 0 {
                mistake!("--by: an extension must be longer than zero");
            }
            ExpiryChange::Extend { secs }
        }
        None => ExpiryChange::Confirm,
    };
    let store = open(config).await?;
    let actor = super::local::local_actor(Some(operator));
    let who = ExpiryOperator {
        name: operator,
        actor: Some(&actor),
        reason,
        at: chrono::Utc::now(),
    };
    let changed = store
        .change_expiry(pk, change, who)
        .await
        .with_context(|| format!("changing the expiry of action #{pk}"))?;
    if changed.confirmed {
        println!("action #{pk} confirmed by {operator}: it is permanent and will not expire");
    } else {
        println!("action #{pk} now expires at {}", changed.expires_at);
    }
    Ok(Verdict::Clean)
}

/// Creates the quarantine group and the Conditional Access policy that blocks legacy
/// authentication (Exchange ActiveSync and other legacy clients) for its members.
pub(crate) async fn setup_legacy_auth(
    config: &Config,
    options: crate::actions::SetupOptions,
) -> anyhow::Result<Verdict> {
    let store = open(config).await?;
    let runner =
        graph_runner(config, &store)?.context("setup needs a `graph` connection in the config")?;
    let done = crate::actions::setup_legacy_auth(&runner, options)
        .await
        .context("setting up legacy-auth blocking")?;
    let said = |step: crate::actions::Step| match step {
        crate::actions::Step::Found => "found (left as it was)",
        crate::actions::Step::Created => "created",
        crate::actions::Step::Enforced => "switched to enforced",
        crate::actions::Step::WouldCreate => "would be created (dry run)",
        crate::actions::Step::WouldEnforce => "would be switched to enforced (dry run)",
    };
    let id = |id: &Option<String>| id.clone().unwrap_or_else(|| "-".into());
    println!(
        "quarantine group {}: {}",
        id(&done.group_id),
        said(done.group)
    );
    println!(
        "Conditional Access policy {}: {}; state {}",
        id(&done.policy_id),
        said(done.policy),
        done.policy_state
    );
    if done.policy_state != "enabled" {
        println!(
            "the policy only reports (sign-in logs show what it would block); enforce it with `stanch setup legacy-auth --enforce`"
        );
    }
    if let Some(group) = &done.group_id
        && config.containment.quarantine_group_id.as_deref() != Some(group.as_str())
    {
        println!("add to your config:\n  containment:\n    quarantine_group_id: {group}");
    }
    Ok(Verdict::Clean)
}

pub(super) async fn open(config: &Config) -> anyhow::Result<Store> {
    Store::open(config.database_url.expose())
        .await
        .with_context(|| format!("opening the database {}", config.database_url))
}
