//! Step parameters (`with:`): checked against the action's parameter list when the playbook is
//! compiled, and, for templates, again when they are rendered for a detection.

use serde_json::Value;

use super::condition;
use super::model::Param;
use super::template::Template;
use crate::vocab::{ActionKind, ParamKind, ParamSpec};
use crate::yaml::decode;
use crate::yaml::diag::Problems;
use crate::yaml::{Node, NodeValue};

pub(super) fn compile_params(
    p: &mut Problems,
    with: Option<&Node>,
    action: ActionKind,
    step: &Node,
) -> Option<Vec<(String, Param)>> {
    let spec = action.spec();
    let names: Vec<&str> = spec.params.iter().map(|s| s.name).collect();
    let mut params = Vec::new();
    let mut ok = true;
    if let Some(with) = with {
        let what = format!("`with` of `{action}`");
        if spec.params.is_empty() {
            if !matches!(&with.value, NodeValue::Map(e) if e.is_empty()) {
                p.error(
                    with.loc,
                    format!("`{action}` takes no parameters; remove `with`"),
                );
            }
            return Some(params);
        }
        let f = decode::fields(p, with, &what, &names)?;
        for param in spec.params {
            if let Some(node) = f.get(param.name) {
                match param_value(p, node, param) {
                    Some(value) => params.push((param.name.to_string(), value)),
                    None => ok = false,
                }
            }
        }
    }
    for param in spec.params {
        if params.iter().any(|(name, _)| name == param.name) {
            continue;
        }
        if let Some(default) = param.default {
            let compiled =
                Template::compile(default).expect("built-in defaults are valid templates");
            params.push((
                param.name.to_string(),
                Param::Template(compiled, param.kind),
            ));
        } else if param.required {
            p.error(
                with.unwrap_or(step).loc,
                format!(
                    "`{action}` needs the parameter `{}` in `with`: {}",
                    param.name, param.doc
                ),
            );
            ok = false;
        }
    }
    ok.then_some(params)
}

fn param_value(p: &mut Problems, node: &Node, spec: &ParamSpec) -> Option<Param> {
    if let Some(text) = node.as_str() {
        let compiled = Template::compile(text)
            .map_err(|message| p.error(node.loc, message))
            .ok()?;
        if !compiled.is_literal() {
            return Some(Param::Template(compiled, spec.kind));
        }
    }
    let value = node.to_json();
    match check_param(&value, spec.kind) {
        Ok(value) => Some(Param::Literal(value)),
        Err(reason) => {
            p.error(
                node.loc,
                format!(
                    "parameter `{}` must be {}; {reason}",
                    spec.name,
                    spec.kind.describe()
                ),
            );
            None
        }
    }
}

/// Checks (and normalizes) a parameter value against its kind; used at load time for literals
/// and at plan time for rendered templates.
pub fn check_param(value: &Value, kind: ParamKind) -> Result<Value, String> {
    let found = || format!("found {}", crate::intake::json_kind_of(value));
    match (kind, value) {
        (ParamKind::Bool, Value::Bool(_)) | (ParamKind::String, Value::String(_)) => {
            Ok(value.clone())
        }
        (ParamKind::Integer, Value::Number(n)) if n.is_i64() => Ok(value.clone()),
        (ParamKind::StringList | ParamKind::IpList, Value::String(_)) => {
            check_param(&Value::Array(vec![value.clone()]), kind)
        }
        (ParamKind::StringList, Value::Array(items)) if items.iter().all(Value::is_string) => {
            Ok(value.clone())
        }
        (ParamKind::IpList, Value::Array(items)) => {
            let mut nets = Vec::new();
            for item in items {
                let text = item.as_str().ok_or_else(|| {
                    format!("found {} in the list", crate::intake::json_kind_of(item))
                })?;
                let net = condition::parse_net(text)
                    .ok_or_else(|| format!("`{text}` is not an IP address or CIDR range"))?;
                nets.push(Value::String(net.trunc().to_string()));
            }
            Ok(Value::Array(nets))
        }
        (ParamKind::OneOf(allowed), Value::String(s)) if allowed.contains(&s.as_str()) => {
            Ok(value.clone())
        }
        (ParamKind::OneOf(allowed), Value::String(s)) => Err(format!(
            "found `{s}`; expected one of {}",
            allowed.join(", ")
        )),
        (ParamKind::Time, Value::String(text)) => chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| {
                Value::String(
                    t.with_timezone(&chrono::Utc)
                        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                )
            })
            .map_err(|e| format!("`{text}` is not an RFC 3339 time ({e})")),
        (ParamKind::Bool, Value::String(s)) => Err(format!(
            "found the string `{s}` (booleans are `true` or `false`)"
        )),
        _ => Err(found()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_are_normalized_to_utc_and_anything_else_is_refused() {
        assert_eq!(
            check_param(&json!("2021-06-01T08:31:00+02:00"), ParamKind::Time),
            Ok(json!("2021-06-01T06:31:00Z"))
        );
        assert!(check_param(&json!("2021-06-01"), ParamKind::Time).is_err());
        assert!(check_param(&json!(1622529060), ParamKind::Time).is_err());
    }
}
