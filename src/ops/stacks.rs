//! `--stacks DIR`: a team's stacks as one graph. Every stack file under a directory is a
//! node; a stack that reads another's outputs (a `strata.stack` data source) depends on it.
//! `plan` and `apply` run the stacks in that order, `destroy` in the reverse one, each as
//! its own `strata` process (so each under its own lock, with its own backend), in parallel
//! where they are independent; when one fails, the stacks that depend on it are skipped.
//!
//! A file that another file under the directory extends, or uses as a module's source, is
//! a part of that stack rather than a stack of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

#[derive(Debug, thiserror::Error)]
pub enum StacksError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not valid TOML: {message}", path.display())]
    Toml { path: PathBuf, message: String },
    #[error("no stack file (a .toml file with a [stack] table) under {}", dir.display())]
    Empty { dir: PathBuf },
    #[error("the stacks read each other's outputs in a cycle: {chain}")]
    Cycle { chain: String },
}

/// One stack of the directory, and the stacks of the directory whose outputs it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackNode {
    pub path: PathBuf,
    pub reads: BTreeSet<PathBuf>,
}

/// The stacks under a directory, each after the stacks it reads.
#[derive(Debug)]
pub struct Stacks {
    pub dir: PathBuf,
    pub nodes: Vec<StackNode>,
}

impl Stacks {
    /// `path` as written relative to the directory, for messages and the graph.
    pub fn name(&self, path: &Path) -> String {
        path.strip_prefix(&self.dir)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// Graphviz DOT: one node per stack, an edge from each stack to the ones it reads.
    pub fn dot(&self) -> String {
        let mut text = String::from("digraph stacks {\n  rankdir = LR;\n");
        for node in &self.nodes {
            text.push_str(&format!("  {:?};\n", self.name(&node.path)));
            for read in &node.reads {
                text.push_str(&format!(
                    "  {:?} -> {:?};\n",
                    self.name(&node.path),
                    self.name(read)
                ));
            }
        }
        text.push_str("}\n");
        text
    }
}

/// What one file says about others: the files it extends or takes modules from, and the
/// stacks whose outputs it reads.
struct FileRefs {
    is_stack: bool,
    parts: Vec<PathBuf>,
    reads: Vec<PathBuf>,
}

fn refs_of(path: &Path) -> Result<FileRefs, StacksError> {
    let text = std::fs::read_to_string(path).map_err(|source| StacksError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| StacksError::Toml {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
    let here = path.parent().unwrap_or(Path::new("."));
    let resolve = |file: &str| canonical(&here.join(file));
    let mut parts = Vec::new();
    let stack = table.get("stack").and_then(|s| s.as_table());
    if let Some(extends) = stack.and_then(|s| s.get("extends")) {
        match extends {
            toml::Value::String(file) => parts.push(resolve(file)),
            toml::Value::Array(files) => {
                parts.extend(files.iter().filter_map(|f| f.as_str()).map(resolve))
            }
            _ => {}
        }
    }
    let tables = |key: &str| {
        table
            .get(key)
            .and_then(|t| t.as_table())
            .into_iter()
            .flat_map(|t| t.values())
            .filter_map(|v| v.as_table())
    };
    parts.extend(
        tables("modules")
            .filter_map(|m| m.get("source").and_then(|s| s.as_str()))
            .map(resolve),
    );
    let reads = tables("data")
        .filter(|d| d.get("type").and_then(|t| t.as_str()) == Some("strata.stack"))
        .filter_map(|d| d.get("stack").and_then(|s| s.as_str()))
        .map(resolve)
        .collect();
    Ok(FileRefs {
        is_stack: stack.is_some(),
        parts,
        reads,
    })
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Every `.toml` file under `dir`, hidden directories (`.strata`) left out.
fn toml_files(dir: &Path, into: &mut Vec<PathBuf>) -> Result<(), StacksError> {
    let io = |source| StacksError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let hidden = path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            toml_files(&path, into)?;
        } else if path.extension().is_some_and(|e| e == "toml") {
            into.push(canonical(&path));
        }
    }
    Ok(())
}

/// The stacks under `dir`, ordered so that each comes after the stacks it reads.
pub fn discover(dir: &Path) -> Result<Stacks, StacksError> {
    let dir = canonical(dir);
    let mut files = Vec::new();
    toml_files(&dir, &mut files)?;
    files.sort();
    let mut refs = BTreeMap::new();
    for file in files {
        let found = refs_of(&file)?;
        refs.insert(file, found);
    }
    let parts: BTreeSet<&PathBuf> = refs.values().flat_map(|r| &r.parts).collect();
    let roots: BTreeSet<&PathBuf> = refs
        .iter()
        .filter(|(path, r)| r.is_stack && !parts.contains(path))
        .map(|(path, _)| path)
        .collect();
    if roots.is_empty() {
        return Err(StacksError::Empty { dir });
    }
    // A stack reads what its own file and the files it extends read.
    let mut reads: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for root in &roots {
        let mut seen = BTreeSet::new();
        let mut todo = vec![(*root).clone()];
        let mut found = BTreeSet::new();
        while let Some(file) = todo.pop() {
            if !seen.insert(file.clone()) {
                continue;
            }
            let here = match refs.get(&file) {
                Some(r) => r,
                None => continue,
            };
            found.extend(here.reads.iter().filter(|r| roots.contains(r)).cloned());
            todo.extend(here.parts.iter().cloned());
        }
        found.remove(*root);
        reads.insert((*root).clone(), found);
    }
    let nodes = order(&reads, &dir)?;
    Ok(Stacks { dir, nodes })
}

/// Depth first, each stack after what it reads; a cycle is an error showing it.
fn order(
    reads: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
    dir: &Path,
) -> Result<Vec<StackNode>, StacksError> {
    fn visit(
        path: &PathBuf,
        reads: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        dir: &Path,
        path_so_far: &mut Vec<PathBuf>,
        done: &mut BTreeSet<PathBuf>,
        out: &mut Vec<StackNode>,
    ) -> Result<(), StacksError> {
        if done.contains(path) {
            return Ok(());
        }
        if let Some(at) = path_so_far.iter().position(|p| p == path) {
            let name = |p: &PathBuf| p.strip_prefix(dir).unwrap_or(p).display().to_string();
            let mut chain: Vec<String> = path_so_far[at..].iter().map(name).collect();
            chain.push(name(path));
            return Err(StacksError::Cycle {
                chain: chain.join(" -> "),
            });
        }
        path_so_far.push(path.clone());
        for read in &reads[path] {
            visit(read, reads, dir, path_so_far, done, out)?;
        }
        path_so_far.pop();
        done.insert(path.clone());
        out.push(StackNode {
            path: path.clone(),
            reads: reads[path].clone(),
        });
        Ok(())
    }
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    for path in reads.keys() {
        visit(path, reads, dir, &mut Vec::new(), &mut done, &mut out)?;
    }
    Ok(out)
}

/// How one stack's run ended.
#[derive(Debug)]
pub enum StackOutcome {
    Succeeded(Output),
    Failed(Output),
    /// Its `strata` process could not be started.
    NotStarted(String),
    /// Not run: a stack it depends on (for `destroy`: one that depends on it) did not
    /// succeed.
    Skipped {
        because: PathBuf,
    },
}

/// Runs `command(stack)` for every stack, each once the stacks before it (those it reads;
/// with `reverse`, those that read it) succeeded, at most `parallelism` at once; reports
/// each outcome to `done` as it ends. Returns whether every stack succeeded.
pub async fn run(
    stacks: &Stacks,
    reverse: bool,
    parallelism: usize,
    command: impl Fn(&Path) -> tokio::process::Command,
    mut done: impl FnMut(&Path, &StackOutcome),
) -> bool {
    // What each stack waits for.
    let mut waits: BTreeMap<PathBuf, BTreeSet<PathBuf>> = stacks
        .nodes
        .iter()
        .map(|n| (n.path.clone(), BTreeSet::new()))
        .collect();
    for node in &stacks.nodes {
        for read in &node.reads {
            let (waiter, waited) = if reverse {
                (read, &node.path)
            } else {
                (&node.path, read)
            };
            waits.get_mut(waiter).map(|w| w.insert(waited.clone()));
        }
    }
    let mut order: Vec<PathBuf> = stacks.nodes.iter().map(|n| n.path.clone()).collect();
    if reverse {
        order.reverse();
    }
    let mut succeeded = BTreeSet::new();
    let mut started = BTreeSet::new();
    let mut ended: BTreeSet<PathBuf> = BTreeSet::new();
    let mut all_ok = true;
    let mut running = FuturesUnordered::new();
    loop {
        // Skip what waits on a stack that ended without success; start what is ready.
        let mut changed = true;
        while changed {
            changed = false;
            for path in &order {
                if ended.contains(path) || started.contains(path) {
                    continue;
                }
                let failed_dep = waits[path]
                    .iter()
                    .find(|w| ended.contains(*w) && !succeeded.contains(*w));
                if let Some(because) = failed_dep {
                    let outcome = StackOutcome::Skipped {
                        because: because.clone(),
                    };
                    done(path, &outcome);
                    all_ok = false;
                    ended.insert(path.clone());
                    changed = true;
                } else if running.len() < parallelism
                    && waits[path].iter().all(|w| succeeded.contains(w))
                {
                    let mut child = command(path);
                    started.insert(path.clone());
                    let path = path.clone();
                    running.push(async move {
                        let output = child.output().await;
                        (path, output)
                    });
                    changed = true;
                }
            }
        }
        let Some((path, output)) = running.next().await else {
            break;
        };
        let outcome = match output {
            Ok(output) if output.status.success() => {
                succeeded.insert(path.clone());
                StackOutcome::Succeeded(output)
            }
            Ok(output) => StackOutcome::Failed(output),
            Err(error) => StackOutcome::NotStarted(error.to_string()),
        };
        if !matches!(outcome, StackOutcome::Succeeded(_)) {
            all_ok = false;
        }
        done(&path, &outcome);
        ended.insert(path);
    }
    all_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, text: &str) {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    const READS_NETWORK: &str = "[stack]\nname = \"app\"\n[data.net]\ntype = \"strata.stack\"\nstack = \"network/network.toml\"\n";

    #[test]
    fn stacks_come_after_what_they_read_and_parts_are_not_stacks() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        write(dir, "network/network.toml", "[stack]\nname = \"network\"\n");
        // `app` reads network through the file it extends.
        write(
            dir,
            "app.toml",
            "[stack]\nname = \"app\"\nextends = \"base.toml\"\n",
        );
        write(dir, "base.toml", READS_NETWORK);
        write(
            dir,
            "solo.toml",
            "[stack]\nname = \"solo\"\n[modules.m]\nsource = \"mod/m.toml\"\n",
        );
        write(dir, "mod/m.toml", "[stack]\nname = \"m\"\n");
        write(dir, ".strata/ignored.toml", "not toml at all [");
        let stacks = discover(dir).unwrap();
        let names: Vec<String> = stacks.nodes.iter().map(|n| stacks.name(&n.path)).collect();
        assert_eq!(names, ["network/network.toml", "app.toml", "solo.toml"]);
        assert_eq!(
            stacks.dot(),
            "digraph stacks {\n  rankdir = LR;\n  \"network/network.toml\";\n  \"app.toml\";\n  \"app.toml\" -> \"network/network.toml\";\n  \"solo.toml\";\n}\n"
        );
    }

    #[test]
    fn stacks_reading_each_other_in_a_cycle_are_refused_with_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path();
        write(
            dir,
            "a.toml",
            "[stack]\nname = \"a\"\n[data.b]\ntype = \"strata.stack\"\nstack = \"b.toml\"\n",
        );
        write(
            dir,
            "b.toml",
            "[stack]\nname = \"b\"\n[data.a]\ntype = \"strata.stack\"\nstack = \"a.toml\"\n",
        );
        let error = discover(dir).unwrap_err().to_string();
        assert_eq!(
            error,
            "the stacks read each other's outputs in a cycle: a.toml -> b.toml -> a.toml"
        );
    }
}
