//! 202 means stored: a full disk, a database deleted or replaced under stanch.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::TestApp;
use crate::harness::detection::credential_use;

/// A small tmpfs mounted on a test's directory, so the test can fill the disk for real.
struct SmallDisk {
    at: PathBuf,
}

impl SmallDisk {
    /// `None` when this user cannot mount (not root): the test says so and does not run.
    fn mount(at: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("running mount");
        if !status.success() {
            // SAFETY: geteuid has no preconditions.
            assert_ne!(
                unsafe { libc_geteuid() },
                0,
                "root could not mount a tmpfs on {}",
                at.display()
            );
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        Some(SmallDisk {
            at: at.to_path_buf(),
        })
    }

    /// Writes a file until the disk is full; removing it frees the space again.
    fn fill(&self) -> PathBuf {
        use std::io::Write as _;
        let path = self.at.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        // The last partial chunk: fill to the last byte.
        while file.write_all(&[0u8; 512]).is_ok() {}
        let _ = file.flush();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

fn stored_detections(app: &TestApp) -> i64 {
    let out = app.stanch(&["audit", "export"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout
        .lines()
        .filter(|l| l.contains("\"kind\":\"detection.received\""))
        .count() as i64
}

#[test]
fn a_full_disk_answers_503_stores_nothing_it_acknowledged_and_recovers_by_itself() {
    let builder = TestApp::builder().intake();
    let Some(disk) = SmallDisk::mount(&builder.path(""), "6m") else {
        return;
    };
    let app = builder.serve().build();
    let (status, body) = app.post_detections(credential_use("d-1", "c.lee@contoso.com"));
    assert_eq!(status, 202, "{body}");

    let filler = disk.fill();
    let mut refused = 0;
    let mut acknowledged = 1;
    for n in 2..40 {
        let (status, body) =
            app.post_detections(credential_use(&format!("d-{n}"), "c.lee@contoso.com"));
        match status {
            202 => acknowledged += 1,
            503 => {
                assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
                refused += 1;
            }
            other => panic!("a full disk answers 202 or 503, not {other}: {body}"),
        }
    }
    assert!(refused > 0, "the disk never filled up");

    std::fs::remove_file(filler).unwrap();
    // Space is back: the server recovers without a restart.
    let (status, body) = app.post_detections(credential_use("d-after", "c.lee@contoso.com"));
    assert_eq!(status, 202, "recovered after space was freed: {body}");
    acknowledged += 1;
    assert_eq!(app.stop_server(), 0, "{}", app.server_log());

    assert_eq!(
        stored_detections(&app),
        acknowledged,
        "every 202 is stored and nothing refused is"
    );
    let verify = app.stanch(&["audit", "verify"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    drop(app);
    drop(disk);
}

#[test]
fn a_database_deleted_under_the_server_is_refused_not_recreated_empty() {
    let app = TestApp::builder().intake().serve().build();
    let (status, body) = app.post_detections(credential_use("x-1", "c.lee@contoso.com"));
    assert_eq!(status, 202, "{body}");
    // The anchor is written once the head is durable (the background checkpoint).
    crate::harness::cli::wait_until(10, "the audit anchor", || {
        app.path("stanch.audit-anchor").exists()
    });
    std::thread::sleep(std::time::Duration::from_millis(600));

    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(app.path(&format!("stanch.db{suffix}")));
    }
    let (status, body) = app.post_detections(credential_use("x-2", "c.lee@contoso.com"));
    assert_eq!(status, 503, "a deleted database takes nothing more: {body}");
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    let (ready, text) = app.get(&app.url("/readyz"));
    assert_eq!(ready, 503, "{text}");
    app.stop_server();

    // A restart does not create an empty database and carry on.
    let verify = app.stanch(&["audit", "verify"]);
    assert_eq!(verify.code, 1, "{}{}", verify.stdout, verify.stderr);
    assert!(
        verify
            .stdout
            .contains("does not exist: it was deleted or moved"),
        "{}",
        verify.stdout
    );
    assert!(!app.path("stanch.db").exists(), "no empty database created");
    let run = app.run_input(&credential_use("x-3", "c.lee@contoso.com"));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("stanch audit reanchor"),
        "{}",
        run.stderr
    );
}

#[test]
fn an_older_copy_put_back_in_place_is_refused_until_an_operator_reanchors_it() {
    let app = TestApp::builder().build();
    let first = app.run_input(&credential_use("o-1", "c.lee@contoso.com"));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let backup = app.path("backup.db");
    std::fs::copy(app.path("stanch.db"), &backup).unwrap();
    let second = app.run_input(&credential_use("o-2", "c.lee@contoso.com"));
    assert_eq!(second.code, 0, "{}", second.stderr);
    // Opening again anchors what the last run left durable.
    assert_eq!(app.stanch(&["audit", "verify"]).code, 0);

    std::fs::copy(&backup, app.path("stanch.db")).unwrap();
    let _ = std::fs::remove_file(app.path("stanch.db-wal"));
    let _ = std::fs::remove_file(app.path("stanch.db-shm"));
    let verify = app.stanch(&["audit", "verify"]);
    assert_eq!(verify.code, 1, "{}{}", verify.stdout, verify.stderr);
    assert!(
        verify
            .stdout
            .contains("has no audit record at that position"),
        "{}",
        verify.stdout
    );

    let refused = app.stanch(&["audit", "reanchor", "--reason", " "]);
    assert_eq!(refused.code, 1, "a reason is required: {}", refused.stderr);
    let reanchored = app.stanch(&[
        "audit",
        "reanchor",
        "--reason",
        "restored last night's backup",
    ]);
    assert_eq!(reanchored.code, 0, "{}", reanchored.stderr);
    let verify = app.stanch(&["audit", "verify"]);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    assert!(
        app.audit_trail()
            .iter()
            .any(|(kind, payload)| kind == "audit.reanchored"
                && payload["reason"] == "restored last night's backup"),
        "the operator's decision is in the trail"
    );
}
