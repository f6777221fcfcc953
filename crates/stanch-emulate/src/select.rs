//! `$select`, as Graph does it: an answer keeps only the selected properties (and its
//! `@odata.*` annotations); without `$select` some properties are left out altogether, such as
//! a user's `signInSessionsValidFromDateTime`, which a client must ask for by name.

use serde_json::{Map, Value};

use crate::wire::{GraphRequest, query_pairs};

/// The properties named by `$select`, if the request has one.
pub fn selected(req: &GraphRequest) -> Option<Vec<String>> {
    query_pairs(&req.query)
        .into_iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("$select"))
        .map(|(_, v)| {
            v.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()
        })
}

/// A read's answer cut to what `$select` names: the entity itself, or each item of `value`.
pub fn project(body: Value, fields: &[String]) -> Value {
    let keep = |object: Map<String, Value>| -> Map<String, Value> {
        object
            .into_iter()
            .filter(|(k, _)| {
                k.starts_with("@odata") || fields.iter().any(|f| f.eq_ignore_ascii_case(k))
            })
            .collect()
    };
    match body {
        Value::Object(mut object) if matches!(object.get("value"), Some(Value::Array(_))) => {
            if let Some(Value::Array(items)) = object.remove("value") {
                let items = items
                    .into_iter()
                    .map(|item| match item {
                        Value::Object(item) => Value::Object(keep(item)),
                        other => other,
                    })
                    .collect();
                object.insert("value".into(), Value::Array(items));
            }
            Value::Object(object)
        }
        Value::Object(object) => Value::Object(keep(object)),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn select_keeps_the_named_properties_of_an_entity_or_each_item() {
        let fields = vec!["id".to_string(), "riskState".to_string()];
        assert_eq!(
            project(
                json!({"@odata.context": "c", "id": "1", "riskState": "x", "riskLevel": "high"}),
                &fields
            ),
            json!({"@odata.context": "c", "id": "1", "riskState": "x"})
        );
        assert_eq!(
            project(
                json!({"value": [{"id": "1", "displayName": "a"}], "@odata.nextLink": "n"}),
                &fields
            ),
            json!({"value": [{"id": "1"}], "@odata.nextLink": "n"})
        );
    }
}
