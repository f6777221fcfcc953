//! YAML with locations: a parsed tree whose every node knows its file:line:col, the problems
//! found while decoding it, and the decoding helpers. Shared by the playbook language and the
//! config file, so both report mistakes the same way. A leaf.

pub mod decode;
pub mod diag;
mod node;

pub use node::*;
