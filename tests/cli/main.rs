//! Integration tests: the real `stanch` binary, a temporary SQLite file, the shipped playbooks.
//! One test binary (faster to link), a module per feature.

mod active;
mod approvals;
mod audit;
mod browser;
mod campaigns;
mod expiry;
mod helpers;
mod playbooks;
mod run;
mod safety;
mod serve;
mod slack;
mod stack;
mod teams;
mod webdriver;
