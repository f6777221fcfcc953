//! A JSON Schema (draft 2020-12) of the playbook format, for editors (`stanch schema`).
//!
//! Written by hand from the same key lists and action registry the compiler uses; a test keeps
//! them in step, so the schema can never offer a key the compiler rejects or miss one it accepts.

use serde_json::{Map, Value, json};

use super::compile_tests::CHANNELS;
use super::condition::OPERATORS;
use super::fields::{CAMPAIGN_FIELDS, SIMPLE};
use super::test_campaign::CAMPAIGN_TEST_KEYS;
use crate::intake::Severity;
use crate::vocab::{ActionKind, ParamKind};

pub fn playbook_schema() -> Value {
    let string_or_list =
        json!({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]});
    let duration = json!({"type": "string", "pattern": "^([0-9]+[smhdw])+$", "examples": ["30m", "24h", "1h30m"]});
    let mode = json!({"enum": ["passive", "active"], "description": "passive records what would have been done; active acts."});
    let actions: Vec<&str> = ActionKind::ALL.iter().map(|k| k.name()).collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://stanch.dev/schema/playbook-v1.json",
        "title": "stanch playbook (version 1)",
        "type": "object",
        "additionalProperties": false,
        "required": ["version", "id", "match", "steps"],
        "properties": {
            "version": {"const": 1},
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$", "description": "Unique id, recorded with every decision."},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "enabled": {"type": "boolean", "default": true},
            "mode": mode,
            "match": {
                "type": "object", "additionalProperties": false,
                "description": "Which detections this playbook looks at. `name` globs treat `::` and ` / ` alike.",
                "properties": {
                    "name": string_or_list, "name_regex": string_or_list, "source": string_or_list,
                    "min_severity": {"enum": Severity::NAMES},
                },
                "anyOf": [{"required": ["name"]}, {"required": ["name_regex"]}],
            },
            "when": {"$ref": "#/$defs/condition"},
            "steps": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/step"}},
            "tests": {"type": "array", "items": {"$ref": "#/$defs/test"}},
        },
        "$defs": {
            "condition": condition_schema(),
            "step": {
                "type": "object", "additionalProperties": false, "required": ["id", "action"],
                "properties": {
                    "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"},
                    "description": {"type": "string"},
                    "action": {"enum": actions},
                    "target": {"type": "string", "description": "UPN or object id (templated); defaults to the detection's user."},
                    "with": {"type": "object"},
                    "when": {"$ref": "#/$defs/condition"},
                    "mode": mode,
                    "approval": {"$ref": "#/$defs/approval"},
                    "expires_after": duration,
                },
                "allOf": ActionKind::ALL.iter().map(|k| action_params(*k)).collect::<Vec<_>>(),
            },
            "approval": {
                "type": "object", "additionalProperties": false, "required": ["approvers"],
                "properties": {
                    "approvers": string_or_list, "quorum": {"type": "integer", "minimum": 1, "default": 1},
                    "timeout": duration, "on_timeout": {"enum": ["deny", "approve", "escalate"], "default": "deny"},
                    "escalate_to": string_or_list,
                    "channels": {"type": "array", "items": {"enum": CHANNELS}},
                },
            },
            "test": {
                "type": "object", "additionalProperties": false, "required": ["name", "detection", "expect"],
                "properties": {
                    "name": {"type": "string"},
                    "detection": {"type": "object", "required": ["id", "name", "observed_at"]},
                    "protected_accounts": string_or_list,
                    "campaign": test_campaign_schema(),
                    "expect": {"type": "array", "items": {"$ref": "#/$defs/expected_action"}},
                },
            },
            "expected_action": {
                "type": "object", "additionalProperties": false, "required": ["step"],
                "properties": {
                    "step": {"type": "string"}, "action": {"enum": actions}, "target": {"type": "string"},
                    "params": {"type": "object"}, "mode": mode, "approval": {"type": "boolean"},
                    "refused": {"type": "boolean"},
                },
            },
        },
    })
}

fn condition_schema() -> Value {
    let mut props = Map::new();
    props.insert(
        "all".into(),
        json!({"type": "array", "items": {"$ref": "#/$defs/condition"}}),
    );
    props.insert(
        "any".into(),
        json!({"type": "array", "items": {"$ref": "#/$defs/condition"}}),
    );
    props.insert("not".into(), json!({"$ref": "#/$defs/condition"}));
    props.insert("field".into(), field_schema());
    for op in OPERATORS {
        let schema = match op {
            "in" | "not_in" => json!({"type": "array"}),
            "exists" => json!({"type": "boolean"}),
            "cidr" => {
                json!({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})
            }
            "matches" | "glob" | "starts_with" | "ends_with" => json!({"type": "string"}),
            _ => json!({}),
        };
        props.insert(op.into(), schema);
    }
    json!({
        "oneOf": [
            {"type": "array", "items": {"$ref": "#/$defs/condition"}},
            {"type": "object", "additionalProperties": false, "properties": props, "minProperties": 1},
        ]
    })
}

/// A detection field: a named one (`user.upn`, `campaign.accounts`...) or a path into
/// `details` or `extra`.
fn field_schema() -> Value {
    let named: Vec<&str> = SIMPLE
        .iter()
        .map(|(name, _)| *name)
        .chain(CAMPAIGN_FIELDS.iter().map(|(name, _)| *name))
        .collect();
    json!({
        "type": "string",
        "description": "A detection field, `details.<path>`, `extra.<path>`, or a fact about the detection's campaign (`campaign.*`).",
        "anyOf": [{"enum": named}, {"pattern": "^(details|extra)\\.[^.]+(\\.[^.]+)*$"}],
    })
}

fn test_campaign_schema() -> Value {
    let strings = json!({"type": "array", "items": {"type": "string"}});
    let props: Map<String, Value> = CAMPAIGN_TEST_KEYS
        .iter()
        .map(|key| {
            let schema = match *key {
                "id" | "first_seen" => json!({"type": "string"}),
                "confirmed" => json!({"type": "boolean"}),
                "detections" => json!({"type": "integer", "minimum": 1}),
                "asns" => json!({"type": "array", "items": {"type": "integer"}}),
                _ => strings.clone(),
            };
            (key.to_string(), schema)
        })
        .collect();
    json!({
        "type": "object", "additionalProperties": false, "properties": props,
        "description": "The campaign the test detection is planned in; networks come from the IPs.",
    })
}

fn action_params(kind: ActionKind) -> Value {
    let spec = kind.spec();
    let mut props = Map::new();
    for param in spec.params {
        let schema = match param.kind {
            ParamKind::Bool => json!({"type": "boolean"}),
            ParamKind::Integer => json!({"type": "integer"}),
            ParamKind::String => json!({"type": "string"}),
            ParamKind::OneOf(allowed) => json!({"type": "string", "enum": allowed}),
            ParamKind::Time => json!({"type": "string", "format": "date-time"}),
            ParamKind::StringList | ParamKind::IpList => {
                json!({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]})
            }
        };
        let mut schema = schema.as_object().cloned().unwrap_or_default();
        schema.insert("description".into(), Value::String(param.doc.to_string()));
        props.insert(param.name.to_string(), Value::Object(schema));
    }
    let required: Vec<&str> = spec
        .params
        .iter()
        .filter(|p| p.required)
        .map(|p| p.name)
        .collect();
    json!({
        "if": {"properties": {"action": {"const": kind.name()}}},
        "then": {
            "description": spec.doc,
            "properties": {"with": {"type": "object", "additionalProperties": false, "properties": props, "required": required}}
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::compile::{MATCH_KEYS, PLAYBOOK_KEYS, STEP_KEYS};
    use crate::playbook::compile_tests::{APPROVAL_KEYS, EXPECT_KEYS, TEST_KEYS};
    use crate::playbook::condition::COMBINATORS;

    fn keys(schema: &Value) -> Vec<String> {
        let mut keys: Vec<String> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        keys.sort();
        keys
    }

    fn sorted(list: &[&str]) -> Vec<String> {
        let mut keys: Vec<String> = list.iter().map(|k| k.to_string()).collect();
        keys.sort();
        keys
    }

    #[test]
    fn schema_keys_are_exactly_what_the_compiler_accepts() {
        let schema = playbook_schema();
        let defs = &schema["$defs"];
        assert_eq!(keys(&schema), sorted(PLAYBOOK_KEYS));
        assert_eq!(keys(&schema["properties"]["match"]), sorted(MATCH_KEYS));
        assert_eq!(keys(&defs["step"]), sorted(STEP_KEYS));
        assert_eq!(keys(&defs["approval"]), sorted(APPROVAL_KEYS));
        assert_eq!(keys(&defs["test"]), sorted(TEST_KEYS));
        assert_eq!(keys(&defs["expected_action"]), sorted(EXPECT_KEYS));
        let mut condition: Vec<&str> = COMBINATORS.to_vec();
        condition.push("field");
        condition.extend(OPERATORS);
        assert_eq!(keys(&defs["condition"]["oneOf"][1]), sorted(&condition));
        assert_eq!(
            keys(&defs["test"]["properties"]["campaign"]),
            sorted(CAMPAIGN_TEST_KEYS)
        );
    }

    #[test]
    fn schema_fields_are_exactly_what_conditions_accept() {
        let schema = playbook_schema();
        let field = &schema["$defs"]["condition"]["oneOf"][1]["properties"]["field"];
        let named: Vec<&str> = field["anyOf"][0]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for name in &named {
            assert!(
                crate::playbook::fields::FieldPath::parse(name).is_ok(),
                "{name}"
            );
        }
        assert_eq!(named.len(), SIMPLE.len() + CAMPAIGN_FIELDS.len());
        assert!(named.contains(&"campaign.accounts"));
        let pattern = regex::Regex::new(field["anyOf"][1]["pattern"].as_str().unwrap()).unwrap();
        assert!(pattern.is_match("details.rule.forward_to") && !pattern.is_match("campaign.x"));
    }
}
