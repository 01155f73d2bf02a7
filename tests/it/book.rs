//! The documentation cannot drift from itself: docs/ is an mdBook whose table of contents
//! (docs/SUMMARY.md) lists exactly the pages there are, and every relative link in README.md
//! and docs/, to a file or to a heading of a page, leads somewhere. mdBook is not needed:
//! the pages are plain Markdown, read here as GitHub and mdBook read them.

use std::collections::{BTreeSet, HashMap};
use std::path::{Component, Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.md` file under `dir`, as paths relative to `dir`, skipping the book mdBook builds.
fn markdown_files(dir: &Path, rel: &Path, out: &mut BTreeSet<PathBuf>) {
    for entry in std::fs::read_dir(dir.join(rel)).expect("read docs/") {
        let entry = entry.expect("read a docs/ entry");
        let path = rel.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            if path != Path::new("book") {
                markdown_files(dir, &path, out);
            }
        } else if path.extension().is_some_and(|e| e == "md") {
            out.insert(path);
        }
    }
}

/// The lines of `text` outside fenced code blocks (with their 1-based numbers).
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(open), Some(m)) if open == m => fence = None,
            (None, None) => out.push((i + 1, line)),
            _ => {}
        }
    }
    out
}

/// `line` with its inline code spans (`` `x` ``, ``` ``x`` ```) removed.
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let ticks = rest[start..].chars().take_while(|&c| c == '`').count();
        let after = &rest[start + ticks..];
        let closer = "`".repeat(ticks);
        match after.find(&closer) {
            Some(end) => rest = &after[end + ticks..],
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// The anchor GitHub and mdBook give a heading: its text without markup, lower-cased,
/// spaces turned into `-`, everything but letters, digits, `-` and `_` dropped.
fn anchor(heading: &str) -> String {
    // A link in a heading counts by its text.
    let mut text = String::new();
    let mut rest = heading;
    while let Some(open) = rest.find("](") {
        text.push_str(&rest[..open]);
        rest = rest[open..]
            .find(')')
            .map_or("", |close| &rest[open + close + 1..]);
    }
    text.push_str(rest);
    text.chars()
        .filter_map(|c| match c {
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c.to_lowercase().next()?),
            c if c.is_whitespace() => Some('-'),
            _ => None,
        })
        .collect()
}

/// The anchors of a page's headings; a repeated heading gets `-1`, `-2`, ... as on GitHub.
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = BTreeSet::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = anchor(line[hashes..].trim());
        let n = seen.entry(base.clone()).or_insert(0);
        out.insert(if *n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        });
        *n += 1;
    }
    out
}

/// The targets of the inline links and images on each prose line: `[text](target)`.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (number, line) in prose_lines(text) {
        let line = without_code_spans(line);
        let mut rest = line.as_str();
        while let Some(open) = rest.find("](") {
            let after = &rest[open + 2..];
            let end = after.find(')').unwrap_or(after.len());
            // A title after the target (`(path "title")`) is not part of it.
            let target = after[..end].split_whitespace().next().unwrap_or("");
            out.push((number, target.trim_matches(['<', '>']).to_string()));
            rest = &after[end..];
        }
    }
    out
}

/// `base/rel` with `.` and `..` folded, so that the same file has one spelling.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn the_book_lists_every_page_and_every_relative_link_resolves() {
    let root = root();
    let docs = root.join("docs");
    let mut problems = Vec::new();

    // SUMMARY.md lists exactly the pages there are.
    let summary = std::fs::read_to_string(docs.join("SUMMARY.md")).expect("read docs/SUMMARY.md");
    let listed: BTreeSet<PathBuf> = links(&summary)
        .into_iter()
        .filter(|(_, target)| !target.is_empty())
        .map(|(_, target)| normalise(Path::new(&target)))
        .collect();
    let mut pages = BTreeSet::new();
    markdown_files(&docs, Path::new(""), &mut pages);
    pages.remove(Path::new("SUMMARY.md"));
    for page in listed.difference(&pages) {
        problems.push(format!(
            "docs/SUMMARY.md lists docs/{}, which does not exist",
            page.display()
        ));
    }
    for page in pages.difference(&listed) {
        problems.push(format!("docs/{} is not in docs/SUMMARY.md", page.display()));
    }

    // Every relative link of README.md and of every page leads to a file, and to a heading
    // of it when it names one.
    let mut files = vec![PathBuf::from("README.md")];
    files.extend(pages.iter().map(|p| Path::new("docs").join(p)));
    files.push(PathBuf::from("docs/SUMMARY.md"));
    let mut cache: HashMap<PathBuf, BTreeSet<String>> = HashMap::new();
    for file in &files {
        let text = std::fs::read_to_string(root.join(file)).expect("read a page");
        for (line, target) in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") || target.is_empty() {
                continue;
            }
            let (path, fragment) = match target.split_once('#') {
                Some((path, fragment)) => (path, Some(fragment)),
                None => (target.as_str(), None),
            };
            let dest = if path.is_empty() {
                file.clone()
            } else {
                normalise(&file.parent().unwrap_or(Path::new("")).join(path))
            };
            let at = format!("{}:{line}: `{target}`", file.display());
            if !root.join(&dest).exists() {
                problems.push(format!("{at}: {} does not exist", dest.display()));
                continue;
            }
            let Some(fragment) = fragment else { continue };
            if dest.extension().is_none_or(|e| e != "md") {
                problems.push(format!("{at}: an anchor into a file that is not Markdown"));
                continue;
            }
            let known = cache.entry(dest.clone()).or_insert_with(|| {
                anchors(&std::fs::read_to_string(root.join(&dest)).expect("read a linked page"))
            });
            if !known.contains(fragment) {
                problems.push(format!(
                    "{at}: {} has no heading #{fragment}",
                    dest.display()
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "the documentation is inconsistent:\n{}",
        problems.join("\n")
    );
}

#[test]
fn anchors_are_computed_as_github_and_mdbook_compute_them() {
    assert_eq!(anchor("Remote state (S3)"), "remote-state-s3");
    assert_eq!(
        anchor("Partial runs: --target and --exclude"),
        "partial-runs---target-and---exclude"
    );
    assert_eq!(
        anchor("Typed variables and `--var`"),
        "typed-variables-and---var"
    );
    assert_eq!(
        anchor("Scale: 1,000 resources (issue 15)"),
        "scale-1000-resources-issue-15"
    );
    assert_eq!(anchor("[`s3.bucket`](s3.bucket.md)"), "s3bucket");
    let page = "# A\n## B\n```sh\n# not a heading\n```\n## B\n";
    let expected: BTreeSet<String> = ["a", "b", "b-1"].map(String::from).into();
    assert_eq!(anchors(page), expected);
    assert_eq!(
        links("[a](x.md) `[b](y.md)` ![c](z.svg \"title\")\n```\n[d](w.md)\n```\n"),
        vec![(1, "x.md".to_string()), (1, "z.svg".to_string())]
    );
}
