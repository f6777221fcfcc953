//! The safety rails under load: a flood of 10,000 detections on 2,000 accounts disables exactly
//! as many accounts as the budget allows, every other account becomes one approval request, the
//! repeats are suppressed by the cooldown, and a Global Administrator (a protected role, resolved
//! through Graph) is never touched automatically.

use serde_json::Value;

use crate::harness::tenant::grown_fixture;
use crate::harness::{TestApp, project_root};

const ACCOUNTS: usize = 2_000;
const WAVES: usize = 5;
const BUDGET: usize = 5;

const PLAYBOOK: &str = r#"version: 1
id: flood
name: Flood of unusual logins
match: { name: "Flood / Unusual login" }
steps:
  - id: disable
    action: disable_account
"#;

#[test]
fn a_flood_disables_no_more_accounts_than_the_budget_and_asks_people_for_the_rest() {
    let builder = TestApp::builder();
    let fixture = builder.path("tenant.json");
    grown_fixture(&fixture, "flood", "7f000000", ACCOUNTS);
    let app = builder
        .tenant_from(&fixture)
        .playbook("flood.yaml", PLAYBOOK)
        .yaml(&format!(
            "protected_roles: [Global Administrator]\nsafety:\n  budgets:\n    - {{ name: disables, action: disable_account, max: {BUDGET}, per: 1h }}\n"
        ))
        .build();
    let tenant = app.tenant();
    let mut flood = String::new();
    for wave in 0..WAVES {
        for n in 0..ACCOUNTS {
            flood.push_str(&format!(
                "{{\"id\":\"f-{wave}-{n}\",\"source\":\"soc\",\"name\":\"Flood / Unusual login\",\"severity\":\"high\",\"observed_at\":\"2021-06-01T10:{wave:02}:00Z\",\"user\":{{\"upn\":\"flood{n}@contoso.com\"}}}}\n"
            ));
        }
    }
    flood.push_str("{\"id\":\"f-admin\",\"source\":\"soc\",\"name\":\"Flood / Unusual login\",\"severity\":\"high\",\"observed_at\":\"2021-06-01T10:00:30Z\",\"user\":{\"upn\":\"it.admin@contoso.com\"}}\n");
    let input = app.write("flood.jsonl", &flood);
    let run = app.stanch(&["run", "--input", input.to_str().unwrap(), "--quiet"]);
    assert_eq!(run.code, 0, "{}", run.stderr);

    let state = tenant.state();
    let disabled: Vec<&str> = state["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["accountEnabled"] == false)
        .map(|u| u["userPrincipalName"].as_str().unwrap())
        .collect();
    assert_eq!(disabled.len(), BUDGET, "exactly the budget: {disabled:?}");
    assert!(!disabled.contains(&"it.admin@contoso.com"));

    let all = app.actions();
    let count = |status: &str| all.iter().filter(|a| a["status"] == status).count();
    assert_eq!(all.len(), WAVES * ACCOUNTS + 1);
    assert_eq!(count("succeeded"), BUDGET);
    assert_eq!(
        count("suppressed"),
        (WAVES - 1) * ACCOUNTS,
        "every repeat on an account is suppressed by the cooldown"
    );
    let requests = app.approvals();
    let pending: Vec<&Value> = requests
        .iter()
        .filter(|r| r["state"] == "pending")
        .collect();
    assert_eq!(
        pending.len(),
        ACCOUNTS - BUDGET + 1,
        "every account over the budget, and the protected admin, waits for a person"
    );
    let over_budget = pending
        .iter()
        .filter(|r| {
            r["reasons"]
                .to_string()
                .contains("budget `disables` is spent: 5 of 5")
        })
        .count();
    assert_eq!(over_budget, ACCOUNTS - BUDGET);
    let admin = pending
        .iter()
        .find(|r| r["target"] == "it.admin@contoso.com")
        .expect("the admin's action waits for a person");
    assert!(
        admin["reasons"].to_string().contains("protected"),
        "{admin}"
    );
    let alerts: Vec<Value> = tenant
        .running
        .emulator
        .webhooks()
        .into_iter()
        .filter(|w| w["budget"] == "disables")
        .collect();
    assert_eq!(
        alerts.len(),
        1,
        "a flood raises one alert, not thousands: {alerts:?}"
    );
    assert!(
        alerts[0]["text"]
            .as_str()
            .unwrap()
            .contains("now wait for approval")
    );
    let trail = app.stanch(&["audit", "export"]).stdout;
    assert_eq!(
        trail.matches("\"budget.exceeded\"").count(),
        ACCOUNTS - BUDGET
    );
    assert_eq!(
        trail.matches("\"action.suppressed\"").count(),
        (WAVES - 1) * ACCOUNTS
    );
}

#[test]
fn the_passive_report_shows_what_would_have_run_and_what_the_rails_would_have_stopped() {
    let app = TestApp::builder()
        .yaml("protected_accounts: [breakglass@contoso.com]\nsafety:\n  budgets:\n    - { name: revokes, action: revoke_sessions, max: 1, per: 24h }\n")
        .build();
    let story = project_root().join("examples/attack-story.jsonl");
    let run = app.stanch(&["run", "--input", story.to_str().unwrap(), "--quiet"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = app.stanch(&["report", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["from"], "2021-06-01T06:12:00Z");
    let action = |playbook: &str, kind: &str| -> Value {
        report["playbooks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["playbook"] == playbook)
            .unwrap()["actions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["action"] == kind)
            .unwrap()
            .clone()
    };
    let legacy = action("legacy-auth-attempt", "block_legacy_auth");
    assert_eq!(
        legacy["protected"], 1,
        "the break-glass retry is held: {legacy}"
    );
    let disable = action("compromise-login-and-new-rule", "disable_account");
    assert_eq!(disable["step_approval"], 3);
    // One account per 24 h, whichever playbook asks first: A on day 1 (B waits), a legacy-auth
    // retry's revoke (after its quarantine) on day 2, D on day 3 (E waits); the rest wait.
    let logins = action("unusual-credential-source", "revoke_sessions");
    assert_eq!(logins["would_run"], 2, "{logins}");
    assert_eq!(logins["held_by_budget"]["revokes"], 1, "{logins}");
    let after_quarantine = action("legacy-auth-attempt", "revoke_sessions");
    assert_eq!(after_quarantine["would_run"], 1, "{after_quarantine}");
    assert_eq!(after_quarantine["protected"], 1, "{after_quarantine}");
    assert_eq!(
        after_quarantine["held_by_budget"]["revokes"], 2,
        "{after_quarantine}"
    );
    let rules = action("compromise-login-and-new-rule", "revoke_sessions");
    assert_eq!(rules["would_run"], 0, "{rules}");
    assert_eq!(rules["held_by_budget"]["revokes"], 3, "{rules}");
    // What sizes a budget: the accounts, and the busiest hour (D and E on day 3, 33 min apart).
    assert_eq!(
        rules["affected_accounts"],
        serde_json::json!([
            "b.jones@contoso.com",
            "d.patel@contoso.com",
            "e.novak@contoso.com"
        ])
    );
    assert_eq!(rules["peak_accounts_per_hour"], 2, "{rules}");
    assert_eq!(rules["peak_hour_from"], "2021-06-03T09:15:00Z", "{rules}");
    assert!(
        report["notes"][0]
            .as_str()
            .unwrap()
            .contains("campaign containment is not simulated"),
        "{report:#}"
    );

    let text = app.stanch(&["report", "--since", "2021-06-03T00:00:00Z"]);
    assert!(
        text.stdout.contains("passive period 2021-06-03"),
        "{}",
        text.stdout
    );
    let bad = app.stanch(&["report", "--since", "yesterday"]);
    assert_eq!(bad.code, 1, "a bad --since is a mistake, not a failure");
    assert!(bad.stderr.contains("RFC 3339"), "{}", bad.stderr);
}
