//! Unified audit log records: inbox-rule operations (`New-InboxRule`/`Set-InboxRule` from
//! ExchangeAdmin, `UpdateInboxRules` from Outlook/EWS clients) with the rule normalized into
//! `details.rule`, and Defender for Cloud Apps alerts (RecordType 98, `Workload: MCAS`). Sentinel
//! `OfficeActivity` rows (CSV exports, `Parameters` as a JSON string) take the same path.

use serde_json::{Map, Value, json};

use super::common::{
    array, detection, first_text, get, put, required, severity, text, time_at, user_ref,
};
use crate::intake::{Detection, DetectionError, is_object_id, parse_ip_text};

pub fn parse(value: Value) -> Result<Detection, DetectionError> {
    let v = &value;
    let id = required(first_text(v, &[&["Id"], &["OfficeId"]]), "Id")?;
    let operation = required(text(v, &["Operation"]), "Operation")?;
    let mcas = text(v, &["Workload"]).as_deref() == Some("MCAS")
        || text(v, &["RecordType"]).as_deref() == Some("98");
    let observed_at = if mcas {
        time_at(
            v,
            &[
                ("ActivityStartTime", &["ActivityStartTime"]),
                ("CreationTime", &["CreationTime"]),
            ],
        )?
    } else {
        time_at(
            v,
            &[
                ("CreationTime", &["CreationTime"]),
                ("TimeGenerated", &["TimeGenerated"]),
                ("TimeGenerated [UTC]", &["TimeGenerated [UTC]"]),
                ("Start_Time [UTC]", &["Start_Time [UTC]"]),
            ],
        )?
    };
    let name = match text(v, &["AlertDisplayName"]) {
        Some(alert) if mcas => alert,
        _ => operation.clone(),
    };
    let mut d = detection(id, "m365-audit".into(), name, observed_at);
    let details = &mut d.details;
    if mcas {
        d.severity = severity(text(v, &["AlertSeverity"]), details);
    }
    // Exchange writes a short id in `UserId` for admin cmdlets; the mailbox owner's UPN is better.
    let upn = first_text(v, &[&["MailboxOwnerUPN"], &["UserId"], &["UserId_"]]);
    let (upn, id) = match upn {
        Some(u) if is_object_id(&u) => (None, Some(u)),
        other => (other, None),
    };
    d.user = user_ref(upn, id, details);
    let ips: Vec<String> = match array(v, &["ClientIPs"]) {
        [] => first_text(
            v,
            &[&["ClientIP"], &["ClientIPAddress"], &["Client_IPAddress"]],
        )
        .into_iter()
        .collect(),
        list => list.iter().filter_map(|ip| text(ip, &[])).collect(),
    };
    d.ip = ips.iter().find_map(|t| parse_ip_text(t));
    if ips.len() > 1 {
        details.insert("ips".into(), json!(ips));
    }
    d.client_app = text(v, &["ClientInfoString"]);
    d.user_agent = text(v, &["UserAgent"]);

    if let Some(rule) = inbox_rule(v) {
        details.insert("rule".into(), Value::Object(rule));
    }
    for (key, field) in [
        ("operation", "Operation"),
        ("record_type", "RecordType"),
        ("workload", "Workload"),
        ("result_status", "ResultStatus"),
        ("organization", "OrganizationName"),
        ("app_id", "AppId"),
        ("client_app_id", "ClientAppId"),
        ("client_process", "ClientProcessName"),
        ("alert_category", "AlertCategory"),
        ("alert_description", "AlertDescription"),
    ] {
        put(details, key, json!(text(v, &[field])));
    }
    put(
        details,
        "object_id",
        json!(first_text(v, &[&["ObjectId"], &["OfficeObjectId"]])),
    );
    put(
        details,
        "links",
        json!(text(v, &["AlertUri"]).map(|u| json!({ "alert": u }))),
    );
    d.details.insert("raw".into(), value);
    Ok(d)
}

/// The rule an inbox-rule record creates or changes, in the keys playbooks use:
/// `name`, `forward_to[]`, `redirect_to[]`, `forward_as_attachment_to[]`, `forward`, `delete`,
/// `move_to_folder`, `mark_as_read`, `stop_processing`, `conditions`. Absent actions are left
/// out so that `exists` conditions mean "the rule does this".
fn inbox_rule(v: &Value) -> Option<Map<String, Value>> {
    let mut rule = Map::new();
    let params = parameters(v, "Parameters");
    let props = parameters(v, "OperationProperties");
    if params.is_empty() && props.is_empty() {
        return None;
    }
    let mut conditions = Map::new();
    for (name, value) in &params {
        let Some(value) = value else { continue };
        match name.as_str() {
            "Name" => put(&mut rule, "name", json!(value)),
            "ForwardTo" => put(&mut rule, "forward_to", json!(recipients(value))),
            "RedirectTo" => put(&mut rule, "redirect_to", json!(recipients(value))),
            "ForwardAsAttachmentTo" => put(
                &mut rule,
                "forward_as_attachment_to",
                json!(recipients(value)),
            ),
            "DeleteMessage" => put(&mut rule, "delete", json!(truthy(value))),
            "MoveToFolder" => put(&mut rule, "move_to_folder", json!(value)),
            "MarkAsRead" => put(&mut rule, "mark_as_read", json!(truthy(value))),
            "StopProcessingRules" => put(&mut rule, "stop_processing", json!(truthy(value))),
            "Identity" => put(&mut rule, "identity", json!(value)),
            "Force" | "AlwaysDeleteOutlookRulesBlob" => {}
            _ => put(&mut conditions, name, json!(value)),
        }
    }
    for (name, value) in &props {
        let Some(value) = value else { continue };
        match name.as_str() {
            // Outlook writes "." or nothing for rules it names itself.
            "RuleName" => put(&mut rule, "name", json!(value)),
            "RuleOperation" => put(&mut rule, "operation", json!(value)),
            "RuleState" => put(&mut rule, "state", json!(value)),
            "RuleCondition" => put(&mut conditions, "RuleCondition", json!(value)),
            "RuleActions" => rule_actions(value, &mut rule),
            _ => {}
        }
    }
    // The rule name is also the suffix of ObjectId (`…\RuleName`) for admin cmdlets.
    if !rule.contains_key("name")
        && let Some(name) = first_text(v, &[&["ObjectId"], &["OfficeObjectId"]])
            .and_then(|o| o.rsplit_once('\\').map(|(_, n)| n.to_string()))
    {
        put(&mut rule, "name", json!(name));
    }
    let forwards = ["forward_to", "redirect_to", "forward_as_attachment_to"]
        .iter()
        .any(|k| rule.contains_key(*k));
    rule.insert("forward".into(), json!(forwards));
    put(&mut rule, "conditions", Value::Object(conditions));
    Some(rule)
}

/// `RuleActions` of UpdateInboxRules: a JSON string `[{"ActionType":"Forward","Recipients":[…]}]`.
/// An unreadable value is kept as text rather than losing the detection.
fn rule_actions(text_value: &str, rule: &mut Map<String, Value>) {
    let Ok(Value::Array(actions)) = serde_json::from_str::<Value>(text_value) else {
        rule.insert("actions_unparsed".into(), json!(text_value));
        return;
    };
    for action in &actions {
        let to: Vec<String> = array(action, &["Recipients"])
            .iter()
            .filter_map(|r| text(r, &[]))
            .collect();
        match text(action, &["ActionType"]).unwrap_or_default().as_str() {
            "Forward" => add(rule, "forward_to", to),
            "Redirect" => add(rule, "redirect_to", to),
            "ForwardAsAttachment" => add(rule, "forward_as_attachment_to", to),
            "Delete" | "PermanentDelete" => {
                rule.insert("delete".into(), json!(true));
            }
            "MoveToFolder" | "Move" => {
                let folder = first_text(action, &[&["FolderName"], &["Folder"]])
                    .unwrap_or_else(|| "(unnamed folder)".into());
                rule.insert("move_to_folder".into(), json!(folder));
            }
            "MarkAsRead" => {
                rule.insert("mark_as_read".into(), json!(true));
            }
            _ => {}
        }
    }
    rule.insert("actions".into(), Value::Array(actions));
}

fn add(rule: &mut Map<String, Value>, key: &str, list: Vec<String>) {
    if let Value::Array(existing) = rule.entry(key).or_insert_with(|| json!([])) {
        existing.extend(list.into_iter().map(Value::String));
    }
}

/// `[{Name, Value}]` pairs; the Sentinel `OfficeActivity` table stores them as a JSON string.
fn parameters(v: &Value, key: &str) -> Vec<(String, Option<String>)> {
    let parsed;
    let list = match get(v, &[key]) {
        Some(Value::String(s)) => {
            parsed = serde_json::from_str::<Value>(s).unwrap_or_default();
            array(&parsed, &[])
        }
        _ => array(v, &[key]),
    };
    list.iter()
        .filter_map(|p| Some((text(p, &["Name"])?, text(p, &["Value"]))))
        .collect()
}

fn recipients(value: &str) -> Vec<String> {
    value
        .split([';', ','])
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_string)
        .collect()
}

fn truthy(value: &str) -> bool {
    value.eq_ignore_ascii_case("true") || value == "1"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_inbox_rule_with_several_recipients_and_upn_user() {
        let d = parse(json!({
            "Id": "x1", "Operation": "Set-InboxRule", "RecordType": 1,
            "CreationTime": "2024-02-01T08:00:00", "UserId": "a.silva@contoso.com",
            "ClientIP": "[2001:db8::1]:443",
            "Parameters": [{"Name": "Identity", "Value": "a.silva\\Invoices"},
                           {"Name": "ForwardAsAttachmentTo", "Value": "x@evil.example;y@evil.example"}]
        }))
        .unwrap();
        let rule = &d.details["rule"];
        assert_eq!(
            rule["forward_as_attachment_to"],
            json!(["x@evil.example", "y@evil.example"])
        );
        assert_eq!(rule["forward"], true);
        assert!(rule.get("delete").is_none());
        assert_eq!(d.user.unwrap().upn.as_deref(), Some("a.silva@contoso.com"));
        assert_eq!(d.ip, Some("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn unreadable_rule_actions_are_kept() {
        let d = parse(json!({
            "Id": "x2", "Operation": "UpdateInboxRules", "RecordType": 2,
            "CreationTime": "2024-02-01T08:00:00",
            "OperationProperties": [{"Name": "RuleActions", "Value": "[{not json"},
                                    {"Name": "RuleName", "Value": "."}]
        }))
        .unwrap();
        assert_eq!(d.details["rule"]["actions_unparsed"], "[{not json");
        assert_eq!(d.details["rule"]["name"], ".");
        assert_eq!(d.user, None);
    }
}
