//! The query language's evaluation: a condition over a document, true, false or undefined,
//! as the service documents it (see the module's docs for where the hub guesses).

use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::{Expr, Op};

/// Kleene OR: true if any is, else undefined if any is, else false.
fn any(values: impl Iterator<Item = Option<bool>>) -> Option<bool> {
    let mut result = Some(false);
    for value in values {
        match value {
            Some(true) => return Some(true),
            Some(false) => {}
            None => result = None,
        }
    }
    result
}

/// Kleene AND, by De Morgan.
fn all(values: impl Iterator<Item = Option<bool>>) -> Option<bool> {
    any(values.map(|value| value.map(|holds| !holds))).map(|any_false| !any_false)
}

/// `value op literal`: undefined unless both are primitives of one type, and for booleans and
/// `null` unless the operator is `=` or `!=`.
fn compare(value: &Value, op: Op, literal: &Value) -> Option<bool> {
    let equality = matches!(op, Op::Eq | Op::Ne);
    let order = match (value, literal) {
        (Value::String(a), Value::String(b)) => a.cmp(b),
        (Value::Number(a), Value::Number(b)) => numeric_order(a, b)?,
        (Value::Bool(a), Value::Bool(b)) if equality => a.cmp(b),
        (Value::Null, Value::Null) if equality => Ordering::Equal,
        _ => return None,
    };
    Some(op.holds(order))
}

/// Integers exactly (`f64` would equate 2^53 and 2^53 + 1), other numbers as `f64`.
fn numeric_order(a: &Number, b: &Number) -> Option<Ordering> {
    let exact = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (exact(a), exact(b)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

impl Expr {
    /// True, false or undefined (`None`).
    pub(super) fn eval(&self, doc: &Value) -> Option<bool> {
        match self {
            Self::Or(disjuncts) => any(disjuncts.iter().map(|expr| expr.eval(doc))),
            Self::And(conjuncts) => all(conjuncts.iter().map(|expr| expr.eval(doc))),
            Self::Not(expr) => expr.eval(doc).map(|holds| !holds),
            Self::Defined(path) => Some(path.get(doc).is_some()),
            Self::Compare(path, op, literal) => compare(path.get(doc)?, *op, literal),
            Self::Fields(left, op, right) => compare(left.get(doc)?, *op, right.get(doc)?),
            Self::In {
                path,
                values,
                negated,
            } => {
                let value = path.get(doc)?;
                any(values.iter().map(|v| compare(value, Op::Eq, v))).map(|found| found != *negated)
            }
        }
    }
}
