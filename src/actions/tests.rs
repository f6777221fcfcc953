//! The runner against the Graph emulator and a real SQLite store whose audit trail is made to
//! fail at chosen moments (a trigger refuses the records of Graph's answers).

use std::path::Path;

use serde_json::Map;
use stanch_core::engine::{Gate, PlannedAction};
use stanch_core::intake::UserRef;
use stanch_core::vocab::{ActionKind, Mode};

use super::{ActionError, ActionRunner, GraphRunner};
use crate::config::Config;
use crate::emulate::{Emulator, Fault, FaultKind};
use crate::store::Store;

const TENANT: &str = "5d2e4a1c-6b7f-4e3a-9c1d-2f8e7a6b5c4d";
const CLIENT: &str = "6a1f7c3e-2d4b-4e8a-b5c6-0d9e8f7a6b51";
const SECRET: &str = "emu-secret-stanch-responder";

pub(super) struct Setup {
    pub(super) runner: GraphRunner,
    pub(super) store: Store,
    pub(super) raw: sqlx::SqlitePool,
    pub(super) emulator: crate::emulate::RunningEmulator,
    _dir: tempfile::TempDir,
}

pub(super) async fn setup() -> Setup {
    setup_with("").await
}

/// The story's tenant (`examples/tenant.json`), to change before serving it.
pub(super) fn story_tenant() -> crate::emulate::Fixture {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tenant.json");
    crate::emulate::Fixture::from_file(&path).unwrap()
}

/// [`setup`] with extra lines in the config's `graph:` section.
pub(super) async fn setup_with(graph_extra: &str) -> Setup {
    setup_serving(story_tenant(), graph_extra).await
}

/// [`setup`] against `tenant`, with extra lines in the config's `graph:` section.
pub(super) async fn setup_serving(tenant: crate::emulate::Fixture, graph_extra: &str) -> Setup {
    setup_on(Emulator::new(tenant), graph_extra).await
}

/// [`setup_with`] against the given emulator.
pub(super) async fn setup_on(emulator: Emulator, graph_extra: &str) -> Setup {
    let emulator = emulator.spawn("127.0.0.1:0").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stanch.db");
    let url = format!("sqlite://{}", db.display());
    let store = Store::open(&url).await.unwrap();
    let config_path = dir.path().join("config.yaml");
    let graph = &emulator.url;
    std::fs::write(
        &config_path,
        format!("graph:\n  tenant_id: {TENANT}\n  client_id: {CLIENT}\n  client_secret: {SECRET}\n  graph_url: {graph}\n  login_url: {graph}\n{graph_extra}notify:\n  helpdesk: {graph}/_emulator/webhook\n"),
    )
    .unwrap();
    let config = Config::load(Some(&config_path), |_| None).unwrap();
    let runner = crate::cli::graph_runner(&config, &store).unwrap().unwrap();
    let raw = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect(&format!("{url}?mode=rw"))
        .await
        .unwrap();
    Setup {
        runner,
        store,
        raw,
        emulator,
        _dir: dir,
    }
}

fn disable(upn: &str) -> PlannedAction {
    planned(ActionKind::DisableAccount, upn)
}

pub(super) fn planned(action: ActionKind, upn: &str) -> PlannedAction {
    PlannedAction {
        key: format!("test-{action}"),
        playbook: "p".into(),
        step: "s".into(),
        action,
        target: Some(UserRef {
            upn: Some(upn.into()),
            id: None,
        }),
        params: Map::new(),
        mode: Mode::Active,
        gate: Gate::Automatic,
        expires_after_secs: None,
        reason: "test".into(),
        recorded_at: None,
    }
}

#[tokio::test]
async fn an_answer_the_trail_cannot_take_keeps_the_effect_and_its_restore_data() {
    let s = setup().await;
    sqlx::query(
        "CREATE TRIGGER refuse_answers BEFORE INSERT ON audit_log WHEN NEW.kind = 'graph.response' \
         AND (SELECT count(*) FROM audit_log WHERE kind = 'graph.request') = 2 \
         BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END",
    )
    .execute(&s.raw)
    .await
    .unwrap();

    // Pre-check (read), execute (PATCH), verify (read): the trail refuses the record of the
    // PATCH's answer, as a disk that filled up at that moment would.
    let execution = s
        .runner
        .run(&disable("b.jones@contoso.com"))
        .await
        .unwrap_or_else(|e| panic!("Graph acted, the action must not fail as unsent: {e}"));
    assert_eq!(
        execution
            .restore
            .as_ref()
            .map(|r| r.0["accountEnabled"].clone()),
        Some(serde_json::json!(true)),
        "the restore data is kept: {execution:?}"
    );

    // The answer is written with the next record (the verify's request), marked late.
    let trail: Vec<(String, String)> =
        sqlx::query_as("SELECT kind, payload FROM audit_log ORDER BY seq")
            .fetch_all(&s.raw)
            .await
            .unwrap();
    let late: Vec<&(String, String)> = trail
        .iter()
        .filter(|(kind, payload)| kind == "graph.response" && payload.contains("recorded_late"))
        .collect();
    assert!(
        !late.is_empty(),
        "the late answers are in the trail: {trail:?}"
    );
    assert!(late.iter().all(|(_, p)| p.contains("disk I/O error")));
    let requests = trail.iter().filter(|(k, _)| k == "graph.request").count();
    let responses = trail.iter().filter(|(k, _)| k == "graph.response").count();
    assert_eq!(
        requests, responses,
        "a request without its answer: {trail:?}"
    );
    assert!(s.store.verify_audit().await.unwrap().is_intact());
}

/// The audit trail's `(kind, payload)` records, oldest first.
pub(super) async fn trail(s: &Setup) -> Vec<(String, String)> {
    sqlx::query_as("SELECT kind, payload FROM audit_log ORDER BY seq")
        .fetch_all(&s.raw)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_revoke_answered_200_html_fails_and_is_never_recorded_as_revoked() {
    let s = setup().await;
    let emulator = &s.emulator.emulator;
    emulator.inject(
        Fault::new(FaultKind::Html { status: None })
            .method("POST")
            .path_prefix("/v1.0/users/b.jones@contoso.com/revokeSignInSessions"),
    );
    let before = emulator.state()["users"].clone();
    let err = s
        .runner
        .run(&planned(ActionKind::RevokeSessions, "b.jones@contoso.com"))
        .await
        .unwrap_err();
    let ActionError::Failed { reason, .. } = &err else {
        panic!("not a plain failure: {err}")
    };
    assert!(
        reason.contains("`text/html; charset=utf-8` body"),
        "{reason}"
    );
    assert_eq!(
        emulator.state()["users"],
        before,
        "nothing reached the tenant"
    );
    // The trail says what came back, not `revoked`.
    let trail = trail(&s).await;
    let answer = &trail.last().unwrap();
    assert_eq!(answer.0, "graph.response");
    assert!(answer.1.contains("text/html"), "{trail:?}");
}

#[tokio::test]
async fn a_redirected_write_is_not_followed_and_fails_saying_where_it_pointed() {
    let s = setup().await;
    let emulator = &s.emulator.emulator;
    let login = format!("{}/proxy/login", s.emulator.url);
    emulator.inject(
        Fault::new(FaultKind::Redirect {
            location: login.clone(),
        })
        .method("POST")
        .path_prefix("/v1.0/users"),
    );
    emulator.clear_requests();
    let err = s
        .runner
        .run(&planned(ActionKind::RevokeSessions, "b.jones@contoso.com"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!("redirecting to {login}")),
        "{err}"
    );
    let calls: Vec<String> = emulator
        .requests()
        .iter()
        .filter(|r| !r.path.ends_with("/token"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert_eq!(
        calls,
        [
            "GET /v1.0/users/b.jones@contoso.com",
            "POST /v1.0/users/b.jones@contoso.com/revokeSignInSessions"
        ],
        "the redirect was followed"
    );
}

#[tokio::test]
async fn a_hung_graph_fails_the_action_retryably_at_its_deadline() {
    let s = setup_with("  action_deadline: 1s\n").await;
    // Every read hangs far longer than the deadline (and than one attempt's timeout would allow
    // the retries to add up to).
    s.emulator
        .emulator
        .inject(Fault::latency(20_000).method("GET"));
    let started = std::time::Instant::now();
    let err = s
        .runner
        .for_one_action()
        .run(&disable("b.jones@contoso.com"))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(3), "{took:?}");
    let ActionError::Transient { reason, .. } = &err else {
        panic!("not retryable: {err}")
    };
    assert!(
        reason.contains("deadline of 1s (graph.action_deadline)"),
        "{reason}"
    );
    // The cut-off call still has its "after" record.
    let trail = trail(&s).await;
    let requests = trail.iter().filter(|(k, _)| k == "graph.request").count();
    let responses = trail.iter().filter(|(k, _)| k == "graph.response").count();
    assert_eq!((requests, responses), (1, 1), "{trail:?}");
}

#[tokio::test]
async fn an_oversized_answer_is_refused_before_it_is_buffered_or_stored() {
    let s = setup().await;
    s.emulator.emulator.inject(
        Fault::new(FaultKind::LargeBody {
            bytes: 8 * 1024 * 1024,
        })
        .method("GET"),
    );
    let err = s
        .runner
        .run(&planned(
            ActionKind::DisableInboxRules,
            "b.jones@contoso.com",
        ))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("graph.max_response_bytes"),
        "{err}"
    );
    let stored: i64 = sqlx::query_scalar("SELECT sum(length(payload)) FROM audit_log")
        .fetch_one(&s.raw)
        .await
        .unwrap();
    assert!(stored < 4096, "the trail took {stored} bytes");
}

#[tokio::test]
async fn a_password_reset_cut_off_in_flight_is_unverified_not_retried() {
    let s = setup_with("  action_deadline: 1s\n").await;
    // The read answers; the reset's PATCH hangs past the deadline, so it may have landed.
    s.emulator.emulator.inject(
        Fault::latency(20_000)
            .method("PATCH")
            .path_prefix("/v1.0/users"),
    );
    let err = s
        .runner
        .for_one_action()
        .run(&planned(ActionKind::ResetPassword, "b.jones@contoso.com"))
        .await
        .unwrap_err();
    let ActionError::Unverified { reason, .. } = &err else {
        panic!("a reset that may have happened must not be retryable: {err}")
    };
    assert!(reason.contains("in flight"), "{reason}");
}
