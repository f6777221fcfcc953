//! Darktrace samples: CEF rows of Sentinel's `CommonSecurityLog`, `/modelbreaches`, AI Analyst.

use serde_json::json;

use super::super::{detect_format, parse_any, read_csv};
use super::{at, ip, json_sample, only, parsed, sample, sekoia, upn};
use crate::intake::Severity;
use crate::intake::formats::Format;

#[test]
fn darktrace_cef_rows_from_common_security_log() {
    let rows = read_csv(&sample("Azure__Azure-Sentinel/AIA-Darktrace.csv")).unwrap();
    let mut row = rows
        .into_iter()
        .find(|r| r["ExternalID"] == "1893897")
        .unwrap();
    assert_eq!(detect_format(&row), Some(Format::DarktraceBreach));
    // The export dropped TimeGenerated and left StartTime empty: no activity time, no detection.
    assert_eq!(
        parse_any(row.clone()).unwrap_err().to_string(),
        "missing required field `TimeGenerated`"
    );
    row["TimeGenerated"] = json!("2021-06-01T09:15:00Z");
    let d = only(row, Format::DarktraceBreach);
    assert_eq!((d.id.as_str(), d.source.as_str()), ("1893897", "darktrace"));
    assert_eq!(d.name, "User/Unusual External Source for Credential Use");
    assert_eq!(d.severity, Some(Severity::Medium));
    assert_eq!(upn(&d), Some("example@sample.com"));
    assert_eq!(d.asn, Some(2905));
    assert_eq!(d.details["links"]["breach"], "https://sample/mb/1893897");
}

#[test]
fn darktrace_model_breach_list() {
    let ds = parsed(
        json_sample("demisto__content/fetch_breach.json"),
        Format::DarktraceBreach,
    );
    assert_eq!(ds.len(), 2);
    let d = &ds[0];
    assert_eq!(
        (d.id.as_str(), d.name.as_str()),
        ("30960", "Compromise::Watched Domain")
    );
    assert_eq!(at(d), "2023-01-24T01:04:25+00:00");
    assert_eq!(d.severity, Some(Severity::Critical));
    // A network device, not a SaaS actor: no account.
    assert_eq!(d.user, None);
    assert_eq!(d.details["score"], 0.592);
    assert_eq!(ds[1].id, "30953");
}

#[test]
fn darktrace_ai_analyst_zoom_hijack() {
    let d = only(sekoia("test_aianalyst_2.json"), Format::DarktraceAiAnalyst);
    assert_eq!(d.id, "204a3642-a6f1-4ac3-85d0-add7dd0c9f9b");
    assert_eq!(d.name, "Possible Hijack of Zoom Account");
    assert_eq!(at(&d), "2024-10-27T10:00:30+00:00");
    assert_eq!(d.severity, Some(Severity::Critical));
    assert_eq!(d.details["category"], "critical");
    // A Zoom actor is not an M365 account: kept in details, not acted on.
    assert_eq!(d.user, None);
    assert_eq!(d.details["saas_actor"], "john.doe@example.com");
    assert_eq!(d.details["saas_service"], "Zoom");
    assert_eq!((d.ip, d.asn), (ip("1.2.3.4"), Some(2119)));
    assert_eq!(d.country, None);
    assert_eq!(d.details["country_name"], "Sweden");
    assert_eq!(
        d.details["related_breaches"][0]["model"],
        "SaaS / Access / Unusual External Source for SaaS Credential Use"
    );
}

#[test]
fn darktrace_ai_analyst_distributed_bruteforce() {
    let d = only(
        sekoia("test_aianalyst_without_log_type.json"),
        Format::DarktraceAiAnalyst,
    );
    assert_eq!(
        d.name,
        "Possible Distributed Bruteforce of AzureActiveDirectory Account"
    );
    assert_eq!(at(&d), "2024-02-15T23:35:49+00:00");
    assert_eq!(d.severity, Some(Severity::High));
    assert_eq!(upn(&d), Some("test@test.fr"));
    // Many sources: no single IP, the lists are kept.
    assert_eq!(d.ip, None);
    assert_eq!(d.details["source_ips"][0], "122.4.70.38");
    assert_eq!(d.details["source_asns"][0], "AS4134 Chinanet");
    assert_eq!(d.user_agent.as_deref(), Some("Office 365 Exchange Online"));
    assert_eq!(
        d.details["links"]["incident"],
        "https://darktrace-dt-32980-01/saas#aiaincidentevent/dc5f69a5-ee78-4702-a999-ed64a9e873dc"
    );
}
