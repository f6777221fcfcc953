use super::*;

/// (range, None when it may be blocked, or a piece of the reason it is refused).
const CASES: &[(&str, Option<&str>)] = &[
    // The attacker's addresses in the story and the tests: documentation ranges, allowed.
    ("203.0.113.0/24", None),
    ("198.51.100.0/24", None),
    ("192.0.2.0/24", None),
    ("203.0.113.77", None),
    ("203.0.113.77/32", None),
    ("2001:db8:7::/48", None),
    ("2001:db8::1", None),
    ("81.2.69.0/25", None),
    ("::ffff:203.0.113.0/120", None),
    // Everything at once.
    (
        "0.0.0.0/0",
        Some("is the default route: every IPv4 address"),
    ),
    ("::/0", Some("is the default route: every IPv6 address")),
    (
        "::ffff:0:0/96",
        Some("is the default route: every IPv4 address (the IPv4-mapped form of `0.0.0.0/0`)"),
    ),
    // Too broad, though public.
    (
        "8.0.0.0/16",
        Some("is a /16, broader than the /24 `safety.block_ips.min_prefix_v4` allows"),
    ),
    ("203.0.112.0/23", Some("is a /23, broader than the /24")),
    (
        "2001:db8::/32",
        Some("is a /32, broader than the /48 `safety.block_ips.min_prefix_v6` allows"),
    ),
    // Private, shared and reserved space, and anything overlapping it.
    (
        "10.0.0.0/24",
        Some("overlaps 10.0.0.0/8, private (RFC 1918)"),
    ),
    ("10.1.2.3", Some("overlaps 10.0.0.0/8, private (RFC 1918)")),
    (
        "172.20.1.0/24",
        Some("overlaps 172.16.0.0/12, private (RFC 1918)"),
    ),
    (
        "192.168.1.0/24",
        Some("overlaps 192.168.0.0/16, private (RFC 1918)"),
    ),
    (
        "100.64.0.0/24",
        Some("overlaps 100.64.0.0/10, carrier-grade NAT"),
    ),
    ("127.0.0.1", Some("overlaps 127.0.0.0/8, loopback")),
    (
        "169.254.169.254",
        Some("overlaps 169.254.0.0/16, link-local"),
    ),
    ("224.0.0.0/24", Some("overlaps 224.0.0.0/4, multicast")),
    (
        "255.255.255.255",
        Some("overlaps 240.0.0.0/4, reserved, with the broadcast"),
    ),
    ("0.0.0.0/32", Some("overlaps 0.0.0.0/8, \"this network\"")),
    (
        "198.18.0.0/24",
        Some("overlaps 198.18.0.0/15, benchmarking"),
    ),
    ("::", Some("overlaps ::/128, the unspecified address")),
    ("::1", Some("overlaps ::1/128, loopback")),
    ("fd00::/48", Some("overlaps fc00::/7, unique local")),
    ("fe80::1", Some("overlaps fe80::/10, link-local")),
    ("ff02::1", Some("overlaps ff00::/8, multicast")),
    // A broad range holding private space says both.
    (
        "8.0.0.0/5",
        Some(
            "is a /5, broader than the /24 `safety.block_ips.min_prefix_v4` allows; overlaps 10.0.0.0/8, private (RFC 1918)",
        ),
    ),
    (
        "::/64",
        Some("overlaps ::ffff:0.0.0.0/96, IPv4-mapped (every IPv4 address)"),
    ),
    // IPv4-mapped IPv6 forms are judged as the IPv4 range they stand for.
    (
        "::ffff:10.0.0.0/120",
        Some("overlaps 10.0.0.0/8 (the IPv4-mapped form of `10.0.0.0/24`), private (RFC 1918)"),
    ),
    (
        "::ffff:127.0.0.1",
        Some("overlaps 127.0.0.0/8 (the IPv4-mapped form of `127.0.0.1/32`), loopback"),
    ),
    (
        "::ffff:8.0.0.0/104",
        Some("is a /8 (the IPv4-mapped form of `8.0.0.0/8`), broader than the /24"),
    ),
    // Garbage is named, never guessed at.
    ("example.com", Some("is not an IP address or CIDR range")),
    ("203.0.113.0/33", Some("is not an IP address or CIDR range")),
    ("", Some("is not an IP address or CIDR range")),
];

#[test]
fn every_range_is_judged_as_the_table_says() {
    let rules = BlockIpsRules::default();
    let mut wrong = Vec::new();
    for (range, expected) in CASES {
        let got = rules.refusal(range);
        let ok = match (expected, &got) {
            (None, None) => true,
            (Some(piece), Some(refusal)) => refusal.why.contains(piece) && refusal.range == *range,
            _ => false,
        };
        if !ok {
            wrong.push(format!("{range}: expected {expected:?}, got {got:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_company_egress_listed_in_never_block_is_refused_with_whatever_overlaps_it() {
    let rules = BlockIpsRules {
        never_block: vec![
            parse_range("81.2.69.0/24").unwrap(),
            parse_range("2a00:1450::/32").unwrap(),
        ],
        ..BlockIpsRules::default()
    };
    let refused = rules.refusals([
        "81.2.69.128/25",
        "81.2.69.7",
        "2a00:1450:4009::/48",
        "81.2.70.0/24",
    ]);
    let ranges: Vec<&str> = refused.iter().map(|r| r.range.as_str()).collect();
    assert_eq!(
        ranges,
        ["81.2.69.128/25", "81.2.69.7", "2a00:1450:4009::/48"]
    );
    assert!(
        refused[0]
            .why
            .contains("overlaps 81.2.69.0/24, listed in `safety.block_ips.never_block`"),
        "{}",
        refused[0]
    );
}

#[test]
fn the_minimum_prefix_is_configurable_both_ways() {
    let strict = BlockIpsRules {
        min_prefix_v4: 32,
        min_prefix_v6: 128,
        ..BlockIpsRules::default()
    };
    assert!(strict.refusal("203.0.113.0/24").is_some());
    assert!(strict.refusal("203.0.113.7").is_none());
    assert!(strict.refusal("2001:db8::1").is_none());
    let loose = BlockIpsRules {
        min_prefix_v4: 16,
        ..BlockIpsRules::default()
    };
    assert!(loose.refusal("203.0.0.0/16").is_none());
    // A looser minimum never lets private space through.
    assert!(loose.refusal("10.0.0.0/16").is_some());
}

#[test]
fn an_ipv4_mapped_range_unmaps_to_its_ipv4_range_and_others_stay_as_they_are() {
    let net = |t| parse_range(t).unwrap();
    assert_eq!(unmapped(net("::ffff:81.2.69.0/120")), net("81.2.69.0/24"));
    assert_eq!(unmapped(net("2001:db8::/48")), net("2001:db8::/48"));
    assert_eq!(unmapped(net("81.2.69.0/24")), net("81.2.69.0/24"));
}

#[test]
fn overlap_is_nesting_either_way_and_never_across_families() {
    let net = |t| parse_range(t).unwrap();
    assert!(overlaps(&net("10.0.0.0/8"), &net("10.1.0.0/16")));
    assert!(overlaps(&net("10.1.0.0/16"), &net("10.0.0.0/8")));
    assert!(!overlaps(&net("10.0.0.0/8"), &net("11.0.0.0/8")));
    assert!(!overlaps(&net("0.0.0.0/0"), &net("::/0")));
    assert_eq!(net("10.1.2.3/8").to_string(), "10.0.0.0/8");
}

#[test]
fn more_ranges_than_max_ranges_need_a_person() {
    let rules = BlockIpsRules {
        max_ranges: 2,
        ..BlockIpsRules::default()
    };
    assert_eq!(rules.too_many(2), None);
    assert_eq!(
        rules.too_many(3).as_deref(),
        Some("blocks 3 ranges at once, more than `safety.block_ips.max_ranges` (2)")
    );
}

#[test]
fn the_ips_parameter_is_read_as_given_and_a_non_string_is_kept_to_be_refused() {
    let params = |v: serde_json::Value| v.as_object().unwrap().clone();
    assert_eq!(
        ranges_param(&params(serde_json::json!({"ips": ["203.0.113.0/24", 7]}))),
        ["203.0.113.0/24", "7"]
    );
    assert_eq!(
        ranges_param(&params(serde_json::json!({"ips": "0.0.0.0/0"}))),
        ["0.0.0.0/0"]
    );
    assert!(ranges_param(&params(serde_json::json!({}))).is_empty());
    assert!(BlockIpsRules::default().refusal("7").is_some());
}
