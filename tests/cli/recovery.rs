//! After a crash: an action whose effect no read can prove is left for a person, not repeated.

use crate::harness::TestApp;

/// A `notify` caught mid-run by a crash: whether the message went out cannot be read back, so
/// the restart makes it `unverified` instead of sending it again; `actions list` shows it with
/// what to do, and a person's `actions retry` queues it again.
#[test]
fn an_interrupted_notify_is_listed_unverified_and_only_a_person_retries_it() {
    let app = TestApp::builder().tenant().build();
    let config = app
        .write("active.yaml", "mode: active\n")
        .display()
        .to_string();
    let detection = r#"{"id":"crash-2","source":"darktrace","name":"SaaS / Compromise / Unusual Login and New Email Rule","severity":"high","observed_at":"2021-06-01T09:41:00Z","user":{"upn":"b.jones@contoso.com"}}"#;
    let out = app.stanch_with_input(
        &["run", "--input", "-", "--config", &config],
        Some(detection),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let (pk, recovered) = app.runtime.block_on(async {
        let store = stanch::store::Store::open(&app.database_url())
            .await
            .unwrap();
        let row = store
            .pending_actions(100)
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.kind == "notify")
            .expect("the playbook notifies");
        // The worker claimed it, and then the process died (its lease with it).
        store
            .claim_action(row.detection_seq, &row.idempotency_key)
            .await
            .unwrap();
        let me = store.replica().id.clone();
        store.lapse_leases_of(&me).await.unwrap();
        (row.pk, store.recover_interrupted_actions().await.unwrap())
    });
    assert_eq!(recovered.unverified, [pk]);

    let list = app.stanch(&[
        "actions",
        "list",
        "--status",
        "unverified",
        "--config",
        &config,
    ]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let line = list
        .stdout
        .lines()
        .find(|l| l.starts_with(&format!("#{pk} ")))
        .unwrap_or_else(|| panic!("#{pk} is not listed: {}", list.stdout));
    assert!(
        line.contains("unverified") && line.contains("notify"),
        "{line}"
    );
    assert!(
        line.contains(&format!(
            "check by hand, then `stanch actions retry {pk} --as NAME --reason TEXT`"
        )),
        "{line}"
    );
    let typo = app.stanch(&[
        "actions",
        "list",
        "--status",
        "unverifed",
        "--config",
        &config,
    ]);
    assert_ne!(typo.code, 0);
    assert!(
        typo.stderr
            .contains("`unverifed` is not a known ActionStatus"),
        "{}",
        typo.stderr
    );

    let retry = app.stanch(&[
        "actions",
        "retry",
        &pk.to_string(),
        "--config",
        &config,
        "--as",
        "ops@contoso.com",
        "--reason",
        "test",
    ]);
    assert_eq!(retry.code, 0, "{}", retry.stderr);
    let pending = app.stanch(&[
        "actions", "list", "--status", "pending", "--config", &config,
    ]);
    assert!(
        pending.stdout.contains(&format!("#{pk} ")),
        "{}",
        pending.stdout
    );
}
