//! `GET /v1/audit/export`: the whole trail as JSON lines, the records exactly as `stanch audit
//! export` writes them, so `stanch audit verify --file` checks a download offline. Streamed
//! page by page: a trail of millions of records is never held in memory.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::super::AppState;
use super::super::error::{ApiError, ErrorBody};
use super::Caller;
use super::reads::store_error;
use crate::http::oidc::Permission;

const PAGE: i64 = 5_000;

#[utoipa::path(get, path = "/v1/audit/export", tag = "operators", security(("operator_token" = [])), summary = "The whole audit trail as JSON lines (what `stanch audit export` writes)", responses((status = 200, description = "One record per line", body = String, content_type = "application/x-ndjson"), (status = 401, description = "No token, or one the issuer did not sign for this API", body = ErrorBody), (status = 403, description = "The token's roles do not allow this", body = ErrorBody), (status = 503, description = "The database cannot answer now", body = ErrorBody)))]
pub async fn audit_export(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Response, ApiError> {
    caller.may(&state, Permission::Read, "api").await?;
    let store = state.service.store.clone();
    // Records still waiting for the sequencer are part of what was written.
    store.seal_pending().await.map_err(store_error)?;
    let pages = futures_util::stream::unfold(Some(0_i64), move |after| {
        let store = store.clone();
        async move {
            let after = after?;
            match store.audit_records_after(after, PAGE).await {
                Ok(page) if page.is_empty() => None,
                Ok(page) => {
                    let next = page.last().map(|r| r.seq);
                    let mut lines = Vec::new();
                    for record in &page {
                        if serde_json::to_writer(&mut lines, record).is_err() {
                            return Some((
                                Err(std::io::Error::other("cannot encode a record")),
                                None,
                            ));
                        }
                        lines.push(b'\n');
                    }
                    Some((Ok(Bytes::from(lines)), next))
                }
                // Cut short: the client sees the body end early, never a record half-written.
                Err(e) => Some((Err(std::io::Error::other(e.to_string())), None)),
            }
        }
    });
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(pages),
    )
        .into_response())
}
