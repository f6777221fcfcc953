//! Microsoft Graph `security/alerts_v2` alerts (Defender XDR: Entra ID Protection, Defender for
//! Cloud Apps, Defender for Office 365, Defender for Endpoint).

use serde_json::{Map, Value, json};

use super::common::{
    array, detection, first_text, get, iso2, put, required, severity, text, time_at, user_ref,
};
use crate::intake::{Detection, DetectionError, UserRef, parse_ip_text};

const USER: &str = "#microsoft.graph.security.userEvidence";
const MAILBOX: &str = "#microsoft.graph.security.mailboxEvidence";
const IP: &str = "#microsoft.graph.security.ipEvidence";
const APP: &str = "#microsoft.graph.security.cloudApplicationEvidence";
const DEVICE: &str = "#microsoft.graph.security.deviceEvidence";

pub fn parse(value: Value) -> Result<Detection, DetectionError> {
    let v = &value;
    let id = required(text(v, &["id"]), "id")?;
    let name = required(text(v, &["title"]), "title")?;
    let observed_at = time_at(
        v,
        &[
            ("firstActivityDateTime", &["firstActivityDateTime"]),
            ("createdDateTime", &["createdDateTime"]),
        ],
    )?;
    let source = match text(v, &["serviceSource"]) {
        Some(service) => format!("graph/{service}"),
        None => "graph".to_string(),
    };
    let mut d = detection(id, source, name, observed_at);
    let details = &mut d.details;
    d.severity = severity(text(v, &["severity"]), details);

    let evidence = array(v, &["evidence"]);
    let of_type = |t: &'static str| {
        evidence
            .iter()
            .filter(move |e| get(e, &["@odata.type"]).and_then(Value::as_str) == Some(t))
    };
    // The compromised account first, then any other user, then a mailbox.
    let users: Vec<&Value> = of_type(USER)
        .filter(|e| has_role(e, "compromised"))
        .chain(of_type(USER).filter(|e| !has_role(e, "compromised")))
        .chain(of_type(MAILBOX))
        .collect();
    if let Some(first) = users.first() {
        d.user = evidence_user(first, details);
    }
    put(
        details,
        "users",
        Value::Array(users.iter().map(|e| account_summary(e)).collect()),
    );

    // The most incriminating address first: attacker role, then malicious, suspicious, the rest.
    let mut ips: Vec<&Value> = of_type(IP).collect();
    ips.sort_by_key(|e| ip_rank(e));
    if let Some(best) = ips.iter().find(|e| ip_of(e).is_some()) {
        d.ip = ip_of(best);
        d.country = iso2(text(best, &["countryLetterCode"]));
    }
    let ip_list = ips
        .iter()
        .map(|e| {
            json!({"ip": text(e, &["ipAddress"]), "country": text(e, &["countryLetterCode"]),
                   "verdict": text(e, &["verdict"])})
        })
        .collect();
    put(details, "ips", Value::Array(ip_list));
    let apps = of_type(APP)
        .filter_map(|e| first_text(e, &[&["displayName"], &["appId"]]))
        .map(Value::String)
        .collect();
    put(details, "apps", Value::Array(apps));
    let devices = of_type(DEVICE)
        .filter(|e| has_role(e, "compromised"))
        .filter_map(|e| text(e, &["deviceDnsName"]))
        .map(Value::String)
        .collect();
    put(details, "compromised_devices", Value::Array(devices));

    for (key, field) in [
        ("category", "category"),
        ("detector_id", "detectorId"),
        ("detection_source", "detectionSource"),
        ("service_source", "serviceSource"),
        ("status", "status"),
        ("classification", "classification"),
        ("determination", "determination"),
        ("incident_id", "incidentId"),
        ("provider_alert_id", "providerAlertId"),
        ("description", "description"),
        ("reported_at", "createdDateTime"),
    ] {
        put(details, key, json!(text(v, &[field])));
    }
    put(
        details,
        "mitre",
        get(v, &["mitreTechniques"]).cloned().unwrap_or_default(),
    );
    let mut links = Map::new();
    for (key, field) in [("alert", "alertWebUrl"), ("incident", "incidentWebUrl")] {
        put(&mut links, key, json!(text(v, &[field])));
    }
    put(details, "links", Value::Object(links));
    d.details.insert("raw".into(), value);
    Ok(d)
}

fn has_role(evidence: &Value, role: &str) -> bool {
    array(evidence, &["roles"])
        .iter()
        .any(|r| r.as_str().is_some_and(|r| r.eq_ignore_ascii_case(role)))
}

fn ip_of(evidence: &Value) -> Option<std::net::IpAddr> {
    text(evidence, &["ipAddress"]).and_then(|t| parse_ip_text(&t))
}

fn ip_rank(evidence: &Value) -> u8 {
    let verdict = text(evidence, &["verdict"]).unwrap_or_default();
    match () {
        _ if has_role(evidence, "attacker") => 0,
        _ if verdict.eq_ignore_ascii_case("malicious") => 1,
        _ if verdict.eq_ignore_ascii_case("suspicious") => 2,
        _ if verdict.eq_ignore_ascii_case("compromised") => 3,
        _ => 4,
    }
}

/// `userAccount` of a user or mailbox evidence, as a UPN and an Entra object id.
fn evidence_user(evidence: &Value, details: &mut Map<String, Value>) -> Option<UserRef> {
    let account = get(evidence, &["userAccount"]).unwrap_or(&Value::Null);
    let upn = text(account, &["userPrincipalName"])
        .or_else(|| {
            let name = text(account, &["accountName"])?;
            let domain = text(account, &["domainName"]).filter(|d| d.contains('.'))?;
            Some(format!("{name}@{domain}"))
        })
        .or_else(|| text(evidence, &["primaryAddress"]));
    user_ref(upn, text(account, &["azureAdUserId"]), details)
}

fn account_summary(evidence: &Value) -> Value {
    let account = get(evidence, &["userAccount"]).unwrap_or(&Value::Null);
    json!({
        "upn": text(account, &["userPrincipalName"]).or_else(|| text(evidence, &["primaryAddress"])),
        "id": text(account, &["azureAdUserId"]),
        "account_name": text(account, &["accountName"]),
        "sid": text(account, &["userSid"]),
        "display_name": text(account, &["displayName"]).or_else(|| text(evidence, &["displayName"])),
        "roles": get(evidence, &["roles"]).cloned().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::Severity;

    fn alert(extra: Value) -> Value {
        let mut base = json!({
            "id": "a1", "title": "Suspicious inbox forwarding", "severity": "medium",
            "serviceSource": "microsoftDefenderForOffice365",
            "firstActivityDateTime": "2024-01-02T03:04:05Z",
        });
        base.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        base
    }

    #[test]
    fn mailbox_evidence_and_unknown_severity() {
        let d = parse(alert(json!({
            "severity": "unknownFutureValue",
            "evidence": [{"@odata.type": MAILBOX, "primaryAddress": "a.silva@contoso.com",
                          "userAccount": {"azureAdUserId": "6f1c1a2b-0000-4000-8000-000000000001"}}]
        })))
        .unwrap();
        assert_eq!(d.severity, None);
        assert_eq!(d.details["severity_raw"], "unknownFutureValue");
        let user = d.user.unwrap();
        assert_eq!(user.upn.as_deref(), Some("a.silva@contoso.com"));
        assert_eq!(
            user.id.as_deref(),
            Some("6f1c1a2b-0000-4000-8000-000000000001")
        );
        assert_eq!(d.source, "graph/microsoftDefenderForOffice365");
    }

    #[test]
    fn compromised_user_wins_over_other_users() {
        let d = parse(alert(json!({"evidence": [
            {"@odata.type": USER, "roles": [], "userAccount": {"userPrincipalName": "admin@contoso.com"}},
            {"@odata.type": USER, "roles": ["compromised"],
             "userAccount": {"accountName": "bob", "domainName": "contoso.com"}},
        ]})))
        .unwrap();
        assert_eq!(d.user.unwrap().upn.as_deref(), Some("bob@contoso.com"));
        assert_eq!(d.severity, Some(Severity::Medium));
        assert_eq!(d.details["users"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn missing_title_is_named() {
        let mut v = alert(json!({}));
        v.as_object_mut().unwrap().remove("title");
        assert_eq!(
            parse(v).unwrap_err().to_string(),
            "missing required field `title`"
        );
    }
}
