//! `stanch audit verify` and `stanch audit export`.

use super::mistake::mistake;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context as _;

use super::Verdict;
use crate::config::Config;
use crate::store::Store;
use stanch_core::audit::{AuditRecord, VerifyReport, verify as verify_chain};

const EXPORT_PAGE: i64 = 10_000;

pub(crate) async fn verify(
    config: &Config,
    file: Option<PathBuf>,
    json_output: bool,
) -> anyhow::Result<Verdict> {
    let (report, last) = match &file {
        Some(path) => {
            let records = read_export(path)?;
            let last = records
                .iter()
                .max_by_key(|r| r.seq)
                .map(|r| (r.seq, r.hash.clone()));
            (verify_chain(records, None), last)
        }
        None => {
            let store = match Store::open(config.database_url.expose()).await {
                Err(e @ crate::store::StoreError::Replaced(_)) => {
                    if json_output {
                        let why = format!("the database is not the anchored one: {e}");
                        println!(
                            "{}",
                            serde_json::json!({"intact": false, "records_checked": 0, "problems": [{"seq": 0, "problem": why}]})
                        );
                    } else {
                        println!("{e}");
                        println!("audit trail BROKEN: the database is not the anchored one");
                    }
                    return Ok(Verdict::Problems);
                }
                opened => opened
                    .with_context(|| format!("opening the database {}", config.database_url))?,
            };
            let report = store
                .verify_audit()
                .await
                .context("reading the audit trail")?;
            let last = store.audit_head().await?.map(|h| (h.seq, h.hash));
            (report, last)
        }
    };
    if json_output {
        let head = last.map(|(seq, hash)| serde_json::json!({"seq": seq, "hash": hash}));
        println!(
            "{}",
            serde_json::json!({"intact": report.is_intact(), "records_checked": report.records_checked,
                               "problems": report.problems, "head": head})
        );
    } else {
        print_report(&report, last, file.is_some());
    }
    Ok(if report.is_intact() {
        Verdict::Clean
    } else {
        Verdict::Problems
    })
}

fn print_report(report: &VerifyReport, last: Option<(i64, String)>, from_export: bool) {
    if report.is_intact() {
        let head = last
            .map(|(seq, hash)| format!("; head: seq {seq}, hash {hash}"))
            .unwrap_or_default();
        println!(
            "audit trail intact: {} record(s) verified{head}",
            report.records_checked
        );
        if from_export {
            println!(
                "note: an export alone cannot show that records were cut from its end; compare its head with `stanch audit verify` on the database or a head you recorded"
            );
        }
        return;
    }
    for problem in &report.problems {
        println!("{}", problem.message);
    }
    println!(
        "audit trail BROKEN: {} problem(s) in {} record(s)",
        report.problems.len(),
        report.records_checked
    );
}

fn read_export(path: &PathBuf) -> anyhow::Result<Vec<AuditRecord>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut records = Vec::new();
    for (index, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not an audit record", path.display(), index + 1))?;
        records.push(record);
    }
    Ok(records)
}

pub(crate) async fn export(config: &Config, output: Option<PathBuf>) -> anyhow::Result<Verdict> {
    let store = open(config).await?;
    let mut out: Box<dyn Write> = match &output {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    // Records still waiting for the sequencer are part of what was written.
    store
        .seal_pending()
        .await
        .context("sealing pending audit records")?;
    let mut after = 0;
    let mut count = 0;
    loop {
        let page = store
            .audit_records_after(after, EXPORT_PAGE)
            .await
            .context("reading the audit trail")?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for record in &page {
            serde_json::to_writer(&mut out, record)?;
            out.write_all(b"\n")?;
        }
        count += page.len();
    }
    out.flush()?;
    if let Some(path) = output {
        eprintln!("exported {count} audit record(s) to {}", path.display());
    }
    Ok(Verdict::Clean)
}

async fn open(config: &Config) -> anyhow::Result<Store> {
    Store::open(config.database_url.expose())
        .await
        .with_context(|| format!("opening the database {}", config.database_url))
}

/// `stanch audit reanchor --reason`.
pub(crate) async fn reanchor(config: &Config, reason: &str) -> anyhow::Result<Verdict> {
    let reason = reason.trim();
    if reason.is_empty() {
        mistake!("--reason must say why this database replaces the anchored one");
    }
    let store = Store::open_reanchoring(config.database_url.expose(), reason)
        .await
        .with_context(|| format!("opening the database {}", config.database_url))?;
    let head = store.audit_head().await?;
    println!(
        "re-anchored {} at record #{}; recorded as `audit.reanchored`",
        config.database_url,
        head.map(|h| h.seq).unwrap_or(0)
    );
    Ok(Verdict::Clean)
}
