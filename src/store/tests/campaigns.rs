//! Campaign rows, on every backend: written with their detections, loaded back by indicator and
//! window, merged, confirmed, and never narrowed by a batch written late.

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::store::{Evaluation, PreparedBatch, Store};
use stanch_core::campaign::{Assignment, Confirmation, Settings, Tracker};
use stanch_core::engine::{self, Context};
use stanch_core::intake::{Detection, UserRef, parse_generic};
use stanch_core::playbook::PlaybookSet;
use stanch_core::vocab::Mode;

/// A detection from AS37100 unless the IP is in 203.0.113.0/24 (AS64501).
fn detection(id: &str, upn: &str, hours: i64, ip: &str) -> Detection {
    let asn = if ip.starts_with("203.0.113.") {
        64501
    } else {
        37100
    };
    let at = DateTime::parse_from_rfc3339("2021-06-01T00:00:00Z")
        .unwrap()
        .to_utc()
        + Duration::hours(hours);
    parse_generic(&format!(
        r#"{{"id":"{id}","source":"t","name":"x","observed_at":"{}","user":{{"upn":"{upn}"}},"ip":"{ip}","asn":{asn}}}"#,
        at.to_rfc3339()
    ))
    .unwrap()
}

/// Assigns, plans and records `detections` like `stanch run` does; returns their campaigns.
async fn record(
    store: &Store,
    run: i64,
    tracker: &mut Tracker,
    detections: &[Detection],
) -> Vec<String> {
    let refs: Vec<&Detection> = detections.iter().collect();
    crate::pipeline::load_for(store, tracker, &refs)
        .await
        .unwrap();
    let playbooks = PlaybookSet {
        playbooks: Vec::new(),
    };
    let evaluated: Vec<_> = detections
        .iter()
        .map(|d| crate::pipeline::evaluate(tracker, d, None, &playbooks, &Context::default()))
        .collect();
    let items: Vec<Evaluation<'_>> = detections
        .iter()
        .zip(&evaluated)
        .map(|(detection, e)| Evaluation::Accepted {
            line: None,
            detection,
            plan: &e.plan,
        })
        .collect();
    let notes: Vec<Option<&Assignment>> = evaluated.iter().map(|e| e.note.as_ref()).collect();
    let batch =
        PreparedBatch::with_campaigns(run, &items, &notes, tracker.take_dirty(), Utc::now())
            .unwrap();
    store.record_prepared(batch).await.unwrap();
    evaluated
        .into_iter()
        .map(|e| e.note.unwrap().campaign)
        .collect()
}

pub async fn campaigns_round_trip(store: &Store) {
    let run = store
        .start_run(Mode::Passive, "campaigns", Utc::now())
        .await
        .unwrap();
    let mut first = Tracker::new(Settings::default());
    let ids = record(
        store,
        run,
        &mut first,
        &[
            detection("1", "a@contoso.com", 0, "198.51.100.23"),
            detection("2", "b@contoso.com", 1, "198.51.100.24"),
            detection("3", "c@contoso.com", 2, "203.0.113.9"),
        ],
    )
    .await;
    assert_eq!(ids[0], ids[1], "same /24");
    assert_ne!(ids[0], ids[2]);

    // Another process (a fresh tracker) finds the campaign by indicator and window only.
    let mut second = Tracker::new(Settings::default());
    let far = detection("9", "z@contoso.com", 500, "198.51.100.23");
    crate::pipeline::load_for(store, &mut second, &[&far])
        .await
        .unwrap();
    assert!(second.is_empty(), "outside the window nothing is loaded");
    let bridge = detection("4", "d@contoso.com", 3, "203.0.113.10");
    let mut bridge = bridge;
    bridge.asn = Some(37100);
    let ids2 = record(store, run, &mut second, &[bridge]).await;
    assert_eq!(ids2[0], ids[0], "it linked both and the older survived");
    let merged = store.live_campaign_id(&ids[2]).await.unwrap();
    assert_eq!(merged.as_deref(), Some(ids[0].as_str()));

    let detail = store.campaign_detail(&ids[2]).await.unwrap().unwrap();
    assert_eq!(detail.summary.id, ids[0], "a merged id shows the survivor");
    assert_eq!(detail.merged_from, [ids[2].clone()]);
    let accounts: Vec<&str> = detail.members.iter().map(|m| m.account.as_str()).collect();
    assert_eq!(
        accounts,
        [
            "a@contoso.com",
            "b@contoso.com",
            "c@contoso.com",
            "d@contoso.com"
        ]
    );
    assert_eq!(detail.timeline.len(), 4, "every detection, merged ones too");
    assert_eq!(detail.summary.detections, 4);
    assert!(
        detail
            .infrastructure
            .iter()
            .any(|i| i.kind == "network" && i.value == "203.0.113.0/24")
    );

    // The first tracker is stale now; a batch it writes late cannot narrow or unmerge anything.
    let late = record(
        store,
        run,
        &mut first,
        &[detection("5", "a@contoso.com", 1, "198.51.100.23")],
    )
    .await;
    assert_eq!(late[0], ids[0]);
    let detail = store.campaign_detail(&ids[0]).await.unwrap().unwrap();
    assert_eq!(detail.members.len(), 4);
    assert_eq!(detail.summary.first_seen, "2021-06-01T00:00:00.000000Z");
    assert_eq!(detail.summary.last_seen, "2021-06-01T03:00:00.000000Z");

    // A confirmation is written once, with its audit record, and survives later upserts.
    let mut third = Tracker::new(Settings::default());
    let confirmation = Confirmation {
        at: Utc::now(),
        by: "operator soc@contoso.com".into(),
        reason: "seen in the proxy logs".into(),
    };
    let follow_ups = crate::pipeline::confirm_campaign(
        store,
        &mut third,
        &ids[2],
        confirmation,
        Some(&UserRef {
            upn: Some("a@contoso.com".into()),
            id: None,
        }),
        false,
    )
    .await
    .unwrap();
    let names: Vec<String> = follow_ups
        .iter()
        .map(|f| {
            f.detection
                .user
                .as_ref()
                .map_or("tenant".into(), |u| u.to_string())
        })
        .collect();
    assert_eq!(
        names,
        ["b@contoso.com", "c@contoso.com", "d@contoso.com", "tenant"],
        "every member but the one already contained, then the infrastructure"
    );
    record(
        store,
        run,
        &mut first,
        &[detection("6", "b@contoso.com", 2, "198.51.100.24")],
    )
    .await;
    let listed = store.campaigns().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].confirmed_by.as_deref(),
        Some("operator soc@contoso.com")
    );
    assert_eq!(listed[0].contained, 1);
    let kinds: Vec<String> = store
        .audit_records()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.kind)
        .filter(|k| k.starts_with("campaign."))
        .collect();
    for kind in [
        "campaign.opened",
        "campaign.joined",
        "campaign.merged",
        "campaign.confirmed",
    ] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
    let plan_record = store
        .audit_records()
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.kind == "plan.decided")
        .unwrap();
    let plan: Value = serde_json::from_str(&plan_record.payload).unwrap();
    assert_eq!(plan["plan"]["campaign"], ids[0].as_str());
    assert!(store.verify_audit().await.unwrap().is_intact());
    // Planning without a campaign still works (and says nothing about one).
    let d = detection("7", "q@contoso.com", 0, "192.0.2.1");
    let plan = engine::plan(&d, &PlaybookSet { playbooks: vec![] }, &Context::default());
    assert!(
        serde_json::to_value(&plan)
            .unwrap()
            .get("campaign")
            .is_none()
    );
}

/// The stored member rows of `campaign`, past the reading that folds rows naming one account.
async fn member_rows(store: &Store, campaign: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT account FROM campaign_members WHERE campaign_id = $1 ORDER BY account",
    )
    .bind(campaign.to_string())
    .fetch_all(&store.pool)
    .await
    .unwrap()
}

pub async fn a_member_known_under_its_other_name_is_deleted(store: &Store) {
    let run = store
        .start_run(Mode::Passive, "one account", Utc::now())
        .await
        .unwrap();
    let id = "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e0001";
    let by_id = |n: &str, hours| {
        let mut d = detection(n, "unused@contoso.com", hours, "198.51.100.24");
        d.user = Some(UserRef {
            upn: None,
            id: Some(id.into()),
        });
        d
    };
    let mut tracker = Tracker::new(Settings::default());
    let mut stale = Tracker::new(Settings::default());
    let campaign = record(
        store,
        run,
        &mut tracker,
        &[
            detection("1", "a@contoso.com", 0, "198.51.100.23"),
            by_id("2", 1),
        ],
    )
    .await
    .remove(0);
    assert_eq!(member_rows(store, &campaign).await, [id, "a@contoso.com"]);
    // A second process holds the campaign as it was: two members.
    record(store, run, &mut stale, &[by_id("3", 2)]).await;

    let events = tracker.learn_identity(id, "a@contoso.com", "the directory");
    assert_eq!(events.len(), 1, "{events:?}");
    store
        .record_campaign_changes(tracker.take_dirty(), &[])
        .await
        .unwrap();
    assert_eq!(member_rows(store, &campaign).await, ["a@contoso.com"]);
    let detail = store.campaign_detail(&campaign).await.unwrap().unwrap();
    assert_eq!(detail.members.len(), 1);
    assert_eq!(detail.members[0].user_id.as_deref(), Some(id));

    // The stale process writes the other row again, late: the store reads one account still.
    stale.mark_contained(
        &campaign,
        &UserRef {
            upn: None,
            id: Some(id.into()),
        },
        Utc::now(),
        "late".into(),
    );
    store
        .record_campaign_changes(stale.take_dirty(), &[])
        .await
        .unwrap();
    assert_eq!(member_rows(store, &campaign).await.len(), 2);
    let listed = store.campaigns().await.unwrap();
    assert_eq!(listed[0].accounts, 1, "{listed:?}");
    assert_eq!(listed[0].contained, 1, "contained if either row was");
    let mut fresh = Tracker::new(Settings::default());
    store.load_campaign(&mut fresh, &campaign).await.unwrap();
    assert_eq!(fresh.get(&campaign).unwrap().members().len(), 1);
    assert!(store.verify_audit().await.unwrap().is_intact());
}
