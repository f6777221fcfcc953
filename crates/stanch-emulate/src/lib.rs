//! A local fake Microsoft 365 tenant that speaks the Graph v1.0 and Entra token protocols.
//!
//! Engineers point stanch's Graph client at it to run playbooks without a tenant, and the
//! integration tests use it as their Graph. It answers with the status codes and quirks of
//! `graph-contract.md` (revoke answers 200, rule PATCH answers the rule, …) rather than the
//! documented ideal, because those quirks are what the client has to survive.
//!
//! Layout: `fixture` (the tenant file), `token` (client credentials), `server` (HTTP, auth,
//! faults, request log), `routes` and one module per resource, `batch`, `faults`, `control`.

mod alerts;
mod batch;
mod control;
mod faults;
mod fixture;
mod groups;
mod paging;
mod policies;
mod risk;
mod routes;
mod rules;
mod server;
mod token;
mod users;
mod wire;

#[cfg(test)]
mod tests;

pub use faults::{Fault, FaultKind};
pub use fixture::{Certificate, Client, Fixture, Group, User};
pub use server::{LoggedRequest, RunningEmulator};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("cannot read tenant file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid tenant file {path} at line {line} column {column}")]
    Parse {
        path: PathBuf,
        line: usize,
        column: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("invalid tenant file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// The emulator's shared state; cheap to clone, every clone sees the same tenant.
#[derive(Clone)]
pub struct Emulator {
    shared: Arc<Shared>,
}

struct Shared {
    fixture: Fixture,
    tenant: Mutex<Fixture>,
    tokens: Mutex<HashMap<String, token::Token>>,
    log: Mutex<Vec<LoggedRequest>>,
    faults: Mutex<Vec<Fault>>,
    token_lifetime: Mutex<Duration>,
    /// Bodies posted to `/_emulator/webhook`, a stand-in notification channel.
    webhooks: Mutex<Vec<serde_json::Value>>,
}

/// A poisoned lock only means a handler panicked mid-request; the emulator keeps serving.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Emulator {
    pub fn new(fixture: Fixture) -> Emulator {
        let lifetime = Duration::from_secs(fixture.token_lifetime_seconds.unwrap_or(3599));
        Emulator {
            shared: Arc::new(Shared {
                tenant: Mutex::new(fixture.clone()),
                fixture,
                tokens: Mutex::new(HashMap::new()),
                log: Mutex::new(Vec::new()),
                faults: Mutex::new(Vec::new()),
                token_lifetime: Mutex::new(lifetime),
                webhooks: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn from_file(path: &Path) -> Result<Emulator, EmulatorError> {
        Ok(Emulator::new(Fixture::from_file(path)?))
    }

    pub fn router(&self) -> axum::Router {
        server::router(self.clone())
    }

    pub async fn serve(self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        axum::serve(listener, self.router()).await
    }

    /// Binds `addr` (port 0 picks a free port) and serves in a background task.
    pub async fn spawn(self, addr: &str) -> std::io::Result<RunningEmulator> {
        server::spawn(self, addr).await
    }

    /// A snapshot of the tenant as it is now, in fixture form.
    pub fn state(&self) -> serde_json::Value {
        serde_json::to_value(&*lock(&self.shared.tenant)).unwrap_or_default()
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).clone()
    }

    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).push(fault);
    }

    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    pub fn faults(&self) -> Vec<Fault> {
        lock(&self.shared.faults).clone()
    }

    /// Lifetime of tokens issued from now on (`expires_in`).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        *lock(&self.shared.token_lifetime) = lifetime;
    }

    /// Makes every issued token invalid at once.
    pub fn expire_tokens(&self) {
        lock(&self.shared.tokens).clear();
    }

    /// Back to the fixture: tenant, tokens, faults and log.
    pub fn reset(&self) {
        *lock(&self.shared.tenant) = self.shared.fixture.clone();
        self.expire_tokens();
        self.clear_faults();
        self.clear_requests();
        lock(&self.shared.webhooks).clear();
    }

    /// Messages received on `/_emulator/webhook`, oldest first.
    pub fn webhooks(&self) -> Vec<serde_json::Value> {
        lock(&self.shared.webhooks).clone()
    }

    fn record_webhook(&self, body: serde_json::Value) {
        lock(&self.shared.webhooks).push(body);
    }
}
