//! `stanch validate`, `stanch test`, `stanch schema`.

use std::path::PathBuf;

use anyhow::Context as _;

use super::Verdict;
use crate::config::Config;
use serde_json::{Value, json};
use stanch_core::engine::testing::run_tests;
use stanch_core::playbook::{PlaybookSet, load_paths, schema::playbook_schema};
use stanch_core::yaml::diag::Level;

pub(crate) struct Loaded {
    pub files: usize,
    pub errors: usize,
    pub warnings: usize,
    /// `None` if anything was wrong: nothing is ever half-loaded.
    pub set: Option<PlaybookSet>,
    /// The diagnostics as JSON, when asked for instead of printing them.
    pub diagnostics: Vec<Value>,
}

/// Loads the playbooks, printing every diagnostic (with its source line) to stderr.
pub(crate) fn load(config: &Config, paths: Vec<PathBuf>, deny_warnings: bool) -> Loaded {
    load_reporting(config, paths, deny_warnings, false)
}

/// The configured playbooks without printing anything; `None` if they have errors.
pub(crate) fn load_quietly(config: &Config) -> Option<PlaybookSet> {
    load_reporting(config, Vec::new(), false, true).set
}

/// [`load`]; with `json`, the diagnostics go in [`Loaded::diagnostics`] instead of stderr.
fn load_reporting(config: &Config, paths: Vec<PathBuf>, deny_warnings: bool, json: bool) -> Loaded {
    let paths = if paths.is_empty() {
        config.playbooks.clone()
    } else {
        paths
    };
    let report = load_paths(&paths);
    let mut diagnostics = Vec::new();
    for diagnostic in &report.diagnostics {
        if json {
            diagnostics.push(json!({
                "file": diagnostic.file, "line": diagnostic.loc.line, "column": diagnostic.loc.col,
                "level": match diagnostic.level { Level::Error => "error", Level::Warning => "warning" },
                "message": diagnostic.message,
            }));
        } else {
            eprintln!("{}\n", report.render(diagnostic));
        }
    }
    let (files, errors, warnings) = (report.files, report.errors(), report.warnings());
    let set = if deny_warnings && warnings > 0 {
        None
    } else {
        report.into_set().ok()
    };
    Loaded {
        files,
        errors,
        warnings,
        set,
        diagnostics,
    }
}

pub(crate) fn validate(
    config: &Config,
    paths: Vec<PathBuf>,
    deny_warnings: bool,
    json_output: bool,
) -> anyhow::Result<Verdict> {
    let Loaded {
        files,
        errors,
        warnings,
        set,
        diagnostics,
    } = load_reporting(config, paths, deny_warnings, json_output);
    if json_output {
        let playbooks: Vec<Value> = set.iter().flat_map(|s| &s.playbooks).map(|p| json!({
            "id": p.id, "file": p.file, "tests": p.tests.len(),
            "mode": p.mode.unwrap_or(config.mode).to_string(),
            "steps": p.steps.iter().map(|s| json!({"id": s.id, "action": s.action})).collect::<Vec<_>>(),
        })).collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "valid": set.is_some(), "files": files, "errors": errors, "warnings": warnings,
                "diagnostics": diagnostics, "playbooks": playbooks,
            }))?
        );
        return Ok(if set.is_some() {
            Verdict::Clean
        } else {
            Verdict::Problems
        });
    }
    match set {
        Some(set) => {
            for playbook in &set.playbooks {
                let steps: Vec<String> = playbook
                    .steps
                    .iter()
                    .map(|s| format!("{} ({})", s.id, s.action))
                    .collect();
                let mode = playbook
                    .mode
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| format!("{} (config)", config.mode));
                println!(
                    "ok  {:<34} {} step(s), {} test(s), mode {mode}: {}",
                    playbook.id,
                    playbook.steps.len(),
                    playbook.tests.len(),
                    steps.join(", ")
                );
            }
            println!(
                "{} playbook(s) valid in {} file(s), {warnings} warning(s)",
                set.playbooks.len(),
                files
            );
            Ok(Verdict::Clean)
        }
        None => {
            let denied = if errors == 0 {
                " (warnings denied)"
            } else {
                ""
            };
            eprintln!(
                "playbooks invalid: {errors} error(s), {warnings} warning(s) in {} file(s){denied}; nothing was loaded",
                files
            );
            Ok(Verdict::Problems)
        }
    }
}

pub(crate) fn test(
    config: &Config,
    paths: Vec<PathBuf>,
    json_output: bool,
) -> anyhow::Result<Verdict> {
    let Some(set) = load(config, paths, false).set else {
        eprintln!("playbooks invalid; no tests were run");
        return Ok(Verdict::Problems);
    };
    let outcomes = run_tests(&set);
    let failed = outcomes.iter().filter(|o| !o.passed()).count();
    let untested: Vec<&str> = set
        .playbooks
        .iter()
        .filter(|p| p.tests.is_empty())
        .map(|p| p.id.as_str())
        .collect();
    if json_output {
        let tests: Vec<Value> = outcomes
            .iter()
            .map(|o| {
                json!({
                    "playbook": o.playbook, "name": o.name, "file": o.file, "line": o.line,
                    "passed": o.passed(), "failures": o.failures,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "passed": outcomes.len() - failed, "failed": failed, "tests": tests, "untested": untested,
            }))?
        );
    } else {
        for outcome in &outcomes {
            if outcome.passed() {
                println!("pass  {}  {}", outcome.playbook, outcome.name);
                continue;
            }
            println!(
                "FAIL  {}  {}  ({}:{})",
                outcome.playbook, outcome.name, outcome.file, outcome.line
            );
            for failure in &outcome.failures {
                println!("        {failure}");
            }
        }
        println!(
            "{} test(s), {} passed, {failed} failed",
            outcomes.len(),
            outcomes.len() - failed
        );
        if !untested.is_empty() {
            println!("playbooks without tests: {}", untested.join(", "));
        }
    }
    Ok(if failed == 0 {
        Verdict::Clean
    } else {
        Verdict::Problems
    })
}

pub(crate) fn schema() -> anyhow::Result<Verdict> {
    let text =
        serde_json::to_string_pretty(&playbook_schema()).context("serializing the schema")?;
    println!("{text}");
    Ok(Verdict::Clean)
}
