//! Messages and mail folders (`users/{id}/messages`, `users/{id}/mailFolders/{folder}`), as
//! Exchange serves them: folder ids are opaque per mailbox (well-known names are accepted in
//! their place), a move answers 201 with the message under a **new** id, `DELETE` leaves the
//! item in Recoverable Items, `permanentDelete` purges it, and `/messages` searches the
//! mailbox's visible folders only (not Recoverable Items). `$filter` supports the one form a
//! purge needs, `internetMessageId eq '…'`; any other filter answers 400, as Graph does for
//! filters it cannot run.

use axum::http::{Method, StatusCode};
use base64::Engine;
use serde_json::{Value, json};

use crate::fixture::{FOLDERS, Fixture};
use crate::wire::{
    GraphRequest, GraphResponse, json_body, mailbox_not_enabled, metadata, method_not_allowed,
    query_pairs, query_param, unknown_segment,
};

/// Folders outside the mailbox's visible tree: `/messages` does not search them.
const HIDDEN: &[&str] = &["recoverableitemsdeletions"];

/// A page of `/messages` holds 10 items unless `$top` says otherwise (Outlook's default).
const DEFAULT_TOP: usize = 10;

fn item_not_found() -> GraphResponse {
    GraphResponse::error(
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    )
}

/// Refuses a mailbox the app may not read: none in Exchange Online, or scoped away.
pub fn gate(tenant: &Fixture, user: usize) -> Option<GraphResponse> {
    let user = &tenant.users[user];
    if !user.mailbox_enabled {
        return Some(mailbox_not_enabled());
    }
    user.mail_scoped_out.then(|| {
        GraphResponse::error(
            StatusCode::FORBIDDEN,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )
    })
}

/// The opaque id of a mailbox's well-known folder (stable, distinct per mailbox).
fn folder_id(tenant: &Fixture, user: usize, name: &str) -> String {
    let raw = format!("{}:{name}", tenant.users[user].id);
    format!(
        "AAMkAD{}",
        base64::engine::general_purpose::URL_SAFE.encode(raw.as_bytes())
    )
}

/// The well-known folder `given` names, by name (any case) or by this mailbox's folder id.
fn resolve_folder(tenant: &Fixture, user: usize, given: &str) -> Option<&'static str> {
    FOLDERS
        .iter()
        .copied()
        .find(|name| name.eq_ignore_ascii_case(given) || folder_id(tenant, user, name) == given)
}

/// A message as Graph shows it: its folder as this mailbox's folder id.
fn view(tenant: &Fixture, user: usize, message: &Value) -> Value {
    let mut shown = message.clone();
    if let Some(name) = message.get("parentFolderId").and_then(Value::as_str) {
        shown["parentFolderId"] = json!(folder_id(tenant, user, name));
    }
    shown
}

fn new_message_id() -> String {
    let bytes = uuid::Uuid::new_v4();
    format!(
        "AAMkADmsg{}",
        base64::engine::general_purpose::URL_SAFE.encode(bytes.as_bytes())
    )
}

/// `rest` starts after `mailFolders`: `GET mailFolders/{name or id}`.
pub fn folder(tenant: &Fixture, req: &GraphRequest, user: usize, rest: &[String]) -> GraphResponse {
    if let Some(refused) = gate(tenant, user) {
        return refused;
    }
    if req.method != Method::GET || rest.len() != 1 {
        return method_not_allowed();
    }
    let Some(name) = resolve_folder(tenant, user, &rest[0]) else {
        return item_not_found();
    };
    let count = tenant
        .messages
        .iter()
        .filter(|(k, _)| tenant.user_index(k) == Some(user))
        .flat_map(|(_, list)| list)
        .filter(|m| m.get("parentFolderId").and_then(Value::as_str) == Some(name))
        .count();
    let upn = &tenant.users[user].user_principal_name;
    GraphResponse::ok(json!({
        "@odata.context": metadata(&format!("users('{upn}')/mailFolders/$entity")),
        "id": folder_id(tenant, user, name),
        "displayName": display_name(name),
        "totalItemCount": count,
    }))
}

fn display_name(name: &str) -> &'static str {
    match name {
        "inbox" => "Inbox",
        "sentitems" => "Sent Items",
        "deleteditems" => "Deleted Items",
        _ => "Deletions",
    }
}

/// `rest` starts after `messages`.
pub fn route(
    tenant: &mut Fixture,
    req: &GraphRequest,
    user: usize,
    rest: &[String],
) -> GraphResponse {
    if let Some(refused) = gate(tenant, user) {
        return refused;
    }
    match (rest, &req.method) {
        ([], &Method::GET) => list(tenant, req, user),
        ([], _) => method_not_allowed(),
        ([id], method) => {
            let Some(pos) = position(tenant, user, id) else {
                return item_not_found();
            };
            match *method {
                Method::GET => {
                    let message = tenant.messages_mut(user)[pos].clone();
                    GraphResponse::ok(view(tenant, user, &message))
                }
                // Exchange keeps a deleted item in Recoverable Items, under a new id.
                Method::DELETE => {
                    relocate(tenant, user, pos, "recoverableitemsdeletions");
                    GraphResponse::no_content()
                }
                _ => method_not_allowed(),
            }
        }
        ([id, verb], &Method::POST) if verb.eq_ignore_ascii_case("move") => {
            let Some(pos) = position(tenant, user, id) else {
                return item_not_found();
            };
            let body = match json_body(req) {
                Ok(body) => body,
                Err(e) => return e,
            };
            let Some(destination) = body.get("destinationId").and_then(Value::as_str) else {
                return GraphResponse::error(
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidRequest",
                    "The destinationId parameter is required.",
                );
            };
            let Some(name) = resolve_folder(tenant, user, destination) else {
                return item_not_found();
            };
            let moved = relocate(tenant, user, pos, name);
            GraphResponse::json(StatusCode::CREATED, view(tenant, user, &moved))
        }
        ([id, verb], &Method::POST) if verb.eq_ignore_ascii_case("permanentDelete") => {
            let Some(pos) = position(tenant, user, id) else {
                return item_not_found();
            };
            tenant.messages_mut(user).remove(pos);
            GraphResponse::no_content()
        }
        _ => unknown_segment(rest.last().map(String::as_str).unwrap_or("messages")),
    }
}

fn position(tenant: &mut Fixture, user: usize, id: &str) -> Option<usize> {
    tenant
        .messages_mut(user)
        .iter()
        .position(|m| m.get("id").and_then(Value::as_str) == Some(id))
}

/// Puts message `pos` in folder `name` under a new id, as a move in Exchange does.
fn relocate(tenant: &mut Fixture, user: usize, pos: usize, name: &str) -> Value {
    let message = &mut tenant.messages_mut(user)[pos];
    message["id"] = json!(new_message_id());
    message["parentFolderId"] = json!(name);
    message.clone()
}

fn list(tenant: &mut Fixture, req: &GraphRequest, user: usize) -> GraphResponse {
    let params = query_pairs(&req.query);
    let wanted = match query_param(&params, "$filter") {
        None => None,
        Some(filter) => match internet_message_id(&filter) {
            Some(id) => Some(id),
            None => {
                return GraphResponse::error(
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidUrlQueryFilter",
                    "The query filter contains one or more invalid nodes.",
                );
            }
        },
    };
    let top = match query_param(&params, "$top").map(|t| t.parse::<usize>()) {
        None => DEFAULT_TOP,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => {
            return GraphResponse::error(
                StatusCode::BAD_REQUEST,
                "ErrorInvalidUrlQuery",
                "The value of $top must be between 1 and 1000.",
            );
        }
    };
    let skip = query_param(&params, "$skiptoken")
        .and_then(|s| s.parse::<usize>().ok())
        .unwrap_or(0);
    let snapshot: &Fixture = tenant;
    let found: Vec<Value> = snapshot
        .messages
        .iter()
        .filter(|(k, _)| snapshot.user_index(k) == Some(user))
        .flat_map(|(_, list)| list)
        .filter(|m| {
            let folder = m
                .get("parentFolderId")
                .and_then(Value::as_str)
                .unwrap_or("");
            !HIDDEN.contains(&folder)
        })
        .filter(|m| {
            wanted
                .as_deref()
                .is_none_or(|id| m.get("internetMessageId").and_then(Value::as_str) == Some(id))
        })
        .map(|m| view(snapshot, user, m))
        .collect();
    let refs: Vec<&Value> = found.iter().collect();
    let upn = snapshot.users[user].user_principal_name.clone();
    crate::paging::page(
        req,
        &format!("users/{upn}/messages"),
        &refs,
        skip,
        top,
        &[("$filter", query_param(&params, "$filter"))],
    )
}

/// The id of `internetMessageId eq '<…>'`, the one filter form served; `''` is a quote.
fn internet_message_id(filter: &str) -> Option<String> {
    let rest = filter.trim();
    let (field, rest) = rest.split_once(' ')?;
    let (op, value) = rest.trim_start().split_once(' ')?;
    if !field.eq_ignore_ascii_case("internetMessageId") || !op.eq_ignore_ascii_case("eq") {
        return None;
    }
    let quoted = value.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    // A lone quote inside would end the literal: not one clause.
    if quoted.replace("''", "").contains('\'') {
        return None;
    }
    Some(quoted.replace("''", "'"))
}

#[cfg(test)]
mod tests {
    use super::internet_message_id;

    #[test]
    fn only_the_internet_message_id_filter_is_understood() {
        assert_eq!(
            internet_message_id("internetMessageId eq '<a@b>'").as_deref(),
            Some("<a@b>")
        );
        assert_eq!(
            internet_message_id("internetmessageid EQ 'it''s'").as_deref(),
            Some("it's")
        );
        assert_eq!(internet_message_id("subject eq 'x'"), None);
        assert_eq!(internet_message_id("internetMessageId ne 'x'"), None);
        assert_eq!(
            internet_message_id("internetMessageId eq 'a' or subject eq 'b'"),
            None
        );
    }
}
