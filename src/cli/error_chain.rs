//! The CLI prints an error with its chain (`{err:#}`): every error that tells its cause in its
//! own message must not also hand the cause on as a `source`, or the cause is printed twice.

use crate::store::StoreError;

fn json_err(what: &'static str) -> impl FnOnce(serde_json::Error) -> StoreError {
    move |cause| StoreError::Json { what, cause }
}

/// A message that tells its cause does not also hand it on as a `source`, so a printed
/// chain (`{err:#}` at the CLI edge) names the cause once.
#[test]
fn a_cause_is_told_once() {
    let cause = || serde_json::from_str::<serde_json::Value>("{").unwrap_err();
    let errors: Vec<Box<dyn std::error::Error>> = vec![
        Box::new(json_err("a plan")(cause())),
        Box::new(crate::actions::SetupError::Audit(json_err("a plan")(
            cause(),
        ))),
        Box::new(crate::pipeline::RunError::from(std::io::Error::other(
            "disk gone",
        ))),
        Box::new(crate::schedule::PollError::from(
            json_err("a plan")(cause()),
        )),
    ];
    for err in errors {
        let mut chain = err.to_string();
        let mut source = err.source();
        while let Some(s) = source {
            chain = format!("{chain}: {s}");
            source = s.source();
        }
        let told = err.to_string();
        assert_eq!(chain, told, "the chain repeats a cause");
        assert!(
            told.contains("EOF") || told.contains("disk gone"),
            "the cause is told: {told}"
        );
    }
}
