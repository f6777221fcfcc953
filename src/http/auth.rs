//! Who may post detections: a bearer token, or an HMAC signature over the timestamp and body
//! (`X-Stanch-Source: <source>`, `X-Stanch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`),
//! with a replay window. Comparisons are constant-time.

use aws_lc_rs::constant_time;
use axum::http::HeaderMap;

use super::error::ApiError;
use super::settings::IntakeSettings;
use crate::signing::SignatureError;

pub const SOURCE_HEADER: &str = "x-stanch-source";
pub const SIGNATURE_HEADER: &str = "x-stanch-signature";

/// Checks the request's credentials; returns who it is (for the audit trail).
pub fn authenticate(
    settings: &IntakeSettings,
    headers: &HeaderMap,
    body: &[u8],
    now_unix: i64,
) -> Result<String, ApiError> {
    if let Some(value) = headers.get("authorization").and_then(|v| v.to_str().ok()) {
        let token = value.strip_prefix("Bearer ").ok_or_else(|| {
            ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
        })?;
        let known = settings.bearer_tokens.iter().any(|t| {
            constant_time::verify_slices_are_equal(t.expose().as_bytes(), token.as_bytes()).is_ok()
        });
        return if known {
            Ok("bearer".to_string())
        } else {
            Err(ApiError::unauthorized("unknown bearer token"))
        };
    }
    if let Some(signature) = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()) {
        let source = headers
            .get(SOURCE_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ApiError::unauthorized(format!("a signed request needs the {SOURCE_HEADER} header"))
            })?;
        let secret = settings.hmac_secrets.get(source).ok_or_else(|| {
            ApiError::unauthorized(format!(
                "no signing secret is configured for source `{source}`"
            ))
        })?;
        crate::signing::verify(
            secret.expose().as_bytes(),
            signature,
            body,
            now_unix,
            settings.replay_window_secs,
        )
        .map_err(|e| match e {
            SignatureError::Malformed => ApiError::unauthorized(format!(
                "{SIGNATURE_HEADER} must be `t=<unix seconds>,v1=<hex>`"
            )),
            other => ApiError::unauthorized(other.to_string()),
        })?;
        return Ok(format!("hmac:{source}"));
    }
    Err(ApiError::unauthorized(
        "send `Authorization: Bearer <token>` or a signed request",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::sign;
    use stanch_core::secret::SecretString;

    fn settings() -> IntakeSettings {
        IntakeSettings {
            bearer_tokens: vec![SecretString::new("tok-1")],
            hmac_secrets: [("darktrace".to_string(), SecretString::new("k3y"))].into(),
            ..IntakeSettings::default()
        }
    }

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.parse().unwrap(), v.parse().unwrap()))
            .collect()
    }

    #[test]
    fn bearer_and_signatures_are_checked() {
        let s = settings();
        let body = br#"{"id":"1"}"#;
        assert_eq!(
            authenticate(
                &s,
                &headers(&[("authorization", "Bearer tok-1".into())]),
                body,
                1000
            )
            .unwrap(),
            "bearer"
        );
        assert!(
            authenticate(
                &s,
                &headers(&[("authorization", "Bearer nope".into())]),
                body,
                1000
            )
            .is_err()
        );
        let signed = headers(&[
            (SOURCE_HEADER, "darktrace".into()),
            (SIGNATURE_HEADER, sign(b"k3y", 1000, body)),
        ]);
        assert_eq!(
            authenticate(&s, &signed, body, 1010).unwrap(),
            "hmac:darktrace"
        );
        let err = authenticate(&s, &signed, br#"{"id":"2"}"#, 1010).unwrap_err();
        assert_eq!(err.message, "signature does not match the body");
        let err = authenticate(&s, &signed, body, 1000 + 301).unwrap_err();
        assert!(err.message.contains("replay window"), "{}", err.message);
        let err = authenticate(&s, &HeaderMap::new(), body, 1000).unwrap_err();
        assert_eq!(err.code, "unauthorized");
    }
}
