//! Campaigns: connecting the accounts of one attack.
//!
//! Every detection is assigned to a campaign *before* it is planned: by account (an incident per
//! account), and across accounts by shared attacker infrastructure seen within a window (exact
//! IP, /24 or /48, ASN, rare user agent). Playbooks read the result as `campaign.*` fields.
//!
//! - `indicator.rs`, `model.rs`, `tracker.rs`: the grouping itself, pure and unit-tested;
//!   `membership.rs` and `tracker_identity.rs`: one account, one member, whatever its names.
//! - `synthetic.rs`: the detections stanch emits when a campaign is confirmed (one per member to
//!   contain, one for the campaign's infrastructure), recorded and planned like any other.
//!
//! Pure: the glue with the store and the engine (assign → plan → record, what follows a
//! confirmation or a sweep) is `pipeline/`; the store's side (tables, loading by indicator and
//! window) is `store/campaigns.rs`.

mod events;
mod indicator;
mod model;
mod synthetic;
mod tracker;

pub use indicator::{Extractor, Indicator, network_of};
pub use model::{
    Campaign, CampaignView, Confirmation, LIST_LIMIT, ListKind, Member, Seen, one_per_account,
};
pub use synthetic::{
    APP_NAME, CONFIRMED_NAME, MEMBER_NAME, SOURCE, confirmed_detection, consented_app_detection,
    member_detection, reserved_source,
};
pub use tracker::{Assignment, CampaignEvent, CampaignRow, Dirty, Tracker};

/// How campaigns are formed (`campaigns:` in the config).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// How close in time (either side of a sighting) a detection must be to link to it.
    pub window_secs: u64,
    pub link_by: LinkBy,
    /// ASNs that never link campaigns on their own: clouds and CDNs everyone shares. Their IPs
    /// and networks still link.
    pub ignore_asns: Vec<u32>,
    /// Globs of user agents too common to be evidence (every browser).
    pub common_user_agents: Vec<String>,
}

/// Which kinds of infrastructure link detections; the account always does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkBy {
    pub ip: bool,
    pub network: bool,
    pub asn: bool,
    pub user_agent: bool,
}

pub const LINK_KINDS: [&str; 4] = ["ip", "network", "asn", "user_agent"];

/// Microsoft, Google, Amazon, Cloudflare, Akamai: attackers use them too, but so does everyone,
/// so "same ASN" means nothing there.
pub const DEFAULT_IGNORED_ASNS: [u32; 9] =
    [8075, 8068, 8069, 15169, 396982, 16509, 14618, 13335, 20940];

impl Default for Settings {
    fn default() -> Self {
        Settings {
            window_secs: 72 * 3600,
            link_by: LinkBy {
                ip: true,
                network: true,
                asn: true,
                user_agent: true,
            },
            ignore_asns: DEFAULT_IGNORED_ASNS.to_vec(),
            common_user_agents: vec!["Mozilla/*".into()],
        }
    }
}
