//! `stanch campaigns list | show | confirm`: the accounts of one attack, connected, told as a
//! story (who joined how, from where, when, and what was done about it).

use super::mistake::mistake;
use anyhow::Context as _;
use chrono::Utc;

use super::run::graph_runner;
use super::{Verdict, playbooks};
use crate::config::Config;
use crate::pipeline::{self, Recorded};
use crate::store::{CampaignDetail, Store};
use stanch_core::campaign::{Confirmation, Tracker};

async fn open(config: &Config) -> anyhow::Result<Store> {
    Store::open(config.database_url.expose())
        .await
        .with_context(|| format!("opening the database {}", config.database_url))
}

pub(crate) async fn list(config: &Config, json_output: bool) -> anyhow::Result<Verdict> {
    let store = open(config).await?;
    let campaigns = store.campaigns().await?;
    if json_output {
        println!("{}", serde_json::to_string(&campaigns)?);
        return Ok(Verdict::Clean);
    }
    for c in &campaigns {
        let state = match &c.confirmed_at {
            Some(at) => format!("confirmed {at}"),
            None => "unconfirmed".to_string(),
        };
        println!(
            "{:<16} {:<38} {} → {}  {} account(s), {} detection(s), networks: {}",
            c.id,
            state,
            c.first_seen,
            c.last_seen,
            c.accounts,
            c.detections,
            if c.networks.is_empty() {
                "none".to_string()
            } else {
                c.networks.join(", ")
            }
        );
    }
    println!("{} campaign(s)", campaigns.len());
    Ok(Verdict::Clean)
}

pub(crate) async fn show(config: &Config, id: &str, json_output: bool) -> anyhow::Result<Verdict> {
    let store = open(config).await?;
    let Some(detail) = store.campaign_detail(id).await? else {
        mistake!("no campaign {id}; `stanch campaigns list` shows them");
    };
    if json_output {
        println!("{}", serde_json::to_string(&detail)?);
    } else {
        print!("{}", narrative(&detail));
    }
    Ok(Verdict::Clean)
}

/// The campaign as a story: accounts, infrastructure, timeline, actions.
fn narrative(d: &CampaignDetail) -> String {
    let s = &d.summary;
    let mut out = format!("campaign {}\n", s.id);
    match (&s.confirmed_at, &s.confirmed_by) {
        (Some(at), by) => out.push_str(&format!(
            "  confirmed {at} by {}: {}\n",
            by.as_deref().unwrap_or("?"),
            s.confirmed_reason.as_deref().unwrap_or("")
        )),
        _ => out.push_str("  not confirmed: no member's compromise has been confirmed yet\n"),
    }
    out.push_str(&format!(
        "  seen {} → {}, {} detection(s), {} account(s), containment planned for {}\n",
        s.first_seen, s.last_seen, s.detections, s.accounts, s.contained
    ));
    if !d.merged_from.is_empty() {
        out.push_str(&format!("  absorbed: {}\n", d.merged_from.join(", ")));
    }
    out.push_str("\naccounts (how each joined)\n");
    for m in &d.members {
        let name = m
            .upn
            .as_deref()
            .or(m.user_id.as_deref())
            .unwrap_or(&m.account);
        let mark = if m.contained {
            "  [containment planned]"
        } else {
            ""
        };
        out.push_str(&format!("  {name:<28} {}  {}{mark}\n", m.joined_at, m.via));
    }
    out.push_str("\ninfrastructure\n");
    for i in d.infrastructure.iter().filter(|i| i.kind != "account") {
        out.push_str(&format!(
            "  {:<10} {:<34} {} → {}\n",
            i.kind, i.value, i.first_seen, i.last_seen
        ));
    }
    out.push_str("\ntimeline\n");
    for t in &d.timeline {
        out.push_str(&format!(
            "  {}  {:<8} {:<26} {}  ({})\n",
            t.observed_at,
            t.severity.as_deref().unwrap_or("-"),
            t.account.as_deref().unwrap_or("(tenant)"),
            t.name,
            t.detection
        ));
    }
    out.push_str("\nactions\n");
    for a in &d.actions {
        let target = a
            .target_upn
            .as_deref()
            .or(a.target_id.as_deref())
            .unwrap_or("tenant");
        out.push_str(&format!(
            "  #{:<5} {:<24} {:<20} {:<28} {}/{}\n",
            a.pk, a.status, a.kind, target, a.playbook, a.step
        ));
    }
    out
}

/// An operator confirms the campaign: its members are contained like after a confirmed
/// compromise (and, if it was confirmed already, whatever joined since).
pub(crate) async fn confirm(
    config: &Config,
    id: &str,
    by: &str,
    reason: &str,
) -> anyhow::Result<Verdict> {
    if by.trim().is_empty() || reason.trim().is_empty() {
        mistake!("say who confirms (--as) and why (--reason): both are recorded");
    }
    let Some(set) = playbooks::load(config, Vec::new(), false).set else {
        anyhow::bail!("the playbooks have errors (listed above)");
    };
    let store = open(config).await?;
    let Some(live) = store.live_campaign_id(id).await? else {
        mistake!("no campaign {id}; `stanch campaigns list` shows them");
    };
    let run_id = store
        .start_run(
            config.mode,
            &format!("campaigns confirm {live}"),
            Utc::now(),
        )
        .await?;
    let ctx = super::run::engine_context(config, false, config.protected_accounts.clone());
    let mut tracker = Tracker::new(config.campaigns.clone());
    let confirmation = Confirmation {
        at: Utc::now(),
        by: format!("operator {by}"),
        reason: reason.to_string(),
    };
    let follow_ups =
        pipeline::confirm_campaign(&store, &mut tracker, &live, confirmation, None, true).await?;
    let recorded =
        pipeline::record_follow_ups(&store, &mut tracker, run_id, &set, &ctx, follow_ups).await?;
    println!(
        "campaign {live} confirmed by {by}; {} follow-up detection(s) recorded",
        recorded.len()
    );
    let runner = graph_runner(config, &store)?;
    let window = tracker.window();
    let tracker = tokio::sync::Mutex::new(tracker);
    let lanes = pipeline::Lanes::default();
    for r in &recorded {
        print_follow_up(r);
        if let Some(runner) = &runner {
            let mut printed =
                |nested: &Recorded, _: &[crate::actions::ActionResult]| print_follow_up(nested);
            let ex = pipeline::Execution {
                store: &store,
                runner,
                tracker: &tracker,
                lanes: &lanes,
                run_id,
                playbooks: &set,
                ctx: &ctx,
                window,
            };
            let results =
                pipeline::execute_with_follow_ups(ex, r.seq, &r.plan, &mut printed, 1).await?;
            for result in results {
                println!(
                    "    {} {} on {}: {}",
                    result.status,
                    result.action,
                    result.target.as_deref().unwrap_or("the tenant"),
                    result.detail
                );
            }
        }
    }
    pipeline::flush_campaigns(&store, &mut *tracker.lock().await).await?;
    if runner.is_none() {
        println!("no `graph` connection configured: `stanch serve` carries the active actions out");
    }
    store
        .finish_run(
            run_id,
            &serde_json::json!({"campaign": live, "confirmed_by": by, "follow_ups": recorded.len()}),
        )
        .await?;
    Ok(Verdict::Clean)
}

fn print_follow_up(r: &Recorded) {
    let user = r
        .detection
        .user
        .as_ref()
        .map(|u| u.to_string())
        .unwrap_or_else(|| "the tenant".into());
    println!(
        "  {} for {user}: {} action(s) planned",
        r.detection.name,
        r.plan.actions.len()
    );
}
