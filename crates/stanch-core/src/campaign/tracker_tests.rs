use super::*;
use crate::campaign::{LinkBy, Settings};
use crate::intake::parse_generic;

/// A detection: `user` (local part at contoso.com), `at` (hours after day 1 00:00), then any
/// of `ip`, `asn`, `ua`.
fn d(id: &str, user: Option<&str>, hours: f64, infra: &[(&str, &str)]) -> Detection {
    let at = DateTime::parse_from_rfc3339("2021-06-01T00:00:00Z")
        .unwrap()
        .to_utc()
        + Duration::seconds((hours * 3600.0) as i64);
    let mut json = serde_json::json!({
        "id": id, "source": "test", "name": "x",
        "observed_at": at.to_rfc3339(),
    });
    if let Some(user) = user {
        json["user"] = serde_json::json!({"upn": format!("{user}@contoso.com")});
    }
    for (key, value) in infra {
        json[*key] = match *key {
            "asn" => serde_json::json!(value.parse::<u32>().unwrap()),
            _ => serde_json::json!(value),
        };
    }
    parse_generic(&json.to_string()).unwrap()
}

fn ip(v: &str) -> (&'static str, &str) {
    ("ip", v)
}

fn asn(v: &str) -> (&'static str, &str) {
    ("asn", v)
}

fn ua(v: &str) -> (&'static str, &str) {
    ("user_agent", v)
}

/// The names of a campaign's members, in the order they were added.
pub(super) fn members(t: &Tracker, id: &str) -> Vec<String> {
    t.get(id)
        .unwrap()
        .members()
        .iter()
        .map(|m| m.name().to_string())
        .collect()
}

#[test]
fn the_same_ip_links_two_accounts() {
    let mut t = Tracker::new(Settings::default());
    let a = t
        .assign(&d("1", Some("a"), 0.0, &[ip("198.51.100.23")]))
        .unwrap();
    let b = t
        .assign(&d("2", Some("b"), 5.0, &[ip("198.51.100.23")]))
        .unwrap();
    assert_eq!(a.campaign, b.campaign);
    assert!(matches!(a.events[0], CampaignEvent::Opened { .. }));
    let CampaignEvent::Joined { account, via, .. } = &b.events[0] else {
        panic!("{:?}", b.events)
    };
    assert_eq!(account, "b@contoso.com");
    assert!(via.contains("IP 198.51.100.23"), "{via}");
    assert_eq!(members(&t, &a.campaign), ["a@contoso.com", "b@contoso.com"]);
}

#[test]
fn neighbours_in_a_slash_24_or_slash_48_link_and_others_do_not() {
    let mut t = Tracker::new(Settings::default());
    let a = t
        .assign(&d("1", Some("a"), 0.0, &[ip("198.51.100.23")]))
        .unwrap();
    let b = t
        .assign(&d("2", Some("b"), 1.0, &[ip("198.51.100.200")]))
        .unwrap();
    let c = t
        .assign(&d("3", Some("c"), 1.0, &[ip("198.51.101.23")]))
        .unwrap();
    assert_eq!(a.campaign, b.campaign);
    assert_ne!(a.campaign, c.campaign);
    let v6 = t
        .assign(&d("4", Some("d"), 0.0, &[ip("2001:db8:7:1::5")]))
        .unwrap();
    let v6b = t
        .assign(&d("5", Some("e"), 0.0, &[ip("2001:db8:7:ffff::9")]))
        .unwrap();
    let v6c = t
        .assign(&d("6", Some("f"), 0.0, &[ip("2001:db8:8::9")]))
        .unwrap();
    assert_eq!(v6.campaign, v6b.campaign);
    assert_ne!(v6.campaign, v6c.campaign);
}

#[test]
fn the_same_asn_links_unless_it_is_ignored() {
    let mut t = Tracker::new(Settings::default());
    let a = t
        .assign(&d(
            "1",
            Some("a"),
            0.0,
            &[ip("198.51.100.23"), asn("37100")],
        ))
        .unwrap();
    let b = t
        .assign(&d("2", Some("b"), 2.0, &[ip("203.0.113.9"), asn("37100")]))
        .unwrap();
    assert_eq!(a.campaign, b.campaign);
    // Amazon is on the default ignore list: the ASN alone links nothing.
    let c = t
        .assign(&d("3", Some("c"), 0.0, &[ip("192.0.2.1"), asn("16509")]))
        .unwrap();
    let e = t
        .assign(&d("4", Some("e"), 1.0, &[ip("192.0.3.1"), asn("16509")]))
        .unwrap();
    assert_ne!(c.campaign, e.campaign);
    // ... but the ASN is still part of the campaign's picture.
    let asns = t
        .get(&c.campaign)
        .unwrap()
        .list(crate::campaign::ListKind::Asns, None);
    assert_eq!(asns, serde_json::json!([16509]));
}

#[test]
fn a_rare_user_agent_links_and_a_browser_does_not() {
    let mut t = Tracker::new(Settings::default());
    let a = t
        .assign(&d("1", Some("a"), 0.0, &[ua("BAV2ROPC")]))
        .unwrap();
    let b = t
        .assign(&d("2", Some("b"), 3.0, &[ua("bav2ropc")]))
        .unwrap();
    assert_eq!(a.campaign, b.campaign);
    let browser = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)";
    let c = t.assign(&d("3", Some("c"), 0.0, &[ua(browser)])).unwrap();
    let e = t.assign(&d("4", Some("e"), 0.0, &[ua(browser)])).unwrap();
    assert_ne!(c.campaign, e.campaign);
}

#[test]
fn link_by_switches_kinds_off() {
    let settings = Settings {
        link_by: LinkBy {
            ip: true,
            network: false,
            asn: false,
            user_agent: false,
        },
        ..Settings::default()
    };
    let mut t = Tracker::new(settings);
    let a = t
        .assign(&d(
            "1",
            Some("a"),
            0.0,
            &[ip("198.51.100.1"), asn("37100"), ua("x")],
        ))
        .unwrap();
    let b = t
        .assign(&d(
            "2",
            Some("b"),
            0.0,
            &[ip("198.51.100.2"), asn("37100"), ua("x")],
        ))
        .unwrap();
    assert_ne!(a.campaign, b.campaign);
    let c = t
        .assign(&d("3", Some("c"), 0.0, &[ip("198.51.100.1")]))
        .unwrap();
    assert_eq!(a.campaign, c.campaign);
}

#[test]
fn the_window_is_inclusive_on_both_sides_of_a_sighting() {
    let mut t = Tracker::new(Settings::default());
    let a = t
        .assign(&d("1", Some("a"), 24.0, &[ip("198.51.100.23")]))
        .unwrap();
    // Exactly 72 h after: still in. A second later: out.
    let b = t
        .assign(&d("2", Some("b"), 96.0, &[ip("198.51.100.23")]))
        .unwrap();
    assert_eq!(a.campaign, b.campaign);
    let late = t
        .assign(&d(
            "3",
            Some("c"),
            168.0 + 1.0 / 3600.0,
            &[ip("198.51.100.23")],
        ))
        .unwrap();
    assert_ne!(
        a.campaign, late.campaign,
        "72 h after the last sighting (96 h) is 168 h"
    );
    // Out of order: a detection from before the first sighting, within the window, links.
    let mut t = Tracker::new(Settings::default());
    let a = t
        .assign(&d("1", Some("a"), 80.0, &[ip("198.51.100.23")]))
        .unwrap();
    let too_early = t.assign(&d(
        "3",
        Some("c"),
        8.0 - 1.0 / 3600.0,
        &[ip("198.51.100.23")],
    ));
    assert_ne!(a.campaign, too_early.unwrap().campaign);
    let mut t = Tracker::new(Settings::default());
    let a = t
        .assign(&d("1", Some("a"), 80.0, &[ip("198.51.100.23")]))
        .unwrap();
    let early = t
        .assign(&d("2", Some("b"), 8.0, &[ip("198.51.100.23")]))
        .unwrap();
    assert_eq!(a.campaign, early.campaign);
}

#[test]
fn a_detection_linking_two_campaigns_merges_them_into_the_oldest() {
    let mut t = Tracker::new(Settings::default());
    let a = t
        .assign(&d("1", Some("a"), 1.0, &[ip("198.51.100.23")]))
        .unwrap();
    let b = t
        .assign(&d("2", Some("b"), 2.0, &[ip("203.0.113.7")]))
        .unwrap();
    assert_ne!(a.campaign, b.campaign);
    let both = t
        .assign(&d("3", Some("c"), 3.0, &[ip("203.0.113.8"), asn("64500")]))
        .unwrap();
    assert_eq!(both.campaign, b.campaign, "c only saw b's /24");
    let bridge = t
        .assign(&d(
            "4",
            Some("e"),
            4.0,
            &[ip("198.51.100.99"), asn("64500")],
        ))
        .unwrap();
    assert_eq!(bridge.campaign, a.campaign, "the oldest campaign survives");
    let CampaignEvent::Merged { from, into, via } = &bridge.events[0] else {
        panic!("{:?}", bridge.events)
    };
    assert_eq!((from, into), (&b.campaign, &a.campaign));
    assert!(
        via.contains("detection test/4") && via.contains("AS64500"),
        "{via}"
    );
    assert_eq!(
        members(&t, &b.campaign),
        [
            "a@contoso.com",
            "b@contoso.com",
            "c@contoso.com",
            "e@contoso.com"
        ],
        "the merged id resolves to the survivor"
    );
    assert_eq!(t.get(&a.campaign).unwrap().detections, 4);
    let dirty = t.take_dirty();
    assert_eq!(dirty.merges, [(b.campaign.clone(), a.campaign.clone())]);
    let loser = dirty.campaigns.iter().find(|c| c.id == b.campaign).unwrap();
    assert_eq!(loser.merged_into.as_deref(), Some(a.campaign.as_str()));
    assert!(dirty.members.iter().all(|(id, _)| *id == a.campaign));
    assert!(t.take_dirty().is_empty(), "taken once");
}

#[test]
fn an_account_is_its_own_incident_and_links_its_later_detections() {
    let mut t = Tracker::new(Settings::default());
    let a = t.assign(&d("1", Some("a"), 0.0, &[])).unwrap();
    let again = t
        .assign(&d("2", Some("a"), 10.0, &[ip("198.51.100.23")]))
        .unwrap();
    assert_eq!(a.campaign, again.campaign);
    assert!(again.events.is_empty(), "no new member, no event");
    assert!(
        t.assign(&d("3", None, 0.0, &[])).is_none(),
        "nothing to group on"
    );
    // The same detection always opens a campaign with the same id.
    let mut other = Tracker::new(Settings::default());
    assert_eq!(
        other.assign(&d("1", Some("a"), 0.0, &[])).unwrap().campaign,
        a.campaign
    );
}

#[test]
fn confirmation_is_once_and_later_members_are_flagged() {
    let mut t = Tracker::new(Settings::default());
    let a = t
        .assign(&d("1", Some("a"), 0.0, &[ip("198.51.100.23")]))
        .unwrap();
    let confirmation = Confirmation {
        at: Utc::now(),
        by: "test".into(),
        reason: "r".into(),
    };
    assert!(t.confirm(&a.campaign, confirmation.clone()).is_some());
    assert!(t.confirm(&a.campaign, confirmation).is_none());
    let b = t
        .assign(&d("2", Some("b"), 1.0, &[ip("198.51.100.23")]))
        .unwrap();
    assert!(b.joined_confirmed);
    let again = t
        .assign(&d("3", Some("b"), 2.0, &[ip("198.51.100.23")]))
        .unwrap();
    assert!(!again.joined_confirmed, "only when the account is new");
    // A sweep's find joins once.
    let user = UserRef {
        upn: Some("q@contoso.com".into()),
        id: None,
    };
    assert!(
        t.join(&a.campaign, &user, Utc::now(), "sweep".into())
            .is_some()
    );
    assert!(
        t.join(&a.campaign, &user, Utc::now(), "sweep".into())
            .is_none()
    );
}

#[test]
fn forgotten_campaigns_are_the_old_ones_with_nothing_to_write() {
    let mut t = Tracker::new(Settings::default());
    let old = t
        .assign(&d("1", Some("a"), 0.0, &[ip("198.51.100.23")]))
        .unwrap();
    let _ = t.take_dirty();
    let cutoff = t.get(&old.campaign).unwrap().last_seen + Duration::hours(500);
    t.forget_before(cutoff);
    assert!(t.knows(&old.campaign), "its rows may still be in flight");
    let _ = (t.take_dirty(), t.take_dirty());
    let new = t
        .assign(&d("2", Some("b"), 500.0, &[ip("203.0.113.9")]))
        .unwrap();
    let cutoff = t.get(&new.campaign).unwrap().last_seen - Duration::hours(1);
    t.forget_before(cutoff);
    assert!(!t.knows(&old.campaign));
    assert!(t.knows(&new.campaign));
    // The forgotten one comes back from the store when needed; the pending one was kept.
    assert_eq!(t.take_dirty().campaigns[0].id, new.campaign);
}

#[test]
fn a_view_is_cut_at_the_detections_time_so_replays_plan_alike() {
    let hour = |h: i64| {
        DateTime::parse_from_rfc3339("2021-06-01T00:00:00Z")
            .unwrap()
            .to_utc()
            + Duration::hours(h)
    };
    let mut t = Tracker::new(Settings::default());
    let a = t
        .assign(&d("1", Some("a"), 0.0, &[ip("198.51.100.23")]))
        .unwrap();
    t.assign(&d("2", Some("b"), 10.0, &[ip("198.51.100.24")]));
    let confirmation = Confirmation {
        at: hour(10),
        by: "b's own confirmation".into(),
        reason: "r".into(),
    };
    t.confirm(&a.campaign, confirmation);
    let ips = |v: CampaignView<'_>| v.list(crate::campaign::ListKind::Ips);
    let early = t.view(&a.campaign, Some(hour(5))).unwrap();
    assert_eq!(early.accounts(), 1);
    assert_eq!(ips(early), serde_json::json!(["198.51.100.23"]));
    assert!(!early.confirmed());
    let same_time = t.view(&a.campaign, Some(hour(10))).unwrap();
    assert_eq!(same_time.accounts(), 2);
    assert!(
        !same_time.confirmed(),
        "not by the detection that confirms it"
    );
    assert!(t.view(&a.campaign, Some(hour(11))).unwrap().confirmed());
    assert!(t.view(&a.campaign, None).unwrap().confirmed());
    // An earlier sighting arriving late moves to the front of the lists.
    t.assign(&d("3", Some("c"), -1.0, &[ip("198.51.100.99")]));
    assert_eq!(
        ips(t.view(&a.campaign, None).unwrap()),
        serde_json::json!(["198.51.100.99", "198.51.100.23", "198.51.100.24"])
    );
}
