//! The runner against the Graph emulator and a real SQLite store whose audit trail is made to
//! fail at chosen moments (a trigger refuses the records of Graph's answers).

use std::path::Path;

use serde_json::Map;
use stanch_core::engine::{Gate, PlannedAction};
use stanch_core::intake::UserRef;
use stanch_core::vocab::{ActionKind, Mode};

use super::{ActionRunner, GraphRunner};
use crate::config::Config;
use crate::emulate::Emulator;
use crate::store::Store;

const TENANT: &str = "5d2e4a1c-6b7f-4e3a-9c1d-2f8e7a6b5c4d";
const CLIENT: &str = "6a1f7c3e-2d4b-4e8a-b5c6-0d9e8f7a6b51";
const SECRET: &str = "emu-secret-stanch-responder";

struct Setup {
    runner: GraphRunner,
    store: Store,
    raw: sqlx::SqlitePool,
    _emulator: crate::emulate::RunningEmulator,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/tenant.json");
    let emulator = Emulator::from_file(&fixture)
        .unwrap()
        .spawn("127.0.0.1:0")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("stanch.db");
    let url = format!("sqlite://{}", db.display());
    let store = Store::open(&url).await.unwrap();
    let config_path = dir.path().join("config.yaml");
    let graph = &emulator.url;
    std::fs::write(
        &config_path,
        format!("graph:\n  tenant_id: {TENANT}\n  client_id: {CLIENT}\n  client_secret: {SECRET}\n  graph_url: {graph}\n  login_url: {graph}\n"),
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
        _emulator: emulator,
        _dir: dir,
    }
}

fn disable(upn: &str) -> PlannedAction {
    PlannedAction {
        key: "test-disable".into(),
        playbook: "p".into(),
        step: "s".into(),
        action: ActionKind::DisableAccount,
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
