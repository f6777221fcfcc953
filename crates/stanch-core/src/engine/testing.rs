//! Runs the `tests:` blocks that playbooks carry: each test's detection through the engine with
//! only its own playbook loaded, compared with the expected plan.

use super::{Context, Gate, PlannedAction, plan_with};
use crate::campaign::{CampaignView, Settings};
use crate::playbook::{ExpectedAction, Playbook, PlaybookSet, PlaybookTest};

#[derive(Debug, Clone, PartialEq)]
pub struct TestOutcome {
    pub playbook: String,
    pub file: String,
    pub line: u64,
    pub name: String,
    /// Empty when the test passed.
    pub failures: Vec<String>,
}

impl TestOutcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

pub fn run_tests(set: &PlaybookSet) -> Vec<TestOutcome> {
    set.playbooks
        .iter()
        .flat_map(|playbook| {
            playbook
                .tests
                .iter()
                .map(move |test| run_one(playbook, test))
        })
        .collect()
}

fn run_one(playbook: &Playbook, test: &PlaybookTest) -> TestOutcome {
    // The test sees the playbook as written, enabled or not, with a passive default.
    let mut alone = playbook.clone();
    alone.enabled = true;
    let set = PlaybookSet {
        playbooks: vec![alone],
    };
    let ctx = Context {
        protected_accounts: test.protected_accounts.clone(),
        ..Context::default()
    };
    let campaign = test.campaign.as_ref().map(|campaign| CampaignView {
        campaign,
        window_secs: Settings::default().window_secs,
        // The test's campaign is taken as written, not cut at the detection's time.
        as_of: None,
    });
    let planned = plan_with(&test.detection, campaign, &set, &ctx).actions;
    TestOutcome {
        playbook: playbook.id.clone(),
        file: playbook.file.clone(),
        line: test.loc.line,
        name: test.name.clone(),
        failures: compare(&test.expect, &planned),
    }
}

fn compare(expected: &[ExpectedAction], planned: &[PlannedAction]) -> Vec<String> {
    let mut failures = Vec::new();
    let summary = |actions: &[PlannedAction]| {
        if actions.is_empty() {
            return "nothing".to_string();
        }
        actions
            .iter()
            .map(|a| format!("{} ({})", a.step, a.action))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if expected.len() != planned.len() {
        let want: Vec<&str> = expected.iter().map(|e| e.step.as_str()).collect();
        failures.push(format!(
            "expected {} action(s) [{}], planned {} [{}]",
            expected.len(),
            want.join(", "),
            planned.len(),
            summary(planned)
        ));
        return failures;
    }
    for (want, got) in expected.iter().zip(planned) {
        let at = format!("action for step `{}`", want.step);
        if want.step != got.step {
            failures.push(format!(
                "expected step `{}`, planned step `{}` ({})",
                want.step, got.step, got.action
            ));
            continue;
        }
        if let Some(action) = want.action.filter(|a| *a != got.action) {
            failures.push(format!(
                "{at}: expected `{action}`, planned `{}`",
                got.action
            ));
        }
        if let Some(target) = &want.target {
            match &got.target {
                Some(user) if user.is(target) => {}
                Some(user) => failures.push(format!(
                    "{at}: expected target `{target}`, planned `{user}`"
                )),
                None => failures.push(format!(
                    "{at}: expected target `{target}`, planned no target"
                )),
            }
        }
        for (key, value) in &want.params {
            match got.params.get(key) {
                Some(v) if v == value => {}
                Some(v) => failures.push(format!(
                    "{at}: expected parameter `{key}` = {value}, planned {v}"
                )),
                None => failures.push(format!(
                    "{at}: expected parameter `{key}` = {value}, but it was not planned"
                )),
            }
        }
        if let Some(mode) = want.mode.filter(|m| *m != got.mode) {
            failures.push(format!("{at}: expected mode {mode}, planned {}", got.mode));
        }
        let refused = got.gate.is_refused();
        if want.refused.unwrap_or(false) != refused {
            failures.push(format!(
                "{at}: expected refused: {}, planned {}",
                want.refused.unwrap_or(false),
                describe_gate(&got.gate)
            ));
        }
        if let Some(approval) = want.approval.filter(|_| !refused) {
            let gated = got.gate.needs_approval();
            if approval != gated {
                failures.push(format!(
                    "{at}: expected approval: {approval}, planned {}",
                    describe_gate(&got.gate)
                ));
            }
        }
    }
    failures
}

fn describe_gate(gate: &Gate) -> String {
    match gate {
        Gate::Approval { reasons, .. } => format!("approval required ({})", reasons.join("; ")),
        Gate::Automatic => "no approval".to_string(),
        Gate::Refused { refused } => {
            let each: Vec<String> = refused.iter().map(ToString::to_string).collect();
            format!("refused ({})", each.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playbook::load_sources;

    const PLAYBOOK: &str = r#"
version: 1
id: rule
match: { name: "*New Email Rule" }
steps:
  - id: rules
    action: disable_inbox_rules
    with: { delete: false }
  - id: revoke
    action: revoke_sessions
tests:
  - name: acts on the rule
    detection: { id: "1", name: "SaaS / Compliance / New Email Rule", observed_at: "2021-06-01T00:00:00Z", user: { upn: a@contoso.com } }
    expect:
      - { step: rules, action: disable_inbox_rules, target: a@contoso.com, params: { delete: false } }
      - { step: revoke }
  - name: wrong on purpose
    detection: { id: "2", name: "SaaS / Compliance / New Email Rule", observed_at: "2021-06-01T00:00:00Z", user: { upn: a@contoso.com } }
    protected_accounts: [a@contoso.com]
    expect:
      - { step: rules, target: b@contoso.com, params: { delete: true }, approval: false }
      - { step: revoke, mode: active }
  - name: ignores other detections
    detection: { id: "3", name: "Something else", observed_at: "2021-06-01T00:00:00Z" }
    expect: []
"#;

    #[test]
    fn passing_and_failing_tests_are_told_apart_with_reasons() {
        let set = load_sources([("rule.yaml", PLAYBOOK)]).into_set().unwrap();
        let outcomes = run_tests(&set);
        let passed: Vec<bool> = outcomes.iter().map(TestOutcome::passed).collect();
        assert_eq!(passed, [true, false, true]);
        let failures = &outcomes[1].failures;
        assert_eq!(failures.len(), 4, "{failures:#?}");
        assert!(failures[0].contains("expected target `b@contoso.com`, planned `a@contoso.com`"));
        assert!(failures[1].contains("expected parameter `delete` = true, planned false"));
        assert!(failures[2].contains("expected approval: false, planned approval required"));
        assert!(failures[3].contains("expected mode active, planned passive"));
    }

    const BLOCKS: &str = r#"
version: 1
id: blocks
match: { name: "Test / Block" }
steps:
  - { id: block, action: block_ips, with: { ips: "{{ details.ranges }}" }, approval: { approvers: [a@contoso.com] } }
tests:
  - name: expects the refusal
    detection: { id: "1", name: "Test / Block", observed_at: "2021-06-01T00:00:00Z", details: { ranges: ["0.0.0.0/0"] } }
    expect:
      - { step: block, refused: true }
  - name: does not see it coming
    detection: { id: "2", name: "Test / Block", observed_at: "2021-06-01T00:00:00Z", details: { ranges: ["192.168.0.0/24"] } }
    expect:
      - { step: block, approval: true }
"#;

    #[test]
    fn a_refused_block_fails_a_test_unless_it_expects_refused() {
        let set = load_sources([("blocks.yaml", BLOCKS)]).into_set().unwrap();
        let outcomes = run_tests(&set);
        assert!(outcomes[0].passed(), "{:?}", outcomes[0].failures);
        let failures = &outcomes[1].failures;
        assert_eq!(failures.len(), 1, "{failures:#?}");
        assert!(
            failures[0].contains("expected refused: false, planned refused (`192.168.0.0/24` overlaps 192.168.0.0/16, private (RFC 1918))"),
            "{}",
            failures[0]
        );
    }
}
