//! The checks that read the tenant: the token, the granted permissions, the quarantine group and
//! its Conditional Access policy, the blocked-IP named location, approver groups and roles.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use stanch_core::playbook::PlaybookSet;
use stanch_core::vocab::ActionKind;

use super::permissions::{covers, needed};
use super::{Finding, Report};
use crate::config::Config;
use crate::graph::{DirectorySet, GraphClient, GraphError, GraphPath, GraphRequest};

/// Microsoft Graph's application id, the same in every tenant.
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
const CONSENT: &str = "in the Entra admin center: App registrations → the app → API permissions → Add a permission → Microsoft Graph → Application permissions; then Grant admin consent";

pub(super) async fn check(
    report: &mut Report,
    config: &Config,
    playbooks: Option<&PlaybookSet>,
    client: &GraphClient,
) {
    let login = client.config().login_root();
    if let Err(e) = client.check_token().await {
        report.findings.push(Finding::fail(
            "token",
            format!("no token from {login}: {e}"),
            "check graph.tenant_id, graph.client_id and the secret or certificate (and that it has not expired)",
        ));
        return;
    }
    report.findings.push(Finding::pass(
        "token",
        format!("obtained a token from {login}"),
    ));
    permissions(report, config, playbooks, client).await;
    let uses = |kind: ActionKind| {
        playbooks
            .into_iter()
            .flat_map(|s| &s.playbooks)
            .filter(|p| p.enabled)
            .any(|p| p.steps.iter().any(|s| s.action == kind))
    };
    quarantine(report, config, uses(ActionKind::BlockLegacyAuth), client).await;
    if uses(ActionKind::BlockIps) {
        named_location(report, config, client).await;
    }
    approvers(report, config, playbooks, client).await;
}

fn list(body: &Value) -> impl Iterator<Item = &Value> {
    body["value"].as_array().into_iter().flatten()
}

async fn service_principal(
    client: &GraphClient,
    app_id: &str,
) -> Result<Option<Value>, GraphError> {
    let path = GraphPath::new(["servicePrincipals"]).query(
        "$filter",
        &format!("appId eq '{}'", app_id.replace('\'', "''")),
    );
    let found = client.send(GraphRequest::get(path)).await?;
    Ok(list(&found.body).next().cloned())
}

/// The names of the Graph application permissions the app holds.
async fn granted(client: &GraphClient) -> Result<BTreeSet<String>, String> {
    let app_id = client.config().client_id.clone();
    let read = |e: GraphError| format!("cannot read the app's permissions: {e}");
    let Some(own) = service_principal(client, &app_id).await.map_err(read)? else {
        return Err(format!(
            "the tenant has no service principal for the app {app_id}: admin consent was never given"
        ));
    };
    let graph = service_principal(client, GRAPH_APP_ID)
        .await
        .map_err(read)?
        .ok_or("the tenant has no Microsoft Graph service principal")?;
    let names: BTreeMap<&str, &str> = graph["appRoles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| Some((r["id"].as_str()?, r["value"].as_str()?)))
        .collect();
    let own_id = own["id"].as_str().unwrap_or_default();
    let path = GraphPath::new(["servicePrincipals"])
        .opaque(own_id)
        .map_err(|e| e.to_string())?
        .segment("appRoleAssignments");
    let held = client.get_pages(path, 20).await.map_err(read)?;
    Ok(held
        .items
        .iter()
        .filter(|a| a["resourceId"] == graph["id"])
        .filter_map(|a| names.get(a["appRoleId"].as_str()?))
        .map(|n| n.to_string())
        .collect())
}

async fn permissions(
    report: &mut Report,
    config: &Config,
    playbooks: Option<&PlaybookSet>,
    client: &GraphClient,
) {
    let granted = match granted(client).await {
        Ok(granted) => granted,
        Err(why) => {
            report.findings.push(Finding::fail(
                "permissions",
                why,
                format!(
                    "grant Application.Read.All so stanch can read its own permissions ({CONSENT})"
                ),
            ));
            return;
        }
    };
    let needs = needed(config, playbooks);
    let mut missing = 0;
    for (permission, why) in &needs {
        if !granted.iter().any(|g| covers(g, permission)) {
            missing += 1;
            report.findings.push(Finding::fail(
                "permissions",
                format!(
                    "`{permission}` is not granted; needed by {}",
                    why.join("; ")
                ),
                format!("add the application permission {permission} {CONSENT}"),
            ));
        }
    }
    if missing == 0 {
        report.findings.push(Finding::pass(
            "permissions",
            format!(
                "all {} permission(s) the playbooks and features need are granted",
                needs.len()
            ),
        ));
    }
}

async fn quarantine(report: &mut Report, config: &Config, used: bool, client: &GraphClient) {
    const SETUP: &str = "run `stanch setup legacy-auth` and put the group id it prints in `containment.quarantine_group_id`";
    let Some(group) = &config.containment.quarantine_group_id else {
        if used {
            report.findings.push(Finding::fail(
                "quarantine",
                "playbooks run block_legacy_auth but `containment.quarantine_group_id` is not set",
                SETUP,
            ));
        }
        return;
    };
    let path = match GraphPath::new(["groups"]).opaque(group) {
        Ok(path) => path.query("$select", "id,displayName"),
        Err(e) => {
            report
                .findings
                .push(Finding::fail("quarantine", e.to_string(), SETUP));
            return;
        }
    };
    match client.send(GraphRequest::get(path)).await {
        Ok(found) => report.findings.push(Finding::pass(
            "quarantine",
            format!(
                "group {group} (`{}`) exists",
                found.body["displayName"].as_str().unwrap_or("?")
            ),
        )),
        Err(e) if e.is_not_found() => {
            report.findings.push(Finding::fail(
                "quarantine",
                format!("the quarantine group {group} does not exist"),
                SETUP,
            ));
            return;
        }
        Err(e) => {
            report.findings.push(Finding::fail(
                "quarantine",
                format!("cannot read the quarantine group {group}: {e}"),
                "grant GroupMember.ReadWrite.All and check Graph is reachable",
            ));
            return;
        }
    }
    let Some(listed) = conditional_access(report, client, "policies", "ca-policy").await else {
        return;
    };
    let blocking = listed.items.iter().filter(|p| {
        let includes = p["conditions"]["users"]["includeGroups"]
            .as_array()
            .is_some_and(|g| {
                g.iter()
                    .any(|g| g.as_str().is_some_and(|g| g.eq_ignore_ascii_case(group)))
            });
        let blocks = p["grantControls"]["builtInControls"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c == "block"));
        includes && blocks
    });
    let best = blocking
        .map(|p| {
            (
                p["displayName"].as_str().unwrap_or("?").to_string(),
                p["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .max_by_key(|(_, state)| match state.as_str() {
            "enabled" => 2,
            "enabledForReportingButNotEnforced" => 1,
            _ => 0,
        });
    report.findings.push(match best {
        Some((name, state)) if state == "enabled" => Finding::pass(
            "ca-policy",
            format!("Conditional Access policy `{name}` blocks the quarantine group and is enabled"),
        ),
        Some((name, state)) if state == "enabledForReportingButNotEnforced" => Finding::warn(
            "ca-policy",
            format!("Conditional Access policy `{name}` is report-only: quarantined accounts keep legacy authentication"),
            "once its sign-in log looks right, `stanch setup legacy-auth --enforce`",
        ),
        Some((name, state)) => Finding::fail(
            "ca-policy",
            format!("Conditional Access policy `{name}` is {state}: block_legacy_auth would change nothing"),
            "enable it, or `stanch setup legacy-auth --enforce`",
        ),
        None => Finding::fail(
            "ca-policy",
            format!("no Conditional Access policy blocks the quarantine group {group}: block_legacy_auth would change nothing"),
            "`stanch setup legacy-auth` (it finds the group and creates the policy)",
        ),
    });
}

/// Every page of a Conditional Access collection, or a failing finding saying why not.
async fn conditional_access(
    report: &mut Report,
    client: &GraphClient,
    collection: &'static str,
    check: &'static str,
) -> Option<crate::graph::Paged> {
    let path = GraphPath::new(["identity", "conditionalAccess", collection]);
    match client.get_pages(path, 20).await {
        Ok(listed) => Some(listed),
        Err(e) => {
            report.findings.push(Finding::fail(
                check,
                format!("cannot read identity/conditionalAccess/{collection}: {e}"),
                "grant Policy.Read.All",
            ));
            None
        }
    }
}

async fn named_location(report: &mut Report, config: &Config, client: &GraphClient) {
    let name = &config.containment.blocked_ips_location;
    let Some(listed) = conditional_access(report, client, "namedLocations", "location").await
    else {
        return;
    };
    let found = listed
        .items
        .iter()
        .find(|l| l["displayName"].as_str() == Some(name.as_str()));
    report.findings.push(match found {
        None => Finding::warn(
            "location",
            format!("no named location `{name}` yet"),
            "nothing to do: the first block_ips creates it (with its blocking policy)",
        ),
        Some(l) if l["isTrusted"] == true => Finding::fail(
            "location",
            format!("the named location `{name}` is trusted: block_ips refuses to add attacker ranges to it"),
            "set `containment.blocked_ips_location` to a location of its own",
        ),
        Some(l) if l["@odata.type"] != "#microsoft.graph.ipNamedLocation" => Finding::fail(
            "location",
            format!("the named location `{name}` is not an IP location"),
            "set `containment.blocked_ips_location` to a location of its own",
        ),
        Some(_) => Finding::pass("location", format!("IP named location `{name}` exists")),
    });
}

async fn approvers(
    report: &mut Report,
    config: &Config,
    playbooks: Option<&PlaybookSet>,
    client: &GraphClient,
) {
    let mut names: Vec<(DirectorySet, String, &'static str)> = Vec::new();
    let policies = playbooks
        .into_iter()
        .flat_map(|s| &s.playbooks)
        .filter(|p| p.enabled)
        .flat_map(|p| &p.steps)
        .filter_map(|s| s.approval.as_ref())
        .chain(config.approvals.default_policy.as_ref());
    for policy in policies {
        for who in policy.approvers.iter().chain(&policy.escalate_to) {
            if let Some(g) = who.strip_prefix("group:") {
                names.push((DirectorySet::Group, g.to_string(), "approvers"));
            } else if let Some(r) = who.strip_prefix("role:") {
                names.push((DirectorySet::Role, r.to_string(), "approvers"));
            }
        }
    }
    names.extend(
        config
            .protected_groups
            .iter()
            .map(|g| (DirectorySet::Group, g.clone(), "protected")),
    );
    names.extend(
        config
            .protected_roles
            .iter()
            .map(|r| (DirectorySet::Role, r.clone(), "protected")),
    );
    let mut seen = Vec::new();
    names.retain(|(set, name, check)| {
        let key = (*set, name.to_lowercase(), *check);
        let new = !seen.contains(&key);
        seen.push(key);
        new
    });
    for (set, name, check) in names {
        let what = if set == DirectorySet::Group {
            "group"
        } else {
            "role"
        };
        report.findings.push(match client.named_members(set, &name).await {
            Ok(members) if members.is_empty() && check == "approvers" => Finding::warn(
                check,
                format!("{what} `{name}` has no members: nobody can approve through it"),
                format!("add the approvers to the {what}"),
            ),
            Ok(members) => Finding::pass(check, format!("{what} `{name}`: {} member(s)", members.len())),
            // Entra lists a directory role only once someone holds it: protecting a role
            // nobody holds protects nobody, and is no failure.
            Err(why) if set == DirectorySet::Role && check == "protected" => Finding::warn(
                check,
                why,
                "nothing to do if nobody holds the role; otherwise check its name (RoleManagement.Read.Directory)",
            ),
            Err(why) => Finding::fail(
                check,
                why,
                match set {
                    DirectorySet::Group => "check the group's display name (case does not matter) and GroupMember.Read.All",
                    DirectorySet::Role => "check the role's name; a directory role is listed only once someone holds it (RoleManagement.Read.Directory)",
                },
            ),
        });
    }
}
