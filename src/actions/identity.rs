//! One account, one identity. A detection may name a user by UPN or by object id, in any case;
//! the rails (protected accounts, cooldowns, budgets, who may approve) must see one person, so a
//! target is resolved through the directory to its object id and UPN before any rail applies,
//! and the answer is cached. A name the directory cannot resolve is never treated as a free,
//! unknown account: the caller holds the action for a human.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::graph::{GraphError, GraphPath, GraphRequest, GraphResponse};
use stanch_core::intake::UserRef;

/// How long a resolved identity is trusted (a UPN can be renamed; an id never changes).
pub const IDENTITY_TTL: Duration = Duration::from_secs(10 * 60);

/// A user as the directory knows them: the object id (lower case, the canonical key) and the
/// current UPN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub id: String,
    pub upn: Option<String>,
}

impl Identity {
    /// Whether `name` (a UPN or an object id, any case, surrounding spaces ignored) is this user.
    pub fn is(&self, name: &str) -> bool {
        let name = name.trim();
        self.id.eq_ignore_ascii_case(name)
            || self
                .upn
                .as_deref()
                .is_some_and(|u| u.eq_ignore_ascii_case(name))
    }

    /// The key the rails count and compare by: the object id.
    pub fn key(&self) -> &str {
        &self.id
    }
}

/// Why a name could not be resolved to one account.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("the directory has no user `{0}`")]
    Unknown(String),
    #[error(
        "the detection names `{upn}` with object id `{id}`, which the directory says is \
         `{directory_upn}`"
    )]
    Mismatch {
        upn: String,
        id: String,
        directory_upn: String,
    },
    /// `transient`: the directory (or the audit trail its read needs) was only away for now.
    #[error("cannot read user `{name}` from the directory: {cause}")]
    Unreadable {
        name: String,
        cause: String,
        transient: bool,
    },
}

/// Where identities are read: the directory, through an audited Graph read.
#[allow(async_fn_in_trait)]
pub trait Directory {
    async fn read(&self, subject: &str, request: GraphRequest)
    -> Result<GraphResponse, GraphError>;
}

/// Resolves names to identities through Graph, with a cache shared by every worker.
#[derive(Debug, Default)]
pub struct Identities {
    /// By lower-cased name: the identity, or `None` for a name the directory does not have.
    cache: Mutex<HashMap<String, (Instant, Option<Identity>)>>,
}

impl Identities {
    /// The identity of the account `user` names, as Graph would act on it (by object id when
    /// the detection gives one). When the detection gives both names and the directory says they
    /// are two people, the detection is not believed: what an approver reads must be what is
    /// acted on.
    pub async fn resolve(
        &self,
        directory: &impl Directory,
        user: &UserRef,
    ) -> Result<Identity, IdentityError> {
        let identity = self.lookup(directory, user.graph_id()).await?;
        if let Some(upn) = &user.upn
            && user.id.is_some()
            && !identity.is(upn)
        {
            return Err(IdentityError::Mismatch {
                upn: upn.clone(),
                id: identity.id,
                directory_upn: identity.upn.unwrap_or_default(),
            });
        }
        Ok(identity)
    }

    /// `user` with the name it lacks filled in from identities already resolved: a look in the
    /// cache, never a directory read (intake must not wait on Graph). `None` when there is
    /// nothing to add.
    pub async fn complete(&self, user: &UserRef) -> Option<UserRef> {
        if user.upn.is_some() == user.id.is_some() {
            return None;
        }
        let name = user.graph_id().trim().to_lowercase();
        let identity = match self.cache.lock().await.get(&name) {
            Some((at, Some(identity))) if at.elapsed() < IDENTITY_TTL => identity.clone(),
            _ => return None,
        };
        let completed = UserRef {
            upn: user.upn.clone().or(identity.upn),
            id: user.id.clone().or(Some(identity.id)),
        };
        (completed != *user).then_some(completed)
    }

    /// The identity of `name` (a UPN or object id).
    pub async fn lookup(
        &self,
        directory: &impl Directory,
        name: &str,
    ) -> Result<Identity, IdentityError> {
        let name = name.trim();
        let key = name.to_lowercase();
        if let Some((at, known)) = self.cache.lock().await.get(&key)
            && at.elapsed() < IDENTITY_TTL
        {
            return known
                .clone()
                .ok_or_else(|| IdentityError::Unknown(name.to_string()));
        }
        let unreadable = |cause: String, transient: bool| IdentityError::Unreadable {
            name: name.to_string(),
            cause,
            transient,
        };
        let path = GraphPath::new(["users"])
            .id(name)
            .map_err(|e| unreadable(e.to_string(), false))?
            .query("$select", "id,userPrincipalName");
        let subject = format!("directory/users/{key}");
        let answer = match directory.read(&subject, GraphRequest::get(path)).await {
            Ok(answer) => answer,
            Err(e) if e.status() == Some(404) => {
                // Remembered too: a configured account the directory does not have would
                // otherwise be asked about before every action.
                self.cache.lock().await.insert(key, (Instant::now(), None));
                return Err(IdentityError::Unknown(name.to_string()));
            }
            Err(e) => return Err(unreadable(e.to_string(), e.is_transient())),
        };
        let Some(id) = answer.body["id"].as_str().filter(|id| !id.is_empty()) else {
            return Err(unreadable("the answer names no object id".into(), false));
        };
        let identity = Identity {
            id: id.to_ascii_lowercase(),
            upn: answer.body["userPrincipalName"]
                .as_str()
                .map(str::to_string),
        };
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        for alias in [
            Some(identity.id.clone()),
            identity.upn.as_ref().map(|u| u.to_lowercase()),
        ]
        .into_iter()
        .flatten()
        .chain([key])
        {
            cache.insert(alias, (now, Some(identity.clone())));
        }
        Ok(identity)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_answers_to_both_of_its_names_in_any_case() {
        let identity = Identity {
            id: "6f1c1a2b-0000-4000-8000-000000000001".into(),
            upn: Some("A.Silva@contoso.com".into()),
        };
        for name in [
            "a.silva@contoso.com",
            "A.SILVA@CONTOSO.COM ",
            "6F1C1A2B-0000-4000-8000-000000000001",
            " 6f1c1a2b-0000-4000-8000-000000000001",
        ] {
            assert!(identity.is(name), "{name}");
        }
        assert!(!identity.is("b.silva@contoso.com"));
        assert_eq!(identity.key(), "6f1c1a2b-0000-4000-8000-000000000001");
    }

    #[tokio::test]
    async fn only_an_identity_resolved_within_its_ttl_completes_a_name() {
        let id = "6f1c1a2b-0000-4000-8000-000000000001";
        let silva = Identity {
            id: id.into(),
            upn: Some("A.Silva@contoso.com".into()),
        };
        let identities = Identities::default();
        let now = Instant::now();
        let stale = now.checked_sub(IDENTITY_TTL + Duration::from_secs(1));
        {
            let mut cache = identities.cache.lock().await;
            for name in ["a.silva@contoso.com", id] {
                cache.insert(name.into(), (now, Some(silva.clone())));
            }
            cache.insert("gone@contoso.com".into(), (now, None));
            if let Some(stale) = stale {
                let renamed = Identity {
                    id: "6f1c1a2b-0000-4000-8000-000000000002".into(),
                    upn: Some("old@contoso.com".into()),
                };
                cache.insert("old@contoso.com".into(), (stale, Some(renamed)));
            }
        }
        let user = |upn: Option<&str>, id: Option<&str>| UserRef {
            upn: upn.map(str::to_string),
            id: id.map(str::to_string),
        };
        assert_eq!(
            identities
                .complete(&user(Some(" A.SILVA@contoso.com"), None))
                .await,
            Some(user(Some(" A.SILVA@contoso.com"), Some(id))),
            "the name given stays as given"
        );
        assert_eq!(
            identities.complete(&user(None, Some(id))).await,
            Some(user(Some("A.Silva@contoso.com"), Some(id)))
        );
        for nothing in [
            user(Some("a.silva@contoso.com"), Some(id)),
            user(Some("gone@contoso.com"), None),
            user(Some("old@contoso.com"), None),
            user(Some("never@contoso.com"), None),
        ] {
            assert_eq!(identities.complete(&nothing).await, None, "{nothing}");
        }
    }
}
