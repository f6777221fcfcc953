//! Exit status as the README promises it: 0 done, 1 the person's input was wrong (an id that
//! does not exist, an argument that does not parse, a request the state does not allow, a
//! mistyped command), 2 stanch could not do its job (an unreadable config). A script can tell a
//! typo from an outage.

use crate::harness::TestApp;

#[test]
fn a_persons_mistake_exits_1_and_stanch_failing_exits_2() {
    let app = TestApp::builder().tenant().build();
    let mistakes: &[&[&str]] = &[
        &["actions", "rollback", "999", "--as", "ops", "--reason", "x"],
        &["actions", "retry", "999", "--as", "ops", "--reason", "x"],
        // Who and why are required on rollback and retry, and must say something.
        &["actions", "rollback", "1", "--reason", "x"],
        &["actions", "retry", "1", "--as", "ops"],
        &["actions", "retry", "1", "--as", " ", "--reason", "x"],
        &["actions", "list", "--status", "bogus"],
        &["report", "--since", "yesterday"],
        &["approvals", "show", "999"],
        &["campaigns", "show", "no-such-campaign"],
        &["actoins", "list"],
        &["actions", "list", "--no-such-flag"],
    ];
    for args in mistakes {
        let out = app.stanch(args);
        assert_eq!(out.code, 1, "{args:?}: {}{}", out.stdout, out.stderr);
        assert!(
            !out.stderr.trim().is_empty(),
            "{args:?} says what was wrong"
        );
    }
    let help = app.stanch(&["--help"]);
    assert_eq!(help.code, 0, "{}", help.stderr);
    assert!(help.stdout.contains("Usage"), "{}", help.stdout);

    let broken = app.path("broken.yaml");
    std::fs::write(&broken, "graph: [not, a, map\n").unwrap();
    let failed = app.stanch(&["actions", "list", "--config", broken.to_str().unwrap()]);
    assert_eq!(failed.code, 2, "{}", failed.stderr);
}
