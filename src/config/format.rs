//! The canonical layout of a stack file (`strata fmt`), by taplo's formatter, the one Even
//! Better TOML runs on save, so that an editor and `strata fmt --check` agree. What it
//! keeps: the order of keys and tables, every comment, up to two blank lines. What it
//! makes uniform: one space around `=` and inside `{ }`, arrays on one line when they fit
//! in [`COLUMN_WIDTH`] and one item per line (with a trailing comma) when they do not or
//! hold a comment, no trailing white space, one final newline.

use taplo::formatter::{Options, format_syntax};

/// The width the shipped stacks are written to: their section rules are 92 characters.
pub const COLUMN_WIDTH: usize = 100;

/// Why a file cannot be formatted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    /// Not TOML: formatting around a syntax error could move text it does not understand.
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
}

pub fn options() -> Options {
    Options {
        column_width: COLUMN_WIDTH,
        allowed_blank_lines: 2,
        array_trailing_comma: true,
        array_auto_expand: true,
        array_auto_collapse: true,
        compact_arrays: true,
        compact_inline_tables: false,
        // An inline table is one line (TOML 1.0): arrays inside it (a statement's
        // `Action`) stay on it rather than break it across lines.
        inline_table_expand: false,
        align_entries: false,
        reorder_keys: false,
        reorder_arrays: false,
        reorder_inline_tables: false,
        trailing_newline: true,
        ..Options::default()
    }
}

/// `text` in the canonical layout.
pub fn format(text: &str) -> Result<String, FormatError> {
    let parsed = taplo::parser::parse(text);
    if let Some(error) = parsed.errors.first() {
        let offset = usize::from(error.range.start()).min(text.len());
        return Err(FormatError::Syntax {
            line: text[..offset].matches('\n').count() + 1,
            message: error.message.clone(),
        });
    }
    Ok(format_syntax(parsed.into_syntax(), options()))
}

/// Whether the top-level keys of `text` are a stack's: a directory given to `strata fmt`
/// holds other TOML files too (Cargo.toml, tool settings), left alone.
pub fn looks_like_a_stack(text: &str) -> bool {
    match text.parse::<toml::Table>() {
        Ok(table) => {
            !table.is_empty()
                && table
                    .keys()
                    .all(|k| crate::config::validate::TOP_LEVEL.contains(&k.as_str()))
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_key_order_are_kept_and_spacing_made_uniform() {
        let text = "# head\n[stack]\nname=\"s\"   # trailing\n\n\n\n\n[resources.q]\ntype = \"sqs.queue\"\n\
                    name = \"q\"\ntags = {b=\"1\",a=\"2\"}\nzeta = [ \"x\",\"y\" ]\nalpha = 1   \n";
        assert_eq!(
            format(text).unwrap(),
            "# head\n[stack]\nname = \"s\" # trailing\n\n\n[resources.q]\ntype = \"sqs.queue\"\n\
             name = \"q\"\ntags = { b = \"1\", a = \"2\" }\nzeta = [\"x\", \"y\"]\nalpha = 1\n"
        );
    }

    #[test]
    fn a_long_array_gets_one_item_per_line_and_a_short_one_collapses() {
        let item = format!("\"{}\"", "x".repeat(40));
        let long = format!("a = [{item}, {item}, {item}]\nb = [\n  1,\n  2,\n]\n");
        assert_eq!(
            format(&long).unwrap(),
            format!("a = [\n  {item},\n  {item},\n  {item},\n]\nb = [1, 2]\n")
        );
    }

    #[test]
    fn formatting_twice_changes_nothing() {
        for file in ["upload-form.toml", "producer-consumer.toml"] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("stacks")
                .join(file);
            let once = format(&std::fs::read_to_string(path).unwrap()).unwrap();
            assert_eq!(format(&once).unwrap(), once, "{file}");
        }
    }

    #[test]
    fn a_syntax_error_is_reported_with_its_line_and_nothing_is_formatted() {
        let error = format("[stack]\nname = \"s\"\nbroken = \n").unwrap_err();
        assert!(
            matches!(error, FormatError::Syntax { line: 3, .. }),
            "{error:?}"
        );
    }

    #[test]
    fn only_stacks_look_like_stacks() {
        assert!(looks_like_a_stack("[stack]\nname = \"s\"\n"));
        assert!(looks_like_a_stack(
            "extends = \"a.toml\"\n[resources.q]\ndrop = true\n"
        ));
        assert!(!looks_like_a_stack("[package]\nname = \"strata\"\n"));
        assert!(!looks_like_a_stack("not toml ="));
        assert!(!looks_like_a_stack(""));
    }
}
