//! JSON helpers shared by the commands: canonical output, operation selectors, and the walk
//! that finds the schemas a document's operations use.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    str::FromStr,
};

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

/// A document's named schemas: `definitions` (Swagger 2.0) or `components/schemas` (OpenAPI 3.0).
pub fn schemas_of(doc: &Value) -> &Map<String, Value> {
    match doc.get("definitions") {
        Some(definitions) => as_object(definitions),
        None => as_object(&doc["components"]["schemas"]),
    }
}

/// Adds to `found` the name of every schema `value` refers to (`#/definitions/…` or
/// `#/components/schemas/…`), at any depth.
pub fn referenced_schemas(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(object) => {
            for (key, inner) in object {
                match (key.as_str(), inner.as_str()) {
                    ("$ref", Some(reference)) => {
                        found.extend(schema_name(reference).map(str::to_owned))
                    }
                    _ => referenced_schemas(inner, found),
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| referenced_schemas(item, found)),
        _ => {}
    }
}

/// The schema `value` stands for when it is a `$ref`, or a one-item `allOf` of a `$ref` (how
/// OpenAPI 3.0 keeps a description beside a reference).
pub fn single_reference(value: &Value) -> Option<&str> {
    let reference =
        value["$ref"]
            .as_str()
            .or_else(|| match value["allOf"].as_array().map(Vec::as_slice) {
                Some([only]) => only["$ref"].as_str(),
                _ => None,
            })?;
    reference.rsplit_once('/').map(|(_, name)| name)
}

fn schema_name(reference: &str) -> Option<&str> {
    reference
        .strip_prefix("#/definitions/")
        .or_else(|| reference.strip_prefix("#/components/schemas/"))
}

/// What [`schema_closure`] found.
pub struct SchemaClosure<'a> {
    /// Every schema reached, by name.
    pub found: BTreeMap<String, &'a Value>,
    /// Names referred to that `schemas` does not define.
    pub missing: BTreeSet<String>,
}

/// `roots` and every schema they refer to, directly or not, looked up in `schemas`.
pub fn schema_closure(schemas: &Map<String, Value>, roots: BTreeSet<String>) -> SchemaClosure<'_> {
    let mut closure = SchemaClosure {
        found: BTreeMap::new(),
        missing: BTreeSet::new(),
    };
    let mut pending: Vec<String> = roots.into_iter().collect();
    while let Some(name) = pending.pop() {
        if closure.found.contains_key(&name) || closure.missing.contains(&name) {
            continue;
        }
        let Some(schema) = schemas.get(&name) else {
            closure.missing.insert(name);
            continue;
        };
        let mut inner = BTreeSet::new();
        referenced_schemas(schema, &mut inner);
        pending.extend(inner);
        closure.found.insert(name, schema);
    }
    closure
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
