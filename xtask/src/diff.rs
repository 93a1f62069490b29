//! `cargo xtask diff`: what changed between two API descriptions, over the operations we ship.
//!
//! Both inputs (Swagger 2.0 or OpenAPI 3.0, mixed) are first read into one neutral model, so
//! that a format difference is never reported as an API change: `$ref` and `allOf: [$ref]`
//! are the same, and an enum held in a named schema (our hoisting) is the same as an inline one.
//! Two versions of each part of the model are then compared by that part's table of checks.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
};

use serde_json::Value;

use crate::{
    import,
    json::{self, Operation, as_object},
};

/// How a change affects users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Impact {
    Docs,
    Additive,
    Breaking,
}

use Impact::*;

impl fmt::Display for Impact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Self::Docs => "docs",
            Self::Additive => "additive",
            Self::Breaking => "breaking",
        })
    }
}

/// One difference: its effect on our public Rust API and on the wire, and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub api: Impact,
    pub wire: Impact,
    pub what: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "api:{:<9} wire:{:<9} {}", self.api, self.wire, self.what)
    }
}

/// The changes from `old` to `new`, over `operations` and the schemas they use.
///
/// A Swagger 2.0 input is read with the deviations spec/README.md lists applied, as the
/// importer applies them (enum hoisting is no difference to the model below either), so
/// comparing upstream with spec/ shows nothing but real changes.
pub fn diff(old: &Value, new: &Value, operations: &[Operation]) -> Vec<Change> {
    let mut changes = Vec::new();
    let (old, new) = (
        as_shipped(old, operations, &mut changes),
        as_shipped(new, operations, &mut changes),
    );
    let (old, new) = (Model::read(&old, operations), Model::read(&new, operations));
    if old.api_version != new.api_version {
        push(
            &mut changes,
            Docs,
            Additive,
            format!(
                "api-version {} → {}",
                show(&old.api_version),
                show(&new.api_version)
            ),
        );
    }
    compare_each("", &old.operations, &new.operations, &mut changes);
    compare_each("", &old.schemas, &new.schemas, &mut changes);
    changes
}

/// `doc` with the importer's deviations applied if it is Swagger 2.0. One that cannot be
/// applied is a change of its own: the importer will refuse that document.
fn as_shipped(doc: &Value, operations: &[Operation], changes: &mut Vec<Change>) -> Value {
    let mut doc = doc.clone();
    if doc["swagger"] == "2.0" {
        for refused in import::deviate(&mut doc, operations)
            .into_iter()
            .filter_map(Result::err)
        {
            let what = format!("{refused}; `cargo xtask import` refuses this document");
            push(changes, Breaking, Breaking, what);
        }
    }
    doc
}

/// The one-line summary: counts by impact on the public API, and the semver step it implies.
pub fn summary(changes: &[Change]) -> String {
    let count = |impact| changes.iter().filter(|c| c.api == impact).count();
    let wire_breaking = changes.iter().filter(|c| c.wire == Breaking).count();
    format!(
        "{} change(s): public API {} breaking, {} additive, {} docs; wire {} breaking; semver: {}",
        changes.len(),
        count(Breaking),
        count(Additive),
        count(Docs),
        wire_breaking,
        semver_step(changes)
    )
}

/// `major`, `minor` or `patch`, by the strongest public-API impact (an api-version change
/// alone is a minor release: new requests ask for a newer contract).
pub fn semver_step(changes: &[Change]) -> &'static str {
    match changes
        .iter()
        .map(|c| {
            c.api.max(if c.what.starts_with("api-version") {
                Additive
            } else {
                Docs
            })
        })
        .max()
    {
        Some(Breaking) => "major",
        Some(Additive) => "minor",
        _ => "patch",
    }
}

fn push(changes: &mut Vec<Change>, api: Impact, wire: Impact, what: String) {
    changes.push(Change { api, wire, what });
}

/// One comparison of two versions of a `T`, found at `at` (`operation GET /x: parameter …`).
type Check<T> = fn(at: &str, old: &T, new: &T, changes: &mut Vec<Change>);

/// A part of the model that comes in named collections: how its arrival is rated, and the
/// checks two versions of it go through. Its removal is always breaking.
trait Element: Sized + 'static {
    /// What names it in a change.
    const KIND: &'static str;
    const CHECKS: &'static [Check<Self>];

    fn description(&self) -> Option<&str>;

    /// The impact of its arrival (the same for the API and the wire), and how it is worded.
    fn added(&self) -> (Impact, &'static str) {
        (Additive, "added")
    }
}

/// Compares the elements of two collections found under `at`, by name.
fn compare_each<T: Element>(
    at: &str,
    old: &BTreeMap<String, T>,
    new: &BTreeMap<String, T>,
    changes: &mut Vec<Change>,
) {
    for key in union(old.keys(), new.keys()) {
        let at = format!("{at}{} {key}", T::KIND);
        match (old.get(key), new.get(key)) {
            (None, Some(added)) => {
                let (impact, how) = added.added();
                push(changes, impact, impact, format!("{at} {how}"));
            }
            (Some(_), None) => push(changes, Breaking, Breaking, format!("{at} removed")),
            (Some(a), Some(b)) => T::CHECKS.iter().for_each(|check| check(&at, a, b, changes)),
            (None, None) => unreachable!(),
        }
    }
}

/// The check every element has.
fn description<T: Element>(at: &str, a: &T, b: &T, changes: &mut Vec<Change>) {
    if a.description() != b.description() {
        push(changes, Docs, Docs, format!("{at}: description changed"));
    }
}

/// The key of the api-version parameter, whose default moves with every version: it is
/// reported once, as the api-version.
const API_VERSION_PARAMETER: &str = "query api-version";

impl Element for OperationModel {
    const KIND: &'static str = "operation";
    const CHECKS: &'static [Check<Self>] = &[
        |at, a, b, changes| {
            if a.operation_id != b.operation_id {
                push(
                    changes,
                    Docs,
                    Docs,
                    format!(
                        "{at}: operationId {} → {} (public names do not follow it)",
                        show(&a.operation_id),
                        show(&b.operation_id)
                    ),
                );
            }
        },
        description,
        |at, a, b, changes| compare_each(&format!("{at}: "), &a.parameters, &b.parameters, changes),
        |at, a, b, changes| compare_each(&format!("{at}: "), &a.responses, &b.responses, changes),
    ];

    fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
}

impl Element for Parameter {
    const KIND: &'static str = "parameter";
    const CHECKS: &'static [Check<Self>] = &[
        |at, p, q, changes| {
            if p.required != q.required {
                let impact = if q.required { Breaking } else { Additive };
                let what = format!("{at}: required {} → {}", p.required, q.required);
                push(changes, impact, impact, what);
            }
        },
        |at, p, q, changes| {
            if p.default != q.default && !at.ends_with(API_VERSION_PARAMETER) {
                let what = format!("{at}: default {} → {}", show(&p.default), show(&q.default));
                push(changes, Docs, Breaking, what);
            }
        },
        |at, p, q, changes| compare_shape(at, &p.shape, &q.shape, changes),
        description,
    ];

    fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    fn added(&self) -> (Impact, &'static str) {
        required_or_optional(self.required)
    }
}

impl Element for Response {
    const KIND: &'static str = "response";
    const CHECKS: &'static [Check<Self>] = &[
        |at, r, s, changes| match (&r.body, &s.body) {
            (Some(x), Some(y)) => compare_shape(at, x, y, changes),
            (None, None) => {}
            _ => push(
                changes,
                Breaking,
                Breaking,
                format!("{at}: body added or removed"),
            ),
        },
        description,
    ];

    fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
}

impl Element for Schema {
    const KIND: &'static str = "schema";
    const CHECKS: &'static [Check<Self>] = &[
        |at, a, b, changes| compare_shape(at, &a.shape, &b.shape, changes),
        description,
        |at, a, b, changes| compare_each(&format!("{at}: "), &a.properties, &b.properties, changes),
    ];

    fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }
}

impl Element for Property {
    const KIND: &'static str = "property";
    const CHECKS: &'static [Check<Self>] = &[
        |at, p, q, changes| compare_shape(at, &p.shape, &q.shape, changes),
        |at, p, q, changes| {
            if p.required != q.required {
                // A field that becomes required is no longer an `Option`.
                let wire = if q.required { Breaking } else { Additive };
                let what = format!("{at}: required {} → {}", p.required, q.required);
                push(changes, Breaking, wire, what);
            }
        },
        description,
    ];

    fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    fn added(&self) -> (Impact, &'static str) {
        required_or_optional(self.required)
    }
}

fn required_or_optional(required: bool) -> (Impact, &'static str) {
    if required {
        (Breaking, "added, required")
    } else {
        (Additive, "added, optional")
    }
}

fn compare_shape(at: &str, a: &Shape, b: &Shape, changes: &mut Vec<Change>) {
    if a.kind != b.kind || a.format != b.format {
        let what = format!("{at}: type {} → {}", a.describe(), b.describe());
        push(changes, Breaking, Breaking, what);
    }
    match (&a.map_values, &b.map_values) {
        (Some(x), Some(y)) if x != y => {
            let what = format!("{at}: map values {} → {}", x.describe(), y.describe());
            push(changes, Breaking, Breaking, what);
        }
        (Some(_), None) | (None, Some(_)) => push(
            changes,
            Breaking,
            Breaking,
            format!("{at}: map shape changed"),
        ),
        _ => {}
    }
    if let (Some(x), Some(y)) = (&a.items, &b.items) {
        compare_shape(&format!("{at} items"), x, y, changes);
    }
    let (old, new): (BTreeSet<_>, BTreeSet<_>) = (
        a.enum_values.iter().collect(),
        b.enum_values.iter().collect(),
    );
    for added in new.difference(&old) {
        let what = format!("{at}: enum value {added} added");
        push(changes, Additive, Additive, what);
    }
    for removed in old.difference(&new) {
        let what = format!("{at}: enum value {removed} removed");
        push(changes, Breaking, Breaking, what);
    }
}

fn union<'a, T: Ord + 'a>(
    a: impl Iterator<Item = &'a T>,
    b: impl Iterator<Item = &'a T>,
) -> BTreeSet<&'a T> {
    a.chain(b).collect()
}

fn show(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("(none)")
}

/// An API description reduced to what the diff compares.
#[derive(Default)]
struct Model {
    api_version: Option<String>,
    operations: BTreeMap<String, OperationModel>,
    schemas: BTreeMap<String, Schema>,
}

struct OperationModel {
    operation_id: Option<String>,
    description: Option<String>,
    /// Keyed `<in> <name>`.
    parameters: BTreeMap<String, Parameter>,
    responses: BTreeMap<String, Response>,
}

struct Parameter {
    required: bool,
    default: Option<String>,
    description: Option<String>,
    shape: Shape,
}

struct Response {
    description: Option<String>,
    body: Option<Shape>,
}

struct Schema {
    description: Option<String>,
    shape: Shape,
    properties: BTreeMap<String, Property>,
}

struct Property {
    /// Listed in its schema's `required`.
    required: bool,
    description: Option<String>,
    shape: Shape,
}

/// A type as the diff sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Shape {
    /// `string`, `integer`, …, `ref <Name>`, or `any`.
    kind: String,
    format: Option<String>,
    enum_values: Vec<String>,
    items: Option<Box<Shape>>,
    map_values: Option<Box<Shape>>,
}

impl Shape {
    fn describe(&self) -> String {
        match &self.format {
            Some(format) => format!("{} ({format})", self.kind),
            None => self.kind.clone(),
        }
    }
}

/// Reads either format.
struct Reader<'a> {
    doc: &'a Value,
}

impl<'a> Reader<'a> {
    fn resolve(&self, reference: &str) -> Option<&'a Value> {
        let path = reference.strip_prefix("#/")?;
        path.split('/')
            .try_fold(self.doc, |value, part| value.get(part))
    }

    /// A named schema that is only an enum (our hoisted form) is read as that enum inline.
    fn is_pure_enum(schema: &Value) -> bool {
        schema.get("enum").is_some() && schema.get("properties").is_none()
    }

    fn shape(&self, value: &Value) -> Shape {
        if let Some(name) = json::single_reference(value) {
            return match json::schemas_of(self.doc).get(name) {
                Some(target) if Self::is_pure_enum(target) => self.shape(target),
                _ => Shape {
                    kind: format!("ref {name}"),
                    ..Shape::default()
                },
            };
        }
        let kind = value["type"].as_str().unwrap_or("any").to_owned();
        Shape {
            format: value["format"].as_str().map(str::to_owned),
            enum_values: value["enum"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect(),
            items: value.get("items").map(|items| Box::new(self.shape(items))),
            map_values: match value.get("additionalProperties") {
                Some(Value::Bool(false)) | None => None,
                Some(Value::Bool(true)) => Some(Box::default()),
                Some(schema) => Some(Box::new(self.shape(schema))),
            },
            kind,
        }
    }

    /// A parameter, keyed `<in> <name>`, and the schemas it uses.
    fn parameter(
        &self,
        value: &'a Value,
        used: &mut BTreeSet<String>,
    ) -> Option<(String, Parameter)> {
        let value = match value["$ref"].as_str() {
            Some(reference) => self.resolve(reference)?,
            None => value,
        };
        json::referenced_schemas(value, used);
        let location = value["in"].as_str()?;
        let name = value["name"].as_str()?;
        // 3.0 keeps the value's schema under `schema`; 2.0 inline (and `in: body` under `schema`).
        let schema = if location == "body" || value.get("schema").is_some() {
            &value["schema"]
        } else {
            value
        };
        // One body per operation: 2.0 names it, 3.0 does not.
        let key = if location == "body" {
            "body".to_owned()
        } else {
            format!("{location} {name}")
        };
        Some((
            key,
            Parameter {
                required: value["required"] == true,
                default: schema
                    .get("default")
                    .map(|d| d.as_str().map_or_else(|| d.to_string(), str::to_owned)),
                description: text(value, "description"),
                shape: self.shape(schema),
            },
        ))
    }

    /// An operation, and (into `used`) the schemas it uses.
    fn operation(
        &self,
        path_item: &'a Value,
        operation: &'a Value,
        used: &mut BTreeSet<String>,
    ) -> OperationModel {
        let mut parameters = BTreeMap::new();
        let inherited = path_item["parameters"].as_array().into_iter().flatten();
        let own = operation["parameters"].as_array().into_iter().flatten();
        for value in inherited.chain(own) {
            if let Some((key, parameter)) = self.parameter(value, used) {
                parameters.insert(key, parameter);
            }
        }
        if let Some(body) = operation.get("requestBody") {
            json::referenced_schemas(body, used);
            let schema = as_object(&body["content"])
                .values()
                .next()
                .map(|media| &media["schema"]);
            parameters.insert(
                "body".to_owned(),
                Parameter {
                    required: body["required"] == true,
                    default: None,
                    description: text(body, "description"),
                    shape: schema.map(|s| self.shape(s)).unwrap_or_default(),
                },
            );
        }
        json::referenced_schemas(&operation["responses"], used);
        let responses = as_object(&operation["responses"])
            .iter()
            .map(|(status, response)| {
                let schema = response.get("schema").or_else(|| {
                    as_object(&response["content"])
                        .values()
                        .next()
                        .map(|m| &m["schema"])
                });
                (
                    status.clone(),
                    Response {
                        description: text(response, "description"),
                        body: schema.map(|s| self.shape(s)),
                    },
                )
            })
            .collect();
        OperationModel {
            operation_id: text(operation, "operationId"),
            description: text(operation, "description"),
            parameters,
            responses,
        }
    }

    fn schema(&self, value: &Value) -> Schema {
        let required: BTreeSet<&str> = value["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let properties = as_object(&value["properties"])
            .iter()
            .map(|(name, property)| {
                let read = Property {
                    required: required.contains(name.as_str()),
                    description: text(property, "description"),
                    shape: self.shape(property),
                };
                (name.clone(), read)
            })
            .collect();
        Schema {
            description: text(value, "description"),
            shape: self.shape(value),
            properties,
        }
    }
}

fn text(value: &Value, field: &str) -> Option<String> {
    value[field].as_str().map(str::to_owned)
}

impl Model {
    fn read(doc: &Value, operations: &[Operation]) -> Self {
        let reader = Reader { doc };
        let mut model = Model::default();
        let mut used = BTreeSet::new();
        for operation in operations {
            let path_item = &doc["paths"][&operation.path];
            let Some(source) = path_item.get(operation.method.to_ascii_lowercase()) else {
                continue;
            };
            let read = reader.operation(path_item, source, &mut used);
            if let Some(version) = read
                .parameters
                .get(API_VERSION_PARAMETER)
                .and_then(|p| p.default.clone())
            {
                model.api_version = Some(version);
            }
            model.operations.insert(operation.to_string(), read);
        }
        // Enum schemas are read inline, where they are used (see `Reader::shape`).
        model.schemas = json::schema_closure(json::schemas_of(doc), used)
            .found
            .into_iter()
            .filter(|(_, value)| !Reader::is_pure_enum(value))
            .map(|(name, value)| (name, reader.schema(value)))
            .collect();
        if model.api_version.is_none() {
            model.api_version = text(&doc["info"], "version");
        }
        model
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::json::parse_operations;

    /// A small OpenAPI 3.0 document in the shape spec/ has.
    fn base() -> Value {
        json!({
            "openapi": "3.0.3",
            "info": {"title": "t", "version": "2021-04-12"},
            "paths": {"/jobs/v2/{id}/cancel": {"post": {
                "operationId": "Jobs_CancelScheduledJob",
                "parameters": [
                    {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"$ref": "#/components/parameters/api-version"}
                ],
                "responses": {"200": {"description": "OK.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}}}
            }}},
            "components": {
                "parameters": {"api-version": {"name": "api-version", "in": "query", "required": true, "schema": {"type": "string", "default": "2021-04-12"}}},
                "schemas": {
                    "Job": {"type": "object", "properties": {
                        "status": {"allOf": [{"$ref": "#/components/schemas/JobStatus"}], "description": "The status."},
                        "max": {"type": "integer", "format": "int64"},
                        "twin": {"$ref": "#/components/schemas/Twin"}
                    }},
                    "JobStatus": {"type": "string", "enum": ["running", "cancelled"]},
                    "Twin": {"type": "object", "properties": {"tags": {"type": "object", "additionalProperties": {"type": "object"}}}}
                }
            }
        })
    }

    fn changes(edit: impl FnOnce(&mut Value)) -> Vec<String> {
        let mut new = base();
        edit(&mut new);
        let operations = parse_operations("POST /jobs/v2/{id}/cancel").unwrap();
        diff(&base(), &new, &operations)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn one(edit: impl FnOnce(&mut Value)) -> String {
        let found = changes(edit);
        assert_eq!(found.len(), 1, "{found:#?}");
        found.into_iter().next().unwrap()
    }

    #[test]
    fn identical_documents_have_no_changes() {
        assert!(changes(|_| {}).is_empty());
    }

    #[test]
    fn an_optional_field_added_is_additive() {
        let line = one(|d| {
            d["components"]["schemas"]["Twin"]["properties"]["attributes"] =
                json!({"type": "object"})
        });
        assert!(
            line.starts_with(
                "api:additive  wire:additive  schema Twin: property attributes added, optional"
            ),
            "{line}"
        );
    }

    #[test]
    fn enum_values_added_are_additive_and_removed_are_breaking() {
        let added = one(|d| {
            d["components"]["schemas"]["JobStatus"]["enum"] =
                json!(["running", "cancelled", "cancelling"])
        });
        assert!(
            added.contains("api:additive") && added.contains("enum value cancelling added"),
            "{added}"
        );
        let removed = one(|d| d["components"]["schemas"]["JobStatus"]["enum"] = json!(["running"]));
        assert!(
            removed.contains("api:breaking") && removed.contains("enum value cancelled removed"),
            "{removed}"
        );
    }

    #[test]
    fn a_type_change_is_breaking() {
        let line = one(|d| {
            d["components"]["schemas"]["Job"]["properties"]["max"]["format"] = json!("int32")
        });
        assert!(
            line.contains("api:breaking")
                && line.contains("type integer (int64) → integer (int32)"),
            "{line}"
        );
        let map = one(|d| {
            d["components"]["schemas"]["Twin"]["properties"]["tags"]["additionalProperties"] =
                json!({"type": "string"})
        });
        assert!(
            map.contains("api:breaking") && map.contains("map values object → string"),
            "{map}"
        );
    }

    #[test]
    fn an_operation_id_rename_is_docs_only() {
        let line = one(|d| {
            d["paths"]["/jobs/v2/{id}/cancel"]["post"]["operationId"] = json!("JobClient_CancelJob")
        });
        assert!(
            line.starts_with("api:docs      wire:docs")
                && line.contains("Jobs_CancelScheduledJob → JobClient_CancelJob"),
            "{line}"
        );
    }

    #[test]
    fn an_operation_removed_is_breaking() {
        let found = changes(|d| d["paths"] = json!({}));
        assert!(
            found.contains(
                &"api:breaking  wire:breaking  operation POST /jobs/v2/{id}/cancel removed"
                    .to_owned()
            ),
            "{found:#?}"
        );
        // What only it used leaves the shipped closure with it.
        assert!(
            found.iter().any(|l| l.ends_with("schema Job removed")),
            "{found:#?}"
        );
    }

    #[test]
    fn description_and_version_changes_are_rated_and_summarized() {
        let found = changes(|d| {
            d["components"]["schemas"]["Job"]["properties"]["status"]["description"] =
                json!("Now reworded.");
            d["components"]["parameters"]["api-version"]["schema"]["default"] = json!("2024-03-31");
        });
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].contains("api-version 2021-04-12 → 2024-03-31"));
        assert!(
            found[1].contains("api:docs")
                && found[1].contains("property status: description changed")
        );
        let mut new = base();
        new["components"]["parameters"]["api-version"]["schema"]["default"] = json!("2024-03-31");
        let ops = parse_operations("POST /jobs/v2/{id}/cancel").unwrap();
        assert!(summary(&diff(&base(), &new, &ops)).ends_with("semver: minor"));
    }

    #[test]
    fn a_swagger_2_document_with_the_same_contract_has_no_changes() {
        let swagger = json!({
            "swagger": "2.0",
            "info": {"title": "t", "version": "2021-04-12"},
            "parameters": {"api-version": {"name": "api-version", "in": "query", "required": true, "type": "string", "default": "2021-04-12"}},
            "paths": {"/jobs/v2/{id}/cancel": {"post": {
                "operationId": "Jobs_CancelScheduledJob",
                "parameters": [{"name": "id", "in": "path", "required": true, "type": "string"}, {"$ref": "#/parameters/api-version"}],
                "responses": {"200": {"description": "OK.", "schema": {"$ref": "#/definitions/Job"}}}
            }}},
            "definitions": {
                "Job": {"type": "object", "properties": {
                    "status": {"type": "string", "enum": ["running", "cancelled"], "description": "The status."},
                    "max": {"type": "integer", "format": "int64"},
                    "twin": {"$ref": "#/definitions/Twin"}
                }},
                "Twin": {"type": "object", "properties": {"tags": {"type": "object", "additionalProperties": {"type": "object"}}}}
            }
        });
        let operations = parse_operations("POST /jobs/v2/{id}/cancel").unwrap();
        let found = diff(&base(), &swagger, &operations);
        assert!(found.is_empty(), "{found:#?}");
    }
}
