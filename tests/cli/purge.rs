//! `purge_messages` in active mode: the real binary pulls both phishing waves of the story out
//! of every recipient's mailbox it may read, names the one it may not, keeps the benign message
//! of the same sender, audits every call, and a rollback puts the waves back.

use serde_json::Value;

use crate::harness::TestApp;

const WAVE_1: &str = "<DB7PR04MB5163C1F0A2B3@DB7PR04MB5163.eurprd04.prod.outlook.com>";
const WAVE_2: &str = "<AM6PR02MB4417E9D8C7B6@AM6PR02MB4417.eurprd02.prod.outlook.com>";
const BENIGN: &str = "<AM6PR02MB4417A1B2C3D4@AM6PR02MB4417.eurprd02.prod.outlook.com>";
const COLLEAGUES: [&str; 5] = [
    "c.lee@contoso.com",
    "d.patel@contoso.com",
    "e.novak@contoso.com",
    "f.okafor@contoso.com",
    "g.muller@contoso.com",
];

const PURGE: &str = r#"version: 1
id: purge-wave
match: { name: "Antigena Email: Unusual Login Location + Sender Surge" }
steps:
  - id: purge
    action: purge_messages
    with: { internet_message_id: "{{ details.internet_message_id }}" }
tests: []
"#;

/// The story's two sender surges, each naming the message of its wave.
fn surges() -> String {
    [
        ("dt-1004", "2021-06-01T10:05:00Z", "b.jones@contoso.com", WAVE_1),
        ("dt-3005", "2021-06-03T13:52:00Z", "a.silva@contoso.com", WAVE_2),
    ]
    .iter()
    .map(|(id, at, upn, message)| {
        serde_json::json!({"id": id, "source": "darktrace", "name": "Antigena Email: Unusual Login Location + Sender Surge",
            "severity": "critical", "observed_at": at, "user": {"upn": upn},
            "details": {"internet_message_id": message}})
        .to_string()
    })
    .collect::<Vec<_>>()
    .join("\n")
}

fn folders(state: &Value, upn: &str, id: &str) -> Vec<String> {
    state["messages"][upn]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["internetMessageId"] == id)
        .map(|m| m["parentFolderId"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn both_waves_leave_every_readable_inbox_and_a_rollback_brings_them_back() {
    let app = TestApp::builder()
        .tenant()
        .playbook("purge.yaml", PURGE)
        .build();
    let tenant = app.tenant();
    let out = app.run_input(&surges());
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        out.stdout.matches("succeeded purge_messages").count(),
        2,
        "{}",
        out.stdout
    );

    let state = tenant.state();
    for wave in [WAVE_1, WAVE_2] {
        for upn in COLLEAGUES {
            assert_eq!(folders(&state, upn, wave), ["deleteditems"], "{upn} {wave}");
        }
        // The mailbox the app may not read still holds it: reported, below.
        assert_eq!(folders(&state, "it.admin@contoso.com", wave), ["inbox"]);
    }
    assert_eq!(
        folders(&state, "b.jones@contoso.com", WAVE_2),
        ["deleteditems"]
    );
    for upn in ["c.lee@contoso.com", "d.patel@contoso.com"] {
        assert_eq!(
            folders(&state, upn, BENIGN),
            ["inbox"],
            "the benign message stays"
        );
    }

    let actions = app.json(&["actions", "list", "--json", "--status", "succeeded"]);
    let purges: Vec<&Value> = actions
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "purge_messages")
        .collect();
    assert_eq!(purges.len(), 2);
    for purge in &purges {
        let outcome = &purge["result"]["outcome"];
        assert_eq!(outcome["partial"], true, "{purge}");
        assert_eq!(outcome["unreadable"][0]["mailbox"], "it.admin@contoso.com");
        assert!(
            outcome["manual_steps"][0]
                .as_str()
                .unwrap()
                .contains("it.admin@contoso.com")
        );
    }
    assert_eq!(app.stanch(&["audit", "verify"]).code, 0);
    let moves = tenant
        .writes()
        .iter()
        .filter(|w| w.contains("/move"))
        .count();
    let audited = app
        .audit_trail()
        .iter()
        .filter(|(kind, payload)| {
            kind == "graph.request"
                && payload["path"]
                    .as_str()
                    .is_some_and(|p| p.ends_with("/move"))
        })
        .count();
    assert_eq!((moves, audited), (11, 11), "every move is in the trail");

    // A re-run of the same detections acts on nothing twice.
    let writes = tenant.writes().len();
    let again = app.run_input(&surges());
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(tenant.writes().len(), writes);

    for purge in &purges {
        let rolled = app.rollback(&purge["pk"].to_string());
        assert_eq!(rolled.code, 0, "{}\n{}", rolled.stdout, rolled.stderr);
    }
    let state = tenant.state();
    for wave in [WAVE_1, WAVE_2] {
        for upn in COLLEAGUES {
            assert_eq!(
                folders(&state, upn, wave),
                ["inbox"],
                "{upn} has {wave} back"
            );
        }
    }
}
