//! The passive history `stanch report` replays.

use serde_json::Value;
use sqlx::Row;

use super::Store;
use super::error::{StoreError, query_err};
use stanch_core::report::PassiveAction;

impl Store {
    /// Passive actions whose detections were observed in `[since, until]` (RFC 3339 text;
    /// `None`: unbounded).
    pub async fn passive_actions(
        &self,
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<Vec<PassiveAction>, StoreError> {
        let what = "reading passive actions";
        let rows = sqlx::query(
            "SELECT a.playbook, a.kind, COALESCE(a.target_upn, a.target_id) AS target, a.gate, \
             a.detection_seq, d.observed_at FROM actions a JOIN detections d ON d.seq = a.detection_seq \
             WHERE a.mode = 'passive' AND d.observed_at >= $1 AND d.observed_at <= $2 ORDER BY a.pk",
        )
        .bind(since.unwrap_or("").to_string())
        .bind(until.unwrap_or("~").to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(query_err(what))?;
        rows.iter()
            .map(|row| {
                let gate: String = row.try_get("gate").map_err(query_err(what))?;
                let gate: Value = serde_json::from_str(&gate).unwrap_or(Value::Null);
                let observed: String = row.try_get("observed_at").map_err(query_err(what))?;
                Ok(PassiveAction {
                    playbook: row.try_get("playbook").map_err(query_err(what))?,
                    kind: row.try_get("kind").map_err(query_err(what))?,
                    target: row.try_get("target").map_err(query_err(what))?,
                    gate_reasons: gate["reasons"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|r| r.as_str().map(str::to_string))
                        .collect(),
                    refused: gate["refused"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|r| {
                            let text = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                            (text("range"), text("why"))
                        })
                        .collect(),
                    detection_seq: row.try_get("detection_seq").map_err(query_err(what))?,
                    observed_at: chrono::DateTime::parse_from_rfc3339(&observed)
                        .map(|t| t.to_utc())
                        .unwrap_or_default(),
                })
            })
            .collect()
    }
}
