//! The twin rules of the API description (`Twin.tags`, `TwinProperties`), as the hub enforces
//! them on the twins it loads and on twin-update jobs' patches. Written from the description
//! and Microsoft's documentation, not taken from the client, like the rest of `rules`.
//!
//! - A key — in `tags`, `properties.desired` or `properties.reported`, at any depth — is at
//!   most 1,024 bytes of UTF-8, and holds no control character (C0 or C1), `.`, `$` or space.
//! - Each top-level value of those sections is at most 4,096 bytes of JSON.
//! - At most 10 levels of objects lie below each section (arrays add none; objects in them do).
//! - The service's own `$version` and `$metadata` (all of it) at the top of a loaded twin's
//!   `properties.desired` and `properties.reported` follow its rules, not these, so a twin
//!   exported from a real hub loads; no patch may set them.
//! - A loaded twin's `version` and those `$version`s are whole numbers from 0 to the largest
//!   64-bit integer: the counters the hub moves on.

use std::io;

use serde_json::{Map, Value};

/// The longest key, in bytes of UTF-8.
const MAX_KEY_BYTES: usize = 1024;

/// The longest top-level value, in bytes of JSON.
const MAX_VALUE_BYTES: usize = 4096;

/// The most levels of objects below `tags`, `properties.desired` or `properties.reported`.
const MAX_DEPTH: usize = 10;

/// The most characters of a key a message repeats: enough to find it, never a kilobyte.
const SHOWN_KEY_CHARS: usize = 40;

/// The service's own fields at the top of a loaded twin's properties.
const SERVICE_FIELDS: [&str; 2] = ["$version", "$metadata"];

/// Checks the tags, properties and version counters of `twin`, a twin to load; says what is
/// wrong with the first part that breaks a rule.
pub(crate) fn check_twin(twin: &Map<String, Value>) -> Result<(), String> {
    check_counter("version", twin.get("version"))?;
    if let Some(Value::Object(tags)) = twin.get("tags") {
        check_section("tags", tags, false)?;
    }
    if let Some(Value::Object(properties)) = twin.get("properties") {
        for side in ["desired", "reported"] {
            if let Some(Value::Object(section)) = properties.get(side) {
                let name = format!("properties.{side}");
                check_counter(&format!("{name}.$version"), section.get("$version"))?;
                check_section(&name, section, true)?;
            }
        }
    }
    Ok(())
}

/// Checks a twin-update job's `updateTwin`: its `tags` and `properties.desired` /
/// `properties.reported`, where given, are objects (or `null`) that keep the rules.
pub(crate) fn check_patch(update: &Value) -> Result<(), String> {
    let sections = [
        ("tags", &update["tags"]),
        ("properties.desired", &update["properties"]["desired"]),
        ("properties.reported", &update["properties"]["reported"]),
    ];
    for (name, section) in sections {
        match section {
            Value::Object(section) => check_section(name, section, false)?,
            Value::Null => {}
            _ => return Err(format!("{name} must be a JSON object")),
        }
    }
    Ok(())
}

/// `value`, a twin's version counter, if present: a whole number within `0..=i64::MAX`.
fn check_counter(name: &str, value: Option<&Value>) -> Result<(), String> {
    match value {
        Some(counter) if counter.as_i64().is_none_or(|n| n < 0) => Err(format!(
            "{name} {counter} is not a whole number from 0 to {}",
            i64::MAX
        )),
        _ => Ok(()),
    }
}

/// Checks one section (`tags`, `properties.desired`, …); `service_fields` leaves the
/// service's own fields at its top alone.
fn check_section(
    name: &str,
    section: &Map<String, Value>,
    service_fields: bool,
) -> Result<(), String> {
    for (key, value) in section {
        if service_fields && SERVICE_FIELDS.contains(&key.as_str()) {
            continue;
        }
        check_key(name, key)?;
        let at = format!("{name}.{}", shown(key));
        check_nesting(&at, value)?;
        if !fits(value, MAX_VALUE_BYTES) {
            return Err(format!(
                "the value of {at} is more than {MAX_VALUE_BYTES} bytes of JSON, the most a value may be"
            ));
        }
    }
    Ok(())
}

/// Checks every key inside `value` and its depth, without recursion: nothing a client sends
/// can exhaust the stack here.
fn check_nesting(at: &str, value: &Value) -> Result<(), String> {
    // Each value still to look at, with the levels of objects it lies within.
    let mut unvisited = vec![(value, 0)];
    while let Some((value, levels)) = unvisited.pop() {
        match value {
            Value::Object(fields) => {
                if levels == MAX_DEPTH {
                    return Err(format!(
                        "the value of {at} has more than {MAX_DEPTH} levels of objects, the most a value may nest"
                    ));
                }
                for (key, field) in fields {
                    check_key(at, key)?;
                    unvisited.push((field, levels + 1));
                }
            }
            Value::Array(items) => unvisited.extend(items.iter().map(|item| (item, levels))),
            _ => {}
        }
    }
    Ok(())
}

/// Checks `key`, found in `at`.
fn check_key(at: &str, key: &str) -> Result<(), String> {
    let problem = if key.len() > MAX_KEY_BYTES {
        format!(
            "is {} bytes long; a key is at most {MAX_KEY_BYTES} bytes",
            key.len()
        )
    } else if let Some(control) = key.chars().find(|c| c.is_control()) {
        format!(
            "holds the control character U+{:04X}, which no key may hold",
            u32::from(control)
        )
    } else if key.contains('.') {
        "holds '.', which no key may hold".to_owned()
    } else if key.contains('$') {
        "holds '$', which no key may hold (only the service's own $version and $metadata)"
            .to_owned()
    } else if key.contains(' ') {
        "holds a space, which no key may hold".to_owned()
    } else {
        return Ok(());
    };
    Err(format!("in {at}, the key {} {problem}", shown(key)))
}

/// `key` quoted for a message, control characters escaped, cut after [`SHOWN_KEY_CHARS`].
fn shown(key: &str) -> String {
    let cut: String = key.chars().take(SHOWN_KEY_CHARS).collect();
    if cut.len() < key.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

/// Whether `value` serializes to at most `limit` bytes; stops writing once past it.
fn fits(value: &Value, limit: usize) -> bool {
    /// Counts bytes, failing once past its limit.
    struct Counter {
        room: usize,
    }
    impl io::Write for Counter {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.room = self
                .room
                .checked_sub(bytes.len())
                .ok_or_else(|| io::Error::other("past the limit"))?;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    serde_json::to_writer(Counter { room: limit }, value).is_ok()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn nested(levels: usize) -> Value {
        (0..levels).fold(json!("v"), |inner, _| json!({ "l": inner }))
    }

    #[test]
    fn the_documented_depth_example_is_valid_and_one_level_more_is_not() {
        let ten = json!({"one": {"two": {"three": {"four": {"five": {"six": {"seven":
            {"eight": {"nine": {"ten": {"property": "value"}}}}}}}}}}});
        let tags = ten.as_object().unwrap();
        assert_eq!(check_section("tags", tags, false), Ok(()));
        assert_eq!(check_nesting("t", &nested(10)), Ok(()));
        let refused = check_nesting("t", &nested(11)).unwrap_err();
        assert!(refused.contains("more than 10 levels"), "{refused}");
        let in_array = check_nesting("t", &json!([[nested(11)]])).unwrap_err();
        assert!(in_array.contains("more than 10 levels"), "{in_array}");
    }

    #[test]
    fn keys_are_refused_for_what_they_hold_and_shown_short() {
        assert_eq!(check_key("tags", &"é".repeat(512)), Ok(()));
        for (key, named) in [
            ("a.b", "'.'"),
            ("$x", "'$'"),
            ("a b", "a space"),
            ("a\u{0}", "U+0000"),
            ("a\u{9f}", "U+009F"),
            ("a\u{7f}", "U+007F"),
        ] {
            let refused = check_key("tags", key).unwrap_err();
            assert!(refused.contains(named), "{key:?}: {refused}");
        }
        let refused = check_key("tags", &"k".repeat(2000)).unwrap_err();
        assert!(refused.contains("is 2000 bytes long"), "{refused}");
        assert!(refused.len() < 200, "{refused}");
    }

    #[test]
    fn values_fit_up_to_the_limit_exactly() {
        let text = |bytes: usize| json!("v".repeat(bytes - 2));
        assert!(fits(&text(MAX_VALUE_BYTES), MAX_VALUE_BYTES));
        assert!(!fits(&text(MAX_VALUE_BYTES + 1), MAX_VALUE_BYTES));
    }

    #[test]
    fn counters_are_whole_numbers_within_64_bits() {
        for ok in [json!(0), json!(i64::MAX)] {
            assert_eq!(check_counter("version", Some(&ok)), Ok(()));
        }
        for refused in [json!(-1), json!(u64::MAX), json!(1.5), json!("1")] {
            assert!(
                check_counter("version", Some(&refused)).is_err(),
                "{refused}"
            );
        }
    }
}
