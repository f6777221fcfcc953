//! The Slack channel end to end: the real `stanch serve` in active mode, the Graph emulator, and
//! a small fake of Slack's Web API that records what stanch sends and answers like Slack. Clicks
//! are signed the way Slack signs them.

mod fake;

use serde_json::json;

use crate::harness::{TestApp, wait_until};
use fake::{
    BOT_TOKEN, Call, OLD_SECRET, SECRET, Setup, click, now, of_kind, sha256, signed, surge,
};

/// A gated step goes to Slack with its evidence and buttons; Approve runs the action against
/// the tenant and the message then says who approved; Deny leaves the account alone.
#[test]
fn slack_clicks_approve_and_deny_and_update_the_messages() {
    let s = Setup::start(&["b.jones@contoso.com", "e.novak@contoso.com"]);
    let (message, value) = s.request("b.jones@contoso.com");
    assert_eq!(message.auth, format!("Bearer {BOT_TOKEN}"));
    assert_eq!(message.body["channel"], "C0SECOPS");
    let text = message.body.to_string();
    for evidence in [
        "disable_account",
        "Antigena Email: Unusual Login Location + Sender Surge",
        "group:SOC Tier 2",
        "sender-surge",
    ] {
        assert!(text.contains(evidence), "{evidence} missing from {text}");
    }
    let buttons = &message.body["blocks"][2]["elements"];
    assert_eq!(
        (&buttons[0]["action_id"], &buttons[0]["style"]),
        (&json!("approve"), &json!("primary"))
    );
    assert_eq!(
        (&buttons[1]["action_id"], &buttons[1]["style"]),
        (&json!("deny"), &json!("danger"))
    );
    let (pk, hash) = value.split_once(':').unwrap();
    assert_eq!(hash.len(), 64, "{value}");

    // Signed with the previous secret: a rotation keeps it valid.
    let approved = s.click(OLD_SECRET, "UOKAFOR", "approve", &value, "t-approve");
    wait_until(20, "the approved disable did not run", || {
        s.tenant().user("b.jones@contoso.com")["accountEnabled"] == false
    });
    let ts = message.reply["ts"].as_str().unwrap();
    wait_until(10, "the request was not updated", || {
        s.update_of(ts).is_some()
    });
    let update = s.update_of(ts).unwrap().body.to_string();
    assert!(
        update.contains("Approved by f.okafor@contoso.com") && !update.contains("\"button\""),
        "{update}"
    );

    let (denied_message, denied_value) = s.request("e.novak@contoso.com");
    let denied = s.click(SECRET, "UMULLER", "deny", &denied_value, "t-deny");
    let denied_ts = denied_message.reply["ts"].as_str().unwrap();
    wait_until(10, "the denied request was not updated", || {
        s.update_of(denied_ts).is_some()
    });
    let update = s.update_of(denied_ts).unwrap().body.to_string();
    assert!(
        update.contains("Denied by g.muller@contoso.com"),
        "{update}"
    );
    let rows = s.actions();
    let status = |pk: &str| {
        let pk: i64 = pk.parse().unwrap();
        rows.iter().find(|a| a["pk"] == pk).unwrap()["status"].clone()
    };
    assert_eq!(status(pk), "succeeded");
    assert_eq!(status(denied_value.split_once(':').unwrap().0), "denied");
    assert_eq!(
        s.tenant().user("e.novak@contoso.com")["accountEnabled"],
        true,
        "a denied action never runs"
    );
    assert!(s.slack().told().is_empty(), "{:?}", s.slack().told());

    let audit = s.stop_and_audit();
    let approvals = of_kind(&audit, "approval.approved");
    assert_eq!(approvals.len(), 1, "{approvals:?}");
    assert_eq!(approvals[0]["channel"], "slack");
    assert_eq!(approvals[0]["approver"], "f.okafor@contoso.com");
    assert_eq!(approvals[0]["raw_sha256"], sha256(&approved));
    assert_eq!(approvals[0]["action_hash"], hash);
    let reason = approvals[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("Approve in Slack (#secops-approvals as UOKAFOR)"),
        "{reason}"
    );
    let denials = of_kind(&audit, "approval.denied");
    assert_eq!(denials.len(), 1, "{denials:?}");
    assert_eq!(denials[0]["approver"], "g.muller@contoso.com");
    assert_eq!(denials[0]["raw_sha256"], sha256(&denied));
    assert!(of_kind(&audit, "approval.refused").is_empty());
}

/// Every refusal is audited (with the raw body's hash) and changes nothing: a bad signature and a
/// stale timestamp are 401s; a signed click from an outsider, the target account, an unknown
/// user or for an unknown action is answered 200 and the clicker told why; a replayed click and
/// a late click decide nothing more, and the approved action runs once.
#[test]
fn slack_refusals_are_audited_and_execute_nothing() {
    let s = Setup::start(&["b.jones@contoso.com"]);
    let (_, value) = s.request("b.jones@contoso.com");
    let expect_told = |n: usize, what: &str| {
        wait_until(10, &format!("the clicker was not told: {what}"), || {
            s.slack().told().len() == n
        });
        let told = s.slack().told();
        assert!(told[n - 1].contains(what), "{told:?}");
    };

    let body = click("UOKAFOR", "approve", &value, "t-forged");
    let (status, reply) = s.send(&body, &signed("not-the-secret", now(), &body));
    assert_eq!(status, 401, "{reply}");
    assert_eq!(reply["error"]["code"], "unauthorized");
    let (status, reply) = s.send(&body, &signed(SECRET, now() - 600, &body));
    assert_eq!(status, 401, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("replay window"),
        "{reply}"
    );
    let mut unsigned = signed(SECRET, now(), &body);
    unsigned.retain(|(k, _)| *k != "x-slack-signature");
    assert_eq!(s.send(&body, &unsigned).0, 401);

    let outsider = s.click(SECRET, "UHROOM", "approve", &value, "t-outsider");
    expect_told(1, "h.room@contoso.com is not among the approvers");
    s.click(SECRET, "UBJONES", "approve", &value, "t-target");
    expect_told(2, "b.jones@contoso.com is the account this action targets");
    s.click(SECRET, "UNOBODY", "approve", &value, "t-nobody");
    expect_told(3, "cannot tell who Slack user UNOBODY is");
    let (_, hash) = value.split_once(':').unwrap();
    s.click(
        SECRET,
        "UOKAFOR",
        "approve",
        &format!("99999:{hash}"),
        "t-gone",
    );
    expect_told(4, "unknown action #99999");
    assert_eq!(
        s.tenant().user("b.jones@contoso.com")["accountEnabled"],
        true,
        "no refusal executes anything"
    );
    assert!(s.slack().calls("chat.update").is_empty());

    // The same click delivered twice decides once; a later click by someone else finds it decided.
    let approve = click("UOKAFOR", "approve", &value, "t-approve");
    let headers = signed(SECRET, now(), &approve);
    assert_eq!(s.send(&approve, &headers).0, 200);
    wait_until(20, "the approved disable did not run", || {
        s.tenant().user("b.jones@contoso.com")["accountEnabled"] == false
    });
    assert_eq!(s.send(&approve, &headers).0, 200, "Slack gets its 200");
    expect_told(5, "replayed click");
    s.click(SECRET, "UMULLER", "deny", &value, "t-late");
    expect_told(6, "is not waiting for approval");
    let disables = s
        .tenant()
        .writes()
        .iter()
        .filter(|w| w.starts_with("PATCH /v1.0/users/"))
        .count();
    assert_eq!(disables, 1, "{:?}", s.tenant().writes());
    assert_eq!(s.slack().calls("chat.update").len(), 1);

    let audit = s.stop_and_audit();
    let refused = of_kind(&audit, "approval.refused");
    assert_eq!(refused.len(), 9, "{refused:#?}");
    assert!(refused.iter().all(|r| r["channel"] == "slack"));
    assert!(
        refused
            .iter()
            .all(|r| r["raw_sha256"].as_str().is_some_and(|h| h.len() == 64))
    );
    let whys: Vec<&str> = refused.iter().map(|r| r["why"].as_str().unwrap()).collect();
    for expected in [
        "does not match",
        "replay window",
        "header is missing",
        "not among the approvers",
        "the account this action targets",
        "UNOBODY",
        "unknown action",
        "replayed click",
        "not waiting",
    ] {
        assert!(
            whys.iter().any(|w| w.contains(expected)),
            "{expected}: {whys:?}"
        );
    }
    let by_outsider = refused
        .iter()
        .find(|r| r["approver"] == "h.room@contoso.com")
        .unwrap();
    assert_eq!(by_outsider["raw_sha256"], sha256(&outsider));
    assert_eq!(of_kind(&audit, "approval.approved").len(), 1);
    assert!(of_kind(&audit, "approval.denied").is_empty());
}

/// A quorum of two keeps the buttons and reports progress in the thread; an unanswered request
/// is escalated (a fresh message with buttons, the old one says so) and then timed out (both
/// messages say so), and nothing runs.
#[test]
fn slack_follows_quorum_escalation_and_timeouts() {
    let s = Setup::start_with(surge("b.jones@contoso.com", Some("203.0.113.77")), 2);
    let (block, block_value) = s.request("block_ips");
    let block_ts = block.reply["ts"].as_str().unwrap().to_string();
    s.click(SECRET, "UOKAFOR", "approve", &block_value, "t-q1");
    let in_thread = || -> Vec<Call> {
        s.slack()
            .calls("chat.postMessage")
            .into_iter()
            .filter(|c| c.body["thread_ts"] == block_ts.as_str())
            .collect()
    };
    wait_until(10, "no progress in the thread", || in_thread().len() == 1);
    let progress = in_thread()[0].body["text"].as_str().unwrap().to_string();
    assert!(progress.contains("1 of 2 approvals"), "{progress}");
    assert!(s.update_of(&block_ts).is_none(), "the buttons stay");
    s.click(SECRET, "UMULLER", "approve", &block_value, "t-q2");
    wait_until(10, "the request was not updated", || {
        s.update_of(&block_ts).is_some()
    });
    let update = s.update_of(&block_ts).unwrap().body.to_string();
    assert!(
        update.contains("Approved by g.muller@contoso.com"),
        "{update}"
    );

    let (disable, value) = s.request("disable_account");
    let pk = value.split_once(':').unwrap().0.to_string();
    let disable_ts = disable.reply["ts"].as_str().unwrap().to_string();
    // Nobody answers in time: the job runs as of just past the request's deadline.
    let expire = || {
        s.clock
            .advance_past(s.approval_deadline(pk.parse().unwrap()));
        let (job, summary) = s.job("approval-timeouts");
        assert_eq!(job.code, 0, "{job:?}");
        summary
    };
    let escalated = expire();
    assert_eq!(escalated["escalated"], 1, "{escalated}");
    let requests: Vec<Call> = s
        .slack()
        .calls("chat.postMessage")
        .into_iter()
        .filter(|c| {
            c.body["thread_ts"].is_null()
                && c.body["text"].as_str().unwrap().contains("disable_account")
        })
        .collect();
    assert_eq!(requests.len(), 2, "a fresh request for the escalation");
    let fresh = &requests[1];
    assert!(fresh.body["text"].as_str().unwrap().contains("(escalated)"));
    assert!(fresh.body.to_string().contains("secops-lead@contoso.com"));
    let fresh_ts = fresh.reply["ts"].as_str().unwrap().to_string();
    let old = s
        .update_of(&disable_ts)
        .expect("the first request says it was escalated");
    assert!(old.body.to_string().contains("escalated"), "{:?}", old.body);
    assert!(
        s.update_of(&fresh_ts).is_none(),
        "the fresh request keeps its buttons"
    );

    let timed_out = expire();
    assert_eq!(timed_out["denied"], 1, "{timed_out}");
    let update = s
        .update_of(&fresh_ts)
        .expect("the fresh request says it timed out");
    assert!(
        update.body.to_string().contains("nobody answered in time"),
        "{:?}",
        update.body
    );
    assert_eq!(
        s.tenant().user("b.jones@contoso.com")["accountEnabled"],
        true
    );
    let rows = s.actions();
    let pk: i64 = pk.parse().unwrap();
    let row = rows.iter().find(|a| a["pk"] == pk).unwrap();
    assert_eq!(row["status"], "timed_out");
    assert!(s.slack().told().is_empty(), "{:?}", s.slack().told());
    assert_eq!(s.stop_server(), 0);
}

/// A Slack block without its secrets (in the file or the environment) stops `serve` at once.
#[test]
fn serve_refuses_an_incomplete_slack_channel() {
    let app = TestApp::builder()
        .yaml("listen: 127.0.0.1:0\nintake:\n  bearer_tokens: [t]\napprovals:\n  slack:\n    channel: C0SECOPS\n    signing_secrets: [s]\n")
        .build();
    let out = app.stanch(&["serve"]);
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr
            .contains("`approvals.slack.bot_token` is not set (or STANCH_SLACK_BOT_TOKEN)"),
        "{}",
        out.stderr
    );
}
