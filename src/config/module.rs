//! `[modules.NAME]`: another stack file used as a part of this one, once, or once per
//! `for_each` key. Modules are expanded when the stack loads, before validation, so that
//! everything after (validation, the graph, plans, state) sees one stack:
//!
//! - each instance's resources join the stack's own under names prefixed with the
//!   instance (`module.tenant["alpha"].content_bucket`, see [`super::address`]), and the
//!   references, `depends_on` and `moved_from` between them are rewritten to those names;
//! - the module's `${var.NAME}` are replaced by the values `vars` gives them, as written
//!   in the file that uses the module (they may refer to its resources, its variables,
//!   `each.key`), or by the module's defaults;
//! - `${module.tenant["alpha"].api_url}` is replaced by the value of that output.
//!
//! Inside a module `${stack.name}` is the name of the stack being deployed (the one that
//! uses the module): every physical name still carries it, and two stacks that use the
//! same module do not collide. The instances of one module tell their objects apart by
//! their variables (`vars = { stage = "${each.key}" }` for the upload form); when they do
//! not, validation names the two resources that would be one object.
//!
//! A module is deployed with the stack that uses it, under its state, in its account and
//! region: its own `[backend]`, `[stack] region` and `allowed_account_ids` are refused.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::address::{module_instance, module_path_len};
use super::expr::{reference_texts, substitute_each};
use super::load::load_chain;
use super::node::{Entry, Node, NodeValue, Table};
use super::validate::{
    TOP_LEVEL, check_keys, declared_variables, for_each_instances, string_at, variables,
};
use crate::diagnostics::Diagnostic;
use crate::diagnostics::source::{Sources, Span, display_path};

/// One instance of a module, for `--explain` and messages.
#[derive(Clone, Debug)]
pub struct ModuleInstance {
    /// `module.tenant["alpha"]`.
    pub path: String,
    /// The module's file, as diagnostics show it.
    pub source: String,
    /// `[modules.NAME]` in the file that uses the module.
    pub declared: Span,
}

const MODULE_KEYS: &[&str] = &["source", "for_each", "vars", "moved_from"];
/// Outputs may refer to outputs that refer to outputs; deeper than this is a cycle.
const MAX_OUTPUT_DEPTH: usize = 64;

/// Expands the `[modules]` of the merged document of the stack in `path` (with the
/// command line's `--var` pairs, for a `for_each` from a variable). Problems are reported
/// in `diagnostics`, with the file and line that cause them.
pub fn expand(
    document: Node,
    path: &Path,
    vars: &[(String, String)],
    sources: &mut Sources,
    diagnostics: &mut Vec<Diagnostic>,
) -> (Node, Vec<ModuleInstance>) {
    let Node {
        value: NodeValue::Table(mut top),
        span,
        ..
    } = document
    else {
        unreachable!("documents are tables")
    };
    let Some(modules) = top.shift_remove("modules") else {
        return (Node::new(NodeValue::Table(top), span), Vec::new());
    };
    let chain = vec![(path.canonicalize().unwrap_or(path.to_path_buf()), None)];
    let mut expander = Expander {
        sources,
        diagnostics: Vec::new(),
        instances: Vec::new(),
        outputs: IndexMap::new(),
        resources: Table::new(),
        variables: variables(&top, vars, &mut Vec::new()),
        declared_variables: declared_variables(&top),
    };
    expander.expand_modules(&modules, "", dir_of(path), &chain);
    let Expander {
        diagnostics: mut found,
        instances,
        outputs,
        resources,
        ..
    } = expander;
    let mut resolver = Resolver {
        outputs: &outputs,
        instances: &instances,
        diagnostics: &mut found,
    };
    let entry = top.entry("resources".to_string()).or_insert_with(|| Entry {
        key_span: modules.key_span.clone(),
        node: Node::new(NodeValue::Table(Table::new()), modules.node.span.clone()),
    });
    if let NodeValue::Table(table) = &mut entry.node.value {
        table.extend(resources);
    }
    for key in ["resources", "outputs"] {
        if let Some(entry) = top.get_mut(key) {
            entry.node = resolver.resolve(&entry.node, 0);
        }
    }
    diagnostics.extend(found);
    (Node::new(NodeValue::Table(top), span), instances)
}

fn dir_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

struct Expander<'a> {
    sources: &'a mut Sources,
    diagnostics: Vec<Diagnostic>,
    instances: Vec<ModuleInstance>,
    /// Every instance's outputs, in the using stack's terms: instance -> name -> value.
    outputs: IndexMap<String, IndexMap<String, Node>>,
    /// Every instance's resources, under their prefixed names.
    resources: Table,
    /// The using stack's variables, for a module's `for_each`.
    variables: IndexMap<String, super::model::Variable>,
    declared_variables: Vec<String>,
}

impl Expander<'_> {
    /// Expands the modules declared in `modules` (a `[modules]` table of the file in `dir`,
    /// whose own instance path is `prefix`). `chain` is the files that led here, to spell
    /// out a cycle.
    fn expand_modules(
        &mut self,
        modules: &Entry,
        prefix: &str,
        dir: &Path,
        chain: &[(PathBuf, Option<Span>)],
    ) {
        let Some(table) = modules.node.as_table() else {
            self.diagnostics
                .push(Diagnostic::error("`modules` must be a table").at(
                    &modules.node.span,
                    format!("expected a table, found {}", modules.node.kind()),
                ));
            return;
        };
        for (name, entry) in table {
            self.expand_module(name, entry, prefix, dir, chain);
        }
    }

    fn expand_module(
        &mut self,
        name: &str,
        entry: &Entry,
        prefix: &str,
        dir: &Path,
        chain: &[(PathBuf, Option<Span>)],
    ) {
        let diagnostics = &mut self.diagnostics;
        let Some(block) = entry.node.as_table() else {
            diagnostics.push(
                Diagnostic::error(format!("module `{name}` must be a table"))
                    .at(
                        &entry.node.span,
                        format!("expected a table, found {}", entry.node.kind()),
                    )
                    .help(format!(
                        "write `[modules.{name}]` with `source = \"other-stack.toml\"`"
                    )),
            );
            return;
        };
        check_keys(
            block,
            MODULE_KEYS,
            &format!("in module `{name}`"),
            diagnostics,
        );
        let Some(source_entry) = block.get("source") else {
            diagnostics.push(
                Diagnostic::error(format!("module `{name}` has no `source`"))
                    .at(&entry.key_span, "add `source = \"other-stack.toml\"`"),
            );
            return;
        };
        let Some(source) = string_at(source_entry, &format!("modules.{name}.source"), diagnostics)
        else {
            return;
        };
        let file = dir.join(&source);
        let source_span = source_entry.node.span.clone();
        let canonical = match file.canonicalize() {
            Ok(canonical) => canonical,
            Err(err) => {
                diagnostics.push(
                    Diagnostic::error(format!(
                        "cannot read the source of module `{name}`, `{}`: {err}",
                        display_path(&file)
                    ))
                    .at(&source_span, "no such stack file")
                    .help("a module's `source` is a stack file, relative to the file that uses it"),
                );
                return;
            }
        };
        if let Some(pos) = chain.iter().position(|(p, _)| *p == canonical) {
            let mut files: Vec<String> =
                chain[pos..].iter().map(|(p, _)| display_path(p)).collect();
            files.push(display_path(&canonical));
            let mut d = Diagnostic::error(format!("modules form a cycle: {}", files.join(" -> ")))
                .at(&source_span, "this closes the cycle");
            for (_, used_at) in chain[pos + 1..].iter().rev() {
                if let Some(span) = used_at {
                    d = d.related(span, "used as a module here");
                }
            }
            diagnostics.push(d.help("a module may use other modules, but never one that uses it"));
            return;
        }
        let chain_files = match load_chain(&file, self.sources) {
            Ok(chain_files) => chain_files,
            Err(found) => {
                diagnostics.extend(found);
                return;
            }
        };
        let document = super::merged(chain_files, diagnostics);
        let empty = Table::new();
        let top = document.as_table().unwrap_or(&empty);
        refuse_deployment_settings(name, block, top, diagnostics);
        check_keys(top, TOP_LEVEL, "at the top of a stack file", diagnostics);
        let instances = match block.get("for_each") {
            Some(for_each) => {
                let Some(instances) = for_each_instances(
                    &format!("module.{name}"),
                    for_each,
                    &self.variables,
                    &self.declared_variables,
                    diagnostics,
                ) else {
                    return;
                };
                instances
                    .into_iter()
                    .map(|(key, value)| Some((key, value)))
                    .collect()
            }
            None => vec![None],
        };
        let declared_vars = module_variables(top);
        let mut chain = chain.to_vec();
        chain.push((canonical, Some(source_span)));
        for each in instances {
            let path = module_instance(prefix, name, each.as_ref().map(|(k, _)| k.as_str()));
            let each_node = |node: &Node| match &each {
                Some((key, value)) => substitute_each(node, key, value),
                None => node.clone(),
            };
            let Some(bindings) =
                self.bind_variables(name, entry, block, &declared_vars, &each_node)
            else {
                continue;
            };
            let mut rewriter = Rewriter {
                prefix: format!("{path}."),
                locals: top
                    .get("resources")
                    .and_then(|e| e.node.as_table())
                    .map(|t| t.keys().cloned().collect())
                    .unwrap_or_default(),
                bindings: &bindings,
                diagnostics: &mut self.diagnostics,
            };
            let mut resources = rewriter.resources(top);
            let outputs = rewriter.outputs(top);
            let nested = top.get("modules").map(|m| rewriter.modules(m));
            self.move_into(name, block, &path, &mut resources, &each_node);
            self.instances.push(ModuleInstance {
                path: path.clone(),
                source: display_path(&file),
                declared: entry.key_span.clone(),
            });
            self.outputs.insert(path.clone(), outputs);
            self.resources.extend(resources);
            if let Some(nested) = nested {
                self.expand_modules(&nested, &format!("{path}."), dir_of(&file), &chain);
            }
        }
    }

    /// The value of each of the module's variables for one instance: from `vars` (with
    /// `each` replaced), or the declaration's default.
    fn bind_variables(
        &mut self,
        name: &str,
        entry: &Entry,
        block: &Table,
        declared: &IndexMap<String, ModuleVariable>,
        each_node: &dyn Fn(&Node) -> Node,
    ) -> Option<IndexMap<String, Node>> {
        let mut bindings = IndexMap::new();
        let mut ok = true;
        let given = block.get("vars");
        let given_table = match given {
            Some(e) => match e.node.as_table() {
                Some(t) => Some(t),
                None => {
                    self.diagnostics.push(
                        Diagnostic::error(format!("`vars` of module `{name}` must be a table"))
                            .at(
                                &e.node.span,
                                format!("expected a table, found {}", e.node.kind()),
                            )
                            .help("write `vars = { stage = \"prod\" }`"),
                    );
                    return None;
                }
            },
            None => None,
        };
        for (var, e) in given_table.into_iter().flatten() {
            if !declared.contains_key(var) {
                self.diagnostics.push(
                    Diagnostic::error(format!("module `{name}` has no variable `{var}`"))
                        .at(&e.key_span, "not declared in the module's `[variables]`")
                        .suggest(var, declared.keys().map(String::as_str)),
                );
                ok = false;
                continue;
            }
            bindings.insert(var.clone(), each_node(&e.node));
        }
        for (var, declaration) in declared {
            if let Some(sensitive) = &declaration.sensitive {
                let bound = bindings.get(var).or(declaration.default.as_ref());
                if let Some(bound) = bound
                    && !self.is_sensitive_variable(bound)
                {
                    let span = match bindings.get(var) {
                        Some(_) => &bound.span,
                        None => &entry.key_span,
                    };
                    self.diagnostics.push(
                        Diagnostic::error(format!(
                            "variable `{var}` of module `{name}` is sensitive: give it a sensitive variable of this stack"
                        ))
                        .at(span, "not a sensitive variable of this stack")
                        .related(sensitive, "declared sensitive here")
                        .note("the module's values become this stack's, and only this stack's sensitive variables are masked in plans, state and logs")
                        .help(format!(
                            "declare `[variables.{var}]` with `sensitive = true` here and write `vars = {{ {var} = \"${{var.{var}}}\" }}`"
                        )),
                    );
                    ok = false;
                }
            }
            if bindings.contains_key(var) {
                continue;
            }
            match &declaration.default {
                Some(default) => {
                    bindings.insert(var.clone(), default.clone());
                }
                None => {
                    self.diagnostics.push(
                        Diagnostic::error(format!(
                            "module `{name}` needs a value for variable `{var}`"
                        ))
                        .at(
                            &entry.key_span,
                            format!("add `vars = {{ {var} = \"...\" }}`"),
                        )
                        .note("the module declares it without a default"),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(bindings)
    }

    /// Whether `node` is exactly `"${var.NAME}"` of a sensitive variable of the stack.
    fn is_sensitive_variable(&self, node: &Node) -> bool {
        let Some(text) = node.as_str() else {
            return false;
        };
        let refs = reference_texts(text);
        matches!(&refs[..], [(range, inner)] if *range == (0..text.len())
        && inner.trim().strip_prefix("var.").is_some_and(|v| {
            self.variables.get(v).is_some_and(|v| v.sensitive)
        }))
    }

    /// `moved_from = { resource = "former_name" }` on the module: the module's resource is
    /// the object the using stack recorded under the former name.
    fn move_into(
        &mut self,
        name: &str,
        block: &Table,
        path: &str,
        resources: &mut Table,
        each_node: &dyn Fn(&Node) -> Node,
    ) {
        let Some(moved) = block.get("moved_from") else {
            return;
        };
        let Some(moves) = moved.node.as_table() else {
            self.diagnostics.push(
                Diagnostic::error(format!("`moved_from` of module `{name}` must be a table"))
                    .at(
                        &moved.node.span,
                        format!("expected a table, found {}", moved.node.kind()),
                    )
                    .help("map the module's resources to their former names: `moved_from = { content_bucket = \"content_bucket\" }`"),
            );
            return;
        };
        for (local, former) in moves {
            let Some(resource) = resources.get_mut(&format!("{path}.{local}")).and_then(|e| {
                match &mut e.node.value {
                    NodeValue::Table(t) => Some(t),
                    _ => None,
                }
            }) else {
                self.diagnostics.push(
                    Diagnostic::error(format!("module `{name}` has no resource `{local}`"))
                        .at(
                            &former.key_span,
                            "`moved_from` names the module's resources",
                        )
                        .suggest(
                            local,
                            resources
                                .keys()
                                .filter_map(|k| k.strip_prefix(path)?.strip_prefix('.')),
                        ),
                );
                continue;
            };
            resource.insert(
                "moved_from".into(),
                Entry {
                    key_span: former.key_span.clone(),
                    node: each_node(&former.node),
                },
            );
        }
    }
}

/// A module is deployed where the stack that uses it is: its own backend and placement
/// would contradict that.
fn refuse_deployment_settings(
    name: &str,
    block: &Table,
    top: &Table,
    diagnostics: &mut Vec<Diagnostic>,
) {
    if let Some(backend) = top.get("backend") {
        let mut d = Diagnostic::error(format!("module `{name}` has a `[backend]`")).at(
            &backend.key_span,
            "a module's state is the state of the stack that uses it",
        );
        if let Some(for_each) = block.get("for_each") {
            d = d.related(
                &for_each.key_span,
                "and its instances would share this backend",
            );
        }
        diagnostics.push(
            d.help("remove `[backend]` from the module's file, or use it as a stack of its own"),
        );
    }
    let stack = top.get("stack").and_then(|e| e.node.as_table());
    for key in ["region", "allowed_account_ids"] {
        if let Some(pin) = stack.and_then(|s| s.get(key)) {
            diagnostics.push(
                Diagnostic::error(format!("module `{name}` sets `[stack] {key}`"))
                    .at(
                        &pin.key_span,
                        "a module is deployed where the stack that uses it is",
                    )
                    .help(format!(
                        "set `{key}` in the `[stack]` of the stack that uses the module"
                    )),
            );
        }
    }
}

/// A variable the module declares.
struct ModuleVariable {
    default: Option<Node>,
    /// Where `sensitive = true` is written, if it is.
    sensitive: Option<Span>,
}

/// The module's variables, their defaults and whether they are sensitive.
fn module_variables(top: &Table) -> IndexMap<String, ModuleVariable> {
    top.get("variables")
        .and_then(|e| e.node.as_table())
        .into_iter()
        .flatten()
        .map(|(name, e)| {
            let decl = e.node.as_table();
            let variable = ModuleVariable {
                default: decl.and_then(|t| t.get("default")).map(|d| d.node.clone()),
                sensitive: decl
                    .and_then(|t| t.get("sensitive"))
                    .filter(|s| matches!(s.node.value, NodeValue::Bool(true)))
                    .map(|s| s.key_span.clone()),
            };
            (name.clone(), variable)
        })
        .collect()
}

/// Rewrites one module file's text into the using stack's terms, for one instance.
struct Rewriter<'a> {
    /// `module.tenant["alpha"].`
    prefix: String,
    /// The module's own resources.
    locals: Vec<String>,
    bindings: &'a IndexMap<String, Node>,
    diagnostics: &'a mut Vec<Diagnostic>,
}

impl Rewriter<'_> {
    fn resources(&mut self, top: &Table) -> Table {
        let Some(resources) = top.get("resources").and_then(|e| e.node.as_table()) else {
            return Table::new();
        };
        resources
            .iter()
            .map(|(name, entry)| {
                let mut entry = entry.clone();
                if let NodeValue::Table(table) = &mut entry.node.value {
                    for (key, e) in table.iter_mut() {
                        e.node = match key.as_str() {
                            "depends_on" => self.prefixed_names(&e.node),
                            "moved_from" if e.node.as_str().is_some() => {
                                self.prefixed_names(&e.node)
                            }
                            "type" | "moved_from" => e.node.clone(),
                            _ => self.node(&e.node),
                        };
                    }
                }
                (format!("{}{name}", self.prefix), entry)
            })
            .collect()
    }

    fn outputs(&mut self, top: &Table) -> IndexMap<String, Node> {
        let Some(outputs) = top.get("outputs").and_then(|e| e.node.as_table()) else {
            return IndexMap::new();
        };
        outputs
            .iter()
            .map(|(name, e)| {
                let value = match e.node.as_table().and_then(|t| t.get("value")) {
                    Some(value) => &value.node,
                    None => &e.node,
                };
                (name.clone(), self.node(value))
            })
            .collect()
    }

    /// The module's own `[modules]`, their `vars`, `for_each` and former names rewritten.
    fn modules(&mut self, modules: &Entry) -> Entry {
        let mut modules = modules.clone();
        if let NodeValue::Table(table) = &mut modules.node.value {
            for module in table.values_mut() {
                let NodeValue::Table(block) = &mut module.node.value else {
                    continue;
                };
                for (key, e) in block.iter_mut() {
                    match key.as_str() {
                        "vars" | "for_each" => e.node = self.node(&e.node),
                        "moved_from" => e.node = self.prefixed_names(&e.node),
                        _ => {}
                    }
                }
            }
        }
        modules
    }

    /// Resource names (`depends_on`, a former name), under the instance's prefix.
    fn prefixed_names(&self, node: &Node) -> Node {
        let mut out = node.clone();
        match &mut out.value {
            NodeValue::Str(s) => *s = format!("{}{s}", self.prefix),
            NodeValue::Array(items) => {
                for item in items {
                    *item = self.prefixed_names(item);
                }
            }
            NodeValue::Table(t) => {
                for e in t.values_mut() {
                    e.node = self.prefixed_names(&e.node);
                }
            }
            _ => {}
        }
        out
    }

    fn node(&mut self, node: &Node) -> Node {
        map_strings(node, &mut |node, text| self.string(node, text))
    }

    fn string(&mut self, node: &Node, text: &str) -> Node {
        let refs = reference_texts(text);
        // `"${var.tags}"`: the whole value, whatever its type.
        if let [(range, inner)] = &refs[..]
            && *range == (0..text.len())
            && let Some(var) = inner.trim().strip_prefix("var.")
            && let Some(bound) = self.bindings.get(var)
        {
            let mut bound = bound.clone();
            bound.overrides = Some(node.span.clone());
            return bound;
        }
        let mut out = String::new();
        let mut at = 0;
        for (range, inner) in refs {
            out.push_str(&text[at..range.start]);
            at = range.end;
            let reference = inner.trim();
            if let Some(var) = reference.strip_prefix("var.") {
                match self.bindings.get(var).map(|b| &b.value) {
                    Some(NodeValue::Str(s)) => out.push_str(s),
                    Some(NodeValue::Int(i)) => out.push_str(&i.to_string()),
                    Some(NodeValue::Float(f)) => out.push_str(&f.to_string()),
                    Some(NodeValue::Bool(b)) => out.push_str(&b.to_string()),
                    Some(other) => {
                        let kind = Node::new(other.clone(), node.span.clone()).kind();
                        self.diagnostics.push(
                            Diagnostic::error(format!(
                                "variable `{var}` is {kind}, which cannot be part of a string"
                            ))
                            .at(&node.span, "used inside a string here")
                            .help(format!("use it as the whole value: `\"${{var.{var}}}\"`")),
                        );
                    }
                    None => {
                        self.diagnostics.push(
                            Diagnostic::error(format!("unknown variable `{var}`"))
                                .at(&node.span, "not declared in the module's `[variables]`")
                                .suggest(var, self.bindings.keys().map(String::as_str)),
                        );
                    }
                }
                continue;
            }
            let head_len = reference.find(['.', '[']).unwrap_or(reference.len());
            let local = self.locals.iter().any(|l| *l == reference[..head_len]);
            if local || module_path_len(reference) > 0 {
                out.push_str(&format!("${{{}{reference}}}", self.prefix));
            } else {
                out.push_str(&text[range]);
            }
        }
        out.push_str(&text[at..]);
        let mut node = node.clone();
        node.value = NodeValue::Str(out);
        node
    }
}

/// A copy of a value tree with each string replaced by what `f` makes of it.
fn map_strings(node: &Node, f: &mut dyn FnMut(&Node, &str) -> Node) -> Node {
    let mut out = node.clone();
    match &node.value {
        NodeValue::Str(text) => return f(node, text),
        NodeValue::Array(items) => {
            out.value = NodeValue::Array(items.iter().map(|n| map_strings(n, f)).collect())
        }
        NodeValue::Table(t) => {
            out.value = NodeValue::Table(
                t.iter()
                    .map(|(k, e)| {
                        let mut e = e.clone();
                        e.node = map_strings(&e.node, f);
                        (k.clone(), e)
                    })
                    .collect(),
            )
        }
        _ => {}
    }
    out
}

/// Replaces references to module outputs by the outputs' values.
struct Resolver<'a> {
    outputs: &'a IndexMap<String, IndexMap<String, Node>>,
    instances: &'a [ModuleInstance],
    diagnostics: &'a mut Vec<Diagnostic>,
}

impl Resolver<'_> {
    fn resolve(&mut self, node: &Node, depth: usize) -> Node {
        map_strings(node, &mut |node, text| self.string(node, text, depth))
    }

    fn string(&mut self, node: &Node, text: &str, depth: usize) -> Node {
        let refs = reference_texts(text);
        let mut out = String::new();
        let mut at = 0;
        let whole = refs.len() == 1 && refs[0].0 == (0..text.len());
        for (range, inner) in refs {
            out.push_str(&text[at..range.start]);
            at = range.end;
            let value = match output_reference(inner.trim()) {
                Some((instance, output)) => self.output(node, instance, output, depth),
                None => match each_output_reference(inner.trim()) {
                    Some((module, each, output)) => {
                        self.each_output(node, module, each, output, depth)
                    }
                    None => {
                        out.push_str(&text[range]);
                        continue;
                    }
                },
            };
            let Some(value) = value else {
                continue;
            };
            let value = self.resolve(&value, depth + 1);
            if whole {
                return value;
            }
            match &value.value {
                NodeValue::Str(s) => out.push_str(s),
                NodeValue::Int(i) => out.push_str(&i.to_string()),
                NodeValue::Bool(b) => out.push_str(&b.to_string()),
                NodeValue::Float(f) => out.push_str(&f.to_string()),
                _ => self.diagnostics.push(
                    Diagnostic::error(format!(
                        "`${{{}}}` is {}, which cannot be part of a string",
                        inner.trim(),
                        value.kind()
                    ))
                    .at(&node.span, "used inside a string here"),
                ),
            }
        }
        out.push_str(&text[at..]);
        let mut node = node.clone();
        node.value = NodeValue::Str(out);
        node
    }

    /// The value of `output` of module instance `instance`, or the reason there is none.
    fn output(&mut self, node: &Node, instance: &str, output: &str, depth: usize) -> Option<Node> {
        if depth > MAX_OUTPUT_DEPTH {
            self.diagnostics.push(
                Diagnostic::error(format!("the outputs of modules refer to each other in a cycle, through `{instance}.{output}`"))
                    .at(&node.span, "refers to an output that leads back here"),
            );
            return None;
        }
        let Some(outputs) = self.outputs.get(instance) else {
            self.diagnostics.push(self.unknown_instance(node, instance));
            return None;
        };
        match outputs.get(output) {
            Some(value) => Some(value.clone()),
            None => {
                self.diagnostics.push(
                    Diagnostic::error(format!("`{instance}` has no output `{output}`"))
                        .at(&node.span, "unknown output")
                        .suggest(output, outputs.keys().map(String::as_str))
                        .note(if outputs.is_empty() {
                            "the module declares no `[outputs]`".to_string()
                        } else {
                            format!(
                                "its outputs: {}",
                                outputs.keys().cloned().collect::<Vec<_>>().join(", ")
                            )
                        }),
                );
                None
            }
        }
    }

    /// `${module.tenant[each.key].api_url}` in a `for_each` resource: the output written
    /// once for every instance (`${module.tenant[each.key].upload_api.url}`), for the
    /// resource's own `for_each` to pick the instance. The instances must agree on it.
    fn each_output(
        &mut self,
        node: &Node,
        module: &str,
        each: &str,
        output: &str,
        depth: usize,
    ) -> Option<Node> {
        let instances: Vec<String> = self
            .instances
            .iter()
            .filter(|i| super::expr::split_instance(&i.path).0 == module)
            .map(|i| i.path.clone())
            .collect();
        if instances.is_empty() {
            self.diagnostics.push(self.unknown_instance(node, module));
            return None;
        }
        let mut written: Option<Node> = None;
        for instance in &instances {
            let mut value = self.output(node, instance, output, depth)?;
            let NodeValue::Str(text) = &value.value else {
                written = None;
                break;
            };
            let text = text.replace(&format!("{instance}."), &format!("{module}[{each}]."));
            if written
                .as_ref()
                .is_some_and(|w| w.as_str() != Some(text.as_str()))
            {
                written = None;
                break;
            }
            value.value = NodeValue::Str(text);
            written = Some(value);
        }
        if written.is_none() {
            self.diagnostics.push(
                Diagnostic::error(format!(
                    "output `{output}` of `{module}` is not the same expression in every instance"
                ))
                .at(
                    &node.span,
                    format!("`[{each}]` cannot choose the instance here"),
                )
                .help(format!(
                    "name the instance: `${{{}.{output}}}`",
                    instances[0]
                )),
            );
        }
        written
    }

    fn unknown_instance(&self, node: &Node, instance: &str) -> Diagnostic {
        let keyed = |i: &&ModuleInstance| {
            super::expr::split_instance(&i.path).0 == super::expr::split_instance(instance).0
        };
        let same_module: Vec<&str> = self
            .instances
            .iter()
            .filter(keyed)
            .map(|i| i.path.as_str())
            .collect();
        let d = Diagnostic::error(format!("unknown module instance `{instance}`"));
        if same_module.is_empty() {
            return d
                .at(&node.span, "no module with this name")
                .suggest(instance, self.instances.iter().map(|i| i.path.as_str()));
        }
        d.at(&node.span, "no such instance")
            .related(
                &self
                    .instances
                    .iter()
                    .find(keyed)
                    .expect("not empty")
                    .declared,
                "the module is declared here",
            )
            .note(format!("its instances: {}", same_module.join(", ")))
    }
}

/// `module.tenant["alpha"].api_url` -> (`module.tenant["alpha"]`, `api_url`); `None` for a
/// reference that is not to a module's output.
fn output_reference(reference: &str) -> Option<(&str, &str)> {
    let len = module_path_len(reference);
    let output = &reference[len..];
    (len > 0 && !output.is_empty() && !output.contains(['.', '[']))
        .then(|| (&reference[..len - 1], output))
}

/// `module.tenant[each.key].api_url` -> (`module.tenant`, `each.key`, `api_url`).
fn each_output_reference(reference: &str) -> Option<(&str, &str, &str)> {
    ["each.key", "each.value"].into_iter().find_map(|each| {
        let (module, output) = reference.split_once(&format!("[{each}]."))?;
        let path = module_path_len(&format!("{module}."));
        (path == module.len() + 1 && !output.is_empty() && !output.contains(['.', '[']))
            .then_some((module, each, output))
    })
}

#[cfg(test)]
mod tests {
    use super::{each_output_reference, output_reference};
    use crate::config::expr::Target;

    fn load(files: &[(&str, &str)]) -> Result<crate::config::Stack, String> {
        crate::config::load_test_files(files, &[], |_| ((), Vec::new())).map(|(stack, ())| stack)
    }

    const QUEUES: &str = r#"
[stack]
name = "queues"
[variables.prefix]
default = "p"
[resources.q]
type = "sqs.queue"
name = "${stack.name}-${var.prefix}"
[resources.dlq]
type = "sqs.queue"
for_each = ["x"]
name = "${stack.name}-${var.prefix}-${each.key}"
redrive_policy = { dead_letter_queue = "${q.arn}", max_receive_count = 3 }
depends_on = ["q"]
[outputs]
arn = { value = "${q.arn}", description = "the queue" }
name = "${q.name}"
prefix = "${var.prefix}"
"#;

    const ROOT: &str = r#"
[stack]
name = "root"
[modules.m]
source = "queues.toml"
for_each = ["a", "b"]
vars = { prefix = "${stack.name}-${each.key}" }
[resources.main]
type = "sqs.queue"
name = 'main-${module.m["a"].name}'
redrive_policy = { dead_letter_queue = '${module.m["b"].arn}', max_receive_count = 3 }
"#;

    #[test]
    fn each_instance_gets_prefixed_names_its_variables_and_its_outputs() {
        let root = ROOT;
        let stack = load(&[("queues.toml", QUEUES), ("root.toml", root)]).unwrap();
        let names: Vec<&str> = stack.resources.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "main",
                "module.m[\"a\"].q",
                "module.m[\"a\"].dlq[\"x\"]",
                "module.m[\"b\"].q",
                "module.m[\"b\"].dlq[\"x\"]",
            ]
        );
        let q = &stack.resources["module.m[\"b\"].q"];
        assert_eq!(
            q.attributes["name"].node.as_str(),
            Some("${stack.name}-${stack.name}-b")
        );
        assert_eq!(q.address(), "module.m[\"b\"].sqs.queue.q");
        let dlq = &stack.resources["module.m[\"a\"].dlq[\"x\"]"];
        assert_eq!(dlq.depends_on[0].0, "module.m[\"a\"].q");
        assert!(dlq.references.iter().any(|r| r.target
            == Target::Resource {
                name: "module.m[\"a\"].q".into(),
                attribute: "arn".into()
            }));
        let main = &stack.resources["main"];
        assert_eq!(
            main.attributes["name"].node.as_str(),
            Some("main-${module.m[\"a\"].q.name}")
        );
        assert!(main.references.iter().any(|r| r.target
            == Target::Resource {
                name: "module.m[\"b\"].q".into(),
                attribute: "arn".into()
            }));
        let paths: Vec<&str> = stack.modules.iter().map(|m| m.path.as_str()).collect();
        assert_eq!(paths, ["module.m[\"a\"]", "module.m[\"b\"]"]);
        // `--explain`: the instances, where they are declared, and each resource's own line.
        let explained = crate::config::explain::explain(&stack);
        let line = |start: &str| {
            explained
                .lines()
                .find(|l| l.trim_start().starts_with(start))
                // Files by their names: the test's directory is a temporary one.
                .map(|l| {
                    l.split_whitespace()
                        .map(|word| word.rsplit('/').next().unwrap_or(word))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .unwrap_or_default()
        };
        assert_eq!(
            line("module.m[\"b\"] (source"),
            "module.m[\"b\"] (source queues.toml) root.toml:4"
        );
        assert_eq!(
            line("module.m[\"b\"].q "),
            "module.m[\"b\"].q (sqs.queue) queues.toml:6"
        );
    }

    #[test]
    fn nested_modules_and_moves_into_a_module() {
        let outer = r#"
[stack]
name = "outer"
[variables.prefix]
[modules.inner]
source = "queues.toml"
vars = { prefix = "${var.prefix}-in" }
[outputs]
arn = "${module.inner.arn}"
"#;
        let root = r#"
[stack]
name = "root"
[modules.o]
source = "outer.toml"
vars = { prefix = "o" }
moved_from = { inner_queue = "q" }
[outputs]
arn = "${module.o.arn}"
"#;
        let err = load(&[
            ("queues.toml", QUEUES),
            ("outer.toml", outer),
            ("root.toml", root),
        ])
        .err()
        .unwrap();
        assert!(
            err.contains("error: module `o` has no resource `inner_queue`"),
            "{err}"
        );
        let root = root.replace("moved_from = { inner_queue = \"q\" }", "");
        let stack = load(&[
            ("queues.toml", QUEUES),
            ("outer.toml", outer),
            ("root.toml", &root),
        ])
        .unwrap();
        let q = &stack.resources["module.o.module.inner.q"];
        assert_eq!(
            q.attributes["name"].node.as_str(),
            Some("${stack.name}-o-in")
        );
        assert_eq!(
            stack.outputs["arn"].value.as_str(),
            Some("${module.o.module.inner.q.arn}")
        );
        // A module-level `moved_from` names the module's resource and its former name.
        let moved = QUEUES.replace("[resources.dlq]", "[resources.dlq2]");
        let root = "[stack]\nname = \"root\"\n[modules.m]\nsource = \"queues.toml\"\nmoved_from = { q = \"old_queue\" }\n";
        let stack = load(&[("queues.toml", &moved), ("root.toml", root)]).unwrap();
        assert_eq!(
            stack.resources["module.m.q"].moved_from.as_ref().unwrap().0,
            "old_queue"
        );
    }

    #[test]
    fn a_for_each_resource_picks_the_instance_of_its_key() {
        let root = ROOT
            .replace(
                "name = 'main-${module.m[\"a\"].name}'",
                "for_each = [\"a\", \"b\"]\nname = \"main-${each.key}\"",
            )
            .replace("${module.m[\"b\"].arn}", "${module.m[each.key].arn}");
        let root = root.as_str();
        let stack = load(&[("queues.toml", QUEUES), ("root.toml", root)]).unwrap();
        assert!(
            stack.resources["main[\"b\"]"]
                .references
                .iter()
                .any(|r| r.target
                    == Target::Resource {
                        name: "module.m[\"b\"].q".into(),
                        attribute: "arn".into()
                    })
        );
        // An output whose expression differs from instance to instance cannot be chosen so.
        let root = root.replace(".arn}'", ".prefix}'");
        let err = load(&[("queues.toml", QUEUES), ("root.toml", &root)])
            .err()
            .unwrap();
        assert!(
            err.contains(
                "error: output `prefix` of `module.m` is not the same expression in every instance"
            ),
            "{err}"
        );
        assert!(
            err.contains("= help: name the instance: `${module.m[\"a\"].prefix}`"),
            "{err}"
        );
    }

    #[test]
    fn output_references_name_an_instance_and_one_output() {
        assert_eq!(
            output_reference("module.tenant[\"a.b\"].api_url"),
            Some(("module.tenant[\"a.b\"]", "api_url"))
        );
        assert_eq!(output_reference("module.t.bucket.arn"), None);
        assert_eq!(output_reference("queue.arn"), None);
        assert_eq!(
            each_output_reference("module.t[each.key].url"),
            Some(("module.t", "each.key", "url"))
        );
        assert_eq!(each_output_reference("queue[each.key].url"), None);
    }
}
