//! The detections stanch itself emits when a campaign is confirmed, and when containment found
//! an app the attacker was consented to. They go through the normal intake path (recorded,
//! audited, planned by playbooks), so what follows is a playbook decision like any other, gated
//! the same way (protected accounts go to a human).

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::model::{Campaign, ListKind, Member};
use crate::intake::{Detection, Severity, UserRef};
use crate::util::sha256_hex;

/// The source of stanch's own detections.
pub const SOURCE: &str = "stanch";
/// One per member to contain (`playbooks/campaign-member.yaml` matches it).
pub const MEMBER_NAME: &str = "stanch / Campaign / Member of confirmed campaign";
/// One per confirmation, for tenant-wide steps such as blocking the campaign's networks
/// (`playbooks/campaign-confirmed.yaml`).
pub const CONFIRMED_NAME: &str = "stanch / Campaign / Confirmed campaign infrastructure";
/// One per application whose consent `revoke_app_consent` took from a compromised account, for
/// the tenant-wide, approval-gated step of disabling it (`playbooks/consented-app.yaml`).
pub const APP_NAME: &str = "stanch / App / Consent revoked from a compromised account";

/// Why a detection from outside may not claim stanch's own source: playbooks answering
/// `source: stanch` act on a confirmed campaign's say-so, which only stanch may give.
pub fn reserved_source(d: &Detection) -> Option<String> {
    d.source.eq_ignore_ascii_case(SOURCE).then(|| {
        format!(
            "field `source`: `{}` is reserved for the detections stanch emits itself",
            d.source
        )
    })
}

fn campaign_details(campaign: &Campaign) -> Value {
    let list = |kind| campaign.list(kind, None);
    let confirmed = campaign.confirmed.as_ref();
    json!({
        "id": campaign.id,
        "accounts": list(ListKind::Accounts),
        "ips": list(ListKind::Ips),
        "networks": list(ListKind::Networks),
        "asns": list(ListKind::Asns),
        "confirmed_by": confirmed.map(|c| c.by.clone()),
        "confirmed_reason": confirmed.map(|c| c.reason.clone()),
    })
}

fn detection(
    id: String,
    name: &str,
    at: DateTime<Utc>,
    user: Option<UserRef>,
    details: Value,
) -> Detection {
    Detection {
        id,
        source: SOURCE.to_string(),
        name: name.to_string(),
        severity: Some(Severity::High),
        observed_at: at,
        user,
        ip: None,
        asn: None,
        country: None,
        user_agent: None,
        client_app: None,
        details: details.as_object().cloned().unwrap_or_default(),
        extra: Map::new(),
    }
}

/// "Contain this account: it belongs to a confirmed campaign." Observed when the campaign was
/// confirmed, or when the account joined it if that was later, so a replay tells the same time.
pub fn member_detection(campaign: &Campaign, member: &Member, at: DateTime<Utc>) -> Detection {
    let user = UserRef {
        upn: member.upn.clone(),
        id: member.id.clone(),
    };
    detection(
        format!("{}:member:{}", campaign.id, member.account),
        MEMBER_NAME,
        at.max(member.joined_at),
        Some(user),
        json!({
            "campaign": campaign_details(campaign),
            "joined": member.via,
            "joined_at": member.joined_at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        }),
    )
}

/// "The campaign is confirmed: here is its infrastructure." Its id names the set of networks, so
/// a later confirmation with more networks is a new detection and an unchanged one is not.
pub fn confirmed_detection(campaign: &Campaign, at: DateTime<Utc>) -> Detection {
    let networks = campaign.list(ListKind::Networks, None).to_string();
    let hash = sha256_hex(networks.as_bytes());
    detection(
        format!("{}:confirmed:{}", campaign.id, &hash[..10]),
        CONFIRMED_NAME,
        at,
        None,
        json!({"campaign": campaign_details(campaign)}),
    )
}

/// "This app held a compromised account's consent, now revoked: disable it for everyone?" One
/// per app (its id names the service principal), however many accounts had consented to it.
pub fn consented_app_detection(
    app: &Value,
    account: &UserRef,
    revoked_by: &str,
    at: DateTime<Utc>,
) -> Detection {
    let sp = app["id"].as_str().unwrap_or_default();
    detection(
        format!("app:{sp}"),
        APP_NAME,
        at,
        Some(account.clone()),
        json!({
            "service_principal_id": sp,
            "app_id": app["appId"],
            "app_name": app["displayName"],
            "consented_by": account.upn.as_deref().or(account.id.as_deref()),
            "revoked_by": revoked_by,
        }),
    )
}
