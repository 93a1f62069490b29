//! The deliberate deviations from upstream that spec/README.md lists, in its order (1–5), each
//! applied from its own definition or refused naming itself; and [`deviate`], which applies the
//! ones an import's operations need (deviation 1 runs on the converted schemas, from `import`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::{
    codegen::CONTAINER_URI_SCHEMA,
    json::{Operation, as_object},
};

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

const ONE_CANCEL_ANSWER: &str =
    "deviation 4 (cancelling an import/export job answers no body the client reads)";

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

// Deviation 1: inline enums hoisted into named schemas.

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

/// Moves each property's inline enum into a named schema (deviation 1) and returns what it did.
pub(super) fn hoist_enums(
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
                "{HOIST_ENUMS} cannot be applied: upstream already defines a schema named {name}; name the enum in ENUM_NAMES (xtask/src/import/deviations.rs)"
            ));
        }
        schemas.insert(name, enum_schema);
    }
    record.sort();
    Ok(record)
}

/// Deviation 1 hoists the enums of schema properties. One anywhere else would become a closed
/// Rust enum that fails on values the service adds, so the import stops instead.
pub(super) fn refuse_enums_left_inline(paths: &Value, schemas: &Value) -> Result<(), String> {
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
             which the importer cannot hoist; extend `hoist_enums` in xtask/src/import/deviations.rs",
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

// Deviation 2: the jobs query pages like the twin query.

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

// Deviation 3: the container URIs named as one secret-carrying schema.

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

// Deviation 4: one success answer for the import/export cancel.

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

// Deviation 5: the device query pages and answers device-job rows.

const DESCRIBE_DEVICE_QUERY: &str =
    "deviation 5 (the device query pages like the jobs query and answers device-job rows)";
/// The device query, which deviation 5 describes.
pub(super) const DEVICE_QUERY: &str = "/devices/query";
/// The row of a device-job query, which deviation 5 adds (with the schemas it refers to).
pub(super) const DEVICE_JOB: &str = "DeviceJob";

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

// What every deviation uses.

/// Whether `operations` hold `method path`.
pub(super) fn ships(operations: &[Operation], method: &str, path: &str) -> bool {
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
             xtask/src/import/deviations.rs"
        )
    }
}
