use crate::config::load_text as load;
use stanch_core::rails::BlockIpsRules;
use stanch_core::rails::ranges::parse_range;

#[test]
fn block_ips_rules_default_to_a_slash_24_and_a_slash_48() {
    let config = load("mode: passive\n").unwrap();
    assert_eq!(config.safety.block_ips, BlockIpsRules::default());
    assert_eq!(
        (
            config.safety.block_ips.min_prefix_v4,
            config.safety.block_ips.min_prefix_v6
        ),
        (24, 48)
    );
}

#[test]
fn block_ips_rules_are_read_from_the_safety_section() {
    let config = load(
        "safety:\n  block_ips:\n    min_prefix_v4: 28\n    min_prefix_v6: 56\n    never_block: [81.2.69.0/24, \"2a00:1450::/32\", 198.51.100.7]\n    max_ranges: 4\n",
    )
    .unwrap();
    let rules = &config.safety.block_ips;
    assert_eq!(
        (rules.min_prefix_v4, rules.min_prefix_v6, rules.max_ranges),
        (28, 56, 4)
    );
    let kept: Vec<String> = rules.never_block.iter().map(ToString::to_string).collect();
    assert_eq!(kept, ["81.2.69.0/24", "2a00:1450::/32", "198.51.100.7/32"]);
    assert_eq!(rules.never_block[0], parse_range("81.2.69.0/24").unwrap());
}

#[test]
fn block_ips_mistakes_name_the_setting_and_its_place() {
    let cases = [
        (
            "safety:\n  block_ips:\n    min_prefix_v4: 33\n",
            ":3:20: error: `safety.block_ips.min_prefix_v4` must be a prefix length from 1 to 32, found 33",
        ),
        (
            "safety:\n  block_ips:\n    min_prefix_v6: 0\n",
            ":3:20: error: `safety.block_ips.min_prefix_v6` must be a positive integer",
        ),
        (
            "safety:\n  block_ips:\n    never_block: [81.2.69.0/24, egress.contoso.com]\n",
            ":3:33: error: in `safety.block_ips.never_block`: `egress.contoso.com` is not an IP address or CIDR range",
        ),
        (
            "safety:\n  block_ips:\n    min_prefix: 24\n",
            ":3:5: error: unknown key `min_prefix` in `safety.block_ips`",
        ),
        (
            "safety:\n  block_ips:\n    max_ranges: many\n",
            ":3:17: error: `safety.block_ips.max_ranges` must be a positive integer",
        ),
    ];
    for (text, expected) in cases {
        let err = load(text).unwrap_err();
        assert!(err.contains(expected), "{text}: {err}");
    }
}
