//! The stack language's JSON Schema (`strata schema`, docs/strata.schema.json) in the
//! checker editors use: taplo (Even Better TOML's engine), installed by `scripts/taplo`.
//! Every shipped stack passes it through its own `#:schema` line; a stack with an unknown
//! attribute and one with a value of the wrong type fail it, as they fail validate.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{assert_exit, repo, stderr, stdout, strata};

/// `scripts/taplo ARGS` in `dir` (it installs taplo under STRATA_LOCAL_DIR on first use).
fn taplo(dir: &Path, args: &[&str]) -> Output {
    Command::new(repo().join("scripts/taplo"))
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("scripts/taplo runs")
}

fn toml_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
}

#[test]
fn taplo_accepts_every_shipped_stack_and_rejects_unknown_attributes_and_wrong_types() {
    let root = repo();
    // The shipped stacks, each through its own `#:schema ../docs/strata.schema.json`.
    let shipped = toml_files(&root.join("stacks"));
    assert_eq!(shipped.len(), 3, "{shipped:?}");
    for file in &shipped {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            text.starts_with("#:schema ../docs/strata.schema.json\n"),
            "{file} does not start with its #:schema line"
        );
    }
    let mut args = vec!["check"];
    args.extend(shipped.iter().map(String::as_str));
    let out = taplo(&root, &args);
    assert_exit(&out, 0);
    // The test stacks (an override, a drop) name no schema: given on the command line.
    let schema = format!("file://{}", root.join("docs/strata.schema.json").display());
    let mut files = toml_files(&root.join("tests/stacks"));
    files.extend(toml_files(&root.join("tests/stacks/override")));
    let mut args = vec!["check", "--schema", schema.as_str()];
    args.extend(files.iter().map(String::as_str));
    assert_exit(&taplo(&root, &args), 0);

    // A directory laid out like the repository, its schema what `strata schema` prints.
    let dir = tempfile::tempdir().unwrap();
    let printed = strata(dir.path(), &["schema"]);
    assert_exit(&printed, 0);
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    std::fs::write(dir.path().join("docs/strata.schema.json"), &printed.stdout).unwrap();
    std::fs::create_dir(dir.path().join("stacks")).unwrap();
    let stack = |name: &str, attribute: &str| {
        let text = format!(
            "#:schema ../docs/strata.schema.json\n\
             [stack]\nname = \"editor\"\n\n\
             [variables.delay]\ndefault = \"5\"\n\n\
             [resources.queue]\ntype = \"sqs.queue\"\nname = \"editor-queue\"\n{attribute}\n"
        );
        std::fs::write(dir.path().join("stacks").join(name), text).unwrap();
        format!("stacks/{name}")
    };
    let good = stack("good.toml", "delay_seconds = \"${var.delay}\"");
    let unknown = stack("unknown.toml", "colour = \"blue\"");
    let wrong_type = stack("wrong-type.toml", "delay_seconds = \"ten\"");
    let out_of_range = stack("out-of-range.toml", "delay_seconds = 901");

    // A number from a variable is a reference: taplo and validate both accept it.
    assert_exit(&taplo(dir.path(), &["check", &good]), 0);
    assert_exit(&strata(dir.path(), &["validate", &good]), 0);
    for (file, line) in [
        (&unknown, "colour = \"blue\""),
        (&wrong_type, "delay_seconds = \"ten\""),
        (&out_of_range, "delay_seconds = 901"),
    ] {
        let out = taplo(dir.path(), &["check", file]);
        assert_exit(&out, 1);
        let text = stderr(&out);
        assert!(text.contains("schema validation failed"), "{file}: {text}");
        // The error is shown at the offending line (line 11 of the file).
        assert!(text.contains(&format!("{file}:11:1")), "{file}: {text}");
        assert!(text.contains(line), "{file}: {text}");
        // validate rejects it too: the schema says no more than validate does.
        let out = strata(dir.path(), &["validate", file]);
        assert_exit(&out, 1);
        assert!(stdout(&out).is_empty());
    }

    // Data sources: each of the three forms passes; a type strata cannot read fails both.
    let data = |name: &str, block: &str| {
        let text =
            format!("#:schema ../docs/strata.schema.json\n[stack]\nname = \"reader\"\n\n{block}");
        std::fs::write(dir.path().join("stacks").join(name), text).unwrap();
        format!("stacks/{name}")
    };
    let good = data(
        "data.toml",
        "[data.shared]\ntype = \"s3.bucket\"\nid = \"acme-shared\"\n\n\
         [data.me]\ntype = \"sts.caller_identity\"\n\n\
         [data.peer]\ntype = \"strata.stack\"\nstack = \"good.toml\"\n",
    );
    assert_exit(&taplo(dir.path(), &["check", &good]), 0);
    assert_exit(&strata(dir.path(), &["validate", &good]), 0);
    let bad = data("bad-data.toml", "[data.me]\ntype = \"sts.caller\"\n");
    assert_exit(&taplo(dir.path(), &["check", &bad]), 1);
    assert_exit(&strata(dir.path(), &["validate", &bad]), 1);
}

#[test]
fn every_shipped_stack_is_formatted_and_fmt_check_lists_one_that_is_not() {
    let out = strata(&repo(), &["fmt", "--check", "stacks"]);
    assert_exit(&out, 0);
    assert_eq!(stdout(&out), "");
    let dir = tempfile::tempdir().unwrap();
    let messy = "[stack]\nname=\"s\"   # kept\n[resources.q]\ntype = \"sqs.queue\"\nname = \"q\"\ntags = {a=\"1\"}\n";
    std::fs::write(dir.path().join("messy.toml"), messy).unwrap();
    std::fs::write(dir.path().join("Cargo.toml"), "[package]\nname=\"x\"\n").unwrap();
    let out = strata(dir.path(), &["fmt", "--check", "."]);
    assert_exit(&out, 3);
    assert_eq!(stdout(&out), "./messy.toml\n");
    // --check changed nothing; fmt rewrites the stack and leaves Cargo.toml alone.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("messy.toml")).unwrap(),
        messy
    );
    assert_exit(&strata(dir.path(), &["fmt"]), 0);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("messy.toml")).unwrap(),
        "[stack]\nname = \"s\" # kept\n[resources.q]\ntype = \"sqs.queue\"\nname = \"q\"\ntags = { a = \"1\" }\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("Cargo.toml")).unwrap(),
        "[package]\nname=\"x\"\n"
    );
    assert_exit(&strata(dir.path(), &["fmt", "--check"]), 0);
}
