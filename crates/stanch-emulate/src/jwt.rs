//! RS256 JSON Web Tokens as Entra signs its access tokens: a key generated when the emulator
//! starts (never a committed one), published as a JWK, and compact-serialised signatures.
//!
//! Public so tests can mint tokens the emulator never issued (another key, a tampered
//! signature, `alg: none`) and see them refused.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::sync::Arc;

/// An RSA signing key with its key id (`kid`).
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pair: Arc<RsaKeyPair>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.kid)
    }
}

impl SigningKey {
    /// A fresh 2048-bit key.
    pub fn generate(kid: impl Into<String>) -> SigningKey {
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA key generation");
        SigningKey {
            kid: kid.into(),
            pair: Arc::new(pair),
        }
    }

    /// The public half as a JWKS entry.
    pub fn jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero()),
            "e": URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero()),
        })
    }

    /// `header.claims.signature`, the header being `{"typ":"JWT","alg":"RS256","kid":…}`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"typ": "JWT", "alg": "RS256", "kid": self.kid});
        self.sign_with_header(&header, claims)
    }

    /// Signs with any header (a test's wrong `kid`, say); the signature is always RS256.
    pub fn sign_with_header(&self, header: &Value, claims: &Value) -> String {
        let signed = format!("{}.{}", encode_part(header), encode_part(claims));
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .expect("RSA signing");
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// One part of a compact JWT: base64url (no padding) of the JSON.
pub fn encode_part(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// An unsigned token (`alg: none`), which no verifier may accept.
pub fn unsigned(claims: &Value) -> String {
    let header = json!({"typ": "JWT", "alg": "none"});
    format!("{}.{}.", encode_part(&header), encode_part(claims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};

    #[test]
    fn a_signature_verifies_with_the_published_jwk_and_not_after_tampering() {
        let key = SigningKey::generate("k1");
        let token = key.sign(&json!({"sub": "x"}));
        let jwk = key.jwk();
        let decode = |field: &str| {
            URL_SAFE_NO_PAD
                .decode(jwk[field].as_str().unwrap())
                .unwrap()
        };
        let (n, e) = (decode("n"), decode("e"));
        let public = RsaPublicKeyComponents { n: &n, e: &e };
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        assert!(
            public
                .verify(&RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &signature)
                .is_ok()
        );
        let tampered = format!("{signed}x");
        assert!(
            public
                .verify(&RSA_PKCS1_2048_8192_SHA256, tampered.as_bytes(), &signature)
                .is_err()
        );
        assert_eq!(jwk["kid"], "k1");
    }
}
