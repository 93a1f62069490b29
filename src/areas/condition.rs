//! Which devices a job or a device query selects: an IoT Hub query `WHERE` clause, built from
//! typed parts or checked from a caller's text before anything is sent.
//!
//! A built condition quotes every value by the query language's rules (strings in single
//! quotes, `\` and `'` escaped, control characters as `\uXXXX`), and takes property names only as plain identifiers, so
//! nothing a caller passes can change the query's structure. A problem (a name that cannot
//! be written in a query, a number that is not finite, a condition over the size limit)
//! travels with the condition and is the error of the call that uses it, before any request.

use std::{borrow::Cow, collections::HashSet, fmt};

use crate::{Error, ErrorKind, call::util};

/// The longest query the service runs, in bytes: about 8,200 by its support's account
/// (azure-iot-sdk-csharp#1680); longer ones are refused `412 PreconditionFailed`.
pub(crate) const MAX_QUERY_BYTES: usize = 8_192;

/// What this crate writes before a condition in the longest query it sends
/// (`SELECT COUNT() AS numberOfDevices FROM devices WHERE `), with room to spare.
const QUERY_PREFIX_ROOM: usize = 64;

/// The longest device id the service takes.
pub const MAX_DEVICE_ID_LEN: usize = 128;

/// A query condition: the `WHERE` part of an IoT Hub query over device twins, such as
/// `tags.ring = 'canary' AND properties.reported.firmware < '2.4'`.
///
/// Build one from [`Field`]s, from a list of device ids ([`Condition::device_ids`]), or from
/// text ([`Condition::parse`], or a `&str` wherever a condition is taken, checked the same
/// way when it is used). Job builders and device queries take `impl Into<Condition>`.
///
/// ```
/// use iothub_jobs::{Condition, Field};
///
/// let canary = Field::tag("ring").eq("canary");
/// let outdated = Field::reported("firmware.version").lt("2.4.0");
/// let condition = canary.and(outdated).and(!Field::status().eq("disabled"));
/// assert_eq!(
///     condition.text().unwrap(),
///     "tags.ring = 'canary' AND properties.reported.firmware.version < '2.4.0' AND NOT (status = 'disabled')"
/// );
///
/// // A value cannot break out of its quotes.
/// let sneaky = Field::tag("site").eq("x' OR deviceId != '");
/// assert_eq!(sneaky.text().unwrap(), r"tags.site = 'x\' OR deviceId != \''");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Condition {
    text: Result<String, String>,
    shape: Shape,
}

/// What a condition is at its top, to know where combining it needs parentheses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// `*`: every device.
    Every,
    /// One comparison, a `NOT (…)` or a parenthesized group.
    Single,
    /// A caller's text, parenthesized when combined: its inside is unknown.
    Text,
    And,
    Or,
}

impl Condition {
    /// The longest condition the crate sends, in bytes: the service runs queries of at most
    /// 8,192 bytes, and the crate writes up to 64 bytes of `SELECT … FROM devices WHERE `
    /// before a condition.
    pub const MAX_BYTES: usize = MAX_QUERY_BYTES - QUERY_PREFIX_ROOM;

    /// Every device of the hub (`*`). ANDed with another condition it is that condition.
    pub fn every_device() -> Self {
        Self {
            text: Ok("*".to_owned()),
            shape: Shape::Every,
        }
    }

    /// `text` checked as a condition: not empty, only the `WHERE` part (no `SELECT`, `FROM` or
    /// `WHERE` keyword before it), quotes closed and brackets balanced, and at most
    /// [`MAX_BYTES`](Self::MAX_BYTES) long. `*` is every device. The check reads the text's
    /// structure, not the whole query language: the service judges the rest.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let condition = Self::from(text);
        condition.text()?;
        Ok(condition)
    }

    /// Conditions selecting the devices `ids` (`deviceId IN ['a', 'b', …]`), as many as the
    /// size limit needs, each at most [`MAX_BYTES`](Self::MAX_BYTES) long. Every id is checked
    /// against IoT Hub's device-id rule (1–[`MAX_DEVICE_ID_LEN`] ASCII letters, digits and
    /// `- : . + % _ # * ? ! ( ) , = @ ; $ '`); an id named twice is sent once. An empty list,
    /// or any id the rule refuses, is an [`ErrorKind::InvalidCondition`] naming it.
    ///
    /// ```
    /// let ids: Vec<String> = (0..5_000).map(|n| format!("sensor-{n:05}")).collect();
    /// let conditions = iothub_jobs::Condition::device_ids(&ids).unwrap();
    /// assert!(conditions.len() > 1);
    /// ```
    pub fn device_ids<I>(ids: I) -> Result<Vec<Self>, Error>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        const OPEN: &str = "deviceId IN [";
        let mut seen = HashSet::new();
        let mut conditions = Vec::new();
        let mut text = String::from(OPEN);
        for id in ids {
            let id = id.as_ref();
            device_id(id)?;
            if !seen.insert(id.to_owned()) {
                continue;
            }
            let quoted = quoted(id);
            let first = text.len() == OPEN.len();
            // `, ` before it unless first, and the closing `]`.
            let needed = quoted.len() + if first { 1 } else { 3 };
            if !first && text.len() + needed > Self::MAX_BYTES {
                text.push(']');
                conditions.push(Self::single(std::mem::replace(&mut text, OPEN.to_owned())));
            }
            if text.len() > OPEN.len() {
                text.push_str(", ");
            }
            text.push_str(&quoted);
        }
        if seen.is_empty() {
            return Err(invalid(
                "a list of device ids selects no device: it is empty".to_owned(),
            ));
        }
        text.push(']');
        conditions.push(Self::single(text));
        Ok(conditions)
    }

    /// The condition's text as it is sent, or why it cannot be sent (an
    /// [`ErrorKind::InvalidCondition`]).
    pub fn text(&self) -> Result<&str, Error> {
        self.text
            .as_deref()
            .map_err(|problem| invalid(problem.clone()))
    }

    /// Whether it selects every device (`*`).
    pub fn is_every_device(&self) -> bool {
        self.shape == Shape::Every
    }

    /// Devices both conditions select.
    pub fn and(self, other: impl Into<Condition>) -> Self {
        let other = other.into();
        match (self.shape, other.shape) {
            (Shape::Every, _) => other,
            (_, Shape::Every) => self,
            _ => Self::joined(
                self.grouped(Shape::Or),
                "AND",
                other.grouped(Shape::Or),
                Shape::And,
            ),
        }
    }

    /// Devices either condition selects.
    pub fn or(self, other: impl Into<Condition>) -> Self {
        let other = other.into();
        match (self.shape, other.shape) {
            (Shape::Every, _) => self,
            (_, Shape::Every) => other,
            // AND binds tighter than OR: nothing but a caller's text needs parentheses here.
            _ => Self::joined(
                self.grouped(Shape::Text),
                "OR",
                other.grouped(Shape::Text),
                Shape::Or,
            ),
        }
    }

    fn single(text: String) -> Self {
        Self {
            text: Ok(text),
            shape: Shape::Single,
        }
    }

    /// A condition that cannot be sent, for `problem`: refused when it is used.
    pub(crate) fn refused(problem: String) -> Self {
        Self {
            text: Err(problem),
            shape: Shape::Single,
        }
    }

    /// Its text, in parentheses if it is a caller's text or a chain of `loose` (an operator
    /// that binds less tightly than the one it joins).
    fn grouped(self, loose: Shape) -> Result<String, String> {
        let text = self.text?;
        Ok(match self.shape {
            Shape::Text => format!("({text})"),
            shape if shape == loose => format!("({text})"),
            _ => text,
        })
    }

    fn joined(
        left: Result<String, String>,
        word: &str,
        right: Result<String, String>,
        shape: Shape,
    ) -> Self {
        let text = left.and_then(|left| Ok(format!("{left} {word} {}", right?)));
        Self {
            text: text.and_then(within_limit),
            shape,
        }
    }
}

impl std::ops::Not for Condition {
    type Output = Condition;

    /// Devices the condition does not select. `NOT *` would select none: that is refused.
    fn not(self) -> Condition {
        if self.shape == Shape::Every {
            return Self::refused("NOT * selects no device; a job or query needs some".to_owned());
        }
        let text = self.text.map(|text| format!("NOT ({text})"));
        Self {
            text: text.and_then(within_limit),
            shape: Shape::Single,
        }
    }
}

impl From<&str> for Condition {
    /// `text` as a condition, checked as [`Condition::parse`] checks it; a problem is the
    /// error of the call that uses it.
    fn from(text: &str) -> Self {
        match checked_text(text) {
            Ok(()) if text.trim() == "*" => Self::every_device(),
            Ok(()) => Self {
                text: Ok(text.to_owned()),
                shape: Shape::Text,
            },
            Err(problem) => Self::refused(problem),
        }
    }
}

impl From<String> for Condition {
    /// As [`From<&str>`](#impl-From%3C%26str%3E-for-Condition).
    fn from(text: String) -> Self {
        Self::from(text.as_str())
    }
}

impl From<&Condition> for Condition {
    fn from(condition: &Condition) -> Self {
        condition.clone()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.text {
            Ok(text) => f
                .debug_tuple("Condition")
                .field(&util::bounded(text, 200))
                .finish(),
            Err(problem) => f
                .debug_struct("Condition")
                .field("invalid", problem)
                .finish(),
        }
    }
}

/// A property of a device twin, to compare in a [`Condition`]: a tag, a desired or reported
/// property, or one of the twin's own fields.
///
/// Paths are dot-separated names (`location.region`); each name is a letter, `_` or `$` and
/// then letters, digits, `_` or `$`: the names a query can hold without quoting. A name with
/// other characters cannot be written in a condition; the condition built from it is an
/// [`ErrorKind::InvalidCondition`] naming it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Field {
    path: Result<String, String>,
}

impl Field {
    /// The query language's keywords and function names, which the service reads as such in any
    /// case wherever a condition's path starts: `Field::twin("AND")` cannot be written. Under
    /// `tags.` and `properties.` they are plain names. (IoT Hub's query language reference and
    /// its functions, type checks and string functions included.)
    pub const RESERVED_WORDS: &[&str] = &[
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "NIN",
        "AS",
        "TOP",
        "GROUP",
        "BY",
        "ORDER",
        "ASC",
        "DESC",
        "COUNT",
        "TRUE",
        "FALSE",
        "NULL",
        "UNDEFINED",
        "IS_DEFINED",
        "IS_ARRAY",
        "IS_BOOL",
        "IS_NULL",
        "IS_NUMBER",
        "IS_OBJECT",
        "IS_PRIMITIVE",
        "IS_STRING",
        "STARTSWITH",
        "ENDSWITH",
        "CONTAINS",
        "ABS",
        "CEILING",
        "EXP",
        "FLOOR",
        "LOG",
        "LOG10",
        "POWER",
        "SQUARE",
        "SIGN",
        "SQRT",
        "CONCAT",
        "LENGTH",
        "LOWER",
        "UPPER",
        "SUBSTRING",
        "INDEX_OF",
        "AVG",
        "MIN",
        "MAX",
        "SUM",
    ];

    /// A tag: `tags.<path>`.
    pub fn tag(path: &str) -> Self {
        Self::under("tags", path)
    }

    /// A desired property: `properties.desired.<path>`.
    pub fn desired(path: &str) -> Self {
        Self::under("properties.desired", path)
    }

    /// A reported property: `properties.reported.<path>`.
    pub fn reported(path: &str) -> Self {
        Self::under("properties.reported", path)
    }

    /// One of the twin's own fields, such as `lastActivityTime` or `capabilities.iotEdge`. Its
    /// first name may not be one of the query language's reserved words ([`Self::RESERVED_WORDS`], in
    /// any case), which the service would read as that word.
    pub fn twin(path: &str) -> Self {
        Self {
            path: checked_path(path)
                .and_then(|()| not_reserved(path))
                .map(|()| path.to_owned()),
        }
    }

    /// The device's id (`deviceId`).
    pub fn device_id() -> Self {
        Self::twin("deviceId")
    }

    /// Whether the device is `enabled` or `disabled` (`status`).
    pub fn status() -> Self {
        Self::twin("status")
    }

    /// `Connected` or `Disconnected` (`connectionState`).
    pub fn connection_state() -> Self {
        Self::twin("connectionState")
    }

    /// The field's path as a query writes it, or why it cannot be written (an
    /// [`ErrorKind::InvalidCondition`]).
    pub(crate) fn written(&self) -> Result<&str, Error> {
        self.path
            .as_deref()
            .map_err(|problem| invalid(problem.clone()))
    }

    fn under(root: &str, path: &str) -> Self {
        Self {
            path: checked_path(path).map(|()| format!("{root}.{path}")),
        }
    }

    /// `field = value`.
    pub fn eq(self, value: impl Into<Literal>) -> Condition {
        self.compared("=", value.into())
    }

    /// `field != value`.
    pub fn ne(self, value: impl Into<Literal>) -> Condition {
        self.compared("!=", value.into())
    }

    /// `field < value`.
    pub fn lt(self, value: impl Into<Literal>) -> Condition {
        self.compared("<", value.into())
    }

    /// `field <= value`.
    pub fn le(self, value: impl Into<Literal>) -> Condition {
        self.compared("<=", value.into())
    }

    /// `field > value`.
    pub fn gt(self, value: impl Into<Literal>) -> Condition {
        self.compared(">", value.into())
    }

    /// `field >= value`.
    pub fn ge(self, value: impl Into<Literal>) -> Condition {
        self.compared(">=", value.into())
    }

    /// `field IN [values]`: equal to one of them.
    pub fn is_in<I>(self, values: I) -> Condition
    where
        I: IntoIterator,
        I::Item: Into<Literal>,
    {
        self.listed("IN", values)
    }

    /// `field NIN [values]`: equal to none of them.
    pub fn not_in<I>(self, values: I) -> Condition
    where
        I: IntoIterator,
        I::Item: Into<Literal>,
    {
        self.listed("NIN", values)
    }

    /// `IS_DEFINED(field)`: the twin has the property (even if `null`).
    pub fn is_defined(self) -> Condition {
        term(self.path.map(|path| format!("IS_DEFINED({path})")))
    }

    fn compared(self, operator: &str, value: Literal) -> Condition {
        term(
            self.path
                .and_then(|path| Ok(format!("{path} {operator} {}", value.text?))),
        )
    }

    fn listed<I>(self, operator: &str, values: I) -> Condition
    where
        I: IntoIterator,
        I::Item: Into<Literal>,
    {
        let values: Result<Vec<Cow<'static, str>>, String> = values
            .into_iter()
            .map(|value| {
                let value = value.into();
                if value.field {
                    return Err(format!(
                        "{operator} takes a list of values; {} is a property",
                        value.text.as_deref().map_or("a field", |text| text)
                    ));
                }
                value.text
            })
            .collect();
        term(
            self.path
                .and_then(|path| Ok(format!("{path} {operator} [{}]", values?.join(", ")))),
        )
    }
}

fn term(text: Result<String, String>) -> Condition {
    Condition {
        text: text.and_then(within_limit),
        shape: Shape::Single,
    }
}

/// What a [`Field`] is compared with: a string, a number, a boolean or `null`, written as the
/// query language reads it (strings quoted and escaped), or another field, so that a twin's
/// properties compare with each other:
///
/// ```
/// use iothub_jobs::Field;
///
/// // The device acknowledged the desired state it was sent (Microsoft's convention).
/// let applied = Field::desired("$version").eq(Field::reported("lastDesiredVersion"));
/// assert_eq!(
///     applied.text().unwrap(),
///     "properties.desired.$version = properties.reported.lastDesiredVersion"
/// );
/// ```
///
/// A number that is not finite cannot be written; a condition comparing with it is refused.
/// `IN` and `NIN` take values only: a field in their list is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Literal {
    text: Result<Cow<'static, str>, String>,
    /// Whether it is a field's path rather than a value.
    field: bool,
}

impl Literal {
    /// `null`.
    pub const NULL: Literal = Literal {
        text: Ok(Cow::Borrowed("null")),
        field: false,
    };

    fn written(text: String) -> Self {
        Self {
            text: Ok(Cow::Owned(text)),
            field: false,
        }
    }
}

/// Another field, compared as the service compares two properties of one twin.
impl From<Field> for Literal {
    fn from(field: Field) -> Self {
        Self {
            text: field.path.map(Cow::Owned),
            field: true,
        }
    }
}

impl From<&str> for Literal {
    fn from(value: &str) -> Self {
        Self::written(quoted(value))
    }
}

impl From<String> for Literal {
    fn from(value: String) -> Self {
        Self::from(value.as_str())
    }
}

impl From<&String> for Literal {
    fn from(value: &String) -> Self {
        Self::from(value.as_str())
    }
}

impl From<bool> for Literal {
    fn from(value: bool) -> Self {
        Self::written(value.to_string())
    }
}

impl From<f64> for Literal {
    fn from(value: f64) -> Self {
        if value.is_finite() {
            Self::written(value.to_string())
        } else {
            Self {
                text: Err(format!("the number {value} cannot be written in a query")),
                field: false,
            }
        }
    }
}

macro_rules! integer_literals {
    ($($t:ty),*) => {$(
        impl From<$t> for Literal {
            fn from(value: $t) -> Self {
                Self::written(value.to_string())
            }
        }
    )*};
}
integer_literals!(i32, i64, u32, u64);

/// `value` in single quotes, `\` and `'` escaped and control characters written `\uXXXX` (the
/// language's escapes): nothing in it can end the string.
fn quoted(value: &str) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(value.len() + 2);
    text.push('\'');
    for c in value.chars() {
        match c {
            '\\' | '\'' => {
                text.push('\\');
                text.push(c);
            }
            // A control character is below U+FFFF: one escape writes it.
            c if c.is_control() => {
                let _ = write!(text, "\\u{:04X}", u32::from(c));
            }
            c => text.push(c),
        }
    }
    text.push('\'');
    text
}

/// Refuses a path whose first name the service would read as a reserved word.
fn not_reserved(path: &str) -> Result<(), String> {
    let first = path.split('.').next().unwrap_or(path);
    match Field::RESERVED_WORDS
        .iter()
        .find(|word| word.eq_ignore_ascii_case(first))
    {
        None => Ok(()),
        Some(word) => Err(format!(
            "the property path {} cannot be written in a query: {} is the reserved word {word}",
            shown(path),
            shown(first)
        )),
    }
}

/// A property path a query holds without quoting: dot-separated identifiers.
fn checked_path(path: &str) -> Result<(), String> {
    let segment_ok = |segment: &str| {
        let mut chars = segment.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
    };
    match path.split('.').find(|segment| !segment_ok(segment)) {
        None => Ok(()),
        Some(segment) => Err(format!(
            "the property path {} cannot be written in a query: {} is not a name of ASCII letters, digits, '_' and '$' (not starting with a digit)",
            shown(path),
            shown(segment)
        )),
    }
}

fn within_limit(text: String) -> Result<String, String> {
    if text.len() > Condition::MAX_BYTES {
        return Err(format!(
            "the condition is {} bytes; the service runs queries of at most {MAX_QUERY_BYTES} bytes, which leaves {} for a condition (split a device-id list with Condition::device_ids)",
            text.len(),
            Condition::MAX_BYTES
        ));
    }
    Ok(text)
}

/// What is wrong with a caller's condition text, as far as its structure shows.
fn checked_text(text: &str) -> Result<(), String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(
            "the condition is empty; use \"*\" (Condition::every_device) for every device"
                .to_owned(),
        );
    }
    let first_word: String = trimmed
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect();
    for keyword in ["SELECT", "FROM", "WHERE"] {
        if first_word.eq_ignore_ascii_case(keyword) {
            return Err(format!(
                "the condition starts with {keyword}: pass only what follows WHERE, such as \"tags.site = 'berlin'\""
            ));
        }
    }
    within_limit(text.to_owned())?;
    let mut open: Vec<(char, usize)> = Vec::new();
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        match c {
            '\'' | '"' => loop {
                match chars.next() {
                    None => {
                        return Err(format!(
                            "the string opened by {c} at byte {at} is never closed"
                        ));
                    }
                    Some((_, '\\')) => {
                        chars.next();
                    }
                    Some((_, end)) if end == c => break,
                    Some(_) => {}
                }
            },
            '(' | '[' => open.push((c, at)),
            ')' | ']' => {
                let wanted = if c == ')' { '(' } else { '[' };
                match open.pop() {
                    Some((opener, _)) if opener == wanted => {}
                    Some((opener, opened)) => {
                        return Err(format!(
                            "{c} at byte {at} closes the {opener} opened at byte {opened}"
                        ));
                    }
                    None => return Err(format!("{c} at byte {at} closes nothing")),
                }
            }
            _ => {}
        }
    }
    match open.pop() {
        Some((opener, at)) => Err(format!("the {opener} at byte {at} is never closed")),
        None => Ok(()),
    }
}

/// Checks a device id against IoT Hub's rule: 1–128 characters, each an ASCII letter or digit
/// or one of `- : . + % _ # * ? ! ( ) , = @ ; $ '`.
pub(crate) fn device_id(id: &str) -> Result<(), Error> {
    let problem = if id.is_empty() {
        "it is empty".to_owned()
    } else if let Some((at, c)) = id
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_alphanumeric() || "-:.+%_#*?!(),=@;$'".contains(*c)))
    {
        format!("{c:?} at byte {at} is not allowed")
    } else if id.len() > MAX_DEVICE_ID_LEN {
        format!("it is {} characters long", id.len())
    } else {
        return Ok(());
    };
    Err(invalid(format!(
        "invalid device id {}: {problem}; a device id is 1-{MAX_DEVICE_ID_LEN} ASCII letters, digits and - : . + % _ # * ? ! ( ) , = @ ; $ '",
        shown(id)
    )))
}

fn shown(text: &str) -> String {
    format!("{:?}", util::bounded(text, 72))
}

fn invalid(problem: String) -> Error {
    Error::new(ErrorKind::InvalidCondition, problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(condition: &Condition) -> String {
        condition.text().unwrap().to_owned()
    }

    fn problem(condition: &Condition) -> String {
        let error = condition.text().unwrap_err();
        assert_eq!(error.kind(), &ErrorKind::InvalidCondition, "{error}");
        error.to_string()
    }

    #[test]
    fn fields_render_every_comparison_and_literal() {
        assert_eq!(text(&Field::tag("a.b").eq("x")), "tags.a.b = 'x'");
        assert_eq!(
            text(&Field::desired("fw").ne(2)),
            "properties.desired.fw != 2"
        );
        assert_eq!(
            text(&Field::reported("t").lt(-1.5)),
            "properties.reported.t < -1.5"
        );
        assert_eq!(text(&Field::twin("version").le(7_u64)), "version <= 7");
        assert_eq!(text(&Field::status().gt(true)), "status > true");
        assert_eq!(
            text(&Field::connection_state().ge(Literal::NULL)),
            "connectionState >= null"
        );
        assert_eq!(
            text(&Field::device_id().is_in(["a", "b"])),
            "deviceId IN ['a', 'b']"
        );
        assert_eq!(text(&Field::tag("n").not_in([1, 2])), "tags.n NIN [1, 2]");
        assert_eq!(
            text(&Field::reported("$version").is_defined()),
            "IS_DEFINED(properties.reported.$version)"
        );
    }

    #[test]
    fn combining_groups_only_where_precedence_needs_it() {
        let (a, b, c) = (
            Field::tag("a").eq(1),
            Field::tag("b").eq(2),
            Field::tag("c").eq(3),
        );
        assert_eq!(
            text(&a.clone().or(b.clone()).and(c.clone())),
            "(tags.a = 1 OR tags.b = 2) AND tags.c = 3"
        );
        assert_eq!(
            text(&a.clone().and(b.clone()).or(c.clone())),
            "tags.a = 1 AND tags.b = 2 OR tags.c = 3"
        );
        assert_eq!(
            text(&a.clone().and(b.clone().or(c.clone()))),
            "tags.a = 1 AND (tags.b = 2 OR tags.c = 3)"
        );
        assert_eq!(
            text(&!a.clone().and(b.clone())),
            "NOT (tags.a = 1 AND tags.b = 2)"
        );
        let every = Condition::every_device();
        assert_eq!(text(&every.clone().and(a.clone())), "tags.a = 1");
        assert_eq!(text(&a.clone().and(every.clone())), "tags.a = 1");
        assert!(a.clone().or(every.clone()).is_every_device());
        assert!(problem(&!every).contains("NOT *"));
        let plain = Condition::from("tags.x = 1 OR tags.y = 2");
        assert_eq!(
            text(&plain.clone().and(a.clone())),
            "(tags.x = 1 OR tags.y = 2) AND tags.a = 1",
            "a caller's text keeps its meaning"
        );
        assert_eq!(
            text(&a.or(plain)),
            "tags.a = 1 OR (tags.x = 1 OR tags.y = 2)"
        );
        assert_eq!(
            text(&Condition::from("tags.z = 1")),
            "tags.z = 1",
            "alone, as it is"
        );
    }

    #[test]
    fn values_cannot_leave_their_quotes() {
        assert_eq!(text(&Field::tag("s").eq("it's")), r"tags.s = 'it\'s'");
        assert_eq!(text(&Field::tag("s").eq(r"a\")), r"tags.s = 'a\\'");
        assert_eq!(text(&Field::tag("s").eq("\"")), "tags.s = '\"'");
        assert_eq!(
            text(&Field::tag("s").eq("a\nb\u{9f}")),
            r"tags.s = 'a\u000Ab\u009F'"
        );
        assert!(problem(&Field::tag("n").eq(f64::NAN)).contains("NaN"));
        assert!(problem(&Field::tag("n").is_in([f64::INFINITY])).contains("inf"));
    }

    #[test]
    fn fields_compare_with_fields_but_not_in_lists() {
        assert_eq!(
            text(&Field::desired("$version").eq(Field::reported("lastDesiredVersion"))),
            "properties.desired.$version = properties.reported.lastDesiredVersion"
        );
        assert_eq!(
            text(&Field::reported("firmware.version").ne(Field::desired("firmware.version"))),
            "properties.reported.firmware.version != properties.desired.firmware.version"
        );
        assert_eq!(
            text(
                &Field::tag("a")
                    .lt(Field::tag("b"))
                    .and(Field::tag("c").ge(Field::tag("d")))
            ),
            "tags.a < tags.b AND tags.c >= tags.d"
        );
        assert!(problem(&Field::tag("a").eq(Field::tag("bad-name"))).contains("bad-name"));
        assert!(problem(&Field::tag("a").eq(Field::twin("NOT"))).contains("reserved word"));
        let listed = problem(&Field::tag("a").is_in([Field::tag("b")]));
        assert!(listed.contains("IN takes a list of values"), "{listed}");
    }

    #[test]
    fn names_a_query_cannot_hold_are_refused_naming_them() {
        for (path, segment) in [
            ("a-b", "a-b"),
            ("a..b", "\"\""),
            ("1a", "1a"),
            ("a b", "a b"),
            ("", "\"\""),
            ("x.y'", "y'"),
        ] {
            let refused = problem(&Field::tag(path).eq(1));
            assert!(refused.contains(segment), "{path}: {refused}");
        }
        for word in [
            "AND",
            "not",
            "In",
            "true",
            "NULL",
            "SELECT",
            "from",
            "WHERE",
            "IS_DEFINED",
            "COUNT",
            "count.x",
        ] {
            let refused = problem(&Field::twin(word).eq(1));
            assert!(refused.contains("reserved word"), "{word}: {refused}");
        }
        assert!(
            Field::tag("AND").eq(1).text().is_ok(),
            "a plain name under tags"
        );
        assert!(Field::reported("select.count").eq(1).text().is_ok());
        assert!(
            Field::twin("andMore").eq(1).text().is_ok(),
            "only whole words"
        );
        assert!(Field::twin("capabilities.iotEdge").eq(true).text().is_ok());
        assert!(Field::desired("$metadata._x").is_defined().text().is_ok());
        assert!(Field::tag("a$b_9").eq(1).text().is_ok());
    }

    #[test]
    fn plain_text_is_checked_before_it_is_sent() {
        for ok in [
            "tags.site = 'berlin'",
            "deviceId IN ['a', 'b]']",
            "(tags.a = 1) AND properties.reported.s = 'it\\'s (ok'",
            "selected = 1",
        ] {
            assert_eq!(Condition::parse(ok).unwrap().text().unwrap(), ok);
        }
        assert!(Condition::parse(" * ").unwrap().is_every_device());
        for (bad, expected) in [
            ("", "empty"),
            ("   ", "empty"),
            (
                "SELECT * FROM devices WHERE tags.a = 1",
                "starts with SELECT",
            ),
            ("select deviceId from devices", "starts with SELECT"),
            ("FROM devices", "starts with FROM"),
            ("where tags.a = 1", "starts with WHERE"),
            ("tags.a = 'x", "never closed"),
            ("tags.a = \"x\\\"", "never closed"),
            ("deviceId IN ['a'", "[ at byte 12 is never closed"),
            ("(tags.a = 1", "( at byte 0 is never closed"),
            ("tags.a = 1)", ") at byte 10 closes nothing"),
            ("deviceId IN ['a')", "closes the ["),
        ] {
            let error = Condition::parse(bad).unwrap_err();
            assert_eq!(error.kind(), &ErrorKind::InvalidCondition);
            assert!(error.to_string().contains(expected), "{bad:?}: {error}");
            // The same text where a condition is taken is the same error, when it is used.
            assert_eq!(problem(&Condition::from(bad)), error.to_string());
        }
        let long = format!("tags.a = '{}'", "x".repeat(Condition::MAX_BYTES));
        assert!(
            Condition::parse(&long)
                .unwrap_err()
                .to_string()
                .contains("8192")
        );
    }

    #[test]
    fn device_ids_are_checked_deduplicated_and_split_to_fit() {
        let one = Condition::device_ids(["b", "a", "b", "it's"]).unwrap();
        assert_eq!(
            one.iter().map(text).collect::<Vec<_>>(),
            [r"deviceId IN ['b', 'a', 'it\'s']"]
        );
        let ids: Vec<String> = (0..5_000).map(|n| format!("device-{n:06}")).collect();
        let split = Condition::device_ids(&ids).unwrap();
        let mut sent = Vec::new();
        for condition in &split {
            let text = text(condition);
            assert!(text.len() <= Condition::MAX_BYTES, "{}", text.len());
            let inner = text
                .strip_prefix("deviceId IN [")
                .unwrap()
                .strip_suffix(']')
                .unwrap();
            sent.extend(inner.split(", ").map(|id| id.trim_matches('\'').to_owned()));
        }
        assert_eq!(sent, ids, "every id once, in order");
        // Each condition but the last is full: one more id would not have fitted.
        for condition in &split[..split.len() - 1] {
            assert!(text(condition).len() + ", 'device-000000'".len() > Condition::MAX_BYTES);
        }
        // 17 bytes an id (`'device-000000', `): as few conditions as that allows.
        assert_eq!(
            split.len(),
            (5_000 * 17_usize).div_ceil(Condition::MAX_BYTES)
        );
        let longest = "x".repeat(MAX_DEVICE_ID_LEN);
        assert!(Condition::device_ids([longest.as_str()]).is_ok());
        for (bad, expected) in [
            (vec!["ok", "a b"], "' ' at byte 1"),
            (vec!["é"], "'é'"),
            (vec![""], "empty"),
            (vec![&"y".repeat(MAX_DEVICE_ID_LEN + 1)], "129 characters"),
            (vec![], "empty"),
        ] {
            let error = Condition::device_ids(bad.clone()).unwrap_err();
            assert_eq!(error.kind(), &ErrorKind::InvalidCondition);
            assert!(error.to_string().contains(expected), "{bad:?}: {error}");
        }
    }

    #[test]
    fn every_split_is_as_full_as_the_limit_allows_whatever_the_ids_lengths() {
        for len in [1, 2, 7, 13, 40, MAX_DEVICE_ID_LEN] {
            let ids: Vec<String> = (0..3_000).map(|n| format!("{n:0len$}")).collect();
            let split = Condition::device_ids(&ids).unwrap();
            for (condition, next) in split.iter().zip(split.iter().skip(1)) {
                let (text, next) = (text(condition), text(next));
                assert!(text.len() <= Condition::MAX_BYTES, "{len}: {}", text.len());
                // The next condition's first id, with its `, `, would not have fitted.
                let first = next
                    .trim_start_matches("deviceId IN [")
                    .split(", ")
                    .next()
                    .unwrap();
                let first = first.trim_end_matches(']');
                assert!(
                    text.len() + 2 + first.len() > Condition::MAX_BYTES,
                    "{len}: {}",
                    text.len()
                );
            }
            assert!(text(split.last().unwrap()).len() <= Condition::MAX_BYTES);
        }
    }

    #[test]
    fn a_condition_of_exactly_the_limit_is_taken_and_one_byte_more_is_not() {
        let at = |len: usize| format!("tags.a = '{}'", "x".repeat(len - "tags.a = ''".len()));
        assert!(Condition::parse(&at(Condition::MAX_BYTES)).is_ok());
        assert!(Condition::parse(&at(Condition::MAX_BYTES + 1)).is_err());
        assert!(
            Field::tag("a")
                .eq("x".repeat(Condition::MAX_BYTES - 11))
                .text()
                .is_ok()
        );
        assert!(
            Field::tag("a")
                .eq("x".repeat(Condition::MAX_BYTES - 10))
                .text()
                .is_err()
        );
        assert_eq!(Condition::MAX_BYTES, 8_128);
    }

    #[test]
    fn a_built_condition_over_the_limit_is_refused() {
        let ids: Vec<String> = (0..1_000).map(|n| format!("device-{n:06}")).collect();
        let refused = problem(&Field::device_id().is_in(&ids));
        assert!(refused.contains("Condition::device_ids"), "{refused}");
        assert_eq!(
            format!("{:?}", Field::tag("a").eq(1)),
            "Condition(\"tags.a = 1\")"
        );
    }
}
