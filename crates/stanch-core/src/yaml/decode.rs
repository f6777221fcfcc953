//! Typed reads from the located YAML tree that report problems instead of stopping.

use super::diag::Problems;
use super::{Node, NodeValue};
use crate::util::did_you_mean;

/// The entries of a mapping whose keys have been checked against the allowed set.
pub struct Fields<'n> {
    pub node: &'n Node,
    entries: &'n [(Node, Node)],
}

impl<'n> Fields<'n> {
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.as_str() == Some(key))
            .map(|(_, v)| v)
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// A required key; reports it missing at the mapping's location.
    pub fn require(&self, p: &mut Problems, key: &str, what: &str) -> Option<&'n Node> {
        let found = self.get(key);
        if found.is_none() {
            p.error(
                self.node.loc,
                format!("{what} is missing the required key `{key}`"),
            );
        }
        found
    }
}

/// Reads `node` as a mapping whose keys must come from `known`; unknown keys are reported with a
/// suggestion when one is close.
pub fn fields<'n>(
    p: &mut Problems,
    node: &'n Node,
    what: &str,
    known: &[&str],
) -> Option<Fields<'n>> {
    let NodeValue::Map(entries) = &node.value else {
        p.error(
            node.loc,
            format!("{what} must be a mapping, found {}", node.kind()),
        );
        return None;
    };
    for (key, _) in entries {
        let name = key.scalar_text();
        if known.contains(&name.as_str()) {
            continue;
        }
        let hint = match did_you_mean(&name, known.iter().copied()) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("expected one of: {}", known.join(", ")),
        };
        p.error(key.loc, format!("unknown key `{name}` in {what}; {hint}"));
    }
    Some(Fields { node, entries })
}

pub fn string<'n>(p: &mut Problems, node: &'n Node, what: &str) -> Option<&'n str> {
    match &node.value {
        NodeValue::Str(s) => Some(s),
        _ => {
            p.error(
                node.loc,
                format!("{what} must be a string, found {}", node.kind()),
            );
            None
        }
    }
}

pub fn boolean(p: &mut Problems, node: &Node, what: &str) -> Option<bool> {
    match &node.value {
        NodeValue::Bool(b) => Some(*b),
        NodeValue::Str(s) => {
            p.error(
                node.loc,
                format!("{what} must be `true` or `false`, found the string `{s}`"),
            );
            None
        }
        _ => {
            p.error(
                node.loc,
                format!("{what} must be `true` or `false`, found {}", node.kind()),
            );
            None
        }
    }
}

pub fn positive_int(p: &mut Problems, node: &Node, what: &str) -> Option<u64> {
    match &node.value {
        NodeValue::Int(i) if *i > 0 => Some(*i as u64),
        _ => {
            p.error(
                node.loc,
                format!(
                    "{what} must be a positive integer, found {}",
                    describe(node)
                ),
            );
            None
        }
    }
}

pub fn list<'n>(p: &mut Problems, node: &'n Node, what: &str) -> Option<&'n [Node]> {
    match &node.value {
        NodeValue::Seq(items) => Some(items),
        _ => {
            p.error(
                node.loc,
                format!("{what} must be a list, found {}", node.kind()),
            );
            None
        }
    }
}

/// A string or a list of strings, each with its node (for per-item error locations).
pub fn strings<'n>(p: &mut Problems, node: &'n Node, what: &str) -> Vec<(&'n Node, &'n str)> {
    match &node.value {
        NodeValue::Str(s) => vec![(node, s.as_str())],
        NodeValue::Seq(items) => items
            .iter()
            .filter_map(|item| string(p, item, &format!("each entry of {what}")).map(|s| (item, s)))
            .collect(),
        _ => {
            p.error(
                node.loc,
                format!(
                    "{what} must be a string or a list of strings, found {}",
                    node.kind()
                ),
            );
            Vec::new()
        }
    }
}

/// A node's kind plus its value when it is a short scalar, for error messages.
pub fn describe(node: &Node) -> String {
    match &node.value {
        NodeValue::Seq(_) | NodeValue::Map(_) | NodeValue::Null => node.kind().to_string(),
        _ => format!("{} `{}`", node.kind(), node.scalar_text()),
    }
}
