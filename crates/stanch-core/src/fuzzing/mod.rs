//! The bodies of the fuzz targets in `fuzz/` (cargo-fuzz, nightly), kept here so that a stable
//! test (`tests/fuzz_corpus.rs`) replays the committed corpus and every input that once crashed
//! through the very same code. Each takes arbitrary bytes, drives the API the service uses on
//! them, and panics when a promise breaks: no panic anywhere, and the invariants each target
//! states. Not an API: hidden from the docs, and nothing in the product calls it.

mod intake;
mod playbook;
mod signing;

pub use intake::{formats, jsonl};
pub use playbook::{playbook, template};
pub use signing::{link, signature, slack};

/// A target's body: it panics when a promise breaks.
pub type Target = fn(&[u8]);

/// Every target by the name of its `fuzz/fuzz_targets/<name>.rs` and its corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("jsonl", jsonl),
    ("formats", formats),
    ("playbook", playbook),
    ("template", template),
    ("slack", slack),
    ("link", link),
    ("signature", signature),
];

/// `data` cut at its first newline: a one-line header (templates, signature headers) and the
/// rest (a detection, a body).
fn split_first_line(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}
