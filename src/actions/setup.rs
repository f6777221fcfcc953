//! One-time tenant setup for the standing-policy model: a quarantine group, and a Conditional
//! Access policy that blocks legacy authentication for its members. Audited like any action.

use serde_json::{Value, json};

use super::runner::GraphRunner;
use crate::graph::{Expect, GraphError, GraphPath, GraphRequest};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{step}: {cause}")]
    Graph {
        step: &'static str,
        cause: GraphError,
    },
    #[error("cannot write the audit trail, so nothing more was sent: {0}")]
    Audit(StoreError),
    #[error("{0}: Graph answered without an id")]
    NoId(&'static str),
}

// By hand, not `#[from]`: the message already tells the cause, so it is not also a `source`.
impl From<StoreError> for SetupError {
    fn from(e: StoreError) -> Self {
        SetupError::Audit(e)
    }
}

pub struct LegacyAuthSetup {
    pub group_id: String,
    pub policy_id: String,
}

const SUBJECT: &str = "setup/legacy-auth";

async fn send(
    runner: &GraphRunner,
    step: &'static str,
    request: GraphRequest,
) -> Result<Value, SetupError> {
    runner
        .audited(SUBJECT, json!(step), request)
        .await?
        .map(|r| r.body)
        .map_err(|cause| SetupError::Graph { step, cause })
}

/// The object ids of the configured protected accounts, for the policy to exclude. One the
/// directory does not have is skipped; one that cannot be read stops the setup before anything is
/// created, since a policy made without it would not spare it.
async fn protected_ids(runner: &GraphRunner) -> Result<Vec<String>, SetupError> {
    let step = "resolving a protected account";
    let mut excluded = Vec::new();
    for account in &runner.protected {
        let path = (GraphPath::new(["users"]).id(account))
            .map_err(|cause| SetupError::Graph { step, cause })?;
        let request = GraphRequest::get(path.query("$select", "id"));
        match runner.audited(SUBJECT, json!(step), request).await? {
            Ok(user) => excluded.extend(user.body["id"].as_str().map(str::to_string)),
            Err(cause) if cause.is_not_found() => {}
            Err(cause) => return Err(SetupError::Graph { step, cause }),
        }
    }
    Ok(excluded)
}

pub async fn setup_legacy_auth(runner: &GraphRunner) -> Result<LegacyAuthSetup, SetupError> {
    let excluded = protected_ids(runner).await?;
    let group = json!({
        "displayName": "stanch quarantine: legacy authentication blocked",
        "mailEnabled": false,
        "mailNickname": "stanch-quarantine",
        "securityEnabled": true,
        "description": "Members cannot use legacy authentication; stanch adds compromised accounts here.",
    });
    let created = send(
        runner,
        "creating the quarantine group",
        GraphRequest::post(GraphPath::new(["groups"]), Some(group)).expecting(Expect::Created),
    )
    .await?;
    let group_id = created["id"]
        .as_str()
        .ok_or(SetupError::NoId("the quarantine group"))?
        .to_string();
    let policy = json!({
        "displayName": "stanch: block legacy authentication for quarantined accounts",
        "state": "enabled",
        "conditions": {
            "clientAppTypes": ["exchangeActiveSync", "other"],
            "applications": {"includeApplications": ["All"]},
            "users": {"includeGroups": [group_id], "excludeUsers": excluded},
        },
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
    });
    let path = GraphPath::new(["identity", "conditionalAccess", "policies"]);
    let policy = send(
        runner,
        "creating the Conditional Access policy",
        GraphRequest::post(path, Some(policy)).expecting(Expect::Created),
    )
    .await?;
    let policy_id = policy["id"]
        .as_str()
        .ok_or(SetupError::NoId("the Conditional Access policy"))?
        .to_string();
    Ok(LegacyAuthSetup {
        group_id,
        policy_id,
    })
}
