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

/// The systemd units are valid as systemd reads them (`systemd-analyze verify`, with the
/// binary path pointed at the one under test), and create what they need themselves.
#[test]
fn the_systemd_units_verify_and_need_nothing_made_by_hand() {
    let Ok(analyze) = which("systemd-analyze") else {
        eprintln!("skipping: no systemd-analyze on this machine");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (name, installed) in [
        ("stanch.service", "stanch.service"),
        ("stanch@.service", "stanch@8940.service"),
    ] {
        let text = std::fs::read_to_string(project_root().join("examples").join(name)).unwrap();
        for needed in [
            "DynamicUser=yes",
            "StateDirectory=stanch",
            "LimitNOFILE=",
            "NoNewPrivileges=true",
        ] {
            assert!(text.contains(needed), "{name} lacks {needed}");
        }
        let unit = dir.path().join(installed);
        std::fs::write(
            &unit,
            text.replace("/usr/local/bin/stanch", env!("CARGO_BIN_EXE_stanch")),
        )
        .unwrap();
        let out = std::process::Command::new(&analyze)
            .arg("verify")
            .arg(&unit)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .ok_or(())
}

/// The container image is configured by the mounted file alone, keeps its data in a volume, runs
/// as a user, says whether it is alive, and its build context leaves `target/` out.
#[test]
fn the_containerfile_and_compose_file_are_what_their_headers_promise() {
    let root = project_root();
    let containerfile = std::fs::read_to_string(root.join("examples/Containerfile")).unwrap();
    let instructions: Vec<&str> = containerfile
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect();
    assert!(
        !instructions
            .iter()
            .any(|l| l.starts_with("ENV ") && l.contains("STANCH_")),
        "no ENV may override the mounted config"
    );
    for needed in ["VOLUME /var/lib/stanch", "HEALTHCHECK ", "USER stanch"] {
        assert!(
            instructions.iter().any(|l| l.starts_with(needed)),
            "no `{needed}`"
        );
    }
    let ignored = std::fs::read_to_string(root.join(".containerignore")).unwrap();
    assert!(ignored.lines().any(|l| l.trim() == "target/"), "{ignored}");

    let compose: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(root.join("examples/compose.yaml")).unwrap(),
    )
    .expect("compose.yaml parses");
    let services = compose["services"].as_object().unwrap();
    assert!(services.contains_key("postgres"), "{compose:#}");
    let replicas: Vec<&String> = services
        .keys()
        .filter(|k| k.starts_with("stanch-"))
        .collect();
    assert_eq!(replicas.len(), 2, "{replicas:?}");
    assert!(
        compose["volumes"].get("pgdata").is_some(),
        "the database has a volume"
    );
    let shared = &compose["x-replica"];
    assert!(
        shared["environment"]["STANCH_DATABASE_URL"]
            .as_str()
            .unwrap()
            .starts_with("postgres://"),
        "{shared:#}"
    );
    assert!(
        shared["healthcheck"]["test"]
            .to_string()
            .contains("/readyz"),
        "{shared:#}"
    );
}
