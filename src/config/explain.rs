//! `strata validate --explain`: the merged stack, each value with the file and line it came
//! from, and what a child overrode.

use std::fmt::Write as _;

use super::model::Stack;
use super::node::{Node, NodeValue};
use crate::diagnostics::source::Span;

pub fn explain(stack: &Stack) -> String {
    let sources = &stack.sources;
    let at = |span: &Span| sources.short_location(span);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "stack {}  ({})",
        stack.name,
        stack
            .files
            .iter()
            .rev()
            .cloned()
            .collect::<Vec<_>>()
            .join(" extends ")
    );

    if !stack.variables.is_empty() {
        let _ = writeln!(out, "\nvariables");
        for (name, var) in &stack.variables {
            let origin = if var.from_command_line {
                "set with --var".to_string()
            } else {
                format!("default, {}", at(&var.span))
            };
            let value = if var.sensitive {
                "(sensitive)".to_string()
            } else {
                var.value.render()
            };
            line(&mut out, 2, &format!("{name} = {value}"), &origin);
        }
    }

    if !stack.modules.is_empty() {
        let _ = writeln!(out, "\nmodules");
        for module in &stack.modules {
            line(
                &mut out,
                2,
                &format!("{} (source {})", module.path, module.source),
                &at(&module.declared),
            );
        }
    }

    if !stack.data.is_empty() {
        let _ = writeln!(out, "\ndata sources");
        for decl in stack.data.values() {
            let head = format!("{} ({})", decl.address(), decl.source.type_name());
            line(&mut out, 2, &head, &at(&decl.span));
            if let Some(id) = &decl.id {
                attribute(&mut out, stack, 4, "id", id);
            }
            if let super::model::DataSource::Stack { file, span } = &decl.source {
                let shown = crate::diagnostics::source::display_path(file);
                line(&mut out, 4, &format!("stack = {shown}"), &at(span));
            }
        }
    }

    let _ = writeln!(out, "\nresources");
    for decl in stack.resources.values() {
        line(
            &mut out,
            2,
            &format!("{} ({})", decl.name, decl.type_name()),
            &at(&decl.span),
        );
        if let (base, Some(key)) = super::expr::split_instance(&decl.name)
            && let Some(for_each) = stack.for_each.get(base)
        {
            let mut origin = at(&for_each.span);
            if let Some(parent) = &for_each.overrides {
                let _ = write!(origin, " (overrides {})", at(parent));
            }
            line(&mut out, 4, &format!("for_each key {key:?}"), &origin);
        }
        for (target, span) in &decl.depends_on {
            line(&mut out, 4, &format!("depends_on {target}"), &at(span));
        }
        for (name, entry) in &decl.attributes {
            attribute(&mut out, stack, 4, name, &entry.node);
        }
    }

    if !stack.outputs.is_empty() {
        let _ = writeln!(out, "\noutputs");
        for output in stack.outputs.values() {
            attribute(&mut out, stack, 2, &output.name, &output.value);
        }
    }
    out
}

fn attribute(out: &mut String, stack: &Stack, indent: usize, name: &str, node: &Node) {
    let sources = &stack.sources;
    match &node.value {
        // Tables are shown key by key: a child may have overridden only some keys.
        NodeValue::Table(table)
            if table
                .values()
                .any(|e| matches!(e.node.value, NodeValue::Table(_)))
                || table.len() > 3 =>
        {
            line(
                out,
                indent,
                &format!("{name}:"),
                &sources.short_location(&node.span),
            );
            for (key, entry) in table {
                attribute(out, stack, indent + 2, key, &entry.node);
            }
        }
        _ => {
            let mut origin = sources.short_location(&node.span);
            if let Some(parent) = &node.overrides {
                let _ = write!(origin, " (overrides {})", sources.short_location(parent));
            }
            line(out, indent, &format!("{name} = {}", written(node)), &origin);
        }
    }
}

fn line(out: &mut String, indent: usize, text: &str, origin: &str) {
    let text = format!("{}{text}", " ".repeat(indent));
    let width = 64;
    if text.chars().count() < width {
        let _ = writeln!(out, "{text:<width$}  {origin}");
    } else {
        let _ = writeln!(out, "{text}  {origin}");
    }
}

/// A value as it is written in the file, on one line.
fn written(node: &Node) -> String {
    match &node.value {
        NodeValue::Str(s) => format!("{s:?}"),
        NodeValue::Int(i) => i.to_string(),
        NodeValue::Float(f) => f.to_string(),
        NodeValue::Bool(b) => b.to_string(),
        NodeValue::Datetime(d) => d.clone(),
        NodeValue::Array(items) => format!(
            "[{}]",
            items.iter().map(written).collect::<Vec<_>>().join(", ")
        ),
        NodeValue::Table(t) => format!(
            "{{ {} }}",
            t.iter()
                .map(|(k, e)| format!("{k} = {}", written(&e.node)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
