//! Templates in step parameters: `"{{ user.upn }}"`, `"Contain {{ user.upn | lower }}"`.
//!
//! An expression is a detection field followed by filters: `lower`, `upper`, `default("x")` and
//! `cidr(24)` (the network of an IP address, e.g. to block the attacker's /24). A template that is
//! a single expression keeps the field's JSON type (a list stays a list); anything else renders to
//! a string. Templates are compiled with the playbook, so a bad field or filter is a load error.

use serde_json::Value;

use super::condition::parse_net;
use super::fields::{FieldPath, Subject};

#[derive(Debug, Clone)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Expr {
        field: FieldPath,
        name: String,
        filters: Vec<Filter>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Lower,
    Upper,
    Default(String),
    Cidr(u8),
}

const FILTERS: &str = "lower, upper, default(\"text\"), cidr(N)";

impl Template {
    pub fn compile(source: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unclosed `{{{{` in template `{source}`"))?;
            parts.push(compile_expr(after[..end].trim())?);
            rest = &after[end + 2..];
        }
        if rest.contains("}}") {
            return Err(format!(
                "`}}}}` without a matching `{{{{` in template `{source}`"
            ));
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// Whether the template has no expression (a plain string).
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Text(_)))
    }

    pub fn render<'a>(&self, subject: impl Into<Subject<'a>>) -> Result<Value, String> {
        let d = subject.into();
        if let [
            Part::Expr {
                field,
                name,
                filters,
            },
        ] = self.parts.as_slice()
        {
            return eval(d, field, name, filters);
        }
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Expr {
                    field,
                    name,
                    filters,
                } => match eval(d, field, name, filters)? {
                    Value::String(s) => out.push_str(&s),
                    Value::Array(items) => {
                        out.push_str(&items.iter().map(plain).collect::<Vec<_>>().join(", "))
                    }
                    other => out.push_str(&plain(&other)),
                },
            }
        }
        Ok(Value::String(out))
    }
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn compile_expr(expr: &str) -> Result<Part, String> {
    let mut pieces = expr.split('|').map(str::trim);
    let name = pieces.next().unwrap_or_default().to_string();
    if name.is_empty() {
        return Err(
            "empty `{{ }}` expression; name a detection field, e.g. `{{ user.upn }}`".into(),
        );
    }
    let field = FieldPath::parse(&name)?;
    let filters = pieces.map(compile_filter).collect::<Result<Vec<_>, _>>()?;
    Ok(Part::Expr {
        field,
        name,
        filters,
    })
}

fn compile_filter(text: &str) -> Result<Filter, String> {
    let (name, arg) = match text.split_once('(') {
        Some((name, rest)) => {
            let arg = rest
                .strip_suffix(')')
                .ok_or_else(|| format!("filter `{text}` is missing its closing `)`"))?;
            (name.trim(), Some(arg.trim()))
        }
        None => (text, None),
    };
    match (name, arg) {
        ("lower", None) => Ok(Filter::Lower),
        ("upper", None) => Ok(Filter::Upper),
        ("default", Some(arg)) => {
            let unquoted = arg
                .strip_prefix('"')
                .and_then(|a| a.strip_suffix('"'))
                .or_else(|| arg.strip_prefix('\'').and_then(|a| a.strip_suffix('\'')))
                .ok_or_else(|| {
                    format!(
                        "`default` takes a quoted string, e.g. default(\"unknown\"), found `{arg}`"
                    )
                })?;
            Ok(Filter::Default(unquoted.to_string()))
        }
        ("cidr", Some(arg)) => match arg.parse::<u8>() {
            Ok(bits) if bits <= 128 => Ok(Filter::Cidr(bits)),
            _ => Err(format!(
                "`cidr` takes a prefix length from 0 to 128, found `{arg}`"
            )),
        },
        _ => Err(format!("unknown filter `{text}`; filters are: {FILTERS}")),
    }
}

fn eval(
    d: Subject<'_>,
    field: &FieldPath,
    name: &str,
    filters: &[Filter],
) -> Result<Value, String> {
    let mut value = field.get(d).map(|v| v.to_json());
    for filter in filters {
        value = match (filter, value) {
            (Filter::Default(text), None) => Some(Value::String(text.clone())),
            (_, None) => None,
            (Filter::Default(_), Some(v)) => Some(v),
            (Filter::Lower, Some(v)) => Some(map_strings(v, |s| s.to_lowercase())),
            (Filter::Upper, Some(v)) => Some(map_strings(v, |s| s.to_uppercase())),
            (Filter::Cidr(bits), Some(v)) => Some(network(v, *bits, name)?),
        };
    }
    value.ok_or_else(|| match field {
        FieldPath::Campaign(_) => format!("`{name}`: the detection is in no campaign"),
        _ => format!("`{name}` is not set on this detection"),
    })
}

fn map_strings(value: Value, f: impl Fn(&str) -> String + Copy) -> Value {
    match value {
        Value::String(s) => Value::String(f(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| map_strings(v, f)).collect()),
        other => other,
    }
}

fn network(value: Value, bits: u8, name: &str) -> Result<Value, String> {
    match value {
        Value::Array(items) => items
            .into_iter()
            .map(|v| network(v, bits, name))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::String(text) => {
            let ip = parse_net(&text)
                .ok_or_else(|| format!("`{name}` is `{text}`, not an IP address"))?
                .addr();
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let net = ipnet::IpNet::new(ip, bits.min(max))
                .map_err(|e| format!("cidr({bits}) on `{text}`: {e}"))?;
            Ok(Value::String(net.trunc().to_string()))
        }
        other => Err(format!("`{name}` is {other}, not an IP address")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::parse_generic;

    #[test]
    fn renders_fields_filters_and_keeps_types() {
        let d = parse_generic(r#"{"id":"1","name":"x","observed_at":"2021-06-01T00:00:00Z","user":{"upn":"C.Lee@Contoso.com"},"ip":"198.51.100.23","details":{"ips":["203.0.113.9","2001:db8::1"]}}"#).unwrap();
        let render = |t: &str| Template::compile(t).unwrap().render(&d);
        assert_eq!(
            render("{{ user.upn | lower }}"),
            Ok("c.lee@contoso.com".into())
        );
        assert_eq!(
            render("Contain {{ user.upn }} from {{ip}}"),
            Ok("Contain C.Lee@Contoso.com from 198.51.100.23".into())
        );
        assert_eq!(render("{{ ip | cidr(24) }}"), Ok("198.51.100.0/24".into()));
        assert_eq!(
            render("{{ details.ips | cidr(48) }}"),
            Ok(serde_json::json!(["203.0.113.9/32", "2001:db8::/48"]))
        );
        assert_eq!(render("{{ user.id | default('none') }}"), Ok("none".into()));
        assert_eq!(
            render("{{ user.id }}"),
            Err("`user.id` is not set on this detection".into())
        );
        assert!(Template::compile("plain").unwrap().is_literal());
    }

    #[test]
    fn bad_templates_fail_to_compile_with_a_reason() {
        let err = |t: &str| Template::compile(t).unwrap_err();
        assert!(err("{{ usr.upn }}").contains("did you mean `user.upn`"));
        assert!(err("{{ user.upn | shout }}").contains("unknown filter `shout`"));
        assert!(err("{{ user.upn").contains("unclosed"));
        assert!(err("{{ ip | cidr(200) }}").contains("prefix length"));
        assert!(err("{{ }}").contains("empty"));
    }
}
