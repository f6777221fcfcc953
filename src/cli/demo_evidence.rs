//! The demo's second table: what happened to the phishing waves and to the persistence the
//! attacker left, read from the emulator's state before and after, not from stanch's own report.

use std::collections::BTreeMap;

use serde_json::Value;

fn items<'a>(state: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    state[key].as_array().into_iter().flatten()
}

/// Per message id: its subject, and how many mailboxes hold it outside Deleted Items.
fn in_mailboxes(state: &Value) -> BTreeMap<String, (String, usize)> {
    let mut found: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for messages in state["messages"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        for message in messages.as_array().into_iter().flatten() {
            let (Some(id), folder) = (
                message["internetMessageId"].as_str(),
                &message["parentFolderId"],
            ) else {
                continue;
            };
            let entry = found.entry(id.to_string()).or_insert_with(|| {
                (
                    message["subject"].as_str().unwrap_or_default().to_string(),
                    0,
                )
            });
            if folder == "inbox" {
                entry.1 += 1;
            }
        }
    }
    found
}

pub(super) fn print_evidence(before: &Value, after: &Value) {
    println!("\n== the phishing waves, and what the attacker left behind ==");
    let (was, now) = (in_mailboxes(before), in_mailboxes(after));
    for (id, (subject, inboxes)) in &was {
        let left = now.get(id).map_or(0, |(_, n)| *n);
        let subject: String = subject.chars().take(48).collect();
        println!("message `{subject}`: in {inboxes} inbox(es) before, {left} after");
    }
    println!("(a mailbox the app may not read keeps its copy; the purge's outcome names it)");
    let apps: BTreeMap<&str, &str> = items(before, "servicePrincipals")
        .filter_map(|sp| Some((sp["id"].as_str()?, sp["displayName"].as_str()?)))
        .collect();
    let methods = |state: &Value, upn: &str| -> Vec<String> {
        state["authenticationMethods"][upn]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| m["id"].as_str().map(str::to_string))
            .collect()
    };
    for upn in before["authenticationMethods"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys())
    {
        let kept = methods(after, upn);
        let removed: Vec<String> = before["authenticationMethods"][upn]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| {
                m["id"]
                    .as_str()
                    .is_some_and(|id| !kept.iter().any(|k| k == id))
            })
            .map(|m| {
                let kind = m["@odata.type"]
                    .as_str()
                    .unwrap_or_default()
                    .trim_start_matches("#microsoft.graph.");
                let name = m["displayName"].as_str().unwrap_or_default();
                format!("{kind} {name}").trim().to_string()
            })
            .collect();
        println!(
            "{upn}: sign-in methods {} → {}; removed: {}",
            methods(before, upn).len(),
            kept.len(),
            if removed.is_empty() {
                "none".to_string()
            } else {
                removed.join(", ")
            }
        );
    }
    let revoked: Vec<&str> = items(before, "oauth2PermissionGrants")
        .filter(|g| {
            !items(after, "oauth2PermissionGrants")
                .any(|a| a["clientId"] == g["clientId"] && a["scope"] == g["scope"])
        })
        .map(|g| {
            g["clientId"]
                .as_str()
                .and_then(|c| apps.get(c).copied())
                .unwrap_or("an app")
        })
        .collect();
    println!(
        "app consents revoked: {}",
        if revoked.is_empty() {
            "none".into()
        } else {
            revoked.join(", ")
        }
    );
    let still_enabled: Vec<&str> = items(after, "servicePrincipals")
        .filter(|sp| sp["accountEnabled"] == true)
        .filter_map(|sp| sp["displayName"].as_str())
        .filter(|name| revoked.contains(name))
        .collect();
    if !still_enabled.is_empty() {
        println!(
            "still enabled for the rest of the tenant (disable_app waits for a person): {}",
            still_enabled.join(", ")
        );
    }
    let disabled: Vec<&str> = items(after, "devices")
        .filter(|d| d["accountEnabled"] == false)
        .filter(|d| {
            items(before, "devices").any(|b| b["id"] == d["id"] && b["accountEnabled"] == true)
        })
        .filter_map(|d| d["displayName"].as_str())
        .collect();
    println!(
        "devices disabled: {}",
        if disabled.is_empty() {
            "none".into()
        } else {
            disabled.join(", ")
        }
    );
}
