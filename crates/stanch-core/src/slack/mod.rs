//! What stanch reads from Slack, pure: the `v0` request signature (`signature`) and the
//! interactivity payload of a button click with the button's value (`payload`). The Slack
//! channel and its endpoint (in the `stanch` crate) do the I/O around them.

pub mod payload;
pub mod signature;
