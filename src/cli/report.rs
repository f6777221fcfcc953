//! `stanch report`: the passive period replayed through the safety rails, per playbook.

use super::mistake::bad_argument;

use super::Verdict;
use super::operate::open;
use crate::config::Config;

pub(crate) async fn report(
    config: &Config,
    since: Option<&str>,
    until: Option<&str>,
    json_output: bool,
) -> anyhow::Result<Verdict> {
    let bound = |name: &str, text: Option<&str>| -> anyhow::Result<Option<String>> {
        text.map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .map(|at| crate::store::timestamp(at.to_utc()))
                .map_err(|e| {
                    bad_argument(
                        &format!("--{name}"),
                        format!("must be an RFC 3339 time, e.g. 2021-06-01T00:00:00Z ({e})"),
                    )
                })
        })
        .transpose()
    };
    let (since, until) = (bound("since", since)?, bound("until", until)?);
    let store = open(config).await?;
    let rows = store
        .passive_actions(since.as_deref(), until.as_deref())
        .await?;
    let report = stanch_core::report::build(rows, &config.safety);
    if json_output {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(Verdict::Clean);
    }
    match (&report.from, &report.to) {
        (Some(from), Some(to)) => println!(
            "passive period {from} → {to}: {} detection(s) planned on",
            report.detections
        ),
        _ => {
            println!("no passive actions recorded in that period");
            return Ok(Verdict::Clean);
        }
    }
    for playbook in &report.playbooks {
        println!(
            "\n{} ({} detection(s))",
            playbook.playbook, playbook.detections
        );
        for a in &playbook.actions {
            let mut stopped = Vec::new();
            if a.step_approval > 0 {
                stopped.push(format!("{} would ask a person (step)", a.step_approval));
            }
            if a.protected > 0 {
                stopped.push(format!(
                    "{} protected account(s) held for a person",
                    a.protected
                ));
            }
            if a.suppressed_by_cooldown > 0 {
                stopped.push(format!(
                    "{} repeat(s) suppressed by the cooldown",
                    a.suppressed_by_cooldown
                ));
            }
            for (budget, n) in &a.held_by_budget {
                stopped.push(format!("{n} held by budget `{budget}`"));
            }
            if a.refused > 0 {
                let each: Vec<String> = a
                    .refused_ranges
                    .iter()
                    .map(|(range, why)| format!("`{range}` {why}"))
                    .collect();
                stopped.push(format!(
                    "{} would be refused ({})",
                    a.refused,
                    each.join("; ")
                ));
            }
            println!(
                "  {:<22} {:>5} planned on {:>4} account(s): {} would run{}{}",
                a.action,
                a.planned,
                a.accounts,
                a.would_run,
                if stopped.is_empty() { "" } else { "; " },
                stopped.join(", ")
            );
            if let Some(from) = &a.peak_hour_from {
                println!(
                    "  {:<22} busiest hour from {from}: {} account(s) (a `per: 1h` budget below that holds some for a person)",
                    "", a.peak_accounts_per_hour
                );
            }
            if !a.affected_accounts.is_empty() {
                const SHOWN: usize = 8;
                let more = a.affected_accounts.len().saturating_sub(SHOWN);
                let shown: Vec<&str> = a
                    .affected_accounts
                    .iter()
                    .take(SHOWN)
                    .map(String::as_str)
                    .collect();
                println!(
                    "  {:<22} accounts: {}{}",
                    "",
                    shown.join(", "),
                    if more > 0 {
                        format!(" and {more} more (--json lists them)")
                    } else {
                        String::new()
                    }
                );
            }
        }
    }
    for note in &report.notes {
        println!("\nnote: {note}");
    }
    Ok(Verdict::Clean)
}
