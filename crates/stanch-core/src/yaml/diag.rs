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
        if let Some(line) = source.lines().nth(self.loc.line as usize - 1) {
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
