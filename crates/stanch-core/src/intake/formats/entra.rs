//! Entra ID: Identity Protection risk detections (Graph `identityProtection/riskDetections` or the
//! `UserRiskEvents` diagnostic category) and sign-ins (Graph `auditLogs/signIns` or the
//! `*SignInLogs` diagnostic categories). Diagnostic records wrap the Graph object in `properties`.

use serde_json::{Value, json};

use super::common::{
    array, detection, first_text, get, iso2, put, required, severity, text, time_at, user_ref,
};
use crate::intake::{Detection, DetectionError, Severity, parse_ip_text};

/// The client apps that use basic authentication (Entra's `clientAppUsed` values).
pub const LEGACY_CLIENT_APPS: [&str; 13] = [
    "Authenticated SMTP",
    "AutoDiscover",
    "Exchange ActiveSync",
    "Exchange Online PowerShell",
    "Exchange Web Services",
    "IMAP4",
    "MAPI Over HTTP",
    "Offline Address Book",
    "Outlook Anywhere (RPC over HTTP)",
    "Outlook Service",
    "POP3",
    "Reporting Web Services",
    "Other clients",
];

/// The Graph object: `properties` of a diagnostic record, or the payload itself.
fn inner(value: &Value) -> &Value {
    match get(value, &["properties"]) {
        Some(p) if p.is_object() && (p.get("id").is_some() || value.get("category").is_some()) => p,
        _ => value,
    }
}

pub fn parse_risk_detection(value: Value) -> Result<Detection, DetectionError> {
    let p = inner(&value);
    let id = required(text(p, &["id"]), "id")?;
    let event_type = required(
        first_text(p, &[&["riskEventType"], &["riskType"]]),
        "riskEventType",
    )?;
    let observed_at = time_at(
        p,
        &[
            ("activityDateTime", &["activityDateTime"]),
            ("detectedDateTime", &["detectedDateTime"]),
        ],
    )
    .or_else(|e| time_at(&value, &[("time", &["time"])]).map_err(|_| e))?;
    let name = risk_title(&event_type).map_or_else(|| event_type.clone(), str::to_string);
    let mut d = detection(id, "entra".into(), name, observed_at);
    let details = &mut d.details;
    d.severity = risk_level(text(p, &["riskLevel"]), details);
    d.user = user_ref(
        text(p, &["userPrincipalName"]),
        text(p, &["userId"]),
        details,
    );
    d.ip = text(p, &["ipAddress"]).and_then(|t| parse_ip_text(&t));
    d.country = iso2(text(p, &["location", "countryOrRegion"]));
    // `additionalInfo` is a JSON string of {Key, Value} pairs; the user agent is one of them.
    if let Some(info) = text(p, &["additionalInfo"])
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .or_else(|| {
            get(p, &["additionalInfo"])
                .filter(|v| v.is_array())
                .cloned()
        })
    {
        d.user_agent = array(&info, &[])
            .iter()
            .find(|kv| text(kv, &["Key"]).as_deref() == Some("userAgent"))
            .and_then(|kv| text(kv, &["Value"]));
    }
    for (key, path) in [
        ("risk_event_type", &["riskEventType"][..]),
        ("risk_state", &["riskState"]),
        ("risk_detail", &["riskDetail"]),
        ("risk_level", &["riskLevel"]),
        ("detection_source", &["source"]),
        ("detection_timing", &["detectionTimingType"]),
        ("activity", &["activity"]),
        ("request_id", &["requestId"]),
        ("correlation_id", &["correlationId"]),
        ("reported_at", &["detectedDateTime"]),
        ("city", &["location", "city"]),
        ("user_display_name", &["userDisplayName"]),
    ] {
        put(details, key, json!(text(p, path)));
    }
    d.details.insert("raw".into(), value);
    Ok(d)
}

pub fn parse_sign_in(value: Value) -> Result<Detection, DetectionError> {
    let p = inner(&value);
    let id = required(text(p, &["id"]), "id")?;
    let observed_at = time_at(p, &[("createdDateTime", &["createdDateTime"])])
        .or_else(|e| time_at(&value, &[("time", &["time"])]).map_err(|_| e))?;
    let mut d = detection(id, "entra".into(), "Sign-in activity".into(), observed_at);
    let details = &mut d.details;
    // The higher of the real-time and the aggregated risk; `none`/`hidden` mean no severity.
    let levels = [
        text(p, &["riskLevelDuringSignIn"]),
        text(p, &["riskLevelAggregated"]),
    ];
    d.severity = levels
        .into_iter()
        .filter_map(|l| risk_level(l, details))
        .max();
    d.user = user_ref(
        text(p, &["userPrincipalName"]),
        text(p, &["userId"]),
        details,
    );
    d.ip = text(p, &["ipAddress"])
        .or_else(|| text(&value, &["callerIpAddress"]))
        .and_then(|t| parse_ip_text(&t));
    d.country = iso2(text(p, &["location", "countryOrRegion"]));
    d.asn = get(p, &["autonomousSystemNumber"])
        .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
        .and_then(|n| u32::try_from(n).ok());
    d.user_agent = text(p, &["userAgent"]);
    d.client_app = text(p, &["clientAppUsed"]);

    let error_code = get(p, &["status", "errorCode"])
        .and_then(|c| c.as_i64().or_else(|| c.as_str()?.parse().ok()))
        .or_else(|| text(&value, &["resultType"])?.parse().ok());
    if let Some(code) = error_code {
        details.insert(
            "result".into(),
            json!(if code == 0 { "success" } else { "failure" }),
        );
        details.insert("error_code".into(), json!(code));
    }
    let protocol = text(p, &["authenticationProtocol"]);
    let legacy = d
        .client_app
        .as_deref()
        .is_some_and(|app| LEGACY_CLIENT_APPS.contains(&app))
        || protocol.as_deref() == Some("ropc");
    details.insert("legacy_auth".into(), json!(legacy));
    let kind = if legacy {
        "legacy_auth"
    } else if d.severity.is_some() {
        "risky_signin"
    } else if error_code.is_some_and(|c| c != 0) {
        "failed_signin"
    } else {
        "signin"
    };
    details.insert("kind".into(), json!(kind));
    for (key, path) in [
        ("failure_reason", &["status", "failureReason"][..]),
        ("app", &["appDisplayName"]),
        ("resource", &["resourceDisplayName"]),
        ("authentication_protocol", &["authenticationProtocol"]),
        ("conditional_access_status", &["conditionalAccessStatus"]),
        ("correlation_id", &["correlationId"]),
        ("city", &["location", "city"]),
        ("user_display_name", &["userDisplayName"]),
        ("risk_state", &["riskState"]),
    ] {
        put(details, key, json!(text(p, path)));
    }
    put(details, "category", json!(text(&value, &["category"])));
    put(
        details,
        "risk_event_types",
        get(p, &["riskEventTypes_v2"])
            .or_else(|| get(p, &["riskEventTypes"]))
            .cloned()
            .unwrap_or_default(),
    );
    put(
        details,
        "device",
        get(p, &["deviceDetail"]).cloned().unwrap_or_default(),
    );
    if let Some(interactive) = get(p, &["isInteractive"]).and_then(Value::as_bool) {
        details.insert("interactive".into(), json!(interactive));
    }
    d.details.insert("raw".into(), value);
    Ok(d)
}

/// `riskLevel` low/medium/high; `none` and `hidden` (not licensed to see) carry no severity.
fn risk_level(
    raw: Option<String>,
    details: &mut serde_json::Map<String, Value>,
) -> Option<Severity> {
    match raw.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("none") | None => None,
        Some("hidden") => {
            details.insert("risk_level_hidden".into(), json!(true));
            None
        }
        _ => severity(raw, details),
    }
}

/// The portal title of a `riskEventType`, which playbooks match on ("Atypical travel").
fn risk_title(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        "unlikelyTravel" => "Atypical travel",
        "mcasImpossibleTravel" => "Impossible travel",
        "anonymizedIPAddress" => "Anonymous IP address",
        "unfamiliarFeatures" => "Unfamiliar sign-in properties",
        "maliciousIPAddress" => "Malicious IP address",
        "suspiciousIPAddress" => "Suspicious IP address",
        "newCountry" => "New country",
        "passwordSpray" => "Password spray",
        "anomalousToken" => "Anomalous token",
        "tokenIssuerAnomaly" => "Token issuer anomaly",
        "leakedCredentials" => "Leaked credentials",
        "mcasSuspiciousInboxManipulationRules" => "Suspicious inbox manipulation rules",
        "suspiciousInboxForwarding" => "Suspicious inbox forwarding",
        "investigationsThreatIntelligence" => "Microsoft Entra threat intelligence",
        "adminConfirmedUserCompromised" => "Admin confirmed user compromised",
        "suspiciousBrowser" => "Suspicious browser",
        "generic" => "Additional risk detected",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_risk_detection_with_unknown_values() {
        let d = parse_risk_detection(json!({
            "id": "r1", "riskEventType": "brandNewDetection", "riskLevel": "extreme",
            "activityDateTime": "2024-05-01T10:00:00Z",
            "userPrincipalName": "b.jones@contoso.com", "userId": "6f1c1a2b-0000-4000-8000-000000000002",
            "ipAddress": "203.0.113.9", "location": {"countryOrRegion": "NG"}
        }))
        .unwrap();
        assert_eq!(d.name, "brandNewDetection");
        assert_eq!(d.severity, None);
        assert_eq!(d.details["severity_raw"], "extreme");
        assert_eq!(d.country.as_deref(), Some("NG"));
        assert_eq!(d.user.unwrap().upn.as_deref(), Some("b.jones@contoso.com"));
    }

    #[test]
    fn hidden_risk_level_is_no_severity() {
        let d = parse_risk_detection(json!({
            "id": "r2", "riskEventType": "generic", "riskLevel": "hidden",
            "activityDateTime": "2024-05-01T10:00:00Z"
        }))
        .unwrap();
        assert_eq!(d.severity, None);
        assert_eq!(d.name, "Additional risk detected");
        assert_eq!(d.details["risk_level_hidden"], true);
    }

    #[test]
    fn risky_sign_in_takes_the_higher_level() {
        let d = parse_sign_in(json!({
            "id": "s1", "createdDateTime": "2024-05-01T10:00:00Z",
            "riskLevelDuringSignIn": "medium", "riskLevelAggregated": "high",
            "status": {"errorCode": 0}, "clientAppUsed": "Browser"
        }))
        .unwrap();
        assert_eq!(d.severity, Some(Severity::High));
        assert_eq!(d.details["kind"], "risky_signin");
        assert_eq!(d.details["result"], "success");
    }
}
