//! Audit streaming to a SIEM: every sealed record, in order, with its seq and hash, at least once
//! through a receiver's restart and stanch's own.

use std::collections::BTreeMap;

use crate::harness::syslog::{Frame, SyslogReceiver};
use crate::harness::{TestApp, detection, wait_until};

/// The trail as exported: seq → hash.
fn trail(app: &TestApp) -> BTreeMap<i64, String> {
    trail_of(&app.database_url())
}

/// Every record of the trail arrived with its hash; on each connection, in seq order.
fn assert_complete(frames: &[Frame], trail: &BTreeMap<i64, String>) {
    let mut last: BTreeMap<usize, i64> = BTreeMap::new();
    for frame in frames {
        let seq = frame.seq();
        if let Some(previous) = last.insert(frame.connection, seq) {
            assert!(
                seq > previous,
                "connection {} went from {previous} to {seq}",
                frame.connection
            );
        }
        assert_eq!(
            frame.record()["hash"].as_str(),
            trail.get(&seq).map(String::as_str),
            "seq {seq}"
        );
    }
    let received: std::collections::BTreeSet<i64> = frames.iter().map(Frame::seq).collect();
    let missing: Vec<&i64> = trail.keys().filter(|s| !received.contains(s)).collect();
    assert!(missing.is_empty(), "never forwarded: {missing:?}");
}

/// An app with intake whose audit trail goes to `receiver`.
fn forwarding_to(receiver: &SyslogReceiver) -> crate::harness::Builder {
    TestApp::builder().intake().yaml(&format!(
        "audit:\n  forward:\n    syslog: {{ address: \"{}\" }}\n",
        receiver.addr
    ))
}

fn received_all(receiver: &SyslogReceiver, app: &TestApp) -> bool {
    let frames = receiver.frames();
    let got: std::collections::BTreeSet<i64> = frames.iter().map(Frame::seq).collect();
    trail(app).keys().all(|s| got.contains(s))
}

#[test]
fn every_sealed_record_reaches_the_syslog_receiver_in_order_through_its_restart_and_ours() {
    let mut receiver = SyslogReceiver::start();
    let app = forwarding_to(&receiver).serve().build();
    let post = |id: &str| {
        let (status, body) =
            app.post_detections(detection::credential_use(id, "b.jones@contoso.com"));
        assert_eq!(status, 202, "{body}");
    };
    post("f-1");
    wait_until(20, "the first records were not forwarded", || {
        received_all(&receiver, &app)
    });

    // The receiver goes down; what is sealed meanwhile waits, and nothing is skipped.
    receiver.stop();
    post("f-2");
    post("f-3");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    receiver.restart();
    post("f-4");
    wait_until(
        40,
        "the records sealed while the receiver was down never came",
        || received_all(&receiver, &app),
    );

    // stanch restarts: it resumes after what was delivered, not from the start.
    wait_until(10, "the last records were not confirmed", || {
        app.server_log().contains("forwarding the audit trail")
    });
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let before = receiver.frames().len();
    app.stop_server();
    app.start_server();
    post("f-5");
    wait_until(20, "records after stanch's restart never came", || {
        received_all(&receiver, &app)
    });
    let frames = receiver.frames();
    let after_restart = &frames[before..];
    let first = after_restart.first().unwrap().seq();
    assert!(first > 1, "stanch started again from the beginning");
    assert_complete(&frames, &trail(&app));
    assert!(
        frames[0].message.starts_with("<110>1 "),
        "{}",
        frames[0].message
    );
    // Once confirmed, the receiver is behind by nothing.
    wait_until(10, "the forwarder stayed behind", || {
        let (_, metrics) = app.get(&app.url("/metrics"));
        metrics.contains("stanch_audit_forward_behind{forwarder=\"syslog\"} 0")
    });
}

/// rsyslogd, when installed (Debian's `rsyslog`): a real receiver writing what it gets to a file.
/// Skipped without it, unless `STANCH_REQUIRE_RSYSLOG=1` (CI), where its absence fails.
fn rsyslogd() -> Option<std::path::PathBuf> {
    let found = ["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]
        .iter()
        .map(std::path::PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var("STANCH_REQUIRE_RSYSLOG").as_deref() != Ok("1"),
            "STANCH_REQUIRE_RSYSLOG=1 but rsyslogd is not installed (apt-get install rsyslog)"
        );
        eprintln!("note: rsyslogd is not installed; skipping the test against a real rsyslog");
    }
    found
}

/// rsyslogd in the foreground on a port of its choosing, killed when dropped.
struct Rsyslog {
    child: std::process::Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Rsyslog {
    fn start(binary: &std::path::Path, dir: &std::path::Path) -> Rsyslog {
        let (log, port_file) = (dir.join("audit.log"), dir.join("port"));
        let conf = format!(
            "global(workDirectory=\"{dir}\" maxMessageSize=\"256k\")\n\
             module(load=\"imtcp\")\n\
             template(name=\"raw\" type=\"string\" string=\"%rawmsg%\\n\")\n\
             ruleset(name=\"stanch\") {{ action(type=\"omfile\" file=\"{log}\" template=\"raw\") }}\n\
             input(type=\"imtcp\" address=\"127.0.0.1\" port=\"0\" listenPortFileName=\"{port}\" ruleset=\"stanch\")\n",
            dir = dir.display(),
            log = log.display(),
            port = port_file.display(),
        );
        let conf_file = dir.join("rsyslog.conf");
        std::fs::write(&conf_file, conf).unwrap();
        let child = std::process::Command::new(binary)
            .arg("-n")
            .arg("-f")
            .arg(&conf_file)
            .arg("-i")
            .arg(dir.join("rsyslog.pid"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start rsyslogd");
        let mut port = 0;
        wait_until(10, "rsyslogd did not say its port", || {
            port = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|p| p.trim().parse().ok())
                .unwrap_or(0);
            port != 0
        });
        Rsyslog { child, port, log }
    }

    /// The seq and hash of each record in rsyslog's file, in the order written.
    fn records(&self) -> Vec<(i64, String)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|line| {
                let frame = Frame {
                    connection: 0,
                    message: line.to_string(),
                };
                let hash = frame.record()["hash"].as_str().unwrap().to_string();
                (frame.seq(), hash)
            })
            .collect()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_real_rsyslog_writes_every_record_in_order_with_its_hash() {
    let Some(binary) = rsyslogd() else { return };
    let dir = tempfile::tempdir().unwrap();
    let rsyslog = Rsyslog::start(&binary, dir.path());
    let app = TestApp::builder()
        .intake()
        .yaml(&format!(
            "audit:\n  forward:\n    syslog: {{ address: \"127.0.0.1:{}\" }}\n",
            rsyslog.port
        ))
        .serve()
        .build();
    for id in ["r-1", "r-2"] {
        let (status, body) = app.post_detections(detection::surge(id, "b.jones@contoso.com", None));
        assert_eq!(status, 202, "{body}");
    }
    let mut trail_now = BTreeMap::new();
    wait_until(30, "rsyslog did not write the whole trail", || {
        trail_now = trail(&app);
        let written: std::collections::BTreeSet<i64> =
            rsyslog.records().iter().map(|(s, _)| *s).collect();
        trail_now.keys().all(|s| written.contains(s))
    });
    let records = rsyslog.records();
    assert!(records.len() >= 2, "{records:?}");
    assert!(
        records.windows(2).all(|w| w[0].0 < w[1].0),
        "out of order: {records:?}"
    );
    for (seq, hash) in &records {
        assert_eq!(trail_now.get(seq), Some(hash), "seq {seq}");
    }
}

/// A Splunk HTTP Event Collector that answers 503 to its first `refuse` posts.
#[derive(Clone, Default)]
struct FakeHec {
    events: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    posts: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

async fn collect(
    axum::extract::State(hec): axum::extract::State<FakeHec>,
    headers: axum::http::HeaderMap,
    body: String,
) -> (axum::http::StatusCode, axum::Json<serde_json::Value>) {
    use axum::http::StatusCode;
    let n = hec.posts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Splunk hec-t0ken") {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"text": "Invalid token", "code": 4})),
        );
    }
    if n < 2 {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(serde_json::json!({"text": "Server is busy", "code": 9})),
        );
    }
    let mut events = hec.events.lock().unwrap();
    for line in body.lines() {
        events.push(serde_json::from_str(line).unwrap());
    }
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({"text": "Success", "code": 0})),
    )
}

#[test]
fn the_http_event_collector_gets_every_record_after_refusing_the_first_posts() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let hec = FakeHec::default();
    let router = axum::Router::new()
        .route("/services/collector/event", axum::routing::post(collect))
        .with_state(hec.clone());
    let addr = crate::harness::fakes::serve_router(&runtime, router);
    let app = TestApp::builder()
        .intake()
        .yaml(&format!(
            "audit:\n  forward:\n    hec:\n      url: http://{addr}/services/collector/event\n      token: hec-t0ken\n"
        ))
        .serve()
        .build();
    let (status, body) =
        app.post_detections(detection::credential_use("h-1", "b.jones@contoso.com"));
    assert_eq!(status, 202, "{body}");
    let mut seqs = Vec::new();
    wait_until(30, "the collector never got the whole trail", || {
        let events = hec.events.lock().unwrap();
        seqs = events
            .iter()
            .map(|e| e["event"]["seq"].as_i64().unwrap())
            .collect();
        let trail = trail(&app);
        !trail.is_empty() && trail.keys().all(|s| seqs.contains(s))
    });
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    let events = hec.events.lock().unwrap();
    assert_eq!(events[0]["sourcetype"], "stanch:audit");
    assert_eq!(events[0]["event"]["hash"].as_str().map(str::len), Some(64));
    drop(events);

    let doctor = app.stanch(&["doctor"]);
    assert!(
        doctor.stdout.contains("ok    forward      hec receiver"),
        "{}",
        doctor.stdout
    );
    let doctor = app.stanch_with_changed_config("token: hec-t0ken", "token: revoked", &["doctor"]);
    assert_eq!(doctor.code, 1, "{}", doctor.stdout);
    assert!(
        doctor.stdout.contains("the collector answered 401"),
        "{}",
        doctor.stdout
    );
}

#[test]
fn over_tls_the_receiver_is_trusted_through_ca_file_and_an_untrusted_one_gets_nothing() {
    let receiver = SyslogReceiver::start_tls();
    let ca = crate::harness::project_root().join("tests/cli/fixtures/syslog-ca.crt");
    let address = format!("localhost:{}", receiver.addr.port());
    let app = TestApp::builder()
        .intake()
        .yaml(&format!(
            "audit:\n  forward:\n    syslog: {{ address: \"{address}\", tls: true, ca_file: \"{}\" }}\n",
            ca.display()
        ))
        .serve()
        .build();
    let (status, body) =
        app.post_detections(detection::credential_use("t-1", "b.jones@contoso.com"));
    assert_eq!(status, 202, "{body}");
    wait_until(20, "nothing came over TLS", || {
        received_all(&receiver, &app)
    });
    assert_complete(&receiver.frames(), &trail(&app));

    // Without the CA, the system's roots do not vouch for the test certificate.
    let untrusted = SyslogReceiver::start_tls();
    let other = TestApp::builder()
        .intake()
        .yaml(&format!(
            "audit:\n  forward:\n    syslog: {{ address: \"localhost:{}\", tls: true }}\n",
            untrusted.addr.port()
        ))
        .serve()
        .build();
    let (status, _) =
        other.post_detections(detection::credential_use("t-2", "b.jones@contoso.com"));
    assert_eq!(status, 202);
    wait_until(20, "the refused handshake was not logged", || {
        other
            .server_log()
            .contains("cannot forward the audit trail")
    });
    assert!(untrusted.frames().is_empty());
    // A receiver that refuses is the forwarder's to report: the intake stays ready.
    wait_until(10, "readiness did not settle", || {
        let (status, body) = other.get(&other.url("/readyz"));
        status == 200 && body.contains("\"doctor\":\"ok\"")
    });

    // doctor says so before anything is lost: one receiver answers, the other is refused.
    let ok = app.stanch(&["doctor"]);
    assert_eq!(ok.code, 0, "{}", ok.stdout);
    assert!(
        ok.stdout.contains(&format!(
            "ok    forward      syslog receiver {address} answers"
        )),
        "{}",
        ok.stdout
    );
    let refused = other.stanch(&["doctor"]);
    assert_eq!(refused.code, 1, "{}", refused.stdout);
    assert!(
        refused
            .stdout
            .contains("FAIL  forward      the audit trail cannot be forwarded"),
        "{}",
        refused.stdout
    );
}

/// The trail of the database at `url`, as exported: seq → hash.
fn trail_of(url: &str) -> BTreeMap<i64, String> {
    let out = crate::harness::cli::run(url, &["audit", "export"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout
        .lines()
        .map(|l| {
            let r: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                r["seq"].as_i64().unwrap(),
                r["hash"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn two_replicas_on_postgresql_forward_the_one_chain_once_and_a_survivor_carries_on() {
    use crate::harness::{Server, bearer, postgres::PgDb};
    let mut receiver = SyslogReceiver::start();
    let app = forwarding_to(&receiver).build();
    let Some(db) = PgDb::create(&app.runtime) else {
        return;
    };
    let lease = [("STANCH_LEASE_SECS", "3")];
    let start = |name: &str| {
        let config = std::path::PathBuf::from(app.config());
        Server::start_with(
            &db.url,
            &config,
            &app.path(&format!("{name}.log")),
            None,
            &lease,
        )
    };
    let post = |server: &Server, id: &str| {
        let url = format!("{}/v1/detections", server.url);
        let (status, body) = app.post(
            &url,
            detection::credential_use(id, "b.jones@contoso.com"),
            &bearer(),
        );
        assert_eq!(status, 202, "{body}");
    };
    let complete = |receiver: &SyslogReceiver| {
        let got: std::collections::BTreeSet<i64> =
            receiver.frames().iter().map(Frame::seq).collect();
        trail_of(&db.url).keys().all(|s| got.contains(s))
    };
    // a starts first and takes the forwarding lease; b joins later.
    let a = start("a");
    post(&a, "pa-first");
    wait_until(30, "a did not forward", || complete(&receiver));
    let b = start("b");
    for i in 0..5 {
        post(&a, &format!("pa-{i}"));
        post(&b, &format!("pb-{i}"));
    }
    wait_until(30, "the replicas did not forward the whole chain", || {
        complete(&receiver)
    });
    // One replica forwards at a time: every frame so far came on one connection.
    let connections: std::collections::BTreeSet<usize> =
        receiver.frames().iter().map(|f| f.connection).collect();
    assert_eq!(connections.len(), 1, "{connections:?}");

    // The forwarder dies: the records sealed since still go, by b once a's lease lapses, and
    // nothing is skipped.
    a.kill();
    for i in 0..3 {
        post(&b, &format!("pb-late-{i}"));
    }
    wait_until(30, "the survivor did not take over the forwarding", || {
        complete(&receiver)
    });
    let connections: std::collections::BTreeSet<usize> =
        receiver.frames().iter().map(|f| f.connection).collect();
    assert_eq!(
        connections.len(),
        2,
        "b took over on a connection of its own"
    );
    assert_complete(&receiver.frames(), &trail_of(&db.url));
    receiver.stop();
    assert_eq!(b.stop(), 0);
    db.drop_with(&app.runtime);
}
