//! Integration tests: the real `stanch` binary, a temporary SQLite file, the shipped playbooks.
//! One test binary (faster to link), a module per feature.

mod active;
mod audit;
mod campaigns;
mod helpers;
mod playbooks;
mod run;
mod serve;
