//! Certificate credentials: a freshly signed RS256 client assertion for every token request.
//!
//! graph-rs-sdk signs one assertion at build time, so its first refresh sends an expired one
//! (AADSTS700024); signing per request avoids that.

use std::path::Path;

use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;

use super::GraphError;

/// Lifetime of an assertion; the token service accepts at most 10 minutes.
const ASSERTION_LIFETIME_SECS: i64 = 5 * 60;

/// An RSA key and the thumbprint of its certificate, loaded once at start-up.
pub(crate) struct CertificateSigner {
    key: RsaKeyPair,
    /// base64url SHA-1 of the certificate DER, the JWT `x5t` header.
    x5t: String,
}

impl std::fmt::Debug for CertificateSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateSigner")
            .field("x5t", &self.x5t)
            .finish_non_exhaustive()
    }
}

impl CertificateSigner {
    pub(crate) fn load(cert_path: &Path, key_path: &Path) -> Result<CertificateSigner, GraphError> {
        let cert = CertificateDer::from_pem_file(cert_path).map_err(|e| {
            GraphError::Config(format!(
                "cannot read a PEM certificate from {}: {e}",
                cert_path.display()
            ))
        })?;
        // Deliberately no `{e}` detail for the key: errors must not echo key material.
        let key = PrivateKeyDer::from_pem_file(key_path).map_err(|_| {
            GraphError::Config(format!(
                "cannot read a PEM private key from {}",
                key_path.display()
            ))
        })?;
        let key = match &key {
            PrivateKeyDer::Pkcs8(der) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()),
            PrivateKeyDer::Pkcs1(der) => RsaKeyPair::from_der(der.secret_pkcs1_der()),
            _ => {
                return Err(GraphError::Config(format!(
                    "private key in {} is not an RSA key",
                    key_path.display()
                )));
            }
        }
        .map_err(|e| {
            GraphError::Config(format!(
                "private key in {} is not a usable RSA key: {e}",
                key_path.display()
            ))
        })?;
        Ok(CertificateSigner {
            key,
            x5t: thumbprint(cert.as_ref()),
        })
    }

    /// A signed JWT for `token_url`, with a fresh `jti` and a short validity window.
    pub(crate) fn assertion(&self, token_url: &str, client_id: &str) -> Result<String, GraphError> {
        let now = chrono::Utc::now().timestamp();
        let header = json!({"alg": "RS256", "typ": "JWT", "x5t": self.x5t});
        let claims = json!({
            "aud": token_url,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| GraphError::Token {
                url: token_url.to_string(),
                status: None,
                error: "signing_failed".into(),
                description: "cannot sign the client assertion with the configured key".into(),
                codes: Vec::new(),
            })?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

fn thumbprint(cert_der: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, cert_der))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
    use serde_json::Value;
    use std::path::PathBuf;

    pub(crate) fn testdata(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/graph/testdata")
            .join(name)
    }

    /// Thumbprint of testdata/cert.pem, computed with the openssl CLI when the pair was made.
    pub(crate) const TEST_X5T: &str = "m1xWrLltpM0B-NwucMMrprj6FLs";

    /// Checks the signature with the test key's public half and returns (header, claims).
    pub(crate) fn verify(jwt: &str) -> (Value, Value) {
        let pem = std::fs::read(testdata("key.pem")).unwrap();
        let der = PrivateKeyDer::from_pem_slice(&pem).unwrap();
        let PrivateKeyDer::Pkcs8(der) = der else {
            panic!("test key is not PKCS#8")
        };
        let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der()).unwrap();
        let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, key.public_key().as_ref());
        let (input, signature) = jwt.rsplit_once('.').unwrap();
        public
            .verify(
                input.as_bytes(),
                &URL_SAFE_NO_PAD.decode(signature).unwrap(),
            )
            .expect("assertion signature verifies");
        let (header, claims) = input.split_once('.').unwrap();
        let decode = |part: &str| -> Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
        };
        (decode(header), decode(claims))
    }

    #[test]
    fn assertion_is_signed_and_fresh() {
        let signer = CertificateSigner::load(&testdata("cert.pem"), &testdata("key.pem")).unwrap();
        let url = "https://login.microsoftonline.us/t/oauth2/v2.0/token";
        let first = signer.assertion(url, "app-1").unwrap();
        let second = signer.assertion(url, "app-1").unwrap();
        let (header, claims) = verify(&first);
        assert_eq!(header["alg"], "RS256");
        assert_eq!(header["x5t"], TEST_X5T);
        assert_eq!(claims["aud"], url);
        assert_eq!(claims["iss"], "app-1");
        assert_eq!(claims["sub"], "app-1");
        let (nbf, exp) = (
            claims["nbf"].as_i64().unwrap(),
            claims["exp"].as_i64().unwrap(),
        );
        assert!(exp > nbf && exp - nbf <= 600);
        assert_ne!(claims["jti"], verify(&second).1["jti"]);
    }

    #[test]
    fn key_may_share_the_certificate_file_or_be_pkcs1() {
        let combined = testdata("combined.pem");
        let signer = CertificateSigner::load(&combined, &combined).unwrap();
        assert_eq!(signer.x5t, TEST_X5T);
        let pkcs1 = CertificateSigner::load(&testdata("cert.pem"), &testdata("key-pkcs1.pem"));
        verify(&pkcs1.unwrap().assertion("u", "c").unwrap());
    }

    #[test]
    fn missing_files_are_config_errors() {
        let err = CertificateSigner::load(&testdata("nope.pem"), &testdata("key.pem")).unwrap_err();
        assert!(matches!(err, GraphError::Config(_)), "{err}");
        let err =
            CertificateSigner::load(&testdata("cert.pem"), &testdata("cert.pem")).unwrap_err();
        assert!(err.to_string().contains("private key"), "{err}");
    }
}
