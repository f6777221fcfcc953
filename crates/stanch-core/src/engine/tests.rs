use super::*;
use crate::intake::parse_generic;
use crate::playbook::load_sources;

const PLAYBOOK: &str = r#"
version: 1
id: legacy-login
match:
  name: "SaaS / Access / Suspicious Login*"
  min_severity: medium
when: { field: client_app, in: [IMAP4, POP3, "Exchange ActiveSync"] }
steps:
  - id: block-legacy
    action: block_legacy_auth
  - id: block-range
    action: block_ips
    with: { ips: "{{ ip | cidr(24) }}" }
    approval: { approvers: [secops@contoso.com] }
  - id: disable
    action: disable_account
    mode: active
    when: { field: severity, gte: critical }
    approval: { approvers: [secops@contoso.com] }
"#;

fn detection(extra: &str) -> Detection {
    parse_generic(&format!(
        r#"{{"id":"d1","source":"darktrace","name":"SaaS::Access::Suspicious Login Attempt","severity":"high",
        "observed_at":"2021-06-01T10:00:00Z","user":{{"upn":"b.jones@contoso.com"}},"ip":"198.51.100.23","client_app":"IMAP4"{extra}}}"#
    ))
    .unwrap()
}

fn set() -> PlaybookSet {
    let report = load_sources([("legacy.yaml", PLAYBOOK)]);
    let errors: Vec<String> = report.diagnostics.iter().map(|d| d.to_string()).collect();
    report.into_set().unwrap_or_else(|_| panic!("{errors:?}"))
}

#[test]
fn plans_matching_steps_with_reasons_and_skips_the_rest() {
    let plan = plan(&detection(""), &set(), &Context::default());
    assert_eq!(plan.matched.len(), 1);
    assert!(
        plan.matched[0]
            .reason
            .contains("name matches `SaaS / Access / Suspicious Login*`"),
        "{}",
        plan.matched[0].reason
    );
    assert!(plan.matched[0].reason.contains("severity high ≥ medium"));
    let steps: Vec<&str> = plan.actions.iter().map(|a| a.step.as_str()).collect();
    assert_eq!(steps, ["block-legacy", "block-range"]);
    assert_eq!(
        plan.actions[0].target.as_ref().unwrap().to_string(),
        "b.jones@contoso.com"
    );
    assert_eq!(plan.actions[0].mode, Mode::Passive);
    assert_eq!(plan.actions[0].gate, Gate::Automatic);
    assert_eq!(
        plan.actions[1].params["ips"],
        serde_json::json!(["198.51.100.0/24"])
    );
    assert!(plan.actions[1].gate.needs_approval());
    assert_eq!(plan.skipped.len(), 1);
    assert!(
        plan.skipped[0].reason.contains("severity gte \"critical\""),
        "{}",
        plan.skipped[0].reason
    );
}

#[test]
fn does_not_match_outside_scope() {
    let low = parse_generic(r#"{"id":"d2","name":"SaaS / Access / Suspicious Login Attempt","severity":"low","observed_at":"2021-06-01T10:00:00Z","client_app":"IMAP4"}"#).unwrap();
    assert!(plan(&low, &set(), &Context::default()).matched.is_empty());
    let browser = detection(r#","details":{}"#);
    let mut browser = browser;
    browser.client_app = Some("Browser".into());
    assert!(
        plan(&browser, &set(), &Context::default())
            .actions
            .is_empty()
    );
}

#[test]
fn modes_resolve_step_then_playbook_then_default_and_can_be_forced_passive() {
    let critical = {
        let mut d = detection("");
        d.severity = Some(crate::intake::Severity::Critical);
        d
    };
    let active_default = Context {
        default_mode: Mode::Active,
        ..Context::default()
    };
    let plan1 = plan(&critical, &set(), &active_default);
    assert!(plan1.actions.iter().all(|a| a.mode == Mode::Active));
    let plan2 = plan(&critical, &set(), &Context::default());
    let modes: Vec<Mode> = plan2.actions.iter().map(|a| a.mode).collect();
    assert_eq!(modes, [Mode::Passive, Mode::Passive, Mode::Active]);
    let forced = Context {
        force_passive: true,
        default_mode: Mode::Active,
        ..Context::default()
    };
    assert!(
        plan(&critical, &set(), &forced)
            .actions
            .iter()
            .all(|a| a.mode == Mode::Passive)
    );
}

#[test]
fn protected_accounts_always_need_a_human() {
    let ctx = Context {
        protected_accounts: vec!["B.Jones@contoso.com".into()],
        ..Context::default()
    };
    let plan = plan(&detection(""), &set(), &ctx);
    let gate = &plan.actions[0].gate;
    let Gate::Approval { reasons, .. } = gate else {
        panic!("not gated: {gate:?}")
    };
    assert!(reasons[0].contains("protected account"));
}

#[test]
fn plans_are_deterministic_and_keys_stable() {
    let a = plan(&detection(""), &set(), &Context::default());
    let b = plan(&detection(""), &set(), &Context::default());
    assert_eq!(a, b);
    assert_eq!(a.actions[0].key.len(), 32);
    assert_ne!(a.actions[0].key, a.actions[1].key);
}

#[test]
fn a_step_without_a_target_account_is_skipped_with_the_reason() {
    let mut d = detection("");
    d.user = None;
    let plan = plan(&d, &set(), &Context::default());
    let steps: Vec<&str> = plan.actions.iter().map(|a| a.step.as_str()).collect();
    assert_eq!(steps, ["block-range"]);
    assert!(
        plan.skipped
            .iter()
            .any(|s| s.reason.contains("the detection names no user"))
    );
}

/// A playbook whose automatic block renders whatever a detection's `details.ranges` says.
const TEMPLATED_BLOCK: &str = r#"
version: 1
id: templated-block
match: { name: "Test / Block" }
steps:
  - id: block
    action: block_ips
    with: { ips: "{{ details.ranges }}" }
"#;

fn block_plan(ranges: &str, ctx: &Context) -> PlannedAction {
    let report = load_sources([("block.yaml", TEMPLATED_BLOCK)]);
    let set = report.into_set().unwrap_or_else(|_| panic!("playbook"));
    let d = parse_generic(&format!(
        r#"{{"id":"b1","name":"Test / Block","observed_at":"2021-06-01T10:00:00Z","details":{{"ranges":{ranges}}}}}"#
    ))
    .unwrap();
    let mut plan = plan(&d, &set, ctx);
    assert_eq!(plan.actions.len(), 1, "{plan:?}");
    plan.actions.remove(0)
}

#[test]
fn a_template_rendering_the_default_route_plans_a_refused_block_naming_the_range() {
    let action = block_plan(r#"["0.0.0.0/0", "203.0.113.0/24"]"#, &Context::default());
    let Gate::Refused { refused } = &action.gate else {
        panic!("not refused: {:?}", action.gate)
    };
    // The whole action is refused, naming only the ranges at fault: never a silent subset.
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].range, "0.0.0.0/0");
    assert!(refused[0].why.contains("default route"), "{}", refused[0]);
    assert!(!action.gate.needs_approval());
    assert!(
        action.reason.contains("ranges refused"),
        "{}",
        action.reason
    );
}

#[test]
fn private_ranges_are_refused_at_plan_time_in_passive_mode_too() {
    let action = block_plan(r#""10.20.30.0/24""#, &Context::default());
    assert_eq!(action.mode, Mode::Passive);
    let Gate::Refused { refused } = &action.gate else {
        panic!("not refused: {:?}", action.gate)
    };
    assert!(
        refused[0].why.contains("private (RFC 1918)"),
        "{}",
        refused[0]
    );
}

#[test]
fn ranges_the_rules_allow_plan_as_before() {
    let action = block_plan(
        r#"["203.0.113.0/24", "2001:db8:7::/48"]"#,
        &Context::default(),
    );
    assert_eq!(action.gate, Gate::Automatic);
}

#[test]
fn more_ranges_than_max_ranges_wait_for_a_person_even_without_a_step_approval() {
    let ctx = Context {
        block_ips: BlockIpsRules {
            max_ranges: 1,
            ..BlockIpsRules::default()
        },
        ..Context::default()
    };
    let action = block_plan(r#"["203.0.113.0/24", "198.51.100.0/24"]"#, &ctx);
    let Gate::Approval { reasons, .. } = &action.gate else {
        panic!("not gated: {:?}", action.gate)
    };
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("blocks 2 ranges at once")),
        "{reasons:?}"
    );
}
