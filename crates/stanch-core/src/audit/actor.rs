//! Who did something, as the audit trail records it: a person or an app proven by a validated
//! token (name, object id, roles, the token's id), or someone at the box whose name only the
//! operating system vouches for.

use serde::Serialize;

/// The author of an operator write. Serialized into the audit record as it is, so a reader
/// never has to parse a name to learn how it was established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// What the person is called (the token's `name`, an app's id, or the OS user).
    pub name: String,
    /// The sign-in name the approver lists use (`preferred_username`), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upn: Option<String>,
    /// Entra object id (`oid`) of the user or the app's service principal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object_id: Option<String>,
    /// The operator roles the token granted.
    pub roles: Vec<String>,
    /// The token's own id (`uti`, else `jti`), to find the sign-in in Entra's logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// `token` (validated bearer token) or `local` (the CLI on the box).
    pub via: &'static str,
    /// Whether an identity provider vouched for this identity.
    pub authenticated: bool,
    /// The name a local operator typed (`--as`): recorded, never proven.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed_name: Option<String>,
}

impl Actor {
    /// Someone at the box, named only by the OS (and by what they typed, `claimed`): recorded
    /// as `local, unauthenticated`.
    pub fn local(os_user: &str, claimed: Option<&str>) -> Actor {
        Actor {
            name: os_user.to_string(),
            upn: None,
            object_id: None,
            roles: Vec::new(),
            token_id: None,
            via: "local",
            authenticated: false,
            claimed_name: claimed.map(str::to_string),
        }
    }

    /// How the trail shows this actor in one line.
    pub fn describe(&self) -> String {
        match (self.authenticated, &self.object_id) {
            (true, Some(oid)) => format!("{} (object id {oid})", self.name),
            (true, None) => self.name.clone(),
            (false, _) => match &self.claimed_name {
                Some(claimed) => format!(
                    "{claimed} (says OS user {}: local, unauthenticated)",
                    self.name
                ),
                None => format!("{} (local, unauthenticated)", self.name),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_actor_says_it_is_unauthenticated() {
        let local = Actor::local("root", None);
        assert_eq!(local.describe(), "root (local, unauthenticated)");
        let said = Actor::local("root", Some("f.okafor@contoso.com"));
        assert_eq!(
            said.describe(),
            "f.okafor@contoso.com (says OS user root: local, unauthenticated)"
        );
        assert_eq!(
            serde_json::to_value(&said).unwrap()["claimed_name"],
            "f.okafor@contoso.com"
        );
        let json = serde_json::to_value(&local).unwrap();
        assert_eq!(json["authenticated"], false);
        assert_eq!(json["via"], "local");
        assert!(json.get("object_id").is_none());
    }
}
