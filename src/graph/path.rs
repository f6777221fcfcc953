//! Safe construction of Graph paths.
//!
//! Identifiers come from detections, i.e. from the attacker's side of the fence. A user id such
//! as `x/../../groups/g1` must never turn into a different resource, so every dynamic value goes
//! through [`GraphPath::id`] (validated GUID or UPN) or [`GraphPath::opaque`] (encoded as one
//! segment); only compile-time constants go through [`GraphPath::segment`].

use std::fmt::{self, Write};

use super::GraphError;

/// A Graph path relative to the version root, e.g. `/users/alice@contoso.com/revokeSignInSessions`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphPath {
    /// Already-encoded segments.
    segments: Vec<String>,
    /// Already-encoded `key=value` pairs.
    query: Vec<String>,
}

impl GraphPath {
    /// Starts a path from constant segments: `GraphPath::new(["identity", "conditionalAccess"])`.
    pub fn new(segments: impl IntoIterator<Item = &'static str>) -> GraphPath {
        let path = GraphPath {
            segments: Vec::new(),
            query: Vec::new(),
        };
        segments.into_iter().fold(path, GraphPath::segment)
    }

    /// Appends a constant segment such as `mailFolders` or `$batch`.
    ///
    /// Takes `&'static str` on purpose: values from detections must use [`id`](Self::id) or
    /// [`opaque`](Self::opaque).
    pub fn segment(mut self, name: &'static str) -> GraphPath {
        self.segments.push(encode(name, is_pchar));
        self
    }

    /// Appends a user or directory object identifier: a GUID or a user principal name.
    ///
    /// A UPN starting with `$` is written as a key on the previous segment,
    /// `users('$x@contoso.com')`, because Graph would otherwise read it as a system segment.
    pub fn id(mut self, id: &str) -> Result<GraphPath, GraphError> {
        validate_id(id)?;
        if let Some(rest) = id.strip_prefix('$') {
            let Some(last) = self.segments.last_mut() else {
                return Err(invalid(id, "a `$` identifier needs a collection before it"));
            };
            let quoted = format!("${}", rest.replace('\'', "''"));
            write!(last, "('{}')", encode(&quoted, is_key_char)).expect("writing to a string");
        } else {
            self.segments.push(encode(id, is_key_char));
        }
        Ok(self)
    }

    /// Appends an opaque identifier (rule, policy, message or location id) as one segment.
    ///
    /// Such ids may contain `/`, `+` or `=`, so everything outside the unreserved characters is
    /// percent-encoded.
    pub fn opaque(mut self, id: &str) -> Result<GraphPath, GraphError> {
        if id.is_empty() {
            return Err(invalid(id, "empty identifier"));
        }
        // Dot segments would be removed by URL normalisation, moving the call one level up.
        if id == "." || id == ".." {
            return Err(invalid(id, "a dot segment is not an identifier"));
        }
        if id.len() > 1024 {
            return Err(invalid(id, "longer than 1024 bytes"));
        }
        self.segments.push(encode(id, is_unreserved));
        Ok(self)
    }

    /// Adds a query parameter such as `$filter` or `$select`; the value is percent-encoded.
    pub fn query(mut self, key: &'static str, value: &str) -> GraphPath {
        self.query.push(format!(
            "{}={}",
            encode(key, is_query_char),
            encode(value, is_query_char)
        ));
        self
    }

    /// The encoded path with its query, relative to the version root (as `$batch` wants it).
    pub fn as_relative(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for GraphPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for segment in &self.segments {
            write!(f, "/{segment}")?;
        }
        if self.segments.is_empty() {
            f.write_char('/')?;
        }
        for (i, pair) in self.query.iter().enumerate() {
            f.write_char(if i == 0 { '?' } else { '&' })?;
            f.write_str(pair)?;
        }
        Ok(())
    }
}

fn invalid(id: &str, reason: &str) -> GraphError {
    GraphError::InvalidId {
        id: id.escape_debug().to_string(),
        reason: reason.to_string(),
    }
}

/// Accepts a GUID or a UPN (`local@domain`) that cannot change the shape of a URL.
fn validate_id(id: &str) -> Result<(), GraphError> {
    if is_guid(id) {
        return Ok(());
    }
    if id.is_empty() {
        return Err(invalid(id, "empty identifier"));
    }
    if id.len() > 256 {
        return Err(invalid(id, "longer than 256 bytes"));
    }
    if let Some(c) = id
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '\\' | '?' | '%'))
    {
        return Err(invalid(
            id,
            &format!("contains {c:?}, which is not allowed in a user identifier"),
        ));
    }
    if id.contains("..") {
        return Err(invalid(id, "contains `..`"));
    }
    let Some((local, domain)) = id.rsplit_once('@') else {
        return Err(invalid(
            id,
            "not a GUID or a user principal name (local@domain)",
        ));
    };
    if local.is_empty() || local == "$" {
        return Err(invalid(id, "the part before `@` is empty"));
    }
    let domain_ok = !domain.is_empty()
        && !domain.starts_with(['.', '-'])
        && !domain.ends_with('.')
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if !domain_ok {
        return Err(invalid(id, "the domain after `@` is not a domain name"));
    }
    Ok(())
}

fn is_guid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 `pchar` minus `%`: constants like `$batch` or `$ref` stay readable.
fn is_pchar(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
        )
}

/// Inside an identifier only `@` (UPNs) and `$` (the `('$x@y')` form) stay literal; `#`, `'`,
/// `+` and the rest are encoded.
fn is_key_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'@' | b'$')
}

/// Readable OData in query values (`$filter=userId eq 'x'`) while `&`, `=`, `+`, `#` are encoded.
fn is_query_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'$' | b'\'' | b'(' | b')' | b',' | b':' | b'@' | b'/')
}

fn encode(text: &str, keep: fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            write!(out, "%{b:02X}").expect("writing to a string");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> GraphPath {
        GraphPath::new(["users"])
    }

    #[test]
    fn builds_plain_paths() {
        let p = users()
            .id("alice@contoso.com")
            .unwrap()
            .segment("mailFolders")
            .segment("inbox")
            .segment("messageRules");
        assert_eq!(
            p.to_string(),
            "/users/alice@contoso.com/mailFolders/inbox/messageRules"
        );
        let guid = "6f1a2b3c-0000-4aaa-8bbb-1234567890ab";
        assert_eq!(
            users().id(guid).unwrap().to_string(),
            format!("/users/{guid}")
        );
        assert_eq!(GraphPath::new(["$batch"]).to_string(), "/$batch");
    }

    #[test]
    fn path_injection_is_rejected() {
        for bad in [
            "x/../../groups/g1",
            "../groups/g1",
            "a..b@contoso.com",
            "alice@contoso.com/../x",
            "alice@contoso.com?x=1",
            "alice\\x@contoso.com",
            "alice @contoso.com",
            "alice%2F@contoso.com",
            "alice\n@contoso.com",
            "alice",
            "@contoso.com",
            "alice@",
            "alice@contoso.com#frag/x",
            "",
        ] {
            let err = users().id(bad).unwrap_err();
            assert!(matches!(err, GraphError::InvalidId { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn guest_and_dollar_upns_are_encoded() {
        let guest = users()
            .id("alice_contoso.com#EXT#@fabrikam.onmicrosoft.com")
            .unwrap();
        assert_eq!(
            guest.to_string(),
            "/users/alice_contoso.com%23EXT%23@fabrikam.onmicrosoft.com"
        );
        let dollar = users()
            .id("$svc@contoso.com")
            .unwrap()
            .segment("revokeSignInSessions");
        assert_eq!(
            dollar.to_string(),
            "/users('$svc@contoso.com')/revokeSignInSessions"
        );
        let quoted = users().id("$o'neil@contoso.com").unwrap();
        assert_eq!(quoted.to_string(), "/users('$o%27%27neil@contoso.com')");
        assert!(GraphPath::new([]).id("$svc@contoso.com").is_err());
    }

    #[test]
    fn opaque_ids_stay_one_segment() {
        let p = users()
            .id("alice@contoso.com")
            .unwrap()
            .segment("messageRules")
            .opaque("AQAAA/xyz+1=")
            .unwrap();
        assert_eq!(
            p.to_string(),
            "/users/alice@contoso.com/messageRules/AQAAA%2Fxyz%2B1%3D"
        );
        assert_eq!(
            GraphPath::new(["x"]).opaque("../a").unwrap().to_string(),
            "/x/..%2Fa"
        );
        assert!(GraphPath::new(["x"]).opaque("..").is_err());
        assert!(GraphPath::new(["x"]).opaque("").is_err());
    }

    #[test]
    fn query_values_are_encoded() {
        let p = GraphPath::new(["auditLogs", "signIns"])
            .query(
                "$filter",
                "userId eq 'u1' and createdDateTime ge 2025-01-01T00:00:00Z",
            )
            .query("$top", "100");
        assert_eq!(
            p.to_string(),
            "/auditLogs/signIns?$filter=userId%20eq%20'u1'%20and%20createdDateTime%20ge%20\
             2025-01-01T00:00:00Z&$top=100"
        );
        let tricky = GraphPath::new(["x"]).query("$filter", "a&b=c#d+e");
        assert_eq!(tricky.to_string(), "/x?$filter=a%26b%3Dc%23d%2Be");
    }
}
