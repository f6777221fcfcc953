//! Raw YAML → compiled [`Playbook`], reporting every problem in the file at once.

use super::condition;
use super::model::{Param, Pattern, Playbook, Step, Trigger};
use super::template::Template;
use crate::intake::Severity;
use crate::util::glob_to_regex;
use crate::util::{did_you_mean, parse_duration, sha256_hex};
use crate::vocab::{ActionKind, TargetKind};
use crate::vocab::{Mode, OnTimeout};
use crate::yaml::decode::{self, Fields, describe};
use crate::yaml::diag::Problems;
use crate::yaml::{self, Node, NodeValue};

pub const PLAYBOOK_KEYS: &[&str] = &[
    "version",
    "id",
    "name",
    "description",
    "enabled",
    "mode",
    "match",
    "when",
    "steps",
    "tests",
];
pub const MATCH_KEYS: &[&str] = &["name", "name_regex", "source", "min_severity"];
pub const STEP_KEYS: &[&str] = &[
    "id",
    "description",
    "action",
    "target",
    "with",
    "when",
    "mode",
    "approval",
    "expires_after",
];

/// Compiles one playbook file. On any error the playbook is not returned: never half-loaded.
pub fn compile(file: &str, source: &str) -> (Option<Playbook>, Problems) {
    let mut p = Problems::default();
    let root = match yaml::parse(source) {
        Ok(root) => root,
        Err(err) => {
            p.error(err.loc, err.message);
            return (None, p);
        }
    };
    let playbook = compile_root(&mut p, &root, file, source);
    if p.has_errors() {
        (None, p)
    } else {
        (playbook, p)
    }
}

fn compile_root(p: &mut Problems, root: &Node, file: &str, source: &str) -> Option<Playbook> {
    let f = decode::fields(p, root, "a playbook", PLAYBOOK_KEYS)?;
    if let Some(version) = f.require(p, "version", "the playbook")
        && !matches!(version.value, NodeValue::Int(1))
    {
        p.error(
            version.loc,
            format!(
                "unsupported playbook version {}; this stanch reads `version: 1`",
                describe(version)
            ),
        );
    }
    let id = f
        .require(p, "id", "the playbook")
        .and_then(|n| identifier(p, n, "playbook id"));
    let name = f
        .get("name")
        .and_then(|n| decode::string(p, n, "`name`"))
        .map(str::to_string);
    let description = f
        .get("description")
        .and_then(|n| decode::string(p, n, "`description`"))
        .map(str::to_string);
    let enabled = f
        .get("enabled")
        .map(|n| decode::boolean(p, n, "`enabled`"))
        .unwrap_or(Some(true));
    let mode = optional_mode(p, &f);
    let trigger = f
        .require(p, "match", "the playbook")
        .and_then(|n| compile_trigger(p, n));
    let when = f.get("when").map(|n| condition::compile(p, n));
    let steps = f
        .require(p, "steps", "the playbook")
        .and_then(|n| compile_steps(p, n));
    let (Some(id), Some(enabled), Some(mode), Some(trigger), Some(steps)) =
        (id, enabled, mode, trigger, steps)
    else {
        return None;
    };
    let when = match when {
        Some(None) => return None,
        Some(Some(c)) => Some(c),
        None => None,
    };
    let mut playbook = Playbook {
        name: name.unwrap_or_else(|| id.clone()),
        id,
        description,
        file: file.to_string(),
        digest: sha256_hex(source.as_bytes()),
        enabled,
        mode,
        trigger,
        when,
        steps,
        tests: Vec::new(),
    };
    match f.get("tests") {
        Some(node) => playbook.tests = super::compile_tests::compile_tests(p, node, &playbook)?,
        None => p.warning(
            root.loc,
            format!(
                "playbook `{}` has no `tests:`; add at least one detection it must act on",
                playbook.id
            ),
        ),
    }
    Some(playbook)
}

fn identifier(p: &mut Problems, node: &Node, what: &str) -> Option<String> {
    let text = decode::string(p, node, &format!("the {what}"))?;
    let valid = !text.is_empty()
        && text.len() <= 64
        && text.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !valid {
        p.error(node.loc, format!("the {what} `{text}` must be 1–64 lowercase letters, digits, `-` or `_`, starting with a letter or digit"));
        return None;
    }
    Some(text.to_string())
}

/// `Some(None)` when absent, `None` when invalid.
fn optional_mode(p: &mut Problems, f: &Fields<'_>) -> Option<Option<Mode>> {
    let Some(node) = f.get("mode") else {
        return Some(None);
    };
    let text = decode::string(p, node, "`mode`")?;
    match Mode::parse(text) {
        Some(mode) => Some(Some(mode)),
        None => {
            p.error(
                node.loc,
                format!("unknown mode `{text}`; expected `passive` or `active`"),
            );
            None
        }
    }
}

fn compile_trigger(p: &mut Problems, node: &Node) -> Option<Trigger> {
    let f = decode::fields(p, node, "`match`", MATCH_KEYS)?;
    let mut names = Vec::new();
    let mut ok = true;
    for (key, is_regex) in [("name", false), ("name_regex", true)] {
        if let Some(n) = f.get(key) {
            for (item, text) in decode::strings(p, n, &format!("`match.{key}`")) {
                match pattern(p, item, text, is_regex) {
                    Some(pattern) => names.push(pattern),
                    None => ok = false,
                }
            }
        }
    }
    if !f.has("name") && !f.has("name_regex") {
        p.error(
            node.loc,
            "`match` needs `name` or `name_regex`; use `name: \"*\"` to match every detection",
        );
        ok = false;
    }
    let mut sources = Vec::new();
    if let Some(n) = f.get("source") {
        for (item, text) in decode::strings(p, n, "`match.source`") {
            match pattern(p, item, text, false) {
                Some(pattern) => sources.push(pattern),
                None => ok = false,
            }
        }
    }
    let min_severity = match f.get("min_severity") {
        None => None,
        Some(n) => {
            let text = decode::string(p, n, "`match.min_severity`");
            let parsed = text.and_then(Severity::parse);
            if parsed.is_none() {
                p.error(
                    n.loc,
                    format!(
                        "`min_severity` must be one of {}, found {}",
                        Severity::NAMES.join(", "),
                        describe(n)
                    ),
                );
                ok = false;
            }
            parsed
        }
    };
    ok.then_some(Trigger {
        names,
        sources,
        min_severity,
    })
}

fn pattern(p: &mut Problems, node: &Node, text: &str, is_regex: bool) -> Option<Pattern> {
    // Globs see Darktrace's `::` as ` / ` too, so one pattern covers the API and UI spellings.
    let source = if is_regex {
        text.to_string()
    } else {
        glob_to_regex(&text.replace("::", " / "))
    };
    let regex = condition::compile_regex(p, node, &source, text)?;
    Some(Pattern {
        text: text.to_string(),
        is_regex,
        regex,
    })
}

fn compile_steps(p: &mut Problems, node: &Node) -> Option<Vec<Step>> {
    let items = decode::list(p, node, "`steps`")?;
    if items.is_empty() {
        p.error(
            node.loc,
            "`steps` is empty; a playbook needs at least one step",
        );
        return None;
    }
    let mut seen: Vec<String> = Vec::new();
    let mut steps = Vec::new();
    let mut ok = true;
    for item in items {
        match compile_step(p, item) {
            Some(step) if seen.contains(&step.id) => {
                p.error(
                    item.loc,
                    format!(
                        "duplicate step id `{}`; step ids must be unique within a playbook",
                        step.id
                    ),
                );
                ok = false;
            }
            Some(step) => {
                seen.push(step.id.clone());
                steps.push(step);
            }
            None => ok = false,
        }
    }
    ok.then_some(steps)
}

fn compile_step(p: &mut Problems, node: &Node) -> Option<Step> {
    let f = decode::fields(p, node, "a step", STEP_KEYS)?;
    let errors_before = p.error_count();
    let id = f
        .require(p, "id", "a step")
        .and_then(|n| identifier(p, n, "step id"));
    let action = f
        .require(p, "action", "a step")
        .and_then(|n| action_kind(p, n));
    let when = f.get("when").and_then(|n| condition::compile(p, n));
    let mode = optional_mode(p, &f).flatten();
    let approval = f
        .get("approval")
        .and_then(|n| super::compile_tests::compile_approval(p, n));
    let (Some(id), Some(action)) = (id, action) else {
        return None;
    };
    let spec = action.spec();
    let target = match (f.get("target"), spec.target) {
        (None, _) => None,
        (Some(n), TargetKind::User) => {
            decode::string(p, n, "`target`").and_then(|text| template(p, n, text))
        }
        (Some(n), _) => {
            p.error(
                n.loc,
                format!(
                    "`{action}` acts on the {}, not on a user; remove `target`",
                    if spec.target == TargetKind::Tenant {
                        "whole tenant"
                    } else {
                        "configured channel"
                    }
                ),
            );
            None
        }
    };
    let params = super::params::compile_params(p, f.get("with"), action, node);
    let expires_after_secs = match f.get("expires_after") {
        None => None,
        Some(n) if !spec.reversible => {
            p.error(
                n.loc,
                format!("`{action}` cannot be undone, so it cannot expire; remove `expires_after`"),
            );
            None
        }
        Some(n) => {
            decode::string(p, n, "`expires_after`").and_then(|text| match parse_duration(text) {
                Ok(secs) if secs > 0 => Some(secs),
                Ok(_) => {
                    p.error(n.loc, "`expires_after` must be longer than zero");
                    None
                }
                Err(message) => {
                    p.error(n.loc, message);
                    None
                }
            })
        }
    };
    // A hard purge destroys mail for good, though the action's other modes can be undone.
    let hard_purge = params
        .iter()
        .flatten()
        .any(|(name, value)| name == "mode" && matches!(value, Param::Literal(v) if v == "hard"));
    if spec.always_gated && approval.is_none() && !f.has("approval") {
        p.error(
            node.loc,
            format!("step `{id}` runs `{action}`, which acts for the whole tenant: it needs an `approval` block (no playbook may run it without a human)"),
        );
    } else if spec.always_gated
        && approval
            .as_ref()
            .is_some_and(|a| a.on_timeout == OnTimeout::Approve)
    {
        p.error(
            f.get("approval").unwrap_or(node).loc,
            format!("step `{id}` runs `{action}`, which acts for the whole tenant: `on_timeout: approve` would let a clock decide; use `deny` or `escalate`"),
        );
    } else if (spec.disruptive || hard_purge) && approval.is_none() && !f.has("approval") {
        p.warning(node.loc, format!("step `{id}` runs `{action}` without an `approval` block; in active mode it will act with no human in the loop"));
    }
    (p.error_count() == errors_before).then_some(Step {
        id,
        loc: node.loc,
        action,
        target,
        params: params?,
        when,
        mode,
        approval,
        expires_after_secs,
    })
}

fn action_kind(p: &mut Problems, node: &Node) -> Option<ActionKind> {
    let text = decode::string(p, node, "`action`")?;
    let kind = ActionKind::parse(text);
    if kind.is_none() {
        let names: Vec<&str> = ActionKind::ALL.iter().map(|k| k.name()).collect();
        let hint = match did_you_mean(text, names.iter().copied()) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("known actions: {}", names.join(", ")),
        };
        p.error(node.loc, format!("unknown action `{text}`; {hint}"));
    }
    kind
}

fn template(p: &mut Problems, node: &Node, text: &str) -> Option<Template> {
    Template::compile(text)
        .map_err(|message| p.error(node.loc, message))
        .ok()
}

#[cfg(test)]
#[path = "compile_errors_tests.rs"]
mod tests;
