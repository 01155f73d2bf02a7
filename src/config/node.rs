//! The stack document as a tree of values that remember where they were written. Loading
//! produces one tree per file; merging produces one tree for the whole `extends` chain.

use indexmap::IndexMap;

use crate::diagnostics::source::Span;

#[derive(Clone, Debug)]
pub struct Node {
    pub value: NodeValue,
    /// Where this value was written (the winning file after a merge).
    pub span: Span,
    /// The value it replaced in a parent file, if a child overrode it.
    pub overrides: Option<Span>,
    /// A string made with `${each.key}` / `${each.value}`: like a reference's value, it is
    /// converted to the type the schema wants (`"60"` for an integer).
    pub from_each: bool,
}

#[derive(Clone, Debug)]
pub enum NodeValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// Dates and times are kept as written; no resource attribute takes one.
    Datetime(String),
    Array(Vec<Node>),
    Table(Table),
}

/// A table entry keeps the span of its key, for "unknown attribute" diagnostics.
#[derive(Clone, Debug)]
pub struct Entry {
    pub key_span: Span,
    pub node: Node,
}

pub type Table = IndexMap<String, Entry>;

impl Node {
    pub fn new(value: NodeValue, span: Span) -> Self {
        Node {
            value,
            span,
            overrides: None,
            from_each: false,
        }
    }

    pub fn as_table(&self) -> Option<&Table> {
        match &self.value {
            NodeValue::Table(t) => Some(t),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The TOML name of this value's type, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            NodeValue::Str(_) => "a string",
            NodeValue::Int(_) => "an integer",
            NodeValue::Float(_) => "a float",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Datetime(_) => "a datetime",
            NodeValue::Array(_) => "an array",
            NodeValue::Table(_) => "a table",
        }
    }
}
