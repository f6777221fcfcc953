//! Compiling the parts of a playbook that describe people and expectations: `approval` blocks and
//! the `tests:` block.

use serde_json::Map;

use super::model::{ExpectedAction, Playbook, PlaybookTest};
use crate::intake::{is_object_id, is_upn, parse_generic_value};
use crate::util::parse_duration;
use crate::vocab::ActionKind;
use crate::vocab::{ApprovalPolicy, Mode, OnTimeout};
use crate::yaml::decode::{self, describe};
use crate::yaml::diag::Problems;
use crate::yaml::{Node, NodeValue};

pub const APPROVAL_KEYS: &[&str] = &[
    "approvers",
    "quorum",
    "timeout",
    "on_timeout",
    "escalate_to",
    "channels",
];
pub const TEST_KEYS: &[&str] = &[
    "name",
    "detection",
    "protected_accounts",
    "campaign",
    "expect",
];
pub const EXPECT_KEYS: &[&str] = &[
    "step", "action", "target", "params", "mode", "approval", "refused",
];
pub const CHANNELS: &[&str] = &["slack", "teams", "link", "webhook"];
const DEFAULT_APPROVAL_TIMEOUT_SECS: u64 = 30 * 60;

pub fn compile_approval(p: &mut Problems, node: &Node) -> Option<ApprovalPolicy> {
    let f = decode::fields(p, node, "`approval`", APPROVAL_KEYS)?;
    let errors_before = p.error_count();
    let approvers = f
        .require(p, "approvers", "`approval`")
        .map(|n| principals(p, n, "`approvers`"))
        .unwrap_or_default();
    let quorum = f
        .get("quorum")
        .and_then(|n| decode::positive_int(p, n, "`quorum`"))
        .unwrap_or(1);
    let only_people = approvers.iter().all(|a| !a.contains(':'));
    if only_people && !approvers.is_empty() && quorum as usize > approvers.len() {
        p.error(
            f.get("quorum").unwrap_or(node).loc,
            format!(
                "`quorum` is {quorum} but only {} approver(s) are listed",
                approvers.len()
            ),
        );
    }
    let timeout_secs = match f.get("timeout") {
        None => DEFAULT_APPROVAL_TIMEOUT_SECS,
        Some(n) => decode::string(p, n, "`timeout`")
            .and_then(|text| parse_duration(text).map_err(|m| p.error(n.loc, m)).ok())
            .unwrap_or_default(),
    };
    let on_timeout = match f
        .get("on_timeout")
        .map(|n| (n, decode::string(p, n, "`on_timeout`")))
    {
        None => OnTimeout::Deny,
        Some((_, Some("deny"))) => OnTimeout::Deny,
        Some((_, Some("escalate"))) => OnTimeout::Escalate,
        Some((_, Some("approve"))) => OnTimeout::Approve,
        Some((n, text)) => {
            if text.is_some() {
                p.error(
                    n.loc,
                    format!(
                        "`on_timeout` must be `deny`, `approve` or `escalate`, found {}",
                        describe(n)
                    ),
                );
            }
            OnTimeout::Deny
        }
    };
    let escalate_to = f
        .get("escalate_to")
        .map(|n| principals(p, n, "`escalate_to`"))
        .unwrap_or_default();
    if on_timeout == OnTimeout::Escalate && escalate_to.is_empty() {
        p.error(
            node.loc,
            "`on_timeout: escalate` needs `escalate_to` (who to ask next)",
        );
    }
    let mut channels = Vec::new();
    if let Some(n) = f.get("channels") {
        for (item, text) in decode::strings(p, n, "`channels`") {
            if CHANNELS.contains(&text) {
                channels.push(text.to_string());
            } else {
                p.error(
                    item.loc,
                    format!(
                        "unknown approval channel `{text}`; expected one of {}",
                        CHANNELS.join(", ")
                    ),
                );
            }
        }
    }
    (p.error_count() == errors_before).then_some(ApprovalPolicy {
        approvers,
        quorum: quorum as u32,
        timeout_secs,
        on_timeout,
        escalate_to,
        channels,
    })
}

/// Approvers: a UPN, an object id, or `group:NAME` / `role:NAME` resolved by the approvals stage.
fn principals(p: &mut Problems, node: &Node, what: &str) -> Vec<String> {
    let items = decode::strings(p, node, what);
    if items.is_empty() && p.error_count() == 0 {
        p.error(node.loc, format!("{what} must name at least one approver"));
    }
    items
        .into_iter()
        .filter_map(|(item, text)| {
            let valid = is_upn(text)
                || is_object_id(text)
                || ["group:", "role:"].iter().any(|pre| {
                    text.strip_prefix(pre)
                        .is_some_and(|rest| !rest.trim().is_empty())
                });
            if !valid {
                p.error(
                    item.loc,
                    format!(
                        "approver `{text}` must be a UPN, an object id, `group:NAME` or `role:NAME`"
                    ),
                );
            }
            valid.then(|| text.to_string())
        })
        .collect()
}

pub fn compile_tests(
    p: &mut Problems,
    node: &Node,
    playbook: &Playbook,
) -> Option<Vec<PlaybookTest>> {
    let items = decode::list(p, node, "`tests`")?;
    let tests: Vec<Option<PlaybookTest>> = items
        .iter()
        .map(|item| compile_test(p, item, playbook))
        .collect();
    tests.into_iter().collect()
}

fn compile_test(p: &mut Problems, node: &Node, playbook: &Playbook) -> Option<PlaybookTest> {
    let f = decode::fields(p, node, "a test", TEST_KEYS)?;
    let name = f
        .require(p, "name", "a test")
        .and_then(|n| decode::string(p, n, "the test `name`"));
    let detection = f.require(p, "detection", "a test").and_then(|n| {
        if !matches!(n.value, NodeValue::Map(_)) {
            p.error(
                n.loc,
                format!("a test's `detection` must be a mapping, found {}", n.kind()),
            );
            return None;
        }
        parse_generic_value(n.to_json())
            .map_err(|e| p.error(n.loc, format!("the test detection is invalid: {e}")))
            .ok()
    });
    let protected_accounts = f
        .get("protected_accounts")
        .map(|n| {
            decode::strings(p, n, "`protected_accounts`")
                .into_iter()
                .map(|(_, s)| s.to_string())
                .collect()
        })
        .unwrap_or_default();
    let campaign = match (f.get("campaign"), &detection) {
        (Some(n), Some(d)) => {
            super::test_campaign::compile_test_campaign(p, n, d.observed_at).map(Some)
        }
        _ => Some(None),
    };
    let expect = f.require(p, "expect", "a test").and_then(|n| {
        let items = decode::list(p, n, "`expect`")?;
        let expected: Vec<Option<ExpectedAction>> = items
            .iter()
            .map(|item| compile_expected(p, item, playbook))
            .collect();
        expected.into_iter().collect::<Option<Vec<_>>>()
    });
    Some(PlaybookTest {
        name: name?.to_string(),
        loc: node.loc,
        detection: detection?,
        protected_accounts,
        campaign: campaign?,
        expect: expect?,
    })
}

fn compile_expected(p: &mut Problems, node: &Node, playbook: &Playbook) -> Option<ExpectedAction> {
    let f = decode::fields(p, node, "an expected action", EXPECT_KEYS)?;
    let errors_before = p.error_count();
    let step_node = f.require(p, "step", "an expected action")?;
    let step_id = decode::string(p, step_node, "`step`")?;
    let Some(step) = playbook.steps.iter().find(|s| s.id == step_id) else {
        let ids: Vec<&str> = playbook.steps.iter().map(|s| s.id.as_str()).collect();
        p.error(
            step_node.loc,
            format!(
                "no step `{step_id}` in this playbook; its steps are: {}",
                ids.join(", ")
            ),
        );
        return None;
    };
    let action = f.get("action").and_then(|n| {
        let text = decode::string(p, n, "`action`")?;
        match ActionKind::parse(text) {
            Some(kind) if kind == step.action => Some(kind),
            _ => {
                p.error(
                    n.loc,
                    format!("step `{step_id}` runs `{}`, not `{text}`", step.action),
                );
                None
            }
        }
    });
    let target = f
        .get("target")
        .and_then(|n| decode::string(p, n, "`target`"))
        .map(str::to_string);
    let params = match f.get("params") {
        None => Map::new(),
        Some(n) => match n.to_json() {
            serde_json::Value::Object(map) => map,
            _ => {
                p.error(
                    n.loc,
                    format!("`params` must be a mapping, found {}", n.kind()),
                );
                Map::new()
            }
        },
    };
    let mode = f.get("mode").and_then(|n| {
        let text = decode::string(p, n, "`mode`")?;
        Mode::parse(text).or_else(|| {
            p.error(
                n.loc,
                format!("unknown mode `{text}`; expected `passive` or `active`"),
            );
            None
        })
    });
    let approval = f
        .get("approval")
        .and_then(|n| decode::boolean(p, n, "`approval`"));
    let refused = f
        .get("refused")
        .and_then(|n| decode::boolean(p, n, "`refused`"));
    (p.error_count() == errors_before).then(|| ExpectedAction {
        step: step_id.to_string(),
        action,
        target,
        params,
        mode,
        approval,
        refused,
    })
}
