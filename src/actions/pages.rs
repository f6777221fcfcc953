//! Whole collections read page by page for an action, each page an audited call.

use serde_json::Value;

use super::failure::failure;
use super::lifecycle::ActionError;
use super::runner::GraphRunner;
use crate::graph::{GraphPath, PageRef};
use stanch_core::engine::PlannedAction;

/// Pages of one collection read before refusing to judge on part of it.
const MAX_PAGES: usize = 20;

/// Every item of a collection. A collection too long to read whole fails the action: an action
/// must not judge on part of the tenant (the rails of a block, the copies of a wave).
pub(super) async fn read_all(
    runner: &GraphRunner,
    action: &PlannedAction,
    path: GraphPath,
    what: &str,
) -> Result<Vec<Value>, ActionError> {
    let mut at = PageRef::First(path);
    let mut items = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = runner.call_page(action, &at).await?;
        items.extend(page.items);
        match page.next {
            Some(next) => at = next,
            None => return Ok(items),
        }
    }
    let why = format!("more than {MAX_PAGES} pages of {what}: they cannot all be checked");
    Err(failure(action, why, false))
}
