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
//! - `TOP`, `GROUP BY`, `ORDER BY`, functions but `IS_DEFINED` and `COUNT()`, arithmetic,
//!   `devices.modules`, comparing two properties, a literal on the left, `undefined`, `COUNT()`
//!   without `AS`, two selected fields of one name, and nesting deeper than [`MAX_DEPTH`] are
//!   refused.

use std::{cmp::Ordering, fmt};

use serde_json::{Number, Value};

/// How deeply parentheses and `NOT`s may nest: more than any written condition needs, and a
/// bound on the parser's recursion, so that `((((…` is refused instead of overflowing the stack.
const MAX_DEPTH: usize = 32;

/// The keywords, which no path may start with.
const KEYWORDS: [&str; 14] = [
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "NIN",
    "AS",
    "COUNT",
    "IS_DEFINED",
    "TRUE",
    "FALSE",
    "NULL",
];

/// A twin's top-level fields, which a query may name in any case.
const TWIN_FIELDS: &[&str] = &[
    "deviceId",
    "moduleId",
    "etag",
    "deviceEtag",
    "status",
    "statusReason",
    "statusUpdateTime",
    "connectionState",
    "lastActivityTime",
    "cloudToDeviceMessageCount",
    "authenticationType",
    "x509Thumbprint",
    "version",
    "tags",
    "properties",
    "capabilities",
    "modelId",
    "deviceScope",
    "parentScopes",
];

/// A device-job row's fields, which a query may name in any case.
const ROW_FIELDS: &[&str] = &[
    "deviceId",
    "jobId",
    "jobType",
    "status",
    "startTimeUtc",
    "endTimeUtc",
    "createdDateTimeUtc",
    "lastUpdatedDateTimeUtc",
    "outcome",
    "error",
];

/// A parsed query.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Query {
    pub select: Select,
    pub from: Collection,
    pub filter: Filter,
}

/// What a query answers for the documents its filter matches.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Select {
    /// `SELECT *`
    All,
    /// `SELECT COUNT() AS <alias>` (alias required; the row is `{"<alias>": n}`)
    Count { alias: String },
    /// `SELECT <path> [AS <alias>], ...`: each output field named by its alias, or the path's
    /// last segment.
    Fields(Vec<(Path, String)>),
}

/// The documents a query reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Collection {
    /// `devices`: twins.
    Devices,
    /// `devices.jobs`: each job's row per device.
    DeviceJobs,
}

/// A property of a document, relative to it (a device-job row's without `devices.jobs.`), its
/// first segment in the document's own case when it is one of the document's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Path(Vec<String>);

impl Path {
    /// The value at this path in `doc`; `None` when it is undefined (`null` is a value).
    pub(super) fn get<'a>(&self, doc: &'a Value) -> Option<&'a Value> {
        self.0
            .iter()
            .try_fold(doc, |value, segment| value.get(segment.as_str()))
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

/// The WHERE expression; no WHERE (or condition `*`) = every document.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Filter(Option<Expr>);

impl Filter {
    /// The filter of a query without WHERE, and of the condition `*`.
    pub(super) fn every() -> Self {
        Self(None)
    }

    /// Whether `doc` is in the result: only if the condition is true, not false or undefined.
    pub(super) fn matches(&self, doc: &Value) -> bool {
        self.0
            .as_ref()
            .is_none_or(|expr| expr.eval(doc) == Some(true))
    }

    /// When the whole filter is `deviceId = '<s>'` or `deviceId IN ['<s>', ...]` (string
    /// literals only): those ids, so the hub can look devices up instead of scanning.
    pub(super) fn device_ids(&self) -> Option<Vec<&str>> {
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

    /// A string `s` such that the filter can only match documents whose `path` equals `s`: a
    /// conjunct `path = 's'` of the filter's top-level AND, for narrowing. `path` is dotted and
    /// relative to the document, in the document's case: `jobId` for `devices.jobs.JobId`.
    pub(super) fn required_text(&self, path: &str) -> Option<&str> {
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
pub(super) struct Refusal(pub String);

/// `SELECT … FROM … [WHERE …]`
pub(super) fn query(text: &str) -> Result<Query, Refusal> {
    Parser::new(text)?.query()
}

/// A job's `queryCondition`: `*` (every device) or a WHERE expression over twins.
pub(super) fn condition(text: &str) -> Result<Filter, Refusal> {
    let mut parser = Parser::new(text)?;
    if let [(_, Token::Star)] = parser.tokens.as_slice() {
        return Ok(Filter::every());
    }
    let expr = parser.expr()?;
    parser.end("AND, OR or the end of the condition")?;
    Ok(Filter(Some(expr)))
}

/// A condition. `AND` and `OR` hold all their operands in one node, so that a long chain of
/// them nests no deeper than one.
#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Defined(Path),
    Compare(Path, Op, Value),
    In {
        path: Path,
        values: Vec<Value>,
        negated: bool,
    },
}

impl Expr {
    /// True, false or undefined (`None`).
    fn eval(&self, doc: &Value) -> Option<bool> {
        match self {
            Self::Or(disjuncts) => any(disjuncts.iter().map(|expr| expr.eval(doc))),
            Self::And(conjuncts) => all(conjuncts.iter().map(|expr| expr.eval(doc))),
            Self::Not(expr) => expr.eval(doc).map(|holds| !holds),
            Self::Defined(path) => Some(path.get(doc).is_some()),
            Self::Compare(path, op, literal) => compare(path.get(doc)?, *op, literal),
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

#[derive(Clone, Debug, PartialEq)]
enum Token<'a> {
    Word(&'a str),
    Text(String),
    Number(&'a str),
    Compare(Op),
    /// `+`, `-`, `/` or `%` (a `-` may also start a negative number).
    Arithmetic(char),
    Star,
    Comma,
    Dot,
    Open,
    Close,
    OpenList,
    CloseList,
}

/// As a refusal names it.
impl fmt::Display for Token<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Word(text) | Self::Number(text) => write!(f, "`{text}`"),
            Self::Text(_) => f.write_str("a string"),
            Self::Compare(op) => write!(f, "`{op}`"),
            Self::Arithmetic(c) => write!(f, "`{c}`"),
            Self::Star => f.write_str("`*`"),
            Self::Comma => f.write_str("`,`"),
            Self::Dot => f.write_str("`.`"),
            Self::Open => f.write_str("`(`"),
            Self::Close => f.write_str("`)`"),
            Self::OpenList => f.write_str("`[`"),
            Self::CloseList => f.write_str("`]`"),
        }
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$'
}

/// `text`'s tokens, each with its byte position.
fn tokens(text: &str) -> Result<Vec<(usize, Token<'_>)>, Refusal> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    while let Some(c) = text[at..].chars().next() {
        let next = bytes.get(at + 1).copied();
        let (token, length) = match c {
            c if c.is_whitespace() => {
                at += c.len_utf8();
                continue;
            }
            '*' => (Token::Star, 1),
            ',' => (Token::Comma, 1),
            '.' => (Token::Dot, 1),
            '(' => (Token::Open, 1),
            ')' => (Token::Close, 1),
            '[' => (Token::OpenList, 1),
            ']' => (Token::CloseList, 1),
            '+' | '-' | '/' | '%' => (Token::Arithmetic(c), 1),
            '=' => (Token::Compare(Op::Eq), 1),
            '!' if next == Some(b'=') => (Token::Compare(Op::Ne), 2),
            '<' if next == Some(b'=') => (Token::Compare(Op::Le), 2),
            '<' if next == Some(b'>') => (Token::Compare(Op::Ne), 2),
            '<' => (Token::Compare(Op::Lt), 1),
            '>' if next == Some(b'=') => (Token::Compare(Op::Ge), 2),
            '>' => (Token::Compare(Op::Gt), 1),
            '\'' | '"' => {
                let (value, length) = string(text, at, c)?;
                (Token::Text(value), length)
            }
            c if c.is_ascii_digit() => {
                let length = number_length(&bytes[at..]);
                let after = bytes.get(at + length).copied();
                if length == 2 && next.is_some_and(|x| x.eq_ignore_ascii_case(&b'x'))
                    || after.is_some_and(|b| is_word_byte(b) || b == b'.')
                {
                    return Err(Refusal(format!(
                        "at byte {at}: expected a number, such as 12, 2.5, 1e-3 or 0x1F"
                    )));
                }
                (Token::Number(&text[at..at + length]), length)
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == '$' => {
                let length = bytes[at..].iter().take_while(|&&b| is_word_byte(b)).count();
                (Token::Word(&text[at..at + length]), length)
            }
            other => {
                return Err(Refusal(format!(
                    "at byte {at}: unexpected character `{other}`"
                )));
            }
        };
        tokens.push((at, token));
        at += length;
    }
    Ok(tokens)
}

/// The length of the number literal `text` starts with: decimal (`12`, `2.5`, `1E+3`) or
/// hexadecimal (`0x1F`).
fn number_length(text: &[u8]) -> usize {
    let digits = |from: usize| {
        text.get(from..).map_or(0, |rest| {
            rest.iter().take_while(|b| b.is_ascii_digit()).count()
        })
    };
    if let [b'0', b'x' | b'X', hex @ ..] = text {
        return 2 + hex.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    }
    let mut end = digits(0);
    if text.get(end) == Some(&b'.') && digits(end + 1) > 0 {
        end += 1 + digits(end + 1);
    }
    if matches!(text.get(end), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(text.get(end + 1), Some(b'+' | b'-')));
        let exponent = digits(end + 1 + sign);
        if exponent > 0 {
            end += 1 + sign + exponent;
        }
    }
    end
}

/// The number a literal's text (and a `-` before it) stands for; `None` beyond `f64`'s range.
fn number(text: &str, negative: bool) -> Option<Number> {
    let integer = match text.get(..2) {
        Some("0x" | "0X") => i128::from_str_radix(&text[2..], 16).ok(),
        _ => text.parse::<i128>().ok(),
    };
    let Some(magnitude) = integer else {
        let float: f64 = text.parse().ok()?;
        return Number::from_f64(if negative { -float } else { float });
    };
    let value = if negative { -magnitude } else { magnitude };
    i64::try_from(value)
        .map(Number::from)
        .or_else(|_| u64::try_from(value).map(Number::from))
        .ok()
        .or_else(|| Number::from_f64(value as f64))
}

/// The string literal opening with `quote` at byte `start` of `text`, and its length.
fn string(text: &str, start: usize, quote: char) -> Result<(String, usize), Refusal> {
    let mut value = String::new();
    let mut chars = text[start + 1..]
        .char_indices()
        .map(|(i, c)| (start + 1 + i, c));
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => value.push(escape(at, &mut chars)?),
            c if c == quote => return Ok((value, at + 1 - start)),
            c => value.push(c),
        }
    }
    Err(Refusal(format!(
        "at byte {start}: the string never ends: expected a closing {quote}"
    )))
}

/// The character the escape at byte `at` stands for, read on from after its `\`.
fn escape(at: usize, chars: &mut impl Iterator<Item = (usize, char)>) -> Result<char, Refusal> {
    let refusal = || {
        Refusal(format!(
            "at byte {at}: expected an escape \\' \\\" \\\\ or \\u and four hexadecimal digits"
        ))
    };
    match chars.next().map(|(_, c)| c) {
        Some(c @ ('\'' | '"' | '\\')) => Ok(c),
        Some('u') => {
            let unit = code_unit(chars).ok_or_else(refusal)?;
            let code = if (0xD800..0xDC00).contains(&unit) {
                // Beyond U+FFFF: the high half of a surrogate pair, whose low half follows.
                let low = match (chars.next(), chars.next()) {
                    (Some((_, '\\')), Some((_, 'u'))) => code_unit(chars),
                    _ => None,
                };
                let low = low
                    .filter(|low| (0xDC00..0xE000).contains(low))
                    .ok_or_else(refusal)?;
                0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            } else {
                unit
            };
            char::from_u32(code).ok_or_else(refusal)
        }
        _ => Err(refusal()),
    }
}

/// The code unit of a `\uXXXX` escape, read from its four hexadecimal digits.
fn code_unit(chars: &mut impl Iterator<Item = (usize, char)>) -> Option<u32> {
    (0..4).try_fold(0, |unit, _| Some(unit * 16 + chars.next()?.1.to_digit(16)?))
}

struct Parser<'a> {
    tokens: Vec<(usize, Token<'a>)>,
    next: usize,
    /// The text's length: the position of its end.
    len: usize,
    depth: usize,
    /// Which documents paths are relative to.
    scope: Collection,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Result<Self, Refusal> {
        Ok(Self {
            tokens: tokens(text)?,
            next: 0,
            len: text.len(),
            depth: 0,
            scope: Collection::Devices,
        })
    }

    fn peek(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.next).map(|(_, token)| token)
    }

    fn peek_second(&self) -> Option<&Token<'a>> {
        self.tokens.get(self.next + 1).map(|(_, token)| token)
    }

    fn position(&self) -> usize {
        self.tokens.get(self.next).map_or(self.len, |(at, _)| *at)
    }

    fn advance(&mut self) {
        self.next += 1;
    }

    fn refusal(&self, message: impl fmt::Display) -> Refusal {
        Refusal(format!("at byte {}: {message}", self.position()))
    }

    fn expected(&self, expected: &str) -> Refusal {
        match self.peek() {
            Some(token) => self.refusal(format_args!("expected {expected}, found {token}")),
            None => self.refusal(format_args!(
                "expected {expected}, found the end of the text"
            )),
        }
    }

    fn unsupported(&self, what: impl fmt::Display) -> Refusal {
        self.refusal(format_args!("{what} is not supported by the local hub"))
    }

    fn at_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(word)) if word.eq_ignore_ascii_case(keyword))
    }

    fn keyword(&mut self, keyword: &str) -> bool {
        let found = self.at_keyword(keyword);
        if found {
            self.advance();
        }
        found
    }

    fn expect_keyword(&mut self, keyword: &str) -> Result<(), Refusal> {
        if self.keyword(keyword) {
            Ok(())
        } else {
            Err(self.expected(keyword))
        }
    }

    fn eat(&mut self, token: &Token<'_>) -> bool {
        let found = self.peek() == Some(token);
        if found {
            self.advance();
        }
        found
    }

    fn expect(&mut self, token: &Token<'_>, expected: &str) -> Result<(), Refusal> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(self.expected(expected))
        }
    }

    fn end(&self, expected: &str) -> Result<(), Refusal> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.expected(expected)),
        }
    }

    fn query(mut self) -> Result<Query, Refusal> {
        self.expect_keyword("SELECT")?;
        if self.at_keyword("TOP") {
            return Err(self.unsupported("TOP"));
        }
        let select_at = self.position();
        let select = self.select()?;
        self.expect_keyword("FROM")?;
        let from = self.collection()?;
        if from == Collection::DeviceJobs && select != Select::All {
            return Err(Refusal(format!(
                "at byte {select_at}: expected `*`: a devices.jobs query can only SELECT *"
            )));
        }
        self.scope = from;
        let filter = if self.keyword("WHERE") {
            Filter(Some(self.expr()?))
        } else {
            Filter::every()
        };
        for clause in ["GROUP", "ORDER"] {
            if self.at_keyword(clause) {
                return Err(self.unsupported(format_args!("{clause} BY")));
            }
        }
        self.end(match filter.0 {
            None => "WHERE or the end of the query",
            Some(_) => "AND, OR or the end of the query",
        })?;
        Ok(Query {
            select,
            from,
            filter,
        })
    }

    fn select(&mut self) -> Result<Select, Refusal> {
        let grouped = "COUNT() beside other fields (a GROUP BY query)";
        if self.eat(&Token::Star) {
            return Ok(Select::All);
        }
        if self.keyword("COUNT") {
            self.expect(&Token::Open, "`(` after COUNT")?;
            self.expect(&Token::Close, "`)`: COUNT takes no argument")?;
            self.expect_keyword("AS")?;
            let alias = self.alias()?;
            if self.peek() == Some(&Token::Comma) {
                return Err(self.unsupported(grouped));
            }
            return Ok(Select::Count { alias });
        }
        let mut fields: Vec<(Path, String)> = Vec::new();
        loop {
            if self.at_keyword("COUNT") {
                return Err(self.unsupported(grouped));
            }
            let at = self.position();
            let path = self.path("`*`, COUNT() or a property")?;
            let name = if self.keyword("AS") {
                self.alias()?
            } else {
                path.0.last().cloned().unwrap_or_default()
            };
            if fields.iter().any(|(_, other)| *other == name) {
                return Err(Refusal(format!(
                    "at byte {at}: a second field named `{name}`: name one with AS"
                )));
            }
            fields.push((path, name));
            if !self.eat(&Token::Comma) {
                return Ok(Select::Fields(fields));
            }
        }
    }

    fn alias(&mut self) -> Result<String, Refusal> {
        match self.peek() {
            Some(Token::Word(word)) if !is_keyword(word) => {
                let alias = (*word).to_owned();
                self.advance();
                Ok(alias)
            }
            _ => Err(self.expected("a name after AS")),
        }
    }

    fn collection(&mut self) -> Result<Collection, Refusal> {
        if !self.keyword("devices") {
            return Err(self.expected("devices or devices.jobs"));
        }
        if !self.eat(&Token::Dot) {
            return Ok(Collection::Devices);
        }
        if self.keyword("jobs") {
            return Ok(Collection::DeviceJobs);
        }
        if self.at_keyword("modules") {
            return Err(self.unsupported("devices.modules (module twins)"));
        }
        Err(self.expected("jobs"))
    }

    fn expr(&mut self) -> Result<Expr, Refusal> {
        let first = self.and()?;
        if !self.at_keyword("OR") {
            return Ok(first);
        }
        let mut disjuncts = vec![first];
        while self.keyword("OR") {
            disjuncts.push(self.and()?);
        }
        Ok(Expr::Or(disjuncts))
    }

    fn and(&mut self) -> Result<Expr, Refusal> {
        let first = self.unary()?;
        if !self.at_keyword("AND") {
            return Ok(first);
        }
        let mut conjuncts = vec![first];
        while self.keyword("AND") {
            conjuncts.push(self.unary()?);
        }
        Ok(Expr::And(conjuncts))
    }

    fn unary(&mut self) -> Result<Expr, Refusal> {
        if self.keyword("NOT") {
            return Ok(Expr::Not(Box::new(self.nested(Self::unary)?)));
        }
        self.primary()
    }

    /// `parse`, one level deeper.
    fn nested(&mut self, parse: fn(&mut Self) -> Result<Expr, Refusal>) -> Result<Expr, Refusal> {
        if self.depth == MAX_DEPTH {
            return Err(self.refusal(format_args!(
                "conditions nest at most {MAX_DEPTH} levels deep"
            )));
        }
        self.depth += 1;
        let expr = parse(self);
        self.depth -= 1;
        expr
    }

    fn primary(&mut self) -> Result<Expr, Refusal> {
        if self.eat(&Token::Open) {
            let expr = self.nested(Self::expr)?;
            self.expect(&Token::Close, "AND, OR or `)`")?;
            return Ok(expr);
        }
        if self.keyword("IS_DEFINED") {
            self.expect(&Token::Open, "`(` after IS_DEFINED")?;
            let path = self.path("a property")?;
            self.expect(&Token::Close, "`)`")?;
            return Ok(Expr::Defined(path));
        }
        let path = self.path("a condition")?;
        let op = match self.peek() {
            Some(Token::Compare(op)) => *op,
            Some(Token::Word(word))
                if word.eq_ignore_ascii_case("IN") || word.eq_ignore_ascii_case("NIN") =>
            {
                let negated = word.eq_ignore_ascii_case("NIN");
                self.advance();
                let values = self.list()?;
                return Ok(Expr::In {
                    path,
                    values,
                    negated,
                });
            }
            Some(Token::Arithmetic(_) | Token::Star) => return Err(self.unsupported("arithmetic")),
            _ => return Err(self.expected("a comparison operator, IN or NIN")),
        };
        self.advance();
        Ok(Expr::Compare(path, op, self.literal()?))
    }

    fn list(&mut self) -> Result<Vec<Value>, Refusal> {
        self.expect(&Token::OpenList, "`[`")?;
        let mut values = Vec::new();
        if self.eat(&Token::CloseList) {
            return Ok(values);
        }
        loop {
            values.push(self.literal()?);
            if self.eat(&Token::CloseList) {
                return Ok(values);
            }
            self.expect(&Token::Comma, "`,` or `]`")?;
        }
    }

    fn literal(&mut self) -> Result<Value, Refusal> {
        let negative = self.eat(&Token::Arithmetic('-'));
        let value = match self.peek() {
            Some(Token::Number(text)) => number(text, negative)
                .map(Value::Number)
                .ok_or_else(|| self.refusal("the number is out of range")),
            _ if negative => Err(self.expected("a number after `-`")),
            Some(Token::Text(text)) => Ok(Value::String(text.clone())),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("TRUE") => Ok(Value::Bool(true)),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("FALSE") => Ok(Value::Bool(false)),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("NULL") => Ok(Value::Null),
            Some(Token::Word(word)) if word.eq_ignore_ascii_case("undefined") => {
                Err(self.unsupported("`undefined`"))
            }
            Some(Token::Word(word)) => Err(self.unsupported(format_args!(
                "comparing a property with another property (`{word}`)"
            ))),
            _ => Err(self.expected("a string, a number, true, false or null")),
        }?;
        self.advance();
        Ok(value)
    }

    /// A path, relative to the documents of the query's collection.
    fn path(&mut self, expected: &str) -> Result<Path, Refusal> {
        let at = self.position();
        let Some(Token::Word(first)) = self.peek() else {
            return Err(self.expected(expected));
        };
        let first = *first;
        if self.peek_second() == Some(&Token::Open) {
            return Err(self.unsupported(format_args!("the function `{first}()`")));
        }
        if is_keyword(first) {
            return Err(self.expected(expected));
        }
        self.advance();
        let mut segments = vec![first.to_owned()];
        while self.eat(&Token::Dot) {
            let Some(Token::Word(segment)) = self.peek() else {
                return Err(self.expected("a property name after `.`"));
            };
            segments.push((*segment).to_owned());
            self.advance();
        }
        let fields = match self.scope {
            Collection::Devices => TWIN_FIELDS,
            Collection::DeviceJobs => {
                let prefixed = match segments.as_slice() {
                    [devices, jobs, _, ..] => {
                        devices.eq_ignore_ascii_case("devices") && jobs.eq_ignore_ascii_case("jobs")
                    }
                    _ => false,
                };
                if !prefixed {
                    let found = segments.join(".");
                    return Err(Refusal(format!(
                        "at byte {at}: expected devices.jobs.<field>, found `{found}`: \
                         a devices.jobs query cannot refer to the twin"
                    )));
                }
                segments.drain(..2);
                ROW_FIELDS
            }
        };
        if let Some(first) = segments.first_mut()
            && let Some(field) = fields.iter().find(|f| f.eq_ignore_ascii_case(first))
        {
            *first = (*field).to_owned();
        }
        Ok(Path(segments))
    }
}

fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path(dotted: &str) -> Path {
        Path(dotted.split('.').map(str::to_owned).collect())
    }

    fn filter(text: &str) -> Filter {
        condition(text).unwrap_or_else(|refusal| panic!("{text}: {refusal:?}"))
    }

    fn refusal(text: &str) -> String {
        match condition(text) {
            Ok(filter) => panic!("{text} was read as {filter:?}"),
            Err(Refusal(message)) => message,
        }
    }

    fn query_refusal(text: &str) -> String {
        match query(text) {
            Ok(query) => panic!("{text} was read as {query:?}"),
            Err(Refusal(message)) => message,
        }
    }

    /// How the condition `text` evaluates on `doc`.
    fn truth(text: &str, doc: &Value) -> Option<bool> {
        filter(text).0.expect("a condition").eval(doc)
    }

    #[test]
    fn reads_queries() {
        assert_eq!(
            query("SELECT * FROM devices"),
            Ok(Query {
                select: Select::All,
                from: Collection::Devices,
                filter: Filter::every(),
            })
        );
        let count = query("SELECT COUNT() AS n FROM devices WHERE tags.site = 'b'").unwrap();
        assert_eq!(count.select, Select::Count { alias: "n".into() });
        assert_eq!(count.filter, filter("tags.site = 'b'"));
        let fields = query(
            "SELECT DeviceId, LastActivityTime, properties.reported.fw.version AS fw, tags.Site FROM devices",
        )
        .unwrap();
        assert_eq!(
            fields.select,
            Select::Fields(vec![
                (path("deviceId"), "deviceId".into()),
                (path("lastActivityTime"), "lastActivityTime".into()),
                (path("properties.reported.fw.version"), "fw".into()),
                (path("tags.Site"), "Site".into()),
            ])
        );
        let jobs = query(
            "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = 'j' AND devices.jobs.outcome.deviceMethodResponse.status >= 400",
        )
        .unwrap();
        assert_eq!(jobs.from, Collection::DeviceJobs);
        assert_eq!(
            jobs.filter,
            Filter(Some(Expr::And(vec![
                Expr::Compare(path("jobId"), Op::Eq, json!("j")),
                Expr::Compare(
                    path("outcome.deviceMethodResponse.status"),
                    Op::Ge,
                    json!(400)
                ),
            ])))
        );
    }

    #[test]
    fn reads_every_construct_of_a_condition() {
        let compare = |p: &str, op, value: Value| Expr::Compare(path(p), op, value);
        for (text, op) in [
            ("=", Op::Eq),
            ("!=", Op::Ne),
            ("<>", Op::Ne),
            ("<", Op::Lt),
            ("<=", Op::Le),
            (">", Op::Gt),
            (">=", Op::Ge),
        ] {
            assert_eq!(
                filter(&format!("tags.a {text} 1")),
                Filter(Some(compare("tags.a", op, json!(1)))),
                "{text}"
            );
        }
        assert_eq!(
            filter("deviceId IN ['a', \"b\"] OR status NIN [] AND NOT IS_DEFINED(tags.x)"),
            Filter(Some(Expr::Or(vec![
                Expr::In {
                    path: path("deviceId"),
                    values: vec![json!("a"), json!("b")],
                    negated: false
                },
                Expr::And(vec![
                    Expr::In {
                        path: path("status"),
                        values: vec![],
                        negated: true
                    },
                    Expr::Not(Box::new(Expr::Defined(path("tags.x")))),
                ]),
            ])))
        );
        assert_eq!(
            filter("(tags.a = 1 OR tags.b = 2) AND tags.c = true"),
            Filter(Some(Expr::And(vec![
                Expr::Or(vec![
                    compare("tags.a", Op::Eq, json!(1)),
                    compare("tags.b", Op::Eq, json!(2))
                ]),
                compare("tags.c", Op::Eq, json!(true)),
            ])))
        );
        for (text, value) in [
            ("false", json!(false)),
            ("null", json!(null)),
            ("12", json!(12)),
            ("-3", json!(-3)),
            ("2.5", json!(2.5)),
            ("1e3", json!(1000.0)),
            ("1.5E-2", json!(0.015)),
            ("0x1F", json!(31)),
            ("-0x10", json!(-16)),
            ("18446744073709551615", json!(u64::MAX)),
            ("-9223372036854775808", json!(i64::MIN)),
            ("100000000000000000000", json!(1e20)),
        ] {
            assert_eq!(
                filter(&format!("tags.a = {text}")),
                Filter(Some(compare("tags.a", Op::Eq, value))),
                "{text}"
            );
        }
        assert_eq!(condition("*"), Ok(Filter::every()));
        assert_eq!(condition("  * "), Ok(Filter::every()));
    }

    #[test]
    fn reads_keywords_and_the_twins_fields_in_any_case() {
        assert_eq!(
            query(
                "select count() as N from DEVICES where Tags.a = TRUE or not is_defined(deviceid)"
            ),
            query(
                "SELECT COUNT() AS N FROM devices WHERE tags.a = true OR NOT IS_DEFINED(deviceId)"
            )
        );
        assert_eq!(
            query("Select * From Devices.Jobs Where DEVICES.jobs.JOBID in ['j'] And devices.JOBS.status nin [Null]")
                .unwrap()
                .filter,
            filter("jobId IN ['j'] AND status NIN [null]")
        );
        // Under tags and properties, names are read as written.
        assert_eq!(
            filter("TAGS.Site = 1"),
            Filter(Some(Expr::Compare(path("tags.Site"), Op::Eq, json!(1))))
        );
        assert_eq!(
            truth("tags.Site = 'b'", &json!({"tags": {"site": "b"}})),
            None
        );
        assert_eq!(
            truth("tags.site = 'b'", &json!({"tags": {"site": "b"}})),
            Some(true)
        );
    }

    #[test]
    fn reads_strings_with_their_escapes() {
        for (text, value) in [
            (r"'it\'s'", "it's"),
            (r#""say \"hi\"""#, "say \"hi\""),
            (r#"'a "b"'"#, "a \"b\""),
            (r#""it's""#, "it's"),
            (r"'back\\slash'", r"back\slash"),
            (r"'\u00e9\u00C9'", "éÉ"),
            (r"'\ud83d\ude00'", "😀"),
            ("'é ☃'", "é ☃"),
            ("''", ""),
        ] {
            assert_eq!(
                filter(&format!("tags.x = {text}")),
                Filter(Some(Expr::Compare(path("tags.x"), Op::Eq, json!(value)))),
                "{text}"
            );
        }
        for text in [
            r"tags.x = '\nb'",
            r"tags.x = '\u00g0'",
            r"tags.x = '\u00e'",
            r"tags.x = '\ud83d'",
            r"tags.x = '\ud83dx'",
            r"tags.x = '\ude00'",
        ] {
            assert_eq!(
                refusal(text),
                "at byte 10: expected an escape \\' \\\" \\\\ or \\u and four hexadecimal digits",
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_what_it_cannot_read_naming_where() {
        for (text, message) in [
            (
                "",
                "at byte 0: expected a condition, found the end of the text",
            ),
            (
                "tags.x = 'it\\'s",
                "at byte 9: the string never ends: expected a closing '",
            ),
            (
                "tags.x = \"open",
                "at byte 9: the string never ends: expected a closing \"",
            ),
            (
                "deviceId = 'a' 'b'",
                "at byte 15: expected AND, OR or the end of the condition, found a string",
            ),
            (
                "deviceId IN ['it\\'s']x",
                "at byte 21: expected AND, OR or the end of the condition, found `x`",
            ),
            (
                "SELECT * FROM devices",
                "at byte 0: expected a condition, found `SELECT`",
            ),
            (
                "tags.a = tags.b",
                "at byte 9: comparing a property with another property (`tags`) is not supported by the local hub",
            ),
            (
                "'a' = tags.a",
                "at byte 0: expected a condition, found a string",
            ),
            (
                "tags.a = undefined",
                "at byte 9: `undefined` is not supported by the local hub",
            ),
            (
                "tags.a + 1 = 2",
                "at byte 7: arithmetic is not supported by the local hub",
            ),
            (
                "tags.a * 2 = 2",
                "at byte 7: arithmetic is not supported by the local hub",
            ),
            (
                "tags.a = - 'x'",
                "at byte 11: expected a number after `-`, found a string",
            ),
            (
                "STARTS_WITH(deviceId, 'a')",
                "at byte 0: the function `STARTS_WITH()` is not supported by the local hub",
            ),
            (
                "is_defined tags.a",
                "at byte 11: expected `(` after IS_DEFINED, found `tags`",
            ),
            (
                "deviceId NOT IN ['a']",
                "at byte 9: expected a comparison operator, IN or NIN, found `NOT`",
            ),
            (
                "deviceId IN 'a'",
                "at byte 12: expected `[`, found a string",
            ),
            (
                "deviceId IN ['a' 'b']",
                "at byte 17: expected `,` or `]`, found a string",
            ),
            (
                "deviceId IN ['a', tags.b]",
                "at byte 18: comparing a property with another property (`tags`) is not supported by the local hub",
            ),
            (
                "(tags.a = 1",
                "at byte 11: expected AND, OR or `)`, found the end of the text",
            ),
            (
                "tags.a = 1)",
                "at byte 10: expected AND, OR or the end of the condition, found `)`",
            ),
            (
                "tags. = 1",
                "at byte 6: expected a property name after `.`, found `=`",
            ),
            ("tags.a ! 1", "at byte 7: unexpected character `!`"),
            ("tags.a = #", "at byte 9: unexpected character `#`"),
            (
                "tags.a = 1e",
                "at byte 9: expected a number, such as 12, 2.5, 1e-3 or 0x1F",
            ),
            (
                "tags.a = 0x",
                "at byte 9: expected a number, such as 12, 2.5, 1e-3 or 0x1F",
            ),
            (
                "tags.a = 12abc",
                "at byte 9: expected a number, such as 12, 2.5, 1e-3 or 0x1F",
            ),
            (
                "tags.a = 1.",
                "at byte 9: expected a number, such as 12, 2.5, 1e-3 or 0x1F",
            ),
            ("tags.a = 1e999", "at byte 9: the number is out of range"),
            (
                "tags.a = 1 AND",
                "at byte 14: expected a condition, found the end of the text",
            ),
            ("*, *", "at byte 0: expected a condition, found `*`"),
        ] {
            assert_eq!(refusal(text), message, "{text}");
        }
        for (text, message) in [
            (
                "SELECT * FROM devices GROUP BY tags.a",
                "at byte 22: GROUP BY is not supported by the local hub",
            ),
            (
                "SELECT * FROM devices WHERE tags.a = 1 ORDER BY tags.a",
                "at byte 39: ORDER BY is not supported by the local hub",
            ),
            (
                "SELECT TOP 3 * FROM devices",
                "at byte 7: TOP is not supported by the local hub",
            ),
            (
                "SELECT tags.a, COUNT() AS n FROM devices",
                "at byte 15: COUNT() beside other fields (a GROUP BY query) is not supported by the local hub",
            ),
            (
                "SELECT COUNT() AS n, tags.a FROM devices",
                "at byte 19: COUNT() beside other fields (a GROUP BY query) is not supported by the local hub",
            ),
            (
                "SELECT COUNT() FROM devices",
                "at byte 15: expected AS, found `FROM`",
            ),
            (
                "SELECT COUNT() AS FROM devices",
                "at byte 18: expected a name after AS, found `FROM`",
            ),
            (
                "SELECT COUNT(x) AS n FROM devices",
                "at byte 13: expected `)`: COUNT takes no argument, found `x`",
            ),
            (
                "SELECT avg(tags.a) AS a FROM devices",
                "at byte 7: the function `avg()` is not supported by the local hub",
            ),
            (
                "SELECT tags.a, properties.desired.a FROM devices",
                "at byte 15: a second field named `a`: name one with AS",
            ),
            (
                "SELECT * FROM devices.modules",
                "at byte 22: devices.modules (module twins) is not supported by the local hub",
            ),
            (
                "SELECT * FROM twins",
                "at byte 14: expected devices or devices.jobs, found `twins`",
            ),
            (
                "SELECT * FROM devices.jobz",
                "at byte 22: expected jobs, found `jobz`",
            ),
            (
                "SELECT deviceId FROM devices.jobs",
                "at byte 7: expected `*`: a devices.jobs query can only SELECT *",
            ),
            (
                "SELECT COUNT() AS n FROM devices.jobs",
                "at byte 7: expected `*`: a devices.jobs query can only SELECT *",
            ),
            (
                "SELECT * FROM devices.jobs WHERE jobId = 'j'",
                "at byte 33: expected devices.jobs.<field>, found `jobId`: a devices.jobs query cannot refer to the twin",
            ),
            (
                "SELECT * FROM devices.jobs WHERE devices.jobs = 'j'",
                "at byte 33: expected devices.jobs.<field>, found `devices.jobs`: a devices.jobs query cannot refer to the twin",
            ),
            (
                "SELECT * FROM devices tags.a = 1",
                "at byte 22: expected WHERE or the end of the query, found `tags`",
            ),
            (
                "SELECT * FROM devices WHERE",
                "at byte 27: expected a condition, found the end of the text",
            ),
            (
                "SELECT * devices",
                "at byte 9: expected FROM, found `devices`",
            ),
            ("* FROM devices", "at byte 0: expected SELECT, found `*`"),
        ] {
            assert_eq!(query_refusal(text), message, "{text}");
        }
    }

    #[test]
    fn refuses_nesting_deeper_than_its_bound() {
        let nested = |depth: usize| format!("{}tags.a = 1{}", "(".repeat(depth), ")".repeat(depth));
        assert!(condition(&nested(MAX_DEPTH)).is_ok());
        assert_eq!(
            refusal(&nested(MAX_DEPTH + 1)),
            format!(
                "at byte {}: conditions nest at most {MAX_DEPTH} levels deep",
                MAX_DEPTH + 1
            )
        );
        assert!(refusal(&nested(100_000)).ends_with("conditions nest at most 32 levels deep"));
        assert!(condition(&format!("{}tags.a = 1", "NOT ".repeat(MAX_DEPTH))).is_ok());
        assert!(refusal(&format!("{}tags.a = 1", "NOT ".repeat(100_000))).ends_with("levels deep"));
        assert!(refusal(&"NOT (".repeat(100_000)).ends_with("levels deep"));
        // Long chains of AND and OR do not nest.
        let chain = vec!["tags.a = 1"; 20_000].join(" AND ");
        let chain = filter(&format!("{chain} OR {chain}"));
        assert!(chain.matches(&json!({"tags": {"a": 1}})));
        assert_eq!(condition(&chain.to_string()), Ok(chain));
    }

    #[test]
    fn compares_primitives_of_one_type_only() {
        let undefined = None;
        for (value, literal, expected) in [
            // (value, literal, [=, !=, <, <=, >, >=])
            (
                json!("b"),
                "'a'",
                [false, true, false, false, true, true].map(Some),
            ),
            (
                json!("b"),
                "'b'",
                [true, false, false, true, false, true].map(Some),
            ),
            (
                json!("b"),
                "'c'",
                [false, true, true, true, false, false].map(Some),
            ),
            (
                json!("B"),
                "'a'",
                [false, true, true, true, false, false].map(Some),
            ),
            (
                json!("é"),
                "'z'",
                [false, true, false, false, true, true].map(Some),
            ),
            (
                json!(1),
                "1.0",
                [true, false, false, true, false, true].map(Some),
            ),
            (
                json!(2),
                "1.5",
                [false, true, false, false, true, true].map(Some),
            ),
            (
                json!(-2.5),
                "-2",
                [false, true, true, true, false, false].map(Some),
            ),
            (
                json!(9_007_199_254_740_993_u64),
                "9007199254740992",
                [false, true, false, false, true, true].map(Some),
            ),
            (
                json!(u64::MAX),
                "-1",
                [false, true, false, false, true, true].map(Some),
            ),
            (
                json!(true),
                "true",
                [
                    Some(true),
                    Some(false),
                    undefined,
                    undefined,
                    undefined,
                    undefined,
                ],
            ),
            (
                json!(true),
                "false",
                [
                    Some(false),
                    Some(true),
                    undefined,
                    undefined,
                    undefined,
                    undefined,
                ],
            ),
            (
                json!(null),
                "null",
                [
                    Some(true),
                    Some(false),
                    undefined,
                    undefined,
                    undefined,
                    undefined,
                ],
            ),
            (json!("1"), "1", [undefined; 6]),
            (json!(1), "'1'", [undefined; 6]),
            (json!(0), "false", [undefined; 6]),
            (json!(null), "'a'", [undefined; 6]),
            (json!(false), "null", [undefined; 6]),
            (json!({"a": 1}), "1", [undefined; 6]),
            (json!([1]), "1", [undefined; 6]),
        ] {
            for (op, expected) in ["=", "!=", "<", "<=", ">", ">="].into_iter().zip(expected) {
                let text = format!("tags.v {op} {literal}");
                assert_eq!(
                    truth(&text, &json!({"tags": {"v": value}})),
                    expected,
                    "{value} {op} {literal}"
                );
                assert_eq!(
                    truth(&text, &json!({"tags": {}})),
                    undefined,
                    "undefined {op} {literal}"
                );
            }
        }
    }

    #[test]
    fn combines_conditions_in_three_valued_logic() {
        let doc = json!({"tags": {"t": 1}});
        let atoms = [
            ("tags.t = 1", Some(true)),
            ("tags.t = 2", Some(false)),
            ("tags.u = 1", None),
        ];
        for (a, a_value) in atoms {
            assert_eq!(
                truth(&format!("NOT {a}"), &doc),
                a_value.map(|a| !a),
                "NOT {a}"
            );
            for (b, b_value) in atoms {
                let (and, or) = match (a_value, b_value) {
                    (Some(a), Some(b)) => (Some(a && b), Some(a || b)),
                    (Some(false), None) | (None, Some(false)) => (Some(false), None),
                    (Some(true), None) | (None, Some(true)) => (None, Some(true)),
                    (None, None) => (None, None),
                };
                assert_eq!(truth(&format!("{a} AND {b}"), &doc), and, "{a} AND {b}");
                assert_eq!(truth(&format!("{a} OR {b}"), &doc), or, "{a} OR {b}");
                assert_eq!(
                    filter(&format!("{a} AND {b}")).matches(&doc),
                    and == Some(true)
                );
                assert_eq!(
                    filter(&format!("{a} OR {b}")).matches(&doc),
                    or == Some(true)
                );
            }
        }
        assert!(
            !filter("NOT tags.u = 1").matches(&doc),
            "undefined, negated, is still undefined"
        );
        assert!(!filter("tags.u != 1").matches(&doc));
        assert!(Filter::every().matches(&json!(null)));
    }

    #[test]
    fn tests_membership_and_definition() {
        let doc =
            json!({"deviceId": "d1", "tags": {"n": 2, "nothing": null, "o": {"a": 1}, "five": 5}});
        for (text, expected) in [
            ("deviceId IN ['d0', 'd1']", Some(true)),
            ("deviceId IN ['d0']", Some(false)),
            ("deviceId IN []", Some(false)),
            ("deviceId NIN ['d0', 'd1']", Some(false)),
            ("deviceId NIN ['d0']", Some(true)),
            ("DEVICEID in [\"d1\"]", Some(true)),
            ("tags.n IN [1, 2.0]", Some(true)),
            ("tags.n IN ['2', 2]", Some(true)),
            ("tags.n IN ['2', 3]", None),
            ("tags.n NIN ['2', 3]", None),
            ("tags.nothing IN [null]", Some(true)),
            ("tags.o IN [1]", None),
            ("tags.missing IN ['a']", None),
            ("tags.missing NIN ['a']", None),
            ("IS_DEFINED(tags.n)", Some(true)),
            ("IS_DEFINED(tags.nothing)", Some(true)),
            ("IS_DEFINED(tags.o.a)", Some(true)),
            ("IS_DEFINED(tags.missing)", Some(false)),
            ("IS_DEFINED(tags.five.a)", Some(false)),
            ("NOT IS_DEFINED(tags.missing)", Some(true)),
        ] {
            assert_eq!(truth(text, &doc), expected, "{text}");
        }
        assert_eq!(path("tags.o.a").get(&doc), Some(&json!(1)));
        assert_eq!(path("tags.nothing").get(&doc), Some(&Value::Null));
        assert_eq!(path("tags.five.a").get(&doc), None);
        assert_eq!(
            path("tags.o.a").get(&json!({"tags": [{"o": {"a": 1}}]})),
            None
        );
    }

    #[test]
    fn names_the_devices_of_a_plain_device_id_condition() {
        assert_eq!(filter("deviceId = 'a'").device_ids(), Some(vec!["a"]));
        assert_eq!(
            filter("DEVICEID in [\"x\", 'y']").device_ids(),
            Some(vec!["x", "y"])
        );
        assert_eq!(filter("(deviceId IN [])").device_ids(), Some(vec![]));
        for other in [
            "deviceId != 'a'",
            "deviceId NIN ['a']",
            "deviceId IN ['a', 1]",
            "deviceId = 1",
            "deviceId > 'a'",
            "deviceId = 'a' AND tags.x = 1",
            "deviceId = 'a' OR deviceId = 'b'",
            "NOT deviceId = 'a'",
            "tags.deviceId = 'a'",
            "IS_DEFINED(deviceId)",
        ] {
            assert_eq!(filter(other).device_ids(), None, "{other}");
        }
        assert_eq!(Filter::every().device_ids(), None);
    }

    #[test]
    fn names_the_text_a_filter_requires() {
        let jobs = query(
            "SELECT * FROM devices.jobs WHERE devices.jobs.JobId = 'j1' AND (devices.jobs.status = 'failed' AND devices.jobs.deviceId != 'd')",
        )
        .unwrap()
        .filter;
        assert_eq!(jobs.required_text("jobId"), Some("j1"));
        assert_eq!(jobs.required_text("status"), Some("failed"));
        assert_eq!(jobs.required_text("deviceId"), None);
        assert_eq!(jobs.required_text("devices.jobs.jobId"), None);
        assert_eq!(
            filter("tags.site.name = 'x'").required_text("tags.site.name"),
            Some("x")
        );
        assert_eq!(
            filter("tags.site.name = 'x'").required_text("tags.site"),
            None
        );
        for other in [
            "jobId = 'j' OR jobId = 'k'",
            "NOT jobId = 'j'",
            "jobId != 'j'",
            "jobId = 1",
            "jobId IN ['j']",
            "jobId >= 'j'",
        ] {
            assert_eq!(filter(other).required_text("jobId"), None, "{other}");
        }
        assert_eq!(Filter::every().required_text("jobId"), None);
    }

    #[test]
    fn renders_what_it_reads() {
        for (text, rendered) in [
            (
                "tags.a = 1 OR tags.b = 2 AND tags.c = 3",
                "tags.a = 1 OR tags.b = 2 AND tags.c = 3",
            ),
            (
                "(tags.a = 1 OR tags.b = 2) AND tags.c = 3",
                "(tags.a = 1 OR tags.b = 2) AND tags.c = 3",
            ),
            (
                "tags.a = 1 AND (tags.b = 2 AND tags.c = 3)",
                "tags.a = 1 AND (tags.b = 2 AND tags.c = 3)",
            ),
            (
                "tags.a = 1 OR (tags.b = 2 OR tags.c = 3)",
                "tags.a = 1 OR (tags.b = 2 OR tags.c = 3)",
            ),
            ("((tags.a = 1))", "tags.a = 1"),
            (
                "not (tags.a = 1 and tags.b = 2)",
                "NOT (tags.a = 1 AND tags.b = 2)",
            ),
            ("NOT NOT is_defined(tags.a)", "NOT NOT IS_DEFINED(tags.a)"),
            (
                "DeviceId in [\"it's\", 'back\\\\slash'] ",
                r"deviceId IN ['it\'s', 'back\\slash']",
            ),
            (
                "tags.a nin [TRUE, Null, -0x10, 2.5, 1e20]",
                "tags.a NIN [true, null, -16, 2.5, 1e+20]",
            ),
            ("tags.a <> 'x'", "tags.a != 'x'"),
            (
                "properties.reported.$version >= 3",
                "properties.reported.$version >= 3",
            ),
            ("*", "*"),
        ] {
            let read = filter(text);
            assert_eq!(read.to_string(), rendered, "{text}");
            assert_eq!(condition(&read.to_string()), Ok(read), "{text}");
        }
    }
}
