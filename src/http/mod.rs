//! The HTTP API of `stanch serve`: durable detection intake, the approval page, Slack's
//! interactivity, health, readiness and metrics. It routes and renders; the work is the
//! pipeline's [`Service`] and the approvals' dispatcher.
//!
//! `app(state)` builds the router, kept apart from serving (as axum's examples do) so tests can
//! drive it directly. **A 202 is sent only after the detections are committed** with their plans
//! and audit records; the worker then carries out the actions.

mod approve;
mod auth;
mod error;
mod intake;
pub mod oidc;
mod openapi;
mod operator;
mod ops;
mod refusals;
mod replay;
mod server;
mod settings;
mod slack;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

pub use auth::{SIGNATURE_HEADER, SOURCE_HEADER};
pub use error::{ApiError, ErrorCode};
pub use ops::DoctorResult;
pub use server::serve;
pub use settings::{IntakeSettings, ServerSettings};

/// Clients sign intake requests the way [`crate::signing`] does.
pub use crate::signing::sign;

use crate::pipeline::Service;

/// Everything a request handler needs: the service it routes to, and who may post.
#[derive(Clone)]
pub struct AppState {
    pub service: Service,
    pub intake: Arc<IntakeSettings>,
    /// Signatures seen within the replay window.
    pub seen: Arc<replay::SeenSignatures>,
    /// Refusals of unauthenticated requests, audited in bounded space.
    pub refusals: Arc<refusals::Refusals>,
    /// The last `stanch doctor` result `serve` recorded, which `/readyz` reports.
    pub doctor: Arc<std::sync::RwLock<DoctorResult>>,
    /// Validates operator tokens (`operators:`); without it every operator call is a 401.
    pub operators: Option<Arc<oidc::Verifier>>,
}

impl AppState {
    pub fn new(service: Service, intake: IntakeSettings) -> AppState {
        AppState {
            service,
            intake: Arc::new(intake),
            seen: Arc::default(),
            refusals: Arc::default(),
            doctor: Arc::default(),
            operators: None,
        }
    }

    /// Lets the operator API accept tokens `verifier` validates.
    pub fn with_operators(mut self, verifier: oidc::Verifier) -> AppState {
        self.operators = Some(Arc::new(verifier));
        self
    }

    /// Records the aggregates of refusal windows as they close, until aborted.
    pub fn spawn_refusal_flusher(&self) -> tokio::task::JoinHandle<()> {
        let (refusals, store) = (self.refusals.clone(), self.service.store.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(refusals::WINDOW / 4);
            loop {
                tick.tick().await;
                refusals.flush(&store, false).await;
            }
        })
    }
}

pub fn app(state: AppState) -> Router {
    let (routes, document) = openapi::router().split_for_parts();
    let document = Arc::new(document);
    routes
        .route(
            "/openapi.json",
            get(move || async move { axum::Json(document.as_ref().clone()) }),
        )
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(axum::middleware::map_response(error::uniform_errors))
        .with_state(state)
}

/// The OpenAPI 3.1 document `/openapi.json` serves.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    openapi::document()
}
