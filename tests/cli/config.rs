//! Config mistakes come all at once, each with its place and the line it is on.

use crate::harness::TestApp;

#[test]
fn a_config_with_three_mistakes_reports_all_three_with_snippets_in_file_order() {
    let app = TestApp::new();
    let bad = app.write(
        "stanch.yaml",
        "mode: loud\nlisten: 127.0.0.1:8940\ndatabse_url: sqlite://x.db\nsafety:\n  block_ips:\n    min_prefix_v4: 40\n",
    );
    let out = app.stanch(&["--config", &bad.display().to_string(), "validate"]);
    assert_eq!(out.code, 2, "{out:?}");
    let err = &out.stderr;
    assert!(err.contains("3 mistakes in "), "{err}");
    let places: Vec<usize> = [
        "stanch.yaml:1:7: error: unknown mode `loud`",
        "stanch.yaml:3:1: error: unknown key `databse_url` in the config; did you mean `database_url`?",
        "stanch.yaml:6:20: error: ",
    ]
    .iter()
    .map(|m| err.find(m).unwrap_or_else(|| panic!("no `{m}` in:\n{err}")))
    .collect();
    assert!(
        places.windows(2).all(|w| w[0] < w[1]),
        "not in file order:\n{err}"
    );
    // Each with its line and a caret under the column, as playbook mistakes are shown.
    assert!(err.contains("1 | mode: loud\n  |       ^"), "{err}");
    assert!(
        err.contains("3 | databse_url: sqlite://x.db\n  | ^"),
        "{err}"
    );
    let caret = format!("6 |     min_prefix_v4: 40\n  | {}^", " ".repeat(19));
    assert!(err.contains(&caret), "{err}");
}
