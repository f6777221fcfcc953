use super::*;
use crate::intake::parse_generic;
use crate::yaml;
use crate::yaml::diag::Problems;

const DETECTION: &str = r#"{"id":"1","name":"SaaS::Access::Suspicious Login Attempt","severity":"high",
    "observed_at":"2021-06-01T10:00:00Z","user":{"upn":"C.Lee@contoso.com"},"ip":"198.51.100.23","asn":36924,
    "country":"NG","client_app":"IMAP4","details":{"score":0.93,"tags":["legacy","vpn"],"rule":{"forward":true}}}"#;

/// Data-driven: (condition YAML, expected result on DETECTION).
#[test]
fn conditions_evaluate_as_documented() {
    let d = parse_generic(DETECTION).unwrap();
    let cases = [
        ("{field: client_app, in: [POP3, imap4]}", true),
        ("{field: user.upn, eq: c.lee@contoso.com}", true),
        ("{field: user.upn, ne: c.lee@contoso.com}", false),
        ("{field: severity, gte: medium}", true),
        ("{field: severity, gt: high}", false),
        ("{field: asn, eq: 36924}", true),
        ("{field: asn, lt: 1000}", false),
        ("{field: ip, cidr: [198.51.100.0/24]}", true),
        ("{field: ip, cidr: 10.0.0.0/8}", false),
        ("{field: name, glob: 'saas::access::*'}", true),
        ("{field: name, matches: 'Suspicious Login'}", true),
        ("{field: name, matches: 'suspicious login'}", false),
        ("{field: details.score, gt: 0.9}", true),
        ("{field: details.tags, contains: VPN}", true),
        ("{field: details.tags, in: [tor]}", false),
        ("{field: details.tags, not_in: [tor]}", true),
        ("{field: details.rule.forward, eq: true}", true),
        ("{field: details.missing, exists: false}", true),
        ("{field: details.missing, ne: x}", true),
        ("{field: details.missing, eq: x}", false),
        ("{field: observed_at, lt: '2021-06-02T00:00:00Z'}", true),
        ("{field: country, starts_with: n}", true),
        ("{field: user_agent, exists: true}", false),
        (
            "{all: [{field: country, eq: NG}, {not: {field: ip, cidr: [10.0.0.0/8]}}]}",
            true,
        ),
        (
            "{any: [{field: country, eq: FR}, {field: country, eq: BE}]}",
            false,
        ),
        ("[{field: country, eq: NG}, {field: asn, eq: 36924}]", true),
    ];
    for (source, expected) in cases {
        let node = yaml::parse(source).unwrap();
        let mut p = Problems::default();
        let condition = compile(&mut p, &node).unwrap_or_else(|| panic!("{source}: {:?}", p.items));
        assert_eq!(condition.eval(&d), expected, "{source}");
    }
}

/// Data-driven: (condition YAML, expected error message fragment).
#[test]
fn bad_conditions_are_explained() {
    let cases = [
        (
            "{field: usr.upn, eq: x}",
            "unknown detection field `usr.upn`; did you mean `user.upn`?",
        ),
        (
            "{field: name, matches: '(unclosed'}",
            "invalid regular expression `(unclosed`",
        ),
        (
            "{field: ip, cidr: [300.0.0.0/8]}",
            "`300.0.0.0/8` is not an IP range",
        ),
        (
            "{field: severity, gte: severe}",
            "`severity` holds a severity",
        ),
        ("{field: ip, gt: 1}", "operator `gt` does not apply to `ip`"),
        ("{field: name, eq: x, ne: y}", "exactly one operator"),
        (
            "{field: name, equals: x}",
            "unknown key `equals` in a condition",
        ),
        (
            "{all: [], field: name, eq: x}",
            "either one of `all`/`any`/`not` or a field test",
        ),
        ("{}", "an empty condition"),
        (
            "{field: name, glob: 'x', exists: yes}",
            "exactly one operator",
        ),
        (
            "{field: details.x, exists: yes}",
            "must be `true` or `false`, found the string `yes`",
        ),
    ];
    for (source, expected) in cases {
        let node = yaml::parse(source).unwrap();
        let mut p = Problems::default();
        assert!(compile(&mut p, &node).is_none(), "{source} compiled");
        let messages: Vec<&str> = p.items.iter().map(|(_, _, m)| m.as_str()).collect();
        assert!(
            messages.iter().any(|m| m.contains(expected)),
            "{source}: {messages:?}"
        );
    }
}
