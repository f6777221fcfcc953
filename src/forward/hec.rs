//! Audit records to a Splunk HTTP Event Collector: one POST per batch of JSON events, delivered
//! once HEC answers 200 with `"code": 0`.

use stanch_core::audit::AuditRecord;
use stanch_core::secret::SecretString;

use super::ForwardError;

/// `audit.forward.hec`.
#[derive(Debug, Clone, PartialEq)]
pub struct HecSettings {
    /// The collector's event endpoint, e.g. `https://splunk.example.com:8088/services/collector/event`.
    pub url: String,
    pub token: SecretString,
}

pub struct Hec {
    settings: HecSettings,
    http: reqwest::Client,
}

/// One HEC event: the record, its time as epoch seconds, and stanch's source type.
pub fn event(record: &AuditRecord) -> serde_json::Value {
    let time = chrono::DateTime::parse_from_rfc3339(&record.at)
        .map(|t| t.timestamp_micros() as f64 / 1e6)
        .unwrap_or_default();
    serde_json::json!({
        "time": time,
        "source": "stanch",
        "sourcetype": "stanch:audit",
        "event": super::record_json(record),
    })
}

impl Hec {
    pub fn new(settings: HecSettings) -> Result<Hec, ForwardError> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ForwardError::Config(format!("hec: {e}")))?;
        Ok(Hec { settings, http })
    }

    pub fn url(&self) -> &str {
        &self.settings.url
    }

    fn post(&self, body: String) -> reqwest::RequestBuilder {
        let token = format!("Splunk {}", self.settings.token.expose());
        self.http
            .post(&self.settings.url)
            .header("authorization", token)
            .header("content-type", "application/json")
            .body(body)
    }

    /// Posts no events: a collector that knows the token answers 400 "No data" (or 200);
    /// 401 and 403 say the token is refused.
    pub async fn probe(&self) -> Result<(), ForwardError> {
        let url = &self.settings.url;
        let answer = self
            .post(String::new())
            .send()
            .await
            .map_err(|e| ForwardError::Send(format!("hec {url}: {e}")))?;
        match answer.status().as_u16() {
            200..=299 | 400 => Ok(()),
            status => Err(ForwardError::Send(format!(
                "hec {url}: the collector answered {status}"
            ))),
        }
    }

    /// Posts `records`; `Ok` once the collector acknowledged them.
    pub async fn send(&self, records: &[AuditRecord]) -> Result<(), ForwardError> {
        let body: String = records
            .iter()
            .map(|r| event(r).to_string())
            .collect::<Vec<_>>()
            .join("\n");
        let url = &self.settings.url;
        let answer = self
            .post(body)
            .send()
            .await
            .map_err(|e| ForwardError::Send(format!("hec {url}: {e}")))?;
        let status = answer.status();
        let reply: serde_json::Value = answer.json().await.unwrap_or_default();
        if status.is_success() && reply["code"].as_i64().unwrap_or(0) == 0 {
            Ok(())
        } else {
            Err(ForwardError::Send(format!(
                "hec {url}: {status} {}",
                reply["text"].as_str().unwrap_or_default()
            )))
        }
    }
}
