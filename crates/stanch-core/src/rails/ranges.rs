//! What `block_ips` may block for the whole tenant. A Conditional Access block on a range stops
//! every sign-in from it, so a range that is too broad, private or reserved, or that holds the
//! company's own egress, would lock the company out of Microsoft 365. These rules are pure and
//! static: the engine applies them when it plans (so passive mode shows what would be refused),
//! and the executor applies them again, with the tenant's trusted named locations, right before
//! anything is sent.
//!
//! The documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) are
//! deliberately allowed: nobody's traffic comes from them, and the attack story, the demo and
//! the tests use them as the attacker's addresses.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::Serialize;

/// The broadest IPv4 range one entry may be by default: the /24 the shipped playbooks block.
pub const DEFAULT_MIN_PREFIX_V4: u8 = 24;
/// The broadest IPv6 range by default: the /48 a site is usually given.
pub const DEFAULT_MIN_PREFIX_V6: u8 = 48;
/// More ranges than this in one action wait for a person by default.
pub const DEFAULT_MAX_RANGES: usize = 32;

/// `safety.block_ips`: what one `block_ips` action may block.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockIpsRules {
    /// The shortest IPv4 prefix allowed (a /16 would be 65,536 addresses at once).
    pub min_prefix_v4: u8,
    /// The shortest IPv6 prefix allowed.
    pub min_prefix_v6: u8,
    /// Ranges never blocked besides the built-in reserved ones: the company's egress ranges.
    pub never_block: Vec<IpNet>,
    /// More ranges than this in one action are held for a person (each range may be fine; so
    /// many at once is a blast radius a person should see).
    pub max_ranges: usize,
}

impl Default for BlockIpsRules {
    fn default() -> Self {
        BlockIpsRules {
            min_prefix_v4: DEFAULT_MIN_PREFIX_V4,
            min_prefix_v6: DEFAULT_MIN_PREFIX_V6,
            never_block: Vec::new(),
            max_ranges: DEFAULT_MAX_RANGES,
        }
    }
}

/// One range that will not be blocked, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub range: String,
    pub why: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` {}", self.range, self.why)
    }
}

/// Ranges whose blocking harms the company or means nothing: private, shared, loopback,
/// link-local, multicast and reserved space, where the company's own traffic (or nobody's)
/// comes from.
const RESERVED_V4: &[(Ipv4Net, &str)] = &[
    (v4(0, 0, 0, 0, 8), "\"this network\" (RFC 791)"),
    (v4(10, 0, 0, 0, 8), "private (RFC 1918)"),
    (v4(100, 64, 0, 0, 10), "carrier-grade NAT (RFC 6598)"),
    (v4(127, 0, 0, 0, 8), "loopback"),
    (v4(169, 254, 0, 0, 16), "link-local"),
    (v4(172, 16, 0, 0, 12), "private (RFC 1918)"),
    (v4(192, 0, 0, 0, 24), "IETF protocol assignments (RFC 6890)"),
    (v4(192, 168, 0, 0, 16), "private (RFC 1918)"),
    (v4(198, 18, 0, 0, 15), "benchmarking (RFC 2544)"),
    (v4(224, 0, 0, 0, 4), "multicast"),
    (
        v4(240, 0, 0, 0, 4),
        "reserved, with the broadcast address (RFC 1112)",
    ),
];

const RESERVED_V6: &[(Ipv6Net, &str)] = &[
    (v6([0, 0, 0, 0, 0, 0, 0, 0], 128), "the unspecified address"),
    (v6([0, 0, 0, 0, 0, 0, 0, 1], 128), "loopback"),
    (
        v6([0, 0, 0, 0, 0, 0xffff, 0, 0], 96),
        "IPv4-mapped (every IPv4 address)",
    ),
    (
        v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        "unique local (private, RFC 4193)",
    ),
    (v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10), "link-local"),
    (
        v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        "site-local (deprecated, RFC 3879)",
    ),
    (v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8), "multicast"),
];

const fn v4(a: u8, b: u8, c: u8, d: u8, len: u8) -> Ipv4Net {
    Ipv4Net::new_assert(Ipv4Addr::new(a, b, c, d), len)
}

const fn v6(s: [u16; 8], len: u8) -> Ipv6Net {
    Ipv6Net::new_assert(
        Ipv6Addr::new(s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
        len,
    )
}

/// An address or CIDR range: a bare address is its /32 or /128. The network is truncated
/// (`10.1.2.3/8` is `10.0.0.0/8`), which is what Graph would block.
pub fn parse_range(text: &str) -> Result<IpNet, String> {
    let trimmed = text.trim();
    trimmed
        .parse::<IpNet>()
        .or_else(|_| trimmed.parse::<std::net::IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| format!("`{text}` is not an IP address or CIDR range"))
}

/// Whether two ranges share an address. CIDR blocks either nest or are disjoint, so one holds
/// the other's first address exactly when they overlap; ranges of different families never do.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// An IPv6 range inside `::ffff:0:0/96`, as the IPv4 range it stands for.
fn ipv4_form(net: &Ipv6Net) -> Option<Ipv4Net> {
    let mapped = RESERVED_V6[2].0;
    if net.prefix_len() < mapped.prefix_len() || !mapped.contains(&net.network()) {
        return None;
    }
    let addr = net.network().to_ipv4_mapped()?;
    Ipv4Net::new(addr, net.prefix_len() - mapped.prefix_len()).ok()
}

/// The range as the address family it stands for: an IPv4-mapped IPv6 range is its IPv4 range,
/// so `::ffff:81.2.69.0/120` and `81.2.69.0/24` are seen to overlap.
pub fn unmapped(net: IpNet) -> IpNet {
    match net {
        IpNet::V6(v6) => ipv4_form(&v6).map_or(net, IpNet::V4),
        IpNet::V4(_) => net,
    }
}

impl BlockIpsRules {
    /// Why `range` must not be blocked, or `None` when it may be.
    pub fn refusal(&self, range: &str) -> Option<Refusal> {
        let refuse = |why: String| {
            Some(Refusal {
                range: range.to_string(),
                why,
            })
        };
        let net = match parse_range(range) {
            Ok(net) => net,
            Err(_) => return refuse("is not an IP address or CIDR range".into()),
        };
        let (checked, form) = match net {
            IpNet::V6(v6) => match ipv4_form(&v6) {
                Some(v4) => (IpNet::V4(v4), format!(" (the IPv4-mapped form of `{v4}`)")),
                None => (net, String::new()),
            },
            IpNet::V4(_) => (net, String::new()),
        };
        let mut why = Vec::new();
        if checked.prefix_len() == 0 {
            let family = if checked.addr().is_ipv4() {
                "IPv4"
            } else {
                "IPv6"
            };
            return refuse(format!(
                "is the default route: every {family} address{form}"
            ));
        }
        let (min, setting) = match checked {
            IpNet::V4(_) => (self.min_prefix_v4, "min_prefix_v4"),
            IpNet::V6(_) => (self.min_prefix_v6, "min_prefix_v6"),
        };
        if checked.prefix_len() < min {
            why.push(format!(
                "is a /{}{form}, broader than the /{min} `safety.block_ips.{setting}` allows",
                checked.prefix_len()
            ));
        }
        let reserved = RESERVED_V4
            .iter()
            .map(|(n, what)| (IpNet::V4(*n), *what))
            .chain(RESERVED_V6.iter().map(|(n, what)| (IpNet::V6(*n), *what)));
        for (reserved, what) in reserved {
            if overlaps(&checked, &reserved) {
                why.push(format!("overlaps {reserved}{form}, {what}"));
            }
        }
        for kept in &self.never_block {
            if overlaps(&checked, kept) || overlaps(&net, kept) {
                why.push(format!(
                    "overlaps {kept}{form}, listed in `safety.block_ips.never_block`"
                ));
            }
        }
        if why.is_empty() {
            None
        } else {
            refuse(why.join("; "))
        }
    }

    /// Every range of `ranges` that must not be blocked, and why, in the order given.
    pub fn refusals<'a>(&self, ranges: impl IntoIterator<Item = &'a str>) -> Vec<Refusal> {
        ranges.into_iter().filter_map(|r| self.refusal(r)).collect()
    }

    /// Why blocking `count` ranges in one action needs a person, if it does.
    pub fn too_many(&self, count: usize) -> Option<String> {
        (count > self.max_ranges).then(|| {
            format!(
                "blocks {count} ranges at once, more than `safety.block_ips.max_ranges` ({})",
                self.max_ranges
            )
        })
    }
}

/// The ranges a `block_ips` action names: its `ips` parameter (the engine has rendered and
/// normalized it; anything that is not a string is kept as its JSON text, to be refused).
pub fn ranges_param(params: &serde_json::Map<String, serde_json::Value>) -> Vec<String> {
    match params.get("ips") {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect(),
        Some(serde_json::Value::String(one)) => vec![one.clone()],
        Some(other) => vec![other.to_string()],
        None => Vec::new(),
    }
}

#[cfg(test)]
#[path = "ranges_tests.rs"]
mod tests;
