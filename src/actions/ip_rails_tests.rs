use serde_json::{Value, json};

use super::*;

const LOCATION: &str = "stanch: attacker ranges";
const POLICY: &str = "stanch: attacker ranges: block sign-in";

fn offices() -> Value {
    json!({
        "@odata.type": "#microsoft.graph.ipNamedLocation", "id": "loc-offices",
        "displayName": "Contoso offices", "isTrusted": true,
        "ipRanges": [
            {"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "81.2.69.0/24"},
            {"@odata.type": "#microsoft.graph.iPv6CidrRange", "cidrAddress": "2a00:1450:4009::/48"},
        ],
    })
}

fn ours(trusted: bool) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.ipNamedLocation", "id": "loc-ours",
        "displayName": LOCATION, "isTrusted": trusted,
        "ipRanges": [{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": "192.0.2.0/24"}],
    })
}

fn policy(name: &str, location: &str) -> Value {
    json!({"id": format!("pol-{name}"), "displayName": name,
           "conditions": {"locations": {"includeLocations": [location], "excludeLocations": []}}})
}

fn judged(wanted: &[&str], locations: &[Value], policies: &[Value]) -> Verdict {
    let wanted: Vec<String> = wanted.iter().map(|w| w.to_string()).collect();
    let tenant = Tenant {
        locations,
        policies,
    };
    judge(
        &BlockIpsRules::default(),
        &wanted,
        LOCATION,
        POLICY,
        &tenant,
    )
}

#[test]
fn a_range_overlapping_a_trusted_location_is_refused_naming_the_location() {
    let verdict = judged(
        &[
            "81.2.69.128/25",
            "203.0.113.0/24",
            "::ffff:81.2.69.0/120",
            "2a00:1450:4009:1::/64",
        ],
        &[offices()],
        &[],
    );
    let refused: Vec<&str> = verdict.refused.iter().map(|r| r.range.as_str()).collect();
    assert_eq!(
        refused,
        [
            "81.2.69.128/25",
            "::ffff:81.2.69.0/120",
            "2a00:1450:4009:1::/64"
        ]
    );
    assert_eq!(
        verdict.refused[0].why,
        "overlaps 81.2.69.0/24 of the trusted named location `Contoso offices`"
    );
    assert!(verdict.whole.is_empty());
    assert!(
        verdict
            .reason()
            .contains("`81.2.69.128/25` overlaps 81.2.69.0/24")
    );
}

#[test]
fn an_untrusted_location_s_ranges_do_not_protect_anything() {
    let mut partner = offices();
    partner["isTrusted"] = json!(false);
    assert!(judged(&["81.2.69.0/24"], &[partner], &[]).is_clear());
}

#[test]
fn the_static_rules_apply_again_at_execution_with_every_reason() {
    let verdict = judged(&["0.0.0.0/0", "10.0.0.0/24"], &[offices()], &[]);
    assert_eq!(verdict.refused.len(), 2);
    // The default route also covers the offices: both are said.
    assert!(
        verdict.refused[0].why.contains("default route"),
        "{}",
        verdict.refused[0]
    );
    assert!(
        verdict.refused[0].why.contains("trusted named location"),
        "{}",
        verdict.refused[0]
    );
    assert!(verdict.refused[1].why.contains("private (RFC 1918)"));
}

#[test]
fn stanch_adds_ranges_only_to_an_untrusted_ip_location_no_other_policy_uses() {
    let clear = judged(
        &["203.0.113.0/24"],
        &[offices(), ours(false)],
        &[
            policy(POLICY, "loc-ours"),
            policy("Require MFA outside offices", "loc-offices"),
        ],
    );
    assert!(clear.is_clear(), "{clear:?}");

    let trusted = judged(&["203.0.113.0/24"], &[ours(true)], &[]);
    assert!(trusted.whole[0].contains("is trusted"), "{trusted:?}");

    let shared = judged(
        &["203.0.113.0/24"],
        &[ours(false)],
        &[
            policy(POLICY, "loc-ours"),
            policy("Skip MFA for partners", "loc-ours"),
        ],
    );
    assert_eq!(shared.whole.len(), 1, "{shared:?}");
    assert!(
        shared.whole[0]
            .contains("also used by the Conditional Access policy `Skip MFA for partners`"),
        "{shared:?}"
    );

    let country = json!({"@odata.type": "#microsoft.graph.countryNamedLocation", "id": "loc-ours",
                         "displayName": LOCATION, "countriesAndRegions": ["US"]});
    let verdict = judged(&["203.0.113.0/24"], &[country], &[]);
    assert!(
        verdict.whole[0].contains("is not an IP location"),
        "{verdict:?}"
    );
}

#[test]
fn a_trusted_range_that_cannot_be_read_refuses_the_whole_block() {
    let mut odd = offices();
    odd["ipRanges"][0]["cidrAddress"] = json!("not-a-range");
    let verdict = judged(&["203.0.113.0/24"], &[odd], &[]);
    assert!(
        verdict.whole[0]
            .contains("cannot read a range of the trusted named location `Contoso offices`"),
        "{verdict:?}"
    );
}
