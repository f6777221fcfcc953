//! The Teams channel: an Adaptive Card posted to a Workflows webhook ("When a Teams webhook
//! request is received").
//!
//! A Workflows webhook is one-way: `Action.Submit` clicks on a card it posted never reach us, so
//! decisions are made on the signed approval page (`http/approve.rs`), which ends in the same
//! `decide` as every channel. A signed link decides as the person it names, so it is never put
//! on the card in the shared channel (everyone there could use everyone's link): the shared card
//! carries the evidence, and each approver's link goes out alone, on a card of its own, through
//! the personal webhook (`personal_webhook_url`: a flow that posts the card in the chat of the
//! message's `recipient`). Without one, people decide on the stanch host. The flow cannot edit
//! the card it posted either, so an outcome is a short follow-up card in the shared channel.
//!
//! The card builder is separate from the transport and takes a [`Buttons`] choice, so a future
//! bot channel (which can receive clicks) can send the same card with `Action.Execute` buttons.

use reqwest::Client;
use serde_json::{Value, json};

use super::outcome::Outcome;
use super::request::ApprovalRequest;
use super::settings::TeamsSettings;
use crate::store::Delivery;
use stanch_core::secret::SecretString;
use stanch_core::vocab::{ApprovalState, Decision};

/// Adaptive Card schema version: 1.4 is the first with `Action.Execute` and what Teams renders
/// on every client.
const CARD_VERSION: &str = "1.4";
/// A fact value longer than this is cut: a Teams message is limited to about 28 KB, and
/// parameters or detection fields can be long.
const MAX_VALUE_CHARS: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum TeamsError {
    /// The request failed before an answer; the message never contains the URL (a secret).
    #[error("the Teams webhook is unreachable: {0}")]
    Unreachable(String),
    #[error("the Teams webhook answered {status}{}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Refused { status: u16, code: Option<String> },
}

/// How people act on a request card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buttons {
    /// For a shared channel: no link at all, and a note on how people decide (`personal`: their
    /// links went to them personally).
    Shared { personal: bool },
    /// One `Action.OpenUrl` per signed link in the request, to the approval page; the only kind
    /// of button that works on a card posted by a webhook. For a personal chat only: a request
    /// narrowed to the recipient's own link ([`ApprovalRequest::for_one`]).
    OpenLinks,
    /// In-card `Action.Execute` buttons with a reason field, for a bot that receives
    /// `adaptiveCard/action` invokes (its data names the action and the hash it was shown).
    Execute,
}

/// The Adaptive Card asking for a decision: the summary, the evidence as a FactSet, and the
/// buttons.
pub fn request_card(request: &ApprovalRequest, buttons: Buttons) -> Value {
    let facts: Vec<Value> = request
        .facts()
        .into_iter()
        .map(|(title, value)| json!({"title": title, "value": plain(&value)}))
        .collect();
    let mut body = vec![
        json!({"type": "TextBlock", "text": plain(&request.summary()), "weight": "Bolder",
               "size": "Medium", "wrap": true}),
        json!({"type": "FactSet", "facts": facts}),
    ];
    let mut actions = Vec::new();
    match buttons {
        Buttons::Shared { personal: true } => body.push(note(
            "Each approver was sent a personal approval link in a chat of their own; links are never posted here, where anyone could use them. Opening it decides nothing: approve or deny there, with a reason.",
        )),
        Buttons::Shared { personal: false } => body.push(note(&format!(
            "Approval links are personal and never posted in a shared channel. Decide on the stanch host: stanch approvals approve {id} --as YOUR-UPN --reason \"...\" (or deny {id}); or have an operator send you your own link: stanch approvals link {id} --for YOUR-UPN.",
            id = request.action
        ))),
        Buttons::OpenLinks if request.links.is_empty() => {
            body.push(note(&format!(
                "Signed approval links are not configured on this stanch server. Decide on its host: stanch approvals approve {id} --as YOUR-UPN --reason \"...\" (or deny {id}).",
                id = request.action
            )));
        }
        Buttons::OpenLinks => {
            body.push(note(
                "Each button opens the evidence on the stanch approval page for that person only. Opening it decides nothing: approve or deny there, with a reason.",
            ));
            actions.extend(request.links.iter().map(|link| {
                json!({"type": "Action.OpenUrl", "title": format!("Review as {}", link.approver),
                       "url": link.url})
            }));
        }
        Buttons::Execute => {
            body.push(
                json!({"type": "Input.Text", "id": "reason", "label": "Reason",
                             "isRequired": true, "errorMessage": "A decision needs a reason"}),
            );
            let data = json!({"action": request.action, "action_hash": request.action_hash});
            actions.push(
                json!({"type": "Action.Execute", "verb": Decision::Approve, "title": "Approve",
                                "style": "positive", "data": data}),
            );
            actions.push(
                json!({"type": "Action.Execute", "verb": Decision::Deny, "title": "Deny",
                                "style": "destructive", "data": data}),
            );
        }
    }
    card(body, actions)
}

/// The follow-up card with how a request ended; `subject` names the action.
pub fn outcome_card(subject: &str, outcome: &Outcome) -> Value {
    let color = match outcome.state {
        ApprovalState::Approved => "Good",
        ApprovalState::Denied | ApprovalState::TimedOut => "Attention",
        ApprovalState::Waiting | ApprovalState::Escalated => "Warning",
    };
    card(
        vec![
            json!({"type": "TextBlock", "text": plain(&outcome.text), "weight": "Bolder",
                   "color": color, "wrap": true}),
            json!({"type": "TextBlock", "text": plain(subject), "isSubtle": true, "wrap": true}),
        ],
        Vec::new(),
    )
}

/// A card for one person, through the personal webhook: the message names its `recipient`, the
/// flow posts it in that person's chat.
pub fn personal_message(recipient: &str, card: Value) -> Value {
    let mut body = message(card);
    body["recipient"] = json!(recipient);
    body
}

/// What a Workflows webhook accepts: a message with the card as its one attachment.
pub fn message(card: Value) -> Value {
    json!({"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive",
        "contentUrl": null,
        "content": card,
    }]})
}

fn card(body: Vec<Value>, actions: Vec<Value>) -> Value {
    let mut card = json!({
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
    });
    if !actions.is_empty() {
        card["actions"] = Value::Array(actions);
    }
    card
}

fn note(text: &str) -> Value {
    json!({"type": "TextBlock", "text": plain(text), "isSubtle": true, "wrap": true})
}

/// Text shown as is. Teams renders Markdown in TextBlocks and facts, and the evidence carries
/// attacker-influenced strings (detection names, rule names): unescaped, `[Approve](https://…)`
/// in a detection would become a disguised link in the approver's card. Only link brackets (and
/// the escape character) are escaped: emphasis cannot mislead, and escaping `_` everywhere would
/// garble `disable_account` on clients that show escapes literally. Newlines would start lists.
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, c) in text.chars().enumerate() {
        if i == MAX_VALUE_CHARS {
            out.push('…');
            break;
        }
        match c {
            '\\' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The Teams channel, ready to post.
#[derive(Debug, Clone)]
pub struct Teams {
    url: SecretString,
    personal: Option<SecretString>,
}

impl Teams {
    pub fn new(settings: &TeamsSettings) -> Teams {
        Teams {
            url: settings.webhook_url.clone(),
            personal: settings.personal_webhook_url.clone(),
        }
    }

    /// Posts the request card to the shared channel, and each approver's link to them alone.
    /// The delivery record keeps what the follow-up needs; never a URL or a link.
    pub async fn send(
        &self,
        http: &Client,
        request: &ApprovalRequest,
    ) -> Result<Value, TeamsError> {
        let personal = self.personal.as_ref().filter(|_| !request.links.is_empty());
        let shared = request_card(
            request,
            Buttons::Shared {
                personal: personal.is_some(),
            },
        );
        let status = self.post(http, &self.url, &message(shared)).await?;
        let mut sent = Vec::new();
        for link in personal.map_or(&[][..], |_| &request.links[..]) {
            let card = request_card(&request.for_one(link), Buttons::OpenLinks);
            let body = personal_message(&link.approver, card);
            let result = self
                .post(http, personal.expect("filtered above"), &body)
                .await;
            sent.push(json!({"recipient": link.approver, "ok": result.is_ok(),
                             "error": result.err().map(|e| e.to_string())}));
        }
        let subject = format!(
            "{} on {} (action #{}, {}/{})",
            request.kind,
            request.target.as_deref().unwrap_or("the tenant"),
            request.action,
            request.playbook,
            request.step
        );
        Ok(json!({"status": status, "personal": sent, "subject": subject}))
    }

    /// Posts the outcome as a follow-up card (a Workflows webhook cannot edit the first one).
    pub async fn update(
        &self,
        http: &Client,
        delivery: &Delivery,
        outcome: &Outcome,
    ) -> Result<(), TeamsError> {
        let subject = delivery.delivery["subject"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("action #{}", outcome.action));
        self.post(http, &self.url, &message(outcome_card(&subject, outcome)))
            .await
            .map(|_| ())
    }

    async fn post(
        &self,
        http: &Client,
        url: &SecretString,
        body: &Value,
    ) -> Result<u16, TeamsError> {
        let response = http
            .post(url.expose())
            .json(body)
            .send()
            .await
            // reqwest puts the URL in its errors; this one carries the secret `sig`.
            .map_err(|e| TeamsError::Unreachable(e.without_url().to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(status.as_u16());
        }
        // Workflows explains a refusal as {"error": {"code": ..., "message": ...}}; the code is
        // enough to act on, and the message is not repeated in case it echoes the request.
        let code = response.json::<Value>().await.ok().and_then(|v| {
            v["error"]["code"]
                .as_str()
                .map(|c| c.chars().take(80).collect())
        });
        Err(TeamsError::Refused {
            status: status.as_u16(),
            code,
        })
    }
}

#[cfg(test)]
#[path = "teams_tests.rs"]
mod tests;
