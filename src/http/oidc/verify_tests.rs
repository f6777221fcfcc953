//! Each way a token can fail, against a local issuer that publishes one key.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::routing::get;
use serde_json::{Value, json};

use super::*;
use crate::emulate::jwt::{self, SigningKey};
use crate::http::oidc::{Role, RoleMap};

const TENANT: &str = "5d2e4a1c-6b7f-4e3a-9c1d-2f8e7a6b5c4d";
const AUDIENCE: &str = "api://stanch";

struct Issuer {
    url: String,
    key: SigningKey,
    /// The keys published; a test may rotate them.
    published: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<Mutex<usize>>,
}

async fn issuer() -> Issuer {
    let key = SigningKey::generate("k1");
    let published = Arc::new(Mutex::new(vec![key.jwk()]));
    let fetches = Arc::new(Mutex::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let issuer = format!("{url}/{TENANT}/v2.0");
    let (keys, count) = (published.clone(), fetches.clone());
    let jwks_uri = format!("{url}/{TENANT}/discovery/v2.0/keys");
    let app = axum::Router::new()
        .route(
            &format!("/{TENANT}/v2.0/.well-known/openid-configuration"),
            get(move || async move { Json(json!({"issuer": issuer, "jwks_uri": jwks_uri})) }),
        )
        .route(
            &format!("/{TENANT}/discovery/v2.0/keys"),
            get(move || async move {
                *count.lock().unwrap() += 1;
                Json(json!({"keys": keys.lock().unwrap().clone()}))
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    Issuer {
        url,
        key,
        published,
        fetches,
    }
}

fn verifier(issuer: &Issuer, refetch_interval_secs: u64) -> Verifier {
    let settings = OperatorSettings {
        tenant_id: TENANT.into(),
        audience: vec![AUDIENCE.into()],
        refetch_interval_secs,
        leeway_secs: 30,
        roles: RoleMap::default(),
        issuer: None,
        ..OperatorSettings::default()
    };
    Verifier::new(settings, &issuer.url)
}

fn claims(issuer: &Issuer) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": format!("{}/{TENANT}/v2.0", issuer.url),
        "aud": AUDIENCE,
        "tid": TENANT,
        "oid": "9F1C0D2E-0000-4000-8000-00000000A001",
        "name": "Folake Okafor",
        "preferred_username": "f.okafor@contoso.com",
        "roles": ["responder"],
        "uti": "uti-1",
        "iat": now, "nbf": now, "exp": now + 600,
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

#[tokio::test]
async fn a_good_token_proves_its_person_and_roles() {
    let issuer = issuer().await;
    let verifier = verifier(&issuer, 60);
    let identity = verifier
        .verify(&issuer.key.sign(&claims(&issuer)))
        .await
        .unwrap();
    assert_eq!(identity.name, "Folake Okafor");
    assert_eq!(identity.upn.as_deref(), Some("f.okafor@contoso.com"));
    assert_eq!(identity.object_id, "9f1c0d2e-0000-4000-8000-00000000a001");
    assert_eq!(identity.roles, [Role::Responder]);
    assert_eq!(identity.token_id.as_deref(), Some("uti-1"));
    assert!(!identity.app);
    let app = with(
        with(claims(&issuer), "name", Value::Null),
        "idtyp",
        json!("app"),
    );
    let app = with(app, "azp", json!("automation-client"));
    let identity = verifier.verify(&issuer.key.sign(&app)).await.unwrap();
    assert!(identity.app);
    assert_eq!(identity.name, "automation-client");
    assert_eq!(identity.upn, None, "an app has no UPN to approve with");
}

#[tokio::test]
async fn each_forgery_is_refused_for_its_own_reason() {
    let issuer = issuer().await;
    let verifier = verifier(&issuer, 60);
    let good = claims(&issuer);
    let now = chrono::Utc::now().timestamp();
    let other_key = SigningKey::generate("k1");
    let signed = issuer.key.sign(&good);
    let (body, signature) = signed.rsplit_once('.').unwrap();
    let tampered_claims = jwt::encode_part(&with(good.clone(), "roles", json!(["admin"])));
    let header = body.split('.').next().unwrap();
    let hs256 = format!(
        "{}.{}.c2ln",
        jwt::encode_part(&json!({"alg": "HS256", "kid": "k1"})),
        jwt::encode_part(&good)
    );
    let cases: Vec<(&str, String, OidcError)> = vec![
        (
            "expired",
            issuer
                .key
                .sign(&with(good.clone(), "exp", json!(now - 120))),
            OidcError::Expired,
        ),
        (
            "not yet valid",
            issuer
                .key
                .sign(&with(good.clone(), "nbf", json!(now + 600))),
            OidcError::NotYetValid,
        ),
        (
            "wrong audience",
            issuer
                .key
                .sign(&with(good.clone(), "aud", json!("api://other"))),
            OidcError::Audience,
        ),
        (
            "wrong issuer",
            issuer.key.sign(&with(
                good.clone(),
                "iss",
                json!("https://login.microsoftonline.com/x/v2.0"),
            )),
            OidcError::Issuer,
        ),
        (
            "wrong tenant",
            issuer
                .key
                .sign(&with(good.clone(), "tid", json!("another-tenant"))),
            OidcError::Tenant("another-tenant".into()),
        ),
        (
            "no object id",
            issuer.key.sign(&with(good.clone(), "oid", Value::Null)),
            OidcError::MissingClaim("oid"),
        ),
        (
            "unknown key",
            issuer
                .key
                .sign_with_header(&json!({"alg": "RS256", "kid": "k-unknown"}), &good),
            OidcError::UnknownKey("k-unknown".into()),
        ),
        (
            "another key under a published kid",
            other_key.sign(&good),
            OidcError::Signature,
        ),
        (
            "tampered claims",
            format!("{header}.{tampered_claims}.{signature}"),
            OidcError::Signature,
        ),
        (
            "alg none",
            jwt::unsigned(&good),
            OidcError::Algorithm("none".into()),
        ),
        ("HS256", hs256, OidcError::Algorithm("HS256".into())),
        (
            "no kid",
            issuer.key.sign_with_header(&json!({"alg": "RS256"}), &good),
            OidcError::NoKeyId,
        ),
        (
            "not a JWT",
            "abc.def".into(),
            OidcError::Malformed("expected three dot-separated parts".into()),
        ),
    ];
    for (what, token, expected) in cases {
        assert_eq!(verifier.verify(&token).await, Err(expected), "{what}");
    }
    assert!(
        verifier.verify(&signed).await.is_ok(),
        "the untouched token"
    );
}

#[tokio::test]
async fn an_unknown_kid_refetches_the_keys_at_most_once_per_interval() {
    let issuer = issuer().await;
    let rotated = SigningKey::generate("k2");
    let token = rotated.sign(&claims(&issuer));
    let verifier = verifier(&issuer, 3600);
    assert!(
        verifier
            .verify(&issuer.key.sign(&claims(&issuer)))
            .await
            .is_ok()
    );
    assert_eq!(*issuer.fetches.lock().unwrap(), 1);
    issuer.published.lock().unwrap().push(rotated.jwk());
    // Within the interval the cache is not refetched, however many unknown kids arrive.
    for _ in 0..3 {
        assert_eq!(
            verifier.verify(&token).await,
            Err(OidcError::UnknownKey("k2".into()))
        );
    }
    assert_eq!(*issuer.fetches.lock().unwrap(), 1);
    // With no interval, the rotated key is found by refetching.
    let eager = self::verifier(&issuer, 0);
    assert!(eager.verify(&token).await.is_ok());
    assert!(eager.verify(&token).await.is_ok(), "then cached");
    assert_eq!(*issuer.fetches.lock().unwrap(), 2);
}

#[tokio::test]
async fn an_unreachable_issuer_is_named() {
    let issuer = issuer().await;
    let settings = OperatorSettings {
        tenant_id: TENANT.into(),
        audience: vec![AUDIENCE.into()],
        ..OperatorSettings::default()
    };
    let verifier = Verifier::new(settings, "http://127.0.0.1:9");
    let err = verifier
        .verify(&issuer.key.sign(&claims(&issuer)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, OidcError::Keys(why) if why.contains("127.0.0.1:9")),
        "{err}"
    );
}
