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
    ("JobProperties", "type", "JobType"),
    ("JobProperties", "status", "JobStatus"),
    (
        "JobProperties",
        "storageAuthenticationType",
        "StorageAuthenticationType",
    ),
    ("DeviceJob", "jobType", "DeviceJobType"),
    ("DeviceJob", "status", "DeviceJobStatus"),
];

const HOIST_ENUMS: &str = "deviation 1 (inline enums hoisted into named schemas)";
const PAGE_JOBS_QUERY: &str = "deviation 2 (the jobs query pages like the twin query)";
const NAME_CONTAINER_URIS: &str =
    "deviation 3 (blob container URIs hoisted into schema BlobContainerUri)";

/// Deviation 3 (spec/README.md): the import/export job's container URIs carry a SAS token, a
/// secret. They become one named schema so that the generator can replace it with a type whose
/// `Debug` and `Display` redact the token (the generated structs derive `Debug`).
const CONTAINER_URIS: &[(&str, &str)] = &[
    ("JobProperties", "inputBlobContainerUri"),
    ("JobProperties", "outputBlobContainerUri"),
];
use crate::codegen::CONTAINER_URI_SCHEMA;

const ONE_CANCEL_ANSWER: &str =
    "deviation 4 (cancelling an import/export job answers no body the client reads)";
/// Deviation 3 (spec/README.md): the container URI properties refer to one named string schema,
/// `BlobContainerUri`, instead of each being a plain string.
fn name_container_uris(doc: &mut Value) -> Result<String, String> {
    let refuse = refusal(NAME_CONTAINER_URIS, "name_container_uris");
    let definitions = doc
        .get_mut("definitions")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| refuse("the document has no definitions".into()))?;
    if definitions.contains_key(CONTAINER_URI_SCHEMA) {
        return Err(refuse(format!(
            "upstream already defines a schema named {CONTAINER_URI_SCHEMA}"
        )));
    }
    for (owner, property) in CONTAINER_URIS {
        let value = &mut definitions
            .get_mut(*owner)
            .ok_or_else(|| refuse(format!("the document defines no {owner}")))?["properties"]
            [*property];
        let plain_string = value.as_object().is_some_and(|o| {
            o.get("type") == Some(&json!("string"))
                && o.keys().all(|key| key == "type" || key == "description")
        });
        if !plain_string {
            return Err(refuse(format!(
                "{owner}.{property} is {value}, not a plain string"
            )));
        }
        let object = value.as_object_mut().expect("checked above");
        object.remove("type");
        object.insert(
            "$ref".into(),
            json!(format!("#/definitions/{CONTAINER_URI_SCHEMA}")),
        );
    }
    definitions.insert(
        CONTAINER_URI_SCHEMA.into(),
        json!({
            "type": "string",
            "description": "The URI of a blob container. For key-based storage authentication it \
                carries a SAS token, a secret.",
        }),
    );
    let properties: Vec<String> = CONTAINER_URIS
        .iter()
        .map(|(owner, property)| format!("{owner}.{property}"))
        .collect();
    Ok(format!(
        "3. {}: hoisted into schema {CONTAINER_URI_SCHEMA}, a secret-carrying string",
        properties.join(", ")
    ))
}

const DESCRIBE_DEVICE_QUERY: &str =
    "deviation 5 (the device query pages like the jobs query and answers device-job rows)";
/// The device query, which deviation 5 describes.
const DEVICE_QUERY: &str = "/devices/query";
/// The row of a device-job query, which deviation 5 adds (with the schemas it refers to).
const DEVICE_JOB: &str = "DeviceJob";

/// Deviation 5 (spec/README.md): `POST /devices/query` answers any query of the hub, its items
/// typed by the `x-ms-item-type` header — twins, device jobs, job responses or any JSON for a
/// projection — and upstream describes only twins (before 2020-03-01, a `QueryResult` object
/// and no paging). Written from this definition: paging as the jobs query's (deviation 2), a
/// body of JSON objects, and the device-job row no upstream version describes (`DeviceJob`, as
/// the official C# and Java SDKs read it), which the hand-written layer reads each item as.
fn describe_the_device_query(doc: &mut Value) -> Result<String, String> {
    let refuse = refusal(DESCRIBE_DEVICE_QUERY, "describe_the_device_query");
    let rows = device_job_schemas();
    let definitions = doc
        .get_mut("definitions")
        .and_then(Value::as_object_mut)
        .ok_or_else(|| refuse("the document has no definitions".into()))?;
    if let Some(taken) = rows.keys().find(|name| definitions.contains_key(*name)) {
        return Err(refuse(format!(
            "upstream now defines a schema named {taken}: compare it with this deviation's, and \
             drop the deviation's if they agree"
        )));
    }
    definitions.extend(rows);
    let query = operation_mut(doc, "post", DEVICE_QUERY)
        .and_then(Value::as_object_mut)
        .ok_or_else(|| refuse(format!("the document has no POST {DEVICE_QUERY}")))?;
    let parameters = query
        .entry("parameters")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .ok_or_else(|| {
            refuse(format!(
                "the parameters of POST {DEVICE_QUERY} are not a list"
            ))
        })?;
    let asks_a_query = parameters.iter().any(|p| {
        p["in"] == "body" && p["schema"] == json!({ "$ref": "#/definitions/QuerySpecification" })
    });
    if !asks_a_query {
        return Err(refuse(format!(
            "POST {DEVICE_QUERY} takes no QuerySpecification body, the query text"
        )));
    }
    // The paging headers upstream declares from 2020-03-01 give way to this definition's.
    parameters.retain(|p| !(p["in"] == "header" && paging_header(&p["name"])));
    parameters.extend(paging_parameters());
    let description = query
        .get("responses")
        .and_then(|responses| responses.get("200"))
        .and_then(|ok| ok.get("description"))
        .cloned()
        .unwrap_or(json!("OK."));
    query.insert(
        "responses".into(),
        json!({"200": {
            "description": description,
            "schema": {"type": "array", "items": {"type": "object", "description":
                "One item of the answer: a Twin, a DeviceJob or a JobResponse, as x-ms-item-type \
                 says, or any JSON object for a query that projects or aggregates."}},
            "headers": paging_response_headers(),
        }}),
    );
    Ok(format!(
        "5. POST {DEVICE_QUERY}: paged through the x-ms-max-item-count and x-ms-continuation \
         headers, answering an array of objects (twins, device jobs, job responses, as \
         x-ms-item-type says), with the added schemas {DEVICE_JOB}, DeviceJobOutcome, \
         DeviceMethodResponse and DeviceJobError for device-job rows"
    ))
}

/// The device-job row and its parts, as the service writes them (the C# SDK's `DeviceJob`,
/// Java's `JobsResponseParser`); `moduleId` when the job targeted a module.
pub(crate) fn device_job_schemas() -> Map<String, Value> {
    let text = |description: &str| json!({"type": "string", "description": description});
    let time = |description: &str| json!({"type": "string", "format": "date-time", "description": description});
    let schemas = json!({
        DEVICE_JOB: {"type": "object",
            "description": "One device's part in a job: a row of `SELECT * FROM devices.jobs`.",
            "properties": {
                "deviceId": text("The device."),
                "moduleId": text("The module, when the job targeted one."),
                "jobId": text("The job."),
                "jobType": {"type": "string", "description": "The job's type.",
                    "enum": ["unknown", "scheduleDeviceMethod", "scheduleUpdateTwin"]},
                "status": {"type": "string", "description": "Where the job is on this device.",
                    "enum": ["pending", "scheduled", "running", "completed", "failed", "canceled"]},
                "startTimeUtc": time("When the job started on this device."),
                "endTimeUtc": time("When the job ended on this device."),
                "createdDateTimeUtc": time("When this row was created."),
                "lastUpdatedDateTimeUtc": time("When this row last changed."),
                "outcome": {"$ref": "#/definitions/DeviceJobOutcome",
                    "description": "What the device answered."},
                "error": {"$ref": "#/definitions/DeviceJobError",
                    "description": "Why the job failed on this device."}}},
        "DeviceJobOutcome": {"type": "object", "description": "What a device answered a job.",
            "properties": {"deviceMethodResponse": {"$ref": "#/definitions/DeviceMethodResponse",
                "description": "The direct method's answer, for a direct-method job."}}},
        "DeviceMethodResponse": {"type": "object",
            "description": "A device's answer to a direct method.",
            "properties": {
                "status": {"type": "integer", "format": "int32",
                    "description": "The status the device answered with."},
                "payload": {"description": "The payload the device answered with: any JSON."}}},
        "DeviceJobError": {"type": "object", "description": "Why a job failed on a device.",
            "properties": {"code": text("The error code, such as DeviceNotOnline."),
                "description": text("What went wrong.")}},
    });
    schemas.as_object().cloned().unwrap_or_default()
}

/// The import/export job operations, which use `JobProperties` (deviations 3 and 4).
const IMPORT_EXPORT_OPERATIONS: &[(&str, &str)] = &[
    ("POST", "/jobs/create"),
    ("GET", "/jobs"),
    ("GET", "/jobs/{id}"),
    ("DELETE", CANCEL_IMPORT_EXPORT),
];

/// Deviations 2 to 5, applied to the Swagger 2.0 document before it is converted, each when
/// the operations it corrects are shipped and each on its own: for each, what it did or why it
/// cannot be applied. `cargo xtask diff` reads upstream through this too.
pub(crate) fn deviate(doc: &mut Value, operations: &[Operation]) -> Vec<Result<String, String>> {
    let ships = |method: &str, path: &str| ships(operations, method, path);
    let mut outcomes = Vec::new();
    if ships("GET", JOBS_QUERY) {
        outcomes.push(page_the_jobs_query(doc));
    }
    if IMPORT_EXPORT_OPERATIONS
        .iter()
        .any(|(method, path)| ships(method, path))
    {
        outcomes.push(name_container_uris(doc));
    }
    if ships("DELETE", CANCEL_IMPORT_EXPORT) {
        outcomes.push(one_cancel_answer(doc));
    }
    if ships("POST", DEVICE_QUERY) {
        outcomes.push(describe_the_device_query(doc));
    }
    outcomes
}

/// The import/export job cancel, which deviation 4 corrects.
const CANCEL_IMPORT_EXPORT: &str = "/jobs/{id}";

/// Deviation 4 (spec/README.md): upstream lets `DELETE /jobs/{id}` answer `200` with an object
/// it does not describe, or `204`. progenitor generates one success type per operation (and
/// panics on two), and the object says nothing the client could read, so both answers are
/// described without a body; the client reads neither.
fn one_cancel_answer(doc: &mut Value) -> Result<String, String> {
    let refuse = refusal(ONE_CANCEL_ANSWER, "one_cancel_answer");
    let responses = operation_mut(doc, "delete", CANCEL_IMPORT_EXPORT)
        .and_then(|operation| operation.get_mut("responses"))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| refuse(format!("the document has no DELETE {CANCEL_IMPORT_EXPORT}")))?;
    let successes: Vec<&String> = responses
        .keys()
        .filter(|status| status.starts_with('2'))
        .collect();
    if successes != ["200", "204"] {
        return Err(refuse(format!(
            "DELETE {CANCEL_IMPORT_EXPORT} answers {successes:?}, not 200 and 204"
        )));
    }
    if responses["200"]["schema"] != json!({ "type": "object" })
        || responses["204"].get("schema").is_some()
    {
        return Err(refuse(format!(
            "DELETE {CANCEL_IMPORT_EXPORT} describes its answers otherwise than upstream did: 200 {}, 204 {}",
            responses["200"], responses["204"]
        )));
    }
    responses["200"]
        .as_object_mut()
        .map(|ok| ok.remove("schema"));
    Ok(format!(
        "4. DELETE {CANCEL_IMPORT_EXPORT}: 200 described without its undescribed object body, \
         like 204"
    ))
}

/// The jobs query, which upstream describes wrongly (deviation 2).
const JOBS_QUERY: &str = "/jobs/v2/query";
/// The continuation header's description, both ways (deviation 2).
const CONTINUATION: &str = "The continuation token used to get the next page of results.";

/// Deviation 2 (spec/README.md): upstream gives `GET /jobs/v2/query` a `QueryResult` body and
/// no paging, but the service answers it as it answers the twin query — a JSON array, paged
/// through headers — which is what the C#, Java and Node SDKs send and read. The headers are
/// written from this definition, never taken from elsewhere in the document: older upstream
/// versions describe no paging anywhere.
fn page_the_jobs_query(doc: &mut Value) -> Result<String, String> {
    let refuse = refusal(PAGE_JOBS_QUERY, "page_the_jobs_query");
    if doc["definitions"].get("JobResponse").is_none() {
        return Err(refuse(
            "the document defines no JobResponse, the item of each page".into(),
        ));
    }
    let query = operation_mut(doc, "get", JOBS_QUERY)
        .and_then(Value::as_object_mut)
        .ok_or_else(|| refuse(format!("the document has no GET {JOBS_QUERY}")))?;
    let ok = &query.get("responses").unwrap_or(&Value::Null)["200"];
    if ok["schema"] != json!({ "$ref": "#/definitions/QueryResult" }) {
        return Err(refuse(format!(
            "GET {JOBS_QUERY} answers 200 with {} where upstream had a QueryResult object, which \
             this deviation replaces (if upstream now describes the paging, drop the deviation)",
            ok.get("schema")
                .map_or("no body".to_owned(), Value::to_string)
        )));
    }
    if let Some(headers) = ok.get("headers") {
        return Err(refuse(format!(
            "GET {JOBS_QUERY} already declares response headers {headers}"
        )));
    }
    let description = ok["description"].clone();
    let parameters = query
        .entry("parameters")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .ok_or_else(|| refuse(format!("the parameters of GET {JOBS_QUERY} are not a list")))?;
    if let Some(name) = parameters
        .iter()
        .find(|p| p["in"] == "header" && paging_header(&p["name"]))
        .map(|p| p["name"].clone())
    {
        return Err(refuse(format!(
            "GET {JOBS_QUERY} already declares the header parameter {}",
            name.as_str().unwrap_or_default()
        )));
    }
    parameters.extend(paging_parameters());
    query["responses"]["200"] = json!({
        "description": description,
        "schema": { "type": "array", "items": { "$ref": "#/definitions/JobResponse" } },
        "headers": paging_response_headers(),
    });
    Ok(format!(
        "2. GET {JOBS_QUERY}: paged through the x-ms-max-item-count and x-ms-continuation \
         headers (x-ms-item-type in the answer), answering an array of JobResponse instead of \
         QueryResult"
    ))
}

/// The paging request headers of both queries (deviations 2 and 5), as upstream words the twin
/// query's in 2021-04-12.
fn paging_parameters() -> [Value; 2] {
    [
        json!({"name": "x-ms-continuation", "in": "header", "type": "string",
            "description": CONTINUATION}),
        json!({"name": "x-ms-max-item-count", "in": "header", "type": "string",
            "description": "The maximum number of items returned per page. The service may use \
                a different value if the value specified is not acceptable."}),
    ]
}

/// The paging response headers of both queries (deviations 2 and 5).
fn paging_response_headers() -> Value {
    json!({
        "x-ms-continuation": { "type": "string", "description": CONTINUATION },
        "x-ms-item-type": { "type": "string", "description": "The type of list of items." },
    })
}

fn paging_header(name: &Value) -> bool {
    name == "x-ms-continuation" || name == "x-ms-max-item-count"
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

/// Whether `operations` hold `method path`.
fn ships(operations: &[Operation], method: &str, path: &str) -> bool {
    operations
        .iter()
        .any(|o| o.method == method && o.path == path)
}

/// The `method` (lowercase) operation on `path`, to correct in place.
fn operation_mut<'d>(doc: &'d mut Value, method: &str, path: &str) -> Option<&'d mut Value> {
    doc.get_mut("paths")?.get_mut(path)?.get_mut(method)
}

/// How deviation `deviation`, written in `function`, says it cannot be applied.
fn refusal(deviation: &'static str, function: &'static str) -> impl Fn(String) -> String {
    move |reason| {
        format!(
            "{deviation} cannot be applied: {reason}; see spec/README.md and `{function}` in \
             xtask/src/import.rs"
        )
    }
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
                        "{HOIST_ENUMS} cannot be applied: {owner}.{property}: its enum differs from the one already named {name}"
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
                "1. {owner}.{property}: inline enum hoisted into schema {name}"
            ));
        }
    }
    for (name, enum_schema) in hoisted {
        if schemas.contains_key(&name) || upstream.contains_key(&name) {
            return Err(format!(
                "{HOIST_ENUMS} cannot be applied: upstream already defines a schema named {name}; name the enum in ENUM_NAMES (xtask/src/import.rs)"
            ));
        }
        schemas.insert(name, enum_schema);
    }
    record.sort();
    Ok(record)
}

/// Deviation 1 hoists the enums of schema properties. One anywhere else would become a closed
/// Rust enum that fails on values the service adds, so the import stops instead.
fn refuse_enums_left_inline(paths: &Value, schemas: &Value) -> Result<(), String> {
    fn find(schema: &Value, at: &str, found: &mut Vec<String>) {
        if schema.get("enum").is_some() {
            found.push(at.to_owned());
        }
        for (name, property) in as_object(&schema["properties"]) {
            find(property, &format!("{at}.{name}"), found);
        }
        for key in ["items", "additionalProperties", "not"] {
            if let Some(inner) = schema.get(key) {
                find(inner, &format!("{at} {key}"), found);
            }
        }
        for key in ["allOf", "anyOf", "oneOf"] {
            for (index, inner) in schema[key].as_array().into_iter().flatten().enumerate() {
                find(inner, &format!("{at} {key}[{index}]"), found);
            }
        }
    }
    let mut found = Vec::new();
    for (name, schema) in as_object(schemas) {
        // A named enum schema is the hoisted form; only what it contains is inline.
        let mut inner = schema.clone();
        inner.as_object_mut().map(|s| s.remove("enum"));
        find(&inner, name, &mut found);
    }
    for (path, item) in as_object(paths) {
        for (method, operation) in as_object(item) {
            let at = format!("{} {path}", method.to_ascii_uppercase());
            for parameter in operation["parameters"].as_array().into_iter().flatten() {
                let name = parameter["name"].as_str().unwrap_or_default();
                find(
                    &parameter["schema"],
                    &format!("{at} parameter {name}"),
                    &mut found,
                );
            }
            let bodies = std::iter::once(("request body", &operation["requestBody"])).chain(
                as_object(&operation["responses"])
                    .iter()
                    .map(|(s, r)| (s.as_str(), r)),
            );
            for (which, body) in bodies {
                for media in as_object(&body["content"]).values() {
                    find(&media["schema"], &format!("{at} {which}"), &mut found);
                }
                for (header, value) in as_object(&body["headers"]) {
                    find(
                        &value["schema"],
                        &format!("{at} {which} header {header}"),
                        &mut found,
                    );
                }
            }
        }
    }
    match found.as_slice() {
        [] => Ok(()),
        _ => Err(format!(
            "{HOIST_ENUMS} cannot be applied: {} hold(s) an enum that is not a schema property, \
             which the importer cannot hoist; extend `hoist_enums` in xtask/src/import.rs",
            found.join(", ")
        )),
    }
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
