//! Signed approval links: `token = base64url(claims) "." base64url(HMAC-SHA256(secret, claims))`.
//! A token names one action (by id and hash), one approver and an expiry; it is short-lived, and
//! single-use because an approver decides on an action once. Opening it (GET) only shows the
//! evidence; deciding takes a POST, so link scanners that follow URLs approve nothing.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    /// The action's id.
    pub a: i64,
    /// The action's hash when the link was made.
    pub h: String,
    /// The approver the link was sent to.
    pub u: String,
    /// Expiry, unix seconds.
    pub e: i64,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is malformed")]
    Malformed,
    #[error("the link's signature is not valid")]
    BadSignature,
    #[error("the link expired")]
    Expired,
}

pub fn sign_link(secret: &[u8], claims: &LinkClaims) -> String {
    let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
    let tag = super::mac(secret, payload.as_bytes());
    format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
}

pub fn verify_link(secret: &[u8], token: &str, now_unix: i64) -> Result<LinkClaims, LinkError> {
    let (payload, tag) = token.split_once('.').ok_or(LinkError::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| LinkError::Malformed)?;
    if !super::verify_mac(secret, payload.as_bytes(), &tag) {
        return Err(LinkError::BadSignature);
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| LinkError::Malformed)?;
    let claims: LinkClaims = serde_json::from_slice(&bytes).map_err(|_| LinkError::Malformed)?;
    if now_unix > claims.e {
        return Err(LinkError::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_verify_expire_and_resist_tampering() {
        let claims = LinkClaims {
            a: 7,
            h: "abc".into(),
            u: "f.okafor@contoso.com".into(),
            e: 1000,
        };
        let token = sign_link(b"s3cr3t", &claims);
        assert_eq!(verify_link(b"s3cr3t", &token, 999), Ok(claims.clone()));
        assert_eq!(
            verify_link(b"s3cr3t", &token, 1001),
            Err(LinkError::Expired)
        );
        assert_eq!(
            verify_link(b"other", &token, 999),
            Err(LinkError::BadSignature)
        );
        let forged = sign_link(b"other", &LinkClaims { a: 8, ..claims });
        let spliced = format!(
            "{}.{}",
            forged.split_once('.').unwrap().0,
            token.split_once('.').unwrap().1
        );
        assert_eq!(
            verify_link(b"s3cr3t", &spliced, 999),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            verify_link(b"s3cr3t", "nonsense", 999),
            Err(LinkError::Malformed)
        );
    }
}
