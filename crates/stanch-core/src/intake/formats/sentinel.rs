//! Microsoft Sentinel: the Logic App incident trigger body (`{objectSchemaType, object{…}}`), an
//! incident resource from the REST API (`{id, name, properties{incidentNumber, …}}`, or just its
//! `properties`), and a `SecurityAlert` table row (PascalCase, `Entities` as a JSON string).
//!
//! An incident about several accounts yields one detection per account, so that each account gets
//! its own response; their ids are `<incident>/<account>`.

use serde_json::{Map, Value, json};

use super::common::{
    array, detection, first_text, get, iso2, put, required, severity, text, time_at, user_ref,
};
use crate::intake::{Detection, DetectionError, UserRef, parse_ip_text};

pub fn parse(value: Value) -> Result<Vec<Detection>, DetectionError> {
    if value.get("SystemAlertId").is_some() {
        return security_alert(value).map(|d| vec![d]);
    }
    let object = get(&value, &["object"]).unwrap_or(&value);
    let props = get(object, &["properties"]).unwrap_or(object);
    let id = required(
        first_text(object, &[&["name"], &["properties", "incidentNumber"]])
            .or_else(|| text(props, &["incidentNumber"])),
        "object.name",
    )?;
    let name = required(text(props, &["title"]), "properties.title")?;
    let observed_at = time_at(
        props,
        &[
            ("properties.firstActivityTimeUtc", &["firstActivityTimeUtc"]),
            ("properties.createdTimeUtc", &["createdTimeUtc"]),
        ],
    )?;
    let mut base = detection(id, "sentinel".into(), name, observed_at);
    let details = &mut base.details;
    base.severity = severity(text(props, &["severity"]), details);
    let entities: Vec<Entity> = array(props, &["relatedEntities"])
        .iter()
        .chain(
            array(props, &["alerts"])
                .iter()
                .flat_map(|a| array(a, &["properties", "relatedEntities"])),
        )
        .filter_map(Entity::of)
        .collect();
    apply_ip(&mut base, &entities);
    let details = &mut base.details;
    for (key, path) in [
        ("incident_number", &["incidentNumber"][..]),
        ("status", &["status"]),
        ("classification", &["classification"]),
        ("provider_incident_id", &["providerIncidentId"]),
        ("description", &["description"]),
        ("reported_at", &["createdTimeUtc"]),
    ] {
        put(details, key, json!(text(props, path)));
    }
    put(details, "arm_id", json!(text(object, &["id"])));
    put(details, "event", json!(text(&value, &["objectEventType"])));
    let alerts: Vec<Value> = array(props, &["alerts"])
        .iter()
        .filter_map(|a| {
            first_text(
                a,
                &[&["properties", "alertDisplayName"], &["alertDisplayName"]],
            )
        })
        .map(Value::String)
        .collect();
    put(details, "alerts", Value::Array(alerts));
    for (key, field) in [
        ("products", "alertProductNames"),
        ("tactics", "tactics"),
        ("techniques", "techniques"),
    ] {
        put(
            details,
            key,
            get(props, &["additionalData", field])
                .cloned()
                .unwrap_or_default(),
        );
    }
    put(
        details,
        "links",
        json!(text(props, &["incidentUrl"]).map(|u| json!({ "incident": u }))),
    );
    base.details.insert("raw".into(), value.clone());
    Ok(per_account(base, &entities))
}

/// One `SecurityAlert` row.
fn security_alert(value: Value) -> Result<Detection, DetectionError> {
    let v = &value;
    let id = required(text(v, &["SystemAlertId"]), "SystemAlertId")?;
    let name = required(
        first_text(v, &[&["AlertName"], &["DisplayName"]]),
        "AlertName",
    )?;
    let observed_at = time_at(
        v,
        &[
            ("StartTime", &["StartTime"]),
            ("StartTime [UTC]", &["StartTime [UTC]"]),
            ("TimeGenerated", &["TimeGenerated"]),
            ("TimeGenerated [UTC]", &["TimeGenerated [UTC]"]),
        ],
    )?;
    let mut d = detection(id, "sentinel".into(), name, observed_at);
    d.severity = severity(text(v, &["AlertSeverity"]), &mut d.details);
    let parsed;
    let list = match get(v, &["Entities"]) {
        Some(Value::String(s)) => {
            parsed = serde_json::from_str::<Value>(s).unwrap_or_default();
            array(&parsed, &[])
        }
        _ => array(v, &["Entities"]),
    };
    let entities: Vec<Entity> = list.iter().filter_map(Entity::of).collect();
    apply_ip(&mut d, &entities);
    if let Some(first) = entities.iter().find(|e| e.is_account()) {
        d.user = first.user(&mut d.details);
    }
    for (key, field) in [
        ("product", "ProductName"),
        ("provider", "ProviderName"),
        ("tactics", "Tactics"),
        ("techniques", "Techniques"),
        ("status", "Status"),
        ("description", "Description"),
    ] {
        put(&mut d.details, key, json!(text(v, &[field])));
    }
    put(
        &mut d.details,
        "links",
        json!(text(v, &["AlertLink"]).map(|u| json!({ "alert": u }))),
    );
    d.details.insert("raw".into(), value);
    Ok(d)
}

/// An entity, in either spelling: `{kind, properties{camelCase}}` or `{Type, PascalCase…}`.
struct Entity<'a> {
    kind: String,
    props: &'a Value,
}

impl<'a> Entity<'a> {
    fn of(value: &'a Value) -> Option<Entity<'a>> {
        let kind = first_text(value, &[&["kind"], &["Type"], &["type"]])?.to_ascii_lowercase();
        let props = get(value, &["properties"]).unwrap_or(value);
        Some(Entity { kind, props })
    }

    /// A property by name, whatever its case (`upnSuffix` / `UPNSuffix`).
    fn get(&self, path: &[&str]) -> Option<String> {
        path.iter()
            .try_fold(self.props, |v, key| {
                v.as_object()?
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v)
            })
            .and_then(|v| text(v, &[]))
    }

    fn is_account(&self) -> bool {
        self.kind == "account" || self.kind == "mailbox"
    }

    fn user(&self, details: &mut Map<String, Value>) -> Option<UserRef> {
        let upn = match self.kind.as_str() {
            "mailbox" => self.get(&["mailboxPrimaryAddress"]).or(self.get(&["upn"])),
            _ => self.get(&["userPrincipalName"]).or_else(|| {
                Some(format!(
                    "{}@{}",
                    self.get(&["accountName"]).or(self.get(&["name"]))?,
                    self.get(&["upnSuffix"])?
                ))
            }),
        };
        user_ref(upn, self.get(&["aadUserId"]), details)
    }
}

/// The first IP entity: address, country and ASN.
fn apply_ip(d: &mut Detection, entities: &[Entity]) {
    let ips: Vec<&Entity> = entities.iter().filter(|e| e.kind == "ip").collect();
    if let Some(ip) = ips.first() {
        d.ip = ip.get(&["address"]).and_then(|t| parse_ip_text(&t));
        d.country = iso2(ip.get(&["location", "countryCode"]));
        d.asn = ip
            .get(&["location", "asn"])
            .and_then(|a| super::common::asn(&a));
    }
    let all: Vec<Value> = ips
        .iter()
        .filter_map(|e| e.get(&["address"]))
        .map(Value::String)
        .collect();
    if all.len() > 1 {
        d.details.insert("ips".into(), Value::Array(all));
    }
}

/// One detection per distinct account entity (or the incident as is when it names none).
fn per_account(base: Detection, entities: &[Entity]) -> Vec<Detection> {
    let mut out: Vec<Detection> = Vec::new();
    for entity in entities.iter().filter(|e| e.is_account()) {
        let mut d = base.clone();
        let Some(user) = entity.user(&mut d.details) else {
            continue;
        };
        if out.iter().any(|o| o.user.as_ref() == Some(&user)) {
            continue;
        }
        d.user = Some(user);
        out.push(d);
    }
    if out.len() > 1 {
        for d in &mut out {
            let who = d.user.as_ref().map(ToString::to_string).unwrap_or_default();
            d.id = format!("{}/{who}", d.id);
        }
    }
    if out.is_empty() {
        out.push(base);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::Severity;

    fn trigger(entities: Value) -> Value {
        json!({
            "eventUniqueId": "e1", "objectSchemaType": "Incident", "objectEventType": "Create",
            "object": {"id": "/subscriptions/s/…/incidents/inc-1", "name": "inc-1", "properties": {
                "incidentNumber": 42, "title": "Atypical travel", "severity": "Medium",
                "status": "New", "firstActivityTimeUtc": "2024-03-01T10:00:00Z",
                "createdTimeUtc": "2024-03-01T10:05:00Z",
                "incidentUrl": "https://portal.azure.com/#asset/…/inc-1",
                "additionalData": {"alertProductNames": ["Azure Active Directory Identity Protection"],
                                   "tactics": ["InitialAccess"]},
                "relatedEntities": entities}}
        })
    }

    #[test]
    fn incident_trigger_with_account_and_ip() {
        let ds = parse(trigger(json!([
            {"kind": "Account", "properties": {"accountName": "b.jones", "upnSuffix": "contoso.com",
              "aadUserId": "6f1c1a2b-0000-4000-8000-000000000002"}},
            {"kind": "Ip", "properties": {"address": "203.0.113.7",
              "location": {"countryCode": "NG", "asn": 36924}}}
        ])))
        .unwrap();
        assert_eq!(ds.len(), 1);
        let d = &ds[0];
        assert_eq!(
            (d.id.as_str(), d.name.as_str()),
            ("inc-1", "Atypical travel")
        );
        assert_eq!(d.severity, Some(Severity::Medium));
        assert_eq!(
            d.user.as_ref().unwrap().upn.as_deref(),
            Some("b.jones@contoso.com")
        );
        assert_eq!((d.country.as_deref(), d.asn), (Some("NG"), Some(36924)));
        assert_eq!(d.details["incident_number"], "42");
        assert_eq!(d.details["tactics"], json!(["InitialAccess"]));
    }

    #[test]
    fn one_detection_per_account() {
        let ds = parse(trigger(json!([
            {"kind": "Account", "properties": {"accountName": "a", "upnSuffix": "contoso.com"}},
            {"kind": "Mailbox", "properties": {"mailboxPrimaryAddress": "b@contoso.com"}},
            {"kind": "Account", "properties": {"accountName": "a", "upnSuffix": "contoso.com"}}
        ])))
        .unwrap();
        let ids: Vec<&str> = ds.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["inc-1/a@contoso.com", "inc-1/b@contoso.com"]);
    }

    #[test]
    fn security_alert_row_with_unknown_severity() {
        let d = parse(json!({
            "SystemAlertId": "sa-1", "AlertName": "Impossible travel activity",
            "AlertSeverity": "Severe", "StartTime": "2024-03-01T10:00:00Z",
            "Entities": "[{\"Type\":\"account\",\"Name\":\"a\",\"UPNSuffix\":\"contoso.com\"},{\"Type\":\"ip\",\"Address\":\"198.51.100.4\",\"Location\":{\"CountryCode\":\"BR\",\"Asn\":28573}}]"
        }))
        .unwrap()
        .remove(0);
        assert_eq!(d.severity, None);
        assert_eq!(d.details["severity_raw"], "Severe");
        assert_eq!(d.user.unwrap().upn.as_deref(), Some("a@contoso.com"));
        assert_eq!((d.country.as_deref(), d.asn), (Some("BR"), Some(28573)));
    }
}
