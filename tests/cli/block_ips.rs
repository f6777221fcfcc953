//! `block_ips` cannot lock the company out: a range the rails refuse (the default route, private
//! space, a trusted named location's ranges) is never sent to Graph, the action says which and
//! why, no approval passes it, and tenant-wide blocks spend budgets like account actions.

use serde_json::Value;

use crate::harness::{TestApp, wait_until};

/// An automatic, active block of whatever the detection names: the playbook an attacker would
/// like, since a detection's fields reach the template.
const TEMPLATED: &str = r#"version: 1
id: templated-block
match: { name: "Test / Block" }
mode: active
steps:
  - { id: block, action: block_ips, with: { ips: "{{ details.ranges }}" } }
"#;

/// The attacker's /24 around the detection's address, automatic and active.
const SLASH_24: &str = r#"version: 1
id: block-24
match: { name: "Test / Block" }
mode: active
steps:
  - { id: block, action: block_ips, with: { ips: "{{ ip | cidr(24) }}" } }
"#;

fn detection(id: &str, extra: &str) -> String {
    format!(
        r#"{{"id":"{id}","source":"soc","name":"Test / Block","severity":"high","observed_at":"2021-06-01T10:00:00Z"{extra}}}"#
    )
}

fn blocks(app: &TestApp) -> Vec<Value> {
    let actions = app.actions();
    actions
        .into_iter()
        .filter(|a| a["kind"] == "block_ips")
        .collect()
}

/// The emulator's named locations and policies, to compare before and after.
fn access_state(app: &TestApp) -> (Value, Value) {
    let state = app.tenant().state();
    (
        state["namedLocations"].clone(),
        state["conditionalAccessPolicies"].clone(),
    )
}

/// Not a write to Conditional Access, and its locations and policies as they were.
fn assert_nothing_blocked(app: &TestApp, before: &(Value, Value)) {
    let writes = app.tenant().writes();
    let to_access: Vec<&String> = writes
        .iter()
        .filter(|w| w.contains("conditionalAccess"))
        .collect();
    assert!(to_access.is_empty(), "{to_access:?}");
    assert_eq!(&access_state(app), before, "nothing was blocked");
}

/// The payload of the first audit record of `kind`.
fn first_record(app: &TestApp, kind: &str) -> Value {
    let trail = app.audit_trail();
    let found = trail.into_iter().find(|(k, _)| k == kind);
    found.unwrap_or_else(|| panic!("no {kind} record")).1
}

#[test]
fn a_template_rendering_the_default_route_blocks_nothing_and_says_why() {
    let app = TestApp::builder()
        .tenant()
        .playbook("templated.yaml", TEMPLATED)
        .build();
    let before = access_state(&app);
    // One range at fault among good ones: the whole action is refused, never a subset blocked.
    let out = app.run_input(&detection(
        "b-1",
        r#","details":{"ranges":["0.0.0.0/0","203.0.113.0/24"]}"#,
    ));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("refused block_ips [step block]")
            && out
                .stdout
                .contains("`0.0.0.0/0` is the default route: every IPv4 address"),
        "{}",
        out.stdout
    );
    assert_nothing_blocked(&app, &before);

    let blocks = blocks(&app);
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0]["status"], "refused");
    assert_eq!(blocks[0]["gate"]["gate"], "refused");
    assert_eq!(blocks[0]["gate"]["refused"][0]["range"], "0.0.0.0/0");
    assert_eq!(
        blocks[0]["gate"]["refused"].as_array().unwrap().len(),
        1,
        "only the range at fault is named: {}",
        blocks[0]["gate"]
    );
    let listed = app.stanch(&["actions", "list"]).stdout;
    assert!(
        listed.contains("refused: `0.0.0.0/0` is the default route"),
        "{listed}"
    );
    // The plan in the audit trail says it too.
    let decided = first_record(&app, "plan.decided");
    assert_eq!(
        decided["plan"]["actions"][0]["refused"][0]["range"], "0.0.0.0/0",
        "{decided}"
    );
    let id = blocks[0]["pk"].to_string();
    let retry = app.retry(&id);
    assert_ne!(retry.code, 0);
    assert!(
        retry.stderr.contains("refused by the safety rails"),
        "{}",
        retry.stderr
    );
}

#[test]
fn passive_mode_and_the_report_show_a_refused_block_with_the_reason() {
    let app = TestApp::builder()
        .tenant()
        .playbook("templated.yaml", TEMPLATED)
        .build();
    let input = detection("b-2", r#","details":{"ranges":"::/0"}"#);
    let out = app.stanch_with_input(&["run", "--input", "-", "--passive"], Some(&input));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("would refuse block_ips") && out.stdout.contains("every IPv6 address"),
        "{}",
        out.stdout
    );
    assert_eq!(app.tenant().graph_calls(), 0);
    let report = app.json(&["report", "--json"]);
    let action = &report["playbooks"][0]["actions"][0];
    assert_eq!(action["refused"], 1, "{report}");
    assert_eq!(action["would_run"], 0, "{report}");
    assert!(
        action["refused_ranges"]["::/0"]
            .as_str()
            .is_some_and(|why| why.contains("the default route")),
        "{report}"
    );
    let shown = app.stanch(&["report"]).stdout;
    assert!(
        shown.contains("1 would be refused (`::/0` is the default route"),
        "{shown}"
    );
}

#[test]
fn a_private_range_is_refused_and_nothing_is_sent() {
    let app = TestApp::builder()
        .tenant()
        .playbook("block-24.yaml", SLASH_24)
        .build();
    let out = app.run_input(&detection("b-3", r#","ip":"10.20.30.40""#));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let blocks = blocks(&app);
    assert_eq!(blocks[0]["status"], "refused", "{}", blocks[0]);
    let why = blocks[0]["gate"]["refused"][0]["why"].as_str().unwrap();
    assert!(
        why.contains("overlaps 10.0.0.0/8, private (RFC 1918)"),
        "{why}"
    );
    assert_eq!(blocks[0]["gate"]["refused"][0]["range"], "10.20.30.0/24");
    assert_eq!(app.tenant().graph_calls(), 0, "not even a read");
}

#[test]
fn a_range_overlapping_a_trusted_named_location_is_refused_before_anything_is_sent() {
    let app = TestApp::builder()
        .tenant()
        .playbook("block-24.yaml", SLASH_24)
        .build();
    let before = access_state(&app);
    // The story's tenant trusts 81.2.69.0/24 ("Contoso offices"); a detection from it must not
    // block the offices.
    let out = app.run_input(&detection("b-4", r#","ip":"81.2.69.140""#));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("refused block_ips"), "{}", out.stdout);
    assert_nothing_blocked(&app, &before);

    let blocks = blocks(&app);
    assert_eq!(blocks[0]["status"], "refused", "{}", blocks[0]);
    assert_eq!(
        blocks[0]["gate"]["gate"], "automatic",
        "the plan could not know"
    );
    let refused = &blocks[0]["result"]["refused"][0];
    assert_eq!(refused["range"], "81.2.69.0/24");
    assert_eq!(
        refused["why"],
        "overlaps 81.2.69.0/24 of the trusted named location `Contoso offices`"
    );
    let ended = first_record(&app, "action.refused");
    assert_eq!(ended["refused"][0]["range"], "81.2.69.0/24", "{ended}");
    let trail = app.audit_trail();
    // The pre-check read what it judged by, asking only for what it needs.
    let reads: Vec<String> = trail
        .iter()
        .filter(|(kind, _)| kind == "graph.request")
        .filter_map(|(_, p)| p["path"].as_str().map(str::to_string))
        .collect();
    assert!(
        reads
            .iter()
            .any(|p| p.contains("namedLocations") && p.contains("isTrusted")),
        "{reads:?}"
    );
}

#[test]
fn a_block_into_a_trusted_location_is_refused_whatever_its_ranges() {
    let playbook = SLASH_24.replace(
        "ips: \"{{ ip | cidr(24) }}\"",
        "ips: \"{{ ip | cidr(24) }}\", location: \"Contoso offices\"",
    );
    let app = TestApp::builder()
        .tenant()
        .playbook("block-24.yaml", &playbook)
        .build();
    let before = access_state(&app);
    let out = app.run_input(&detection("b-5", r#","ip":"203.0.113.77""#));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        access_state(&app),
        before,
        "the offices stay trusted and unblocked"
    );
    let blocks = blocks(&app);
    assert_eq!(blocks[0]["status"], "refused", "{}", blocks[0]);
    let error = blocks[0]["result"]["error"].as_str().unwrap();
    assert!(
        error.contains("the named location `Contoso offices` is trusted"),
        "{error}"
    );
}

/// Two automatic blocks of different /24s under `budget` (one `safety.budgets` entry): the app,
/// the blocks' rows in order, and each one's status.
fn two_blocks_under(budget: &str) -> (TestApp, Vec<Value>, Vec<String>) {
    let app = TestApp::builder()
        .tenant()
        .playbook("block-24.yaml", SLASH_24)
        .yaml(&format!("safety:\n  budgets:\n    - {budget}\n"))
        .build();
    let input = [
        detection("b-6", r#","ip":"203.0.113.77""#),
        detection("b-7", r#","ip":"198.51.100.23""#),
    ]
    .join("\n");
    let out = app.run_input(&input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let blocks = blocks(&app);
    let status = (blocks.iter())
        .map(|b| b["status"].as_str().unwrap().to_string())
        .collect();
    (app, blocks, status)
}

#[test]
fn a_block_ips_budget_holds_the_second_block_for_a_human() {
    let (app, blocks, status) =
        two_blocks_under("{ name: blocks, action: block_ips, max: 1, per: 1h }");
    assert_eq!(status, ["succeeded", "awaiting_approval"]);
    let reasons = blocks[1]["gate"]["reasons"].to_string();
    assert!(
        reasons.contains("budget `blocks` is spent: 1 of 1"),
        "{reasons}"
    );
    let location = app.tenant().state()["namedLocations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["displayName"] == "stanch: blocked attacker IPs")
        .cloned()
        .expect("the first block ran");
    let ranges: Vec<&str> = location["ipRanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cidrAddress"].as_str().unwrap())
        .collect();
    assert_eq!(ranges, ["203.0.113.0/24"], "the second waits");
    let pending = app.approvals();
    assert!(
        pending
            .iter()
            .any(|r| r["state"] == "pending" && r["action"] == "block_ips"),
        "{pending:?}"
    );
    let trail = app.audit_trail();
    assert!(trail.iter().any(|(kind, _)| kind == "budget.exceeded"));
}

#[test]
fn a_budget_without_an_action_counts_tenant_wide_blocks_too() {
    let (_app, _, status) = two_blocks_under("{ name: everything, max: 1, per: 1h }");
    assert_eq!(status, ["succeeded", "awaiting_approval"]);
}

#[test]
fn an_approved_block_of_a_trusted_range_is_still_refused_when_it_would_run() {
    let playbook = SLASH_24.replace(
        "with: { ips: \"{{ ip | cidr(24) }}\" } }",
        "with: { ips: \"{{ ip | cidr(24) }}\" }, approval: { approvers: [f.okafor@contoso.com] } }",
    );
    let app = TestApp::builder()
        .tenant()
        .intake()
        .playbook("block-24.yaml", &playbook)
        .serve()
        .build();
    let before = access_state(&app);
    let (status, body) = app.post_detections(detection("b-10", r#","ip":"81.2.69.140""#));
    assert_eq!(status, 202, "{body}");
    // The plan cannot see the tenant's trusted locations: it asks a person.
    wait_until(20, "the block waits for approval", || {
        blocks(&app)
            .first()
            .is_some_and(|b| b["status"] == "awaiting_approval")
    });
    let id = blocks(&app)[0]["pk"].to_string();
    let approved = app.decide(
        "approve",
        &id,
        "f.okafor@contoso.com",
        "looks like the attacker",
    );
    assert_eq!(approved.code, 0, "{}", approved.stderr);
    wait_until(20, "the approved block is refused", || {
        blocks(&app)[0]["status"] == "refused"
    });
    let row = &blocks(&app)[0];
    assert!(
        row["result"]["refused"][0]["why"]
            .as_str()
            .is_some_and(|w| w.contains("trusted named location `Contoso offices`")),
        "{row}"
    );
    assert_nothing_blocked(&app, &before);
}
