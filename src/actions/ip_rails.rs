//! The rails `block_ips` meets right before it acts, with what only the tenant knows: the ranges
//! of its trusted named locations, and whether the named location it would change is one stanch
//! may change. The static rules (`stanch_core::rails::ranges`) are applied again too: the
//! config may have changed since the plan, and the plan may come from an older version. Pure:
//! the pre-check reads, this judges.

use ipnet::IpNet;
use serde_json::Value;

use stanch_core::rails::ranges::{overlaps, parse_range, unmapped};
use stanch_core::rails::{BlockIpsRules, Refusal};

const IP_LOCATION: &str = "#microsoft.graph.ipNamedLocation";

/// What the tenant holds that a block must respect, as the pre-check read it.
pub(super) struct Tenant<'a> {
    /// Every named location (`id`, `displayName`, `isTrusted`, `ipRanges`, `@odata.type`).
    pub locations: &'a [Value],
    /// Every Conditional Access policy (`id`, `displayName`, `conditions`).
    pub policies: &'a [Value],
}

/// Why a block must not run: each range refused, and what is wrong with the action as a whole.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Verdict {
    pub refused: Vec<Refusal>,
    pub whole: Vec<String>,
}

impl Verdict {
    pub fn is_clear(&self) -> bool {
        self.refused.is_empty() && self.whole.is_empty()
    }

    /// Every reason, for the action's error and its audit record.
    pub fn reason(&self) -> String {
        let ranges = self.refused.iter().map(ToString::to_string);
        ranges
            .chain(self.whole.iter().cloned())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Judges blocking `wanted` by adding it to the named location `location`, whose blocking policy
/// stanch names `policy`.
pub(super) fn judge(
    rules: &BlockIpsRules,
    wanted: &[String],
    location: &str,
    policy: &str,
    tenant: &Tenant<'_>,
) -> Verdict {
    let mut verdict = Verdict::default();
    let trusted = trusted_ranges(tenant.locations, &mut verdict.whole);
    for range in wanted {
        let mut why: Vec<String> = rules.refusal(range).into_iter().map(|r| r.why).collect();
        if let Ok(net) = parse_range(range) {
            let net = unmapped(net);
            for (trusted, cidr, name) in &trusted {
                if overlaps(&net, trusted) {
                    why.push(format!(
                        "overlaps {cidr} of the trusted named location `{name}`"
                    ));
                }
            }
        }
        if !why.is_empty() {
            verdict.refused.push(Refusal {
                range: range.clone(),
                why: why.join("; "),
            });
        }
    }
    if let Some(target) = tenant
        .locations
        .iter()
        .find(|l| l["displayName"] == location)
    {
        judge_location(
            target,
            location,
            policy,
            tenant.policies,
            &mut verdict.whole,
        );
    }
    verdict
}

/// The ranges of every trusted IP location, unmapped; a range that cannot be read makes the
/// whole action wait, since what it trusts cannot be told.
fn trusted_ranges<'a>(
    locations: &'a [Value],
    whole: &mut Vec<String>,
) -> Vec<(IpNet, &'a str, &'a str)> {
    let mut out = Vec::new();
    for location in locations.iter().filter(|l| l["isTrusted"] == true) {
        let name = location["displayName"].as_str().unwrap_or("(no name)");
        for range in location["ipRanges"].as_array().into_iter().flatten() {
            let cidr = range["cidrAddress"].as_str().unwrap_or_default();
            match parse_range(cidr) {
                Ok(net) => out.push((unmapped(net), cidr, name)),
                Err(e) => whole.push(format!(
                    "cannot read a range of the trusted named location `{name}` ({e}), so what it trusts cannot be told"
                )),
            }
        }
    }
    out
}

/// Whether the existing location `target` is one stanch may add attacker ranges to: an IP
/// location, not trusted, and used by no policy but stanch's own block.
fn judge_location(
    target: &Value,
    location: &str,
    policy: &str,
    policies: &[Value],
    whole: &mut Vec<String>,
) {
    let kind = target["@odata.type"].as_str();
    let is_ip = kind == Some(IP_LOCATION) || (kind.is_none() && target["ipRanges"].is_array());
    if !is_ip {
        whole.push(format!(
            "the named location `{location}` is not an IP location ({}): stanch only adds ranges to IP locations",
            kind.unwrap_or("no type")
        ));
    }
    if target["isTrusted"] == true {
        whole.push(format!(
            "the named location `{location}` is trusted: blocking sign-in from it would lock out whoever signs in from there"
        ));
    }
    let id = &target["id"];
    for other in policies.iter().filter(|p| p["displayName"] != policy) {
        let uses = ["includeLocations", "excludeLocations"].iter().any(|key| {
            other["conditions"]["locations"][key]
                .as_array()
                .is_some_and(|ids| ids.contains(id))
        });
        if uses {
            whole.push(format!(
                "the named location `{location}` is also used by the Conditional Access policy `{}`: adding ranges to it would change what that policy does",
                other["displayName"].as_str().unwrap_or("(no name)")
            ));
        }
    }
}

#[cfg(test)]
#[path = "ip_rails_tests.rs"]
mod tests;
