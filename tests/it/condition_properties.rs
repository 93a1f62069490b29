//! Properties of built conditions, against the local hub over HTTP: every condition the
//! builder produces is one the hub's parser accepts, and the devices the hub selects with it
//! are the ones this file's own evaluation of the same condition selects, over random twins.
//!
//! The evaluation here is written from the hub's documented semantics (`local-hub/src/query/mod.rs`:
//! three-valued logic, undefined for a missing property, an object, or values of different
//! types, booleans and `null` ordered by nothing), not from its code.

use std::cmp::Ordering;

use crate::support::HubClient as _;
use futures::StreamExt as _;
use iothub_jobs::{Condition, Field, Literal, Queried};
use iothub_local_hub::LocalHub;
use proptest::prelude::*;
use serde_json::{Value, json};

/// The properties conditions and twins draw from, few enough that they meet.
const PATHS: [&str; 5] = [
    "tags.a",
    "tags.b.c",
    "tags.$x_1",
    "properties.reported.fw",
    "properties.desired.n",
];

#[derive(Clone, Debug)]
enum Lit {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Clone, Debug)]
enum Expr {
    Compare(usize, Op, Lit),
    In(usize, Vec<Lit>, bool),
    Defined(usize),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("it's".to_owned()),
        Just(r"back\slash".to_owned()),
        Just("\"quoted\"".to_owned()),
        Just("x' OR deviceId != '".to_owned()),
        Just("line\nbreak\u{7}".to_owned()),
        Just("é✓".to_owned()),
        Just(String::new()),
    ]
}

fn lit() -> impl Strategy<Value = Lit> {
    prop_oneof![
        text().prop_map(Lit::Text),
        (-2_i64..3).prop_map(Lit::Int),
        prop_oneof![Just(-1.5), Just(0.5), Just(2.0)].prop_map(Lit::Float),
        any::<bool>().prop_map(Lit::Bool),
        Just(Lit::Null),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Eq),
        Just(Op::Ne),
        Just(Op::Lt),
        Just(Op::Le),
        Just(Op::Gt),
        Just(Op::Ge)
    ]
}

fn expr() -> impl Strategy<Value = Expr> {
    let path = 0..PATHS.len();
    let leaf = prop_oneof![
        (path.clone(), op(), lit()).prop_map(|(p, o, l)| Expr::Compare(p, o, l)),
        (
            path.clone(),
            proptest::collection::vec(lit(), 0..4),
            any::<bool>()
        )
            .prop_map(|(p, ls, negated)| Expr::In(p, ls, negated)),
        path.prop_map(Expr::Defined),
    ];
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::And(Box::new(a), Box::new(b))),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| Expr::Or(Box::new(a), Box::new(b))),
            inner.prop_map(|a| Expr::Not(Box::new(a))),
        ]
    })
}

/// A value a twin's property holds: the literals' kinds, and objects (never comparable).
fn property() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        lit().prop_map(|l| Some(json_of(&l))),
        Just(Some(json!({"nested": 1}))),
    ]
}

fn twin_strategy() -> impl Strategy<Value = Vec<Option<Value>>> {
    proptest::collection::vec(property(), PATHS.len())
}

fn json_of(lit: &Lit) -> Value {
    match lit {
        Lit::Text(s) => json!(s),
        Lit::Int(n) => json!(n),
        Lit::Float(f) => json!(f),
        Lit::Bool(b) => json!(b),
        Lit::Null => Value::Null,
    }
}

fn literal(lit: &Lit) -> Literal {
    match lit {
        Lit::Text(s) => Literal::from(s.as_str()),
        Lit::Int(n) => Literal::from(*n),
        Lit::Float(f) => Literal::from(*f),
        Lit::Bool(b) => Literal::from(*b),
        Lit::Null => Literal::NULL,
    }
}

fn field(path: usize) -> Field {
    let path = PATHS[path];
    if let Some(tag) = path.strip_prefix("tags.") {
        Field::tag(tag)
    } else if let Some(reported) = path.strip_prefix("properties.reported.") {
        Field::reported(reported)
    } else {
        Field::desired(path.strip_prefix("properties.desired.").unwrap())
    }
}

/// The condition the builder makes of `expr`.
fn built(expr: &Expr) -> Condition {
    match expr {
        Expr::Compare(p, op, l) => {
            let (f, l) = (field(*p), literal(l));
            match op {
                Op::Eq => f.eq(l),
                Op::Ne => f.ne(l),
                Op::Lt => f.lt(l),
                Op::Le => f.le(l),
                Op::Gt => f.gt(l),
                Op::Ge => f.ge(l),
            }
        }
        Expr::In(p, ls, false) => field(*p).is_in(ls.iter().map(literal)),
        Expr::In(p, ls, true) => field(*p).not_in(ls.iter().map(literal)),
        Expr::Defined(p) => field(*p).is_defined(),
        Expr::And(a, b) => built(a).and(built(b)),
        Expr::Or(a, b) => built(a).or(built(b)),
        Expr::Not(a) => !built(a),
    }
}

fn get<'a>(twin: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(twin, |value, segment| value.get(segment))
}

/// `value op lit`: `None` for undefined.
fn compare(value: Option<&Value>, op: Op, lit: &Lit) -> Option<bool> {
    let value = value?;
    let ordering = match (value, lit) {
        (Value::String(v), Lit::Text(l)) => Some(v.as_str().cmp(l.as_str())),
        (Value::Number(v), Lit::Int(_) | Lit::Float(_)) => {
            let l = json_of(lit).as_f64().unwrap();
            v.as_f64().unwrap().partial_cmp(&l)
        }
        (Value::Bool(v), Lit::Bool(l)) => return equality(op, v == l),
        (Value::Null, Lit::Null) => return equality(op, true),
        _ => return None,
    }?;
    Some(match op {
        Op::Eq => ordering == Ordering::Equal,
        Op::Ne => ordering != Ordering::Equal,
        Op::Lt => ordering == Ordering::Less,
        Op::Le => ordering != Ordering::Greater,
        Op::Gt => ordering == Ordering::Greater,
        Op::Ge => ordering != Ordering::Less,
    })
}

/// Booleans and `null` compare by `=` and `!=` only.
fn equality(op: Op, equal: bool) -> Option<bool> {
    match op {
        Op::Eq => Some(equal),
        Op::Ne => Some(!equal),
        _ => None,
    }
}

/// The condition's truth for `twin`, in three values.
fn evaluate(expr: &Expr, twin: &Value) -> Option<bool> {
    match expr {
        Expr::Compare(p, op, l) => compare(get(twin, PATHS[*p]), *op, l),
        Expr::In(p, ls, negated) => {
            let value = get(twin, PATHS[*p])?;
            let results: Vec<Option<bool>> =
                ls.iter().map(|l| compare(Some(value), Op::Eq, l)).collect();
            let found = if results.contains(&Some(true)) {
                Some(true)
            } else if results.contains(&None) {
                None
            } else {
                Some(false)
            };
            found.map(|found| found != *negated)
        }
        Expr::Defined(p) => Some(get(twin, PATHS[*p]).is_some()),
        Expr::And(a, b) => match (evaluate(a, twin), evaluate(b, twin)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        Expr::Or(a, b) => match (evaluate(a, twin), evaluate(b, twin)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        Expr::Not(a) => evaluate(a, twin).map(|v| !v),
    }
}

/// Twin `n` holding `properties` at [`PATHS`] (absent where `None`). No twin holds a name
/// with `$` (`tags.$x_1`): the hub refuses such twins, as the service does, so conditions on
/// it, which the query language allows, select by its absence.
fn twin(n: usize, properties: &[Option<Value>]) -> Value {
    let mut twin = json!({"deviceId": format!("t{n}"), "tags": {}, "properties": {"desired": {}, "reported": {}}});
    for (path, value) in PATHS.iter().zip(properties) {
        let Some(value) = value.as_ref().filter(|_| !path.contains('$')) else {
            continue;
        };
        let segments: Vec<&str> = path.split('.').collect();
        let (last, parents) = segments.split_last().unwrap();
        let mut at = &mut twin;
        for segment in parents {
            at = at
                .as_object_mut()
                .unwrap()
                .entry(*segment)
                .or_insert_with(|| json!({}));
        }
        at[*last] = value.clone();
    }
    twin
}

#[test]
fn built_conditions_are_read_by_the_hub_as_written() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let hub = runtime.block_on(async {
        LocalHub::builder()
            .max_page_size(100)
            .request_log(0, 0)
            .start()
            .await
            .unwrap()
    });
    let client = hub.client().unwrap();
    let config = ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(expr in expr(), fleet in proptest::collection::vec(twin_strategy(), 8))| {
        let twins: Vec<Value> = fleet.iter().enumerate().map(|(n, p)| twin(n, p)).collect();
        hub.add_twins(twins.clone()).unwrap();
        let mut expected: Vec<String> = twins
            .iter()
            .filter(|twin| evaluate(&expr, twin) == Some(true))
            .map(|twin| twin["deviceId"].as_str().unwrap().to_owned())
            .collect();
        expected.sort();
        let condition = built(&expr);
        let text = condition.text().unwrap().to_owned();
        let selected: Vec<String> = runtime.block_on(
            client
                .query_device_ids(condition)
                .map(|item| match item {
                    Ok(Queried::Item(id)) => id,
                    other => panic!("{text}: {other:?}"),
                })
                .collect(),
        );
        prop_assert_eq!(selected, expected, "{}", text);
    });
}
