//! Integration tests: the real `stanch` binary, a temporary SQLite file, the shipped playbooks.
//! One test binary (faster to link), a module per feature, one harness for all (`harness`:
//! start there to write a test).

mod active;
mod approvals;
mod audit;
mod block_ips;
mod browser;
mod campaigns;
mod config;
mod doctor;
mod durability;
mod edge;
mod examples;
mod execution;
mod exit_codes;
mod expiry;
mod forward;
mod harness;
mod identity;
mod link_sign_in;
mod members;
mod operators;
mod persistence;
mod playbooks;
mod purge;
mod recovery;
mod replicas;
mod run;
mod safety;
mod schemathesis;
mod secrets;
mod serve;
mod setup;
mod slack;
mod teams;
