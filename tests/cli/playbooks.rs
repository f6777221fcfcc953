use crate::harness::TestApp;

#[test]
fn the_shipped_playbooks_validate_and_their_tests_pass() {
    let app = TestApp::new();
    let validate = app.stanch(&["validate", "--deny-warnings"]);
    assert_eq!(validate.code, 0, "{validate:?}");
    assert!(
        validate.stdout.contains("9 playbook(s) valid"),
        "{}",
        validate.stdout
    );
    let test = app.stanch(&["test"]);
    assert_eq!(test.code, 0, "{test:?}");
    assert!(test.stdout.contains(" 0 failed"), "{}", test.stdout);
    assert!(
        !test.stdout.contains("playbooks without tests"),
        "{}",
        test.stdout
    );
}

#[test]
fn three_mistakes_are_reported_with_file_line_and_column_and_nothing_loads() {
    let app = TestApp::new();
    std::fs::create_dir(app.path("pbs")).unwrap();
    let path = app.write(
        "pbs/bad.yaml",
        "version: 1\nid: bad\nmatch:\n  name_regex: \"SaaS / (Compromise\"\nsteps:\n  - id: revoke\n    action: revoke_session\n  - id: rules\n    action: disable_inbox_rules\n    requires_aproval: true\ntests: []\n",
    );
    let file = path.display().to_string();
    let out = app.stanch(&["validate", &file]);
    assert_eq!(out.code, 1, "{out:?}");
    for expected in [
        format!("{file}:4:15: error: invalid regular expression `SaaS / (Compromise`"),
        format!(
            "{file}:7:13: error: unknown action `revoke_session`; did you mean `revoke_sessions`?"
        ),
        format!("{file}:10:5: error: unknown key `requires_aproval` in a step"),
    ] {
        assert!(
            out.stderr.contains(&expected),
            "missing `{expected}` in:\n{}",
            out.stderr
        );
    }
    assert!(out.stderr.contains("3 error(s)"), "{}", out.stderr);
    assert!(out.stderr.contains("nothing was loaded"), "{}", out.stderr);
    // The snippet points at the mistake.
    assert!(
        out.stderr
            .contains("7 |     action: revoke_session\n  |             ^"),
        "{}",
        out.stderr
    );

    // A set with one bad file is refused whole: `run` does not start with half the playbooks.
    let good =
        std::fs::read_to_string(crate::harness::project_root().join("playbooks/sender-surge.yaml"))
            .unwrap();
    app.write("pbs/good.yaml", &good);
    let config = app.write(
        "config.yaml",
        &format!("playbooks: [{}]\n", app.path("pbs").display()),
    );
    let run = app.stanch_with_input(
        &[
            "run",
            "--input",
            "-",
            "--config",
            &config.display().to_string(),
        ],
        Some(""),
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("the playbooks have errors"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_wrong_expectation_in_a_shipped_playbook_fails_stanch_test() {
    let app = TestApp::new();
    let original = std::fs::read_to_string(
        crate::harness::project_root().join("playbooks/legacy-auth-attempt.yaml"),
    )
    .unwrap();
    let broken = original.replacen("{ step: block-legacy, action: block_legacy_auth, target: b.jones@contoso.com, approval: false }", "{ step: block-legacy, action: block_legacy_auth, target: b.jones@contoso.com, approval: true }", 1);
    assert_ne!(original, broken, "the expectation to break was not found");
    let path = app.write("legacy.yaml", &broken);
    let out = app.stanch(&["test", &path.display().to_string()]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stdout
            .contains("FAIL  legacy-auth-attempt  a ROPC retry blocks legacy auth"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("expected approval: true, planned no approval"),
        "{}",
        out.stdout
    );
}

#[test]
fn schema_is_json_schema_listing_every_action() {
    let out = TestApp::new().stanch(&["schema"]);
    assert_eq!(out.code, 0, "{out:?}");
    let schema: serde_json::Value = serde_json::from_str(&out.stdout).expect("schema is JSON");
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let actions = schema["$defs"]["step"]["properties"]["action"]["enum"]
        .as_array()
        .unwrap();
    assert!(actions.iter().any(|a| a == "disable_inbox_rules"));
}

/// Every shipped playbook names `../docs/playbook.schema.json` for editors; that file exists and
/// is what `stanch schema` prints today.
#[test]
fn the_schema_the_playbooks_point_at_is_shipped_and_current() {
    let root = crate::harness::project_root();
    let shipped = std::fs::read_to_string(root.join("docs/playbook.schema.json"))
        .expect("docs/playbook.schema.json is shipped");
    let out = crate::harness::cli::run("sqlite::memory:", &["schema"], None);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        shipped == out.stdout,
        "docs/playbook.schema.json is stale: run `cargo run -- schema > docs/playbook.schema.json`"
    );
    for entry in std::fs::read_dir(root.join("playbooks")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        if let Some(line) = text.lines().find(|l| l.contains("$schema=")) {
            let target = line.split("$schema=").nth(1).unwrap().trim();
            let resolved = path.parent().unwrap().join(target);
            assert!(
                resolved.exists(),
                "{} points at {target}, which does not exist",
                path.display()
            );
        }
    }
}

/// `--json` on the checks a pipeline runs: validate (with each diagnostic's place), test (each
/// outcome) and audit verify (the verdict and the head), each parsable and exiting as the text
/// form does.
#[test]
fn validate_test_and_audit_verify_speak_json_for_pipelines() {
    let app = TestApp::new();
    let parse = |out: &crate::harness::Output| -> serde_json::Value {
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
    };
    let valid = app.stanch(&["validate", "--json"]);
    assert_eq!(valid.code, 0, "{valid:?}");
    let valid = parse(&valid);
    assert_eq!(valid["valid"], true);
    assert_eq!(valid["playbooks"].as_array().unwrap().len(), 9);

    let bad = app.write(
        "bad.yaml",
        "version: 1\nid: bad\nmatch:\n  name: x\nsteps:\n  - id: revoke\n    action: revoke_session\n",
    );
    let invalid = app.stanch(&["validate", "--json", bad.to_str().unwrap()]);
    assert_eq!(invalid.code, 1, "{invalid:?}");
    let invalid = parse(&invalid);
    assert_eq!(invalid["valid"], false);
    let diagnostic = &invalid["diagnostics"][0];
    assert_eq!(diagnostic["level"], "error", "{invalid:#}");
    assert_eq!(
        (&diagnostic["line"], &diagnostic["column"]),
        (&7.into(), &13.into()),
        "{invalid:#}"
    );
    assert!(diagnostic["file"].as_str().unwrap().ends_with("bad.yaml"));

    let tests = app.stanch(&["test", "--json"]);
    assert_eq!(tests.code, 0, "{tests:?}");
    let tests = parse(&tests);
    assert_eq!(tests["failed"], 0);
    assert!(
        tests["tests"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["passed"] == true)
    );

    let run = app.stanch(&["run", "--input", "-", "--quiet"]);
    assert_eq!(run.code, 0, "{run:?}");
    let verify = app.stanch(&["audit", "verify", "--json"]);
    assert_eq!(verify.code, 0, "{verify:?}");
    let verify = parse(&verify);
    assert_eq!(verify["intact"], true, "{verify:#}");
    assert!(verify["head"]["seq"].as_i64().unwrap() >= 1, "{verify:#}");
}
