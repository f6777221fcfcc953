//! One page of a Graph collection, with the `@odata.nextLink` Graph returns when more remain.

use serde_json::{Value, json};

use crate::wire::{GraphRequest, GraphResponse, metadata};

/// Answers with `items[skip..skip + top]` of the collection at `resource` (e.g.
/// `auditLogs/signIns`); the next link repeats `carry` (`$filter`, `$orderby`...) so paging keeps
/// the same query.
pub fn page(
    req: &GraphRequest,
    resource: &str,
    items: &[&Value],
    skip: usize,
    top: usize,
    carry: &[(&str, Option<String>)],
) -> GraphResponse {
    let page: Vec<Value> = items
        .iter()
        .skip(skip)
        .take(top)
        .map(|v| (*v).clone())
        .collect();
    let mut body = json!({"@odata.context": metadata(resource), "value": page});
    if skip + top < items.len() {
        let mut next = format!(
            "{}/{resource}?$top={top}&$skiptoken={}",
            req.base,
            skip + top
        );
        for (key, value) in carry {
            if let Some(value) = value {
                next.push_str(&format!("&{key}={}", encode(value)));
            }
        }
        body["@odata.nextLink"] = json!(next);
    }
    GraphResponse::ok(body)
}

fn encode(value: &str) -> String {
    value
        .replace('%', "%25")
        .replace(' ', "%20")
        .replace('\'', "%27")
        .replace('&', "%26")
        .replace('+', "%2B")
}
