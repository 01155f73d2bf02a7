//! Source files and byte spans within them, so every diagnostic and every merged value can
//! say which file and line it came from.

use std::ops::Range;
use std::path::{Path, PathBuf};

/// Index of a file in [`Sources`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId(pub usize);

/// A byte range in one source file.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: FileId,
    pub range: Range<usize>,
}

impl Span {
    pub fn new(file: FileId, range: Range<usize>) -> Self {
        Span { file, range }
    }
}

#[derive(Debug)]
pub struct SourceFile {
    /// Canonical path, used to detect `extends` cycles.
    pub path: PathBuf,
    /// The path as the user should see it (relative to the working directory when possible).
    pub display: String,
    pub text: String,
}

/// Every file read while loading a stack; spans point into it.
#[derive(Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
    /// Texts to use instead of reading the disk, by canonical path (a saved plan's copy of
    /// the files it was made from).
    snapshot: std::collections::HashMap<PathBuf, String>,
}

impl Sources {
    /// Sources that read the files in `snapshot` from it instead of the disk.
    pub fn with_snapshot(snapshot: std::collections::HashMap<PathBuf, String>) -> Sources {
        Sources {
            files: Vec::new(),
            snapshot,
        }
    }

    pub fn snapshot(&self, canonical: &Path) -> Option<&str> {
        self.snapshot.get(canonical).map(String::as_str)
    }

    pub fn add(&mut self, path: PathBuf, display: String, text: String) -> FileId {
        self.files.push(SourceFile {
            path,
            display,
            text,
        });
        FileId(self.files.len() - 1)
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id.0]
    }

    pub fn find(&self, path: &Path) -> Option<FileId> {
        self.files.iter().position(|f| f.path == path).map(FileId)
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (FileId(i), f))
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, file: FileId, offset: usize) -> (usize, usize) {
        let text = &self.get(file).text;
        let offset = floor_char_boundary(text, offset.min(text.len()));
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = text[line_start..offset].chars().count() + 1;
        (line, col)
    }

    /// `file:line:col` of the start of a span.
    pub fn location(&self, span: &Span) -> String {
        let (line, col) = self.line_col(span.file, span.range.start);
        format!("{}:{}:{}", self.get(span.file).display, line, col)
    }

    /// `file:line` of the start of a span.
    pub fn short_location(&self, span: &Span) -> String {
        let (line, _) = self.line_col(span.file, span.range.start);
        format!("{}:{}", self.get(span.file).display, line)
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// Shows `path` relative to the working directory when it lies below it.
pub fn display_path(path: &Path) -> String {
    if let Ok(cwd) = std::env::current_dir()
        && let Ok(rel) = path.strip_prefix(&cwd)
    {
        return rel.display().to_string();
    }
    path.display().to_string()
}
