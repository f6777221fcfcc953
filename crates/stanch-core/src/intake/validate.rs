//! Checks on what a detection says beyond its shape: user principal names as Entra can hold them
//! and as an approver will read them, text fields that cannot be made to read backwards, times
//! that a clock could have written, and hostile input echoed back only in bounded, visible form.

use std::borrow::Cow;

use chrono::{DateTime, Datelike, Utc};

use crate::util::sha256_hex;

/// Entra's limits on a user principal name: 113 characters in all, 64 before the `@`, 48 after.
pub const UPN_MAX: usize = 113;
const UPN_LOCAL_MAX: usize = 64;
const UPN_DOMAIN_MAX: usize = 48;
/// What Entra allows before the `@` besides ASCII letters and digits.
const UPN_LOCAL_PUNCTUATION: &str = "'.-_!#^~";

/// The years a detection's time may fall in: outside them it is a broken clock or a misparse
/// (`0001-01-01`, `9999-12-31`), which would misorder the story of a compromise and its windows.
pub const YEARS: std::ops::RangeInclusive<i32> = 2000..=2099;

/// How much of a rejected input the audit trail keeps; the rest is replaced by a marker with the
/// full size and SHA-256, so the original can still be matched.
pub const RAW_KEPT: usize = 8 * 1024;
/// How long a rejection reason may be (it may quote the offending value).
const REASON_MAX: usize = 512;
/// How much of an offending value a reason quotes.
const SHOWN_MAX: usize = 64;

/// Why `text` is not a user principal name Entra could hold (and an approver could trust), if it
/// is not one: the reason quotes the value in visible form.
pub fn check_upn(text: &str) -> Result<(), String> {
    let problem = upn_problem(text);
    match problem {
        None => Ok(()),
        Some(problem) => Err(format!("`{}` {problem}", shown(text))),
    }
}

fn upn_problem(text: &str) -> Option<String> {
    if let Some(problem) = hidden_character(text) {
        return Some(problem);
    }
    if let Some(problem) = foreign_letters(text) {
        return Some(problem);
    }
    let length = text.chars().count();
    if length > UPN_MAX {
        return Some(format!(
            "is {length} characters long; Entra allows at most {UPN_MAX} ({UPN_LOCAL_MAX} before the @, {UPN_DOMAIN_MAX} after)"
        ));
    }
    let Some((local, domain)) = text.split_once('@') else {
        return Some("is not a user principal name: it has no @".into());
    };
    if domain.contains('@') {
        return Some("has more than one @".into());
    }
    if local.is_empty() {
        return Some("has nothing before the @".into());
    }
    if local.len() > UPN_LOCAL_MAX {
        return Some(format!(
            "has {} characters before the @; Entra allows at most {UPN_LOCAL_MAX}",
            local.len()
        ));
    }
    if domain.len() > UPN_DOMAIN_MAX {
        return Some(format!(
            "has {} characters after the @; Entra allows at most {UPN_DOMAIN_MAX}",
            domain.len()
        ));
    }
    if let Some(c) = local
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !UPN_LOCAL_PUNCTUATION.contains(*c))
    {
        return Some(format!(
            "has `{}` before the @; Entra allows only letters, digits and {UPN_LOCAL_PUNCTUATION} there",
            c.escape_debug()
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Some(
            "has a dot at the start or end of the name, or two dots in a row, which Entra refuses"
                .into(),
        );
    }
    domain_problem(domain)
}

fn domain_problem(domain: &str) -> Option<String> {
    if !domain.contains('.') {
        return Some(format!(
            "has `{}` after the @, which is not a domain name",
            shown(domain)
        ));
    }
    for label in domain.split('.') {
        let bad_char = label
            .chars()
            .find(|c| !c.is_ascii_alphanumeric() && *c != '-');
        if label.is_empty() || label.starts_with('-') || label.ends_with('-') || bad_char.is_some()
        {
            return Some(format!(
                "has `{}` after the @, which is not a domain name (letters, digits and hyphens between dots)",
                shown(domain)
            ));
        }
    }
    None
}

/// A character that hides or reorders what a reader sees (or a space), named, if `text` holds one.
fn hidden_character(text: &str) -> Option<String> {
    text.chars().find_map(|c| {
        hiding(c).or_else(|| {
            c.is_whitespace()
                .then(|| format!("contains U+{:04X} (a space)", c as u32))
        })
    })
}

/// What `c` does to a reader, if it hides or reorders text: bidirectional controls, invisible
/// and control characters.
fn hiding(c: char) -> Option<String> {
    let what = if let Some(name) = bidi_control(c) {
        format!("{name}, a bidirectional control that changes the order the text reads in")
    } else if let Some(name) = invisible(c) {
        format!("{name}, an invisible character")
    } else if c.is_control() {
        "a control character".to_string()
    } else {
        return None;
    };
    Some(format!("contains U+{:04X} ({what})", c as u32))
}

/// Whether a quoted value must show `c` as an escape.
pub fn hides(c: char) -> bool {
    bidi_control(c).is_some() || invisible(c).is_some() || c.is_control()
}

fn bidi_control(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{061C}' => "ARABIC LETTER MARK",
        '\u{200E}' => "LEFT-TO-RIGHT MARK",
        '\u{200F}' => "RIGHT-TO-LEFT MARK",
        '\u{202A}' => "LEFT-TO-RIGHT EMBEDDING",
        '\u{202B}' => "RIGHT-TO-LEFT EMBEDDING",
        '\u{202C}' => "POP DIRECTIONAL FORMATTING",
        '\u{202D}' => "LEFT-TO-RIGHT OVERRIDE",
        '\u{202E}' => "RIGHT-TO-LEFT OVERRIDE",
        '\u{2066}' => "LEFT-TO-RIGHT ISOLATE",
        '\u{2067}' => "RIGHT-TO-LEFT ISOLATE",
        '\u{2068}' => "FIRST STRONG ISOLATE",
        '\u{2069}' => "POP DIRECTIONAL ISOLATE",
        _ => return None,
    })
}

fn invisible(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{00AD}' => "SOFT HYPHEN",
        '\u{034F}' => "COMBINING GRAPHEME JOINER",
        '\u{180E}' => "MONGOLIAN VOWEL SEPARATOR",
        '\u{200B}' => "ZERO WIDTH SPACE",
        '\u{200C}' => "ZERO WIDTH NON-JOINER",
        '\u{200D}' => "ZERO WIDTH JOINER",
        '\u{2060}' => "WORD JOINER",
        '\u{2061}'..='\u{2064}' => "an invisible operator",
        '\u{FEFF}' => "ZERO WIDTH NO-BREAK SPACE",
        '\u{115F}' | '\u{1160}' | '\u{3164}' | '\u{FFA0}' => "a Hangul filler",
        '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}' => "a variation selector",
        '\u{E0000}'..='\u{E007F}' => "a tag character",
        _ => return None,
    })
}

/// Letters that are not ASCII: mixed with Latin ones they make a look-alike of another address
/// (`bоb` with a Cyrillic `о`); alone they are still nothing Entra allows in a UPN.
fn foreign_letters(text: &str) -> Option<String> {
    let first = text.chars().find(|c| !c.is_ascii())?;
    let describe = format!("`{first}` (U+{:04X})", first as u32);
    let latin = text.chars().any(|c| c.is_ascii_alphabetic());
    match script(first) {
        Some(script) if latin => Some(format!(
            "mixes {script} letters with Latin ones: {describe} can pass for a Latin letter, so the address can pass for another account's"
        )),
        _ => Some(format!(
            "contains {describe}; Entra user principal names are ASCII (letters, digits and {UPN_LOCAL_PUNCTUATION})"
        )),
    }
}

/// The script of the letters most used to imitate Latin ones.
fn script(c: char) -> Option<&'static str> {
    Some(match c as u32 {
        0x00C0..=0x024F | 0x1E00..=0x1EFF => "accented Latin",
        0x0370..=0x03FF | 0x1F00..=0x1FFF => "Greek",
        0x0400..=0x052F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => "Cyrillic",
        0x0530..=0x058F => "Armenian",
        0x13A0..=0x13FF | 0xAB70..=0xABBF => "Cherokee",
        0xFF00..=0xFFEF => "full-width",
        0x1D400..=0x1D7FF => "mathematical",
        _ if c.is_alphabetic() => "non-Latin",
        _ => return None,
    })
}

/// Rejects text that reorders or hides what a reader sees (bidirectional controls, invisible and
/// control characters): `field` is shown to approvers as it is.
pub fn check_visible(field: &str, text: &str) -> Result<(), (String, String)> {
    match text.chars().find_map(hiding) {
        None => Ok(()),
        Some(problem) => Err((field.to_string(), format!("`{}` {problem}", shown(text)))),
    }
}

/// Refuses a time outside [`YEARS`], naming the field.
pub fn check_year(field: &str, at: DateTime<Utc>) -> Result<DateTime<Utc>, (String, String)> {
    if YEARS.contains(&at.year()) {
        return Ok(at);
    }
    Err((
        field.to_string(),
        format!(
            "`{}` is outside the years {} to {} that stanch accepts (a broken clock or a misread time)",
            at.to_rfc3339(),
            YEARS.start(),
            YEARS.end()
        ),
    ))
}

/// `text` as a reason may quote it: at most [`SHOWN_MAX`] characters (an ellipsis says there was
/// more), and characters that hide or reorder text written as escapes (`\u{202e}`).
pub fn shown(text: &str) -> String {
    escaped(text, |_, i| i == SHOWN_MAX, "…")
}

/// A reason as it is kept and answered: hiding characters escaped, at most [`REASON_MAX`] bytes.
pub fn bounded_reason(reason: String) -> String {
    if reason.len() <= REASON_MAX && !reason.chars().any(hides) {
        return reason;
    }
    escaped(&reason, |out, _| out.len() >= REASON_MAX, "… (cut)")
}

/// `text` with hiding characters written as escapes, cut (and `marker` added) where `full`
/// says so, given what is written so far and the index of the next character.
fn escaped(text: &str, full: impl Fn(&str, usize) -> bool, marker: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if full(&out, i) {
            out.push_str(marker);
            break;
        }
        if hides(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// The raw input a rejection keeps: up to [`RAW_KEPT`] bytes, then a marker with the full size
/// and the SHA-256 of the whole.
pub fn kept_raw(raw: &str) -> Cow<'_, str> {
    if raw.len() <= RAW_KEPT {
        return Cow::Borrowed(raw);
    }
    let mut end = RAW_KEPT;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{}…[truncated by stanch: {} bytes in all, sha256 {}]",
        &raw[..end],
        raw.len(),
        sha256_hex(raw.as_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upn(text: &str) -> String {
        check_upn(text).unwrap_err()
    }

    #[test]
    fn upns_entra_holds_pass() {
        for ok in [
            "b.jones@contoso.com",
            "O'Brien@contoso.co.uk",
            "alice_fabrikam.com#EXT#@contoso.onmicrosoft.com",
            "x-1~y^z!@sub-1.example.org",
        ] {
            assert_eq!(check_upn(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn upns_that_graph_refuses_or_that_spoof_are_refused_with_the_reason() {
        let cases = [
            ("a..silva@contoso.com", "two dots in a row"),
            (".a@contoso.com", "a dot at the start or end"),
            ("a.@contoso.com", "a dot at the start or end"),
            ("a@b@contoso.com", "more than one @"),
            ("a@localhost", "not a domain name"),
            ("a@-x.com", "not a domain name"),
            ("a+b@contoso.com", "has `+` before the @"),
            (
                "b.jones@contoso.com\u{202E}moc",
                "U+202E (RIGHT-TO-LEFT OVERRIDE",
            ),
            ("b.jo\u{200B}nes@contoso.com", "U+200B (ZERO WIDTH SPACE"),
            (
                "b.j\u{043E}nes@contoso.com",
                "mixes Cyrillic letters with Latin ones",
            ),
            ("b.j\u{03BF}nes@contoso.com", "mixes Greek letters"),
            (
                "\u{0431}\u{043E}\u{0431}@\u{043F}.\u{0440}\u{0444}",
                "Entra user principal names are ASCII",
            ),
            ("b jones@contoso.com", "a space"),
            ("b/jones@contoso.com", "has `/` before the @"),
        ];
        for (input, expected) in cases {
            let reason = upn(input);
            assert!(reason.contains(expected), "{input:?}: {reason}");
            assert!(
                !reason.contains(['\u{202E}', '\u{200B}']),
                "the reason shows hidden characters as escapes: {reason:?}"
            );
        }
        let long = format!("{}@contoso.com", "a".repeat(300));
        let reason = upn(&long);
        assert!(
            reason.contains("is 312 characters long; Entra allows at most 113"),
            "{reason}"
        );
        assert!(reason.len() < 200, "the value is quoted cut: {reason}");
        let reason = upn(&format!("{}@contoso.com", "a".repeat(65)));
        assert!(reason.contains("65 characters before the @"), "{reason}");
    }

    #[test]
    fn visible_text_refuses_bidi_and_invisible_characters_naming_the_field() {
        assert_eq!(check_visible("name", "SaaS / Compromise / Login"), Ok(()));
        let (field, reason) = check_visible("name", "Login from \u{202E}gnp.exe").unwrap_err();
        assert_eq!(field, "name");
        assert!(reason.contains("RIGHT-TO-LEFT OVERRIDE"), "{reason}");
        assert!(reason.contains("\\u{202e}"), "{reason}");
        assert!(check_visible("id", "a\u{2066}b").is_err());
        assert!(check_visible("id", "a\nb").is_err());
    }

    #[test]
    fn years_a_clock_could_not_have_written_are_refused() {
        let at = |t: &str| DateTime::parse_from_rfc3339(t).unwrap().to_utc();
        assert!(check_year("observed_at", at("2021-06-01T00:00:00Z")).is_ok());
        for bad in [
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "1970-01-01T00:00:00Z",
        ] {
            let (field, reason) = check_year("observed_at", at(bad)).unwrap_err();
            assert_eq!(field, "observed_at");
            assert!(
                reason.contains("outside the years 2000 to 2099"),
                "{reason}"
            );
        }
    }

    #[test]
    fn a_kept_raw_input_is_cut_with_a_marker_saying_how_big_it_was() {
        assert_eq!(kept_raw("short"), "short");
        let raw = "é".repeat(10_000);
        let kept = kept_raw(&raw);
        assert!(kept.len() < RAW_KEPT + 200);
        assert!(
            kept.ends_with(&format!(
                "…[truncated by stanch: 20000 bytes in all, sha256 {}]",
                sha256_hex(raw.as_bytes())
            )),
            "{}",
            &kept[RAW_KEPT - 10..]
        );
    }

    #[test]
    fn reasons_are_bounded_and_show_hidden_characters() {
        assert_eq!(bounded_reason("plain".into()), "plain");
        let reason = bounded_reason(format!("x{}", "y".repeat(10_000)));
        assert!(
            reason.len() < 600 && reason.ends_with("… (cut)"),
            "{reason}"
        );
        assert_eq!(bounded_reason("a\u{202E}b".into()), "a\\u{202e}b");
    }
}
