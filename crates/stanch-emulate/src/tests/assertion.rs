//! Certificate credentials: client assertion claims and RS256 signatures.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::{CLIENT, Harness, TENANT, fixture};
use crate::{Certificate, Client, Emulator};

const ASSERTION: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn sign(key: &KeyPair, claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT","x5t":"dGh1bWI"}"#);
    let signed = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
    let mut signature = vec![0; key.public_modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signed.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

async fn error_code(h: &Harness, client: &str, assertion: &str) -> Option<u64> {
    let response = h
        .token_request(
            TENANT,
            &[
                ("client_id", client),
                ("client_assertion_type", ASSERTION),
                ("client_assertion", assertion),
                ("scope", "https://graph.microsoft.com/.default"),
                ("grant_type", "client_credentials"),
            ],
        )
        .await;
    let body: Value = response.json().await.unwrap();
    body["error_codes"][0].as_u64()
}

#[tokio::test]
async fn assertion_claims_are_checked() {
    let h = Harness::start().await;
    let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let aud = format!("{}/{TENANT}/oauth2/v2.0/token", h.emu.url);
    let now = chrono::Utc::now().timestamp();
    let expired = json!({"aud": aud, "iss": CLIENT, "sub": CLIENT, "jti": "1", "nbf": now - 1200, "exp": now - 600});
    assert_eq!(
        error_code(&h, CLIENT, &sign(&key, &expired)).await,
        Some(700024)
    );
    // graph-rs-sdk writes dates as strings; Entra refuses them.
    let strings =
        json!({"aud": aud, "iss": CLIENT, "sub": CLIENT, "jti": "1", "nbf": "1", "exp": "2"});
    assert_eq!(
        error_code(&h, CLIENT, &sign(&key, &strings)).await,
        Some(50027)
    );
    // The responder app has no certificate, so a well-formed assertion still fails.
    let fine =
        json!({"aud": aud, "iss": CLIENT, "sub": CLIENT, "jti": "1", "nbf": now, "exp": now + 600});
    assert_eq!(
        error_code(&h, CLIENT, &sign(&key, &fine)).await,
        Some(700027)
    );
}

#[tokio::test]
async fn signed_assertion_gets_a_token_and_a_forged_one_does_not() {
    let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let other = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let mut tenant = fixture();
    let cert_client = "7b2e8d4f-3e5c-4f9b-a6d7-1e0f9a8b7c63";
    tenant.clients.push(Client {
        id: cert_client.into(),
        display_name: Some("stanch-responder-cert".into()),
        secret: None,
        certificate: Some(Certificate {
            thumbprint: Some("dGh1bWI".into()),
            public_key: Some(STANDARD.encode(key.public_key().as_ref())),
        }),
        privileged: false,
        withheld_permissions: Vec::new(),
        operator_roles: Vec::new(),
    });
    let emu = Emulator::new(tenant).spawn("127.0.0.1:0").await.unwrap();
    let h = Harness {
        emu,
        http: reqwest::Client::new(),
        token: String::new(),
    };
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"aud": format!("{}/contoso.com/oauth2/v2.0/token", h.emu.url),
        "iss": cert_client, "sub": cert_client, "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "exp": now + 600});
    let wrong_tenant = error_code(&h, cert_client, &sign(&key, &claims)).await;
    assert_eq!(
        wrong_tenant,
        Some(50027),
        "aud names contoso.com but the call used the tenant id"
    );
    let claims = json!({"aud": h.emu.token_url(), "iss": cert_client, "sub": cert_client,
        "jti": uuid::Uuid::new_v4().to_string(), "nbf": now, "exp": now + 600});
    assert_eq!(
        error_code(&h, cert_client, &sign(&other, &claims)).await,
        Some(700027)
    );
    assert_eq!(
        error_code(&h, cert_client, &sign(&key, &claims)).await,
        None
    );
}
