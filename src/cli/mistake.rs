//! A person's mistake (an id that does not exist, an argument that does not parse, a request the
//! action's state does not allow) exits 1, like other bad input; 2 stays for "stanch could not
//! do its job" (config unreadable, database unavailable), which a script must tell apart.

use crate::actions::RollbackError;
use crate::approvals::ApprovalError;
use crate::store::{DecisionError, ExpiryError};

/// What was wrong with what the person asked, said as to them.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Mistake(pub String);

/// Returns early with a [`Mistake`], formatted like `anyhow::bail!`.
macro_rules! mistake {
    ($($arg:tt)*) => {
        return Err(anyhow::Error::new($crate::cli::mistake::Mistake(format!($($arg)*))))
    };
}
pub(crate) use mistake;

/// A [`Mistake`] for an argument whose value did not parse: `--flag: why`.
pub(crate) fn bad_argument(flag: &str, why: impl std::fmt::Display) -> anyhow::Error {
    anyhow::Error::new(Mistake(format!("{flag}: {why}")))
}

/// Whether `err` is the person's mistake rather than stanch's failure.
pub(crate) fn is_mistake(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.is::<Mistake>()
            || e.downcast_ref::<RollbackError>()
                .is_some_and(|e| !matches!(e, RollbackError::Action(_) | RollbackError::Store(_)))
            || e.downcast_ref::<ExpiryError>()
                .is_some_and(|e| !matches!(e, ExpiryError::Store(_)))
            || e.downcast_ref::<DecisionError>()
                .is_some_and(|e| !matches!(e, DecisionError::Store(_)))
            || e.downcast_ref::<ApprovalError>().is_some_and(|e| {
                !matches!(
                    e,
                    ApprovalError::Store(_) | ApprovalError::Decision(DecisionError::Store(_))
                )
            })
    })
}
