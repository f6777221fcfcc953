//! What links detections into one campaign: the account, and the attacker's infrastructure
//! (exact IP, its /24 or /48, the ASN, a rare user agent).

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use regex::Regex;

use super::Settings;
use crate::intake::Detection;

/// One piece of evidence a detection carries. Text values are lowercased, so `BAV2ROPC` and
/// `bav2ropc` are the same user agent and UPNs compare as Entra compares them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Indicator {
    /// A lowercased UPN or object id.
    Account(Box<str>),
    Ip(IpAddr),
    /// The /24 (IPv4) or /48 (IPv6) around an IP.
    Network(IpNet),
    Asn(u32),
    UserAgent(Box<str>),
}

impl Indicator {
    pub fn kind(&self) -> &'static str {
        match self {
            Indicator::Account(_) => "account",
            Indicator::Ip(_) => "ip",
            Indicator::Network(_) => "network",
            Indicator::Asn(_) => "asn",
            Indicator::UserAgent(_) => "user_agent",
        }
    }

    /// The stored form, `kind:value` (`ip:198.51.100.23`, `asn:37100`).
    pub fn key(&self) -> String {
        match self {
            Indicator::Account(v) | Indicator::UserAgent(v) => format!("{}:{v}", self.kind()),
            Indicator::Ip(ip) => format!("ip:{ip}"),
            Indicator::Network(net) => format!("network:{net}"),
            Indicator::Asn(asn) => format!("asn:{asn}"),
        }
    }

    pub fn parse_key(key: &str) -> Option<Indicator> {
        let (kind, value) = key.split_once(':')?;
        Some(match kind {
            "account" => Indicator::Account(value.into()),
            "ip" => Indicator::Ip(value.parse().ok()?),
            "network" => Indicator::Network(value.parse().ok()?),
            "asn" => Indicator::Asn(value.parse().ok()?),
            "user_agent" => Indicator::UserAgent(value.into()),
            _ => return None,
        })
    }
}

impl fmt::Display for Indicator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Indicator::Account(v) => write!(f, "account {v}"),
            Indicator::Ip(ip) => write!(f, "IP {ip}"),
            Indicator::Network(net) => write!(f, "network {net}"),
            Indicator::Asn(asn) => write!(f, "AS{asn}"),
            Indicator::UserAgent(ua) => write!(f, "user agent `{ua}`"),
        }
    }
}

/// Extracts indicators from detections, per the configured settings.
#[derive(Debug, Clone)]
pub struct Extractor {
    settings: Settings,
    common_agents: Vec<Regex>,
}

impl Extractor {
    pub fn new(settings: Settings) -> Extractor {
        let common_agents = settings
            .common_user_agents
            .iter()
            .filter_map(|glob| Regex::new(&crate::util::glob_to_regex(glob)).ok())
            .collect();
        Extractor {
            settings,
            common_agents,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Everything the detection says about the account and the infrastructure, whether or not
    /// it may link campaigns: an ignored ASN is still part of the campaign's picture.
    ///
    /// Addresses that are not globally routed (private, loopback, link-local) are left out: an
    /// office NAT or a VPN concentrator shared by every employee says nothing about an attacker.
    /// A user agent matching `common_user_agents` (every browser) is left out for the same reason.
    pub fn indicators(&self, d: &Detection) -> Vec<Indicator> {
        let mut out = Vec::with_capacity(6);
        if let Some(user) = &d.user {
            for id in [user.upn.as_deref(), user.id.as_deref()]
                .into_iter()
                .flatten()
            {
                out.push(Indicator::Account(id.to_lowercase().into()));
            }
        }
        if let Some(ip) = d.ip.filter(|ip| is_routed(*ip)) {
            out.push(Indicator::Ip(ip));
            out.push(Indicator::Network(network_of(ip)));
        }
        if let Some(asn) = d.asn {
            out.push(Indicator::Asn(asn));
        }
        if let Some(agent) = d.user_agent.as_deref().map(str::trim)
            && !agent.is_empty()
            && !self.common_agents.iter().any(|re| re.is_match(agent))
        {
            out.push(Indicator::UserAgent(agent.to_lowercase().into()));
        }
        out
    }

    /// Whether this indicator may link two detections into one campaign.
    pub fn links(&self, indicator: &Indicator) -> bool {
        let by = &self.settings.link_by;
        match indicator {
            Indicator::Account(_) => true,
            Indicator::Ip(_) => by.ip,
            Indicator::Network(_) => by.network,
            Indicator::Asn(asn) => by.asn && !self.settings.ignore_asns.contains(asn),
            Indicator::UserAgent(_) => by.user_agent,
        }
    }
}

/// The /24 of an IPv4 address, the /48 of an IPv6 one: the usual size of one provider's block
/// handed to one customer, so neighbours in it are likely the same attacker.
pub fn network_of(ip: IpAddr) -> IpNet {
    let bits = if ip.is_ipv4() { 24 } else { 48 };
    IpNet::new(ip, bits)
        .map(|net| net.trunc())
        .unwrap_or_else(|_| IpNet::from(ip))
}

fn is_routed(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                // 100.64.0.0/10, carrier-grade NAT: shared by a whole ISP's customers.
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::parse_generic;

    #[test]
    fn keys_round_trip() {
        for key in [
            "account:a.silva@contoso.com",
            "ip:198.51.100.23",
            "ip:2001:db8::1",
            "network:198.51.100.0/24",
            "network:2001:db8:1::/48",
            "asn:37100",
            "user_agent:bav2ropc",
        ] {
            assert_eq!(Indicator::parse_key(key).unwrap().key(), key);
        }
        assert_eq!(Indicator::parse_key("color:red"), None);
        assert_eq!(Indicator::parse_key("ip:nope"), None);
    }

    #[test]
    fn private_addresses_and_browsers_are_not_evidence() {
        let extractor = Extractor::new(Settings::default());
        let d = parse_generic(r#"{"id":"1","name":"x","observed_at":"2021-06-01T00:00:00Z","user":{"upn":"A@Contoso.com"},"ip":"10.1.2.3","asn":8075,"user_agent":"Mozilla/5.0 (Windows NT 10.0)"}"#).unwrap();
        let found = extractor.indicators(&d);
        assert_eq!(
            found,
            [
                Indicator::Account("a@contoso.com".into()),
                Indicator::Asn(8075)
            ]
        );
        assert!(!extractor.links(&Indicator::Asn(8075)), "Microsoft's ASN");
        assert!(extractor.links(&Indicator::Asn(37100)));
        let v6: IpAddr = "2001:db8:aa:bb::1".parse().unwrap();
        assert_eq!(network_of(v6).to_string(), "2001:db8:aa::/48");
        assert!(!is_routed("fe80::1".parse().unwrap()));
        assert!(!is_routed("100.64.1.1".parse().unwrap()));
        assert!(is_routed("198.51.100.23".parse().unwrap()));
    }
}
