//! Slack's v0 request signature: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:" ts ":"
//! body)>` with `X-Slack-Request-Timestamp: ts`. Checked over the exact bytes received, before
//! anything is parsed, against every configured secret (a rotation keeps the old one valid), in
//! constant time, and only within a replay window around now.

/// How far a request's timestamp may be from now, either way (Slack's own recommendation).
pub const MAX_AGE_SECS: u64 = 300;
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
pub const SIGNATURE_HEADER: &str = "x-slack-signature";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the {0} header is missing")]
    Missing(&'static str),
    #[error("the {0} header is malformed")]
    Malformed(&'static str),
    #[error(
        "the request timestamp is {0} s from now, outside the {MAX_AGE_SECS}-second replay window"
    )]
    Stale(u64),
    #[error("the Slack signature does not match the body with any configured signing secret")]
    Mismatch,
}

/// Checks a request's signature headers against `secrets` at `now_unix`.
pub fn verify(
    secrets: &[&[u8]],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_unix: i64,
) -> Result<(), SignatureError> {
    let timestamp = timestamp.ok_or(SignatureError::Missing(TIMESTAMP_HEADER))?;
    let signature = signature.ok_or(SignatureError::Missing(SIGNATURE_HEADER))?;
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SignatureError::Malformed(TIMESTAMP_HEADER))?;
    // The window comes first: a correctly signed old request is exactly what a replay looks like.
    let age = now_unix.abs_diff(ts);
    if age > MAX_AGE_SECS {
        return Err(SignatureError::Stale(age));
    }
    let tag = signature
        .trim()
        .strip_prefix("v0=")
        .and_then(crate::util::from_hex)
        // An HMAC-SHA256 tag is 32 bytes; anything else is malformed, not merely wrong.
        .filter(|tag| tag.len() == 32)
        .ok_or(SignatureError::Malformed(SIGNATURE_HEADER))?;
    let message = base_string(ts, body);
    let matches = secrets
        .iter()
        .any(|secret| crate::signing::verify_mac(secret, &message, &tag));
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The header value Slack would send for `body` at `timestamp` (for tests and tools).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = crate::signing::mac(secret, &base_string(timestamp, body));
    format!("v0={}", crate::util::to_hex(&tag))
}

fn base_string(timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut message = format!("v0:{timestamp}:").into_bytes();
    message.extend_from_slice(body);
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    // Slack's published example (api.slack.com/authentication/verifying-requests-from-slack).
    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const TS: i64 = 1531420618;
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn check(secrets: &[&[u8]], sig: &str, body: &[u8], now: i64) -> Result<(), SignatureError> {
        verify(secrets, Some(&TS.to_string()), Some(sig), body, now)
    }

    #[test]
    fn slacks_published_vector() {
        assert_eq!(sign(SECRET, TS, BODY), SIGNATURE);
        assert_eq!(check(&[SECRET], SIGNATURE, BODY, TS), Ok(()));
        assert_eq!(check(&[SECRET], SIGNATURE, BODY, TS + 300), Ok(()));
        assert_eq!(check(&[SECRET], SIGNATURE, BODY, TS - 300), Ok(()));
    }

    #[test]
    fn both_secrets_of_a_rotation_are_accepted() {
        let new: &[u8] = b"the-new-secret";
        assert_eq!(check(&[new, SECRET], SIGNATURE, BODY, TS), Ok(()));
        assert_eq!(check(&[SECRET, new], SIGNATURE, BODY, TS), Ok(()));
        let by_new = sign(new, TS, BODY);
        assert_eq!(check(&[new, SECRET], &by_new, BODY, TS), Ok(()));
        assert_eq!(
            check(&[b"another"], SIGNATURE, BODY, TS),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn stale_timestamps_are_refused_even_when_signed() {
        assert_eq!(
            check(&[SECRET], SIGNATURE, BODY, TS + 301),
            Err(SignatureError::Stale(301))
        );
        assert_eq!(
            check(&[SECRET], SIGNATURE, BODY, TS - 3600),
            Err(SignatureError::Stale(3600))
        );
    }

    #[test]
    fn tampered_bodies_and_bad_headers_are_refused() {
        let mut tampered = BODY.to_vec();
        tampered[BODY.len() - 1] ^= 1;
        assert_eq!(
            check(&[SECRET], SIGNATURE, &tampered, TS),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(&[SECRET], SIGNATURE, &BODY[..BODY.len() - 1], TS),
            Err(SignatureError::Mismatch)
        );
        let other_ts = verify(&[SECRET], Some("1531420619"), Some(SIGNATURE), BODY, TS);
        assert_eq!(other_ts, Err(SignatureError::Mismatch));
        assert_eq!(
            check(&[SECRET], "v1=a2114d57", BODY, TS),
            Err(SignatureError::Malformed(SIGNATURE_HEADER))
        );
        assert_eq!(
            check(&[SECRET], &SIGNATURE[..SIGNATURE.len() - 2], BODY, TS),
            Err(SignatureError::Malformed(SIGNATURE_HEADER))
        );
        assert_eq!(
            verify(&[SECRET], None, Some(SIGNATURE), BODY, TS),
            Err(SignatureError::Missing(TIMESTAMP_HEADER))
        );
        assert_eq!(
            verify(&[SECRET], Some("soon"), Some(SIGNATURE), BODY, TS),
            Err(SignatureError::Malformed(TIMESTAMP_HEADER))
        );
        assert_eq!(
            check(&[], SIGNATURE, BODY, TS),
            Err(SignatureError::Mismatch),
            "no secret, no match"
        );
    }
}
