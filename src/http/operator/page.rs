//! Cursor paging: `?limit=` (1 to 500, default 50) and `?cursor=` (the `next_cursor` of the
//! previous page: the last key it held). Answers are `{"items": [...], "next_cursor": ...}`,
//! `next_cursor` null on the last page.

use serde::Deserialize;
use serde_json::{Value, json};

use super::super::error::{ApiError, ErrorCode};

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// Text, parsed here: inside a flattened query (filters + paging) serde sees only strings.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Items per page, 1 to 500 (default 50).
    #[param(value_type = Option<i64>)]
    pub limit: Option<String>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

impl Paging {
    /// The key to read after (0: from the start) and the page size.
    pub fn bounds(&self) -> Result<(i64, i64), ApiError> {
        let limit = match self.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidRequest,
                        format!("`limit` must be a number from 1 to {MAX_LIMIT}, not `{text}`"),
                    )
                })?,
        };
        let after = match self.cursor.as_deref().filter(|c| !c.is_empty()) {
            None => 0,
            Some(text) => text
                .parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidRequest,
                        format!("`cursor` `{text}` is not one this API gave out (a `next_cursor`)"),
                    )
                })?,
        };
        Ok((after, limit))
    }
}

/// A page of `items`, each of whose key `key_of` gives; full pages carry a cursor.
pub fn page<T: serde::Serialize>(items: &[T], limit: i64, key_of: impl Fn(&T) -> i64) -> Value {
    let next = (items.len() as i64 == limit)
        .then(|| items.last().map(|last| key_of(last).to_string()))
        .flatten();
    json!({"items": items, "next_cursor": next})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_cursors() {
        let paging = |limit: Option<&str>, cursor: Option<&str>| Paging {
            limit: limit.map(str::to_string),
            cursor: cursor.map(str::to_string),
        };
        assert_eq!(paging(None, None).bounds().unwrap(), (0, DEFAULT_LIMIT));
        assert_eq!(paging(Some("2"), Some("17")).bounds().unwrap(), (17, 2));
        for bad in [
            paging(Some("0"), None),
            paging(Some("501"), None),
            paging(None, Some("x")),
        ] {
            assert_eq!(bad.bounds().unwrap_err().code, ErrorCode::InvalidRequest);
        }
        assert_eq!(page(&[1, 2], 2, |n| *n)["next_cursor"], "2");
        assert_eq!(
            page(&[1], 2, |n| *n)["next_cursor"],
            Value::Null,
            "the last page"
        );
    }
}
