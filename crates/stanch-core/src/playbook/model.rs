//! Compiled playbooks: validated, typed, ready to evaluate. Only `compile` builds them.

use regex::Regex;
use serde_json::{Map, Value};

use super::condition::Condition;
use super::template::Template;
use crate::intake::{Detection, Severity};
use crate::vocab::{ActionKind, ParamKind};
use crate::vocab::{ApprovalPolicy, Mode};
use crate::yaml::Loc;

#[derive(Debug, Clone)]
pub struct Playbook {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// The file it was loaded from, for messages.
    pub file: String,
    /// SHA-256 of the file's bytes: recorded with every decision.
    pub digest: String,
    pub enabled: bool,
    pub mode: Option<Mode>,
    pub trigger: Trigger,
    pub when: Option<Condition>,
    pub steps: Vec<Step>,
    pub tests: Vec<PlaybookTest>,
}

/// Which detections a playbook looks at: name patterns, a severity floor, sources.
#[derive(Debug, Clone)]
pub struct Trigger {
    pub names: Vec<Pattern>,
    pub sources: Vec<Pattern>,
    pub min_severity: Option<Severity>,
}

#[derive(Debug, Clone)]
pub struct Pattern {
    /// `name` (a glob) or `name_regex`, as written, for reasons.
    pub text: String,
    pub is_regex: bool,
    pub regex: Regex,
}

impl Trigger {
    /// Whether the detection is in scope, and if so why.
    pub fn matches(&self, d: &Detection) -> Option<String> {
        let normalized = d.normalized_name();
        let name = self
            .names
            .iter()
            .find(|p| p.regex.is_match(&d.name) || p.regex.is_match(&normalized))?;
        let mut why = vec![format!(
            "name {} `{}`",
            if name.is_regex {
                "matches regex"
            } else {
                "matches"
            },
            name.text
        )];
        if !self.sources.is_empty() {
            let source = self.sources.iter().find(|p| p.regex.is_match(&d.source))?;
            why.push(format!("source matches `{}`", source.text));
        }
        if let Some(min) = self.min_severity {
            let severity = d.severity.filter(|s| *s >= min)?;
            why.push(format!("severity {severity} ≥ {min}"));
        }
        Some(why.join("; "))
    }
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: String,
    pub loc: Loc,
    pub action: ActionKind,
    /// Who the action is for; defaults to the detection's user.
    pub target: Option<Template>,
    pub params: Vec<(String, Param)>,
    pub when: Option<Condition>,
    pub mode: Option<Mode>,
    pub approval: Option<ApprovalPolicy>,
    pub expires_after_secs: Option<u64>,
}

#[derive(Debug, Clone)]
pub enum Param {
    Literal(Value),
    Template(Template, ParamKind),
}

/// A test case carried in the playbook file: a detection in, the expected plan out.
#[derive(Debug, Clone)]
pub struct PlaybookTest {
    pub name: String,
    pub loc: Loc,
    pub detection: Detection,
    pub protected_accounts: Vec<String>,
    /// The campaign the detection is planned in (`campaign:` in the test), if any.
    pub campaign: Option<crate::campaign::Campaign>,
    pub expect: Vec<ExpectedAction>,
}

#[derive(Debug, Clone)]
pub struct ExpectedAction {
    pub step: String,
    pub action: Option<ActionKind>,
    pub target: Option<String>,
    /// Each key given must be planned with exactly this value; other keys are not checked.
    pub params: Map<String, Value>,
    pub mode: Option<Mode>,
    pub approval: Option<bool>,
    /// Whether the rails refuse the action (`block_ips` of ranges they never block). A refusal
    /// the test does not expect is a failure whatever else it checks.
    pub refused: Option<bool>,
}
