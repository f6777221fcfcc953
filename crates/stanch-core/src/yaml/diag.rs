//! Diagnostics: every problem found while loading a playbook, with file:line:col.

use std::fmt;

use super::Loc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error,
    Warning,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub loc: Loc,
    pub level: Level,
    pub message: String,
}

impl Diagnostic {
    /// The diagnostic followed by the source line it points at and a caret under the column.
    pub fn render(&self, source: &str) -> String {
        let mut out = self.to_string();
        if self.loc.line == 0 {
            return out;
        }
        if let Some(line) = lines(source).nth(self.loc.line as usize - 1) {
            let gutter = self.loc.line.to_string();
            let pad = " ".repeat(gutter.len());
            let caret = " ".repeat(self.loc.col.saturating_sub(1) as usize);
            out.push_str(&format!("\n{pad} |\n{gutter} | {line}\n{pad} | {caret}^"));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        write!(
            f,
            "{}:{}:{}: {level}: {}",
            self.file, self.loc.line, self.loc.col, self.message
        )
    }
}

/// The lines of `source` as YAML numbers them: a line ends at `\n`, `\r\n` or a lone `\r`
/// (`str::lines` knows no lone `\r`, so a diagnostic would show another line, or none).
pub fn lines(source: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(source);
    std::iter::from_fn(move || {
        let text = rest.take()?;
        let Some(at) = text.find(['\r', '\n']) else {
            return (!text.is_empty()).then_some(text);
        };
        let break_len = if text[at..].starts_with("\r\n") { 2 } else { 1 };
        rest = Some(&text[at + break_len..]);
        Some(&text[..at])
    })
}

/// Collects problems while decoding one file.
#[derive(Debug, Default)]
pub struct Problems {
    pub items: Vec<(Loc, Level, String)>,
}

impl Problems {
    pub fn error(&mut self, loc: Loc, message: impl Into<String>) {
        self.items.push((loc, Level::Error, message.into()));
    }

    pub fn warning(&mut self, loc: Loc, message: impl Into<String>) {
        self.items.push((loc, Level::Warning, message.into()));
    }

    pub fn has_errors(&self) -> bool {
        self.items
            .iter()
            .any(|(_, level, _)| *level == Level::Error)
    }

    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|(_, level, _)| *level == Level::Error)
            .count()
    }

    /// Attaches the file name, sorted by position so output reads top to bottom.
    pub fn into_diagnostics(mut self, file: &str) -> Vec<Diagnostic> {
        self.items.sort_by_key(|(loc, level, _)| (*loc, *level));
        self.items
            .into_iter()
            .map(|(loc, level, message)| Diagnostic {
                file: file.to_string(),
                loc,
                level,
                message,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_end_where_yaml_ends_them_lone_carriage_returns_included() {
        fn split(s: &str) -> Vec<&str> {
            lines(s).collect()
        }
        assert_eq!(split("a\nb\r\nc\rd"), ["a", "b", "c", "d"]);
        assert_eq!(split("a\n"), ["a"]);
        assert_eq!(split("\r\r"), ["", ""]);
        assert_eq!(split(""), Vec::<&str>::new());
    }

    #[test]
    fn a_diagnostic_in_a_file_with_carriage_return_line_breaks_shows_its_own_line() {
        // Found by the `playbook` fuzz target: YAML counts a lone `\r` as a line break, and the
        // rendering showed no line (or another one) for such a file.
        let source = "a: 1\rb: c: d\re: 2\r";
        let err = crate::yaml::parse(source).unwrap_err();
        let d = Diagnostic {
            file: "p.yaml".into(),
            loc: err.loc,
            level: Level::Error,
            message: err.message,
        };
        let shown = d.render(source);
        assert_eq!(d.loc.line, 2, "{shown}");
        assert!(shown.contains("2 | b: c: d\n"), "{shown}");
    }
}
