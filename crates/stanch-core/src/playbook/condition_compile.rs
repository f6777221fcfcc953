//! Compiling condition nodes into [`Condition`]s, reporting every problem with its location.

use std::net::IpAddr;

use chrono::DateTime;
use ipnet::IpNet;
use regex::Regex;
use serde_json::Value;

use super::condition::{COMBINATORS, Cmp, Condition, Lit, OPERATORS, Op};
use super::fields::{FieldPath, FieldType};
use crate::intake::Severity;
use crate::util::glob_to_regex;
use crate::yaml::decode::{self, describe};
use crate::yaml::diag::Problems;
use crate::yaml::{Node, NodeValue};

/// Compiles a condition node; problems are reported and `None` returned if any were found.
pub fn compile(p: &mut Problems, node: &Node) -> Option<Condition> {
    if let NodeValue::Seq(items) = &node.value {
        return compile_list(p, items).map(Condition::All);
    }
    let mut known: Vec<&str> = COMBINATORS.to_vec();
    known.push("field");
    known.extend(OPERATORS);
    let f = decode::fields(p, node, "a condition", &known)?;
    let combinators: Vec<&str> = COMBINATORS.into_iter().filter(|k| f.has(k)).collect();
    let is_test = f.has("field") || OPERATORS.iter().any(|k| f.has(k));
    match (combinators.as_slice(), is_test) {
        ([], false) => {
            p.error(
                node.loc,
                "an empty condition: use `all`, `any`, `not`, or `field` with one operator",
            );
            None
        }
        ([_], true) | ([_, _, ..], _) => {
            p.error(node.loc, "a condition is either one of `all`/`any`/`not` or a field test (`field` + one operator); split it into a list under `all`");
            None
        }
        (["all"], false) => {
            let items = decode::list(p, f.get("all")?, "`all`")?;
            compile_list(p, items).map(Condition::All)
        }
        (["any"], false) => {
            let items = decode::list(p, f.get("any")?, "`any`")?;
            compile_list(p, items).map(Condition::Any)
        }
        (["not"], false) => compile(p, f.get("not")?).map(|c| Condition::Not(Box::new(c))),
        _ => compile_test(p, node, &f),
    }
}

fn compile_list(p: &mut Problems, items: &[Node]) -> Option<Vec<Condition>> {
    let compiled: Vec<Option<Condition>> = items.iter().map(|item| compile(p, item)).collect();
    compiled.into_iter().collect()
}

fn compile_test(p: &mut Problems, node: &Node, f: &decode::Fields<'_>) -> Option<Condition> {
    let field_node = f.require(p, "field", "a field test")?;
    let field_text = decode::string(p, field_node, "`field`")?;
    let field = match FieldPath::parse(field_text) {
        Ok(field) => field,
        Err(message) => {
            p.error(field_node.loc, message);
            return None;
        }
    };
    let ops: Vec<(&str, &Node)> = OPERATORS
        .iter()
        .filter_map(|k| f.get(k).map(|v| (*k, v)))
        .collect();
    let [(name, arg)] = ops.as_slice() else {
        let found = if ops.is_empty() {
            "none".to_string()
        } else {
            ops.iter()
                .map(|(k, _)| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        p.error(
            node.loc,
            format!(
                "a field test needs exactly one operator ({}), found {found}",
                OPERATORS.join(", ")
            ),
        );
        return None;
    };
    let ty = field.ty();
    let op = compile_op(p, ty, field_text, name, arg)?;
    let text = format!("{field_text} {name} {}", short_json(&arg.to_json()));
    Some(Condition::Test { field, op, text })
}

pub(crate) fn short_json(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 80 {
        format!("{}…", text.chars().take(79).collect::<String>())
    } else {
        text
    }
}

fn compile_op(p: &mut Problems, ty: FieldType, field: &str, name: &str, arg: &Node) -> Option<Op> {
    let allowed = match ty {
        FieldType::Text => &[
            "eq",
            "ne",
            "in",
            "not_in",
            "matches",
            "glob",
            "contains",
            "starts_with",
            "ends_with",
            "cidr",
            "exists",
        ][..],
        FieldType::Severity | FieldType::Int | FieldType::Time => &[
            "eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists",
        ][..],
        FieldType::Ip => &["eq", "ne", "in", "not_in", "cidr", "exists"][..],
        FieldType::Json => &OPERATORS[..],
    };
    if !allowed.contains(&name) {
        p.error(
            arg.loc,
            format!(
                "operator `{name}` does not apply to `{field}`; it supports: {}",
                allowed.join(", ")
            ),
        );
        return None;
    }
    let lits = |p: &mut Problems| -> Option<Vec<Lit>> {
        let items = decode::list(p, arg, &format!("`{name}`"))?;
        let lits: Vec<Option<Lit>> = items
            .iter()
            .map(|item| literal(p, ty, field, item))
            .collect();
        lits.into_iter().collect()
    };
    let lowered =
        |p: &mut Problems| decode::string(p, arg, &format!("`{name}`")).map(str::to_lowercase);
    Some(match name {
        "eq" => Op::Eq(literal(p, ty, field, arg)?),
        "ne" => Op::Ne(literal(p, ty, field, arg)?),
        "in" => Op::In(lits(p)?),
        "not_in" => Op::NotIn(lits(p)?),
        "gt" | "gte" | "lt" | "lte" => {
            let lit = literal(p, ty, field, arg)?;
            if matches!(lit, Lit::Text(_) | Lit::Bool(_) | Lit::Ip(_)) {
                p.error(
                    arg.loc,
                    format!(
                        "`{name}` compares numbers, severities and times; {} is none of these",
                        describe(arg)
                    ),
                );
                return None;
            }
            let cmp = match name {
                "gt" => Cmp::Gt,
                "gte" => Cmp::Gte,
                "lt" => Cmp::Lt,
                _ => Cmp::Lte,
            };
            Op::Cmp(cmp, lit)
        }
        "matches" => {
            let pattern = decode::string(p, arg, "`matches`")?;
            Op::Regex(compile_regex(p, arg, pattern, pattern)?)
        }
        "glob" => {
            let glob = decode::string(p, arg, "`glob`")?;
            Op::Regex(compile_regex(p, arg, &glob_to_regex(glob), glob)?)
        }
        "contains" => Op::Contains(literal(p, FieldType::Json, field, arg)?),
        "starts_with" => Op::StartsWith(lowered(p)?),
        "ends_with" => Op::EndsWith(lowered(p)?),
        "cidr" => Op::Cidr(cidrs(p, arg)?),
        _ => Op::Exists(decode::boolean(p, arg, "`exists`")?),
    })
}

fn literal(p: &mut Problems, ty: FieldType, field: &str, node: &Node) -> Option<Lit> {
    let bad = |p: &mut Problems, want: &str| {
        p.error(
            node.loc,
            format!(
                "`{field}` holds {want}, so this must be one too; found {}",
                describe(node)
            ),
        );
        None
    };
    match (ty, &node.value) {
        (FieldType::Severity, NodeValue::Str(s)) => Severity::parse(s)
            .map(Lit::Severity)
            .or_else(|| bad(p, &format!("a severity ({})", Severity::NAMES.join(", ")))),
        (FieldType::Severity, _) => bad(p, "a severity"),
        (FieldType::Time, NodeValue::Str(s)) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| Lit::Time(t.to_utc()))
            .or_else(|| bad(p, "an RFC 3339 time")),
        (FieldType::Time, _) => bad(p, "an RFC 3339 time"),
        (FieldType::Ip, NodeValue::Str(s)) => s
            .parse()
            .ok()
            .map(Lit::Ip)
            .or_else(|| bad(p, "an IP address")),
        (FieldType::Ip, _) => bad(p, "an IP address"),
        (FieldType::Int, NodeValue::Int(i)) => Some(Lit::Num(*i as f64)),
        (FieldType::Int, _) => bad(p, "an integer"),
        (FieldType::Text, NodeValue::Str(s)) => Some(Lit::Text(s.to_lowercase())),
        (FieldType::Text, _) => bad(p, "text"),
        (FieldType::Json, NodeValue::Str(s)) => Some(Lit::Text(s.to_lowercase())),
        (FieldType::Json, NodeValue::Int(i)) => Some(Lit::Num(*i as f64)),
        (FieldType::Json, NodeValue::Float(f)) => Some(Lit::Num(*f)),
        (FieldType::Json, NodeValue::Bool(b)) => Some(Lit::Bool(*b)),
        (FieldType::Json, _) => bad(p, "a scalar"),
    }
}

/// Compiles a regex; on error reports `shown` (what the author wrote) with the parser's reason.
pub(crate) fn compile_regex(
    p: &mut Problems,
    node: &Node,
    pattern: &str,
    shown: &str,
) -> Option<Regex> {
    match Regex::new(pattern) {
        Ok(re) => Some(re),
        Err(e) => {
            let detail = e
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string();
            p.error(
                node.loc,
                format!("invalid regular expression `{shown}`: {detail}"),
            );
            None
        }
    }
}

fn cidrs(p: &mut Problems, node: &Node) -> Option<Vec<IpNet>> {
    let mut nets = Vec::new();
    let mut ok = true;
    for (item, text) in decode::strings(p, node, "`cidr`") {
        match parse_net(text) {
            Some(net) => nets.push(net),
            None => {
                p.error(item.loc, format!("`{text}` is not an IP range in CIDR notation (e.g. 203.0.113.0/24 or 2001:db8::/48)"));
                ok = false;
            }
        }
    }
    ok.then_some(nets)
}

/// Parses `a.b.c.d/n`, or a bare address as a single-host range.
pub fn parse_net(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}
