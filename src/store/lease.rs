//! Leases: how several replicas share one database without losing or repeating work.
//!
//! Every process that opens the store is a *replica* with its own id. An action it reserves
//! (still `pending`) or claims (`executing`, `rolling_back`) carries that id and a deadline, and
//! a heartbeat pushes the deadline forward while the process lives. A lapsed lease means its
//! owner died, hung or lost the database: any replica's rescuer then takes the action back
//! (see `recovery`), within about [`LeaseSettings::ttl`] of the death instead of River's or
//! Oban's hour. Named leases in the `leases` table elect the one replica that runs singleton
//! work (the scheduler) and serialize read-modify-writes of tenant-wide objects.
//!
//! A replica checks that it still holds an action's lease before each Graph write and before
//! recording its outcome, so one that wakes after its lease was taken over neither repeats the
//! write nor overwrites what the other replica recorded.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::Utc;
use sqlx::Row as _;

use super::Store;
use super::error::{StoreError, query_err};
use super::sql::timestamp;

/// The name of the lease held by the replica that runs scheduled jobs and approval requests.
pub const LEADER: &str = "leader";

/// How long a lease lasts without a heartbeat. `STANCH_LEASE_SECS` overrides the default
/// (15 s: a heartbeat every 5 s may miss two beats before others take over).
#[derive(Debug, Clone, Copy)]
pub struct LeaseSettings {
    pub ttl: Duration,
}

impl LeaseSettings {
    fn from_env() -> LeaseSettings {
        let secs = std::env::var("STANCH_LEASE_SECS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&s| s >= 1)
            .unwrap_or(15);
        LeaseSettings {
            ttl: Duration::from_secs(secs),
        }
    }

    /// How often the heartbeat and the rescuer run.
    pub fn beat(&self) -> Duration {
        (self.ttl / 3).max(Duration::from_millis(300))
    }
}

/// This process, as one replica among those sharing the database.
#[derive(Debug)]
pub struct Replica {
    pub id: String,
    pub settings: LeaseSettings,
    /// When (unix ms) the heartbeat last renewed this replica's leases; a replica whose
    /// heartbeat has not succeeded for a whole lease must assume it lost them.
    renewed_ms: AtomicI64,
    /// Claims made before this (unix ms) may have lapsed: two renewals were further apart than
    /// a lease (the process was frozen or cut off), so another replica may have rescued them.
    valid_since_ms: AtomicI64,
    /// Actions this replica took over from replicas whose lease lapsed (requeued or made
    /// `unverified`), since it started.
    pub(super) rescued: std::sync::atomic::AtomicU64,
}

impl Replica {
    pub(super) fn new() -> Arc<Replica> {
        let host = std::env::var("HOSTNAME")
            .ok()
            .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "host".into());
        let random = uuid::Uuid::new_v4().simple().to_string();
        Arc::new(Replica {
            id: format!("{host}:{}:{}", std::process::id(), &random[..8]),
            settings: LeaseSettings::from_env(),
            renewed_ms: AtomicI64::new(Utc::now().timestamp_millis()),
            valid_since_ms: AtomicI64::new(0),
            rescued: Default::default(),
        })
    }

    /// The deadline a lease taken or renewed now gets.
    pub fn lease_until(&self) -> String {
        timestamp(Utc::now() + chrono::Duration::from_std(self.settings.ttl).unwrap_or_default())
    }

    /// Whether this replica's leases were renewed recently enough to still hold (a process
    /// frozen past its lease, or cut off from the database, finds out here before it writes).
    pub fn leases_fresh(&self) -> bool {
        self.renewed_ago_ms() < self.settings.ttl.as_millis() as i64 - 500
    }

    /// How long ago (ms) the heartbeat last renewed this replica's leases.
    pub fn renewed_ago_ms(&self) -> i64 {
        Utc::now().timestamp_millis() - self.renewed_ms.load(Ordering::Relaxed)
    }

    /// How many actions this replica rescued since it started.
    pub fn rescued(&self) -> u64 {
        self.rescued.load(Ordering::Relaxed)
    }
}

impl Replica {
    /// Whether work claimed at `claimed_ms` (unix ms) is still this replica's: its leases are
    /// fresh and none lapsed since the claim.
    pub fn claim_still_valid(&self, claimed_ms: i64) -> bool {
        self.leases_fresh() && claimed_ms >= self.valid_since_ms.load(Ordering::Relaxed)
    }

    /// Whether a renewal at `at_ms` comes after a gap in which this replica's leases may have
    /// lapsed.
    fn gap_before(&self, at_ms: i64) -> bool {
        at_ms - self.renewed_ms.load(Ordering::Relaxed)
            >= self.settings.ttl.as_millis() as i64 - 500
    }

    fn renewed(&self, at_ms: i64) {
        if self.gap_before(at_ms) {
            self.valid_since_ms.fetch_max(at_ms, Ordering::Relaxed);
        }
        self.renewed_ms.store(at_ms, Ordering::Relaxed);
    }
}

impl Store {
    pub fn replica(&self) -> &Replica {
        &self.replica
    }

    /// Pushes the deadline of every lease this replica holds forward; what keeps its work its own.
    ///
    /// After a gap longer than a lease (the process was frozen or cut off), its claims are
    /// handed back instead: in-flight work from before the gap no longer counts as this
    /// replica's (`claim_still_valid`), so a claim renewed now would be held by nobody working
    /// on it, and no rescuer would ever take it. Lapsed, the rescue (this replica's own
    /// included) finishes it through the pre-checks.
    pub async fn renew_leases(&self) -> Result<(), StoreError> {
        let started = Utc::now().timestamp_millis();
        let until = self.replica.lease_until();
        if self.replica.gap_before(started) {
            let lapsed = timestamp(Utc::now() - chrono::Duration::seconds(1));
            let handed_back = self
                .execute_write(
                    sqlx::query(
                        "UPDATE actions SET lease_until = $1 WHERE lease_owner = $2 \
                 AND status IN ('executing', 'rolling_back')",
                    )
                    .bind(lapsed)
                    .bind(self.replica.id.clone()),
                )
                .await
                .map_err(query_err("handing back stale claims"))?;
            self.execute_write(
                sqlx::query(
                    "UPDATE actions SET lease_owner = NULL, lease_until = NULL \
                 WHERE lease_owner = $1 AND status = 'pending'",
                )
                .bind(self.replica.id.clone()),
            )
            .await
            .map_err(query_err("handing back stale reservations"))?;
            tracing::warn!(replica = %self.replica.id, claims = handed_back.rows_affected(),
                "this replica's heartbeat stopped for longer than a lease; its claims are handed back for rescue");
        } else {
            self.execute_write(
                sqlx::query(
                    "UPDATE actions SET lease_until = $1 WHERE lease_owner = $2 \
                 AND status IN ('pending', 'executing', 'rolling_back')",
                )
                .bind(until.clone())
                .bind(self.replica.id.clone()),
            )
            .await
            .map_err(query_err("renewing action leases"))?;
        }
        self.execute_write(
            sqlx::query("UPDATE leases SET until = $1 WHERE owner = $2")
                .bind(until)
                .bind(self.replica.id.clone()),
        )
        .await
        .map_err(query_err("renewing named leases"))?;
        self.replica.renewed(started);
        Ok(())
    }

    /// Takes (or keeps) the named lease `name` for this replica; true when it holds it now.
    pub async fn try_lease(&self, name: &str) -> Result<bool, StoreError> {
        let now = timestamp(Utc::now());
        let done = self
            .execute_write(
                sqlx::query(
                    "INSERT INTO leases (name, owner, until) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until \
             WHERE leases.owner = excluded.owner OR leases.until < $4",
                )
                .bind(name.to_string())
                .bind(self.replica.id.clone())
                .bind(self.replica.lease_until())
                .bind(now),
            )
            .await
            .map_err(query_err("taking a lease"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Takes the named lease `name`, waiting while another live replica holds it, for at most
    /// `wait`; false when it could not be had in time.
    pub async fn wait_for_lease(&self, name: &str, wait: Duration) -> Result<bool, StoreError> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            if self.try_lease(name).await? {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= until {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Gives up the named lease `name`, if this replica holds it.
    pub async fn release_lease(&self, name: &str) -> Result<(), StoreError> {
        self.execute_write(
            sqlx::query("DELETE FROM leases WHERE name = $1 AND owner = $2")
                .bind(name.to_string())
                .bind(self.replica.id.clone()),
        )
        .await
        .map_err(query_err("releasing a lease"))?;
        Ok(())
    }

    /// Gives back what this replica reserved but did not start, and its named leases (the
    /// leadership): a graceful stop hands its share to the others at once, not after a lease.
    pub async fn release_replica(&self) -> Result<(), StoreError> {
        self.execute_write(
            sqlx::query(
                "UPDATE actions SET lease_owner = NULL, lease_until = NULL, lane = NULL \
             WHERE lease_owner = $1 AND status = 'pending'",
            )
            .bind(self.replica.id.clone()),
        )
        .await
        .map_err(query_err("releasing this replica's reservations"))?;
        self.execute_write(
            sqlx::query("DELETE FROM leases WHERE owner = $1").bind(self.replica.id.clone()),
        )
        .await
        .map_err(query_err("releasing this replica's leases"))?;
        Ok(())
    }

    /// Who holds the named lease `name` now, if anyone does.
    pub async fn lease_holder(&self, name: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT owner FROM leases WHERE name = $1 AND until >= $2")
            .bind(name.to_string())
            .bind(timestamp(Utc::now()))
            .fetch_optional(&self.pool)
            .await
            .map_err(query_err("reading a lease"))?;
        row.map(|r| r.try_get("owner"))
            .transpose()
            .map_err(query_err("reading a lease"))
    }

    /// Whether this replica still holds the lease on the action carrying out `key`: checked
    /// before every Graph write it sends for that action. Refused as [`StoreError::LeaseLost`].
    pub async fn check_action_lease(&self, key: &str) -> Result<(), StoreError> {
        let lost = || StoreError::LeaseLost(format!("action `{key}`"));
        if !self.replica.leases_fresh() {
            return Err(lost());
        }
        let row = sqlx::query(
            // `mode = 'active'` (all a lease is ever on) lets it use the key's index: without
            // it, every write of every action scanned the whole table.
            "SELECT COUNT(*) AS n FROM actions WHERE idempotency_key = $1 AND mode = 'active' \
             AND lease_owner = $2 AND lease_until >= $3 AND status IN ('executing', 'rolling_back')",
        )
        .bind(key.to_string())
        .bind(self.replica.id.clone())
        .bind(timestamp(Utc::now()))
        .fetch_one(&self.pool)
        .await
        .map_err(query_err("checking an action's lease"))?;
        let held: i64 = row
            .try_get("n")
            .map_err(query_err("checking an action's lease"))?;
        if held == 0 { Err(lost()) } else { Ok(()) }
    }
}

impl Store {
    /// Ends every lease `owner` holds now, as if its lease had run out: for a replica known
    /// to be dead (a decommissioned host; a test that plays a crash), so its work is rescued
    /// at the next pass instead of after a lease.
    pub async fn lapse_leases_of(&self, owner: &str) -> Result<(), StoreError> {
        let past = "2000-01-01T00:00:00.000000Z";
        self.execute_write(
            sqlx::query("UPDATE actions SET lease_until = $1 WHERE lease_owner = $2")
                .bind(past)
                .bind(owner.to_string()),
        )
        .await
        .map_err(query_err("ending a replica's action leases"))?;
        self.execute_write(
            sqlx::query("UPDATE leases SET until = $1 WHERE owner = $2")
                .bind(past)
                .bind(owner.to_string()),
        )
        .await
        .map_err(query_err("ending a replica's named leases"))?;
        Ok(())
    }

    #[cfg(test)]
    pub(crate) async fn lapse_leases(&self) {
        let me = self.replica.id.clone();
        self.lapse_leases_of(&me).await.unwrap();
    }

    /// As if this replica's heartbeat had last renewed `ms` ago (frozen, or cut off).
    #[cfg(test)]
    pub(crate) fn pretend_silent_for(&self, ms: i64) {
        let at = Utc::now().timestamp_millis() - ms;
        self.replica.renewed_ms.store(at, Ordering::Relaxed);
    }
}

/// Keeps this replica's leases alive while the pool is open. A failed beat is logged; leases
/// that lapse because of it are rescued by other replicas, and this one stops writing for them.
pub(super) fn spawn_heartbeat(store: Store) {
    tokio::spawn(async move {
        // The first beat one interval after opening: a short-lived CLI command writes nothing.
        let beat = store.replica.settings.beat();
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + beat, beat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if store.pool.is_closed() {
                break;
            }
            if let Err(e) = store.renew_leases().await {
                if store.pool.is_closed() {
                    break;
                }
                tracing::warn!(replica = %store.replica.id, error = %e, "cannot renew this replica's leases");
            }
        }
    });
}
