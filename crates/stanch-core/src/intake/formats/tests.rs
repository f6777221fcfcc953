//! Data-driven tests on the real third-party samples in `shared/samples/` (see its README for
//! provenance). They are read at test time, never embedded, because some may not be shipped.

use serde_json::{Value, json};

use super::*;
use crate::intake::Severity;

pub(super) fn sample(path: &str) -> String {
    let full = format!(
        "{}/../../../shared/samples/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

pub(super) fn json_sample(path: &str) -> Value {
    serde_json::from_str(&sample(path)).unwrap()
}

/// SEKOIA test wrappers hold the raw event as a JSON string in `input.message`.
pub(super) fn sekoia(name: &str) -> Value {
    let wrapper = json_sample(&format!("SEKOIA-IO__intake-formats/{name}"));
    serde_json::from_str(wrapper["input"]["message"].as_str().unwrap()).unwrap()
}

/// Detects the format, checks it is `want`, and converts.
pub(super) fn parsed(value: Value, want: Format) -> Vec<Detection> {
    assert_eq!(detect_format(&value), Some(want));
    parse_any(value).unwrap()
}

pub(super) fn only(value: Value, want: Format) -> Detection {
    let mut ds = parsed(value, want);
    assert_eq!(ds.len(), 1);
    ds.remove(0)
}

pub(super) fn at(d: &Detection) -> String {
    d.observed_at.to_rfc3339()
}

pub(super) fn upn(d: &Detection) -> Option<&str> {
    d.user.as_ref()?.upn.as_deref()
}

pub(super) fn ip(text: &str) -> Option<std::net::IpAddr> {
    Some(text.parse().unwrap())
}

#[path = "tests_darktrace.rs"]
mod darktrace;

#[test]
fn format_names_round_trip() {
    for f in Format::ALL {
        assert_eq!(Format::parse(f.name()), Some(f));
    }
    assert_eq!(Format::parse("Graph-Alert"), Some(Format::GraphAlert));
    assert_eq!(Format::parse("splunk"), None);
}

#[test]
fn graph_alert_atypical_travel() {
    let d = only(
        json_sample(
            "SumoLogic__sumologic-documentation/microsoft-graph-security-v2.md.sample-alert.json",
        ),
        Format::GraphAlert,
    );
    assert_eq!(d.id, "adf3a5c9bc83f5cfd39fd01df4845a64d36f0d4481");
    assert_eq!(d.source, "graph/azureAdIdentityProtection");
    assert_eq!(d.name, "Atypical travel");
    assert_eq!(at(&d), "2023-07-03T18:53:26.423557700+00:00");
    assert_eq!(d.severity, Some(Severity::High));
    let user = d.user.as_ref().unwrap();
    assert_eq!(user.upn.as_deref(), Some("danny@xyz.com"));
    assert_eq!(
        user.id.as_deref(),
        Some("f5e829f5-4b1f-4fcf-847a-1c234c1b3b82")
    );
    // The malicious address beats the suspicious one; both are kept.
    assert_eq!((d.ip, d.country.as_deref()), (ip("12.26.0.42"), Some("US")));
    assert_eq!(d.details["ips"].as_array().unwrap().len(), 2);
    assert_eq!(d.details["category"], "InitialAccess");
    assert_eq!(d.details["detector_id"], "ImpossibleTravel");
    assert_eq!(d.details["mitre"], json!(["T1078", "T1078.004"]));
    assert_eq!(
        d.details["links"]["incident"],
        "https://security.microsoft.com/incidents/16?tid=3adb963c-8e61-48e8-a06d-6dbb0dacea39"
    );
    // The placeholder device evidence ("String", "Integer") does not get in the way.
    assert!(d.details.get("compromised_devices").is_none());
    assert_eq!(d.details["raw"]["incidentId"], "16");
}

#[test]
fn graph_alert_with_malformed_time_is_rejected() {
    let value = json_sample(
        "SumoLogic__sumologic-documentation/azure-security-microsoft-entra-id-protection.md.sample-alert.json",
    );
    assert_eq!(detect_format(&value), Some(Format::GraphAlert));
    let err = parse_any(value).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "field `firstActivityDateTime`: `2025-09-18T15:14:17+0530872Z` is not an RFC 3339 timestamp"
        ),
        "{err}"
    );
}

#[test]
fn graph_alert_mde_from_a_list_response() {
    let alert = json_sample("elastic__integrations/test-alert.log");
    let d = only(alert.clone(), Format::GraphAlert);
    assert_eq!(d.id, "da637551227677560813_-961444813");
    assert_eq!(d.source, "graph/microsoftDefenderForEndpoint");
    assert_eq!(d.name, "Suspicious execution of hidden file");
    assert_eq!(at(&d), "2021-04-26T07:45:50.116+00:00");
    assert_eq!(d.severity, Some(Severity::Low));
    // Only SYSTEM runs the process: no user evidence, so no account to act on.
    assert_eq!(d.user, None);
    assert_eq!(d.ip, None);
    assert_eq!(d.details["category"], "DefenseEvasion");
    assert_eq!(d.details["mitre"], json!(["T1564.001"]));
    assert_eq!(d.details["compromised_devices"], json!(["tempDns"]));
    // A Graph list page holds several alerts.
    let page = json!({"@odata.context": "…/alerts_v2", "value": [alert.clone(), alert]});
    assert_eq!(parsed(page, Format::GraphAlert).len(), 2);
}

#[test]
fn entra_risk_detection_anonymized_ip() {
    let value = json_sample("elastic__integrations/test-identity-protection-detection-ip.log");
    let d = only(value, Format::EntraRiskDetection);
    assert_eq!(
        d.id,
        "a71f4c0d3b6e4f9a8c2d5e7b1a3f6c9d2e4b7a1c5d8f0b3e6a9c2d5f8b1e4a7c"
    );
    assert_eq!(
        (d.source.as_str(), d.name.as_str()),
        ("entra", "Anonymous IP address")
    );
    assert_eq!(at(&d), "2022-08-22T18:05:06.133+00:00");
    assert_eq!(d.severity, Some(Severity::High));
    assert_eq!(
        upn(&d),
        Some("joe.danger@mauriziobrancaoutlook.onmicrosoft.com")
    );
    assert_eq!(
        d.user.as_ref().unwrap().id.as_deref(),
        Some("51e26eae-d07b-44e5-bb0b-249f49569a8c")
    );
    assert_eq!(
        (d.ip, d.country.as_deref()),
        (ip("67.43.156.42"), Some("DE"))
    );
    assert_eq!(
        d.user_agent.as_deref(),
        Some("Mozilla/5.0 (Windows NT 10.0; rv:91.0) Gecko/20100101 Firefox/91.0")
    );
    assert_eq!(d.details["risk_event_type"], "anonymizedIPAddress");
    assert_eq!(d.details["risk_state"], "atRisk");
}

#[test]
fn entra_risk_detection_anonymized_user_is_kept_aside() {
    let d = only(
        sekoia("user_risk_detection.json"),
        Format::EntraRiskDetection,
    );
    assert_eq!(d.name, "Unfamiliar sign-in properties");
    assert_eq!(at(&d), "2022-03-24T14:40:04.234+00:00");
    assert_eq!(d.severity, Some(Severity::Low));
    assert_eq!(d.user, None);
    assert_eq!(d.details["unresolved_user"]["upn"], "ANONYMIZED");
    assert_eq!((d.ip, d.country.as_deref()), (ip("1.2.3.4"), Some("FR")));
    assert_eq!(d.details["risk_state"], "dismissed");
    assert!(d.user_agent.unwrap().starts_with("Mozilla/5.0 (iPhone"));
}

#[test]
fn entra_diagnostic_time_in_us_locale_is_the_fallback() {
    let mut value = json_sample("elastic__integrations/test-identity-protection-detection-ip.log");
    let props = value["properties"].as_object_mut().unwrap();
    props.remove("activityDateTime");
    props.remove("detectedDateTime");
    let d = only(value, Format::EntraRiskDetection);
    assert_eq!(at(&d), "2022-08-22T18:41:02+00:00");
}

#[test]
fn entra_sign_ins_from_diagnostics() {
    let text = sample("elastic__integrations/test-signinlogs-raw.log");
    let ds: Vec<Detection> = text
        .lines()
        .flat_map(|line| parsed(serde_json::from_str(line).unwrap(), Format::EntraSignIn))
        .collect();
    assert_eq!(ds.len(), 5);
    let d = &ds[0];
    assert_eq!(d.id, "8a4de8b5-095c-47d0-a96f-a75130c61d53");
    assert_eq!(d.name, "Sign-in activity");
    assert_eq!(at(d), "2019-10-18T09:45:48.072989300+00:00");
    assert_eq!(d.severity, None);
    assert_eq!(upn(d), Some("test@elastic.co"));
    assert_eq!(
        (d.ip, d.country.as_deref()),
        (ip("81.2.69.144"), Some("FR"))
    );
    assert_eq!(d.client_app.as_deref(), Some("Browser"));
    assert_eq!(d.details["result"], "failure");
    assert_eq!(d.details["error_code"], 50140);
    assert_eq!(d.details["kind"], "failed_signin");
    // A GUID in `userPrincipalName` (service principal) is not a UPN; the object id still is.
    assert_eq!(upn(&ds[1]), None);
    assert_eq!(
        ds[1].user.as_ref().unwrap().id.as_deref(),
        Some("8a4de8b5-095c-47d0-a96f-a75130c61d53")
    );
    assert_eq!(ds[1].details["category"], "NonInteractiveUserSignInLogs");
}

#[test]
fn entra_sign_in_with_asn_and_legacy_client() {
    let d = only(sekoia("sign-in_activity.json"), Format::EntraSignIn);
    assert_eq!(d.id, "77777777-7777-7777-7777-777777777777");
    assert_eq!(at(&d), "2022-03-30T14:52:21.706218600+00:00");
    assert_eq!(
        (d.ip, d.asn, d.country.as_deref()),
        (ip("1.2.3.4"), Some(48744), Some("FR"))
    );
    assert_eq!(d.details["error_code"], 50158);
    assert_eq!(d.user, None);

    let d = only(sekoia("empty_geolocalisation.json"), Format::EntraSignIn);
    assert_eq!(d.client_app.as_deref(), Some("Exchange Web Services"));
    assert_eq!(d.country, None);
    assert_eq!(d.ip, ip("2001:db8:85a3::8a2e:370:7334"));
    assert_eq!(d.details["legacy_auth"], true);
    assert_eq!(d.details["kind"], "legacy_auth");
    assert_eq!(d.details["result"], "success");
    assert_eq!(d.details["authentication_protocol"], "ropc");
}

#[test]
fn entra_sign_in_from_graph() {
    let d = only(sekoia("test_signin.json"), Format::EntraSignIn);
    assert_eq!(d.id, "00000000-0000-0000-0000-000000000000");
    assert_eq!(at(&d), "2023-12-01T16:03:35+00:00");
    assert_eq!((d.ip, d.country.as_deref()), (ip("192.0.2.1"), Some("US")));
    assert_eq!(d.details["app"], "Graph explorer");
    assert_eq!(d.details["result"], "success");
}

#[test]
fn audit_new_inbox_rule() {
    let d = only(sekoia("inbox_rule.json"), Format::AuditInboxRule);
    assert_eq!(d.id, "9cf2a1f7-90bc-494b-2784-08db5c691133");
    assert_eq!(
        (d.source.as_str(), d.name.as_str()),
        ("m365-audit", "New-InboxRule")
    );
    assert_eq!(at(&d), "2023-05-24T15:10:53+00:00");
    assert_eq!(d.severity, None);
    assert_eq!(d.ip, ip("1.2.3.4"));
    // `UserId` is an anonymized short id here: no account, but the detection stands.
    assert_eq!(d.user, None);
    let rule = &d.details["rule"];
    assert_eq!(rule["name"], "RULE_NAME");
    assert_eq!(rule["forward_to"], json!(["bob@example.org"]));
    assert_eq!(rule["redirect_to"], json!(["joe@example.org"]));
    assert_eq!(rule["forward"], true);
    assert_eq!(rule["delete"], true);
    assert_eq!(rule["mark_as_read"], true);
    assert_eq!(rule["stop_processing"], true);
    assert_eq!(rule["move_to_folder"], "Historique des conversations");
    assert_eq!(rule["conditions"]["From"], "alice@example.org");
}

#[test]
fn audit_update_inbox_rules_with_rule_actions_string() {
    let d = only(
        sekoia("operation_properties_01.json"),
        Format::AuditInboxRule,
    );
    assert_eq!(d.name, "UpdateInboxRules");
    assert_eq!(at(&d), "2024-10-28T10:34:13+00:00");
    assert_eq!(upn(&d), Some("owner@mail.fr"));
    assert_eq!(d.ip, ip("1.2.3.4"));
    assert_eq!(d.client_app.as_deref(), Some("Client=xxxx-xxx-xxx-xxxx"));
    let rule = &d.details["rule"];
    assert_eq!(
        rule["forward_to"],
        json!([
            "john.doe@mail.fr",
            "user@email.fr",
            "asmithee@mailbox.fr",
            "user.name@mail.fr"
        ])
    );
    assert_eq!(rule["operation"], "ModifyMailboxRule");
    assert!(rule.get("name").is_none());
    assert!(rule.get("delete").is_none());
}

#[test]
fn audit_mcas_impossible_travel() {
    let d = only(sekoia("mcas_alert.json"), Format::AuditInboxRule);
    assert_eq!(d.name, "Impossible travel activity");
    assert_eq!(at(&d), "2023-04-19T12:07:08+00:00");
    assert_eq!(d.severity, Some(Severity::Medium));
    assert_eq!(d.ip, ip("3deb:3c5e:59d0:53ad:1115:d3d7:58da:47d6"));
    assert_eq!(d.details["ips"].as_array().unwrap().len(), 2);
    assert_eq!(
        d.details["links"]["alert"],
        "https://example.portal.cloudappsecurity.com/#/alerts/111111111111111111111111"
    );
}

#[test]
fn sentinel_office_activity_csv() {
    let rows = read_csv(&sample(
        "Azure__Azure-Sentinel/office_activity_inbox_rule.csv",
    ))
    .unwrap();
    assert_eq!(rows.len(), 2);
    let ds: Vec<Detection> = rows
        .into_iter()
        .map(|row| only(row, Format::AuditInboxRule))
        .collect();
    let d = &ds[0];
    assert_eq!(d.id, "d28096ba-03b1-4c2a-1503-08d908826606");
    assert_eq!(d.name, "New-InboxRule");
    assert_eq!(at(d), "2021-04-26T07:17:10+00:00");
    assert_eq!(upn(d), Some("AdeleV@contoso.OnMicrosoft.com"));
    assert_eq!(d.ip, ip("2a01:110:8068:7:9bf8:aa87:e00a:5f1f"));
    assert_eq!(d.details["rule"]["name"], "rule2");
    assert_eq!(d.details["rule"]["move_to_folder"], "Junk Email");
    assert_eq!(d.details["rule"]["forward"], false);
    assert_eq!(ds[1].details["rule"]["delete"], true);
    assert_eq!(
        ds[1].details["rule"]["conditions"]["BodyContainsWords"],
        "covid-19"
    );
}

#[test]
fn generic_and_unknown_payloads() {
    let d = only(
        json!({"id": "g1", "name": "x", "observed_at": "2024-01-01T00:00:00Z"}),
        Format::Generic,
    );
    assert_eq!(d.source, "generic");
    let err = parse_any(json!({"hello": "world"}))
        .unwrap_err()
        .to_string();
    assert!(err.contains("unrecognized detection format"), "{err}");
    assert_eq!(parse_any(json!({"value": []})).unwrap(), vec![]);
    assert_eq!(
        parse_any(json!("text")).unwrap_err(),
        DetectionError::NotAnObject("a string")
    );
}

#[test]
fn a_bad_element_of_a_list_is_named_by_index() {
    let good = json!({"pbid": 1, "time": 1_674_522_265_000_i64, "model": {"name": "A::B"}});
    let bad = json!({"pbid": 2, "time": "yesterday", "model": {"name": "A::B"}});
    let err = to_detections(Format::DarktraceBreach, json!([good, bad]))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("field `[1].time`: `yesterday`"), "{err}");
}
