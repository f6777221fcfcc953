//! How detections are grouped into campaigns (`campaigns:` in the config).
//!
//! ```yaml
//! campaigns:
//!   window: 72h                                 # either side of a sighting
//!   link_by: [ip, network, asn, user_agent]     # the account always links
//!   ignore_asns: [8075, 15169, 16509]           # never link by these ASNs alone
//!   common_user_agents: ["Mozilla/*"]           # globs too common to be evidence
//! ```

use stanch_core::campaign::{LINK_KINDS, LinkBy, Settings};
use stanch_core::util::parse_duration;
use stanch_core::yaml::Node;
use stanch_core::yaml::decode;
use stanch_core::yaml::diag::Problems;

pub(super) const CAMPAIGN_KEYS: &[&str] =
    &["window", "link_by", "ignore_asns", "common_user_agents"];

pub(super) fn decode_campaigns(p: &mut Problems, node: &Node) -> Settings {
    let mut settings = Settings::default();
    let Some(f) = decode::fields(p, node, "`campaigns`", CAMPAIGN_KEYS) else {
        return settings;
    };
    if let Some(n) = f.get("window")
        && let Some(text) = decode::string(p, n, "`campaigns.window`")
    {
        match parse_duration(text) {
            Ok(secs) if secs > 0 => settings.window_secs = secs,
            Ok(_) => p.error(n.loc, "`campaigns.window` must be longer than zero"),
            Err(message) => p.error(n.loc, message),
        }
    }
    if let Some(n) = f.get("link_by") {
        let mut by = LinkBy {
            ip: false,
            network: false,
            asn: false,
            user_agent: false,
        };
        for (item, kind) in decode::strings(p, n, "`campaigns.link_by`") {
            match kind {
                "ip" => by.ip = true,
                "network" => by.network = true,
                "asn" => by.asn = true,
                "user_agent" => by.user_agent = true,
                other => p.error(
                    item.loc,
                    format!(
                        "unknown link `{other}`; expected some of {} (the account always links)",
                        LINK_KINDS.join(", ")
                    ),
                ),
            }
        }
        settings.link_by = by;
    }
    if let Some(n) = f.get("ignore_asns")
        && let Some(items) = decode::list(p, n, "`campaigns.ignore_asns`")
    {
        settings.ignore_asns = items
            .iter()
            .filter_map(|item| {
                let asn = decode::positive_int(p, item, "an ASN")?;
                u32::try_from(asn)
                    .map_err(|_| p.error(item.loc, format!("{asn} is not an ASN")))
                    .ok()
            })
            .collect();
    }
    if let Some(n) = f.get("common_user_agents") {
        settings.common_user_agents = decode::strings(p, n, "`campaigns.common_user_agents`")
            .into_iter()
            .map(|(_, glob)| glob.to_string())
            .collect();
    }
    settings
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn campaigns_are_configurable_and_mistakes_located() {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            file.path(),
            "campaigns:\n  window: 24h\n  link_by: [ip, asn]\n  ignore_asns: [8075]\n",
        )
        .unwrap();
        let config = Config::load(Some(file.path()), |_| None).unwrap();
        let c = &config.campaigns;
        assert_eq!(c.window_secs, 24 * 3600);
        assert!(c.link_by.ip && c.link_by.asn && !c.link_by.network && !c.link_by.user_agent);
        assert_eq!(c.ignore_asns, [8075]);
        assert_eq!(c.common_user_agents, ["Mozilla/*"], "default kept");
        std::fs::write(file.path(), "campaigns:\n  link_by: [ip, subnet]\n").unwrap();
        let err = Config::load(Some(file.path()), |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(":2:17: error: unknown link `subnet`"), "{err}");
    }
}
