//! A local fake Microsoft 365 tenant that speaks the Graph v1.0 and Entra token protocols.
//!
//! Engineers point stanch's Graph client at it to run playbooks without a tenant, and the
//! integration tests use it as their Graph. It answers with the status codes and quirks of
//! `graph-contract.md` (revoke answers 200, rule PATCH answers the rule, …) rather than the
//! documented ideal, because those quirks are what the client has to survive.
//!
//! Layout, with imports pointing down the list only (no file imports one above it):
//! `server` (HTTP: the axum router, the token endpoint, serving), `control` (`/_emulator`),
//! `batch`, `pipeline` (faults, auth, routing and logging of one call), `routes`, one module per
//! resource (`alerts`, `policies`, `risk`, `groups`, `users`, `rules`, `mail`, `trace`,
//! `auth_methods`, `consents`, `devices`; `app_roles`, Graph's permissions and what a client's
//! service principal was granted), `select` (`$select`),
//! `emulator` (the shared state), `paging`, `faults`, `token` (client credentials), `idp` (the operator sign-in: discovery, JWKS, authorize), `idp_token` (its code grant and RS256 tokens for `api://` resources), `fixture` (the tenant file), `log`
//! (request-log entries) and `wire` (the transport-neutral request and response, Graph's error
//! shapes and helpers).

mod alerts;
mod app_roles;
mod auth_methods;
mod batch;
mod consents;
mod control;
mod defender;
mod devices;
mod emulator;
mod faults;
mod fixture;
mod groups;
mod idp;
mod idp_token;
pub mod jwt;
mod log;
mod mail;
mod paging;
mod pipeline;
mod policies;
mod risk;
mod routes;
mod rules;
mod select;
mod server;
mod token;
mod trace;
mod users;
mod wire;

#[cfg(test)]
mod tests;

pub use app_roles::{GRAPH_APP_ID, GRAPH_APP_ROLES};
pub use emulator::Emulator;
pub use faults::{Fault, FaultKind};
pub use fixture::{Certificate, Client, EmulatorError, Fixture, Group, User};
pub use jwt::SigningKey;
pub use log::LoggedRequest;
pub use server::RunningEmulator;
