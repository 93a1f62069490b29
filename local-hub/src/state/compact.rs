//! A twin held compactly: its JSON as one run of bytes in a binary form of its own — a tag byte
//! per value, lengths as varints, an object's or array's length in bytes before it so a lookup
//! skips what it does not need — read in place by queries, and turned back into JSON only for
//! what is served or changed.
//!
//! A `serde_json::Value` tree costs a twin of 1 KB about 12 KB: a map node, a `String` and an
//! allocation per field. This form costs about its JSON text, in one allocation; a condition
//! reads a field by walking a few bytes per field before it.

use serde_json::{Map, Number, Value};

use crate::query::{Document, Path, Scalar};

const NULL: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
/// An integer that fits in `i64`, zigzag-varint encoded.
const INT: u8 = 3;
/// An integer past `i64::MAX`, eight bytes.
const UINT: u8 = 4;
/// Any other number, eight bytes of its `f64`.
const FLOAT: u8 = 5;
/// A varint byte length, then UTF-8.
const STRING: u8 = 6;
/// A varint byte length of what follows, then the elements.
const ARRAY: u8 = 7;
/// A varint byte length of what follows, then each field: its name as a string's length and
/// bytes, then its value.
const OBJECT: u8 = 8;

/// A JSON value in the compact form.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Compact(Box<[u8]>);

impl Compact {
    pub(crate) fn new(value: &Value) -> Self {
        let mut bytes = Vec::with_capacity(256);
        write(value, &mut bytes);
        Self(bytes.into_boxed_slice())
    }

    /// The JSON it holds.
    pub(crate) fn to_value(&self) -> Value {
        self.root().to_value()
    }

    /// Its JSON text, written as `serde_json` writes the value it holds (objects' fields in
    /// the order it keeps them, which is the order of their names), without the value.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        self.root().write_json(out);
    }

    fn root(&self) -> Node<'_> {
        Node(&self.0)
    }
}

impl Compact {
    /// The value at `path`, as an answer holds it; `None` when it is undefined.
    pub(crate) fn value(&self, path: &Path) -> Option<Value> {
        Some(self.root().at(path)?.to_value())
    }
}

impl Document for Compact {
    fn scalar(&self, path: &Path) -> Option<Scalar<'_>> {
        Some(self.root().at(path)?.scalar())
    }
}

fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(NULL),
        Value::Bool(false) => out.push(FALSE),
        Value::Bool(true) => out.push(TRUE),
        Value::Number(number) => write_number(number, out),
        Value::String(text) => {
            out.push(STRING);
            write_str(text, out);
        }
        Value::Array(items) => composite(ARRAY, out, |body| {
            items.iter().for_each(|item| write(item, body));
        }),
        Value::Object(fields) => composite(OBJECT, out, |body| {
            for (name, value) in fields {
                write_str(name, body);
                write(value, body);
            }
        }),
    }
}

fn write_number(number: &Number, out: &mut Vec<u8>) {
    if let Some(int) = number.as_i64() {
        out.push(INT);
        write_varint(((int << 1) ^ (int >> 63)) as u64, out);
    } else if let Some(uint) = number.as_u64() {
        out.push(UINT);
        out.extend_from_slice(&uint.to_le_bytes());
    } else {
        out.push(FLOAT);
        out.extend_from_slice(&number.as_f64().unwrap_or(0.0).to_le_bytes());
    }
}

fn write_str(text: &str, out: &mut Vec<u8>) {
    write_varint(text.len() as u64, out);
    out.extend_from_slice(text.as_bytes());
}

/// `tag`, the byte length of what `body` writes, then it.
fn composite(tag: u8, out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let mut inner = Vec::new();
    body(&mut inner);
    out.push(tag);
    write_varint(inner.len() as u64, out);
    out.extend_from_slice(&inner);
}

fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// A varint at the start of `bytes`, and what follows it. Bytes the encoder did not write
/// read as zero and nothing: no input makes a read panic.
fn read_varint(bytes: &[u8]) -> (u64, &[u8]) {
    let mut value = 0_u64;
    for (at, byte) in bytes.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * at);
        if byte & 0x80 == 0 {
            return (value, &bytes[at + 1..]);
        }
    }
    (value, &[])
}

/// `length` bytes from the start of `bytes`, and what follows.
fn split(bytes: &[u8], length: u64) -> (&[u8], &[u8]) {
    let at = usize::try_from(length)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    bytes.split_at(at)
}

fn eight(bytes: &[u8]) -> [u8; 8] {
    let mut array = [0; 8];
    let (taken, _) = split(bytes, 8);
    array[..taken.len()].copy_from_slice(taken);
    array
}

/// A value in place: its bytes, starting at its tag (and running past it).
#[derive(Clone, Copy)]
struct Node<'a>(&'a [u8]);

impl<'a> Node<'a> {
    fn tag(self) -> u8 {
        self.0.first().copied().unwrap_or(NULL)
    }

    fn body(self) -> &'a [u8] {
        self.0.get(1..).unwrap_or_default()
    }

    /// This value's bytes, and those after it.
    fn skip(self) -> (Node<'a>, &'a [u8]) {
        let body = self.body();
        let length = match self.tag() {
            INT => {
                let (_, rest) = read_varint(body);
                body.len() - rest.len()
            }
            UINT | FLOAT => 8.min(body.len()),
            STRING | ARRAY | OBJECT => {
                let (length, rest) = read_varint(body);
                let header = body.len() - rest.len();
                header
                    + usize::try_from(length)
                        .unwrap_or(usize::MAX)
                        .min(rest.len())
            }
            _ => 0,
        };
        let (this, rest) = self.0.split_at((1 + length).min(self.0.len()));
        (Node(this), rest)
    }

    /// The contents of an array or object.
    fn contents(self) -> &'a [u8] {
        let (length, rest) = read_varint(self.body());
        split(rest, length).0
    }

    /// The field `name` of an object.
    fn get(self, name: &str) -> Option<Node<'a>> {
        if self.tag() != OBJECT {
            return None;
        }
        let mut fields = self.contents();
        while !fields.is_empty() {
            let (length, rest) = read_varint(fields);
            let (key, rest) = split(rest, length);
            let (value, rest) = Node(rest).skip();
            if key == name.as_bytes() {
                return Some(value);
            }
            fields = rest;
        }
        None
    }

    fn at(self, path: &Path) -> Option<Node<'a>> {
        path.segments()
            .try_fold(self, |node, segment| node.get(segment))
    }

    fn scalar(self) -> Scalar<'a> {
        let body = self.body();
        match self.tag() {
            FALSE => Scalar::Bool(false),
            TRUE => Scalar::Bool(true),
            INT => {
                let (zigzag, _) = read_varint(body);
                Scalar::Int(((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64))
            }
            UINT => Scalar::Uint(u64::from_le_bytes(eight(body))),
            FLOAT => Scalar::Float(f64::from_le_bytes(eight(body))),
            STRING => {
                let (length, rest) = read_varint(body);
                // Written from a `&str`: it is UTF-8.
                Scalar::Str(std::str::from_utf8(split(rest, length).0).unwrap_or_default())
            }
            ARRAY | OBJECT => Scalar::Composite,
            _ => Scalar::Null,
        }
    }

    fn write_json(self, out: &mut Vec<u8>) {
        // Writing to a `Vec` cannot fail.
        match self.tag() {
            ARRAY => {
                out.push(b'[');
                let mut rest = self.contents();
                let mut first = true;
                while !rest.is_empty() {
                    let (item, after) = Node(rest).skip();
                    if !std::mem::take(&mut first) {
                        out.push(b',');
                    }
                    item.write_json(out);
                    rest = after;
                }
                out.push(b']');
            }
            OBJECT => {
                out.push(b'{');
                let mut rest = self.contents();
                let mut first = true;
                while !rest.is_empty() {
                    let (length, after) = read_varint(rest);
                    let (key, after) = split(after, length);
                    let (value, after) = Node(after).skip();
                    if !std::mem::take(&mut first) {
                        out.push(b',');
                    }
                    let _ = serde_json::to_writer(&mut *out, &*String::from_utf8_lossy(key));
                    out.push(b':');
                    value.write_json(out);
                    rest = after;
                }
                out.push(b'}');
            }
            _ => {
                let _ = match self.scalar() {
                    // The most common by far, written without a copy.
                    Scalar::Str(text) => serde_json::to_writer(&mut *out, text),
                    other => serde_json::to_writer(&mut *out, &other.to_value()),
                };
            }
        }
    }

    fn to_value(self) -> Value {
        match self.tag() {
            ARRAY => {
                let mut items = Vec::new();
                let mut rest = self.contents();
                while !rest.is_empty() {
                    let (item, after) = Node(rest).skip();
                    items.push(item.to_value());
                    rest = after;
                }
                Value::Array(items)
            }
            OBJECT => {
                let mut fields = Map::new();
                let mut rest = self.contents();
                while !rest.is_empty() {
                    let (length, after) = read_varint(rest);
                    let (key, after) = split(after, length);
                    let (value, after) = Node(after).skip();
                    let key = String::from_utf8_lossy(key).into_owned();
                    fields.insert(key, value.to_value());
                    rest = after;
                }
                Value::Object(fields)
            }
            _ => self.scalar().to_value(),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_kind_of_value_comes_back_as_it_went_in() {
        for value in [
            json!(null),
            json!(true),
            json!(false),
            json!(0),
            json!(-1),
            json!(i64::MIN),
            json!(i64::MAX),
            json!(u64::MAX),
            json!(2.5),
            json!(-0.0),
            json!(1e300),
            json!(""),
            json!("héllo ✓"),
            json!([]),
            json!({}),
            json!([1, "a", [null], {"b": {}}]),
            json!({"deviceId": "d", "tags": {"ring": "canary", "n": 3},
                "properties": {"desired": {"$version": 4, "fw": {"v": "2.4"}},
                "reported": {"list": [1, 2.5, "x"], "x".repeat(300): "y".repeat(70_000)}}}),
        ] {
            let compact = Compact::new(&value);
            assert_eq!(compact.to_value(), value, "{value}");
            let mut written = Vec::new();
            compact.write_json(&mut written);
            assert_eq!(
                String::from_utf8(written).unwrap(),
                value.to_string(),
                "written"
            );
        }
    }

    #[test]
    fn a_field_is_read_in_place_by_its_path() {
        let twin = Compact::new(&json!({"tags": {"ring": "early", "n": -7, "big": u64::MAX,
            "f": 0.5, "on": true, "none": null, "o": {"x": 1}}}));
        let path = |dotted: &str| Path::new(dotted.split('.').map(str::to_owned).collect());
        assert_eq!(twin.scalar(&path("tags.ring")), Some(Scalar::Str("early")));
        assert_eq!(twin.scalar(&path("tags.n")), Some(Scalar::Int(-7)));
        assert_eq!(twin.scalar(&path("tags.big")), Some(Scalar::Uint(u64::MAX)));
        assert_eq!(twin.scalar(&path("tags.f")), Some(Scalar::Float(0.5)));
        assert_eq!(twin.scalar(&path("tags.on")), Some(Scalar::Bool(true)));
        assert_eq!(twin.scalar(&path("tags.none")), Some(Scalar::Null));
        assert_eq!(twin.scalar(&path("tags.o")), Some(Scalar::Composite));
        assert_eq!(twin.scalar(&path("tags.missing")), None);
        assert_eq!(twin.scalar(&path("tags.ring.deeper")), None);
        assert_eq!(twin.value(&path("tags.o")), Some(json!({"x": 1})));
    }

    #[test]
    fn every_condition_reads_a_compact_twin_as_it_reads_its_json() {
        let docs = [
            json!({"deviceId": "a", "tags": {"ring": "early", "n": 3, "f": 2.5, "on": true,
                "none": null, "big": u64::MAX, "list": [1], "o": {"x": 1}},
                "properties": {"desired": {"$version": 4}, "reported": {"lastDesiredVersion": 4,
                "lastDesiredStatus": {"code": 200}, "fw": "2.4"}}}),
            json!({"deviceId": "b", "tags": {"ring": "broad", "n": 3.0, "f": 2, "on": false,
                "big": i64::MAX}, "properties": {"desired": {"$version": 5},
                "reported": {"lastDesiredVersion": "5", "fw": 2.4}}}),
            json!({"deviceId": "c"}),
        ];
        let conditions = [
            "*",
            "tags.ring = 'early'",
            "tags.ring != 'early'",
            "tags.ring < 'c'",
            "tags.n = 3",
            "tags.n >= 3.0",
            "tags.f > 2",
            "tags.on = true",
            "tags.on != false",
            "tags.none = null",
            "IS_DEFINED(tags.none)",
            "NOT IS_DEFINED(tags.none)",
            "tags.big > 9223372036854775806",
            "tags.big = 18446744073709551615",
            "tags.list = 1",
            "tags.o = 1",
            "tags.ring IN ['early', 'x']",
            "tags.n NIN [1, '3']",
            "properties.desired.$version = properties.reported.lastDesiredVersion",
            "properties.desired.$version = properties.reported.lastDesiredVersion AND properties.reported.lastDesiredStatus.code = 200",
            "properties.reported.fw = '2.4' OR NOT (tags.n = 3)",
            "deviceId = 'c'",
        ];
        for condition in conditions {
            let filter = crate::query::condition(condition).unwrap();
            for doc in &docs {
                assert_eq!(
                    filter.matches(&Compact::new(doc)),
                    filter.matches(doc),
                    "{condition} over {doc}"
                );
            }
        }
    }

    #[test]
    fn bytes_it_did_not_write_read_as_something_and_never_panic() {
        for bytes in [
            vec![],
            vec![OBJECT],
            vec![OBJECT, 0xff],
            vec![OBJECT, 5, 3, b'a'],
            vec![STRING, 200, b'a'],
            vec![STRING, 2, 0xff, 0xfe],
            vec![INT, 0x80, 0x80],
            vec![UINT, 1],
            vec![ARRAY, 3, OBJECT, 9, 9],
            vec![42],
        ] {
            let compact = Compact(bytes.into_boxed_slice());
            let _ = compact.to_value();
            let path = Path::new(vec!["a".to_owned(), "b".to_owned()]);
            let _ = compact.scalar(&path);
        }
    }
}
