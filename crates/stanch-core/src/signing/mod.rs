//! HMAC-SHA256, the one primitive behind every signature stanch makes or checks: signed intake
//! requests and webhook posts (`t=<unix>,v1=<hex>` over `"<t>.<body>"`), approval links
//! (`link`) and Slack's `v0` request signatures (`crate::slack::signature`). A leaf: it knows no
//! HTTP and no approvals, and it is pure, so the fuzz targets reach it without a runtime.

pub mod link;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::util::{from_hex, to_hex};

fn keyed(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length (a long one is hashed first), so this cannot fail.
    Hmac::new_from_slice(secret).expect("HMAC accepts keys of any length")
}

/// The MAC of `message` under `secret`.
pub fn mac(secret: &[u8], message: &[u8]) -> Vec<u8> {
    let mut m = keyed(secret);
    m.update(message);
    m.finalize().into_bytes().to_vec()
}

/// Whether `tag` is the whole MAC of `message` under `secret`, compared in constant time (a
/// truncated tag is refused).
pub fn verify_mac(secret: &[u8], message: &[u8], tag: &[u8]) -> bool {
    let mut m = keyed(secret);
    m.update(message);
    m.verify_slice(tag).is_ok()
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
    fn hmac_sha256_matches_rfc_4231_and_refuses_truncated_tags() {
        // RFC 4231 test cases 1 and 6 (a key longer than the block is hashed first).
        let tag = mac(&[0x0b; 20], b"Hi There");
        assert_eq!(
            to_hex(&tag),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        let long = mac(
            &[0xaa; 131],
            b"Test Using Larger Than Block-Size Key - Hash Key First",
        );
        assert_eq!(
            to_hex(&long),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert!(verify_mac(&[0x0b; 20], b"Hi There", &tag));
        assert!(!verify_mac(&[0x0b; 20], b"Hi There", &tag[..16]));
        assert!(!verify_mac(&[0x0b; 20], b"Hi There", &[]));
        assert!(!verify_mac(&[0x0c; 20], b"Hi There", &tag));
    }

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
