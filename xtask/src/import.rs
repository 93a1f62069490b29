//! `cargo xtask import`: Swagger 2.0 → the OpenAPI 3.0 document in spec/.
//!
//! Selects operations by method and path (never by operationId, which upstream renames), takes
//! the closure of the definitions they use, converts to OpenAPI 3.0.3 and applies the
//! deliberate deviations spec/README.md lists. The output is canonical (see
//! [`crate::json::to_canonical_string`]), so importing the same input twice changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::json::{self, Operation, as_object};

/// Deviation 1 (spec/README.md): inline enums become named schemas so the generator can
/// replace them with extensible enums. These are the names of the ones we know; an enum not
/// listed gets `<Schema><Property>`.
const ENUM_NAMES: &[(&str, &str, &str)] = &[
    ("JobResponse", "type", "JobType"),
    ("JobResponse", "status", "JobStatus"),
    ("JobRequest", "type", "JobType"),
    ("Twin", "status", "DeviceStatus"),
    ("Twin", "connectionState", "DeviceConnectionState"),
    ("Twin", "authenticationType", "DeviceAuthenticationType"),
];

/// The jobs query, which upstream describes wrongly (deviation 2).
const JOBS_QUERY: &str = "/jobs/v2/query";
/// The twin query, which upstream describes as the service pages both.
const TWIN_QUERY: &str = "/devices/query";

/// Deviation 2 (spec/README.md): upstream gives `GET /jobs/v2/query` a `QueryResult` body and
/// no paging, but the service answers it as it answers the twin query — a JSON array, paged
/// through the `x-ms-max-item-count` / `x-ms-continuation` headers — which is what the C#,
/// Java and Node SDKs send and read. The twin query's own header parameters and response
/// headers are copied over, and the body becomes an array of `JobResponse`.
pub(crate) fn page_like_the_twin_query(doc: &mut Value) -> Option<String> {
    let twin_query = doc["paths"][TWIN_QUERY]["post"].clone();
    let headers: Vec<Value> = twin_query["parameters"]
        .as_array()?
        .iter()
        .filter(|p| p["in"] == "header")
        .cloned()
        .collect();
    let jobs_query = doc.get_mut("paths")?.get_mut(JOBS_QUERY)?.get_mut("get")?;
    if jobs_query["responses"]["200"]["schema"] != json!({ "$ref": "#/definitions/QueryResult" })
        || headers.is_empty()
    {
        return None;
    }
    jobs_query["parameters"].as_array_mut()?.extend(headers);
    let ok = &mut jobs_query["responses"]["200"];
    ok["schema"] = json!({ "type": "array", "items": { "$ref": "#/definitions/JobResponse" } });
    ok["headers"] = twin_query["responses"]["200"]["headers"].clone();
    Some(format!(
        "GET {JOBS_QUERY}: pages like POST {TWIN_QUERY} (x-ms-max-item-count, x-ms-continuation) and answers an array of JobResponse"
    ))
}

/// The converter's name, recorded in the provenance with the xtask's version.
const CONVERTER: &str = "iothub-jobs xtask import (Rust, serde_json)";

/// The result of an import: the document and its provenance record.
#[derive(Debug)]
pub struct Imported {
    pub spec: Value,
    pub provenance: Value,
}

/// Converts `source` (the bytes of a Swagger 2.0 document called `source_name`), keeping the
/// `operations` given.
pub fn import(
    source: &[u8],
    source_name: &str,
    operations: &[Operation],
) -> Result<Imported, String> {
    let mut doc: Value =
        serde_json::from_slice(source).map_err(|e| format!("{source_name}: not JSON: {e}"))?;
    if doc["swagger"] != "2.0" {
        return Err(format!(
            "{source_name}: not a Swagger 2.0 document (no \"swagger\": \"2.0\")"
        ));
    }
    // The same selection in any order gives the same bytes.
    let mut operations = operations.to_vec();
    operations.sort();
    operations.dedup();
    let operations = operations.as_slice();
    let mut deviations = Vec::new();
    if operations
        .iter()
        .any(|o| o.method == "GET" && o.path == JOBS_QUERY)
    {
        deviations.extend(page_like_the_twin_query(&mut doc));
    }
    let doc = doc;
    let mut converter = Converter {
        doc: &doc,
        parameters: BTreeMap::new(),
        definitions: BTreeSet::new(),
    };
    let mut paths = Map::new();
    let mut recorded_operations = Vec::new();
    for operation in operations {
        let item = doc["paths"]
            .get(&operation.path)
            .ok_or_else(|| format!("{source_name}: no path {}", operation.path))?;
        let method = operation.method.to_ascii_lowercase();
        let source_operation = item.get(&method).ok_or_else(|| {
            format!(
                "{source_name}: no {} operation on {}",
                operation.method, operation.path
            )
        })?;
        let converted = converter.operation(source_operation, item.get("parameters"))?;
        recorded_operations.push(json!({
            "method": operation.method,
            "path": operation.path,
            "operationId": source_operation.get("operationId"),
        }));
        let path_item = paths
            .entry(operation.path.clone())
            .or_insert_with(|| json!({}));
        path_item[&method] = converted;
    }

    let closure = json::schema_closure(as_object(&doc["definitions"]), converter.definitions);
    if let Some(name) = closure.missing.first() {
        return Err(format!(
            "{source_name}: #/definitions/{name} is referenced but not defined"
        ));
    }
    let mut schemas: Map<String, Value> = closure
        .found
        .into_iter()
        .map(|(name, definition)| (name, schema(definition)))
        .collect();
    deviations.extend(hoist_enums(&mut schemas, as_object(&doc["definitions"]))?);
    deviations.sort();

    let api_version = converter
        .parameters
        .get("api-version")
        .and_then(|p| p["schema"]["default"].as_str())
        .map(str::to_owned);
    let mut components = Map::new();
    if !converter.parameters.is_empty() {
        components.insert(
            "parameters".into(),
            Value::Object(converter.parameters.into_iter().collect()),
        );
    }
    components.insert("schemas".into(), Value::Object(schemas));
    let mut info = Map::new();
    for field in ["title", "version", "description"] {
        if let Some(value) = doc["info"].get(field) {
            info.insert(field.into(), value.clone());
        }
    }
    let mut spec = json!({
        "openapi": "3.0.3",
        "info": info,
        "paths": paths,
        "components": components,
    });
    if let Some(host) = doc["host"].as_str() {
        let schemes = doc["schemes"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        let scheme = if schemes.is_empty() || schemes.iter().any(|s| s == "https") {
            "https"
        } else {
            "http"
        };
        let base_path = doc["basePath"].as_str().unwrap_or("").trim_end_matches('/');
        spec["servers"] = json!([{ "url": format!("{scheme}://{host}{base_path}") }]);
    }
    let provenance = json!({
        "source": {
            "file": source_name,
            "sha256": sha256_hex(source),
            "title": doc["info"]["title"],
            "infoVersion": doc["info"]["version"],
        },
        "apiVersion": api_version,
        "converter": { "name": CONVERTER, "version": env!("CARGO_PKG_VERSION") },
        "operations": recorded_operations,
        "deviations": deviations,
    });
    Ok(Imported { spec, provenance })
}

/// Converts operations, gathering the shared parameters and definitions they use.
struct Converter<'a> {
    doc: &'a Value,
    parameters: BTreeMap<String, Value>,
    definitions: BTreeSet<String>,
}

impl Converter<'_> {
    fn operation(
        &mut self,
        source: &Value,
        path_parameters: Option<&Value>,
    ) -> Result<Value, String> {
        let mut operation = Map::new();
        for field in [
            "operationId",
            "summary",
            "description",
            "tags",
            "deprecated",
        ] {
            if let Some(value) = source.get(field) {
                operation.insert(field.into(), value.clone());
            }
        }
        let consumes = media_types(source.get("consumes").or(self.doc.get("consumes")));
        let produces = media_types(source.get("produces").or(self.doc.get("produces")));

        // Operation parameters override path-level ones with the same name and location.
        let mut all: Vec<&Value> = Vec::new();
        let own = source["parameters"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        for inherited in path_parameters
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
        {
            let key = self.parameter_key(inherited);
            if !own.iter().any(|p| self.parameter_key(p) == key) {
                all.push(inherited);
            }
        }
        all.extend(own);

        let mut parameters = Vec::new();
        for parameter in all {
            if let Some(reference) = parameter["$ref"].as_str() {
                let name = reference
                    .strip_prefix("#/parameters/")
                    .ok_or_else(|| format!("unsupported parameter reference {reference}"))?;
                let shared = self.doc["parameters"]
                    .get(name)
                    .ok_or_else(|| format!("#/parameters/{name} is referenced but not defined"))?;
                if shared["in"] == "body" {
                    operation.insert("requestBody".into(), self.request_body(shared, &consumes));
                } else {
                    let converted = self.parameter(shared)?;
                    self.parameters.insert(name.to_owned(), converted);
                    parameters.push(json!({ "$ref": format!("#/components/parameters/{name}") }));
                }
            } else if parameter["in"] == "body" {
                operation.insert(
                    "requestBody".into(),
                    self.request_body(parameter, &consumes),
                );
            } else {
                parameters.push(self.parameter(parameter)?);
            }
        }
        if !parameters.is_empty() {
            operation.insert("parameters".into(), Value::Array(parameters));
        }

        let mut responses = Map::new();
        for (status, response) in as_object(&source["responses"]) {
            let mut converted = Map::new();
            converted.insert(
                "description".into(),
                response
                    .get("description")
                    .cloned()
                    .unwrap_or_else(|| json!("")),
            );
            if let Some(schema_value) = response.get("schema") {
                json::referenced_schemas(schema_value, &mut self.definitions);
                let content: Map<String, Value> = produces
                    .iter()
                    .map(|media| (media.clone(), json!({ "schema": schema(schema_value) })))
                    .collect();
                converted.insert("content".into(), Value::Object(content));
            }
            if let Some(headers) = response.get("headers") {
                let headers: Map<String, Value> = as_object(headers)
                    .iter()
                    .map(|(name, header)| {
                        let mut header = header.as_object().cloned().unwrap_or_default();
                        let description = header.remove("description");
                        let mut converted = json!({ "schema": schema(&Value::Object(header)) });
                        if let Some(description) = description {
                            converted["description"] = description;
                        }
                        (name.clone(), converted)
                    })
                    .collect();
                converted.insert("headers".into(), Value::Object(headers));
            }
            responses.insert(status.clone(), Value::Object(converted));
        }
        operation.insert("responses".into(), Value::Object(responses));
        Ok(Value::Object(operation))
    }

    /// The `(in, name)` a parameter (or a reference to a shared one) stands for.
    fn parameter_key(&self, parameter: &Value) -> (String, String) {
        let resolved = match parameter["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/parameters/"))
        {
            Some(name) => &self.doc["parameters"][name],
            None => parameter,
        };
        (
            resolved["in"].as_str().unwrap_or_default().to_owned(),
            resolved["name"].as_str().unwrap_or_default().to_owned(),
        )
    }

    fn parameter(&mut self, source: &Value) -> Result<Value, String> {
        let location = source["in"].as_str().unwrap_or_default();
        if !matches!(location, "path" | "query" | "header") {
            return Err(format!(
                "parameter {} is `in: {location}`, which the importer does not support",
                source["name"]
            ));
        }
        let mut parameter = Map::new();
        let mut value_schema = Map::new();
        for (key, value) in as_object(source) {
            match key.as_str() {
                "name" | "in" | "description" => {
                    parameter.insert(key.clone(), value.clone());
                }
                "required" => {}
                // `collectionFormat` has no direct 3.0 equivalent beyond the default `form` style.
                "collectionFormat" => {}
                _ => {
                    value_schema.insert(key.clone(), value.clone());
                }
            }
        }
        if location == "path" || source["required"] == true {
            parameter.insert("required".into(), json!(true));
        }
        let converted = schema(&Value::Object(value_schema));
        json::referenced_schemas(&converted, &mut self.definitions);
        parameter.insert("schema".into(), converted);
        Ok(Value::Object(parameter))
    }

    fn request_body(&mut self, source: &Value, consumes: &[String]) -> Value {
        let body_schema = schema(&source["schema"]);
        json::referenced_schemas(&source["schema"], &mut self.definitions);
        let content: Map<String, Value> = consumes
            .iter()
            .map(|media| (media.clone(), json!({ "schema": body_schema })))
            .collect();
        let mut body = json!({ "content": content });
        if let Some(description) = source.get("description") {
            body["description"] = description.clone();
        }
        if source["required"] == true {
            body["required"] = json!(true);
        }
        body
    }
}

/// The media types of `consumes`/`produces`; JSON when none are given.
fn media_types(list: Option<&Value>) -> Vec<String> {
    let types: Vec<String> = list
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str().map(str::to_owned))
        .collect();
    if types.is_empty() {
        vec!["application/json".to_owned()]
    } else {
        types
    }
}

/// A Swagger 2.0 schema in OpenAPI 3.0 terms.
fn schema(source: &Value) -> Value {
    let Some(object) = source.as_object() else {
        return source.clone();
    };
    let mut converted = Map::new();
    for (key, value) in object {
        match key.as_str() {
            "$ref" => {}
            "x-nullable" => {
                converted.insert("nullable".into(), value.clone());
            }
            "properties" => {
                let properties = as_object(value)
                    .iter()
                    .map(|(name, p)| (name.clone(), schema(p)))
                    .collect();
                converted.insert(key.clone(), Value::Object(properties));
            }
            "items" | "additionalProperties" | "not" => {
                converted.insert(key.clone(), schema(value));
            }
            "allOf" | "anyOf" | "oneOf" => {
                let items = value.as_array().into_iter().flatten().map(schema).collect();
                converted.insert(key.clone(), Value::Array(items));
            }
            "discriminator" => {
                converted.insert(key.clone(), json!({ "propertyName": value }));
            }
            _ => {
                converted.insert(key.clone(), value.clone());
            }
        }
    }
    match object.get("$ref").and_then(Value::as_str) {
        None => Value::Object(converted),
        Some(reference) => {
            let target =
                json!({ "$ref": reference.replace("#/definitions/", "#/components/schemas/") });
            // OpenAPI 3.0 ignores siblings of `$ref`; `allOf` keeps them (a description, mostly).
            if converted.is_empty() {
                target
            } else {
                converted.insert("allOf".into(), json!([target]));
                Value::Object(converted)
            }
        }
    }
}

/// Moves each property's inline enum into a named schema (deviation 1) and returns what it did.
fn hoist_enums(
    schemas: &mut Map<String, Value>,
    upstream: &Map<String, Value>,
) -> Result<Vec<String>, String> {
    let mut hoisted: BTreeMap<String, Value> = BTreeMap::new();
    let mut record = Vec::new();
    for (owner, owner_schema) in schemas.iter_mut() {
        let Some(properties) = owner_schema
            .get_mut("properties")
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        for (property, value) in properties.iter_mut() {
            let Some(object) = value.as_object_mut() else {
                continue;
            };
            if !object.contains_key("enum") {
                continue;
            }
            let name = ENUM_NAMES
                .iter()
                .find(|(o, p, _)| o == owner && p == property)
                .map(|(_, _, name)| (*name).to_owned())
                .unwrap_or_else(|| format!("{owner}{}", pascal(property)));
            let mut enum_schema = Map::new();
            for key in ["type", "format", "enum"] {
                if let Some(moved) = object.remove(key) {
                    enum_schema.insert(key.into(), moved);
                }
            }
            let enum_schema = Value::Object(enum_schema);
            match hoisted.get(&name) {
                Some(existing) if *existing != enum_schema => {
                    return Err(format!(
                        "{owner}.{property}: its enum differs from the one already named {name}"
                    ));
                }
                _ => {
                    hoisted.insert(name.clone(), enum_schema);
                }
            }
            object.insert(
                "allOf".into(),
                json!([{ "$ref": format!("#/components/schemas/{name}") }]),
            );
            record.push(format!(
                "{owner}.{property}: inline enum hoisted into schema {name}"
            ));
        }
    }
    for (name, enum_schema) in hoisted {
        if schemas.contains_key(&name) || upstream.contains_key(&name) {
            return Err(format!(
                "cannot hoist an enum into {name}: upstream already defines a schema of that name"
            ));
        }
        schemas.insert(name, enum_schema);
    }
    record.sort();
    Ok(record)
}

fn pascal(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// The sha256 of `bytes` in lower-case hex, as the provenance records it.
fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::{parse_operations, to_canonical_string};

    fn fixture() -> Imported {
        let source = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/conversion.swagger.json"
        ))
        .unwrap();
        let operations = parse_operations("PUT /things/{id}, DELETE /things/{id}").unwrap();
        import(&source, "conversion.swagger.json", &operations).unwrap()
    }

    #[test]
    fn converts_the_document_frame_and_shared_parameters() {
        let spec = fixture().spec;
        assert_eq!(spec["openapi"], "3.0.3");
        assert_eq!(
            spec["info"],
            json!({"title": "Conversion fixture", "version": "2099-01-01"})
        );
        assert_eq!(
            spec["servers"],
            json!([{"url": "https://example.azure-devices.net/api"}])
        );
        // Only the shared parameters the selected operations use.
        assert_eq!(
            spec["components"]["parameters"],
            json!({"api-version": {"name": "api-version", "in": "query", "description": "Version of the Api.",
                                   "required": true, "schema": {"type": "string", "default": "2099-01-01"}}})
        );
        assert!(
            spec["paths"].get("/other").is_none(),
            "unselected operations stay out"
        );
    }

    #[test]
    fn converts_parameters_bodies_and_responses() {
        let spec = fixture().spec;
        let put = &spec["paths"]["/things/{id}"]["put"];
        assert_eq!(put["operationId"], "Things_Put");
        assert_eq!(
            put["parameters"],
            json!([
                {"name": "id", "in": "path", "description": "Path-level id.", "required": true, "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "format": "int32"}},
                {"$ref": "#/components/parameters/api-version"}
            ])
        );
        assert_eq!(
            put["requestBody"],
            json!({"description": "The thing.", "required": true,
                   "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}})
        );
        assert_eq!(
            put["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Thing"
        );
        assert_eq!(
            put["responses"]["200"]["headers"]["x-ms-continuation"],
            json!({"description": "Next page.", "schema": {"type": "string"}})
        );
        // A `default` answer is kept as OpenAPI 3's `default`, the generator's error type.
        assert_eq!(
            put["responses"]["default"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Problem"
        );
        let delete = &spec["paths"]["/things/{id}"]["delete"];
        assert_eq!(
            delete["responses"],
            json!({"204": {"description": "Gone."}})
        );
        assert_eq!(
            delete["parameters"][0]["name"], "id",
            "path-level parameters are inherited"
        );
    }

    #[test]
    fn converts_schemas_and_takes_only_their_closure() {
        let imported = fixture();
        let schemas = &imported.spec["components"]["schemas"];
        let names: Vec<&String> = schemas.as_object().unwrap().keys().collect();
        assert_eq!(
            names,
            ["Owner", "Part", "PartKind", "Problem", "Thing", "ThingKind"]
        );
        let thing = &schemas["Thing"]["properties"];
        assert_eq!(schemas["Thing"]["required"], json!(["name"]));
        assert_eq!(thing["size"], json!({"type": "integer", "format": "int64"}));
        assert_eq!(
            thing["count"],
            json!({"type": "integer", "format": "int32"})
        );
        assert_eq!(
            thing["seen"],
            json!({"type": "string", "format": "date-time", "description": "When."})
        );
        assert_eq!(
            thing["labels"],
            json!({"type": "object", "additionalProperties": {"type": "string"}})
        );
        assert_eq!(
            thing["extras"],
            json!({"type": "object", "additionalProperties": {"type": "object"}})
        );
        assert_eq!(
            thing["tags"],
            json!({"type": "array", "items": {"type": "string"}})
        );
        assert_eq!(
            thing["parts"]["items"],
            json!({"$ref": "#/components/schemas/Part"})
        );
        assert_eq!(
            thing["owner"],
            json!({"allOf": [{"$ref": "#/components/schemas/Owner"}], "description": "Who owns it."})
        );
        assert_eq!(thing["maybe"], json!({"type": "string", "nullable": true}));
        // Deviation 1: inline enums hoisted, upstream order kept, the description left in place.
        assert_eq!(
            thing["kind"],
            json!({"allOf": [{"$ref": "#/components/schemas/ThingKind"}], "description": "Its kind."})
        );
        assert_eq!(
            schemas["ThingKind"],
            json!({"type": "string", "enum": ["small", "large"]})
        );
        assert_eq!(
            schemas["PartKind"],
            json!({"type": "string", "enum": ["bolt", "nut"]})
        );
        assert_eq!(
            imported.provenance["deviations"].as_array().unwrap().len(),
            2
        );
    }

    #[test]
    fn records_provenance_and_is_deterministic() {
        let (first, second) = (fixture(), fixture());
        assert_eq!(
            to_canonical_string(&first.spec),
            to_canonical_string(&second.spec)
        );
        let provenance = &first.provenance;
        assert_eq!(provenance["apiVersion"], "2099-01-01");
        assert_eq!(provenance["source"]["sha256"].as_str().unwrap().len(), 64);
        // Sorted by method and path, whatever order they were asked for in.
        assert_eq!(
            provenance["operations"][1],
            json!({"method": "PUT", "path": "/things/{id}", "operationId": "Things_Put"})
        );
        let text = to_canonical_string(&first.spec);
        assert!(text.ends_with("}\n") && text.starts_with("{\n  \"components\""));
    }

    #[test]
    fn refuses_what_it_cannot_convert_faithfully() {
        let missing = parse_operations("GET /nowhere").unwrap();
        let source = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/fixtures/conversion.swagger.json"
        ))
        .unwrap();
        assert!(
            import(&source, "f", &missing)
                .unwrap_err()
                .contains("no path /nowhere")
        );
        assert!(
            import(b"{\"openapi\": \"3.0.0\"}", "f", &missing)
                .unwrap_err()
                .contains("not a Swagger 2.0")
        );
        let clash = json!({"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"get": {
            "responses": {"200": {"description": "", "schema": {"$ref": "#/definitions/A"}}}}}},
            "definitions": {"A": {"properties": {"type": {"type": "string", "enum": ["x"]}}},
                            "AType": {"type": "object"}}});
        let error = import(
            clash.to_string().as_bytes(),
            "f",
            &parse_operations("GET /a").unwrap(),
        )
        .unwrap_err();
        assert!(error.contains("AType"), "{error}");
    }
}
