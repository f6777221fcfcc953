//! Collection reads that follow `@odata.nextLink` (sign-ins, inbox rules, CA policies).

use serde_json::Value;

use super::{GraphClient, GraphError, GraphPath, GraphRequest, GraphResponse};

/// A page of a collection to read: the first one (a path we built), or a following one (a
/// `nextLink` already checked to be under our Graph root).
#[derive(Debug, Clone, PartialEq)]
pub enum PageRef {
    First(GraphPath),
    Next { url: String, shown: String },
}

impl PageRef {
    /// What logs and the audit trail show: the path relative to the version root.
    pub fn shown(&self) -> String {
        match self {
            PageRef::First(path) => path.to_string(),
            PageRef::Next { shown, .. } => shown.clone(),
        }
    }
}

/// One page: the answer, its items, and where the next page is.
#[derive(Debug, Clone)]
pub struct Page {
    pub response: GraphResponse,
    pub items: Vec<Value>,
    pub next: Option<PageRef>,
}

impl GraphClient {
    /// GETs `path` and every following page, concatenating the `value` arrays.
    ///
    /// Stops after `max_pages` pages and says whether more remained, so a huge sign-in log
    /// cannot stall a containment run.
    pub async fn get_pages(&self, path: GraphPath, max_pages: usize) -> Result<Paged, GraphError> {
        let mut at = PageRef::First(path);
        let mut items = Vec::new();
        for _ in 0..max_pages.max(1) {
            let page = self.get_page(&at).await?;
            items.extend(page.items);
            match page.next {
                Some(next) => at = next,
                None => {
                    return Ok(Paged {
                        items,
                        truncated: false,
                    });
                }
            }
        }
        Ok(Paged {
            items,
            truncated: true,
        })
    }

    /// Reads one page. A `nextLink` outside the configured Graph root is refused rather than
    /// followed, because it would receive our bearer token.
    pub async fn get_page(&self, at: &PageRef) -> Result<Page, GraphError> {
        let shown = at.shown();
        let response = match at {
            PageRef::First(path) => self.send(GraphRequest::get(path.clone())).await?,
            PageRef::Next { url, shown } => {
                let request = GraphRequest::get(GraphPath::new([]));
                self.send_to(&request, url, shown.clone()).await?
            }
        };
        let items = match response.body.get("value") {
            Some(Value::Array(page)) => page.clone(),
            _ => {
                return Err(GraphError::Protocol {
                    what: format!("GET {shown}"),
                    reason: "the response has no `value` array".into(),
                });
            }
        };
        let next = match response.body.get("@odata.nextLink").and_then(Value::as_str) {
            None => None,
            Some(next) => {
                let Some(rest) = next
                    .strip_prefix(self.inner.base.as_str())
                    .filter(|rest| rest.starts_with('/'))
                else {
                    return Err(GraphError::Protocol {
                        what: format!("GET {shown}"),
                        reason: format!("nextLink `{next}` is outside {}", self.inner.base),
                    });
                };
                Some(PageRef::Next {
                    url: next.to_string(),
                    shown: rest.to_string(),
                })
            }
        };
        Ok(Page {
            response,
            items,
            next,
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
