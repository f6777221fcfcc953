//! Conditions over detection fields: `all`/`any`/`not` over field tests.
//!
//! ```yaml
//! when:
//!   all:
//!     - { field: client_app, in: [IMAP4, POP3, "Exchange ActiveSync"] }
//!     - not: { field: ip, cidr: [10.0.0.0/8] }
//! ```
//! String tests are case-insensitive (as in Sigma); `matches` is a regex used as written.
//! A missing field satisfies only `exists: false`, `ne` and `not_in`.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use ipnet::IpNet;
use regex::Regex;
use serde_json::Value;

use super::fields::{FieldPath, FieldValue, Subject};
use crate::intake::Severity;

pub const OPERATORS: [&str; 15] = [
    "eq",
    "ne",
    "in",
    "not_in",
    "gt",
    "gte",
    "lt",
    "lte",
    "matches",
    "glob",
    "contains",
    "starts_with",
    "ends_with",
    "cidr",
    "exists",
];
pub const COMBINATORS: [&str; 3] = ["all", "any", "not"];

#[derive(Debug, Clone)]
pub enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    Test {
        field: FieldPath,
        op: Op,
        text: String,
    },
}

#[derive(Debug, Clone)]
pub enum Op {
    Eq(Lit),
    Ne(Lit),
    In(Vec<Lit>),
    NotIn(Vec<Lit>),
    Cmp(Cmp, Lit),
    Regex(Regex),
    Contains(Lit),
    StartsWith(String),
    EndsWith(String),
    Cidr(Vec<IpNet>),
    Exists(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

/// A literal from the playbook, already converted to the field's type (text is lowercased).
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Text(String),
    Num(f64),
    Bool(bool),
    Severity(Severity),
    Time(DateTime<Utc>),
    Ip(IpAddr),
}

impl Condition {
    /// Whether the condition holds for the detection (and its campaign).
    pub fn eval<'a>(&self, subject: impl Into<Subject<'a>>) -> bool {
        self.eval_in(subject.into())
    }

    fn eval_in(&self, d: Subject<'_>) -> bool {
        match self {
            Condition::All(items) => items.iter().all(|c| c.eval_in(d)),
            Condition::Any(items) => items.iter().any(|c| c.eval_in(d)),
            Condition::Not(inner) => !inner.eval_in(d),
            Condition::Test { field, op, .. } => match field.get(d) {
                None => matches!(op, Op::Exists(false) | Op::Ne(_) | Op::NotIn(_)),
                Some(value) => test(&value, op),
            },
        }
    }

    /// Why the condition held on this detection: for `any`, the branch that held; `None` if it
    /// did not hold. This is what plan reasons quote.
    pub fn explain<'a>(&self, subject: impl Into<Subject<'a>>) -> Option<String> {
        self.explain_in(subject.into())
    }

    fn explain_in(&self, d: Subject<'_>) -> Option<String> {
        match self {
            Condition::All(items) => {
                let parts = items
                    .iter()
                    .map(|c| c.explain_in(d))
                    .collect::<Option<Vec<_>>>()?;
                Some(if parts.len() == 1 {
                    parts.into_iter().next().unwrap_or_default()
                } else {
                    parts.join(" and ")
                })
            }
            Condition::Any(items) => items.iter().find_map(|c| c.explain_in(d)),
            Condition::Not(_) => self.eval_in(d).then(|| self.describe()),
            Condition::Test { field, text, .. } => self.eval_in(d).then(|| match field.get(d) {
                Some(value) => format!("{text} (is {})", short_json(&value.to_json())),
                None => text.clone(),
            }),
        }
    }

    /// The condition as a one-line expression, for plan reasons.
    pub fn describe(&self) -> String {
        let join = |items: &[Condition], sep: &str| {
            items
                .iter()
                .map(|c| c.describe())
                .collect::<Vec<_>>()
                .join(sep)
        };
        match self {
            Condition::All(items) if items.len() == 1 => items[0].describe(),
            Condition::All(items) => format!("({})", join(items, " and ")),
            Condition::Any(items) => format!("({})", join(items, " or ")),
            Condition::Not(inner) => format!("not {}", inner.describe()),
            Condition::Test { text, .. } => text.clone(),
        }
    }
}

fn test(value: &FieldValue<'_>, op: &Op) -> bool {
    if let FieldValue::Owned(owned) = value {
        return test(&FieldValue::Json(owned), op);
    }
    if let FieldValue::Json(Value::Array(items)) = value {
        // Multi-valued field: positive tests hold if any element holds, negative ones if all do.
        let each = |op: &Op| items.iter().any(|item| test(&FieldValue::Json(item), op));
        return match op {
            Op::Ne(lit) => !each(&Op::Eq(lit.clone())),
            Op::NotIn(lits) => !each(&Op::In(lits.clone())),
            Op::Exists(want) => *want,
            _ => each(op),
        };
    }
    match op {
        Op::Exists(want) => *want,
        Op::Eq(lit) => equals(value, lit),
        Op::Ne(lit) => !equals(value, lit),
        Op::In(lits) => lits.iter().any(|lit| equals(value, lit)),
        Op::NotIn(lits) => !lits.iter().any(|lit| equals(value, lit)),
        Op::Cmp(cmp, lit) => compare(value, lit).is_some_and(|ord| match cmp {
            Cmp::Gt => ord.is_gt(),
            Cmp::Gte => ord.is_ge(),
            Cmp::Lt => ord.is_lt(),
            Cmp::Lte => ord.is_le(),
        }),
        Op::Regex(re) => text_of(value).is_some_and(|t| re.is_match(&t)),
        Op::Contains(Lit::Text(needle)) => {
            text_of(value).is_some_and(|t| t.to_lowercase().contains(needle))
        }
        Op::Contains(_) => false,
        Op::StartsWith(prefix) => {
            text_of(value).is_some_and(|t| t.to_lowercase().starts_with(prefix))
        }
        Op::EndsWith(suffix) => text_of(value).is_some_and(|t| t.to_lowercase().ends_with(suffix)),
        Op::Cidr(nets) => ip_of(value).is_some_and(|ip| nets.iter().any(|n| n.contains(&ip))),
    }
}

fn text_of<'v>(value: &'v FieldValue<'_>) -> Option<std::borrow::Cow<'v, str>> {
    match value {
        FieldValue::Text(t) => Some(std::borrow::Cow::Borrowed(t)),
        FieldValue::Json(Value::String(s)) => Some(std::borrow::Cow::Borrowed(s)),
        FieldValue::Json(Value::Number(n)) => Some(std::borrow::Cow::Owned(n.to_string())),
        FieldValue::Ip(ip) => Some(std::borrow::Cow::Owned(ip.to_string())),
        FieldValue::Int(i) => Some(std::borrow::Cow::Owned(i.to_string())),
        FieldValue::Severity(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
        _ => None,
    }
}

fn ip_of(value: &FieldValue<'_>) -> Option<IpAddr> {
    match value {
        FieldValue::Ip(ip) => Some(*ip),
        FieldValue::Text(t) => crate::intake::parse_ip_text(t),
        FieldValue::Json(Value::String(s)) => crate::intake::parse_ip_text(s),
        _ => None,
    }
}

fn equals(value: &FieldValue<'_>, lit: &Lit) -> bool {
    match (value, lit) {
        (FieldValue::Severity(s), Lit::Severity(l)) => s == l,
        (FieldValue::Ip(ip), Lit::Ip(l)) => ip == l,
        (FieldValue::Time(t), Lit::Time(l)) => t == l,
        (FieldValue::Int(i), Lit::Num(n)) => (*i as f64) == *n,
        (FieldValue::Json(Value::Number(v)), Lit::Num(n)) => v.as_f64() == Some(*n),
        (FieldValue::Json(Value::Bool(v)), Lit::Bool(b)) => v == b,
        (_, Lit::Text(l)) => {
            text_of(value).is_some_and(|t| t.chars().flat_map(char::to_lowercase).eq(l.chars()))
        }
        _ => false,
    }
}

fn compare(value: &FieldValue<'_>, lit: &Lit) -> Option<std::cmp::Ordering> {
    match (value, lit) {
        (FieldValue::Severity(s), Lit::Severity(l)) => Some(s.cmp(l)),
        (FieldValue::Time(t), Lit::Time(l)) => Some(t.cmp(l)),
        (FieldValue::Int(i), Lit::Num(n)) => (*i as f64).partial_cmp(n),
        (FieldValue::Json(Value::Number(v)), Lit::Num(n)) => v.as_f64()?.partial_cmp(n),
        _ => None,
    }
}

pub use super::condition_compile::{compile, parse_net};
pub(crate) use super::condition_compile::{compile_regex, short_json};

#[cfg(test)]
#[path = "condition_tests.rs"]
mod tests;
