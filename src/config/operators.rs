//! Who may use the operator API (`operators:` in the config): tokens of the tenant's identity
//! provider, validated by `http::oidc`.
//!
//! ```yaml
//! operators:
//!   audience: api://stanch                  # the API's app id URI and/or client id (list)
//!   tenant_id: 5d2e…                        # default: graph.tenant_id
//!   issuer: https://login.microsoftonline.com/5d2e…/v2.0   # default: from graph.login_url
//!   roles: { Stanch.Responder: responder }  # app role value → role (default: the role names)
//!   groups: { 0b7c…: approver }             # group object id → role
//!   leeway: 60s                             # clock skew allowed on exp / nbf
//!   require_for_decisions: false            # true: the CLI may not decide on approvals
//!   client_id: 6a1f…                        # the app people sign in to; default: graph.client_id
//!   link_sign_in: true                      # approval links also need the approver signed in
//! ```

use crate::http::oidc::{OperatorSettings, Role};
use stanch_core::util::parse_duration;
use stanch_core::yaml::diag::Problems;
use stanch_core::yaml::{Node, NodeValue, decode};

const KEYS: &[&str] = &[
    "audience",
    "tenant_id",
    "issuer",
    "roles",
    "groups",
    "leeway",
    "refetch_interval",
    "require_for_decisions",
    "client_id",
    "link_sign_in",
];

pub(super) fn decode_operators(p: &mut Problems, node: &Node) -> Option<OperatorSettings> {
    let f = decode::fields(p, node, "`operators`", KEYS)?;
    let mut settings = OperatorSettings::default();
    if let Some(n) = f.require(p, "audience", "`operators`") {
        settings.audience = match &n.value {
            NodeValue::Seq(_) => decode::strings(p, n, "`operators.audience`")
                .into_iter()
                .map(|(_, s)| s.to_string())
                .collect(),
            _ => decode::string(p, n, "`operators.audience`")
                .map(|s| vec![s.to_string()])
                .unwrap_or_default(),
        };
        if settings.audience.iter().any(|a| a.trim().is_empty()) {
            p.error(n.loc, "`operators.audience` must not be empty");
        }
    }
    if let Some(t) = f
        .get("tenant_id")
        .and_then(|n| decode::string(p, n, "`operators.tenant_id`"))
    {
        settings.tenant_id = t.to_string();
    }
    if let Some(n) = f.get("issuer")
        && let Some(issuer) = decode::string(p, n, "`operators.issuer`")
    {
        if !(issuer.starts_with("https://") || issuer.starts_with("http://")) {
            p.error(
                n.loc,
                format!("`operators.issuer` must be an http(s) URL, not `{issuer}`"),
            );
        }
        settings.issuer = Some(issuer.to_string());
    }
    for (key, what) in [
        ("roles", "`operators.roles`"),
        ("groups", "`operators.groups`"),
    ] {
        let Some(n) = f.get(key) else { continue };
        let NodeValue::Map(entries) = &n.value else {
            p.error(
                n.loc,
                format!("{what} must be a mapping of claim value → role"),
            );
            continue;
        };
        for (claim, role) in entries {
            let Some(text) = decode::string(p, role, what) else {
                continue;
            };
            let Some(role) = Role::parse(text) else {
                let known: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                p.error(
                    role.loc,
                    format!(
                        "unknown role `{text}` in {what}; expected one of {}",
                        known.join(", ")
                    ),
                );
                continue;
            };
            let map = match key {
                "roles" => &mut settings.roles.app_roles,
                _ => &mut settings.roles.groups,
            };
            map.insert(claim.scalar_text(), role);
        }
    }
    for (key, slot) in [
        ("leeway", &mut settings.leeway_secs),
        ("refetch_interval", &mut settings.refetch_interval_secs),
    ] {
        if let Some(n) = f.get(key)
            && let Some(text) = decode::string(p, n, &format!("`operators.{key}`"))
        {
            match parse_duration(text) {
                Ok(secs) => *slot = secs,
                Err(message) => p.error(n.loc, message),
            }
        }
    }
    for (key, slot) in [
        ("require_for_decisions", &mut settings.require_for_decisions),
        ("link_sign_in", &mut settings.link_sign_in),
    ] {
        if let Some(n) = f.get(key)
            && let Some(on) = decode::boolean(p, n, &format!("`operators.{key}`"))
        {
            *slot = on;
        }
    }
    if let Some(id) = f
        .get("client_id")
        .and_then(|n| decode::string(p, n, "`operators.client_id`"))
    {
        settings.client_id = id.to_string();
    }
    Some(settings)
}

#[cfg(test)]
mod tests {
    use crate::config::load_text;
    use crate::http::oidc::Role;

    #[test]
    fn operators_load_with_defaults_and_mistakes_are_located() {
        let config = load_text(
            "graph:\n  tenant_id: t-1\n  client_id: c\n  client_secret: s\noperators:\n  audience: [api://stanch, 11-22]\n  roles: { Stanch.Admin: admin }\n  leeway: 2m\n  require_for_decisions: true\n",
        )
        .unwrap();
        let operators = config.operators.unwrap();
        assert_eq!(operators.audience, ["api://stanch", "11-22"]);
        assert_eq!(operators.tenant_id, "t-1", "graph.tenant_id by default");
        assert_eq!(operators.roles.app_roles["Stanch.Admin"], Role::Admin);
        assert_eq!(operators.leeway_secs, 120);
        assert!(operators.require_for_decisions);
        assert_eq!(
            operators.issuer_for("https://login.microsoftonline.com/"),
            "https://login.microsoftonline.com/t-1/v2.0"
        );

        let err =
            load_text("operators:\n  roles: { X: boss }\n  issuer: login.example\n").unwrap_err();
        assert!(
            err.contains("`operators` is missing the required key `audience`"),
            "{err}"
        );
        assert!(err.contains(":2:15: error: unknown role `boss`"), "{err}");
        assert!(err.contains("must be an http(s) URL"), "{err}");
        let err = load_text("operators:\n  audience: api://stanch\n").unwrap_err();
        assert!(
            err.contains("operators.tenant_id"),
            "no tenant at all is a mistake: {err}"
        );
    }
}
