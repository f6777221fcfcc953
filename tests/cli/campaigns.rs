//! Campaigns end to end: the attack story replayed in active mode against the emulator, in two
//! parts (days 1–2 with `stanch run`, days 3–4 through `stanch serve`), so what happened on day 1
//! can be checked before the day-3 detections exist.

use serde_json::Value;

use crate::harness::detection::login_at_home;
use crate::harness::{TestApp, attack_story, bearer, wait_until};

const A: &str = "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e0001";
const BREAKGLASS: &str = "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e00bb";

/// The story's detection lines whose id starts with one of `days` (`dt-1`, `dt-2`...).
fn story_days(days: &[&str], skip: &[&str]) -> String {
    std::fs::read_to_string(attack_story())
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('{'))
        .filter(|l| days.iter().any(|d| l.contains(&format!("\"id\":\"{d}"))))
        .filter(|l| !skip.iter().any(|s| l.contains(&format!("\"id\":\"{s}\""))))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn campaigns(app: &TestApp) -> Vec<Value> {
    let out = app.stanch(&["campaigns", "list", "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {out:?}"))
}

fn show(app: &TestApp, id: &str) -> Value {
    let out = app.stanch(&["campaigns", "show", id, "--json"]);
    assert_eq!(out.code, 0, "{out:?}");
    serde_json::from_str(&out.stdout).unwrap()
}

fn accounts(campaign: &Value) -> Vec<String> {
    let mut list: Vec<String> = campaign["account_list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    list.sort();
    list
}

fn member_action<'a>(all: &'a [Value], kind: &str, upn: &str) -> Option<&'a Value> {
    all.iter()
        .find(|a| a["playbook"] == "campaign-member" && a["kind"] == kind && a["target_upn"] == upn)
}

/// At most this many accounts acted on automatically per day: the story's five compromised
/// accounts fit; anything beyond would wait for a person.
const STORY_BUDGET: usize = 5;

#[test]
fn the_quiet_account_is_contained_on_day_one_and_the_attacker_ranges_are_blocked() {
    let app = TestApp::builder()
        .tenant()
        .intake()
        .yaml(&format!(
            "safety:\n  budgets:\n    - {{ name: accounts, max: {STORY_BUDGET}, per: 24h }}\n"
        ))
        .build();
    let tenant = app.tenant();
    let a_before = tenant.user("a.silva@contoso.com");

    // Days 1 and 2 only: B is confirmed compromised on day 1 at 09:41.
    let days_1_2 = story_days(&["dt-1", "dt-2"], &[]);
    let out = app.run_input(&days_1_2);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("failed "), "{}", out.stdout);
    let listed = campaigns(&app);
    assert_eq!(listed.len(), 1, "{listed:#?}");
    let id = listed[0]["id"].as_str().unwrap().to_string();
    assert!(
        listed[0]["confirmed_at"]
            .as_str()
            .unwrap()
            .starts_with("2021-06-01T09:41:00"),
        "{listed:#?}"
    );

    // A, quiet since day 1, is already contained as a member of the confirmed campaign: before
    // any of its day-3 detections exists.
    let all = app.actions();
    for kind in [
        "revoke_sessions",
        "disable_inbox_rules",
        "block_legacy_auth",
    ] {
        let action = member_action(&all, kind, "a.silva@contoso.com")
            .unwrap_or_else(|| panic!("no campaign-member {kind} for A: {all:#?}"));
        assert_eq!(action["status"], "succeeded", "{action:#?}");
    }
    assert!(
        tenant.quarantined().iter().any(|m| m == A),
        "A's legacy auth is blocked"
    );
    assert_ne!(
        tenant.user("a.silva@contoso.com")["signInSessionsValidFromDateTime"],
        a_before["signInSessionsValidFromDateTime"]
    );
    let story = show(&app, &id);
    let a_member = story["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| {
            t["name"] == "stanch / Campaign / Member of confirmed campaign"
                && t["account"] == "a.silva@contoso.com"
        })
        .expect("A's member detection");
    assert!(
        a_member["observed_at"]
            .as_str()
            .unwrap()
            .starts_with("2021-06-01T09:41:00"),
        "contained as of B's confirmation: {a_member}"
    );

    // Days 3 and 4 arrive through the HTTP intake of `stanch serve`; its worker contains D and E
    // as members (they joined a campaign confirmed before), and carries out the range block
    // once a SOC member approves it.
    app.start_server();
    let days_3_4 = story_days(&["dt-3", "dt-4"], &[]);
    let (status, body) = app.post_detections(days_3_4);
    assert_eq!(status, 202, "{body}");
    wait_until(30, "D and E were not contained as members", || {
        let all = app.actions();
        ["d.patel@contoso.com", "e.novak@contoso.com"]
            .iter()
            .all(|upn| {
                // Succeeded, or covered by an equal action that ran after it was requested.
                member_action(&all, "block_legacy_auth", upn)
                    .is_some_and(|a| a["status"] == "succeeded" || a["status"] == "covered")
            })
    });
    let listed = campaigns(&app);
    assert_eq!(
        listed.len(),
        1,
        "one campaign for the whole story: {listed:#?}"
    );
    let members = accounts(&listed[0]);
    for upn in [
        "a.silva@contoso.com",
        "b.jones@contoso.com",
        "c.lee@contoso.com",
        "d.patel@contoso.com",
        "e.novak@contoso.com",
    ] {
        assert!(members.iter().any(|m| m == upn), "{upn} not in {members:?}");
    }

    let approvals = app.approvals();
    let block = approvals
        .iter()
        .find(|a| a["playbook"] == "campaign-confirmed" && a["action"] == "block_ips")
        .expect("the campaign's range block waits for approval");
    assert_eq!(
        block["params"]["ips"],
        serde_json::json!(["198.51.100.0/24", "203.0.113.0/24", "192.0.2.0/24"])
    );
    let block_pk = block["id"].as_i64().unwrap();
    let id_of_block = block_pk.to_string();
    let approved = app.stanch(&[
        "approvals",
        "approve",
        &id_of_block,
        "--as",
        "f.okafor@contoso.com",
        "--reason",
        "the three ranges are the attacker's",
    ]);
    assert_eq!(approved.code, 0, "{approved:?}");
    wait_until(30, "the approved range block did not run", || {
        app.actions()
            .iter()
            .any(|a| a["pk"] == block_pk && a["status"] == "succeeded")
    });
    assert_eq!(app.stop_server(), 0);

    let state = tenant.state();
    let location = state["namedLocations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["displayName"] == "stanch: attacker ranges")
        .cloned()
        .expect("the named location of attacker ranges");
    let mut ranges: Vec<&str> = location["ipRanges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cidrAddress"].as_str().unwrap())
        .collect();
    ranges.sort();
    assert_eq!(
        ranges,
        ["192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"]
    );
    let policy = state["conditionalAccessPolicies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["conditions"]["locations"]["includeLocations"][0] == location["id"])
        .cloned()
        .expect("a policy blocking the location");
    assert_eq!(policy["grantControls"]["builtInControls"][0], "block");
    assert_eq!(policy["conditions"]["users"]["excludeUsers"][0], BREAKGLASS);

    // The break-glass account is in the campaign, but nothing touched it: a human must decide.
    assert!(members.iter().any(|m| m == "breakglass@contoso.com"));
    let breakglass = tenant.user("breakglass@contoso.com");
    assert_eq!(breakglass["accountEnabled"], true);
    assert_eq!(
        breakglass["signInSessionsValidFromDateTime"],
        "2021-05-01T08:00:00Z"
    );
    assert!(!tenant.quarantined().iter().any(|m| m == BREAKGLASS));
    let all = app.actions();
    let touching: Vec<&Value> = all
        .iter()
        .filter(|a| a["target_upn"] == "breakglass@contoso.com")
        .collect();
    assert!(!touching.is_empty());
    // Each waits for a person; a repeat of a request already waiting is suppressed, not asked twice.
    assert!(
        touching
            .iter()
            .all(|a| a["status"] == "awaiting_approval" || a["status"] == "suppressed"),
        "{touching:#?}"
    );
    assert!(touching.iter().any(|a| a["status"] == "awaiting_approval"));

    // The budget held: no more distinct accounts were acted on without a person than it allows.
    let acted: std::collections::BTreeSet<&str> = all
        .iter()
        .filter(|a| a["status"] == "succeeded" && a["gate"]["gate"] == "automatic")
        .filter_map(|a| a["target_upn"].as_str())
        .collect();
    assert_eq!(
        acted.len(),
        STORY_BUDGET,
        "the five compromised accounts, and no other, were acted on automatically: {acted:?}"
    );

    // The narrative, and the audit trail behind it.
    let text = app.stanch(&["campaigns", "show", &id]);
    for expected in [
        "confirmed 2021-06-01T09:41:00",
        "accounts (how each joined)",
        "detection darktrace/dt-1002 (network 198.51.100.0/24, AS37100)",
        "infrastructure",
        "timeline",
        "campaign-member/block-legacy",
    ] {
        assert!(
            text.stdout.contains(expected),
            "no `{expected}` in:\n{}",
            text.stdout
        );
    }
    let export = app.stanch(&["audit", "export"]).stdout;
    for kind in ["campaign.opened", "campaign.joined", "campaign.confirmed"] {
        assert!(export.contains(&format!("\"kind\":\"{kind}\"")), "{kind}");
    }
    assert_eq!(app.stanch(&["audit", "verify"]).code, 0);
}

#[test]
fn a_quiet_account_without_a_detection_is_found_by_the_sweep_and_contained() {
    let app = TestApp::builder().tenant().build();
    let tenant = app.tenant();
    // No detection ever names A: only its sign-in from the attacker's VPN exit (198.51.100.24,
    // B's address) on day 1 connects it.
    let days_1_2 = story_days(&["dt-1", "dt-2"], &["dt-1001"]);
    let out = app.run_input(&days_1_2);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let listed = campaigns(&app);
    assert_eq!(listed.len(), 1, "{listed:#?}");
    let story = show(&app, listed[0]["id"].as_str().unwrap());
    let a = story["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["upn"] == "a.silva@contoso.com")
        .unwrap_or_else(|| panic!("A did not join: {story:#}"));
    assert!(
        a["via"]
            .as_str()
            .unwrap()
            .contains("signed in from 198.51.100.24 at 2021-06-01T06:55:00Z"),
        "{a}"
    );
    assert_eq!(a["contained"], true);
    assert!(tenant.quarantined().iter().any(|m| m == A));
    // The sweep's reads are in the trail like any other Graph call.
    let export = app.stanch(&["audit", "export"]).stdout;
    assert!(
        export.contains("auditLogs/signIns?$filter=ipAddress"),
        "no audited sweep"
    );
}

#[test]
fn an_operator_confirms_a_campaign_and_its_members_are_contained() {
    let app = TestApp::builder().tenant().build();
    let tenant = app.tenant();
    // Two unusual logins from one /24 at home: grouped, but nothing confirms a compromise.
    let input = login_at_home("op-1", "f.okafor@contoso.com", "198.51.100.23")
        + &login_at_home("op-2", "g.muller@contoso.com", "198.51.100.99");
    let out = app.run_input(&input);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let listed = campaigns(&app);
    assert_eq!(listed.len(), 1);
    assert!(listed[0]["confirmed_at"].is_null());
    let id = listed[0]["id"].as_str().unwrap().to_string();
    assert!(tenant.quarantined().is_empty(), "nothing contained yet");

    let refused = app.stanch(&["campaigns", "confirm", &id, "--as", "", "--reason", "x"]);
    assert_eq!(refused.code, 1, "{refused:?}");
    let confirmed = app.stanch(&[
        "campaigns",
        "confirm",
        &id,
        "--as",
        "secops-lead@contoso.com",
        "--reason",
        "both logged in from the phishing kit's proxy",
    ]);
    assert_eq!(confirmed.code, 0, "{confirmed:?}");
    assert!(
        confirmed
            .stdout
            .contains("3 follow-up detection(s) recorded"),
        "two members and the infrastructure: {}",
        confirmed.stdout
    );
    let quarantined = tenant.quarantined();
    for id in [
        "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e000a",
        "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e000b",
    ] {
        assert!(quarantined.iter().any(|m| m == id), "{id}: {quarantined:?}");
    }
    let listed = campaigns(&app);
    assert_eq!(
        listed[0]["confirmed_by"],
        "operator secops-lead@contoso.com"
    );
    assert_eq!(listed[0]["contained"], 2);
    // Confirming again finds nobody new to contain and acts on nothing twice.
    let writes = tenant.writes().len();
    let again = app.stanch(&[
        "campaigns",
        "confirm",
        &id,
        "--as",
        "secops-lead@contoso.com",
        "--reason",
        "again",
    ]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(
        again.stdout.contains("0 follow-up detection(s) recorded"),
        "{}",
        again.stdout
    );
    assert_eq!(tenant.writes().len(), writes, "{:?}", tenant.writes());

    // Nothing from outside can pass for one of stanch's own campaign detections.
    let forged = "{\"id\":\"f-1\",\"source\":\"stanch\",\"name\":\"stanch / Campaign / Member of confirmed campaign\",\"observed_at\":\"2021-06-02T00:00:00Z\",\"user\":{\"upn\":\"h.room@contoso.com\"}}";
    let out = app.run_input(forged);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout
            .contains("is reserved for the detections stanch emits"),
        "{}",
        out.stdout
    );
    assert_eq!(tenant.writes().len(), writes);
}

#[test]
fn passive_mode_sweeps_and_groups_but_changes_nothing() {
    let app = TestApp::builder().tenant().build();
    let tenant = app.tenant();
    let out = app.stanch(&["run", "--input", &attack_story(), "--passive"]);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(tenant.writes().is_empty(), "{:?}", tenant.writes());
    let sweeps = tenant
        .running
        .emulator
        .requests()
        .iter()
        .filter(|r| r.path.contains("auditLogs/signIns"))
        .count();
    assert!(sweeps > 0, "the read-only sweeps ran");
    let listed = campaigns(&app);
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0]["confirmed_at"].is_null(),
        "a passive run confirms nothing"
    );
    assert_eq!(listed[0]["accounts"], 6);
}

/// `stanch serve` keeps its campaigns in memory; an operator confirming one from the CLI (another
/// process) is picked up, and the next account joining it is contained as a member.
#[test]
fn a_running_server_learns_of_a_confirmation_made_elsewhere() {
    let app = TestApp::builder().tenant().intake().serve().build();
    let tenant = app.tenant();
    let intake = app.url("/v1/detections");
    let home = |id: &str, upn: &str, ip: &str, minute: u32| {
        format!(
            "{{\"id\":\"{id}\",\"source\":\"darktrace\",\"name\":\"SaaS / Unusual Activity / Unusual External Source for SaaS Credential Use\",\"severity\":\"medium\",\"observed_at\":\"2021-06-01T06:{minute:02}:00Z\",\"user\":{{\"upn\":\"{upn}\"}},\"ip\":\"{ip}\",\"country\":\"BE\"}}\n"
        )
    };
    let first = home("s-1", "f.okafor@contoso.com", "198.51.100.23", 10)
        + &home("s-2", "g.muller@contoso.com", "198.51.100.99", 11);
    let (status, body) = app.post(&intake, first, &bearer());
    assert_eq!(status, 202, "{body}");
    let id = campaigns(&app)[0]["id"].as_str().unwrap().to_string();
    let confirmed = app.stanch(&[
        "campaigns",
        "confirm",
        &id,
        "--as",
        "secops-lead@contoso.com",
        "--reason",
        "proxy logs",
    ]);
    assert_eq!(confirmed.code, 0, "{confirmed:?}");
    // The server looks for others' changes at most every quarter of a second.
    std::thread::sleep(std::time::Duration::from_millis(400));
    let (status, body) = app.post(
        &intake,
        home("s-3", "h.room@contoso.com", "198.51.100.7", 40),
        &bearer(),
    );
    assert_eq!(status, 202, "{body}");
    wait_until(30, "h.room was not contained as a member", || {
        member_action(&app.actions(), "block_legacy_auth", "h.room@contoso.com")
            .is_some_and(|a| a["status"] == "succeeded")
    });
    assert!(
        tenant
            .quarantined()
            .iter()
            .any(|m| m == "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e000c")
    );
    assert_eq!(app.stop_server(), 0);
}
