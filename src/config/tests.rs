//! The config file, its environment overrides and where its mistakes are.

use super::*;

fn write(text: &str) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), text).unwrap();
    file
}

#[test]
fn file_then_environment() {
    let file = write(
        "mode: active\ndatabase_url: sqlite:///tmp/x.db\nprotected_accounts: [bg@contoso.com]\n",
    );
    let config = Config::load(Some(file.path()), |name| {
        (name == "STANCH_PROTECTED_ACCOUNTS").then(|| "a@contoso.com, b@contoso.com".to_string())
    })
    .unwrap();
    assert_eq!(config.mode, Mode::Active);
    assert_eq!(config.database_url.expose(), "sqlite:///tmp/x.db");
    assert_eq!(
        config.protected_accounts,
        ["a@contoso.com", "b@contoso.com"]
    );
    assert_eq!(config.playbooks, [PathBuf::from("playbooks")]);
    assert_eq!(Config::load(None, |_| None).unwrap(), Config::default());
}

#[test]
fn graph_settings_from_file_and_environment_with_the_secret_redacted() {
    let file = write(
        "graph:\n  tenant_id: t1\n  client_id: c1\n  cloud: usgov\n  graph_url: http://127.0.0.1:9/\ncontainment:\n  quarantine_group_id: g1\nnotify:\n  default: https://hooks.example.com/x\n",
    );
    let config = Config::load(Some(file.path()), |name| {
        (name == "STANCH_GRAPH_CLIENT_SECRET").then(|| "s3cr3t".to_string())
    })
    .unwrap();
    let graph = config.graph.clone().unwrap();
    assert_eq!(
        (graph.tenant_id.as_str(), graph.cloud.as_str()),
        ("t1", "usgov")
    );
    assert_eq!(
        graph.client_secret.as_ref().map(SecretString::expose),
        Some("s3cr3t")
    );
    assert!(graph.problems().is_empty(), "{:?}", graph.problems());
    assert!(!format!("{config:?}").contains("s3cr3t"));
    assert_eq!(
        config.containment.quarantine_group_id.as_deref(),
        Some("g1")
    );
    assert_eq!(
        config.notify["default"].expose(),
        "https://hooks.example.com/x"
    );
    let bad = write("graph:\n  tenant_id: t1\n  cloud: mars\n");
    let err = Config::load(Some(bad.path()), |_| None)
        .unwrap_err()
        .to_string();
    assert!(err.contains(":3:10: error: unknown cloud `mars`"), "{err}");
}

#[test]
fn mistakes_are_located() {
    let file = write("mode: passive\ndatabse_url: x\n");
    let err = Config::load(Some(file.path()), |_| None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(
            ":2:1: error: unknown key `databse_url` in the config; did you mean `database_url`?"
        ),
        "{err}"
    );
    let file = write("mode: dry\n");
    let err = Config::load(Some(file.path()), |_| None)
        .unwrap_err()
        .to_string();
    assert!(err.contains(":1:7:"), "{err}");
    let err = Config::load(None, |n| (n == "STANCH_MODE").then(|| "loud".to_string()))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "environment variable STANCH_MODE=loud: expected `passive` or `active`"
    );
}
