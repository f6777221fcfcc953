//! The SQL spells statuses as text; every spelling must be one [`ActionStatus`] knows, so a typo
//! in a query or a migration fails here rather than matching no row in production.

use stanch_core::vocab::ActionStatus;

const SOURCES: &[(&str, &str)] = &[
    (
        "approval_requests.rs",
        include_str!("../approval_requests.rs"),
    ),
    ("approvals.rs", include_str!("../approvals.rs")),
    ("batch.rs", include_str!("../batch.rs")),
    ("campaigns.rs", include_str!("../campaigns.rs")),
    ("campaigns_load.rs", include_str!("../campaigns_load.rs")),
    ("campaigns_read.rs", include_str!("../campaigns_read.rs")),
    ("execution.rs", include_str!("../execution.rs")),
    ("expiry.rs", include_str!("../expiry.rs")),
    ("guard.rs", include_str!("../guard.rs")),
    ("report.rs", include_str!("../report.rs")),
    ("rows.rs", include_str!("../rows.rs")),
    (
        "sqlite/0002_work_queue.sql",
        include_str!("../../../migrations/sqlite/0002_work_queue.sql"),
    ),
    (
        "sqlite/0006_approval_requests.sql",
        include_str!("../../../migrations/sqlite/0006_approval_requests.sql"),
    ),
    (
        "sqlite/0007_action_expiry.sql",
        include_str!("../../../migrations/sqlite/0007_action_expiry.sql"),
    ),
    (
        "postgres/0002_work_queue.sql",
        include_str!("../../../migrations/postgres/0002_work_queue.sql"),
    ),
    (
        "postgres/0006_approval_requests.sql",
        include_str!("../../../migrations/postgres/0006_approval_requests.sql"),
    ),
    (
        "postgres/0007_action_expiry.sql",
        include_str!("../../../migrations/postgres/0007_action_expiry.sql"),
    ),
];

#[test]
fn every_status_the_sql_spells_is_a_known_status() {
    let compared = regex::Regex::new(r"status\s*(?:=|<>|!=)\s*'([^']*)'").unwrap();
    let listed = regex::Regex::new(r"status\s+IN\s*\(([^)]*)\)").unwrap();
    let quoted = regex::Regex::new(r"'([^']*)'").unwrap();
    let mut spelled = 0;
    for (file, text) in SOURCES {
        let mut names: Vec<&str> = compared
            .captures_iter(text)
            .map(|c| c.get(1).unwrap().as_str())
            .collect();
        for list in listed.captures_iter(text) {
            names.extend(
                quoted
                    .captures_iter(list.get(1).unwrap().as_str())
                    .map(|c| c.get(1).unwrap().as_str()),
            );
        }
        for name in names {
            assert!(
                ActionStatus::parse(name).is_some(),
                "{file}: `{name}` is not an action status"
            );
            spelled += 1;
        }
    }
    assert!(spelled > 20, "the scan found only {spelled} spellings");
}
