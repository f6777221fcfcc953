//! The operator API under `/v1`: what the CLI can read and do, for people and automation signed
//! in with the tenant's identity provider (`oidc`). Every call needs a valid bearer token (401
//! otherwise); reads need any role, writes `responder` (or `admin`), decisions `approver` (or
//! `admin`) and still the step's approver list (403 otherwise). **Every write records the
//! authenticated identity** (name, object id, roles, token id) and a reason in the audit trail.
//!
//! `auth.rs` turns the `Authorization` header into a [`Caller`]; `page.rs` is cursor paging;
//! `reads.rs`, `writes.rs` and `playbooks.rs` are the handlers, which `http::openapi` routes and documents.

mod auth;
pub(super) mod export;
mod page;
pub(super) mod playbooks;
pub(super) mod reads;
pub(super) mod writes;

pub use auth::Caller;
