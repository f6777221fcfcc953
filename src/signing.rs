//! HMAC-SHA256, the one primitive behind every signature stanch makes or checks: signed intake
//! requests and webhook posts (`t=<unix>,v1=<hex>` over `"<t>.<body>"`), approval links and
//! Slack's `v0` request signatures. A leaf: it knows no HTTP and no approvals.

use aws_lc_rs::hmac;

use stanch_core::util::{from_hex, to_hex};

/// The MAC of `message` under `secret`.
pub fn mac(secret: &[u8], message: &[u8]) -> Vec<u8> {
    hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), message)
        .as_ref()
        .to_vec()
}

/// Whether `tag` is the MAC of `message` under `secret`, compared in constant time.
pub fn verify_mac(secret: &[u8], message: &[u8], tag: &[u8]) -> bool {
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, secret), message, tag).is_ok()
}

fn timestamped(timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut message = timestamp.to_string().into_bytes();
    message.push(b'.');
    message.extend_from_slice(body);
    message
}

/// The `t=<unix>,v1=<hex>` signature of a body, as intake expects and webhooks send.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        to_hex(&mac(secret, &timestamped(timestamp, body)))
    )
}

/// Why a `t=,v1=` signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature must be `t=<unix seconds>,v1=<hex>`")]
    Malformed,
    #[error("signature timestamp is outside the {0}-second replay window")]
    Stale(u64),
    #[error("signature does not match the body")]
    Mismatch,
}

/// The timestamp and digest of a `t=<unix>,v1=<hex>` signature, if it has both.
pub fn parse(header: &str) -> Option<(i64, Vec<u8>)> {
    let mut timestamp = None;
    let mut digest = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => timestamp = value.parse::<i64>().ok(),
            Some(("v1", value)) => digest = from_hex(value),
            _ => {}
        }
    }
    Some((timestamp?, digest?))
}

/// Checks a `t=<unix>,v1=<hex>` signature of `body`, made within `window` seconds of `now_unix`.
pub fn verify(
    secret: &[u8],
    header: &str,
    body: &[u8],
    now_unix: i64,
    window: u64,
) -> Result<(), SignatureError> {
    let Some((timestamp, digest)) = parse(header) else {
        return Err(SignatureError::Malformed);
    };
    if now_unix.abs_diff(timestamp) > window {
        return Err(SignatureError::Stale(window));
    }
    if verify_mac(secret, &timestamped(timestamp, body), &digest) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_within_the_window_only() {
        let header = sign(b"k", 1000, b"body");
        assert_eq!(verify(b"k", &header, b"body", 1010, 300), Ok(()));
        assert_eq!(
            verify(b"k", &header, b"body", 2000, 300),
            Err(SignatureError::Stale(300))
        );
        assert_eq!(
            verify(b"k", &header, b"other", 1000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"x", &header, b"body", 1000, 300),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"k", "v1=00", b"body", 1000, 300),
            Err(SignatureError::Malformed)
        );
    }
}
