//! JSON as intake reads it: the same `Value` serde_json builds, except that a key written twice
//! in one object is reported with its path, where serde_json silently keeps the last one (so two
//! readers of one payload could see two different accounts).

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::DetectionError;
use super::validate::shown;

/// A parsed payload and the paths of the keys it holds more than once (`user.upn`, `[2].id`).
#[derive(Debug)]
pub struct Parsed {
    pub value: Value,
    pub duplicates: Vec<String>,
}

impl Parsed {
    /// The value, or the rejection its duplicate keys call for.
    pub fn strict(self) -> Result<Value, DetectionError> {
        match duplicate_keys(&self.duplicates) {
            Some(error) => Err(error),
            None => Ok(self.value),
        }
    }
}

/// Parses one JSON text, noting duplicate keys instead of keeping the last.
pub fn parse_json(text: &str) -> Result<Parsed, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let (value, duplicates) = Strict.deserialize(&mut de)?;
    de.end()?;
    Ok(Parsed { value, duplicates })
}

/// The rejection for a payload with these duplicate keys, if there are any. The path is the
/// payload's own text, so it is named as reasons quote values: bounded, hiding characters
/// escaped.
pub fn duplicate_keys(paths: &[String]) -> Option<DetectionError> {
    let first = paths.first()?;
    let others = match paths.len() - 1 {
        0 => String::new(),
        n => format!(" ({n} other key(s) too)"),
    };
    Some(DetectionError::Invalid {
        field: shown(first),
        reason: format!(
            "appears more than once in one object; which value counts would be a guess, so the payload is refused{others}"
        ),
    })
}

/// Splits the duplicate paths of a top-level array by element: `(index, paths within it)`.
pub fn duplicates_by_element(paths: &[String]) -> Vec<(usize, String)> {
    paths
        .iter()
        .filter_map(|path| {
            let (index, rest) = path.strip_prefix('[')?.split_once(']')?;
            let rest = rest.strip_prefix('.').unwrap_or(rest);
            Some((index.parse().ok()?, rest.to_string()))
        })
        .collect()
}

type Built = (Value, Vec<String>);

/// Builds a `Value` as serde_json does, collecting the paths of duplicate keys on the way.
struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Built;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Built, D::Error> {
        deserializer.deserialize_any(self)
    }
}

fn leaf<E>(value: Value) -> Result<Built, E> {
    Ok((value, Vec::new()))
}

impl<'de> Visitor<'de> for Strict {
    type Value = Built;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Built, E> {
        leaf(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Built, E> {
        leaf(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Built, E> {
        leaf(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Built, E> {
        leaf(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Built, E> {
        leaf(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Built, E> {
        leaf(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Built, E> {
        leaf(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Built, E> {
        leaf(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Built, D::Error> {
        Strict.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Built, A::Error> {
        let mut values = Vec::new();
        let mut duplicates = Vec::new();
        while let Some((value, inner)) = seq.next_element_seed(Strict)? {
            let index = values.len();
            duplicates.extend(inner.into_iter().map(|p| within(&format!("[{index}]"), &p)));
            values.push(value);
        }
        Ok((Value::Array(values), duplicates))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Built, A::Error> {
        let mut object = Map::new();
        let mut duplicates = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let (value, inner) = map.next_value_seed(Strict)?;
            duplicates.extend(inner.into_iter().map(|p| within(&key, &p)));
            if object.contains_key(&key) {
                duplicates.push(key.clone());
            }
            object.insert(key, value);
        }
        Ok((Value::Object(object), duplicates))
    }
}

/// `inner`, a path within the value at `outer`, as a path from the top.
fn within(outer: &str, inner: &str) -> String {
    if inner.starts_with('[') {
        format!("{outer}{inner}")
    } else {
        format!("{outer}.{inner}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_the_ones_serde_json_builds() {
        let text = r#"{"b":1,"a":[-2,3.5,"x",null,true,{"c":{}}],"big":18446744073709551615}"#;
        let parsed = parse_json(text).unwrap();
        assert_eq!(parsed.value, serde_json::from_str::<Value>(text).unwrap());
        assert_eq!(
            parsed.value.to_string(),
            text,
            "key order and numbers are kept"
        );
        assert!(parsed.duplicates.is_empty());
        assert!(parse_json(r#"{"a":1} x"#).is_err(), "trailing text");
        assert!(parse_json(r#"{"a":"#).is_err());
    }

    #[test]
    fn duplicate_keys_are_found_at_any_depth_with_their_path() {
        let parsed =
            parse_json(r#"{"user":{"upn":"a@x.com","upn":"b@x.com"},"id":"1","id":"2"}"#).unwrap();
        assert_eq!(parsed.duplicates, ["user.upn", "id"]);
        let err = parsed.strict().unwrap_err().to_string();
        assert!(
            err.starts_with("field `user.upn`: appears more than once in one object"),
            "{err}"
        );
        assert!(err.ends_with("(1 other key(s) too)"), "{err}");

        let parsed = parse_json(r#"[{"id":"1"},{"x":[{"k":1,"k":2}]}]"#).unwrap();
        assert_eq!(parsed.duplicates, ["[1].x[0].k"]);
        assert_eq!(
            duplicates_by_element(&parsed.duplicates),
            [(1, "x[0].k".to_string())]
        );
    }

    #[test]
    fn a_duplicate_key_is_named_bounded_and_visible() {
        // Found by the `jsonl` target's invariant: the key, which the payload chose, was the
        // rejection's field as written, so `stanch run` audited and printed a reason that a
        // RIGHT-TO-LEFT OVERRIDE could reorder, or one as long as the key.
        let bidi = parse_json("{\"\u{202e}x\":1,\"\u{202e}x\":2}").unwrap();
        let err = bidi.strict().unwrap_err().to_string();
        assert!(
            err.starts_with("field `\\u{202e}x`: appears more than once"),
            "{err}"
        );

        let long = "k".repeat(2000);
        let text = format!(r#"{{"{long}":1,"{long}":2}}"#);
        let err = parse_json(&text).unwrap().strict().unwrap_err().to_string();
        assert!(err.len() < 300, "{} bytes: {err}", err.len());
        assert!(err.starts_with("field `kkk"), "{err}");
    }
}
