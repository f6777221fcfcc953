//! `sweep_signins`: who else signed in from the campaign's IPs? Reads the sign-in log, one
//! filtered query per IP (`ipAddress eq '…' and createdDateTime ge … and le …`), every page
//! audited. Changes nothing in the tenant; the accounts found join the campaign afterwards
//! (`campaign::after_action`), which is stanch's own bookkeeping.

use std::collections::BTreeMap;
use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::lifecycle::{ActionError, Evidence, Execution};
use super::runner::{GraphRunner, target_text};
use crate::graph::{GraphPath, PageRef};
use stanch_core::engine::PlannedAction;
use stanch_core::intake::{is_object_id, is_upn};

/// At most this many IPs per sweep (one query each), so a sprawling campaign cannot turn one
/// action into thousands of calls; the outcome says when some were left out.
pub const MAX_IPS: usize = 20;
/// Pages of up to 1,000 sign-ins read per IP.
const MAX_PAGES: usize = 5;

fn failed(action: &PlannedAction, reason: impl Into<String>) -> ActionError {
    ActionError::Failed {
        action: action.action.to_string(),
        target: target_text(action),
        reason: reason.into(),
    }
}

fn time_param(action: &PlannedAction, name: &str) -> Result<DateTime<Utc>, ActionError> {
    let text = action
        .params
        .get(name)
        .and_then(Value::as_str)
        .unwrap_or("");
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|_| {
            failed(
                action,
                format!("`{name}` is `{text}`, not an RFC 3339 time"),
            )
        })
}

/// The single addresses to look for, and the ranges the sign-in log cannot be searched by.
fn addresses(action: &PlannedAction) -> (Vec<IpAddr>, Vec<String>) {
    let mut ips = Vec::new();
    let mut ranges = Vec::new();
    for text in action
        .params
        .get("ips")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        match stanch_core::playbook::condition::parse_net(text) {
            Some(net) if net.prefix_len() == net.max_prefix_len() => ips.push(net.addr()),
            _ => ranges.push(text.to_string()),
        }
    }
    ips.dedup();
    (ips, ranges)
}

/// What the sweep will read, recorded as its evidence before any call.
pub(super) fn describe(action: &PlannedAction) -> Value {
    json!({
        "campaign": action.params.get("campaign"),
        "ips": action.params.get("ips"),
        "since": action.params.get("since"),
        "until": action.params.get("until"),
    })
}

pub(super) async fn sweep(
    runner: &GraphRunner,
    action: &PlannedAction,
    evidence: &Evidence,
) -> Result<Execution, ActionError> {
    let since = time_param(action, "since")?;
    let until = time_param(action, "until")?;
    let (mut ips, ranges) = addresses(action);
    let truncated = ips.len() > MAX_IPS;
    ips.truncate(MAX_IPS);
    // Keyed by account; the earliest sign-in is when the account joined the attack.
    let mut signed_in: BTreeMap<String, Value> = BTreeMap::new();
    let mut attempted: BTreeMap<String, Value> = BTreeMap::new();
    let mut incomplete = Vec::new();
    let format = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    for ip in &ips {
        // Every part of the filter is parsed and re-printed by us: nothing from a detection
        // reaches it as raw text.
        let filter = format!(
            "ipAddress eq '{ip}' and createdDateTime ge {} and createdDateTime le {}",
            format(since),
            format(until)
        );
        let path = GraphPath::new(["auditLogs", "signIns"])
            .query("$filter", &filter)
            .query("$top", "1000");
        let mut at = PageRef::First(path);
        for page_number in 1..=MAX_PAGES {
            let page = runner.call_page(action, &at).await?;
            for sign_in in &page.items {
                let Some((account, found)) = account_of(sign_in, *ip) else {
                    continue;
                };
                let ok = sign_in["status"]["errorCode"].as_i64() == Some(0);
                let into = if ok { &mut signed_in } else { &mut attempted };
                let earlier = into
                    .get(&account)
                    .is_none_or(|known| known["at"].as_str() > found["at"].as_str());
                if earlier {
                    into.insert(account, found);
                }
            }
            match page.next {
                Some(next) if page_number < MAX_PAGES => at = next,
                Some(_) => incomplete.push(ip.to_string()),
                None => break,
            }
        }
    }
    attempted.retain(|account, _| !signed_in.contains_key(account));
    Ok(Execution {
        evidence: evidence.clone(),
        outcome: json!({
            "campaign": action.params.get("campaign"),
            "ips_swept": ips.len(),
            "since": format(since),
            "until": format(until),
            "signed_in": signed_in.into_values().collect::<Vec<_>>(),
            "attempted": attempted.into_values().collect::<Vec<_>>(),
            "not_searchable": ranges,
            "ips_left_out": truncated,
            "pages_left_unread": incomplete,
        }),
        restore: None,
    })
}

/// The account of one sign-in, if its identifiers are ones stanch would ever put in a URL.
fn account_of(sign_in: &Value, ip: IpAddr) -> Option<(String, Value)> {
    let upn = sign_in["userPrincipalName"]
        .as_str()
        .filter(|u| is_upn(u))
        .map(str::to_string);
    let id = sign_in["userId"]
        .as_str()
        .filter(|i| is_object_id(i))
        .map(str::to_string);
    let account = upn.clone().or(id.clone())?.to_lowercase();
    let at = sign_in["createdDateTime"]
        .as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())?
        .to_utc();
    Some((
        account,
        json!({
            "upn": upn,
            "id": id,
            "ip": ip.to_string(),
            "at": at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "app": sign_in["appDisplayName"],
            "error_code": sign_in["status"]["errorCode"],
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use stanch_core::engine::Gate;
    use stanch_core::vocab::Mode;

    #[test]
    fn ranges_are_set_apart_and_identifiers_are_checked() {
        let action = PlannedAction {
            key: "k".into(),
            playbook: "p".into(),
            step: "s".into(),
            action: stanch_core::vocab::ActionKind::SweepSignins,
            target: None,
            params: json!({"ips": ["198.51.100.23/32", "198.51.100.0/24", "2001:db8::1/128"]})
                .as_object()
                .cloned()
                .unwrap(),
            mode: Mode::Active,
            gate: Gate::Automatic,
            expires_after_secs: None,
            reason: String::new(),
            recorded_at: None,
        };
        let (ips, ranges) = addresses(&action);
        assert_eq!(ips.len(), 2);
        assert_eq!(ranges, ["198.51.100.0/24"]);
        assert!(time_param(&action, "since").is_err());
        let ip: IpAddr = "198.51.100.23".parse().unwrap();
        let bad = json!({"userPrincipalName": "x/../../groups@contoso.com", "createdDateTime": "2021-06-01T06:55:00Z"});
        assert!(account_of(&bad, ip).is_none());
        let good = json!({"userPrincipalName": "A.Silva@contoso.com", "createdDateTime": "2021-06-01T06:55:00Z", "status": {"errorCode": 0}});
        let (account, found) = account_of(&good, ip).unwrap();
        assert_eq!(account, "a.silva@contoso.com");
        assert_eq!(found["at"], "2021-06-01T06:55:00Z");
    }
}
