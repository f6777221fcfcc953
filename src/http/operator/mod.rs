//! The operator API under `/v1`: what the CLI can read and do, for people and automation signed
//! in with the tenant's identity provider (`oidc`). Every call needs a valid bearer token (401
//! otherwise); reads need any role, writes `responder` (or `admin`), decisions `approver` (or
//! `admin`) and still the step's approver list (403 otherwise). **Every write records the
//! authenticated identity** (name, object id, roles, token id) and a reason in the audit trail.
//!
//! `auth.rs` turns the `Authorization` header into a [`Caller`]; `page.rs` is cursor paging;
//! `reads.rs` and `writes.rs` are the handlers.

mod auth;
mod page;
mod reads;
mod writes;

use axum::Router;
use axum::routing::{get, post};

pub use auth::Caller;

use super::AppState;

/// The operator routes. `/v1/detections/{format}` also takes intake's POST, so the router
/// adds the GET of that path to intake's route instead (see `http::app`).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/actions", get(reads::actions))
        .route("/v1/actions/{id}", get(reads::action))
        .route("/v1/actions/{id}/rollback", post(writes::rollback))
        .route("/v1/actions/{id}/retry", post(writes::retry))
        .route("/v1/actions/{id}/extend", post(writes::extend))
        .route("/v1/actions/{id}/confirm", post(writes::confirm))
        .route("/v1/approvals", get(reads::approvals))
        .route("/v1/approvals/{id}", get(reads::approval))
        .route("/v1/approvals/{id}/decision", post(writes::decide))
        .route("/v1/audit", get(reads::audit))
        .route("/v1/campaigns", get(reads::campaigns))
        .route("/v1/campaigns/{id}", get(reads::campaign))
        .route("/v1/me", get(reads::me))
}

/// `GET /v1/detections/{seq}` (shares its path with intake's `POST /v1/detections/{format}`).
pub use reads::detection;
/// `GET /v1/detections` (shares its path with intake's POST).
pub use reads::detections;
