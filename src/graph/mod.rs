//! Microsoft Graph: a thin, typed client for the containment calls made by `actions`.
//!
//! Hand-written on reqwest rather than graph-rs-sdk (see the Graph contract): both base URLs are
//! plain configuration (national clouds, the emulator), certificate assertions are signed per
//! token request, retries are bounded, and identifiers from detections are validated before
//! they reach a URL.
//!
//! - [`GraphClient::send`] makes one call: token, `client-request-id`, retries on 429/503/504
//!   and transport errors, one token refresh on 401, per-mailbox concurrency limit.
//! - [`GraphClient::batch`] sends independent calls through `$batch`, 20 at a time.
//! - [`GraphPath`] is the only way to build a path; dynamic ids go through `id()`/`opaque()`.
//!
//! **Invariant:** the secret, the private key and bearer tokens never appear in logs or errors.

mod assertion;
mod batch;
mod client;
mod config;
mod directory;
mod error;
mod governor;
mod paging;
mod path;
mod response;
mod retry;
mod settings;
mod token;

#[cfg(test)]
mod tests;

pub use batch::BATCH_LIMIT;
pub use client::{GraphClient, GraphRequest, GraphResponse};
pub use config::{
    Cloud, Credential, DEFAULT_ACTION_DEADLINE, DEFAULT_CONCURRENCY, DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_MAX_RESPONSE_BYTES, GraphConfig, Secret,
};
pub use directory::DirectorySet;
pub use error::GraphError;
pub use paging::{Page, PageRef, Paged};
pub use path::GraphPath;
pub use reqwest::Method;
pub use response::Expect;
pub use settings::{CLOUDS, GraphSettings};
