#![no_main]

// The body (and the invariants it asserts) is `stanch_core::fuzzing::template`, shared with the
// stable corpus replay in crates/stanch-core/tests/fuzz_corpus.rs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| stanch_core::fuzzing::template(data));
