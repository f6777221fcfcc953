//! `stanch approvals`: what waits for a human, and deciding from the command line (audited
//! like any other channel).

use super::mistake::{Mistake, bad_argument, mistake};
use anyhow::Context as _;

use super::Verdict;
use super::operate::open;
use super::run::graph_runner;
use crate::config::Config;
use crate::store::{DecisionEffect, Store};
use stanch_core::vocab::ActionStatus;

/// Approval requests (pending and decided; in passive runs, those that would have been), with
/// the target account, the action, the state and who may decide.
pub(crate) async fn approvals_list(config: &Config, json_output: bool) -> anyhow::Result<Verdict> {
    let store = open(config).await?;
    let mut listed = Vec::new();
    for row in store.actions(None).await? {
        if row.is_gated() {
            listed.push(crate::approvals::summary::summary(&store, &config.approvals, &row).await?);
        }
    }
    if json_output {
        println!("{}", serde_json::to_string(&listed)?);
        return Ok(Verdict::Clean);
    }
    for a in &listed {
        println!(
            "#{:<6} {:<24} {:<18} {:<28} round {} deadline {} approvers {} — {}",
            a["id"],
            a["state"].as_str().unwrap_or_default(),
            a["action"].as_str().unwrap_or_default(),
            a["target"].as_str().unwrap_or("tenant"),
            a["round"],
            a["deadline"].as_str().unwrap_or("-"),
            a["approvers"],
            a["reasons"]
        );
    }
    println!("{} approval request(s)", listed.len());
    Ok(Verdict::Clean)
}

/// One request in full: the evidence, every delivery and every decision.
pub(crate) async fn approvals_show(
    config: &Config,
    pk: i64,
    json_output: bool,
) -> anyhow::Result<Verdict> {
    let store = open(config).await?;
    let row = store
        .action(pk)
        .await?
        .ok_or_else(|| Mistake(format!("no action #{pk}")))?;
    if !row.is_gated() {
        mistake!("action #{pk} needs no approval");
    }
    let shown = crate::approvals::summary::detail(&store, &config.approvals, &row).await?;
    if json_output {
        println!("{}", serde_json::to_string_pretty(&shown)?);
        return Ok(Verdict::Clean);
    }
    println!(
        "action #{pk}: {} on {} ({}/{}) — {}",
        row.kind,
        shown["target"].as_str().unwrap_or("the tenant"),
        row.playbook,
        row.step,
        shown["state"].as_str().unwrap_or_default()
    );
    println!("  why gated: {}", row.gate["reasons"]);
    println!("  parameters: {}", row.params);
    let d = &shown["detection"];
    println!(
        "  detection: {} ({}) from {} at {}",
        d["name"], d["severity"], d["source"], d["observed_at"]
    );
    println!(
        "  approvers: {} (quorum {}), round {}, deadline {}",
        shown["approvers"], shown["quorum"], shown["round"], shown["deadline"]
    );
    for delivery in shown["deliveries"].as_array().into_iter().flatten() {
        println!(
            "  sent via {} at {} (round {}): {}",
            delivery["channel"].as_str().unwrap_or_default(),
            delivery["sent_at"].as_str().unwrap_or_default(),
            delivery["round"],
            if delivery["ok"] == true {
                "delivered".to_string()
            } else {
                delivery["delivery"].to_string()
            }
        );
    }
    for decision in shown["decisions"].as_array().into_iter().flatten() {
        println!(
            "  {} by {} via {} at {}: {}",
            decision["decision"].as_str().unwrap_or_default(),
            decision["approver"].as_str().unwrap_or_default(),
            decision["channel"].as_str().unwrap_or_default(),
            decision["decided_at"].as_str().unwrap_or_default(),
            decision["reason"].as_str().unwrap_or_default()
        );
    }
    Ok(Verdict::Clean)
}

/// Updates the messages that carried the request (best effort: the decision is already recorded).
async fn announce(
    config: &Config,
    store: &Store,
    directory: Option<crate::actions::GraphRunner>,
    pk: i64,
    effect: &DecisionEffect,
    by: &str,
) {
    let dispatcher = crate::approvals::Dispatcher {
        store: store.clone(),
        directory,
        settings: std::sync::Arc::new(config.approvals.clone()),
        safety: std::sync::Arc::new(config.safety.clone()),
        channels: std::sync::Arc::new(crate::approvals::Channels::new(&config.approvals)),
    };
    if let Err(e) = dispatcher.announce_decision(pk, effect, by).await {
        eprintln!("warning: cannot update the approval request's messages: {e}");
    }
}

pub(crate) async fn approvals_link(
    config: &Config,
    pk: i64,
    approver: &str,
    ttl: &str,
) -> anyhow::Result<Verdict> {
    use crate::approvals::link::{LinkClaims, sign_link};
    let secret =
        config.approvals.link_secret.as_ref().context(
            "approval links need `approvals.link_secret` (or STANCH_APPROVAL_LINK_SECRET)",
        )?;
    let ttl = stanch_core::util::parse_duration(ttl).map_err(|e| bad_argument("--ttl", e))?;
    let store = open(config).await?;
    let row = store
        .action(pk)
        .await?
        .ok_or_else(|| Mistake(format!("no action #{pk}")))?;
    if row.status != ActionStatus::AwaitingApproval {
        mistake!("action #{pk} is {}, not waiting for approval", row.status);
    }
    let approver = approver.trim();
    if approver.is_empty() {
        mistake!("--for needs the UPN of one of action #{pk}'s approvers; it is empty");
    }
    // A link decides as the person it names: only someone who may decide gets one, and only
    // when the step names its deciders (a request sends links to them alone).
    let policy = crate::approvals::policy::policy_of(&row, &config.approvals);
    let round = store.waiting_approval(pk).await?.map_or(0, |w| w.round);
    if crate::approvals::policy::deciders(&policy, round).is_empty() {
        mistake!(
            "action #{pk} names no approvers (the step's `approval.approvers` or `approvals.default`), so no link can be signed for it"
        );
    }
    let directory = graph_runner(config, &store)?;
    let ctx = crate::approvals::Deciding {
        store: &store,
        directory: directory.as_ref(),
        settings: &config.approvals,
    };
    if let Err(why) = crate::approvals::may_decide(ctx, &row, approver).await {
        mistake!("no link signed for action #{pk}: {why}");
    }
    let claims = LinkClaims {
        a: pk,
        h: crate::approvals::action_hash(&row),
        u: approver.to_string(),
        e: chrono::Utc::now().timestamp() + ttl as i64,
    };
    let base = config
        .approvals
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.listen));
    println!(
        "{base}/approve/{}",
        sign_link(secret.expose().as_bytes(), &claims)
    );
    Ok(Verdict::Clean)
}

pub(crate) async fn approvals_decide(
    config: &Config,
    pk: i64,
    approver: &str,
    approve: bool,
    reason: &str,
) -> anyhow::Result<Verdict> {
    if config
        .operators
        .as_ref()
        .is_some_and(|o| o.require_for_decisions)
    {
        mistake!(
            "decisions on approvals go through the operator API here (`operators.require_for_decisions`): sign in and POST /v1/approvals/{pk}/decision"
        );
    }
    let store = open(config).await?;
    let directory = graph_runner(config, &store)?;
    let ctx = crate::approvals::Deciding {
        store: &store,
        directory: directory.as_ref(),
        settings: &config.approvals,
    };
    let actor = super::local::local_actor(Some(approver));
    let request = crate::approvals::DecisionRequest {
        pk,
        approver,
        approve,
        reason,
        channel: "cli",
        raw_sha256: None,
        actor: Some(&actor),
    };
    match crate::approvals::decide(ctx, &request).await {
        Ok(effect) => {
            println!("action #{pk}: {}", serde_json::to_string(&effect)?);
            announce(config, &store, directory, pk, &effect, approver).await;
            Ok(Verdict::Clean)
        }
        Err(crate::approvals::ApprovalError::Refused(why)) => {
            eprintln!("action #{pk}: refused: {why} (recorded in the audit trail)");
            Ok(Verdict::Problems)
        }
        Err(e) => Err(e).with_context(|| format!("deciding on action #{pk}")),
    }
}
