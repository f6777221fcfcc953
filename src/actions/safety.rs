//! The safety rails as the executor sees them: cooldowns and budgets from the config, and
//! protected accounts, including members of protected groups and directory roles (Global
//! Administrator...) resolved through Graph and cached, so membership that changes after
//! startup is still caught when an action is about to run.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use super::identity::{Directory, Identities, Identity, IdentityError};
use crate::graph::{DirectorySet, GraphClient};
use crate::store::{BudgetLimit, ClaimGuard};
use stanch_core::engine::PlannedAction;
use stanch_core::intake::UserRef;
use stanch_core::rails::SafetySettings;

/// How long resolved memberships are trusted before being read again.
pub const PROTECTION_TTL: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Default)]
pub struct Safety {
    pub settings: SafetySettings,
    /// UPNs or ids protected by configuration.
    pub accounts: Vec<String>,
    /// Group display names whose members are protected.
    pub groups: Vec<String>,
    /// Directory role display names whose members are protected.
    pub roles: Vec<String>,
    cache: Mutex<Option<(Instant, Vec<Protected>)>>,
    /// Targets and configured accounts resolved to one identity each; shared with intake,
    /// which groups detections by both of an account's names once they are known.
    pub identities: Arc<Identities>,
    /// When each budget last raised an alert, so a flood sends one alert, not thousands.
    alerted: Mutex<std::collections::HashMap<String, Instant>>,
}

/// What the rails learned about an action's target before it may be claimed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Screening {
    /// Why the target is protected, when it is (or cannot be told apart from one that is).
    pub protected: Option<String>,
    /// Who the target is: its object id (what cooldowns and budgets count by) and UPN.
    pub identity: Option<Identity>,
}

/// How long screening waits for a directory that is transiently unreadable (throttled, Graph
/// or the database away) before the target counts as protected.
const SCREEN_PATIENCE: Duration = Duration::from_secs(60);

/// One alert per budget per this long.
const ALERT_EVERY: Duration = Duration::from_secs(10 * 60);

/// One protected account and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Protected {
    pub upn: Option<String>,
    pub id: String,
    pub why: String,
}

impl Safety {
    pub fn new(
        settings: SafetySettings,
        accounts: Vec<String>,
        groups: Vec<String>,
        roles: Vec<String>,
    ) -> Safety {
        Safety {
            settings,
            accounts,
            groups,
            roles,
            cache: Mutex::new(None),
            identities: Arc::default(),
            alerted: Mutex::default(),
        }
    }

    /// The guard a claim of `action` must respect, from its screening.
    pub fn guard(&self, action: &PlannedAction, screening: Screening) -> ClaimGuard {
        ClaimGuard {
            cooldown_secs: self.settings.cooldown_secs(action.action),
            budgets: self
                .settings
                .budgets
                .iter()
                .filter(|b| b.applies_to(action.action, &action.playbook))
                .map(|b| BudgetLimit {
                    name: b.name.clone(),
                    max: b.max,
                    per_secs: b.per_secs,
                })
                .collect(),
            human_approved: action.gate.needs_approval(),
            protected: screening.protected,
            account: screening.identity.map(|i| i.key().to_string()),
            started: None,
        }
    }

    /// Who `action`'s target is (resolved through the directory to one identity) and whether
    /// it is protected: configured by UPN or object id, or a member of a protected group or
    /// role. A target the directory cannot resolve, and a directory that cannot be read, count
    /// as protected: acting on an account we cannot check is what the rails exist to prevent.
    pub async fn screen(
        &self,
        directory: &impl Directory,
        client: &GraphClient,
        action: &PlannedAction,
    ) -> Screening {
        let Some(target) = action.target.as_ref() else {
            return Screening::default();
        };
        let identity = match self.resolve_patiently(directory, target).await {
            Ok(identity) => identity,
            Err(e) => {
                return Screening {
                    protected: Some(format!(
                        "cannot tell which account `{target}` is ({e}); a person must decide"
                    )),
                    identity: None,
                };
            }
        };
        let protected = self.protection_of(directory, client, &identity).await;
        Screening {
            protected,
            identity: Some(identity),
        }
    }

    /// Resolves `target`, waiting out a directory (or database) that is only away for now: a
    /// blip should delay the action, not put it in front of a person. Past
    /// [`SCREEN_PATIENCE`] the failure stands, and the target counts as protected.
    async fn resolve_patiently(
        &self,
        directory: &impl Directory,
        target: &UserRef,
    ) -> Result<Identity, IdentityError> {
        let started = Instant::now();
        let mut pause = Duration::from_millis(500);
        loop {
            match self.identities.resolve(directory, target).await {
                Err(IdentityError::Unreadable {
                    transient: true,
                    cause,
                    ..
                }) if started.elapsed() < SCREEN_PATIENCE => {
                    tracing::warn!(target = %target, error = %cause, retry_in_ms = pause.as_millis() as u64,
                        "cannot read the target from the directory for now; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(8));
                }
                answer => return answer,
            }
        }
    }

    /// Why `identity` is protected, if it is.
    async fn protection_of(
        &self,
        directory: &impl Directory,
        client: &GraphClient,
        identity: &Identity,
    ) -> Option<String> {
        for configured in &self.accounts {
            if identity.is(configured) {
                return Some(format!("`{configured}` is a protected account"));
            }
            // Configured by the other name: the directory says whether it is the same person.
            if let Ok(protected) = self.identities.lookup(directory, configured).await
                && protected.id == identity.id
            {
                return Some(format!("`{configured}` is a protected account"));
            }
        }
        if self.groups.is_empty() && self.roles.is_empty() {
            return None;
        }
        match self.members(client).await {
            Ok(members) => members
                .iter()
                .find(|m| identity.is(&m.id))
                .map(|m| m.why.clone()),
            Err(e) => Some(format!(
                "cannot check protected groups and roles ({e}); a person must decide"
            )),
        }
    }

    /// Members of the protected groups and roles, from the cache or freshly read.
    pub async fn members(&self, client: &GraphClient) -> Result<Vec<Protected>, String> {
        let mut cache = self.cache.lock().await;
        if let Some((at, members)) = cache.as_ref()
            && at.elapsed() < PROTECTION_TTL
        {
            return Ok(members.clone());
        }
        let members = resolve(client, &self.groups, &self.roles).await?;
        *cache = Some((Instant::now(), members.clone()));
        Ok(members)
    }
}

/// Reads the members of the named groups and directory roles (reads only).
pub async fn resolve(
    client: &GraphClient,
    groups: &[String],
    roles: &[String],
) -> Result<Vec<Protected>, String> {
    let mut out = BTreeSet::new();
    let sets = groups
        .iter()
        .map(|g| (DirectorySet::Group, "group", g))
        .chain(roles.iter().map(|r| (DirectorySet::Role, "role", r)));
    for (set, label, name) in sets {
        for m in client.named_members(set, name).await? {
            if let Some(id) = m["id"].as_str() {
                out.insert(Protected {
                    upn: m["userPrincipalName"].as_str().map(str::to_string),
                    id: id.to_string(),
                    why: format!(
                        "`{}` is a member of the protected {label} `{name}`",
                        m["userPrincipalName"].as_str().unwrap_or(id)
                    ),
                });
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// The names (UPNs and ids) of resolved members, for the engine's `protected_accounts`.
pub fn names(members: &[Protected]) -> Vec<String> {
    members
        .iter()
        .flat_map(|m| m.upn.iter().cloned().chain([m.id.clone()]))
        .collect()
}

/// Tells the `default` notification channel (when configured) that a budget is spent and
/// actions now wait for people; at most once per budget every ten minutes. Audited.
pub(super) async fn alert_budget(
    runner: &super::GraphRunner,
    budget: &str,
    action: &PlannedAction,
    why: &str,
) {
    let Some(url) = runner.notify.get("default") else {
        return;
    };
    {
        let mut alerted = runner.safety.alerted.lock().await;
        if alerted
            .get(budget)
            .is_some_and(|at| at.elapsed() < ALERT_EVERY)
        {
            return;
        }
        alerted.insert(budget.to_string(), Instant::now());
    }
    let text = format!(
        "stanch: {why}. {} on {} (playbook {}) and further actions under this budget now wait for approval.",
        action.action,
        action
            .target
            .as_ref()
            .map_or("the tenant".to_string(), |t| t.to_string()),
        action.playbook
    );
    let body = serde_json::json!({"text": text, "budget": budget});
    // reqwest names the URL in its errors; this one is a secret.
    let sent = (runner.http.post(url.expose()).json(&body).send().await)
        .map_err(reqwest::Error::without_url);
    let event = stanch_core::audit::AuditEvent::new(
        chrono::Utc::now(),
        "budget.alert",
        format!("budget/{budget}"),
        serde_json::json!({"text": text, "status": sent.as_ref().ok().map(|r| r.status().as_u16()),
                           "error": sent.as_ref().err().map(|e| e.to_string())}),
    );
    if let Err(e) = runner.store.append_audit(&[event]).await {
        tracing::warn!(error = %e, "cannot record a budget alert");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::graph::{GraphError, GraphRequest, GraphResponse};

    /// A directory that fails `failures` times (transiently or not), then answers.
    struct Flaky {
        failures: u32,
        transient: bool,
        calls: AtomicU32,
    }

    impl Directory for Flaky {
        async fn read(&self, _: &str, _: GraphRequest) -> Result<GraphResponse, GraphError> {
            if self.calls.fetch_add(1, Ordering::Relaxed) < self.failures {
                return Err(GraphError::NotSent {
                    reason: "cannot write the audit trail: the database is unavailable".into(),
                    retry: self.transient,
                });
            }
            Ok(GraphResponse {
                status: 200,
                body: serde_json::json!({"id": "ID-1", "userPrincipalName": "c.lee@contoso.com"}),
                request_id: None,
                client_request_id: "test".into(),
                attempts: 1,
                elapsed: Duration::ZERO,
            })
        }
    }

    fn target() -> UserRef {
        UserRef {
            upn: Some("c.lee@contoso.com".into()),
            id: None,
        }
    }

    #[tokio::test]
    async fn a_directory_away_for_a_moment_delays_screening_instead_of_protecting_the_target() {
        let safety = Safety::new(SafetySettings::default(), vec![], vec![], vec![]);
        let directory = Flaky {
            failures: 2,
            transient: true,
            calls: AtomicU32::new(0),
        };
        let identity = safety
            .resolve_patiently(&directory, &target())
            .await
            .unwrap();
        assert_eq!(identity.key(), "id-1");
        assert_eq!(directory.calls.load(Ordering::Relaxed), 3);
    }

    #[tokio::test]
    async fn a_directory_that_refuses_for_good_is_not_asked_again() {
        let safety = Safety::new(SafetySettings::default(), vec![], vec![], vec![]);
        let directory = Flaky {
            failures: 1,
            transient: false,
            calls: AtomicU32::new(0),
        };
        let refused = safety.resolve_patiently(&directory, &target()).await;
        assert!(
            matches!(
                refused,
                Err(IdentityError::Unreadable {
                    transient: false,
                    ..
                })
            ),
            "{refused:?}"
        );
        assert_eq!(directory.calls.load(Ordering::Relaxed), 1);
    }
}
