//! How `spec/` becomes Rust: the progenitor settings, in one place.
//!
//! `build.rs` compiles this file to generate the crate's private client into `OUT_DIR`, and
//! `cargo xtask` compiles the very same file to write the reviewable copy, so the two can never
//! disagree about how the code was produced.

use progenitor::{GenerationSettings, Generator, HooksMode, InterfaceStyle, TypeImpl, TypePatch};
use schemars::schema::{InstanceType, ObjectValidation, Schema, SchemaObject};

/// The OpenAPI document the crate is generated from, relative to the crate root.
pub const SPEC_PATH: &str = "spec/iothub-jobs.openapi.json";

/// One operation the crate ships: how spec/ names it, the name of its generated method, and
/// what the hand-written layer passes and reads, which `cargo xtask` checks against spec/
/// before rustc would (xtask/README.md; build.rs reads only the name).
#[allow(
    dead_code,
    reason = "the layer's columns are read by cargo xtask, not by build.rs"
)]
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    /// The generated method's name. progenitor names methods after operationIds, which
    /// upstream renamed twice (`Service_CancelJob`, `JobClient_CancelJob`,
    /// `Jobs_CancelScheduledJob`); the layer calls these names instead, so a rename upstream
    /// changes nothing in Rust. spec/ keeps upstream's operationIds.
    pub name: &'static str,
    /// Its arguments, passed positionally: `<in> <name>: <type>`, `?` after an optional one's
    /// name (types as in `FIELDS_USED` in xtask/src/layer.rs).
    pub parameters: &'static [&'static str],
    /// What the layer reads of its `200` answer (`nothing` for none).
    pub answer: &'static str,
    /// The file that calls it.
    pub caller: &'static str,
}

const PATH_ID: &str = "path id: string";
const API_VERSION: &str = "query api-version: string";
const CONTINUATION: &str = "header x-ms-continuation?: string";
const PAGE_SIZE: &str = "header x-ms-max-item-count?: string";

/// Every operation the crate ships, one row each.
pub const OPERATIONS: &[Operation] = &[
    Operation {
        method: "POST",
        path: "/jobs/v2/{id}/cancel",
        name: "cancel_job",
        parameters: &[PATH_ID, API_VERSION],
        answer: "JobResponse",
        caller: "src/areas/scheduled_jobs/mod.rs",
    },
    Operation {
        method: "GET",
        path: "/jobs/v2/{id}",
        name: "get_job",
        parameters: &[PATH_ID, API_VERSION],
        answer: "JobResponse",
        caller: "src/areas/scheduled_jobs/mod.rs",
    },
    Operation {
        method: "PUT",
        path: "/jobs/v2/{id}",
        name: "create_job",
        parameters: &[PATH_ID, API_VERSION, "body: JobRequest"],
        answer: "JobResponse",
        caller: "src/areas/scheduled_jobs/mod.rs",
    },
    Operation {
        method: "GET",
        path: "/jobs/v2/query",
        name: "query_jobs",
        parameters: &[
            API_VERSION,
            "query jobStatus?: string",
            "query jobType?: string",
            CONTINUATION,
            PAGE_SIZE,
        ],
        answer: "[JobResponse]",
        caller: "src/areas/scheduled_jobs/mod.rs",
    },
    Operation {
        method: "POST",
        path: "/jobs/create",
        name: "create_import_export_job",
        parameters: &[API_VERSION, "body: JobProperties"],
        answer: "JobProperties",
        caller: "src/areas/import_export/mod.rs",
    },
    Operation {
        method: "GET",
        path: "/jobs",
        name: "list_import_export_jobs",
        parameters: &[API_VERSION],
        answer: "[JobProperties]",
        caller: "src/areas/import_export/mod.rs",
    },
    Operation {
        method: "GET",
        path: "/jobs/{id}",
        name: "get_import_export_job",
        parameters: &[PATH_ID, API_VERSION],
        answer: "JobProperties",
        caller: "src/areas/import_export/mod.rs",
    },
    Operation {
        method: "DELETE",
        path: "/jobs/{id}",
        name: "cancel_import_export_job",
        parameters: &[PATH_ID, API_VERSION],
        answer: "nothing",
        caller: "src/areas/import_export/mod.rs",
    },
    Operation {
        method: "POST",
        path: "/devices/query",
        name: "query_devices",
        parameters: &[
            API_VERSION,
            CONTINUATION,
            PAGE_SIZE,
            "body: QuerySpecification",
        ],
        answer: "[object]",
        caller: "src/areas/devices.rs",
    },
];

/// Where the hand-written stand-ins for the spec's enum schemas live.
///
/// The service adds enum values without a new api-version (job status `cancelling`, job type
/// `exportDevicesV3`), so every named enum schema becomes `crate::models::<Name>` (declared in
/// `src/models/stand_ins.rs`, which the generated code names by this path), an extensible
/// enum that keeps unknown values instead of failing the call. The importer hoists inline enums
/// into named schemas for this (spec/README.md); a new one fails the build until
/// `src/models/stand_ins.rs` declares it.
const ENUM_MODULE: &str = "crate::models::stand_ins";
/// The schema deviation 3 names the container URIs by, replaced by its stand-in of that name
/// in `src/models/stand_ins.rs`.
pub const CONTAINER_URI_SCHEMA: &str = "BlobContainerUri";

/// The settings both `build.rs` and the xtask use, for the schemas in `spec`.
pub fn settings(spec: &openapiv3::OpenAPI) -> GenerationSettings {
    let mut settings = GenerationSettings::new();
    settings
        .with_interface(InterfaceStyle::Positional)
        // Auth, request ids and the fixed headers are added by our `ClientHooks` impl; a
        // forgotten impl must be a compile error, not an unauthenticated request.
        .with_inner_type(quote_path("crate::generated::HookSettings"))
        .with_hooks(HooksMode::Expected)
        .with_derive("PartialEq")
        .with_derive("schemars::JsonSchema")
        // Sorted maps serialize deterministically, which keeps round-trips comparable.
        .with_map_type("::std::collections::BTreeMap");
    for name in enum_schemas(spec) {
        settings.with_replacement(name, format!("{ENUM_MODULE}::{name}"), text_impls());
    }
    // A container URI carries a SAS token: its stand-in keeps it out of `Debug` and `Display`
    // (spec/README.md, deviation 3).
    settings.with_replacement(
        CONTAINER_URI_SCHEMA,
        format!("{ENUM_MODULE}::{CONTAINER_URI_SCHEMA}"),
        [TypeImpl::Default].into_iter(),
    );
    // The service writes `0001-01-01T00:00:00` (no offset) for "never"; chrono would reject it.
    settings.with_conversion(
        string_with_format("date-time"),
        "crate::models::stand_ins::Timestamp",
        text_impls(),
    );
    // Twin tags and desired/reported properties are documented as maps of objects, but real
    // twins carry numbers and strings there (`"$version": 4`), so their values stay free-form.
    settings.with_conversion(
        map_of_objects(),
        JSON_OBJECT,
        [TypeImpl::Default].into_iter(),
    );
    // Converted types are wrapped in `Option`, so `null` from the service reads as absent
    // instead of failing the whole response (typify would otherwise use a non-optional field
    // with `#[serde(default)]`, which rejects `null`).
    settings.with_conversion(
        of_type(InstanceType::Object),
        JSON_OBJECT,
        [TypeImpl::Default].into_iter(),
    );
    settings.with_conversion(
        array_of(InstanceType::String),
        "::std::vec::Vec<::std::string::String>",
        [TypeImpl::Default].into_iter(),
    );
    // Query pages stay free-form here and the hand-written layer reads each item, so one
    // item of an unexpected shape (another object, or not an object at all: `5`, `null`)
    // cannot fail a whole page. Each item is kept as its JSON text and read once, straight
    // into its model: a value tree first would be a second pass over every row.
    for page in listing_pages(spec) {
        settings.with_conversion(
            page,
            "::std::vec::Vec<::std::boxed::Box<::serde_json::value::RawValue>>",
            [TypeImpl::Default].into_iter(),
        );
    }
    // Later api-versions add optional fields (`Twin.parentScopes`, `Twin.attributes`); with
    // `#[non_exhaustive]` that is not a breaking change for code that builds these structs.
    let mut non_exhaustive = TypePatch::default();
    non_exhaustive.with_attr("#[non_exhaustive]");
    for (name, schema) in spec.components.iter().flat_map(|c| &c.schemas) {
        let is_object = schema.as_item().is_some_and(|s| {
            matches!(
                s.schema_kind,
                openapiv3::SchemaKind::Type(openapiv3::Type::Object(_))
            )
        });
        if is_object {
            settings.with_patch(name, &non_exhaustive);
        }
    }
    settings
}

const JSON_OBJECT: &str = "::serde_json::Map<::std::string::String, ::serde_json::Value>";

/// The `200` schemas of the listings (the operations paged by a continuation token), whose
/// pages the layer reads item by item, exactly as `spec` writes them (a conversion matches a
/// schema only with its descriptions).
fn listing_pages(spec: &openapiv3::OpenAPI) -> Vec<SchemaObject> {
    OPERATIONS
        .iter()
        .filter(|row| row.parameters.contains(&CONTINUATION))
        .filter_map(|row| {
            let item = spec.paths.paths.get(row.path)?.as_item()?;
            let operation = item
                .iter()
                .find(|(method, _)| method.eq_ignore_ascii_case(row.method))?
                .1;
            let ok = operation
                .responses
                .responses
                .get(&openapiv3::StatusCode::Code(200))?
                .as_item()?;
            let schema = ok.content.get("application/json")?.schema.as_ref()?;
            serde_json::from_value(serde_json::to_value(schema).ok()?).ok()
        })
        .collect()
}

/// Generates the client from the OpenAPI document's text. `build.rs` writes these tokens as
/// they are; `cargo xtask generate` formats them for review (formatting is the only
/// difference, and a formatter in build.rs would cost every user's build).
pub fn generate(spec_json: &str) -> Result<proc_macro2::TokenStream, String> {
    let spec = serde_json::from_str(spec_json)
        .map_err(|e| format!("{SPEC_PATH} is not OpenAPI 3.0: {e}"))?;
    generate_from(spec)
}

/// [`generate`], for a document already parsed (the xtask parses spec/ once for all its checks).
pub fn generate_from(mut spec: openapiv3::OpenAPI) -> Result<proc_macro2::TokenStream, String> {
    let api_version = api_version(&spec)?;
    use_stable_method_names(&mut spec)?;
    // progenitor asserts some of its limits (one success type per operation, say) with a panic:
    // report it as a failure that names the document, not as a crash in generated code.
    let generated =
        std::panic::catch_unwind(|| Generator::new(&settings(&spec)).generate_tokens(&spec))
            .map_err(|panic| {
                let reason = panic
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| panic.downcast_ref::<&str>().copied())
                    .unwrap_or("no reason given");
                format!(
                    "progenitor cannot generate a client from {SPEC_PATH} ({reason}); an operation \
             probably needs a deviation in the importer (spec/README.md)"
                )
            })?;
    let mut tokens = generated.map_err(|e| format!("progenitor rejected {SPEC_PATH}: {e}"))?;
    tokens.extend(quote_path(&format!(
        "/// The `api-version` every request sends: the default of the spec's `api-version` parameter.\n\
         pub const API_VERSION: &str = {api_version:?};"
    )));
    Ok(tokens)
}

/// Replaces each operationId with its row's name in [`OPERATIONS`].
fn use_stable_method_names(spec: &mut openapiv3::OpenAPI) -> Result<(), String> {
    for (path, item) in spec.paths.paths.iter_mut() {
        let openapiv3::ReferenceOr::Item(item) = item else {
            continue;
        };
        let operations = [
            ("GET", &mut item.get),
            ("PUT", &mut item.put),
            ("POST", &mut item.post),
            ("DELETE", &mut item.delete),
            ("PATCH", &mut item.patch),
            ("HEAD", &mut item.head),
            ("OPTIONS", &mut item.options),
            ("TRACE", &mut item.trace),
        ];
        for (method, operation) in operations {
            let Some(operation) = operation else { continue };
            let row = OPERATIONS
                .iter()
                .find(|row| row.method == method && row.path == path)
                .ok_or_else(|| {
                    format!("{method} {path} has no stable method name: add its row to OPERATIONS in spec/codegen.rs")
                })?;
            operation.operation_id = Some(row.name.to_owned());
        }
    }
    Ok(())
}

/// The default of the shared `api-version` query parameter, which must equal `info.version`.
pub fn api_version(spec: &openapiv3::OpenAPI) -> Result<String, String> {
    let default = spec
        .components
        .as_ref()
        .and_then(|c| c.parameters.get("api-version"))
        .and_then(|p| p.as_item())
        .and_then(|p| match &p.parameter_data_ref().format {
            openapiv3::ParameterSchemaOrContent::Schema(s) => s.as_item(),
            openapiv3::ParameterSchemaOrContent::Content(_) => None,
        })
        .and_then(|s| s.schema_data.default.as_ref())
        .and_then(|d| d.as_str())
        .ok_or_else(|| {
            format!("{SPEC_PATH}: components.parameters.api-version has no string default")
        })?;
    if default != spec.info.version {
        return Err(format!(
            "{SPEC_PATH}: the api-version default `{default}` differs from info.version `{}`",
            spec.info.version
        ));
    }
    Ok(default.to_owned())
}

/// What the hand-written string-like stand-ins (enums, `Timestamp`) implement.
fn text_impls() -> impl Iterator<Item = TypeImpl> {
    [TypeImpl::Display, TypeImpl::FromStr].into_iter()
}

fn quote_path(path: &str) -> proc_macro2::TokenStream {
    path.parse().expect("a Rust path")
}

fn of_type(instance_type: InstanceType) -> SchemaObject {
    SchemaObject {
        instance_type: Some(instance_type.into()),
        ..Default::default()
    }
}

fn array_of(items: InstanceType) -> SchemaObject {
    SchemaObject {
        array: Some(Box::new(schemars::schema::ArrayValidation {
            items: Some(Schema::Object(of_type(items)).into()),
            ..Default::default()
        })),
        ..of_type(InstanceType::Array)
    }
}

fn string_with_format(format: &str) -> SchemaObject {
    SchemaObject {
        format: Some(format.to_owned()),
        ..of_type(InstanceType::String)
    }
}

fn map_of_objects() -> SchemaObject {
    SchemaObject {
        object: Some(Box::new(ObjectValidation {
            additional_properties: Some(Box::new(Schema::Object(of_type(InstanceType::Object)))),
            ..Default::default()
        })),
        ..of_type(InstanceType::Object)
    }
}

/// The names of the component schemas that are string enums.
pub fn enum_schemas(spec: &openapiv3::OpenAPI) -> impl Iterator<Item = &String> {
    spec.components.iter().flat_map(|c| &c.schemas).filter_map(|(name, schema)| {
        let enumerated = schema.as_item().is_some_and(|s| {
            matches!(&s.schema_kind, openapiv3::SchemaKind::Type(openapiv3::Type::String(t)) if !t.enumeration.is_empty())
        });
        enumerated.then_some(name)
    })
}
