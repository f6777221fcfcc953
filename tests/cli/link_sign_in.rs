//! The signed approval link as two factors (issue 14): with `operators:` configured, the page
//! decides only for the approver the link names, signed in with the identity provider as that
//! person; anyone else, or no one, is refused and audited.

use serde_json::Value;

use crate::harness::{TestApp, wait_until};

const PLAYBOOK: &str = r#"version: 1
id: link-approvals
match: { name: "Test / Link approvals" }
steps:
  - id: disable
    action: disable_account
    approval: { approvers: [f.okafor@contoso.com], timeout: 1h, on_timeout: deny }
"#;

const PUBLIC: &str = "https://stanch.example.com";

/// A browser without redirects and with its cookies in our hands.
struct Browser {
    client: reqwest::Client,
    cookies: Vec<String>,
}

impl Browser {
    fn new() -> Browser {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Browser {
            client,
            cookies: Vec::new(),
        }
    }

    /// Sends the request with the cookies held; keeps what the answer sets. Status, the
    /// `Location` header and the body.
    fn send(&mut self, app: &TestApp, request: reqwest::RequestBuilder) -> (u16, String, String) {
        let cookie = self.cookies.join("; ");
        app.runtime.block_on(async {
            let answer = request.header("cookie", cookie).send().await.unwrap();
            for set in answer.headers().get_all("set-cookie") {
                let pair = set.to_str().unwrap().split(';').next().unwrap().to_string();
                let name = pair.split('=').next().unwrap().to_string();
                self.cookies.retain(|c| !c.starts_with(&format!("{name}=")));
                if !pair.ends_with('=') {
                    self.cookies.push(pair);
                }
            }
            let location = answer
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_string())
                .unwrap_or_default();
            (
                answer.status().as_u16(),
                location,
                answer.text().await.unwrap(),
            )
        })
    }

    fn get(&mut self, app: &TestApp, url: &str) -> (u16, String, String) {
        let request = self.client.get(url);
        self.send(app, request)
    }

    fn decide(&mut self, app: &TestApp, url: &str) -> (u16, String) {
        let request = self
            .client
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body("decision=approve&reason=checked+with+the+user+by+phone");
        let (status, _, body) = self.send(app, request);
        (status, body)
    }

    /// Signs in for the link at `page` as `upn`: the server's redirect to the identity
    /// provider, the provider's back to the server (the public address is this test's server).
    fn sign_in(&mut self, app: &TestApp, page: &str, upn: &str) -> (u16, String) {
        let (status, authorize, body) = self.get(app, &format!("{page}/sign-in"));
        assert_eq!(status, 302, "{body}");
        let hint = format!("login_hint={}", upn.replace('@', "%40"));
        let authorize = authorize.replace("login_hint=f.okafor%40contoso.com", &hint);
        let (status, back, body) = self.get(app, &authorize);
        assert_eq!(status, 302, "the provider signs {upn} in: {body}");
        let back = back.replace(PUBLIC, app.url("").trim_end_matches('/'));
        let (status, location, body) = self.get(app, &back);
        (status, if status == 303 { location } else { body })
    }
}

#[test]
fn a_link_decides_only_for_its_approver_signed_in_as_themselves() {
    let app = TestApp::builder()
        .tenant()
        .intake()
        .yaml("operators:\n  audience: api://stanch\n  refetch_interval: 0s\n")
        .playbook("links.yaml", PLAYBOOK)
        .link_secret("a-link-secret-of-enough-length")
        .public_url(PUBLIC)
        .approval_webhook("hook-secret")
        .serve()
        .build();
    let detection = r#"{"id":"ls-1","source":"soc","name":"Test / Link approvals","severity":"high","observed_at":"2021-06-01T10:05:00Z","user":{"upn":"b.jones@contoso.com"}}"#;
    let (status, answer) = app.post_detections(format!("{detection}\n"));
    assert_eq!(status, 202, "{answer}");
    wait_until(20, "no approval request with a link", || {
        app.hook()
            .verified()
            .iter()
            .any(|b| b["type"] == "approval.requested")
    });
    let bodies = app.hook().verified();
    let request = bodies
        .iter()
        .find(|b| b["type"] == "approval.requested")
        .unwrap();
    let link = request["request"]["links"][0]["url"].as_str().unwrap();
    let page = link.replace(PUBLIC, app.url("").trim_end_matches('/'));

    // The link alone shows the evidence and asks for the sign-in; it decides nothing.
    let mut browser = Browser::new();
    let (status, _, html) = browser.get(&app, &page);
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Sign in as f.okafor@contoso.com to decide"),
        "{html}"
    );
    assert!(
        !html.contains("name=\"decision\""),
        "no form before the sign-in: {html}"
    );
    let (status, html) = browser.decide(&app, &page);
    assert_eq!(status, 401, "{html}");

    // Another approver signing in with the same link is refused.
    let (status, html) = browser.sign_in(&app, &page, "g.muller@contoso.com");
    assert_eq!(status, 403, "{html}");
    assert!(
        html.contains("this link is for f.okafor@contoso.com"),
        "{html}"
    );
    let (status, _) = browser.decide(&app, &page);
    assert_eq!(status, 401, "still nobody signed in for it");

    // The approver it names, signed in: the form, and the decision counts.
    let (status, back) = browser.sign_in(&app, &page, "f.okafor@contoso.com");
    assert_eq!((status, back.as_str()), (303, link), "back to the page");
    let (status, _, html) = browser.get(&app, &page);
    assert_eq!(status, 200, "{html}");
    assert!(
        html.contains("Signed in as <strong>f.okafor@contoso.com</strong>"),
        "{html}"
    );
    let (status, html) = browser.decide(&app, &page);
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("was recorded"), "{html}");

    let refusals: Vec<Value> = app.audit_of("approval.refused");
    assert!(
        refusals
            .iter()
            .any(|r| r["why"] == "not signed in as the link's approver"),
        "{refusals:?}"
    );
    assert!(
        refusals
            .iter()
            .any(|r| r["actor"]["upn"] == "g.muller@contoso.com"),
        "the wrong approver's sign-in is audited with who it was: {refusals:?}"
    );
    let oid = app.tenant().user("f.okafor@contoso.com")["id"]
        .as_str()
        .unwrap()
        .to_lowercase();
    let approved = app.audit_of("approval.approved");
    assert_eq!(approved.len(), 1, "{approved:?}");
    assert_eq!(approved[0]["actor"]["object_id"], oid, "{approved:?}");
    assert_eq!(approved[0]["actor"]["authenticated"], true);
}
