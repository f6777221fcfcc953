//! What every Graph call goes through, a plain request or a `$batch` item alike: faults, the
//! bearer check, routing against the tenant, and the request log.

use axum::http::{Method, StatusCode};
use std::time::Instant;

use crate::emulator::{Emulator, lock};
use crate::log::LoggedRequest;
use crate::wire::{GraphRequest, GraphResponse};
use crate::{faults, routes};

impl Emulator {
    pub(crate) fn log(&self, entry: LoggedRequest) {
        lock(&self.shared.log).push(entry);
    }

    /// Faults, then the bearer check; returns the client id behind the token.
    pub(crate) async fn gate(
        &self,
        method: &Method,
        full_path: &str,
        bearer: Option<&str>,
    ) -> Result<String, GraphResponse> {
        let outcome = faults::apply(&mut lock(&self.shared.faults), method.as_str(), full_path);
        if outcome.expire_tokens {
            self.expire_tokens();
        }
        if !outcome.delay.is_zero() {
            tokio::time::sleep(outcome.delay).await;
        }
        if let Some(response) = outcome.response {
            return Err(response);
        }
        let unauthorized = |message: &str| {
            GraphResponse::error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                message,
            )
        };
        let Some(token) = bearer.filter(|t| !t.is_empty()) else {
            return Err(unauthorized("Access token is empty."));
        };
        let mut tokens = lock(&self.shared.tokens);
        match tokens.get(token) {
            Some(t) if t.expires > Instant::now() => Ok(t.client.clone()),
            Some(_) => {
                tokens.remove(token);
                Err(unauthorized(
                    "Lifetime validation failed, the token is expired.",
                ))
            }
            None => Err(unauthorized(
                "Access token validation failure. Invalid audience or unknown token.",
            )),
        }
    }

    pub(crate) fn route(&self, req: &GraphRequest) -> GraphResponse {
        routes::route(&mut lock(&self.shared.tenant), req)
    }
}
