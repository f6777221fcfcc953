//! Where a POST to the approval page came from: only the page itself may decide (see the
//! module doc of `approve`).

use axum::http::HeaderMap;

/// Whether a POST comes from the approval page itself (see the module doc); why not.
pub(super) fn same_origin(headers: &HeaderMap, public_url: Option<&str>) -> Result<(), String> {
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap_or("?"));
    if let Some(site) = header("sec-fetch-site")
        && site != "same-origin"
    {
        return Err(format!(
            "the decision was sent from another site (Sec-Fetch-Site: {site})"
        ));
    }
    let Some(origin) = header("origin") else {
        return Ok(());
    };
    // The browser vouches for the site (a forbidden header), and a privacy setting made the
    // origin opaque.
    if origin == "null" && header("sec-fetch-site") == Some("same-origin") {
        return Ok(());
    }
    let expected = match public_url {
        Some(url) => origin_of(url),
        None => header("host").map(|host| host.to_ascii_lowercase()),
    };
    let matches = match (public_url, expected) {
        (Some(_), Some(expected)) => origin.eq_ignore_ascii_case(&expected),
        // Without a public URL only the authority can be compared (the scheme is the proxy's).
        (None, Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(&host)),
        _ => false,
    };
    if matches {
        Ok(())
    } else {
        Err(format!(
            "the decision was sent from another origin ({origin})"
        ))
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    Some(format!("{scheme}://{authority}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn posts_from_other_origins_are_refused_and_non_browser_clients_accepted() {
        let public = Some("https://stanch.example.com/prefix");
        let ok = |pairs: &[(&'static str, &str)], url| same_origin(&headers(pairs), url).is_ok();
        assert!(ok(&[("origin", "https://stanch.example.com")], public));
        assert!(ok(
            &[
                ("sec-fetch-site", "same-origin"),
                ("origin", "https://STANCH.example.com")
            ],
            public
        ));
        assert!(ok(&[], public), "no browser headers: a non-browser client");
        assert!(!ok(&[("origin", "https://evil.example")], public));
        assert!(!ok(&[("origin", "null")], public));
        assert!(ok(
            &[("origin", "null"), ("sec-fetch-site", "same-origin")],
            public
        ));
        assert!(
            !ok(&[("origin", "http://stanch.example.com")], public),
            "another scheme"
        );
        assert!(
            !ok(&[("origin", "https://stanch.example.com:8443")], public),
            "another port"
        );
        assert!(!ok(&[("sec-fetch-site", "cross-site")], public));
        assert!(
            !ok(&[("sec-fetch-site", "same-site")], public),
            "a sibling host is another origin"
        );
        // Without a public URL, the host the request was sent to.
        let host = [
            ("host", "127.0.0.1:8940"),
            ("origin", "http://127.0.0.1:8940"),
        ];
        assert!(ok(&host, None));
        assert!(!ok(
            &[
                ("host", "127.0.0.1:8940"),
                ("origin", "http://evil.example")
            ],
            None
        ));
        assert!(
            !ok(&[("origin", "http://127.0.0.1:8940")], None),
            "no host to compare"
        );
    }
}
