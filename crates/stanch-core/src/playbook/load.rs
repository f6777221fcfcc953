//! Loading playbooks from files and directories: all or nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::compile::compile;
use super::model::Playbook;
use crate::yaml::Loc;
use crate::yaml::diag::{Diagnostic, Level, Problems};

/// Everything found while loading: the playbooks that compiled, and every diagnostic.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub playbooks: Vec<Playbook>,
    pub diagnostics: Vec<Diagnostic>,
    /// File contents by name, to render diagnostics with their source line.
    pub sources: BTreeMap<String, String>,
    pub files: usize,
}

impl LoadReport {
    pub fn errors(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.level == Level::Error)
            .count()
    }

    pub fn warnings(&self) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.level == Level::Warning)
            .count()
    }

    /// The loaded set, only if nothing at all was wrong: a bad playbook is never half-loaded,
    /// and one bad file stops the whole set (so a typo cannot silently disable a response).
    pub fn into_set(self) -> Result<PlaybookSet, LoadReport> {
        if self.errors() > 0 {
            return Err(self);
        }
        Ok(PlaybookSet {
            playbooks: self.playbooks,
        })
    }

    pub fn render(&self, diagnostic: &Diagnostic) -> String {
        match self.sources.get(&diagnostic.file) {
            Some(source) => diagnostic.render(source),
            None => diagnostic.to_string(),
        }
    }
}

/// The compiled, validated playbooks the engine evaluates, in a stable order (by id).
#[derive(Debug, Clone, Default)]
pub struct PlaybookSet {
    pub playbooks: Vec<Playbook>,
}

/// Loads every `.yaml`/`.yml` file under the given files and directories.
pub fn load_paths(paths: &[PathBuf]) -> LoadReport {
    let mut report = LoadReport::default();
    let mut files = Vec::new();
    for path in paths {
        if let Err(message) = collect(path, &mut files) {
            report.diagnostics.push(Diagnostic {
                file: path.display().to_string(),
                loc: Loc::default(),
                level: Level::Error,
                message,
            });
        }
    }
    files.sort();
    files.dedup();
    for file in files {
        let name = file.display().to_string();
        match std::fs::read_to_string(&file) {
            Ok(source) => add_source(&mut report, &name, source),
            Err(e) => report.diagnostics.push(Diagnostic {
                file: name,
                loc: Loc::default(),
                level: Level::Error,
                message: format!("cannot read the file: {e}"),
            }),
        }
    }
    finish(report)
}

/// Loads playbooks from in-memory sources (file name, YAML text).
pub fn load_sources<'a>(sources: impl IntoIterator<Item = (&'a str, &'a str)>) -> LoadReport {
    let mut report = LoadReport::default();
    for (name, source) in sources {
        add_source(&mut report, name, source.to_string());
    }
    finish(report)
}

fn add_source(report: &mut LoadReport, name: &str, source: String) {
    report.files += 1;
    let (playbook, problems) = compile(name, &source);
    report.diagnostics.extend(problems.into_diagnostics(name));
    report.playbooks.extend(playbook);
    report.sources.insert(name.to_string(), source);
}

fn finish(mut report: LoadReport) -> LoadReport {
    report.playbooks.sort_by(|a, b| a.id.cmp(&b.id));
    for pair in report.playbooks.windows(2) {
        if pair[0].id == pair[1].id {
            let mut p = Problems::default();
            p.error(
                Loc { line: 1, col: 1 },
                format!(
                    "playbook id `{}` is also used by {}; ids must be unique",
                    pair[1].id, pair[0].file
                ),
            );
            report.diagnostics.extend(p.into_diagnostics(&pair[1].file));
        }
    }
    if report.files == 0 && report.errors() == 0 {
        report.diagnostics.push(Diagnostic {
            file: "(playbooks)".into(),
            loc: Loc::default(),
            level: Level::Error,
            message: "no playbook files (*.yaml, *.yml) found".into(),
        });
    }
    report
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.is_file() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    let entries =
        std::fs::read_dir(path).map_err(|e| format!("cannot list {}: {e}", path.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("cannot list {}: {e}", path.display()))?;
        let child = entry.path();
        if child.is_dir() {
            collect(&child, files)?;
        } else if child
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            files.push(child);
        }
    }
    Ok(())
}
