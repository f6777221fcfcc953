//! Secrets in URLs (webhook tokens, database passwords) never leave the config: every output
//! is grepped for them: the audit trail, `actions list --json`, `approvals show`, the database
//! file, the server's log and the CLI's stderr. And `approvals link` signs links only for people
//! who may decide, and the approval page takes decisions only from its own origin.

use crate::harness::{TestApp, cli, detection::surge, wait_until};

const NOTIFY_TOKEN: &str = "n0tify-T0KEN";
const APPROVAL_TOKEN: &str = "appr0val-T0KEN";
const PG_PASSWORD: &str = "pg-PASSW0RD";

const PLAYBOOK: &str = r#"version: 1
id: secrets
match: { name: "Test / Secrets" }
steps:
  - { id: tell, action: notify, with: { message: "contained {{ user.upn }}" } }
  - id: disable
    action: disable_account
    approval: { approvers: [f.okafor@contoso.com] }
tests: []
"#;

/// Nothing listens on port 1: both webhooks fail, and their errors are where URLs used to leak.
fn config() -> String {
    format!(
        "mode: active\ngraph:\n  tenant_id: t\n  client_id: c\n  client_secret: s\n  graph_url: http://127.0.0.1:1\n  login_url: http://127.0.0.1:1\n\
         notify:\n  default: http://127.0.0.1:1/hooks/{NOTIFY_TOKEN}?sig={NOTIFY_TOKEN}\n\
         approvals:\n  webhook:\n    url: http://127.0.0.1:1/services/{APPROVAL_TOKEN}\n    secret: x\n"
    )
}

#[test]
fn webhook_urls_never_appear_in_the_trail_actions_approvals_database_or_log() {
    let app = TestApp::builder()
        .intake()
        .playbook("secrets.yaml", PLAYBOOK)
        .yaml(&config())
        .log_level("debug")
        .serve()
        .build();
    let detection = surge("sc-1", "b.jones@contoso.com", None).replace(
        "Antigena Email: Unusual Login Location + Sender Surge",
        "Test / Secrets",
    );
    let (status, body) = app.post_detections(detection);
    assert_eq!(status, 202, "{body}");
    wait_until(20, "the notify failed and the request was tried", || {
        let actions = app.actions();
        let failed = actions
            .iter()
            .any(|a| a["kind"] == "notify" && a["status"] == "failed");
        let tried = app.approvals().first().is_some_and(|a| {
            app.approval(a["id"].as_i64().unwrap())["deliveries"]
                .as_array()
                .is_some_and(|d| !d.is_empty())
        });
        failed && tried
    });
    assert_eq!(app.stop_server(), 0);

    let id = app.pending_approval_id();
    let database: String = ["stanch.db", "stanch.db-wal"]
        .iter()
        .map(|f| {
            String::from_utf8_lossy(&std::fs::read(app.path(f)).unwrap_or_default()).into_owned()
        })
        .collect();
    let outputs = [
        ("audit trail", app.stanch(&["audit", "export"]).stdout),
        (
            "actions list --json",
            app.stanch(&["actions", "list", "--json"]).stdout,
        ),
        ("approvals show --json", app.approval(id).to_string()),
        (
            "approvals show",
            app.stanch(&["approvals", "show", &id.to_string()]).stdout,
        ),
        ("database", database),
        ("log", app.server_log()),
    ];
    for (name, text) in &outputs {
        for token in [NOTIFY_TOKEN, APPROVAL_TOKEN] {
            assert!(!text.contains(token), "{token} is in the {name}:\n{text}");
        }
    }
    // What is shown instead: where the webhook points, without its token.
    let trail = &outputs[0].1;
    assert!(
        trail.contains("notify.response") && trail.contains("http://127.0.0.1:1/…"),
        "{trail}"
    );
    let shown = &outputs[3].1;
    assert!(
        shown.contains("webhook http://127.0.0.1:1/… unreachable"),
        "{shown}"
    );
}

#[test]
fn a_database_password_is_never_printed() {
    let app = TestApp::new();
    let url = format!("postgres://stanch:{PG_PASSWORD}@127.0.0.1:1/stanch");
    let out = cli::run(&url, &["actions", "list"], None);
    assert_ne!(out.code, 0, "nothing listens on port 1");
    assert!(
        out.stderr.contains("postgres://stanch@127.0.0.1:1/stanch"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains(PG_PASSWORD), "{}", out.stderr);
    assert!(!out.stdout.contains(PG_PASSWORD));
    drop(app);
}

#[test]
fn approvals_link_refuses_non_approvers_and_an_empty_upn() {
    let app = TestApp::builder()
        .playbook("secrets.yaml", PLAYBOOK)
        .link_secret("l1nk")
        .yaml("mode: active\n")
        .build();
    let detection = surge("sc-2", "b.jones@contoso.com", None).replace(
        "Antigena Email: Unusual Login Location + Sender Surge",
        "Test / Secrets",
    );
    let out = app.run_input(&detection);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let id = app.pending_approval_id().to_string();
    let link = |who: &str| app.stanch(&["approvals", "link", &id, "--for", who]);
    for (who, why) in [
        ("", "--for needs the UPN"),
        ("  ", "--for needs the UPN"),
        (
            "mallory@contoso.com",
            "not among the approvers of this step",
        ),
        ("b.jones@contoso.com", "is the account this action targets"),
    ] {
        let out = link(who);
        assert_ne!(out.code, 0, "a link for {who:?}: {}", out.stdout);
        assert!(out.stderr.contains(why), "{who:?}: {}", out.stderr);
        assert!(!out.stdout.contains("/approve/"), "{}", out.stdout);
    }
    let out = link("f.okafor@contoso.com");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("/approve/"), "{}", out.stdout);
}

/// A page on another site cannot make an approver's browser decide: the POST is refused and the
/// refusal audited; the same form from the approval page itself decides.
#[test]
fn cross_origin_posts_to_the_approval_page_are_refused_and_audited() {
    let app = TestApp::builder()
        .tenant()
        .intake()
        .link_secret("l1nk")
        .serve()
        .build();
    let (status, body) = app.post_detections(surge("co-1", "b.jones@contoso.com", None));
    assert_eq!(status, 202, "{body}");
    let id = app.pending_approval_id().to_string();
    let link = app.stanch(&["approvals", "link", &id, "--for", "f.okafor@contoso.com"]);
    assert_eq!(link.code, 0, "{}", link.stderr);
    let page = app.url(&format!(
        "/approve/{}",
        link.stdout.trim().rsplit('/').next().unwrap()
    ));
    let post = |headers: &[(&str, String)]| {
        app.runtime.block_on(async {
            let mut request = reqwest::Client::new()
                .post(&page)
                .form(&[("decision", "approve"), ("reason", "looks right")]);
            for (k, v) in headers {
                request = request.header(*k, v);
            }
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        })
    };
    let own_origin = app.url("");
    for headers in [
        vec![("origin", "https://evil.example".to_string())],
        vec![("origin", "null".to_string())],
        vec![
            ("sec-fetch-site", "cross-site".to_string()),
            ("origin", own_origin.clone()),
        ],
    ] {
        let (status, html) = post(&headers);
        assert_eq!(status, 403, "{headers:?}: {html}");
        assert!(html.contains("Nothing was decided"), "{html}");
    }
    assert_eq!(
        app.approval(id.parse().unwrap())["decisions"],
        serde_json::json!([])
    );
    let (status, html) = post(&[
        ("origin", own_origin),
        ("sec-fetch-site", "same-origin".to_string()),
    ]);
    assert_eq!(status, 200, "{html}");
    assert_eq!(app.stop_server(), 0);
    let refused: Vec<_> = app.audit_of("approval.refused");
    assert_eq!(refused.len(), 3, "{refused:?}");
    assert_eq!(refused[0]["origin"], "https://evil.example");
    assert!(
        refused[2]["why"]
            .as_str()
            .unwrap()
            .contains("Sec-Fetch-Site: cross-site")
    );
}
