use super::*;
use crate::campaign::tracker::tests::members as names;
use crate::campaign::{CampaignEvent, ListKind, Settings};
use crate::intake::{Detection, UserRef, parse_generic};

const A_ID: &str = "0b6c4a6e-8f55-4c1e-9a51-3d2f6a1e0001";
const A_UPN: &str = "a.silva@contoso.com";
const VIA: &str = "the directory resolved a.silva@contoso.com to object id …0001";

/// A detection `hours` after day 1 00:00 naming the account `user` (`{"upn": ...}` or
/// `{"id": ...}`), from `ip`.
fn seen(id: &str, user: serde_json::Value, hours: f64, ip: &str) -> Detection {
    let at = DateTime::parse_from_rfc3339("2021-06-01T00:00:00Z")
        .unwrap()
        .to_utc()
        + chrono::Duration::seconds((hours * 3600.0) as i64);
    let json = serde_json::json!({
        "id": id, "source": "test", "name": "x", "observed_at": at.to_rfc3339(),
        "user": user, "ip": ip,
    });
    parse_generic(&json.to_string()).unwrap()
}

fn by_upn(upn: &str) -> serde_json::Value {
    serde_json::json!({ "upn": upn })
}

fn by_id(id: &str) -> serde_json::Value {
    serde_json::json!({ "id": id })
}

#[test]
fn two_members_that_are_one_account_become_one_member() {
    let mut t = Tracker::new(Settings::default());
    let first = t
        .assign(&seen("1", by_upn(A_UPN), 1.0, "198.51.100.23"))
        .unwrap();
    let second = t
        .assign(&seen(
            "2",
            by_id(&A_ID.to_uppercase()),
            2.0,
            "198.51.100.24",
        ))
        .unwrap();
    let campaign = first.campaign.clone();
    assert_eq!(second.campaign, campaign, "the /24 links them");
    t.mark_contained(
        &campaign,
        &UserRef {
            upn: None,
            id: Some(A_ID.into()),
        },
        Utc::now(),
        "contained".into(),
    );
    assert_eq!(t.view(&campaign, None).unwrap().accounts(), 2, "the bug");
    let _ = t.take_dirty();

    let events = t.learn_identity(A_ID, A_UPN, VIA);
    let [
        CampaignEvent::SameAccount {
            account, merged, ..
        },
    ] = events.as_slice()
    else {
        panic!("{events:?}")
    };
    assert_eq!((account.as_str(), merged.as_str()), (A_UPN, A_ID));
    let c = t.get(&campaign).unwrap();
    assert_eq!(c.members().len(), 1);
    let member = c.members()[0].clone();
    assert_eq!(member.account, A_UPN, "the earliest to join stays");
    assert_eq!(member.id.as_deref(), Some(A_ID));
    assert!(member.via.contains("opened the campaign"), "{}", member.via);
    assert!(member.contained, "contained if either was");
    assert_eq!(c.member_index(A_ID), Some(0));
    assert_eq!(c.member_index(&A_ID.to_uppercase()), Some(0));
    assert_eq!(c.member_index(A_UPN), Some(0));
    assert_eq!(t.view(&campaign, None).unwrap().accounts(), 1);

    let dirty = t.take_dirty();
    assert_eq!(
        dirty.removed_members,
        [(campaign.clone(), A_ID.to_string())]
    );
    assert_eq!(dirty.members.len(), 1);
    assert_eq!(dirty.members[0].1, member);
    assert!(dirty.campaigns.iter().any(|c| c.id == campaign));
    assert!(t.take_dirty().is_empty(), "reported once");
    assert!(
        t.learn_identity(A_ID, A_UPN, VIA).is_empty(),
        "learning it again changes nothing"
    );
    assert!(t.take_dirty().is_empty());
}

#[test]
fn an_account_in_two_campaigns_merges_them_into_the_oldest() {
    let mut t = Tracker::new(Settings::default());
    let by_name = t
        .assign(&seen("1", by_upn(A_UPN), 1.0, "198.51.100.23"))
        .unwrap();
    let by_object_id = t
        .assign(&seen("2", by_id(A_ID), 2.0, "203.0.113.9"))
        .unwrap();
    assert_ne!(by_name.campaign, by_object_id.campaign);
    let _ = t.take_dirty();

    let events = t.learn_identity(A_ID, A_UPN, VIA);
    let [
        CampaignEvent::Merged { from, into, via },
        CampaignEvent::SameAccount { campaign, .. },
    ] = events.as_slice()
    else {
        panic!("{events:?}")
    };
    assert_eq!(
        (from, into, campaign),
        (&by_object_id.campaign, &by_name.campaign, &by_name.campaign)
    );
    assert_eq!(via, VIA);
    assert_eq!(names(&t, &by_object_id.campaign), [A_UPN]);
    let dirty = t.take_dirty();
    assert_eq!(
        dirty.merges,
        [(by_object_id.campaign.clone(), by_name.campaign.clone())]
    );
    assert!(dirty.members.iter().all(|(c, _)| *c == by_name.campaign));
    assert_eq!(dirty.members.len(), 1);
    // The object id links later detections to the survivor, as one member.
    let later = t.assign(&seen("3", by_id(A_ID), 3.0, "192.0.2.1")).unwrap();
    assert_eq!(later.campaign, by_name.campaign);
    assert!(later.events.is_empty(), "{:?}", later.events);
    assert_eq!(t.view(&later.campaign, None).unwrap().accounts(), 1);
}

#[test]
fn an_account_seen_further_apart_than_the_window_stays_in_two_campaigns() {
    let mut t = Tracker::new(Settings::default());
    let early = t
        .assign(&seen("1", by_upn(A_UPN), 0.0, "198.51.100.23"))
        .unwrap();
    let late = t
        .assign(&seen("2", by_id(A_ID), 100.0, "203.0.113.9"))
        .unwrap();
    let events = t.learn_identity(A_ID, A_UPN, VIA);
    assert!(events.is_empty(), "{events:?}");
    assert_ne!(
        t.get(&early.campaign).unwrap().id,
        t.get(&late.campaign).unwrap().id
    );
    // Each counts the account once, and knows both its names.
    for id in [&early.campaign, &late.campaign] {
        let c = t.get(id).unwrap();
        assert_eq!(c.members().len(), 1);
        assert_eq!(c.members()[0].upn.as_deref(), Some(A_UPN));
        assert_eq!(c.members()[0].id.as_deref(), Some(A_ID));
    }
}

#[test]
fn indices_stay_right_after_a_member_is_removed() {
    let mut t = Tracker::new(Settings::default());
    let ip = "198.51.100.23";
    let b = t
        .assign(&seen("1", by_upn("b@contoso.com"), 0.0, ip))
        .unwrap();
    t.assign(&seen("2", by_upn(A_UPN), 5.0, ip));
    t.assign(&seen("3", by_upn("c@contoso.com"), 6.0, ip));
    // The object id arrives late, from earlier on: it joined first, so it stays.
    t.assign(&seen("4", by_id(A_ID), 1.0, ip));
    let campaign = b.campaign;
    assert_eq!(
        names(&t, &campaign),
        ["b@contoso.com", A_UPN, "c@contoso.com", A_ID]
    );

    t.learn_identity(A_ID, A_UPN, VIA);
    assert_eq!(
        names(&t, &campaign),
        ["b@contoso.com", "c@contoso.com", A_UPN]
    );
    let c = t.get(&campaign).unwrap();
    assert_eq!(c.member_index("c@contoso.com"), Some(1));
    assert_eq!(c.member_index(A_UPN), Some(2));
    assert_eq!(c.member_index(A_ID), Some(2));
    assert_eq!(c.members()[2].account, A_ID, "the earliest to join stays");
    assert!(c.members()[2].via.contains("test/4"));
    assert_eq!(
        c.list(ListKind::Accounts, None),
        serde_json::json!(["b@contoso.com", A_UPN, "c@contoso.com"]),
        "in the order they joined, under the UPN"
    );
    let hour = |h: i64| c.opened_at + chrono::Duration::hours(h);
    assert_eq!(t.view(&campaign, Some(hour(0))).unwrap().accounts(), 1);
    assert_eq!(t.view(&campaign, Some(hour(1))).unwrap().accounts(), 2);

    // Every row written is the member it says, once; the removed one is deleted.
    let dirty = t.take_dirty();
    let mut written: Vec<(String, Option<String>)> = dirty
        .members
        .iter()
        .map(|(_, m)| (m.account.clone(), m.id.clone()))
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            (A_ID.to_string(), Some(A_ID.to_string())),
            ("b@contoso.com".to_string(), None),
            ("c@contoso.com".to_string(), None),
        ]
    );
    assert_eq!(dirty.removed_members, [(campaign, A_UPN.to_string())]);
}

#[test]
fn stored_rows_naming_one_account_are_read_as_one_member() {
    let at = |h: i64| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::hours(h);
    let row = |account: &str, upn: Option<&str>, id: Option<&str>, h: i64, contained: bool| {
        crate::campaign::Member {
            account: account.into(),
            upn: upn.map(str::to_string),
            id: id.map(str::to_string),
            joined_at: at(h),
            via: format!("row {account}"),
            contained,
        }
    };
    // A row written late, by a batch grouped before the two names were known as one.
    let rows = vec![
        row(A_ID, None, Some(A_ID), 2, true),
        row(A_UPN, Some(A_UPN), Some(A_ID), 1, false),
        row("b@contoso.com", Some("b@contoso.com"), None, 0, false),
    ];
    let members = crate::campaign::one_per_account(rows);
    assert_eq!(members.len(), 2, "{members:#?}");
    let a = &members[1];
    assert_eq!((a.account.as_str(), a.joined_at), (A_UPN, at(1)));
    assert_eq!(a.via, format!("row {A_UPN}"), "the earliest row's");
    assert!(a.contained, "contained if either was");
}
