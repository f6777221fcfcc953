//! The emulator's state: the tenant as it is now, the fixture it started from, issued tokens,
//! injected faults, the request log and received webhooks, behind one cheaply cloned handle.
//! What the HTTP side does with it lives in `server` (serving) and `pipeline` (per call).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use crate::faults::Fault;
use crate::fixture::{EmulatorError, Fixture};
use crate::jwt::SigningKey;
use crate::log::LoggedRequest;
use crate::token::{AuthCode, Token};

/// The emulator's shared state; cheap to clone, every clone sees the same tenant.
#[derive(Clone)]
pub struct Emulator {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    fixture: Fixture,
    pub(crate) tenant: Mutex<Fixture>,
    pub(crate) tokens: Mutex<HashMap<String, Token>>,
    pub(crate) log: Mutex<Vec<LoggedRequest>>,
    pub(crate) faults: Mutex<Vec<Fault>>,
    pub(crate) token_lifetime: Mutex<Duration>,
    /// Authorization codes of the operator sign-in, waiting to be redeemed.
    pub(crate) codes: Mutex<HashMap<String, AuthCode>>,
    /// The key the identity provider signs with, made on first use (RSA generation takes a
    /// moment, and most emulators never sign anything).
    signing_key: OnceLock<SigningKey>,
    /// Bodies posted to `/_emulator/webhook`, a stand-in notification channel.
    webhooks: Mutex<Vec<serde_json::Value>>,
}

/// A poisoned lock only means a handler panicked mid-request; the emulator keeps serving.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
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
                codes: Mutex::new(HashMap::new()),
                signing_key: OnceLock::new(),
                webhooks: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn from_file(path: &Path) -> Result<Emulator, EmulatorError> {
        Ok(Emulator::new(Fixture::from_file(path)?))
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

    pub fn inject(&self, mut fault: Fault) {
        fault.injected_at = Some(std::time::Instant::now());
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
        lock(&self.shared.codes).clear();
        self.clear_faults();
        self.clear_requests();
        lock(&self.shared.webhooks).clear();
    }

    /// The identity provider's signing key, published at `/{tenant}/discovery/v2.0/keys`.
    pub fn signing_key(&self) -> &SigningKey {
        self.shared
            .signing_key
            .get_or_init(|| SigningKey::generate(format!("emu-{}", uuid::Uuid::new_v4().simple())))
    }

    /// Messages received on `/_emulator/webhook`, oldest first.
    pub fn webhooks(&self) -> Vec<serde_json::Value> {
        lock(&self.shared.webhooks).clone()
    }

    pub(crate) fn record_webhook(&self, body: serde_json::Value) {
        lock(&self.shared.webhooks).push(body);
    }
}
