//! `cargo xtask import`: Swagger 2.0 → the OpenAPI 3.0 document in spec/.
//!
//! Selects operations by method and path (never by operationId, which upstream renames), takes
//! the closure of the definitions they use, converts to OpenAPI 3.0.3 (`convert`, the generic
//! part) and applies the deliberate deviations spec/README.md lists (`deviations`, in its
//! order). The output is canonical (see [`crate::json::to_canonical_string`]), so importing the
//! same input twice changes nothing.

mod convert;
mod deviations;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

pub(crate) use deviations::deviate;
// The inverse importer, in the tests, undoes deviation 5 with these.
#[cfg(test)]
pub(crate) use deviations::device_job_schemas;

use crate::json::{self, Operation, as_object};
use convert::{Converter, schema};
use deviations::{DEVICE_JOB, DEVICE_QUERY, hoist_enums, refuse_enums_left_inline, ships};

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
    for operation in operations {
        find_operation(&doc, operation).map_err(|e| format!("{source_name}: {e}"))?;
    }
    let (applied, refused): (Vec<_>, Vec<_>) = deviate(&mut doc, operations)
        .into_iter()
        .partition(Result::is_ok);
    if !refused.is_empty() {
        let reasons: Vec<String> = refused.into_iter().filter_map(Result::err).collect();
        return Err(format!(
            "{source_name}: {}",
            reasons.join(&format!("\n{source_name}: "))
        ));
    }
    let mut deviations: Vec<String> = applied.into_iter().filter_map(Result::ok).collect();
    let doc = doc;
    let mut converter = Converter {
        doc: &doc,
        parameters: BTreeMap::new(),
        definitions: BTreeSet::new(),
    };
    let mut paths = Map::new();
    let mut recorded_operations = Vec::new();
    for operation in operations {
        let (item, source_operation) =
            find_operation(&doc, operation).map_err(|e| format!("{source_name}: {e}"))?;
        let method = operation.method.to_ascii_lowercase();
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

    // No operation refers to the device-job row (deviation 5), which the layer reads items as.
    if ships(operations, "POST", DEVICE_QUERY) {
        converter.definitions.insert(DEVICE_JOB.to_owned());
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
    let paths = Value::Object(paths);
    let schemas = Value::Object(schemas);
    refuse_enums_left_inline(&paths, &schemas).map_err(|e| format!("{source_name}: {e}"))?;

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
    components.insert("schemas".into(), schemas);
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

/// The path item holding `operation`, and the operation.
fn find_operation<'d>(
    doc: &'d Value,
    operation: &Operation,
) -> Result<(&'d Value, &'d Value), String> {
    let item = doc["paths"]
        .get(&operation.path)
        .ok_or_else(|| format!("no path {}", operation.path))?;
    let found = item
        .get(operation.method.to_ascii_lowercase())
        .ok_or_else(|| format!("no {} operation on {}", operation.method, operation.path))?;
    Ok((item, found))
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

    /// The jobs query as upstream describes it, unpaged, with no other operation to copy
    /// paging from (as in 2019-06-30).
    fn unpaged_jobs_query() -> Value {
        json!({"swagger": "2.0", "info": {"title": "t", "version": "1"},
            "paths": {"/jobs/v2/query": {"get": {
                "parameters": [{"name": "jobType", "in": "query", "type": "string"}],
                "responses": {"200": {"description": "OK.", "schema": {"$ref": "#/definitions/QueryResult"}}}}}},
            "definitions": {
                "QueryResult": {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object"}}}},
                "JobResponse": {"type": "object", "properties": {"jobId": {"type": "string"}}}}})
    }

    /// The query operation sends and answers the paging headers of the jobs query.
    fn assert_paged(query: &Value) {
        let sent: Vec<&Value> = query["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "header")
            .map(|p| &p["name"])
            .collect();
        assert_eq!(sent, ["x-ms-continuation", "x-ms-max-item-count"]);
        let answered: Vec<&String> = query["responses"]["200"]["headers"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(answered, ["x-ms-continuation", "x-ms-item-type"]);
    }

    fn import_jobs_query(doc: &Value) -> Result<Imported, String> {
        let operations = parse_operations("GET /jobs/v2/query").unwrap();
        import(doc.to_string().as_bytes(), "f", &operations)
    }

    #[test]
    fn deviation_2_pages_the_jobs_query_from_its_own_definition() {
        let imported = import_jobs_query(&unpaged_jobs_query()).unwrap();
        let query = &imported.spec["paths"]["/jobs/v2/query"]["get"];
        assert_paged(query);
        let ok = &query["responses"]["200"];
        assert_eq!(
            ok["content"]["application/json"]["schema"],
            json!({"type": "array", "items": {"$ref": "#/components/schemas/JobResponse"}})
        );
        assert!(
            imported.spec["components"]["schemas"]
                .get("QueryResult")
                .is_none()
        );
        assert!(
            imported.provenance["deviations"][0]
                .as_str()
                .unwrap()
                .starts_with("2. GET /jobs/v2/query: paged")
        );
    }

    #[test]
    fn deviation_2_refuses_a_document_it_cannot_correct() {
        type Edit = fn(&mut Value);
        let cases: [(&str, Edit); 4] = [
            ("where upstream had a QueryResult object", |d| {
                d["paths"]["/jobs/v2/query"]["get"]["responses"]["200"]["schema"] =
                    json!({"type": "array", "items": {"$ref": "#/definitions/JobResponse"}})
            }),
            (
                "already declares the header parameter x-ms-continuation",
                |d| {
                    d["paths"]["/jobs/v2/query"]["get"]["parameters"]
                        .as_array_mut()
                        .unwrap()
                        .push(
                            json!({"name": "x-ms-continuation", "in": "header", "type": "string"}),
                        )
                },
            ),
            ("already declares response headers", |d| {
                d["paths"]["/jobs/v2/query"]["get"]["responses"]["200"]["headers"] =
                    json!({"x-ms-item-type": {"type": "string"}})
            }),
            ("defines no JobResponse", |d| {
                d["definitions"]
                    .as_object_mut()
                    .unwrap()
                    .remove("JobResponse");
            }),
        ];
        for (expected, edit) in cases {
            let mut doc = unpaged_jobs_query();
            edit(&mut doc);
            let error = import_jobs_query(&doc).unwrap_err();
            assert!(
                error.contains(
                    "deviation 2 (the jobs query pages like the twin query) cannot be applied"
                ) && error.contains(expected),
                "{error}"
            );
        }
    }

    /// The import/export operations as upstream describes them, reduced to what deviations 3
    /// and 4 read.
    fn import_export_jobs() -> Value {
        let job = json!({"$ref": "#/definitions/JobProperties"});
        json!({"swagger": "2.0", "info": {"title": "t", "version": "1"},
            "paths": {
                "/jobs/create": {"post": {
                    "parameters": [{"name": "jobProperties", "in": "body", "required": true, "schema": job}],
                    "responses": {"200": {"description": "OK.", "schema": job}}}},
                "/jobs/{id}": {"delete": {
                    "parameters": [{"name": "id", "in": "path", "required": true, "type": "string"}],
                    "responses": {"200": {"description": "OK", "schema": {"type": "object"}},
                        "204": {"description": "No Content."}}}}},
            "definitions": {"JobProperties": {"type": "object", "properties": {
                "jobId": {"type": "string"},
                "inputBlobContainerUri": {"type": "string", "description": "In, with a SAS."},
                "outputBlobContainerUri": {"type": "string", "description": "Out, with a SAS."}}}}})
    }

    fn import_import_export_jobs(doc: &Value) -> Result<Imported, String> {
        let operations = parse_operations("POST /jobs/create,DELETE /jobs/{id}").unwrap();
        import(doc.to_string().as_bytes(), "f", &operations)
    }

    #[test]
    fn deviations_3_and_4_name_the_container_uris_and_describe_one_cancel_answer() {
        let imported = import_import_export_jobs(&import_export_jobs()).unwrap();
        let schemas = &imported.spec["components"]["schemas"];
        assert_eq!(schemas["BlobContainerUri"]["type"], "string");
        for property in ["inputBlobContainerUri", "outputBlobContainerUri"] {
            assert_eq!(
                schemas["JobProperties"]["properties"][property]["allOf"],
                json!([{"$ref": "#/components/schemas/BlobContainerUri"}]),
                "{property}"
            );
        }
        assert!(
            schemas["JobProperties"]["properties"]["outputBlobContainerUri"]["description"]
                .as_str()
                .unwrap()
                .starts_with("Out")
        );
        let answers = &imported.spec["paths"]["/jobs/{id}"]["delete"]["responses"];
        assert!(answers["200"].get("content").is_none() && answers["204"].get("content").is_none());
        let deviations: Vec<&str> = imported.provenance["deviations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap())
            .collect();
        assert!(
            deviations
                .iter()
                .any(|d| d.starts_with("3. JobProperties.inputBlobContainerUri"))
        );
        assert!(
            deviations
                .iter()
                .any(|d| d.starts_with("4. DELETE /jobs/{id}"))
        );
        // Not shipping them, neither applies.
        let scheduled = parse_operations("GET /jobs/v2/query").unwrap();
        let mut doc = unpaged_jobs_query();
        doc["definitions"]["JobProperties"] =
            import_export_jobs()["definitions"]["JobProperties"].clone();
        let imported = import(doc.to_string().as_bytes(), "f", &scheduled).unwrap();
        assert_eq!(
            imported.provenance["deviations"].as_array().unwrap().len(),
            1
        );
    }

    #[test]
    fn deviations_3_and_4_refuse_a_document_they_cannot_correct() {
        type Edit = fn(&mut Value);
        let cases: [(&str, &str, Edit); 5] = [
            ("deviation 3", "inputBlobContainerUri is", |d| {
                d["definitions"]["JobProperties"]["properties"]["inputBlobContainerUri"]["format"] =
                    json!("uri")
            }),
            ("deviation 3", "defines no JobProperties", |d| {
                d["definitions"]
                    .as_object_mut()
                    .unwrap()
                    .remove("JobProperties");
            }),
            (
                "deviation 3",
                "already defines a schema named BlobContainerUri",
                |d| d["definitions"]["BlobContainerUri"] = json!({"type": "string"}),
            ),
            ("deviation 4", "not 200 and 204", |d| {
                d["paths"]["/jobs/{id}"]["delete"]["responses"]
                    .as_object_mut()
                    .unwrap()
                    .remove("204");
            }),
            ("deviation 4", "describes its answers otherwise", |d| {
                d["paths"]["/jobs/{id}"]["delete"]["responses"]["200"]["schema"] =
                    json!({"$ref": "#/definitions/JobProperties"})
            }),
        ];
        for (deviation, expected, edit) in cases {
            let mut doc = import_export_jobs();
            edit(&mut doc);
            let error = import_import_export_jobs(&doc).unwrap_err();
            assert!(
                error.contains(&format!("{deviation} ("))
                    && error.contains("cannot be applied")
                    && error.contains(expected),
                "{error}"
            );
        }
    }

    /// The twin query as upstream describes it before 2020-03-01: a QueryResult, no paging.
    fn unpaged_device_query() -> Value {
        json!({"swagger": "2.0", "info": {"title": "t", "version": "1"},
            "paths": {"/devices/query": {"post": {
                "parameters": [{"name": "querySpecification", "in": "body", "required": true,
                    "schema": {"$ref": "#/definitions/QuerySpecification"}}],
                "responses": {"200": {"description": "OK.", "schema": {"$ref": "#/definitions/QueryResult"}}}}}},
            "definitions": {
                "QuerySpecification": {"type": "object", "properties": {"query": {"type": "string"}}},
                "QueryResult": {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object"}}}}}})
    }

    fn import_device_query(doc: &Value) -> Result<Imported, String> {
        let operations = parse_operations("POST /devices/query").unwrap();
        import(doc.to_string().as_bytes(), "f", &operations)
    }

    #[test]
    fn deviation_5_pages_the_device_query_and_adds_the_row_from_its_own_definition() {
        let imported = import_device_query(&unpaged_device_query()).unwrap();
        let query = &imported.spec["paths"]["/devices/query"]["post"];
        assert_paged(query);
        let ok = &query["responses"]["200"];
        assert_eq!(
            ok["content"]["application/json"]["schema"]["items"]["type"],
            "object"
        );
        let schemas = imported.spec["components"]["schemas"].as_object().unwrap();
        for name in [
            "DeviceJob",
            "DeviceJobOutcome",
            "DeviceMethodResponse",
            "DeviceJobError",
            "DeviceJobStatus",
            "DeviceJobType",
        ] {
            assert!(schemas.contains_key(name), "{name}");
        }
        assert!(!schemas.contains_key("QueryResult"));
        assert_eq!(
            schemas["DeviceJob"]["properties"]["status"]["allOf"],
            json!([{"$ref": "#/components/schemas/DeviceJobStatus"}])
        );
        assert!(
            imported.provenance["deviations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|d| d.as_str().unwrap().starts_with("5. POST /devices/query"))
        );
        // A newer upstream's paging headers give way to the deviation's own: the same result.
        let mut paged = unpaged_device_query();
        paged["paths"]["/devices/query"]["post"]["parameters"].as_array_mut().unwrap().push(
            json!({"name": "x-ms-continuation", "in": "header", "type": "string", "description": "upstream's"}));
        let again = import_device_query(&paged).unwrap();
        assert_eq!(again.spec["paths"], imported.spec["paths"]);
    }

    #[test]
    fn deviation_5_refuses_a_document_it_cannot_correct() {
        type Edit = fn(&mut Value);
        let cases: [(&str, Edit); 3] = [
            ("takes no QuerySpecification body", |d| {
                d["paths"]["/devices/query"]["post"]["parameters"][0]["schema"] =
                    json!({"type": "string"})
            }),
            ("now defines a schema named DeviceJob", |d| {
                d["definitions"]["DeviceJob"] = json!({"type": "object"})
            }),
            ("no POST /devices/query", |d| {
                d["paths"]["/devices/query"]["get"] = d["paths"]["/devices/query"]["post"].take();
                d["paths"]["/devices/query"]
                    .as_object_mut()
                    .unwrap()
                    .remove("post");
            }),
        ];
        for (expected, edit) in cases {
            let mut doc = unpaged_device_query();
            edit(&mut doc);
            let operations = parse_operations("POST /devices/query").unwrap();
            let mut deviated = doc.clone();
            let outcome = deviate(&mut deviated, &operations).remove(0);
            let error = outcome.unwrap_err();
            assert!(
                error.contains("deviation 5 (")
                    && error.contains("cannot be applied")
                    && error.contains(expected),
                "{error}"
            );
        }
    }

    #[test]
    fn a_document_progenitor_cannot_generate_from_is_refused_with_a_message() {
        let mut spec = import_import_export_jobs(&import_export_jobs())
            .unwrap()
            .spec;
        spec["components"]["parameters"]["api-version"] = json!({"name": "api-version",
            "in": "query", "required": true, "schema": {"type": "string", "default": "1"}});
        let generate = |spec: &Value| {
            crate::codegen::generate_from(serde_json::from_value(spec.clone()).unwrap())
        };
        assert!(generate(&spec).is_ok());
        // Without deviation 4: two success answers of different types, which progenitor
        // asserts against.
        spec["paths"]["/jobs/{id}"]["delete"]["responses"]["200"]["content"] =
            json!({"application/json": {"schema": {"type": "object"}}});
        let error = generate(&spec).unwrap_err();
        assert!(
            error.starts_with(
                "progenitor cannot generate a client from spec/iothub-jobs.openapi.json"
            ) && error.contains("deviation"),
            "{error}"
        );
    }

    #[test]
    fn deviation_1_refuses_an_enum_it_cannot_hoist() {
        let mut in_a_parameter = unpaged_jobs_query();
        in_a_parameter["paths"]["/jobs/v2/query"]["get"]["parameters"][0]["enum"] = json!(["a"]);
        let mut in_array_items = unpaged_jobs_query();
        in_array_items["definitions"]["JobResponse"]["properties"]["kinds"] =
            json!({"type": "array", "items": {"type": "string", "enum": ["a"]}});
        for (doc, at) in [
            (in_a_parameter, "GET /jobs/v2/query parameter jobType"),
            (in_array_items, "JobResponse.kinds items"),
        ] {
            let error = import_jobs_query(&doc).unwrap_err();
            assert!(
                error.contains(
                    "deviation 1 (inline enums hoisted into named schemas) cannot be applied"
                ) && error.contains(at),
                "{error}"
            );
        }
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
