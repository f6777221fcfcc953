//! A YAML document as a tree of nodes that remember where they came from.
//!
//! serde stops at the first error; a playbook author wants every mistake at once, each with its
//! line and column. So YAML is parsed once into this located tree (syntax errors still stop the
//! file, since nothing after them can be trusted) and then decoded by hand, collecting errors.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

/// A position in a source file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Loc {
    pub line: u64,
    pub col: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub loc: Loc,
    pub value: NodeValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Entries in document order; keys keep their own locations for "unknown key" errors.
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn kind(&self) -> &'static str {
        match &self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) => "an integer",
            NodeValue::Float(_) => "a number",
            NodeValue::Str(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The node as JSON (for free-form parts such as a test's detection or literal parameters).
    pub fn to_json(&self) -> Value {
        match &self.value {
            NodeValue::Null => Value::Null,
            NodeValue::Bool(b) => Value::Bool(*b),
            NodeValue::Int(i) => Value::from(*i),
            NodeValue::Float(f) => Value::from(*f),
            NodeValue::Str(s) => Value::String(s.clone()),
            NodeValue::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            NodeValue::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.scalar_text(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// A scalar's text as written (keys are usually strings, but YAML allows `1:` or `true:`).
    pub fn scalar_text(&self) -> String {
        match &self.value {
            NodeValue::Str(s) => s.clone(),
            NodeValue::Int(i) => i.to_string(),
            NodeValue::Float(f) => f.to_string(),
            NodeValue::Bool(b) => b.to_string(),
            NodeValue::Null => "null".to_string(),
            NodeValue::Seq(_) | NodeValue::Map(_) => format!("<{}>", self.kind()),
        }
    }
}

/// A YAML syntax or structure error that stops the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub loc: Loc,
    pub message: String,
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Parses one YAML document into a located tree. Booleans are strict (`yes`/`no`/`on` stay
/// strings), duplicate keys are errors, and alias expansion is bounded.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let options = serde_saphyr::Options {
        strict_booleans: true,
        with_snippet: false,
        ..Default::default()
    };
    let spanned: Result<Spanned<Inner>, _> = serde_saphyr::from_str_with_options(text, options);
    match spanned {
        Ok(root) => Ok(into_node(root)),
        Err(err) => {
            let loc = err
                .location()
                .map(|l| Loc {
                    line: l.line(),
                    col: l.column(),
                })
                .unwrap_or_default();
            let message = err.to_string();
            // saphyr prefixes "error: line L column C: "; the caller prints the location itself.
            let message = match message.split_once(": ") {
                Some((head, rest)) if head.contains("line") => rest.to_string(),
                _ => message.trim_start_matches("error: ").to_string(),
            };
            let message = match message.split_once(": ") {
                Some((head, rest)) if head.starts_with("line ") => rest.to_string(),
                _ => message,
            };
            Err(SyntaxError { loc, message })
        }
    }
}

/// The deserialized shape before locations are folded in.
enum Inner {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Inner>>),
    Map(Vec<(Spanned<Inner>, Spanned<Inner>)>),
}

fn into_node(spanned: Spanned<Inner>) -> Node {
    let loc = Loc {
        line: spanned.referenced.line(),
        col: spanned.referenced.column(),
    };
    let value = match spanned.value {
        Inner::Null => NodeValue::Null,
        Inner::Bool(b) => NodeValue::Bool(b),
        Inner::Int(i) => NodeValue::Int(i),
        Inner::Float(f) => NodeValue::Float(f),
        Inner::Str(s) => NodeValue::Str(s),
        Inner::Seq(items) => NodeValue::Seq(items.into_iter().map(into_node).collect()),
        Inner::Map(entries) => NodeValue::Map(
            entries
                .into_iter()
                .map(|(k, v)| (into_node(k), into_node(v)))
                .collect(),
        ),
    };
    Node { loc, value }
}

impl<'de> Deserialize<'de> for Inner {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(InnerVisitor)
    }
}

struct InnerVisitor;

impl<'de> Visitor<'de> for InnerVisitor {
    type Value = Inner;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Inner, E> {
        Ok(Inner::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Inner, E> {
        Ok(Inner::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Inner, D::Error> {
        Inner::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Inner, E> {
        Ok(Inner::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Inner, E> {
        Ok(Inner::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Inner, E> {
        Ok(i64::try_from(v)
            .map(Inner::Int)
            .unwrap_or(Inner::Float(v as f64)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Inner, E> {
        Ok(Inner::Float(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Inner, E> {
        Ok(Inner::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Inner, E> {
        Ok(Inner::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Inner, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Inner>>()? {
            items.push(item);
        }
        Ok(Inner::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Inner, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Inner>>()? {
            let value = map.next_value::<Spanned<Inner>>()?;
            entries.push((key, value));
        }
        Ok(Inner::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_and_keys_carry_their_locations() {
        let doc =
            parse("id: x\nsteps:\n  - action: revoke_sessions\n    with: {delete: yes}\n").unwrap();
        let NodeValue::Map(entries) = &doc.value else {
            panic!("not a map")
        };
        assert_eq!(entries[1].0.loc, Loc { line: 2, col: 1 });
        let NodeValue::Seq(steps) = &entries[1].1.value else {
            panic!("not a seq")
        };
        let NodeValue::Map(step) = &steps[0].value else {
            panic!("not a map")
        };
        assert_eq!(step[0].0.as_str(), Some("action"));
        assert_eq!(step[0].1.loc, Loc { line: 3, col: 13 });
        // strict booleans: `yes` stays a string
        assert_eq!(step[1].1.to_json(), serde_json::json!({"delete": "yes"}));
    }

    #[test]
    fn syntax_errors_and_duplicate_keys_have_locations() {
        let err = parse("id: x\nid: y\n").unwrap_err();
        assert_eq!(err.loc.line, 2);
        assert!(err.message.contains("duplicate"), "{}", err.message);
        let err = parse("name: \"unclosed\nother: 1\n").unwrap_err();
        assert!(err.loc.line >= 1, "{err:?}");
    }
}
