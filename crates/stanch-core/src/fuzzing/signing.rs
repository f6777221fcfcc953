//! What is signed: Slack's requests and clicks, approval-link tokens, and stanch's own
//! `t=,v1=` body signatures (signed intake, webhook posts).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::split_first_line;
use crate::signing::link::{LinkClaims, LinkError, sign_link, verify_link};
use crate::signing::{self, SignatureError, mac};
use crate::slack::payload::{Click, button_value, parse_button_value};
use crate::slack::signature::{self as slack_signature, SignatureError as SlackError};

const KEY: &[u8] = b"fuzz-signing-secret";
/// The previous secret of a rotation, still accepted.
const OLD_KEY: &[u8] = b"fuzz-old-secret";
const OTHER_KEY: &[u8] = b"not-the-secret";
/// "Now" for every check: 2023-11-14T22:13:20Z.
const NOW: i64 = 1_700_000_000;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A Slack interactivity request: the first line is `<timestamp> <signature>` as the two
/// headers carry them, the rest the body. The v0 check accepts only what one of the configured
/// secrets signed within the window, a body signed now verifies with either secret of a
/// rotation and with no other, and one changed byte is refused; the click parser takes any
/// body without panicking and a button value it reads names an action and a full hash.
pub fn slack(data: &[u8]) {
    let (head, body) = split_first_line(data);
    let head = text(head);
    let (ts, sig) = head.split_once(' ').unwrap_or((&head, ""));
    let secrets = [KEY, OLD_KEY];
    if slack_signature::verify(&secrets, Some(ts), Some(sig), body, NOW).is_ok() {
        let at: i64 = ts.trim().parse().expect("a verified timestamp is a number");
        assert!(NOW.abs_diff(at) <= slack_signature::MAX_AGE_SECS);
        assert!(
            secrets
                .iter()
                .any(|k| slack_signature::sign(k, at, body).eq_ignore_ascii_case(sig.trim())),
            "verified a signature no secret made"
        );
    }
    let now = NOW.to_string();
    for key in secrets {
        let good = slack_signature::sign(key, NOW, body);
        assert_eq!(
            slack_signature::verify(&secrets, Some(&now), Some(&good), body, NOW),
            Ok(())
        );
        assert_eq!(
            slack_signature::verify(&[OTHER_KEY], Some(&now), Some(&good), body, NOW),
            Err(SlackError::Mismatch)
        );
        if let Some(tampered) = flipped(body) {
            assert_eq!(
                slack_signature::verify(&secrets, Some(&now), Some(&good), &tampered, NOW),
                Err(SlackError::Mismatch)
            );
        }
    }

    if let Ok(click) = Click::parse(body)
        && let Some((action, hash)) = parse_button_value(&click.value)
    {
        assert!(hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(
            parse_button_value(&button_value(action, hash)),
            Some((action, hash))
        );
    }
}

/// `bytes` with one byte changed (chosen by the bytes), if there is one to change.
fn flipped(bytes: &[u8]) -> Option<Vec<u8>> {
    let at = bytes
        .iter()
        .map(|b| *b as usize)
        .sum::<usize>()
        .checked_rem(bytes.len())?;
    let mut out = bytes.to_vec();
    out[at] ^= 0x01;
    Some(out)
}

/// An approval link: the input is tried as a token, and as the claims a token would carry
/// (signed here, so the claims parser behind the MAC is reached). A token verifies only with
/// the key that signed it, never once any one character is changed, and its claims signed anew
/// verify to the same claims; expired claims are refused.
pub fn link(data: &[u8]) {
    let token = text(data);
    if let Ok(claims) = verify_link(KEY, &token, NOW) {
        assert!(claims.e >= NOW, "an expired link verified");
        assert_eq!(
            verify_link(OTHER_KEY, &token, NOW),
            Err(LinkError::BadSignature)
        );
        let again = sign_link(KEY, &claims);
        assert_eq!(verify_link(KEY, &again, NOW), Ok(claims));
    }

    let payload = URL_SAFE_NO_PAD.encode(data);
    let signed = format!(
        "{payload}.{}",
        URL_SAFE_NO_PAD.encode(mac(KEY, payload.as_bytes()))
    );
    match verify_link(KEY, &signed, NOW) {
        Ok(claims) => {
            assert_eq!(
                verify_link(KEY, &sign_link(KEY, &claims), NOW),
                Ok(claims.clone())
            );
            let expired = LinkClaims {
                e: NOW - 1,
                ..claims
            };
            assert_eq!(
                verify_link(KEY, &sign_link(KEY, &expired), NOW),
                Err(LinkError::Expired)
            );
        }
        Err(e) => assert_ne!(e, LinkError::BadSignature, "a token this key signed"),
    }
    assert_eq!(
        verify_link(OTHER_KEY, &signed, NOW),
        Err(LinkError::BadSignature)
    );
    // A few places spread over the token, and its last character, whose low bits base64 leaves
    // unused: a decoder that ignored them would accept a second spelling of the same tag.
    let spread = (0..8).map(|i| i * signed.len() / 8);
    for at in spread.chain([signed.len() - 1]) {
        let mut tampered = signed.clone().into_bytes();
        tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).expect("ASCII stays ASCII");
        assert!(
            verify_link(KEY, &tampered, NOW).is_err(),
            "a token verified with character {at} changed: {tampered}"
        );
    }
}

/// stanch's `t=<unix>,v1=<hex>` signature header (the first line) over a body (the rest): it
/// verifies only when this key signed this body within the window, a body signed now verifies
/// and with another key or one changed byte does not, and `parse` agrees with `verify`.
pub fn signature(data: &[u8]) {
    let (head, body) = split_first_line(data);
    let header = text(head);
    const WINDOW: u64 = 300;
    match signing::verify(KEY, &header, body, NOW, WINDOW) {
        Ok(()) => {
            let (t, digest) = signing::parse(&header).expect("a verified header parses");
            assert!(NOW.abs_diff(t) <= WINDOW);
            assert_eq!(
                digest,
                mac(KEY, &[t.to_string().as_bytes(), b".", body].concat())
            );
        }
        Err(SignatureError::Malformed) => assert!(signing::parse(&header).is_none()),
        Err(_) => assert!(signing::parse(&header).is_some()),
    }
    let good = signing::sign(KEY, NOW, body);
    assert_eq!(signing::verify(KEY, &good, body, NOW, WINDOW), Ok(()));
    assert_eq!(
        signing::verify(OTHER_KEY, &good, body, NOW, WINDOW),
        Err(SignatureError::Mismatch)
    );
    if let Some(tampered) = flipped(body) {
        assert_eq!(
            signing::verify(KEY, &good, &tampered, NOW, WINDOW),
            Err(SignatureError::Mismatch)
        );
    }
}
