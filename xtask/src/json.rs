//! JSON helpers shared by the commands: canonical output and operation selectors.

use std::{fmt, str::FromStr};

use serde_json::{Map, Value};

/// An operation selected by method and path, written `POST /jobs/v2/{id}/cancel`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Operation {
    pub method: String,
    pub path: String,
}

impl FromStr for Operation {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (method, path) = text.trim().split_once(' ').ok_or_else(|| {
            format!("{text:?}: expected `<METHOD> <path>`, e.g. `POST /jobs/v2/{{id}}/cancel`")
        })?;
        let method = method.to_ascii_uppercase();
        if !["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"].contains(&method.as_str())
            || !path.starts_with('/')
        {
            return Err(format!(
                "{text:?}: expected `<METHOD> <path>`, e.g. `POST /jobs/v2/{{id}}/cancel`"
            ));
        }
        Ok(Self {
            method,
            path: path.trim().to_owned(),
        })
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// Parses `--operations "POST /a,GET /b"`.
pub fn parse_operations(list: &str) -> Result<Vec<Operation>, String> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(str::parse)
        .collect()
}

/// The operations a document (Swagger 2.0 or OpenAPI 3.0) has, sorted.
pub fn operations_of(doc: &Value) -> Vec<Operation> {
    let mut found: Vec<Operation> = as_object(&doc["paths"])
        .iter()
        .flat_map(|(path, item)| {
            as_object(item)
                .keys()
                .filter(|method| {
                    ["get", "put", "post", "delete", "patch", "head", "options"]
                        .contains(&method.as_str())
                })
                .map(move |method| Operation {
                    method: method.to_ascii_uppercase(),
                    path: path.clone(),
                })
        })
        .collect();
    found.sort();
    found
}

/// `value` as an object, or an empty one.
pub fn as_object(value: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    value
        .as_object()
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// The one way spec/ files are written: keys sorted at every level, two-space indentation,
/// a trailing newline. Independent of whether serde_json keeps insertion order.
pub fn to_canonical_string(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(object) => {
                let mut keys: Vec<&String> = object.keys().collect();
                keys.sort();
                Value::Object(
                    keys.into_iter()
                        .map(|k| (k.clone(), sorted(&object[k])))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    let mut text = serde_json::to_string_pretty(&sorted(value)).expect("JSON values serialize");
    text.push('\n');
    text
}

/// Reads and parses a JSON file.
pub fn read_json(path: &std::path::Path) -> Result<Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: not JSON: {e}", path.display()))
}
