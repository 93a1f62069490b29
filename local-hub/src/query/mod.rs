//! The IoT Hub query language, as far as the local hub reads it: `SELECT … FROM devices` and
//! `FROM devices.jobs` queries and jobs' `queryCondition`s, parsed and then evaluated over
//! twins and device-job rows held as JSON. Anything beyond this subset is refused with a
//! [`Refusal`] that names it and its byte position, rather than read as a condition that
//! silently matches nothing.
//!
//! As the service documents it ("IoT Hub query language for device and module twins, jobs, and
//! message routing"; "Queries for IoT Hub device and module twins"):
//! - keywords and function names in any case (the documentation writes `is_defined()` and
//!   `COUNT() as …`);
//! - strings in single or double quotes, with the escapes `\'`, `\"`, `\\` and `\uXXXX` ("Allowed
//!   escapes"); a character beyond U+FFFF is written as its UTF-16 surrogate pair;
//! - numbers in decimal notation (`12`, `2.5`, `1e-3`) or hexadecimal (`0x1F`);
//! - a document is in the result only if the condition is true: undefined (a property it lacks)
//!   matches nothing, and `IS_DEFINED` is true for a property set to `null`;
//! - comparisons only between primitive values: an object or array compared is undefined;
//! - a property compared with another property of the same document
//!   (`properties.desired.$version = properties.reported.lastDesiredVersion`, the convergence
//!   test Microsoft's IoT Edge metrics use), both sides read from it as a literal would be;
//! - `FROM devices.jobs` queries `SELECT *` only, and their conditions name only
//!   `devices.jobs.<field>`, never the twin;
//! - the twin's own top-level fields in any case: `SELECT DeviceId` answers `"deviceId"`.
//!
//! Where the hub deviates or guesses, the documentation being silent:
//! - values of different types (`'1' = 1`) compare as undefined under every operator, `!=`
//!   included, as in Azure Cosmos DB's SQL, which this language resembles; so `IN` is true when
//!   an element equals the value, else undefined if an element's type differs, else false;
//!   and `NIN` is its negation;
//! - booleans and `null` compare with `=` and `!=` only; ordering them is undefined;
//! - strings order by code point, numbers by value (integers exactly, other numbers as `f64`);
//! - a `-` before a number literal negates it;
//! - a device-job row's fields are read in any case too (`devices.jobs.JOBID`); every other name
//!   (under `tags` and `properties`, and other top-level names) only as written;
//! - `GROUP BY` groups by the listed paths' values; a document lacking one forms the group of
//!   its undefined value, in whose row that field is left out (the documentation's examples
//!   show only defined values); groups come in the order of their values' JSON text, paged
//!   like any query;
//! - `TOP`, `ORDER BY`, functions but `IS_DEFINED` and `COUNT()`, arithmetic, a selected field
//!   that is not among the `GROUP BY` paths, `COUNT()` beside fields without `GROUP BY`,
//!   `devices.modules`, a property inside `IN [...]`, a literal on the left, `undefined`, `COUNT()`
//!   without `AS`, two selected fields of one name, and nesting deeper than [`parser::MAX_DEPTH`] are
//!   refused.

use std::{cmp::Ordering, fmt};

use serde_json::Value;

mod eval;
mod lexer;
mod parser;
#[cfg(test)]
mod tests;

pub(crate) use parser::{condition, query};

/// A parsed query.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Query {
    pub select: Select,
    pub from: Collection,
    pub filter: Filter,
}

/// What a query answers for the documents its filter matches.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Select {
    /// `SELECT *`
    All,
    /// `SELECT COUNT() AS <alias>` (alias required; the row is `{"<alias>": n}`)
    Count { alias: String },
    /// `SELECT <path> [AS <alias>], ...`: each output field named by its alias, or the path's
    /// last segment.
    Fields(Vec<(Path, String)>),
    /// `SELECT <fields>[, COUNT() AS <alias>] … GROUP BY <paths>`: a row per distinct value of
    /// the paths among the documents the filter matches, with the fields (each one of the
    /// paths) and the count.
    Grouped {
        fields: Vec<(Path, String)>,
        count: Option<String>,
        by: Vec<Path>,
    },
}

/// The documents a query reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Collection {
    /// `devices`: twins.
    Devices,
    /// `devices.jobs`: each job's row per device.
    DeviceJobs,
}

/// A property of a document, relative to it (a device-job row's without `devices.jobs.`), its
/// first segment in the document's own case when it is one of the document's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Path(Vec<String>);

impl Path {
    #[cfg(test)]
    pub(crate) fn new(segments: Vec<String>) -> Self {
        Self(segments)
    }

    /// Its names, outermost first.
    pub(crate) fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The value at this path in `doc`; `None` when it is undefined (`null` is a value).
    pub(crate) fn get<'a>(&self, doc: &'a Value) -> Option<&'a Value> {
        self.segments()
            .try_fold(doc, |value, segment| value.get(segment))
    }

    fn is(&self, dotted: &str) -> bool {
        dotted.split('.').eq(self.0.iter().map(String::as_str))
    }
}

/// Dotted, as a condition names it.
impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// A document a condition reads — a twin, held as JSON or compactly, or a device-job row — by
/// the paths it names.
pub(crate) trait Document {
    /// The value at `path` as a condition compares it; `None` when it is undefined.
    fn scalar(&self, path: &Path) -> Option<Scalar<'_>>;
}

impl Document for Value {
    fn scalar(&self, path: &Path) -> Option<Scalar<'_>> {
        Some(Scalar::of(path.get(self)?))
    }
}

/// A value as a condition sees it: a primitive, or something that is not one (an object or an
/// array, which compares as undefined).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    /// A whole number within `i64`.
    Int(i64),
    /// A whole number past `i64::MAX`.
    Uint(u64),
    /// Any other number.
    Float(f64),
    Str(&'a str),
    Composite,
}

impl<'a> Scalar<'a> {
    pub(crate) fn of(value: &'a Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(flag) => Self::Bool(*flag),
            Value::Number(number) => match (number.as_i64(), number.as_u64()) {
                (Some(int), _) => Self::Int(int),
                (None, Some(uint)) => Self::Uint(uint),
                _ => Self::Float(number.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(text) => Self::Str(text),
            Value::Array(_) | Value::Object(_) => Self::Composite,
        }
    }

    /// As JSON; a composite, which has no value of its own here, as `null`.
    pub(crate) fn to_value(self) -> Value {
        match self {
            Self::Null | Self::Composite => Value::Null,
            Self::Bool(flag) => Value::Bool(flag),
            Self::Int(int) => int.into(),
            Self::Uint(uint) => uint.into(),
            Self::Float(float) => {
                serde_json::Number::from_f64(float).map_or(Value::Null, Value::Number)
            }
            Self::Str(text) => Value::String(text.to_owned()),
        }
    }
}

/// The WHERE expression; no WHERE (or condition `*`) = every document.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Filter(Option<Expr>);

impl Filter {
    /// The filter of a query without WHERE, and of the condition `*`.
    pub(crate) fn every() -> Self {
        Self(None)
    }

    /// Whether `doc` is in the result: only if the condition is true, not false or undefined.
    pub(crate) fn matches(&self, doc: &impl Document) -> bool {
        self.0
            .as_ref()
            .is_none_or(|expr| expr.eval(doc) == Some(true))
    }

    /// When the whole filter is `deviceId = '<s>'` or `deviceId IN ['<s>', ...]` (string
    /// literals only): those ids, so the hub can look devices up instead of scanning.
    pub(crate) fn device_ids(&self) -> Option<Vec<&str>> {
        let is_device_id = |path: &Path| path.is("deviceId");
        match self.0.as_ref()? {
            Expr::Compare(path, Op::Eq, Value::String(id)) if is_device_id(path) => {
                Some(vec![id.as_str()])
            }
            Expr::In {
                path,
                values,
                negated: false,
            } if is_device_id(path) => values.iter().map(Value::as_str).collect(),
            _ => None,
        }
    }

    /// Whether the whole filter is `path = 'text'`, so that it selects every document whose
    /// `path` is `text` and no other.
    pub(crate) fn is_exactly(&self, path: &str, text: &str) -> bool {
        matches!(&self.0, Some(Expr::Compare(at, Op::Eq, Value::String(wanted)))
            if at.is(path) && wanted == text)
    }

    /// A string `s` such that the filter can only match documents whose `path` equals `s`: a
    /// conjunct `path = 's'` of the filter's top-level AND, for narrowing. `path` is dotted and
    /// relative to the document, in the document's case: `jobId` for `devices.jobs.JobId`.
    pub(crate) fn required_text(&self, path: &str) -> Option<&str> {
        self.0.as_ref()?.required_text(path)
    }
}

/// Renders it back as query text (used in tests and error messages), paths relative to the
/// document: a twin filter as a condition that [`condition`] reads as the same filter.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            None => f.write_str("*"),
            Some(expr) => expr.fmt(f),
        }
    }
}

/// Why a query is refused: a message naming the byte position and what was expected, for a
/// 400 in the service's error shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Refusal(pub String);

/// A condition. `AND` and `OR` hold all their operands in one node, so that a long chain of
/// them nests no deeper than one.
#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Defined(Path),
    Compare(Path, Op, Value),
    /// Two properties of one document: `properties.desired.$version =
    /// properties.reported.lastDesiredVersion`.
    Fields(Path, Op, Path),
    In {
        path: Path,
        values: Vec<Value>,
        negated: bool,
    },
}

impl Expr {
    fn required_text(&self, wanted: &str) -> Option<&str> {
        match self {
            Self::Compare(path, Op::Eq, Value::String(text)) if path.is(wanted) => Some(text),
            Self::And(conjuncts) => conjuncts.iter().find_map(|c| c.required_text(wanted)),
            _ => None,
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let compound = |expr: &Self| matches!(expr, Self::Or(_) | Self::And(_));
        match self {
            Self::Or(disjuncts) => joined(f, disjuncts, " OR ", |e| matches!(e, Self::Or(_))),
            Self::And(conjuncts) => joined(f, conjuncts, " AND ", compound),
            Self::Not(expr) if compound(expr) => write!(f, "NOT ({expr})"),
            Self::Not(expr) => write!(f, "NOT {expr}"),
            Self::Defined(path) => write!(f, "IS_DEFINED({path})"),
            Self::Compare(path, op, literal) => write!(f, "{path} {op} {}", Literal(literal)),
            Self::Fields(left, op, right) => write!(f, "{left} {op} {right}"),
            Self::In {
                path,
                values,
                negated,
            } => {
                write!(f, "{path} {} [", if *negated { "NIN" } else { "IN" })?;
                for (i, value) in values.iter().enumerate() {
                    let comma = if i == 0 { "" } else { ", " };
                    write!(f, "{comma}{}", Literal(value))?;
                }
                f.write_str("]")
            }
        }
    }
}

/// `parts` joined by `operator`, those that would bind differently in parentheses.
fn joined(
    f: &mut fmt::Formatter<'_>,
    parts: &[Expr],
    operator: &str,
    parenthesized: impl Fn(&Expr) -> bool,
) -> fmt::Result {
    for (i, part) in parts.iter().enumerate() {
        let operator = if i == 0 { "" } else { operator };
        if parenthesized(part) {
            write!(f, "{operator}({part})")?;
        } else {
            write!(f, "{operator}{part}")?;
        }
    }
    Ok(())
}

/// A literal as query text.
struct Literal<'a>(&'a Value);

impl fmt::Display for Literal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Value::String(text) = self.0 else {
            return self.0.fmt(f);
        };
        f.write_str("'")?;
        for c in text.chars() {
            if matches!(c, '\'' | '\\') {
                f.write_str("\\")?;
            }
            write!(f, "{c}")?;
        }
        f.write_str("'")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn holds(self, order: Ordering) -> bool {
        match self {
            Self::Eq => order.is_eq(),
            Self::Ne => order.is_ne(),
            Self::Lt => order.is_lt(),
            Self::Le => order.is_le(),
            Self::Gt => order.is_gt(),
            Self::Ge => order.is_ge(),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Eq => "=",
            Self::Ne => "!=",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        })
    }
}
