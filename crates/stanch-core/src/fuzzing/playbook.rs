//! The playbook language: the compiler (with the engine behind it) and the template engine.

use serde_json::Value;

use super::split_first_line;
use crate::engine::testing::run_tests;
use crate::engine::{Context, Plan, plan};
use crate::intake::{Detection, parse_generic};
use crate::playbook::load_sources;
use crate::playbook::template::Template;
use crate::vocab::Mode;

const FILE: &str = "fuzz.yaml";

/// A detection with every field a playbook can read, for plans and templates to work on.
const RICH: &str = r#"{"id":"dt-1","source":"darktrace","name":"SaaS::Compromise::Login From Rare Endpoint","severity":"high","observed_at":"2021-06-01T10:00:00Z","user":{"upn":"B.Jones@contoso.com","id":"6f1c1a2b-0000-4000-8000-000000000001"},"ip":"198.51.100.23","asn":37100,"country":"NG","user_agent":"python-requests/2.31","client_app":"Exchange ActiveSync","details":{"ips":["203.0.113.9","2001:db8::1"],"rule":{"forward_to":["x@evil.example"],"delete":true},"score":93.7},"tenant":"contoso"}"#;

fn rich() -> Detection {
    parse_generic(RICH).expect("the built-in detection is valid")
}

/// One playbook file through the loader `stanch` uses: no panic; a file with any error yields
/// no playbook (never half-loaded); every diagnostic points into the file and renders; loading
/// is deterministic. A playbook that loads runs its own tests, and plans (on its tests'
/// detections and a rich one) are deterministic, passive when forced, and never automatic on a
/// protected account.
pub fn playbook(data: &[u8]) {
    let Ok(source) = std::str::from_utf8(data) else {
        return;
    };
    let report = load_sources([(FILE, source)]);
    let lines = crate::yaml::diag::lines(source).count() as u64;
    for d in &report.diagnostics {
        assert!(
            d.loc.line <= lines + 1,
            "diagnostic past the end of a {lines}-line file: {d}"
        );
        assert!(report.render(d).starts_with(&format!("{FILE}:")));
    }
    if report.errors() > 0 {
        assert!(
            report.playbooks.is_empty(),
            "a playbook with errors was loaded"
        );
    }
    let again = load_sources([(FILE, source)]);
    assert_eq!(
        again.diagnostics, report.diagnostics,
        "loading is deterministic"
    );

    let Ok(set) = report.into_set() else {
        return;
    };
    run_tests(&set);
    let mut detections = vec![rich()];
    for p in &set.playbooks {
        detections.extend(p.tests.iter().map(|t| t.detection.clone()));
    }
    for d in &detections {
        let base = plan(d, &set, &Context::default());
        assert_eq!(plan(d, &set, &Context::default()), base, "planning is pure");

        let passive = Context {
            force_passive: true,
            default_mode: Mode::Active,
            ..Context::default()
        };
        for action in plan(d, &set, &passive).actions {
            assert_eq!(
                action.mode,
                Mode::Passive,
                "--passive forces {}",
                action.key
            );
        }
        if let Some(user) = &d.user {
            let guarded = Context {
                default_mode: Mode::Active,
                protected_accounts: vec![user.to_string().to_uppercase()],
                ..Context::default()
            };
            protected_never_automatic(&plan(d, &set, &guarded), &guarded.protected_accounts[0]);
        }
    }
}

fn protected_never_automatic(plan: &Plan, protected: &str) {
    for action in &plan.actions {
        if action.target.as_ref().is_some_and(|t| t.is(protected)) {
            assert!(
                action.gate.needs_approval(),
                "{} touches protected {protected} without a human",
                action.key
            );
        }
    }
}

/// A template (the first line) as a step parameter is compiled, rendered on a detection (the
/// rest, in the generic format, and a rich built-in one): no panic; rendering is
/// deterministic; a template without expressions renders as written.
pub fn template(data: &[u8]) {
    let (head, rest) = split_first_line(data);
    let Ok(source) = std::str::from_utf8(head) else {
        return;
    };
    let Ok(template) = Template::compile(source) else {
        return;
    };
    let mut detections = vec![rich()];
    if let Ok(d) = std::str::from_utf8(rest)
        .map_err(drop)
        .and_then(|t| parse_generic(t).map_err(drop))
    {
        detections.push(d);
    }
    for d in &detections {
        let rendered = template.render(d);
        assert_eq!(template.render(d), rendered, "rendering is deterministic");
        if template.is_literal() {
            assert_eq!(rendered, Ok(Value::String(source.to_string())));
        }
    }
}
