//! The `campaign:` of a playbook test: the campaign the test detection is planned in, so
//! `campaign.*` conditions and templates can be tested like any other field.
//!
//! ```yaml
//! campaign: { id: cmp-1, accounts: [a@contoso.com, b@contoso.com], confirmed: true,
//!             ips: [198.51.100.23], asns: [37100], detections: 3 }
//! ```
//! Networks are derived from the IPs (/24, /48); times default to the detection's.

use chrono::{DateTime, Utc};

use crate::campaign::{Campaign, Confirmation, Indicator, Member, Seen, network_of};
use crate::intake::{is_object_id, is_upn};
use crate::yaml::Node;
use crate::yaml::decode;
use crate::yaml::diag::Problems;

pub const CAMPAIGN_TEST_KEYS: &[&str] = &[
    "id",
    "accounts",
    "confirmed",
    "ips",
    "asns",
    "user_agents",
    "detections",
    "first_seen",
];

pub fn compile_test_campaign(
    p: &mut Problems,
    node: &Node,
    observed_at: DateTime<Utc>,
) -> Option<Campaign> {
    let f = decode::fields(p, node, "a test `campaign`", CAMPAIGN_TEST_KEYS)?;
    let errors_before = p.error_count();
    let id = f
        .get("id")
        .and_then(|n| decode::string(p, n, "`campaign.id`"))
        .unwrap_or("cmp-test")
        .to_string();
    let first_seen = match f.get("first_seen") {
        None => observed_at,
        Some(n) => decode::string(p, n, "`campaign.first_seen`")
            .and_then(|text| match DateTime::parse_from_rfc3339(text) {
                Ok(t) => Some(t.to_utc()),
                Err(_) => {
                    p.error(n.loc, format!("`{text}` is not an RFC 3339 time"));
                    None
                }
            })
            .unwrap_or(observed_at),
    };
    let seen = |indicator: Indicator| Seen {
        indicator,
        first_seen,
        last_seen: observed_at.max(first_seen),
    };
    let mut members = Vec::new();
    let mut indicators = Vec::new();
    for (item, text) in f
        .get("accounts")
        .map(|n| decode::strings(p, n, "`campaign.accounts`"))
        .unwrap_or_default()
    {
        let is_id = is_object_id(text);
        if !is_id && !is_upn(text) {
            p.error(
                item.loc,
                format!("`{text}` is neither a UPN nor an Entra object id"),
            );
            continue;
        }
        members.push(Member {
            account: text.to_lowercase(),
            upn: (!is_id).then(|| text.to_string()),
            id: is_id.then(|| text.to_string()),
            joined_at: first_seen,
            via: "the test's campaign".into(),
            contained: false,
        });
        indicators.push(seen(Indicator::Account(text.to_lowercase().into())));
    }
    for (item, text) in f
        .get("ips")
        .map(|n| decode::strings(p, n, "`campaign.ips`"))
        .unwrap_or_default()
    {
        match text.parse() {
            Ok(ip) => {
                indicators.push(seen(Indicator::Ip(ip)));
                indicators.push(seen(Indicator::Network(network_of(ip))));
            }
            Err(_) => p.error(item.loc, format!("`{text}` is not an IP address")),
        }
    }
    if let Some(n) = f.get("asns") {
        for item in decode::list(p, n, "`campaign.asns`").unwrap_or_default() {
            match item.to_json().as_u64().and_then(|a| u32::try_from(a).ok()) {
                Some(asn) => indicators.push(seen(Indicator::Asn(asn))),
                None => p.error(item.loc, "an ASN is a number such as 37100"),
            }
        }
    }
    for (_, text) in f
        .get("user_agents")
        .map(|n| decode::strings(p, n, "`campaign.user_agents`"))
        .unwrap_or_default()
    {
        indicators.push(seen(Indicator::UserAgent(text.to_lowercase().into())));
    }
    let confirmed = f
        .get("confirmed")
        .and_then(|n| decode::boolean(p, n, "`campaign.confirmed`"))
        .unwrap_or(false)
        .then(|| Confirmation {
            at: observed_at,
            by: "the test".into(),
            reason: "the test's campaign is confirmed".into(),
        });
    let detections = f
        .get("detections")
        .and_then(|n| decode::positive_int(p, n, "`campaign.detections`"))
        .unwrap_or(1);
    (p.error_count() == errors_before).then(|| {
        Campaign::restore(
            id,
            first_seen,
            first_seen,
            observed_at.max(first_seen),
            detections,
            confirmed,
            members,
            indicators,
        )
    })
}
