//! The query language's evaluation: a condition over a document, true, false or undefined,
//! as the service documents it (see the module's docs for where the hub guesses).

use std::cmp::Ordering;

use super::{Document, Expr, Op, Scalar};

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
fn compare(value: Scalar<'_>, op: Op, literal: Scalar<'_>) -> Option<bool> {
    let equality = matches!(op, Op::Eq | Op::Ne);
    let order = match (value, literal) {
        (Scalar::Str(a), Scalar::Str(b)) => a.cmp(b),
        (Scalar::Bool(a), Scalar::Bool(b)) if equality => a.cmp(&b),
        (Scalar::Null, Scalar::Null) if equality => Ordering::Equal,
        (a, b) => numeric_order(a, b)?,
    };
    Some(op.holds(order))
}

/// Integers exactly (`f64` would equate 2^53 and 2^53 + 1), other numbers as `f64`; undefined
/// for anything that is not a number.
fn numeric_order(a: Scalar<'_>, b: Scalar<'_>) -> Option<Ordering> {
    let exact = |n: Scalar<'_>| match n {
        Scalar::Int(int) => Some(i128::from(int)),
        Scalar::Uint(uint) => Some(i128::from(uint)),
        _ => None,
    };
    let float = |n: Scalar<'_>| match n {
        Scalar::Int(int) => Some(int as f64),
        Scalar::Uint(uint) => Some(uint as f64),
        Scalar::Float(float) => Some(float),
        _ => None,
    };
    match (exact(a), exact(b)) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => float(a)?.partial_cmp(&float(b)?),
    }
}

impl Expr {
    /// True, false or undefined (`None`).
    pub(super) fn eval(&self, doc: &impl Document) -> Option<bool> {
        match self {
            Self::Or(disjuncts) => any(disjuncts.iter().map(|expr| expr.eval(doc))),
            Self::And(conjuncts) => all(conjuncts.iter().map(|expr| expr.eval(doc))),
            Self::Not(expr) => expr.eval(doc).map(|holds| !holds),
            Self::Defined(path) => Some(doc.scalar(path).is_some()),
            Self::Compare(path, op, literal) => {
                compare(doc.scalar(path)?, *op, Scalar::of(literal))
            }
            Self::Fields(left, op, right) => compare(doc.scalar(left)?, *op, doc.scalar(right)?),
            Self::In {
                path,
                values,
                negated,
            } => {
                let value = doc.scalar(path)?;
                any(values.iter().map(|v| compare(value, Op::Eq, Scalar::of(v))))
                    .map(|found| found != *negated)
            }
        }
    }
}
