use crate::harness::{TestApp, attack_story};

fn recorded(app: &TestApp) {
    let out = app.stanch(&["run", "--input", &attack_story(), "--quiet"]);
    assert_eq!(out.code, 0, "{out:?}");
    let verify = app.stanch(&["audit", "verify"]);
    assert_eq!(verify.code, 0, "{verify:?}");
    assert!(
        verify
            .stdout
            .contains("audit trail intact: 36 record(s) verified"),
        "{}",
        verify.stdout
    );
}

fn broken(app: &TestApp) -> String {
    let out = app.stanch(&["audit", "verify"]);
    assert_eq!(out.code, 1, "a broken chain exits 1: {out:?}");
    assert!(out.stdout.contains("audit trail BROKEN"), "{}", out.stdout);
    out.stdout
}

#[test]
fn an_edited_record_is_named() {
    let app = TestApp::new();
    recorded(&app);
    app.sql(
        &[
            "UPDATE audit_log SET payload = replace(payload, 'disable_account', 'enable_account') WHERE seq = 9",
        ],
    );
    let out = broken(&app);
    assert!(out.contains("record 9 ") && out.contains("edited"), "{out}");
}

#[test]
fn a_deleted_record_is_named() {
    let app = TestApp::new();
    recorded(&app);
    app.sql(&["DELETE FROM audit_log WHERE seq = 12"]);
    let out = broken(&app);
    assert!(out.contains("12") && out.contains("deleted"), "{out}");
}

#[test]
fn a_deleted_last_record_is_noticed() {
    let app = TestApp::new();
    recorded(&app);
    app.sql(&["DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)"]);
    let out = broken(&app);
    // The anchor outside the database notices first: record #36 is gone.
    assert!(
        out.contains("record 36") || out.contains("head") || out.contains("record #36"),
        "{out}"
    );
}

#[test]
fn reordered_records_are_named() {
    let app = TestApp::new();
    recorded(&app);
    app.sql(&[
        "UPDATE audit_log SET seq = -1 WHERE seq = 5",
        "UPDATE audit_log SET seq = 5 WHERE seq = 6",
        "UPDATE audit_log SET seq = 6 WHERE seq = -1",
    ]);
    let out = broken(&app);
    assert!(
        out.contains("record 5") || out.contains("record 6"),
        "{out}"
    );
    assert!(out.contains("reordered") || out.contains("moved"), "{out}");
}

#[test]
fn an_export_verifies_on_its_own_and_tampering_with_it_shows() {
    let app = TestApp::new();
    recorded(&app);
    let export = app.path("audit.jsonl").display().to_string();
    let out = app.stanch(&["audit", "export", "--output", &export]);
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(
        std::fs::read_to_string(&export).unwrap().lines().count(),
        36
    );
    let ok = app.stanch(&["audit", "verify", "--file", &export]);
    assert_eq!(ok.code, 0, "{ok:?}");
    let text = std::fs::read_to_string(&export)
        .unwrap()
        .replacen("would_request_approval", "would_execute", 1)
        .replacen(
            "\"gate\\\":\\\"approval\\\"",
            "\"gate\\\":\\\"automatic\\\"",
            1,
        );
    std::fs::write(&export, text).unwrap();
    let bad = app.stanch(&["audit", "verify", "--file", &export]);
    assert_eq!(bad.code, 1, "{bad:?}");
    assert!(bad.stdout.contains("edited"), "{}", bad.stdout);
}
