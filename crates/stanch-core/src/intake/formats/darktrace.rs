//! Darktrace: model breaches (`/modelbreaches`, syslog JSON, or a CEF row of Sentinel's
//! `CommonSecurityLog`) and AI Analyst incident events. SaaS actors appear as devices named
//! `SaaS::Office365: user@domain`.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value, json};

use super::common::{
    array, detection, first_text, get, iso2, put, required, text, time_at, user_ref,
};
use crate::intake::{Detection, DetectionError, Severity, UserRef, parse_ip_text};

/// A model breach as JSON, or a `CommonSecurityLog` row (recognized by `ExternalID`).
pub fn parse_breach(value: Value) -> Result<Detection, DetectionError> {
    if value.get("pbid").is_none() && value.get("ExternalID").is_some() {
        return parse_cef_row(value);
    }
    let v = &value;
    let id = required(text(v, &["pbid"]), "pbid")?;
    let name = required(
        first_text(
            v,
            &[
                &["model", "now", "name"],
                &["model", "name"],
                &["model", "then", "name"],
            ],
        ),
        "model.name",
    )?;
    let observed_at = time_at(
        v,
        &[("time", &["time"]), ("creationTime", &["creationTime"])],
    )?;
    let mut d = detection(id, "darktrace".into(), name, observed_at);
    let details = &mut d.details;
    let category = first_text(
        v,
        &[
            &["model", "now", "category"],
            &["model", "category"],
            &["model", "then", "category"],
            &["category"],
        ],
    );
    let score = get(v, &["score"])
        .and_then(Value::as_f64)
        .or_else(|| Some(get(v, &["percentscore"])?.as_f64()? / 100.0));
    d.severity = score_severity(category.as_deref(), score);
    let hostname = text(v, &["device", "hostname"]);
    d.user = hostname.as_deref().and_then(|h| saas_user(h, details));

    // The breach's evidence: triggered filters such as `ASN`, `Connection hostname`, `Country`.
    let mut filters = Map::new();
    for filter in array(v, &["triggeredComponents"])
        .iter()
        .flat_map(|c| array(c, &["triggeredFilters"]))
    {
        let (Some(kind), Some(value)) = (
            text(filter, &["filterType"]),
            text(filter, &["trigger", "value"]),
        ) else {
            continue;
        };
        let lower = kind.to_ascii_lowercase();
        if lower.contains("asn") && d.asn.is_none() {
            d.asn = super::common::asn(&value);
        } else if lower.contains("country") && d.country.is_none() {
            d.country = iso2(Some(value.clone()));
        } else if (lower.contains("ip") || lower.contains("hostname")) && d.ip.is_none() {
            d.ip = parse_ip_text(&value);
        }
        filters.entry(kind).or_insert(json!(value));
    }
    put(details, "filters", Value::Object(filters));
    put(details, "category", json!(category));
    put(details, "score", json!(score));
    put(
        details,
        "priority",
        first_text(v, &[&["model", "now", "priority"], &["model", "priority"]])
            .map(Value::String)
            .unwrap_or_default(),
    );
    put(
        details,
        "device",
        json!({"hostname": hostname, "ip": text(v, &["device", "ip"]),
        "label": text(v, &["device", "devicelabel"]), "did": get(v, &["device", "did"])}),
    );
    put(
        details,
        "mitre",
        get(v, &["mitreTechniques"]).cloned().unwrap_or_default(),
    );
    put(
        details,
        "links",
        json!(text(v, &["breachUrl"]).map(|u| json!({ "breach": u }))),
    );
    put(details, "reported_at", json!(text(v, &["creationTime"])));
    d.details.insert("raw".into(), value);
    Ok(d)
}

/// A Darktrace CEF event as Sentinel stores it in `CommonSecurityLog` (one CSV row).
fn parse_cef_row(value: Value) -> Result<Detection, DetectionError> {
    static EMAIL: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}").unwrap());
    static ASN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\bAS(\d+)\b").unwrap());
    let v = &value;
    let id = required(text(v, &["ExternalID"]), "ExternalID")?;
    let name = required(text(v, &["Activity"]), "Activity")?;
    let observed_at = time_at(
        v,
        &[
            ("TimeGenerated", &["TimeGenerated"]),
            ("TimeGenerated [UTC]", &["TimeGenerated [UTC]"]),
            ("ReceiptTime", &["ReceiptTime"]),
            ("StartTime [UTC]", &["StartTime [UTC]"]),
            ("StartTime", &["StartTime"]),
        ],
    )?;
    let mut d = detection(id, "darktrace".into(), name, observed_at);
    let details = &mut d.details;
    // CEF severity 0–10: 0–3 low, 4–6 medium, 7–8 high, 9–10 very high.
    let level = text(v, &["LogSeverity"]).and_then(|s| s.parse::<u8>().ok());
    d.severity = level.map(|l| match l {
        0..=3 => Severity::Low,
        4..=6 => Severity::Medium,
        7..=8 => Severity::High,
        _ => Severity::Critical,
    });
    let extensions: Map<String, Value> = text(v, &["AdditionalExtensions"])
        .unwrap_or_default()
        .split(';')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), json!(v.trim())))
        .collect();
    let message = extensions
        .get("message")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let upn = EMAIL.find(message).map(|m| m.as_str().to_string());
    d.user = user_ref(upn, None, details);
    d.asn = ASN.captures(message).and_then(|c| c[1].parse().ok());
    d.ip = text(v, &["SourceIP"]).and_then(|t| parse_ip_text(&t));
    put(details, "log_severity", json!(level));
    put(
        details,
        "device",
        json!({"address": text(v, &["DeviceAddress"]),
        "name": text(v, &["DeviceName"]), "destination_ip": text(v, &["DestinationIP"])}),
    );
    put(
        details,
        "links",
        json!(
            extensions
                .get("darktraceUrl")
                .map(|u| json!({ "breach": u }))
        ),
    );
    put(details, "extensions", Value::Object(extensions));
    d.details.insert("raw".into(), value);
    Ok(d)
}

/// An AI Analyst incident event (`/aianalyst/incidentevents`).
pub fn parse_ai_analyst(value: Value) -> Result<Detection, DetectionError> {
    let v = &value;
    let id = required(text(v, &["id"]), "id")?;
    let name = required(text(v, &["title"]), "title")?;
    // The activity started at the earliest period; `createdAt` is when the analyst wrote it up.
    let first_period = array(v, &["periods"])
        .iter()
        .filter_map(|p| get(p, &["start"]).and_then(Value::as_i64))
        .min()
        .map(Value::from);
    let observed_at = match &first_period {
        Some(start) => time_at(
            &json!({ "start": start }),
            &[("periods[].start", &["start"])],
        )?,
        None => time_at(v, &[("createdAt", &["createdAt"])])?,
    };
    let mut d = detection(id, "darktrace".into(), name, observed_at);
    let details = &mut d.details;
    let category = text(v, &["category"]);
    let score = get(v, &["aiaScore"]).and_then(Value::as_f64);
    d.severity = score_severity(category.as_deref(), score.map(|s| s / 100.0));

    let facts = facts(v);
    let hostnames = array(v, &["breachDevices"])
        .iter()
        .filter_map(|dev| text(dev, &["hostname"]));
    d.user = hostnames.into_iter().find_map(|h| saas_user(&h, details));
    let single = |key: &str| facts.get(key).and_then(|vals| vals.first());
    d.ip = single("Source IP")
        .and_then(|ip| text(ip, &["ip"]).or_else(|| text(ip, &[])))
        .and_then(|t| parse_ip_text(&t));
    d.asn = single("ASN")
        .and_then(|a| text(a, &[]))
        .and_then(|a| super::common::asn(&a));
    d.country = single("Country").and_then(|c| iso2(text(c, &[])));
    d.user_agent = single("User agent").and_then(|u| text(u, &[]));
    for (key, fact) in [
        ("actor", "Actor"),
        ("country_name", "Country"),
        ("city", "City"),
    ] {
        put(
            details,
            key,
            single(fact).map(|v| (*v).clone()).unwrap_or_default(),
        );
    }
    for (key, fact) in [
        ("source_ips", "Source IPs include"),
        ("source_asns", "Source ASNs include"),
        ("countries", "Countries include"),
        ("suspicious_properties", "Suspicious properties"),
    ] {
        let list: Vec<Value> = facts
            .get(fact)
            .into_iter()
            .flatten()
            .map(|x| {
                text(x, &["ip"])
                    .map(Value::String)
                    .unwrap_or_else(|| (*x).clone())
            })
            .collect();
        put(details, key, Value::Array(list));
    }
    let related: Vec<Value> = array(v, &["relatedBreaches"])
        .iter()
        .map(|b| json!({"model": text(b, &["modelName"]), "pbid": get(b, &["pbid"])}))
        .collect();
    put(details, "related_breaches", Value::Array(related));
    put(details, "category", json!(category));
    put(details, "aia_score", json!(score));
    put(
        details,
        "group_score",
        get(v, &["groupScore"]).cloned().unwrap_or_default(),
    );
    put(details, "summary", json!(text(v, &["summary"])));
    put(
        details,
        "mitre",
        get(v, &["mitreTactics"]).cloned().unwrap_or_default(),
    );
    put(details, "reported_at", json!(text(v, &["createdAt"])));
    put(
        details,
        "links",
        json!(text(v, &["incidentEventUrl"]).map(|u| json!({ "incident": u }))),
    );
    d.details.insert("raw".into(), value);
    Ok(d)
}

/// The `details[][].contents[]` facts of an AI Analyst event, by key (first occurrence wins).
fn facts(v: &Value) -> HashMap<String, Vec<&Value>> {
    let mut out: HashMap<String, Vec<&Value>> = HashMap::new();
    for content in array(v, &["details"])
        .iter()
        .flat_map(|section| array(section, &[]))
        .flat_map(|group| array(group, &["contents"]))
    {
        if let Some(key) = text(content, &["key"]) {
            out.entry(key)
                .or_insert_with(|| array(content, &["values"]).iter().collect());
        }
    }
    out
}

/// Severity from a Darktrace category and a 0–1 score: critical is critical; suspicious is high
/// from 0.6 up, medium below; without a known category the score alone decides.
fn score_severity(category: Option<&str>, score: Option<f64>) -> Option<Severity> {
    match category.map(str::to_ascii_lowercase).as_deref() {
        Some("critical") => Some(Severity::Critical),
        Some("suspicious") if score.is_some_and(|s| s >= 0.6) => Some(Severity::High),
        Some("suspicious") => Some(Severity::Medium),
        Some("compliance") => Some(Severity::Low),
        Some("informational") => Some(Severity::Informational),
        _ => score.map(|s| match s {
            s if s >= 0.8 => Severity::High,
            s if s >= 0.5 => Severity::Medium,
            s if s >= 0.2 => Severity::Low,
            _ => Severity::Informational,
        }),
    }
}

/// The account behind a SaaS device `SaaS::<Service>: <actor>`. Only Microsoft services name an
/// M365 account: a Zoom actor's address need not be one, so it stays in `details.actor`.
fn saas_user(hostname: &str, details: &mut Map<String, Value>) -> Option<UserRef> {
    let (service, actor) = hostname.strip_prefix("SaaS::")?.split_once(':')?;
    let (service, actor) = (service.trim(), actor.trim());
    put(details, "saas_service", json!(service));
    put(details, "saas_actor", json!(actor));
    let microsoft = ["Office365", "AzureActiveDirectory", "Microsoft", "Azure"]
        .iter()
        .any(|m| service.starts_with(m));
    if !microsoft {
        return None;
    }
    user_ref(Some(actor.to_string()), None, details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saas_breach_with_filters_and_unknown_category() {
        let d = parse_breach(json!({
            "pbid": 901, "time": 1_622_712_000_000_i64, "score": 0.85,
            "model": {"name": "SaaS::Compromise::Unusual Login and New Email Rule", "category": "Brand New"},
            "device": {"hostname": "SaaS::Office365: b.jones@contoso.com", "sid": -9},
            "triggeredComponents": [{"triggeredFilters": [
                {"filterType": "ASN", "trigger": {"value": "AS36924 GVA-Canalbox"}},
                {"filterType": "Connection hostname", "trigger": {"value": "203.0.113.7"}}]}]
        }))
        .unwrap();
        assert_eq!(d.severity, Some(Severity::High));
        assert_eq!(d.details["category"], "Brand New");
        assert_eq!(
            d.user.as_ref().unwrap().upn.as_deref(),
            Some("b.jones@contoso.com")
        );
        assert_eq!(d.asn, Some(36924));
        assert_eq!(d.ip, Some("203.0.113.7".parse().unwrap()));
        assert_eq!(
            d.normalized_name(),
            "SaaS / Compromise / Unusual Login and New Email Rule"
        );
    }

    #[test]
    fn scores_without_category() {
        assert_eq!(score_severity(None, Some(0.3)), Some(Severity::Low));
        assert_eq!(
            score_severity(Some("Suspicious"), Some(0.4)),
            Some(Severity::Medium)
        );
        assert_eq!(score_severity(None, None), None);
    }
}
