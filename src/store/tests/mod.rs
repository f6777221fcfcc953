//! Store tests. The shared suites in `suite` run against every backend; `sqlite` and `postgres`
//! provide fresh databases.

mod campaigns;
mod expiry;
pub(crate) mod fixtures;
mod guard;
mod leases;
mod operator;
mod postgres;
mod recovery;
mod sequencer;
mod spelling;
mod sqlite;
mod suite;
mod tamper;
