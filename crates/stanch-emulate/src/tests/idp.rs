//! The operator sign-in: discovery, JWKS, authorization code with PKCE, client credentials for
//! an `api://` resource; tokens verify against the published key and carry the fixture's roles.

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::{CLIENT, Harness, TENANT};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const VERIFIER: &str = "a-verifier-of-enough-length-for-pkce-0123456789";

fn challenge(verifier: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

async fn get_json(url: String) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// The claims of `token` once its signature verified against the JWKS.
async fn verified_claims(h: &Harness, token: &str) -> Value {
    let url = format!(
        "{}/{TENANT}/v2.0/.well-known/openid-configuration",
        h.emu.url
    );
    let discovery = get_json(url).await;
    assert_eq!(discovery["issuer"], format!("{}/{TENANT}/v2.0", h.emu.url));
    let jwks = get_json(discovery["jwks_uri"].as_str().unwrap().to_string()).await;
    let jwk = &jwks["keys"][0];
    let part = |s: &str| URL_SAFE_NO_PAD.decode(s).unwrap();
    let (n, e) = (
        part(jwk["n"].as_str().unwrap()),
        part(jwk["e"].as_str().unwrap()),
    );
    let (signed, signature) = token.rsplit_once('.').unwrap();
    RsaPublicKeyComponents { n: &n, e: &e }
        .verify(
            &RSA_PKCS1_2048_8192_SHA256,
            signed.as_bytes(),
            &part(signature),
        )
        .expect("signed by the published key");
    let header: Value = serde_json::from_slice(&part(signed.split('.').next().unwrap())).unwrap();
    assert_eq!(header["kid"], jwk["kid"]);
    serde_json::from_slice(&part(signed.split('.').nth(1).unwrap())).unwrap()
}

async fn authorize(h: &Harness, login_hint: Option<&str>) -> reqwest::Response {
    let mut url = format!(
        "{}/{TENANT}/oauth2/v2.0/authorize?client_id={CLIENT}&response_type=code&redirect_uri={REDIRECT}&scope=openid%20api://stanch/access_as_user&state=s-1&code_challenge={}&code_challenge_method=S256",
        h.emu.url,
        challenge(VERIFIER)
    );
    if let Some(hint) = login_hint {
        url.push_str(&format!("&login_hint={hint}"));
    }
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    no_redirects.get(url).send().await.unwrap()
}

async fn code_for(h: &Harness, upn: &str) -> String {
    let answer = authorize(h, Some(upn)).await;
    assert_eq!(answer.status(), 302);
    let location = answer.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with(&format!("{REDIRECT}?code=")),
        "{location}"
    );
    assert!(location.ends_with("&state=s-1"), "{location}");
    location
        .split("code=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string()
}

async fn redeem(h: &Harness, code: &str, verifier: &str) -> (u16, Value) {
    let answer = h
        .token_request(
            TENANT,
            &[
                ("grant_type", "authorization_code"),
                ("client_id", CLIENT),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier),
            ],
        )
        .await;
    (answer.status().as_u16(), answer.json().await.unwrap())
}

#[tokio::test]
async fn a_person_signs_in_with_a_code_and_pkce() {
    let h = Harness::start().await;
    let page = authorize(&h, None).await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(
        page.contains("f.okafor@contoso.com") && page.contains("approver"),
        "{page}"
    );

    let code = code_for(&h, "f.okafor@contoso.com").await;
    let (status, body) = redeem(&h, &code, VERIFIER).await;
    assert_eq!(status, 200, "{body}");
    let claims = verified_claims(&h, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["aud"], "api://stanch");
    assert_eq!(claims["tid"], TENANT);
    assert_eq!(claims["preferred_username"], "f.okafor@contoso.com");
    assert_eq!(claims["name"], "Femi Okafor");
    assert_eq!(claims["roles"], serde_json::json!(["approver"]));
    assert!(claims["oid"].as_str().is_some_and(|o| !o.is_empty()));
    assert!(claims["exp"].as_i64().unwrap() > claims["nbf"].as_i64().unwrap());
    let id = verified_claims(&h, body["id_token"].as_str().unwrap()).await;
    assert_eq!(id["aud"], CLIENT);

    let (status, body) = redeem(&h, &code, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_grant")),
        "a code is redeemed once"
    );
}

#[tokio::test]
async fn a_wrong_verifier_or_unknown_person_gets_nothing() {
    let h = Harness::start().await;
    let code = code_for(&h, "e.novak@contoso.com").await;
    let (status, body) = redeem(&h, &code, "another-verifier-entirely-0123456789").await;
    assert_eq!(status, 400);
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("Code_Verifier"),
        "{body}"
    );
    let (status, _) = redeem(&h, &code, VERIFIER).await;
    assert_eq!(status, 400, "a code that failed once is spent");
    let answer = authorize(&h, Some("b.jones@contoso.com")).await;
    assert_eq!(answer.status(), 400, "not an operator");
}

#[tokio::test]
async fn an_app_gets_its_operator_roles_for_an_api_resource() {
    let h = Harness::start().await;
    let answer = h
        .token_request(
            TENANT,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "6a1f7c3e-2d4b-4e8a-b5c6-0d9e8f7a6b53"),
                ("client_secret", "emu-secret-soc-automation"),
                ("scope", "api://stanch/.default"),
            ],
        )
        .await;
    assert_eq!(answer.status(), 200);
    let body: Value = answer.json().await.unwrap();
    let claims = verified_claims(&h, body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims["aud"], "api://stanch");
    assert_eq!(claims["idtyp"], "app");
    assert_eq!(claims["roles"], serde_json::json!(["responder"]));
    assert_eq!(claims["azp"], "6a1f7c3e-2d4b-4e8a-b5c6-0d9e8f7a6b53");
    // Graph's own scope still gets an opaque Graph token.
    assert!(h.token.starts_with("emu."), "{}", h.token);
}
