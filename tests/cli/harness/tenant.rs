//! The Graph emulator (`stanch::emulate`) serving the story's tenant, and what tests read back
//! from it.

use serde_json::{Value, json};
use stanch::emulate::{Emulator, RunningEmulator};

pub const TENANT: &str = "5d2e4a1c-6b7f-4e3a-9c1d-2f8e7a6b5c4d";
pub const CLIENT: &str = "6a1f7c3e-2d4b-4e8a-b5c6-0d9e8f7a6b51";
pub const SECRET: &str = "emu-secret-stanch-responder";
pub const QUARANTINE: &str = "9e3b1c2d-7a4f-4b6e-8d5c-1a2b3c4d5e01";

/// A running emulator, plus a webhook sink (`/_emulator/webhook`) for `notify`.
pub struct Tenant {
    pub running: RunningEmulator,
}

impl Tenant {
    /// Serves `fixture` on port 0 on `runtime` (which must outlive it).
    pub fn start(runtime: &tokio::runtime::Runtime, fixture: &std::path::Path) -> Tenant {
        let emulator = Emulator::from_file(fixture).expect("fixture");
        let running = runtime
            .block_on(emulator.spawn("127.0.0.1:0"))
            .expect("emulator");
        Tenant { running }
    }

    /// The config that points stanch at this tenant, in active mode.
    pub fn config(&self) -> String {
        let url = &self.running.url;
        format!(
            "mode: active\nprotected_accounts: [breakglass@contoso.com]\ngraph:\n  tenant_id: {TENANT}\n  client_id: {CLIENT}\n  client_secret: {SECRET}\n  graph_url: {url}\n  login_url: {url}\ncontainment:\n  quarantine_group_id: {QUARANTINE}\nnotify:\n  default: {url}/_emulator/webhook\n"
        )
    }

    pub fn state(&self) -> Value {
        self.running.emulator.state()
    }

    pub fn user(&self, upn: &str) -> Value {
        self.state()["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["userPrincipalName"] == upn)
            .cloned()
            .unwrap()
    }

    pub fn rules(&self, upn: &str) -> Vec<Value> {
        self.state()["inboxRules"][upn]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The object ids in the quarantine group.
    pub fn quarantined(&self) -> Vec<String> {
        let state = self.state();
        let group = state["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] == QUARANTINE)
            .unwrap()
            .clone();
        group["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m.as_str().unwrap().to_string())
            .collect()
    }

    /// Every Graph write so far, as `METHOD PATH STATUS`.
    pub fn writes(&self) -> Vec<String> {
        self.running
            .emulator
            .requests()
            .iter()
            .filter(|r| r.method != "GET" && r.path.starts_with("/v1.0"))
            .map(|r| format!("{} {} {}", r.method, r.path, r.status))
            .collect()
    }

    /// How many Graph API calls (reads and writes) there were.
    pub fn graph_calls(&self) -> usize {
        self.running
            .emulator
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/v1.0"))
            .count()
    }
}

/// The story's tenant plus `accounts` ordinary users `{name}{n}@contoso.com`, whose object ids
/// start with `id_block` (8 hex digits), written to `path`.
pub fn grown_fixture(path: &std::path::Path, name: &str, id_block: &str, accounts: usize) {
    let root = super::project_root();
    let text = std::fs::read_to_string(root.join("examples/tenant.json")).unwrap();
    let mut tenant: Value = serde_json::from_str(&text).unwrap();
    let users = tenant["users"].as_array_mut().unwrap();
    for n in 0..accounts {
        let upn = format!("{name}{n}@contoso.com");
        users.push(json!({
            "id": format!("{id_block}-0000-4000-8000-{n:012}"),
            "userPrincipalName": upn,
            "displayName": format!("{name} {n}"),
            "accountEnabled": true,
            "privileged": false,
            "signInSessionsValidFromDateTime": "2021-05-01T08:00:00Z",
            "mail": upn,
        }));
    }
    std::fs::write(path, tenant.to_string()).unwrap();
}
