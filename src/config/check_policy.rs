//! Policy documents as written in a stack, against IAM's policy grammar and the rules of
//! the place they are used in ([`PolicyRules`]): the keys a document and a statement take,
//! `Effect`, the shapes of `Action`, `Principal`, `Resource` and `Condition`, `Version`,
//! statement ids, and the size and count limits of the service that stores the document.

use std::collections::HashMap;

use super::check::example_problem;
use super::expr::{Scope, evaluate};
use super::node::{Entry, Node, NodeValue, Table};
use super::validate::check_keys;
use crate::diagnostics::{Diagnostic, nearest};
use crate::schema::rules::{
    self, ACTION, AWS_PRINCIPAL, CANONICAL_USER, CONDITION_KEY, DOCUMENT_KEYS, EFFECTS,
    FEDERATED_PRINCIPAL, PRINCIPAL_KINDS, RESOURCE, SERVICE_PRINCIPAL, STATEMENT_KEYS, VERSIONS,
};
use crate::schema::{PolicyRules, Size, Text, quoted_list};
use crate::value::Value;

/// Checks the policy document `node` (a table) for the place `rules` describe. `trust`:
/// a role's trust policy, which may also be written `{ service = "..." }`.
pub fn check_policy(
    rules: &PolicyRules,
    trust: bool,
    node: &Node,
    table: &Table,
    what: &str,
    scope: &dyn Scope,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let mut check = Checker {
        rules,
        scope,
        what,
        diagnostics,
    };
    if trust && table.contains_key("service") {
        check.service_shorthand(table);
        return;
    }
    let Some(statement) = table.get("Statement") else {
        let (expected, help) = if trust {
            (
                "expected `service` or `Statement`",
                "write `{ service = \"lambda.amazonaws.com\" }` or a full policy document",
            )
        } else {
            (
                "expected a `Statement` key",
                "write `{ Version = \"2012-10-17\", Statement = [{ Effect = \"Allow\", ... }] }`",
            )
        };
        let kind = if trust {
            "a trust policy"
        } else {
            "a policy document"
        };
        check.diagnostics.push(
            Diagnostic::error(format!("`{what}` is not {kind}"))
                .at(&node.span, expected)
                .help(help),
        );
        return;
    };
    check.keys(table, DOCUMENT_KEYS, what);
    if let Some(version) = table.get("Version") {
        check.one_of(version, &format!("{what}.Version"), VERSIONS);
    }
    if let Some(id) = table.get("Id") {
        check.string(&id.node, &format!("{what}.Id"));
    }
    check.statements(statement, &format!("{what}.Statement"));
    check.size(node);
}

struct Checker<'a, 'd> {
    rules: &'a PolicyRules,
    scope: &'a dyn Scope,
    what: &'a str,
    diagnostics: &'d mut Vec<Diagnostic>,
}

impl Checker<'_, '_> {
    fn error(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn invalid(&mut self, node: &Node, what: &str, label: impl Into<String>) {
        self.error(Diagnostic::error(format!("invalid value for `{what}`")).at(&node.span, label));
    }

    /// The string a leaf stands for: `None` when it is not known yet (or not a string,
    /// reported).
    fn known_string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            NodeValue::Str(_) => match evaluate(node, self.scope) {
                Value::Str(s) => Some(s),
                _ => None,
            },
            _ => {
                self.invalid(
                    node,
                    what,
                    format!("expected a string, found {}", node.kind()),
                );
                None
            }
        }
    }

    fn string(&mut self, node: &Node, what: &str) {
        self.known_string(node, what);
    }

    fn keys(&mut self, table: &Table, allowed: &[&str], what: &str) {
        check_keys(table, allowed, &format!("in `{what}`"), self.diagnostics);
    }

    fn one_of(&mut self, entry: &Entry, what: &str, allowed: &[&str]) -> Option<String> {
        let value = self.known_string(&entry.node, what)?;
        if !allowed.contains(&value.as_str()) {
            let mut d = Diagnostic::error(format!("invalid value for `{what}`")).at(
                &entry.node.span,
                format!(
                    "`{value}` is not allowed: expected {}",
                    quoted_list(allowed)
                ),
            );
            if let Some(near) = nearest(&value, allowed.iter().copied()) {
                d = d.help(format!("did you mean `{near}`?"));
            }
            self.error(d);
        }
        Some(value)
    }

    /// A value that is one string or a non-empty array of strings, each checked against
    /// `text` (when known). Returns the known strings with their nodes' spans.
    fn string_or_list<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        text: &Text,
    ) -> Vec<(String, &'n Node)> {
        let items: Vec<(&Node, String)> = match &node.value {
            NodeValue::Array(items) if items.is_empty() => {
                self.invalid(node, what, "expected at least one value");
                return Vec::new();
            }
            NodeValue::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, n)| (n, format!("{what}[{i}]")))
                .collect(),
            _ => vec![(node, what.to_string())],
        };
        let mut out = Vec::new();
        for (item, what) in items {
            let Some(value) = self.known_string(item, &what) else {
                if let Some(problem) = example_problem(item, text, self.scope) {
                    self.invalid(item, &what, problem);
                }
                continue;
            };
            if let Some(problem) = text.problem(&value) {
                self.invalid(item, &what, problem);
            }
            out.push((value, item));
        }
        out
    }

    /// `{ service = "lambda.amazonaws.com" }` (or a list of services).
    fn service_shorthand(&mut self, table: &Table) {
        let what = self.what.to_string();
        for (key, entry) in table.iter().filter(|(k, _)| *k != "service") {
            self.error(
                Diagnostic::error(format!("unknown key `{key}` in `{what}`"))
                    .at(&entry.key_span, "the short form takes only `service`")
                    .help("write `{ service = \"...\" }`, or a full document with `Version` and `Statement`"),
            );
        }
        let service = &table["service"].node;
        self.string_or_list(service, &format!("{what}.service"), &SERVICE_PRINCIPAL);
    }

    fn statements(&mut self, entry: &Entry, what: &str) {
        let statements: Vec<(&Node, String)> = match &entry.node.value {
            NodeValue::Table(_) => vec![(&entry.node, what.to_string())],
            NodeValue::Array(items) if items.is_empty() => {
                self.invalid(&entry.node, what, "expected at least one statement");
                return;
            }
            NodeValue::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, n)| (n, format!("{what}[{i}]")))
                .collect(),
            _ => {
                self.invalid(
                    &entry.node,
                    what,
                    format!(
                        "expected a statement table or an array of them, found {}",
                        entry.node.kind()
                    ),
                );
                return;
            }
        };
        let max = self.rules.max_statements;
        self.at_most(&entry.node, what, statements.len(), max, "statements");
        let mut sids: HashMap<String, String> = HashMap::new();
        for (node, what) in statements {
            let NodeValue::Table(table) = &node.value else {
                self.invalid(
                    node,
                    &what,
                    format!("expected a statement table, found {}", node.kind()),
                );
                continue;
            };
            if let Some(sid) = self.statement(node, table, &what)
                && !sid.is_empty()
            {
                if let Some(first) = sids.get(&sid) {
                    self.error(
                        Diagnostic::error(format!("duplicate `Sid` \"{sid}\" in `{}`", self.what))
                            .at(
                                &table["Sid"].node.span,
                                format!("`{first}` has the same `Sid`"),
                            )
                            .help("each statement's `Sid` must be unique within its policy"),
                    );
                } else {
                    sids.insert(sid, what);
                }
            }
        }
    }

    /// Checks one statement; its `Sid`, when known.
    fn statement(&mut self, node: &Node, table: &Table, what: &str) -> Option<String> {
        self.keys(table, STATEMENT_KEYS, what);
        let effect = match table.get("Effect") {
            Some(effect) => self.one_of(effect, &format!("{what}.Effect"), EFFECTS),
            None => {
                self.missing(
                    node,
                    what,
                    "Effect",
                    "add `Effect = \"Allow\"` or `\"Deny\"`",
                );
                None
            }
        };
        self.exactly_one(node, table, what, "Action", "NotAction", true);
        for key in ["Action", "NotAction"] {
            if let Some(entry) = table.get(key) {
                self.actions(&entry.node, &format!("{what}.{key}"));
            }
        }
        self.exactly_one(
            node,
            table,
            what,
            "Principal",
            "NotPrincipal",
            self.rules.principal,
        );
        for key in ["Principal", "NotPrincipal"] {
            if let Some(entry) = table.get(key) {
                self.principal(&entry.node, &format!("{what}.{key}"));
            }
        }
        if let (Some(entry), Some("Allow")) = (table.get("NotPrincipal"), effect.as_deref()) {
            self.error(
                Diagnostic::error(format!(
                    "`NotPrincipal` with `Effect = \"Allow\"` in `{what}`"
                ))
                .at(
                    &entry.key_span,
                    "`NotPrincipal` is allowed only with `Effect = \"Deny\"`",
                )
                .help("name the principals to allow in `Principal`"),
            );
        }
        self.exactly_one(
            node,
            table,
            what,
            "Resource",
            "NotResource",
            self.rules.resource,
        );
        for key in ["Resource", "NotResource"] {
            if let Some(entry) = table.get(key) {
                self.string_or_list(&entry.node, &format!("{what}.{key}"), &RESOURCE);
            }
        }
        if let Some(entry) = table.get("Condition") {
            self.condition(&entry.node, &format!("{what}.Condition"));
        }
        let sid = table.get("Sid")?;
        let value = self.known_string(&sid.node, &format!("{what}.Sid"))?;
        if let Some(problem) = self.rules.sid.problem(&value) {
            self.invalid(
                &sid.node,
                &format!("{what}.Sid"),
                format!("{problem} in {}", self.rules.kind),
            );
        }
        Some(value)
    }

    /// An error when `count` of `things` are more than `max`.
    fn at_most(&mut self, node: &Node, what: &str, count: usize, max: usize, things: &str) {
        if count > max {
            let kind = self.rules.kind;
            self.invalid(
                node,
                what,
                format!("{count} {things}: {kind} takes at most {max}"),
            );
        }
    }

    fn missing(&mut self, node: &Node, what: &str, key: &str, help: &str) {
        self.error(
            Diagnostic::error(format!("missing `{key}` in `{what}`"))
                .at(&node.span, format!("this statement has no `{key}`"))
                .help(help),
        );
    }

    /// `key` or `not_key`, one of them when `wanted`, neither otherwise.
    fn exactly_one(
        &mut self,
        node: &Node,
        table: &Table,
        what: &str,
        key: &str,
        not_key: &str,
        wanted: bool,
    ) {
        match (table.get(key), table.get(not_key)) {
            (Some(_), Some(second)) => self.error(
                Diagnostic::error(format!("both `{key}` and `{not_key}` in `{what}`")).at(
                    &second.key_span,
                    format!("a statement has `{key}` or `{not_key}`, not both"),
                ),
            ),
            (None, None) if wanted => {
                let kind = self.rules.kind;
                self.missing(
                    node,
                    what,
                    key,
                    &format!("{kind} names the {} of each statement", key.to_lowercase()),
                );
            }
            (Some(entry), None) | (None, Some(entry)) if !wanted => {
                let named = if table.contains_key(key) {
                    key
                } else {
                    not_key
                };
                let why = match key {
                    "Principal" => {
                        format!(
                            "{} applies to the role itself: it names no principal",
                            self.rules.kind
                        )
                    }
                    _ => format!(
                        "{} is about assuming the role: it names no resource",
                        self.rules.kind
                    ),
                };
                self.error(
                    Diagnostic::error(format!("`{named}` is not allowed in {}", self.rules.kind))
                        .at(&entry.key_span, why)
                        .help(format!("remove `{named}` from `{what}`")),
                );
            }
            _ => {}
        }
    }

    fn actions(&mut self, node: &Node, what: &str) {
        let actions = self.string_or_list(node, what, &ACTION);
        if let Some(service) = self.rules.service {
            for (action, item) in &actions {
                let prefix = action.split(':').next().unwrap_or_default();
                if action != "*"
                    && !prefix.eq_ignore_ascii_case(service)
                    && ACTION.problem(action).is_none()
                {
                    self.invalid(
                        item,
                        what,
                        format!(
                            "{} grants only `{service}:` actions, not `{action}`",
                            self.rules.kind
                        ),
                    );
                }
            }
        }
        let max = self.rules.max_actions;
        self.at_most(node, what, items(node), max, "actions in one statement");
    }

    fn principal(&mut self, node: &Node, what: &str) {
        let count = match &node.value {
            NodeValue::Str(_) => {
                if let Some(value) = self.known_string(node, what)
                    && value != "*"
                {
                    self.invalid(
                        node,
                        what,
                        "expected `\"*\"` or a table such as `{ Service = \"s3.amazonaws.com\" }` or `{ AWS = \"arn:...\" }`",
                    );
                }
                1
            }
            NodeValue::Table(kinds) => {
                self.keys(kinds, PRINCIPAL_KINDS, what);
                let mut count = 0;
                for (kind, entry) in kinds {
                    let text = match kind.as_str() {
                        "AWS" => AWS_PRINCIPAL,
                        "Service" => SERVICE_PRINCIPAL,
                        "Federated" => FEDERATED_PRINCIPAL,
                        "CanonicalUser" => CANONICAL_USER,
                        _ => continue,
                    };
                    count += items(&entry.node);
                    self.string_or_list(&entry.node, &format!("{what}.{kind}"), &text);
                }
                count
            }
            _ => {
                self.invalid(
                    node,
                    what,
                    format!(
                        "expected `\"*\"` or a table of principals, found {}",
                        node.kind()
                    ),
                );
                0
            }
        };
        let max = self.rules.max_principals;
        self.at_most(node, what, count, max, "principals");
    }

    fn condition(&mut self, node: &Node, what: &str) {
        let NodeValue::Table(operators) = &node.value else {
            self.invalid(
                node,
                what,
                format!("expected a table such as `{{ StringEquals = {{ \"aws:SourceAccount\" = \"...\" }} }}`, found {}", node.kind()),
            );
            return;
        };
        let mut count = 0;
        for (operator, entry) in operators {
            if !rules::condition_operator(operator) {
                self.error(
                    Diagnostic::error(format!(
                        "unknown condition operator `{operator}` in `{what}`"
                    ))
                    .at(&entry.key_span, "not an IAM condition operator")
                    .suggest(operator, rules::CONDITION_OPERATORS.iter().copied()),
                );
            }
            let what = format!("{what}.{operator}");
            let NodeValue::Table(keys) = &entry.node.value else {
                self.invalid(
                    &entry.node,
                    &what,
                    format!(
                        "expected a table of condition keys and values, found {}",
                        entry.node.kind()
                    ),
                );
                continue;
            };
            for (key, value) in keys {
                count += 1;
                if let Some(problem) = CONDITION_KEY.problem(key) {
                    self.error(
                        Diagnostic::error(format!("invalid condition key `{key}` in `{what}`"))
                            .at(&value.key_span, problem),
                    );
                }
                let values: Vec<&Node> = match &value.node.value {
                    NodeValue::Array(items) => items.iter().collect(),
                    _ => vec![&value.node],
                };
                for item in values {
                    if matches!(item.value, NodeValue::Array(_) | NodeValue::Table(_)) {
                        self.invalid(
                            item,
                            &format!("{what}.{key}"),
                            format!(
                                "expected a string, number or boolean, found {}",
                                item.kind()
                            ),
                        );
                    }
                }
            }
        }
        let max = self.rules.max_conditions;
        self.at_most(node, what, count, max, "conditions");
    }

    /// The document's size as strata sends it, once all of it is known.
    fn size(&mut self, node: &Node) {
        let value = evaluate(node, self.scope);
        if !value.is_known() {
            return;
        }
        let json = value.to_json().to_string();
        let (size, max, unit) = match self.rules.max_size {
            Size::Bytes(max) => (json.len(), max, "bytes"),
            Size::Characters(max) => (
                json.chars().filter(|c| !c.is_whitespace()).count(),
                max,
                "characters",
            ),
        };
        if size > max {
            let what = self.what.to_string();
            self.invalid(
                node,
                &what,
                format!(
                    "{size} {unit} as JSON: {} takes at most {max}",
                    self.rules.kind
                ),
            );
        }
    }
}

/// How many values a string-or-list element holds.
fn items(node: &Node) -> usize {
    match &node.value {
        NodeValue::Array(items) => items.len(),
        _ => 1,
    }
}
