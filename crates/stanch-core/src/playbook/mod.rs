//! Playbooks: YAML written by security engineers, compiled before anything runs.
//!
//! Loading is raw → compiled (as Vector does for its config): the YAML is parsed into a located
//! tree, then decoded by hand so that every mistake in a file is reported at once with
//! file:line:col. A file with any error yields no playbook, and a set with any error is refused.

mod compile;
mod compile_tests;
pub mod condition;
mod condition_compile;
pub mod fields;
mod load;
pub mod model;
mod params;
pub mod schema;
pub mod template;
mod test_campaign;

pub use crate::yaml::diag::{Diagnostic, Level};
pub use compile_tests::compile_approval;
pub use load::{LoadReport, PlaybookSet, load_paths, load_sources};
pub use model::{ExpectedAction, Param, Playbook, PlaybookTest, Step, Trigger};
pub use params::check_param;
