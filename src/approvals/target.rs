//! "The target cannot decide on its own containment", for every name the target has: a UPN, its
//! object id, in any case. Names that cannot be compared without the directory, when there is
//! no directory (or it cannot answer), refuse the decision: the compromised account must not
//! slip through because it was named differently.

use crate::actions::GraphRunner;
use crate::store::ActionRow;
use stanch_core::intake::{UserRef, is_object_id};

/// Whether `approver` is the account `row` acts on; an error says why that cannot be told.
pub(super) async fn is_the_target(
    directory: Option<&GraphRunner>,
    row: &ActionRow,
    approver: &str,
) -> Result<bool, String> {
    let approver = approver.trim();
    let target = UserRef {
        upn: row.target_upn.clone(),
        id: row.target_id.clone(),
    };
    if target.upn.is_none() && target.id.is_none() {
        return Ok(false);
    }
    if target.is(approver) {
        return Ok(true);
    }
    // The approver is named the way the target already is (UPN to UPN, id to id): done.
    let by_id = is_object_id(approver);
    if (by_id && target.id.is_some()) || (!by_id && target.upn.is_some()) {
        return Ok(false);
    }
    let cannot_tell = |why: String| {
        format!("cannot tell whether {approver} is the account this action targets ({why})")
    };
    let Some(runner) = directory else {
        return Err(cannot_tell(format!(
            "the action names it as `{target}` and there is no directory to ask"
        )));
    };
    let identities = &runner.safety().identities;
    let target = identities
        .resolve(runner, &target)
        .await
        .map_err(|e| cannot_tell(e.to_string()))?;
    match identities.lookup(runner, approver).await {
        Ok(approver) => Ok(approver.id == target.id),
        // Someone the directory does not know is not the target, who it does know.
        Err(crate::actions::IdentityError::Unknown(_)) => Ok(false),
        Err(e) => Err(cannot_tell(e.to_string())),
    }
}
