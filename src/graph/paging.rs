//! Collection reads that follow `@odata.nextLink` (sign-ins, inbox rules, CA policies).

use serde_json::Value;

use super::{GraphClient, GraphError, GraphPath, GraphRequest};

impl GraphClient {
    /// GETs `path` and every following page, concatenating the `value` arrays.
    ///
    /// Stops after `max_pages` pages and says whether more remained, so a huge sign-in log
    /// cannot stall a containment run. A `nextLink` outside the configured Graph root is refused
    /// rather than followed, because it would receive our bearer token.
    pub async fn get_pages(&self, path: GraphPath, max_pages: usize) -> Result<Paged, GraphError> {
        let request = GraphRequest::get(path);
        let mut url = format!("{}{}", self.inner.base, request.path);
        let mut shown = request.path.to_string();
        let mut items = Vec::new();
        for _ in 0..max_pages.max(1) {
            let response = self.send_to(&request, &url, shown.clone()).await?;
            match response.body.get("value") {
                Some(Value::Array(page)) => items.extend(page.iter().cloned()),
                _ => {
                    return Err(GraphError::Protocol {
                        what: format!("GET {shown}"),
                        reason: "the response has no `value` array".into(),
                    });
                }
            }
            let Some(next) = response.body.get("@odata.nextLink").and_then(Value::as_str) else {
                return Ok(Paged {
                    items,
                    truncated: false,
                });
            };
            let Some(rest) = next
                .strip_prefix(self.inner.base.as_str())
                .filter(|rest| rest.starts_with('/'))
            else {
                return Err(GraphError::Protocol {
                    what: format!("GET {shown}"),
                    reason: format!("nextLink `{next}` is outside {}", self.inner.base),
                });
            };
            shown = rest.to_string();
            url = next.to_string();
        }
        Ok(Paged {
            items,
            truncated: true,
        })
    }
}

/// The items of a paged collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Paged {
    pub items: Vec<Value>,
    /// True when `max_pages` was reached with pages left.
    pub truncated: bool,
}
