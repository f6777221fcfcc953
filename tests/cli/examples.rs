//! The shipped example configs load and validate: a new user's first command must not fail on
//! the file the README hands them.

use crate::harness::{Output, project_root};

fn validate_with(config: &str) -> Output {
    let db = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", db.path().join("stanch.db").display());
    let path = project_root().join(config).display().to_string();
    crate::harness::cli::run(&url, &["--config", &path, "validate"], None)
}

#[test]
fn the_emulator_example_config_validates_with_the_shipped_playbooks() {
    let out = validate_with("examples/stanch.emulate.yaml");
    assert_eq!(
        out.code, 0,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
}

#[test]
fn the_full_example_config_loads_every_key_it_documents() {
    // It names /etc/stanch/playbooks; point the playbooks at the shipped ones so the config
    // itself is what is checked.
    let text = std::fs::read_to_string(project_root().join("examples/stanch.yaml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("stanch.yaml");
    let playbooks = project_root().join("playbooks").display().to_string();
    std::fs::write(
        &copy,
        text.replace("[/etc/stanch/playbooks]", &format!("[\"{playbooks}\"]")),
    )
    .unwrap();
    let out = validate_with(&copy.display().to_string());
    assert_eq!(
        out.code, 0,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
}

#[test]
fn the_readme_config_table_names_every_top_level_key_of_the_full_example() {
    let readme = std::fs::read_to_string(project_root().join("README.md")).unwrap();
    let table: String = readme
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| l.split(" | ").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let example = std::fs::read_to_string(project_root().join("examples/stanch.yaml")).unwrap();
    let keys: Vec<&str> = example
        .lines()
        .filter(|l| !l.starts_with([' ', '#', '-']) && l.contains(':'))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert!(keys.len() >= 15, "{keys:?}");
    for key in keys {
        assert!(
            table.contains(&format!("`{key}")),
            "README's config table lacks `{key}`"
        );
    }
}

/// `stanch emulate` from a directory with no `examples/` (an installed binary) serves the attack
/// story's tenant, built in, as the demo does.
#[test]
fn the_emulator_starts_from_an_empty_directory_with_the_built_in_tenant() {
    use std::io::BufRead;
    let empty = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stanch"))
        .current_dir(empty.path())
        .args(["emulate", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Kept open: the emulator prints more lines, and a closed pipe would stop it.
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let state: serde_json::Value = runtime.block_on(async {
        reqwest::get(format!("{url}/_emulator/state"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        state.to_string().contains("a.silva@contoso.com"),
        "the attack story's tenant: {state}"
    );
}
