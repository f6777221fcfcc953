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

/// What `setup legacy-auth` found and did (or, on a dry run, would do).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LegacyAuthSetup {
    /// The quarantine group's id (`None` on a dry run that would create it).
    pub group_id: Option<String>,
    pub group: Step,
    pub policy_id: Option<String>,
    pub policy: Step,
    /// The policy's state after the run: `enabledForReportingButNotEnforced` until enforced.
    pub policy_state: String,
}

/// What happened to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// It was there already and was left as it was.
    Found,
    Created,
    /// An existing report-only policy was switched to enforced (`--enforce`).
    Enforced,
    /// A dry run: it would be created (or enforced).
    WouldCreate,
    WouldEnforce,
}

/// How to run the setup.
#[derive(Debug, Clone, Copy, Default)]
pub struct SetupOptions {
    /// Read only: report what would be created.
    pub dry_run: bool,
    /// Create the policy enforced, or switch an existing report-only one on. Without it the
    /// policy starts in report-only mode, so its effect can be read in the sign-in logs first.
    pub enforce: bool,
}

const GROUP_NAME: &str = "stanch quarantine: legacy authentication blocked";
const GROUP_NICKNAME: &str = "stanch-quarantine";
const POLICY_NAME: &str = "stanch: block legacy authentication for quarantined accounts";
const REPORT_ONLY: &str = "enabledForReportingButNotEnforced";
const ENFORCED: &str = "enabled";

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

/// Creates what is missing of the quarantine group and its Conditional Access policy, finding
/// what an earlier run created (run twice, it creates nothing twice). The policy starts
/// report-only unless `enforce`; a dry run only reads.
pub async fn setup_legacy_auth(
    runner: &GraphRunner,
    options: SetupOptions,
) -> Result<LegacyAuthSetup, SetupError> {
    let excluded = protected_ids(runner).await?;
    let (group_id, group) = match find_group(runner).await? {
        Some(id) => (Some(id), Step::Found),
        None if options.dry_run => (None, Step::WouldCreate),
        None => (Some(create_group(runner).await?), Step::Created),
    };
    let wanted = if options.enforce {
        ENFORCED
    } else {
        REPORT_ONLY
    };
    let (policy_id, policy, policy_state) = match find_policy(runner).await? {
        Some((id, state)) if options.enforce && state != ENFORCED => {
            if options.dry_run {
                (Some(id), Step::WouldEnforce, state)
            } else {
                enforce_policy(runner, &id).await?;
                (Some(id), Step::Enforced, ENFORCED.to_string())
            }
        }
        Some((id, state)) => (Some(id), Step::Found, state),
        None if options.dry_run => (None, Step::WouldCreate, wanted.to_string()),
        None => {
            let group = group_id.as_deref().unwrap_or_default();
            let id = create_policy(runner, group, &excluded, wanted).await?;
            (Some(id), Step::Created, wanted.to_string())
        }
    };
    Ok(LegacyAuthSetup {
        group_id,
        group,
        policy_id,
        policy,
        policy_state,
    })
}

async fn find_group(runner: &GraphRunner) -> Result<Option<String>, SetupError> {
    let path = GraphPath::new(["groups"])
        .query("$filter", &format!("mailNickname eq '{GROUP_NICKNAME}'"))
        .query("$select", "id,displayName,mailNickname");
    let found = send(
        runner,
        "looking for the quarantine group",
        GraphRequest::get(path),
    )
    .await?;
    Ok(found["value"]
        .as_array()
        .and_then(|groups| groups.iter().find(|g| g["mailNickname"] == GROUP_NICKNAME))
        .and_then(|g| g["id"].as_str())
        .map(str::to_string))
}

async fn create_group(runner: &GraphRunner) -> Result<String, SetupError> {
    let group = json!({
        "displayName": GROUP_NAME,
        "mailEnabled": false,
        "mailNickname": GROUP_NICKNAME,
        "securityEnabled": true,
        "description": "Members cannot use legacy authentication; stanch adds compromised accounts here.",
    });
    let created = send(
        runner,
        "creating the quarantine group",
        GraphRequest::post(GraphPath::new(["groups"]), Some(group)).expecting(Expect::Created),
    )
    .await?;
    created["id"]
        .as_str()
        .map(str::to_string)
        .ok_or(SetupError::NoId("the quarantine group"))
}

fn policies() -> GraphPath {
    GraphPath::new(["identity", "conditionalAccess", "policies"])
}

/// The policy an earlier run created (by its name), and its state.
async fn find_policy(runner: &GraphRunner) -> Result<Option<(String, String)>, SetupError> {
    let path = policies().query("$select", "id,displayName,state");
    let found = send(
        runner,
        "looking for the Conditional Access policy",
        GraphRequest::get(path),
    )
    .await?;
    Ok(found["value"]
        .as_array()
        .and_then(|all| all.iter().find(|p| p["displayName"] == POLICY_NAME))
        .and_then(|p| {
            Some((
                p["id"].as_str()?.to_string(),
                p["state"].as_str().unwrap_or_default().to_string(),
            ))
        }))
}

async fn create_policy(
    runner: &GraphRunner,
    group_id: &str,
    excluded: &[String],
    state: &str,
) -> Result<String, SetupError> {
    let policy = json!({
        "displayName": POLICY_NAME,
        "state": state,
        "conditions": {
            "clientAppTypes": ["exchangeActiveSync", "other"],
            "applications": {"includeApplications": ["All"]},
            "users": {"includeGroups": [group_id], "excludeUsers": excluded},
        },
        "grantControls": {"operator": "OR", "builtInControls": ["block"]},
    });
    let created = send(
        runner,
        "creating the Conditional Access policy",
        GraphRequest::post(policies(), Some(policy)).expecting(Expect::Created),
    )
    .await?;
    created["id"]
        .as_str()
        .map(str::to_string)
        .ok_or(SetupError::NoId("the Conditional Access policy"))
}

async fn enforce_policy(runner: &GraphRunner, id: &str) -> Result<(), SetupError> {
    let step = "enforcing the Conditional Access policy";
    let path = policies()
        .opaque(id)
        .map_err(|cause| SetupError::Graph { step, cause })?;
    send(
        runner,
        step,
        GraphRequest::patch(path, json!({"state": ENFORCED})).expecting(Expect::NoContent),
    )
    .await?;
    Ok(())
}
