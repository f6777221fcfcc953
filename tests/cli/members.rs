//! Campaign membership across an account's names: a detection naming A by UPN and another naming
//! it by object id (any case) are one member of one campaign once the rails have resolved A, so a
//! campaign cannot count one person as two accounts.

use serde_json::Value;

use crate::harness::{TestApp, wait_until};

const SILVA_ID: &str = "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e0001";
const SILVA: &str = "a.silva@contoso.com";

/// Revokes on a risky sign-in; confirms the compromise only once the campaign spans two accounts.
const PLAYBOOK: &str = r#"version: 1
id: spread
name: Revoke, and confirm once two accounts are in the campaign
match: { name: "Risky / Sign-in" }
steps:
  - id: revoke
    action: revoke_sessions
  - id: confirm
    action: confirm_compromised
    when: { field: campaign.accounts, gte: 2 }
"#;

/// A detection of `name` at `at` (day 1 unless it says otherwise) naming `user`, from `ip`.
fn detection(id: &str, name: &str, at: &str, user: &str, ip: &str) -> String {
    format!(
        "{{\"id\":\"{id}\",\"source\":\"soc\",\"name\":\"{name}\",\"severity\":\"high\",\
         \"observed_at\":\"2021-06-0{at}Z\",\"user\":{user},\"ip\":\"{ip}\"}}\n"
    )
}

fn by_upn(upn: &str) -> String {
    format!("{{\"upn\":\"{upn}\"}}")
}

fn by_id(id: &str) -> String {
    format!("{{\"id\":\"{id}\"}}")
}

fn campaigns(app: &TestApp) -> Vec<Value> {
    app.json(&["campaigns", "list", "--json"])
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// `stanch serve` with the emulator's tenant and [`PLAYBOOK`].
fn serving() -> TestApp {
    TestApp::builder()
        .tenant()
        .intake()
        .playbook("spread.yaml", PLAYBOOK)
        .serve()
        .build()
}

/// Posts, in one request (one batch), a risky sign-in naming A by UPN at 10:00 from
/// 198.51.100.23, then one naming it as `id` at 10:01 from `ip`.
fn post_a_named_twice(app: &TestApp, id: &str, ip: &str) {
    let both = detection(
        "by-upn",
        "Risky / Sign-in",
        "1T10:00:00",
        &by_upn(SILVA),
        "198.51.100.23",
    ) + &detection("by-id", "Risky / Sign-in", "1T10:01:00", &by_id(id), ip);
    let (status, body) = app.post_detections(both);
    assert_eq!(status, 202, "{body}");
}

/// The stored member rows, read past stanch (which folds rows naming one account).
fn member_rows(app: &TestApp) -> Vec<(String, String)> {
    app.runtime.block_on(async {
        let pool = app.raw_sqlite().await;
        let rows = sqlx::query_as("SELECT campaign_id, account FROM campaign_members")
            .fetch_all(&pool)
            .await
            .unwrap();
        pool.close().await;
        rows
    })
}

fn campaign_trail(app: &TestApp) -> Vec<(String, Value)> {
    app.audit_trail()
        .into_iter()
        .filter(|(kind, _)| kind.starts_with("campaign."))
        .collect()
}

#[test]
fn one_account_named_by_upn_and_by_object_id_ends_as_one_member_of_one_campaign() {
    let app = serving();
    // One request, one batch: both are grouped before anything is screened, and nothing links
    // them but the account (two networks), so they open two campaigns.
    post_a_named_twice(&app, &SILVA_ID.to_uppercase(), "203.0.113.9");
    wait_until(30, "the two names did not become one member", || {
        let listed = campaigns(&app);
        listed.len() == 1 && listed[0]["accounts"] == 1
    });
    let listed = campaigns(&app);
    assert_eq!(listed[0]["account_list"], serde_json::json!([SILVA]));
    let shown = app.json(&[
        "campaigns",
        "show",
        listed[0]["id"].as_str().unwrap(),
        "--json",
    ]);
    let members = shown["members"].as_array().unwrap();
    assert_eq!(members.len(), 1, "{shown:#}");
    assert_eq!(members[0]["upn"], SILVA);
    assert_eq!(members[0]["user_id"], SILVA_ID);
    assert_eq!(
        shown["merged_from"].as_array().unwrap().len(),
        1,
        "{shown:#}"
    );

    // The trail says why: the directory resolved the account.
    let trail = campaign_trail(&app);
    let said = |kind: &str| {
        trail
            .iter()
            .find(|(k, _)| k == kind)
            .map(|(_, p)| p.clone())
            .unwrap_or_else(|| panic!("no {kind} in {trail:#?}"))
    };
    let merged = said("campaign.merged");
    assert!(
        merged["via"].as_str().unwrap().contains(&format!(
            "the directory resolved {SILVA} to object id {SILVA_ID}"
        )),
        "{merged}"
    );
    let same = said("campaign.same_account");
    assert_eq!(
        (&same["account"], &same["merged"]),
        (&SILVA.into(), &SILVA_ID.into())
    );
    assert_eq!(app.stop_server(), 0);
    assert_eq!(app.stanch(&["audit", "verify"]).code, 0);
}

#[test]
fn two_members_of_one_campaign_that_are_one_account_leave_one_stored_row() {
    let app = serving();
    // One batch, one /24: one campaign, and (before the rails resolve A) two members.
    post_a_named_twice(&app, SILVA_ID, "198.51.100.24");
    wait_until(30, "the two members did not become one", || {
        member_rows(&app).len() == 1
    });
    let listed = campaigns(&app);
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["accounts"], 1, "{listed:#?}");
    let (_, account) = &member_rows(&app)[0];
    assert_eq!(account, SILVA, "the first to join stays: {account}");
    assert_eq!(app.stop_server(), 0);
}

#[test]
fn a_campaign_threshold_is_not_met_by_one_account_named_twice() {
    let app = TestApp::builder()
        .tenant()
        .playbook("spread.yaml", PLAYBOOK)
        .build();
    // By UPN first: its revoke is screened, and the directory says who A is.
    let first = app.run_input(&detection(
        "by-upn",
        "Risky / Sign-in",
        "1T10:00:00",
        &by_upn(SILVA),
        "198.51.100.23",
    ));
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    // Then by object id, in upper case, from the same network: the same campaign, the same
    // member. Another process, so what was learned must have been stored.
    let second = app.run_input(&detection(
        "by-id",
        "Risky / Sign-in",
        "1T10:05:00",
        &by_id(&SILVA_ID.to_uppercase()),
        "198.51.100.24",
    ));
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    let listed = campaigns(&app);
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0]["accounts"], 1, "{listed:#?}");
    assert!(listed[0]["confirmed_at"].is_null(), "{listed:#?}");
    let confirms: Vec<Value> = app
        .actions()
        .into_iter()
        .filter(|a| a["kind"] == "confirm_compromised")
        .collect();
    assert!(confirms.is_empty(), "{confirms:#?}");
    assert!(
        app.tenant()
            .writes()
            .iter()
            .all(|w| !w.contains("confirmCompromised")),
        "{:?}",
        app.tenant().writes()
    );
}

#[test]
fn intake_groups_a_detection_under_both_names_once_the_account_is_resolved() {
    let app = serving();
    let (status, body) = app.post_detections(detection(
        "by-upn",
        "Risky / Sign-in",
        "1T10:00:00",
        &by_upn(SILVA),
        "198.51.100.23",
    ));
    assert_eq!(status, 202, "{body}");
    wait_until(30, "the revoke was not screened", || {
        app.actions().iter().any(|a| a["status"] == "succeeded")
    });
    // Four days later (beyond the window: a campaign of their own), two detections no playbook
    // acts on, so nothing screens them: only what intake already knows makes them one account.
    let later = detection(
        "later-by-id",
        "Unusual / Sign-in",
        "5T10:00:00",
        &by_id(&SILVA_ID.to_uppercase()),
        "192.0.2.10",
    ) + &detection(
        "later-by-upn",
        "Unusual / Sign-in",
        "5T10:02:00",
        &by_upn("A.Silva@Contoso.com"),
        "192.0.2.11",
    );
    let (status, body) = app.post_detections(later);
    assert_eq!(status, 202, "{body}");
    let listed = campaigns(&app);
    let newest = listed
        .iter()
        .find(|c| c["first_seen"].as_str().unwrap().starts_with("2021-06-05"))
        .unwrap_or_else(|| panic!("{listed:#?}"));
    assert_eq!(newest["accounts"], 1, "{newest:#}");
    assert_eq!(newest["account_list"], serde_json::json!([SILVA]));
    // Grouped under both names, recorded as received: what the source said stays what it said.
    let shown = app.json(&[
        "campaigns",
        "show",
        newest["id"].as_str().unwrap(),
        "--json",
    ]);
    let recorded = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["detection"] == "soc/later-by-id")
        .cloned()
        .unwrap_or_else(|| panic!("{shown:#}"));
    assert_eq!(recorded["account"], SILVA_ID, "{recorded}");
    assert_eq!(app.stop_server(), 0);
}
