use super::*;

fn diagnostics(source: &str) -> Vec<String> {
    let (playbook, problems) = compile("pb.yaml", source);
    let diags: Vec<String> = problems
        .into_diagnostics("pb.yaml")
        .iter()
        .map(|d| d.to_string())
        .collect();
    if diags.iter().any(|d| d.contains(": error: ")) {
        assert!(playbook.is_none(), "a playbook with errors must not load");
    }
    diags
}

#[test]
fn three_different_mistakes_are_all_reported_with_locations() {
    let source = "\
version: 1
id: three-mistakes
match:
  name_regex: \"SaaS / (Compromise\"
steps:
  - id: revoke
    action: revoke_session
  - id: rules
    action: disable_inbox_rules
    requires_aproval: true
tests: []
";
    let diags = diagnostics(source);
    let errors: Vec<&String> = diags.iter().filter(|d| d.contains(": error: ")).collect();
    assert_eq!(errors.len(), 3, "{diags:#?}");
    assert!(
        errors[0]
            .starts_with("pb.yaml:4:15: error: invalid regular expression `SaaS / (Compromise`"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].starts_with(
            "pb.yaml:7:13: error: unknown action `revoke_session`; did you mean `revoke_sessions`?"
        ),
        "{}",
        errors[1]
    );
    assert!(
        errors[2].starts_with("pb.yaml:10:5: error: unknown key `requires_aproval` in a step"),
        "{}",
        errors[2]
    );
}

/// Data-driven: (playbook YAML, an expected diagnostic, exactly as printed).
#[test]
fn each_mistake_has_a_clear_message() {
    let head = "version: 1\nid: p\nmatch: { name: x }\n";
    let cases = [
        (
            "version: 2\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: revoke_sessions}]\n",
            "pb.yaml:1:10: error: unsupported playbook version an integer `2`; this stanch reads `version: 1`",
        ),
        (
            "version: 1\nid: Bad Id\nmatch: {name: x}\nsteps: [{id: a, action: revoke_sessions}]\n",
            "pb.yaml:2:5: error: the playbook id `Bad Id` must be 1–64 lowercase letters",
        ),
        (
            "version: 1\nid: p\nsteps: [{id: a, action: revoke_sessions}]\n",
            "pb.yaml:1:1: error: the playbook is missing the required key `match`",
        ),
        (
            "version: 1\nid: p\nmatch: {min_severity: high}\nsteps: [{id: a, action: revoke_sessions}]\n",
            "error: `match` needs `name` or `name_regex`",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x, min_severity: severe}\nsteps: [{id: a, action: revoke_sessions}]\n",
            "pb.yaml:3:32: error: `min_severity` must be one of informational, low, medium, high, critical",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: []\n",
            "error: `steps` is empty",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: revoke_sessions}, {id: a, action: revoke_sessions}]\n",
            "error: duplicate step id `a`",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: disable_inbox_rules, with: {delete: yes}}]\n",
            "error: parameter `delete` must be a boolean; found the string `yes`",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: disable_devices, with: {registered_after: 'last tuesday'}}]\n",
            "error: parameter `registered_after` must be an RFC 3339 time such as 2021-06-01T06:00:00Z; `last tuesday` is not an RFC 3339 time",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: disable_inbox_rules, with: {purge: true}}]\n",
            "error: unknown key `purge` in `with` of `disable_inbox_rules`",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: notify}]\n",
            "error: `notify` needs the parameter `message`",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: revoke_sessions, target: '{{ usr.upn }}'}]\n",
            "error: unknown detection field `usr.upn`; did you mean `user.upn`?",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: block_ips, target: x@y.com}]\n",
            "error: `block_ips` acts on the whole tenant, not on a user; remove `target`",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: revoke_sessions, expires_after: 24h}]\n",
            "error: `revoke_sessions` cannot be undone, so it cannot expire",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: disable_account, expires_after: 24}]\n",
            "error: `expires_after` must be a string, found an integer",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: disable_account, approval: {approvers: [], quorum: 1}}]\n",
            "error: `approvers` must name at least one approver",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: disable_account, approval: {approvers: [a@contoso.com], quorum: 2}}]\n",
            "error: `quorum` is 2 but only 1 approver(s) are listed",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: disable_account, approval: {approvers: [a@contoso.com], on_timeout: maybe}}]\n",
            "error: `on_timeout` must be `deny`, `approve` or `escalate`",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: disable_account, approval: {approvers: [a@contoso.com], on_timeout: escalate}}]\n",
            "error: `on_timeout: escalate` needs `escalate_to`",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: disable_account, approval: {approvers: [bob]}}]\n",
            "error: approver `bob` must be a UPN, an object id, `group:NAME` or `role:NAME`",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: disable_account}]\n",
            "warning: step `a` runs `disable_account` without an `approval` block",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: revoke_sessions}]\n",
            "warning: playbook `p` has no `tests:`",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: disable_app, with: {app: x}}]\n",
            "error: step `a` runs `disable_app`, which acts for the whole tenant: it needs an `approval` block",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: disable_app, with: {app: x}, approval: {approvers: [a@contoso.com], on_timeout: approve}}]\n",
            "error: step `a` runs `disable_app`, which acts for the whole tenant: `on_timeout: approve` would let a clock decide",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: purge_messages, with: {internet_message_id: '<m@x>', mode: hard}}]\n",
            "warning: step `a` runs `purge_messages` without an `approval` block",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: purge_messages, with: {internet_message_id: '<m@x>', mode: gone}}]\n",
            "error: parameter `mode` must be one of the listed values; found `gone`; expected one of soft, recoverable, hard",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: purge_messages}]\n",
            "error: `purge_messages` needs the parameter `internet_message_id` in `with`",
        ),
        (
            "version: 1\nid: p\nid: q\n",
            "pb.yaml:3:1: error: duplicate mapping key",
        ),
        (
            "version: 1\nid: p\nmatch: {name: x}\nmode: actve\nsteps: [{id: a, action: revoke_sessions}]\n",
            "error: unknown mode `actve`",
        ),
    ];
    for (source, expected) in cases {
        let diags = diagnostics(source);
        assert!(
            diags.iter().any(|d| d.contains(expected)),
            "{source}\nwant: {expected}\ngot: {diags:#?}"
        );
    }
    let tests = [
        (
            "tests: [{name: t, detection: {id: '1', name: x}, expect: []}]",
            "error: the test detection is invalid: missing required field `observed_at`",
        ),
        (
            "tests: [{name: t, detection: {id: '1', name: x, observed_at: '2021-06-01T00:00:00Z'}, expect: [{step: nope}]}]",
            "error: no step `nope` in this playbook; its steps are: a",
        ),
        (
            "tests: [{name: t, detection: {id: '1', name: x, observed_at: '2021-06-01T00:00:00Z'}, expect: [{step: a, action: disable_account}]}]",
            "error: step `a` runs `revoke_sessions`, not `disable_account`",
        ),
    ];
    for (tail, expected) in tests {
        let source = format!("{head}steps: [{{id: a, action: revoke_sessions}}]\n{tail}\n");
        let diags = diagnostics(&source);
        assert!(
            diags.iter().any(|d| d.contains(expected)),
            "{tail}\nwant: {expected}\ngot: {diags:#?}"
        );
    }
}

#[test]
fn a_valid_playbook_compiles_with_defaults_filled_in() {
    let (playbook, problems) = compile(
        "pb.yaml",
        "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: block_ips}]\ntests: []\n",
    );
    let playbook = playbook.expect("compiles");
    assert!(!problems.has_errors());
    let names: Vec<&str> = playbook.steps[0]
        .params
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        names,
        ["ips"],
        "only parameters with a default are filled in"
    );
    assert_eq!(playbook.digest.len(), 64);
}

#[test]
fn a_soft_purge_without_approval_is_not_warned_about() {
    let diags = diagnostics(
        "version: 1\nid: p\nmatch: {name: x}\nsteps: [{id: a, action: purge_messages, with: {internet_message_id: '{{ details.internet_message_id }}', mode: soft}}]\ntests: []\n",
    );
    assert_eq!(diags, Vec::<String>::new());
}
