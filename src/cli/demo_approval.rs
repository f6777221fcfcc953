//! The demo's human in the loop: a destructive step (disabling B's account) waits for the SOC;
//! the request goes out with a signed link per approver (the group is resolved through Graph),
//! opening the link shows the evidence and decides nothing, a SOC Tier 2 member approves through
//! the page served by the real HTTP app, and only then does the action run.

use std::sync::Arc;

use anyhow::Context as _;

use crate::actions::{GraphRunner, execute, planned_from_row};
use crate::approvals::request::ApprovalRequest;
use crate::approvals::{Deciding, approvals_still_match, policy};
use crate::config::{Config, SecretString};
use crate::http::{AppState, app};
use crate::pipeline::{Recorder, Service};
use crate::store::Store;
use stanch_core::engine::Context;
use stanch_core::vocab::ActionStatus;

const TARGET: &str = "b.jones@contoso.com";

pub(super) async fn approve_through_a_signed_link(
    config: &Config,
    store: &Store,
    runner: &GraphRunner,
) -> anyhow::Result<()> {
    println!("\n== a destructive step waits for a human ==");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let mut settings = config.approvals.clone();
    settings.public_url = Some(url.clone());
    settings.link_secret = Some(SecretString::new(uuid::Uuid::new_v4().to_string()));
    let recorder = Recorder::new(
        store.clone(),
        Arc::<stanch_core::playbook::PlaybookSet>::default(),
        Arc::new(Context::default()),
        config.campaigns.clone(),
        0,
    );
    let service = Service::new(
        store.clone(),
        recorder,
        Some(runner.clone()),
        settings,
        config.safety.clone(),
    );
    let state = AppState::new(service.clone(), Default::default());
    let dispatcher = service.dispatcher();
    let server = tokio::spawn(axum::serve(listener, app(state.clone())).into_future());

    let requested = dispatcher.request_new().await?;
    println!("{requested} approval request(s) sent (see `stanch approvals list`)");
    let row = store
        .actions(None)
        .await?
        .into_iter()
        .find(|a| {
            a.kind == "disable_account"
                && a.status == ActionStatus::AwaitingApproval
                && a.target_upn.as_deref() == Some(TARGET)
        })
        .context("the story planned no gated disable of B's account")?;
    let ctx = Deciding {
        store,
        directory: Some(runner),
        settings: &service.approvals,
    };
    let policy = policy::policy_of(&row, &service.approvals);
    let deadline = chrono::Utc::now() + chrono::Duration::minutes(15);
    let request = ApprovalRequest::build(ctx, &row, &policy, 0, deadline).await;
    println!(
        "action #{}: {} on {} ({}/{}), approvers {} → {} signed link(s)",
        row.pk,
        row.kind,
        TARGET,
        row.playbook,
        row.step,
        request.approvers.join(", "),
        request.links.len()
    );
    let link = request
        .links
        .first()
        .context("no approver could be resolved for the demo's disable step")?;
    let http = reqwest::Client::new();
    let page = http.get(&link.url).send().await?;
    let status = page.status();
    let shows_evidence = page.text().await?.contains(TARGET);
    let still = store
        .action(row.pk)
        .await?
        .map_or("", |a| a.status.as_str());
    println!(
        "  {} opens the link: HTTP {status}, evidence shown: {shows_evidence}, action still {still}",
        link.approver
    );
    let decided = http
        .post(&link.url)
        .form(&[
            ("decision", "approve"),
            (
                "reason",
                "B's sign-ins come from the attacker's ASN; lock it",
            ),
        ])
        .send()
        .await?;
    let text = decided.text().await?;
    println!(
        "  {} approves on the page: {}",
        link.approver,
        if text.contains("approved") {
            "approved (quorum reached)"
        } else {
            "not approved"
        }
    );
    server.abort();
    let row = store.action(row.pk).await?.context("the approved action")?;
    if row.status == ActionStatus::Pending && approvals_still_match(store, &row).await? {
        let action = planned_from_row(&row).context("the approved action's kind")?;
        let result = execute(runner, store, row.detection_seq, &action).await?;
        println!(
            "  then stanch runs it: {} {} on {TARGET} in {} ms",
            result.status, row.kind, result.elapsed_ms
        );
    } else {
        println!("  the action is {}; it did not run", row.status);
    }
    Ok(())
}
