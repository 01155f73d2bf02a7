//! `strata validate` and `strata graph`.

use std::process::ExitCode;

use indexmap::IndexMap;

use super::out::{out, outln};
use super::{StackArgs, load_with_graph};

pub fn validate(args: &StackArgs, explain: bool) -> anyhow::Result<ExitCode> {
    let (stack, graph) = match load_with_graph(args) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    if explain {
        out!("{}", strata::ops::explain(&stack))?;
        return Ok(ExitCode::SUCCESS);
    }
    let order = graph
        .order()
        .map_err(|_| anyhow::anyhow!("cycle after validation"))?;
    outln!(
        "{}: valid",
        stack.files.last().map(String::as_str).unwrap_or("")
    )?;
    if stack.files.len() > 1 {
        outln!(
            "  extends {}",
            stack.files[..stack.files.len() - 1]
                .iter()
                .rev()
                .cloned()
                .collect::<Vec<_>>()
                .join(" -> ")
        )?;
    }
    let vars: Vec<String> = stack
        .variables
        .iter()
        .map(|(k, v)| match v.value.as_str() {
            // Its value stays off the screen, as in plans.
            _ if v.sensitive => format!("{k}=(sensitive)"),
            Some(text) => format!("{k}={text}"),
            None => format!("{k}={}", v.value.render()),
        })
        .collect();
    outln!(
        "stack {}{}",
        stack.name,
        if vars.is_empty() {
            String::new()
        } else {
            format!(" ({})", vars.join(", "))
        }
    )?;

    let mut by_type: IndexMap<&str, Vec<&str>> = IndexMap::new();
    for decl in stack.resources.values() {
        by_type
            .entry(decl.type_name())
            .or_default()
            .push(&decl.name);
    }
    outln!("\n{} resources", stack.resources.len())?;
    for (type_name, names) in &by_type {
        outln!("  {type_name:<24} {:>2}  {}", names.len(), names.join(", "))?;
    }
    outln!("\napply order")?;
    for (i, name) in order.iter().enumerate() {
        let decl = &stack.resources[name];
        let deps: Vec<&str> = graph.dependencies(name).collect();
        let after = if deps.is_empty() {
            String::new()
        } else {
            format!("  after {}", deps.join(", "))
        };
        outln!("  {:>2}. {}{after}", i + 1, decl.address())?;
    }
    if !stack.data.is_empty() {
        let data: Vec<String> = stack
            .data
            .values()
            .map(|d| format!("{} ({})", d.address(), d.source.type_name()))
            .collect();
        outln!("\ndata sources: {}", data.join(", "))?;
    }
    if !stack.outputs.is_empty() {
        outln!(
            "\noutputs: {}",
            stack.outputs.keys().cloned().collect::<Vec<_>>().join(", ")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

pub fn graph(args: &StackArgs) -> anyhow::Result<ExitCode> {
    let (stack, graph) = match load_with_graph(args) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    out!("{}", strata::ops::dot_with_data(&stack, &graph))?;
    Ok(ExitCode::SUCCESS)
}
