//! What the hand-written layer (src/, examples/) needs from the code generated from spec/,
//! checked against spec/ itself, so that a maintainer meets a checklist instead of a rustc
//! error in code they did not write. `import`, `generate`, `bump` and `check` run it.
//!
//! Three things can break the layer when spec/ changes: an enum schema without its stand-in
//! in src/models/stand_ins.rs, an operation without its row in `OPERATIONS` (spec/codegen.rs, one row per
//! operation: its method name and what the layer passes and reads), or a row for one that is
//! gone, and a schema, property or operation the layer uses that is gone or changed type. The
//! last is known only from `OPERATIONS` and the tables below, which say what the layer uses.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::{
    codegen,
    json::{self, as_object},
};

/// Where the stand-ins for the spec's enum schemas are declared.
pub const MODELS_PATH: &str = "src/models/stand_ins.rs";

// What the hand-written layer uses of the generated code. When you make the layer use more
// (a field, a type, an operation), add its line here; `cargo xtask check` then guards it, and
// the tests check that each line holds for spec/ and that the file named mentions it.
//
// Types are written as spec/ has them: a schema's name (`JobStatus`, `Twin`), `string`,
// `boolean`, a format (`date-time`, `int32`, `int64`), `object` (free-form JSON), `{T}` (a map
// whose values are T) or `[T]` (a list of T).

/// Schemas the layer names, by re-exporting or building them: (schema, file).
pub const TYPES_USED: &[(&str, &str)] = &[
    ("JobResponse", "src/models/mod.rs"),
    ("JobRequest", "src/areas/scheduled_jobs/requests.rs"),
    ("CloudToDeviceMethod", "src/models/mod.rs"),
    ("Twin", "src/models/mod.rs"),
    ("TwinProperties", "src/models/mod.rs"),
    ("DeviceJobStatistics", "src/models/mod.rs"),
    ("DeviceCapabilities", "src/models/mod.rs"),
    ("X509Thumbprint", "src/models/mod.rs"),
    ("JobProperties", "src/models/mod.rs"),
    ("ManagedIdentity", "src/models/mod.rs"),
    ("DeviceJob", "src/models/mod.rs"),
    ("DeviceJobOutcome", "src/models/mod.rs"),
    ("DeviceMethodResponse", "src/models/mod.rs"),
    ("DeviceJobError", "src/models/mod.rs"),
    ("QuerySpecification", "src/areas/devices.rs"),
];

/// Properties the layer reads or sets, with the type it expects: (schema, property, type,
/// file). The layer expects each to be optional (an `Option` field).
///
/// rustc would refuse the layer too when one of these goes or changes type; each row is here
/// so that `import` says so first, naming the field, the file and the step, and refuses to
/// leave spec/ ahead of the layer, instead of an error inside generated code. The
/// `unlisted-fields-removed` variant (variants.rs) proves no row is missing; a row whose field
/// the layer stops using is one `the_tables_hold_for_spec_and_name_files_that_use_them` flags.
#[rustfmt::skip]
pub const FIELDS_USED: &[(&str, &str, &str, &str)] = &[
    ("JobResponse", "jobId", "string", "examples/schedule_and_cancel.rs"),
    ("JobResponse", "status", "JobStatus", "src/areas/scheduled_jobs/mod.rs"),
    ("JobResponse", "startTime", "date-time", "src/areas/scheduled_jobs/mod.rs"),
    ("JobResponse", "failureReason", "string", "src/areas/wait.rs"),
    ("JobResponse", "deviceJobStatistics", "DeviceJobStatistics", "examples/device_results.rs"),
    ("DeviceJobStatistics", "succeededCount", "int32", "examples/device_results.rs"),
    ("JobResponse", "type", "JobType", "src/areas/scheduled_jobs/requests.rs"),
    ("JobResponse", "queryCondition", "string", "src/areas/scheduled_jobs/requests.rs"),
    ("JobResponse", "maxExecutionTimeInSeconds", "int64", "src/areas/scheduled_jobs/requests.rs"),
    ("JobResponse", "updateTwin", "Twin", "src/areas/scheduled_jobs/requests.rs"),
    ("JobResponse", "cloudToDeviceMethod", "CloudToDeviceMethod", "src/areas/scheduled_jobs/requests.rs"),
    ("DeviceJob", "deviceId", "string", "src/fleet/outcome.rs"),
    ("DeviceJob", "status", "DeviceJobStatus", "src/fleet/outcome.rs"),
    ("DeviceJob", "jobType", "DeviceJobType", "src/fleet/outcome.rs"),
    ("DeviceJob", "outcome", "DeviceJobOutcome", "src/fleet/outcome.rs"),
    ("DeviceJob", "error", "DeviceJobError", "src/fleet/outcome.rs"),
    ("DeviceJobOutcome", "deviceMethodResponse", "DeviceMethodResponse", "src/fleet/outcome.rs"),
    ("DeviceMethodResponse", "status", "int32", "src/fleet/outcome.rs"),
    ("DeviceMethodResponse", "payload", "any", "src/fleet/outcome.rs"),
    ("DeviceJobError", "code", "string", "src/fleet/outcome.rs"),
    ("DeviceJobError", "description", "string", "src/fleet/outcome.rs"),
    ("JobRequest", "jobId", "string", "src/areas/scheduled_jobs/requests.rs"),
    ("JobRequest", "type", "JobType", "src/areas/scheduled_jobs/requests.rs"),
    ("JobRequest", "queryCondition", "string", "src/areas/scheduled_jobs/requests.rs"),
    ("JobRequest", "startTime", "date-time", "src/areas/scheduled_jobs/requests.rs"),
    ("JobRequest", "maxExecutionTimeInSeconds", "int64", "src/areas/scheduled_jobs/requests.rs"),
    ("JobRequest", "updateTwin", "Twin", "src/areas/scheduled_jobs/requests.rs"),
    ("JobRequest", "cloudToDeviceMethod", "CloudToDeviceMethod", "src/areas/scheduled_jobs/requests.rs"),
    ("Twin", "etag", "string", "src/areas/scheduled_jobs/requests.rs"),
    ("Twin", "tags", "{object}", "src/areas/scheduled_jobs/requests.rs"),
    ("Twin", "properties", "TwinProperties", "src/areas/scheduled_jobs/requests.rs"),
    ("TwinProperties", "desired", "{object}", "src/areas/scheduled_jobs/requests.rs"),
    ("CloudToDeviceMethod", "methodName", "string", "src/areas/scheduled_jobs/requests.rs"),
    ("CloudToDeviceMethod", "payload", "object", "src/areas/scheduled_jobs/requests.rs"),
    ("CloudToDeviceMethod", "connectTimeoutInSeconds", "int32", "src/areas/scheduled_jobs/requests.rs"),
    ("CloudToDeviceMethod", "responseTimeoutInSeconds", "int32", "src/areas/scheduled_jobs/requests.rs"),
    ("JobProperties", "type", "JobType", "src/areas/import_export/requests.rs"),
    ("JobProperties", "inputBlobContainerUri", "BlobContainerUri", "src/areas/import_export/requests.rs"),
    ("JobProperties", "inputBlobName", "string", "src/areas/import_export/requests.rs"),
    ("JobProperties", "outputBlobContainerUri", "BlobContainerUri", "src/areas/import_export/requests.rs"),
    ("JobProperties", "outputBlobName", "string", "src/areas/import_export/requests.rs"),
    ("JobProperties", "excludeKeysInExport", "boolean", "src/areas/import_export/requests.rs"),
    ("JobProperties", "includeConfigurations", "boolean", "src/areas/import_export/requests.rs"),
    ("JobProperties", "configurationsBlobName", "string", "src/areas/import_export/requests.rs"),
    ("JobProperties", "storageAuthenticationType", "StorageAuthenticationType", "src/areas/import_export/requests.rs"),
    ("JobProperties", "identity", "ManagedIdentity", "src/areas/import_export/requests.rs"),
    ("JobProperties", "status", "JobStatus", "src/areas/wait.rs"),
    ("JobProperties", "failureReason", "string", "src/areas/wait.rs"),
    ("JobProperties", "jobId", "string", "examples/export_devices.rs"),
    ("JobProperties", "progress", "int32", "examples/export_devices.rs"),
    ("ManagedIdentity", "userAssignedIdentity", "string", "src/areas/import_export/requests.rs"),
    ("QuerySpecification", "query", "string", "src/areas/devices.rs"),
];

/// One item of the checklist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The crate does not build until this is done.
    pub blocking: bool,
    pub text: String,
}

impl Finding {
    pub fn blocking(text: String) -> Self {
        Self {
            blocking: true,
            text,
        }
    }

    fn to_do(text: String) -> Self {
        Self {
            blocking: false,
            text,
        }
    }
}

/// The checklist as the commands print it: what blocks the build first.
pub fn checklist(findings: &[Finding]) -> String {
    let mut text = String::new();
    for (blocking, heading) in [
        (
            true,
            "the hand-written layer must change before the crate builds:",
        ),
        (false, "to do (the crate builds, but lags spec/):"),
    ] {
        let items: Vec<&Finding> = findings.iter().filter(|f| f.blocking == blocking).collect();
        if items.is_empty() {
            continue;
        }
        text.push_str(heading);
        for item in items {
            text.push_str("\n  [ ] ");
            text.push_str(&item.text.replace('\n', "\n      "));
        }
        text.push('\n');
    }
    text
}

/// Everything the layer needs that spec/ (`spec`, and the same document as the generator reads
/// it) does not give it, with src/models/stand_ins.rs's text.
pub fn review(spec: &Value, openapi: &openapiv3::OpenAPI, models_rs: &str) -> Vec<Finding> {
    let mut findings = enum_stand_ins(spec, openapi, models_rs);
    findings.extend(method_names(spec));
    findings.extend(uses(spec));
    findings
}

/// Every enum schema the generator replaces must have its stand-in in src/models/stand_ins.rs.
fn enum_stand_ins(spec: &Value, openapi: &openapiv3::OpenAPI, models_rs: &str) -> Vec<Finding> {
    let declared = match stand_ins(models_rs) {
        Ok(declared) => declared,
        Err(problem) => {
            return vec![Finding::blocking(format!(
                "{MODELS_PATH}: cannot read its extensible_enum! declarations: {problem}"
            ))];
        }
    };
    let schemas = &spec["components"]["schemas"];
    let mut findings = Vec::new();
    for name in codegen::enum_schemas(openapi) {
        let values: Vec<String> = schemas[name]["enum"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        match declared.get(name) {
            None => findings.push(Finding::blocking(format!(
                "enum schema `{name}` (values {}) has no stand-in in {MODELS_PATH}; add:\n{}\n\
                 (to give it a better name, name it in ENUM_NAMES in xtask/src/import/deviations.rs and import again)",
                values.join(", "),
                declaration(name, &values, spec)
            ))),
            Some(known) if *known != values => {
                let missing: Vec<&String> = values.iter().filter(|v| !known.contains(v)).collect();
                findings.push(Finding::to_do(if missing.is_empty() {
                    format!(
                        "`{name}` in {MODELS_PATH} lists {} where spec/ lists {}: make them agree",
                        known.join(", "),
                        values.join(", ")
                    )
                } else {
                    format!(
                        "`{name}` in {MODELS_PATH} lacks {} (read as `{name}::UnknownValue` until \
                         then); add, in spec/'s order ({}):\n{}",
                        missing.iter().map(|v| format!("`{v}`")).collect::<Vec<_>>().join(", "),
                        values.join(", "),
                        missing.iter().map(|v| variant(v)).collect::<Vec<_>>().join("\n")
                    )
                }));
            }
            Some(_) => {}
        }
    }
    findings
}

/// The extensible enums src/models/stand_ins.rs declares: name → wire values, in order.
fn stand_ins(models_rs: &str) -> syn::Result<BTreeMap<String, Vec<String>>> {
    fn stand_in(input: syn::parse::ParseStream) -> syn::Result<(String, Vec<String>)> {
        input.call(syn::Attribute::parse_outer)?;
        let name: syn::Ident = input.parse()?;
        let variants;
        syn::braced!(variants in input);
        let mut values = Vec::new();
        while !variants.is_empty() {
            variants.call(syn::Attribute::parse_outer)?;
            variants.parse::<syn::Ident>()?;
            variants.parse::<syn::Token![=]>()?;
            values.push(variants.parse::<syn::LitStr>()?.value());
            variants.parse::<syn::Token![,]>()?;
        }
        Ok((name.to_string(), values))
    }
    syn::parse_file(models_rs)?
        .items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Macro(m) if m.mac.path.is_ident("extensible_enum") => Some(&m.mac),
            _ => None,
        })
        .map(|mac| mac.parse_body_with(stand_in))
        .collect()
}

/// The `extensible_enum!` to paste for enum schema `name`, documented with the properties
/// that use it.
fn declaration(name: &str, values: &[String], spec: &Value) -> String {
    let mut users = Vec::new();
    let mut description = None;
    for (owner, schema) in as_object(&spec["components"]["schemas"]) {
        for (property, value) in as_object(&schema["properties"]) {
            if json::single_reference(value) == Some(name) {
                users.push(format!("`{owner}.{property}`"));
                description = description.or(value["description"].as_str());
            }
        }
    }
    let about = description.map_or(String::new(), |d| {
        format!("{} ", d.trim().trim_end_matches('.'))
    });
    let variants: String = values
        .iter()
        .flat_map(|v| {
            variant(v)
                .lines()
                .map(|line| format!("        {line}\n"))
                .collect::<Vec<_>>()
        })
        .collect();
    format!(
        "extensible_enum! {{\n    /// {about}({}).\n    {name} {{\n{variants}    }}\n}}",
        users.join(", "),
    )
}

/// A variant of a stand-in and its doc line.
fn variant(value: &str) -> String {
    let mut ident: String = value
        .split(|c: char| !c.is_ascii_alphanumeric())
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect();
    if !ident.starts_with(|c: char| c.is_ascii_alphabetic()) {
        ident.insert(0, 'V');
    }
    format!("/// `{value}`\n{ident} = {value:?},")
}

/// Every field of a generated model is an `Option`: the crate promises that `null` from the
/// service reads as absent, and a field that is not one fails the whole response on `null`.
/// (typify makes maps and lists plain fields with a default; spec/codegen.rs converts the
/// shapes spec/ has so that they are wrapped.)
pub fn fields_that_reject_null(generated: &syn::File) -> Vec<Finding> {
    let models = generated.items.iter().find_map(|item| match item {
        syn::Item::Mod(m) if m.ident == "types" => m.content.as_ref(),
        _ => None,
    });
    let structs = models
        .into_iter()
        .flat_map(|(_, items)| items)
        .filter_map(|item| match item {
            syn::Item::Struct(s) => Some(s),
            _ => None,
        });
    let mut findings = Vec::new();
    for model in structs {
        for field in &model.fields {
            let is_option = matches!(&field.ty, syn::Type::Path(p)
                if p.path.segments.last().is_some_and(|s| s.ident == "Option"));
            if let (false, Some(name)) = (is_option, &field.ident) {
                findings.push(Finding::to_do(format!(
                    "`{}::{name}` is generated as a field that is not an `Option`, so a `null` from \
                     the service would fail the whole response: in spec/codegen.rs, add a \
                     conversion for its schema's shape (as for maps of objects), which wraps it \
                     in an `Option`; see spec/generated.rs",
                    model.ident
                )));
            }
        }
    }
    findings
}

/// Every operation needs a stable method name, and every name an operation.
fn method_names(spec: &Value) -> Vec<Finding> {
    let operations: BTreeSet<String> = json::operations_of(spec)
        .iter()
        .map(ToString::to_string)
        .collect();
    let named: BTreeSet<String> = codegen::OPERATIONS
        .iter()
        .map(|row| format!("{} {}", row.method, row.path))
        .collect();
    let mut findings = Vec::new();
    for operation in operations.difference(&named) {
        let (method, path) = operation.split_once(' ').expect("`<METHOD> <path>`");
        let operation_id = spec["paths"][path][method.to_ascii_lowercase()]["operationId"]
            .as_str()
            .unwrap_or("(none)");
        findings.push(Finding::blocking(format!(
            "{operation} (operationId {operation_id}) has no stable method name: add its row \
             (method \"{method}\", path \"{path}\", name, parameters, answer, caller) to \
             OPERATIONS in spec/codegen.rs, and a method on JobsClient that calls it"
        )));
    }
    for row in codegen::OPERATIONS {
        let operation = format!("{} {}", row.method, row.path);
        if !operations.contains(&operation) {
            findings.push(Finding::blocking(format!(
                "spec/ no longer has {operation}, named `{}` in OPERATIONS in spec/codegen.rs, \
                 which {} calls: stop calling it and remove its row, or import with \
                 `--operations` including it",
                row.name, row.caller
            )));
        }
    }
    findings
}

/// Every schema, property and operation the tables list must be in spec/, with the type the
/// layer expects.
fn uses(spec: &Value) -> Vec<Finding> {
    let schemas = &spec["components"]["schemas"];
    let mut findings = Vec::new();
    let mut gone = BTreeSet::new();
    for (schema, file) in TYPES_USED {
        if schemas.get(schema).is_none() {
            gone.insert(*schema);
            findings.push(Finding::blocking(format!(
                "schema `{schema}` is gone from spec/, but {file} names it: change the layer, \
                 then its line in TYPES_USED in xtask/src/layer.rs"
            )));
        }
    }
    for (schema, property, expected, file) in FIELDS_USED {
        if gone.contains(schema) {
            continue;
        }
        let Some(value) = schemas[schema]["properties"].get(property) else {
            findings.push(Finding::blocking(format!(
                "`{schema}.{property}` is gone from spec/, but {file} uses it: change the layer \
                 there, then remove its line from FIELDS_USED in xtask/src/layer.rs"
            )));
            continue;
        };
        let required = schemas[schema]["required"]
            .as_array()
            .is_some_and(|r| r.iter().any(|p| p == property));
        let found = type_name(value);
        if found != *expected || required {
            let now = if required {
                format!("a required {found} (no longer an `Option`)")
            } else {
                found
            };
            findings.push(Finding::blocking(format!(
                "`{schema}.{property}` is {now} in spec/, but {file} uses it as an optional \
                 {expected}: change the layer there, then its line in FIELDS_USED in \
                 xtask/src/layer.rs"
            )));
        }
    }
    for row in codegen::OPERATIONS {
        let (method, path, file) = (row.method, row.path, row.caller);
        let operation = format!("{method} {path}");
        // A missing operation is reported with its method name, above.
        let Some(found) = spec["paths"][path].get(method.to_ascii_lowercase()) else {
            continue;
        };
        let parameters = parameters(spec, &spec["paths"][path], found);
        let expected: BTreeSet<String> = row.parameters.iter().map(|p| p.to_string()).collect();
        let added: Vec<&String> = parameters.difference(&expected).collect();
        let removed: Vec<&String> = expected.difference(&parameters).collect();
        if !added.is_empty() || !removed.is_empty() {
            findings.push(Finding::blocking(format!(
                "{operation}'s parameters changed (new: {}; gone: {}), and {file} passes them \
                 positionally to its generated method: change the call, then its row in \
                 OPERATIONS in spec/codegen.rs",
                listed(&added),
                listed(&removed)
            )));
        }
        let body = as_object(&found["responses"]["200"]["content"])
            .values()
            .next()
            .map_or("nothing".to_owned(), |media| type_name(&media["schema"]));
        if body != row.answer {
            findings.push(Finding::blocking(format!(
                "{operation} answers 200 with {body} in spec/, but {file} reads {}: change the \
                 layer there, then its row in OPERATIONS in spec/codegen.rs",
                row.answer
            )));
        }
    }
    findings
}

fn listed(items: &[&String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items
            .iter()
            .map(|i| format!("`{i}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// An operation's parameters, path-level ones included, in the notation of
/// [`codegen::Operation::parameters`].
fn parameters(spec: &Value, path_item: &Value, operation: &Value) -> BTreeSet<String> {
    let inherited = path_item["parameters"].as_array().into_iter().flatten();
    let own = operation["parameters"].as_array().into_iter().flatten();
    let mut found: BTreeSet<String> = inherited
        .chain(own)
        .map(|parameter| {
            let parameter = match parameter["$ref"].as_str() {
                Some(reference) => {
                    let name = reference.rsplit_once('/').map_or(reference, |(_, n)| n);
                    &spec["components"]["parameters"][name]
                }
                None => parameter,
            };
            format!(
                "{} {}{}: {}",
                parameter["in"].as_str().unwrap_or("?"),
                parameter["name"].as_str().unwrap_or("?"),
                optional(parameter),
                type_name(&parameter["schema"])
            )
        })
        .collect();
    if let Some(body) = operation.get("requestBody") {
        let schema = as_object(&body["content"])
            .values()
            .next()
            .map_or(&Value::Null, |media| &media["schema"]);
        found.insert(format!("body{}: {}", optional(body), type_name(schema)));
    }
    found
}

fn optional(parameter_or_body: &Value) -> &'static str {
    if parameter_or_body["required"] == true {
        ""
    } else {
        "?"
    }
}

/// A schema's type in the notation of the tables.
fn type_name(schema: &Value) -> String {
    if let Some(name) = json::single_reference(schema) {
        return name.to_owned();
    }
    match schema["type"].as_str() {
        Some("array") => format!("[{}]", type_name(&schema["items"])),
        Some("object") => match schema.get("additionalProperties") {
            Some(values @ Value::Object(_)) => format!("{{{}}}", type_name(values)),
            Some(Value::Bool(true)) => "{any}".to_owned(),
            _ => "object".to_owned(),
        },
        Some(kind) => schema["format"].as_str().unwrap_or(kind).to_owned(),
        None => "any".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::workspace_root;

    fn committed(relative: &str) -> String {
        std::fs::read_to_string(workspace_root().join(relative)).unwrap()
    }

    /// The checklist for the committed spec/ changed by `edit`, with src/models/stand_ins.rs as `models`.
    fn review_edited(edit: impl FnOnce(&mut Value), models: &str) -> Vec<Finding> {
        let mut spec: Value = serde_json::from_str(&committed(codegen::SPEC_PATH)).unwrap();
        edit(&mut spec);
        let openapi = serde_json::from_value(spec.clone()).unwrap();
        review(&spec, &openapi, models)
    }

    fn texts(findings: &[Finding], blocking: bool) -> Vec<&str> {
        findings
            .iter()
            .filter(|f| f.blocking == blocking)
            .map(|f| f.text.as_str())
            .collect()
    }

    /// The tables are honest in one direction here: what they list is in spec/, and each file
    /// named mentions it. (The other direction, that the layer uses nothing they leave out, is
    /// the `unlisted-fields-removed` variant in variants.rs.)
    #[test]
    fn the_tables_hold_for_spec_and_name_files_that_use_them() {
        let findings = review_edited(|_| {}, &committed(MODELS_PATH));
        assert!(findings.is_empty(), "{findings:#?}");
        let mentions = |file: &str, name: &str| {
            assert!(
                committed(file).contains(name),
                "{file} does not mention `{name}`: is the table line stale?"
            )
        };
        for (schema, file) in TYPES_USED {
            mentions(file, schema);
        }
        for (_, property, _, file) in FIELDS_USED {
            let snake: String = property
                .chars()
                .flat_map(|c| match c.is_ascii_uppercase() {
                    true => vec!['_', c.to_ascii_lowercase()],
                    false => vec![c],
                })
                .collect();
            mentions(file, &snake);
        }
        for row in codegen::OPERATIONS {
            mentions(row.caller, row.name);
        }
    }

    #[test]
    fn a_new_enum_schema_names_its_values_and_the_declaration_to_add() {
        let add_priority = |spec: &mut Value| {
            spec["components"]["schemas"]["JobPriority"] =
                json!({"type": "string", "enum": ["low", "high-ish", "2x"]});
            spec["components"]["schemas"]["JobResponse"]["properties"]["priority"] = json!({"allOf": [{"$ref": "#/components/schemas/JobPriority"}], "description": "How urgent."});
        };
        let findings = review_edited(add_priority, &committed(MODELS_PATH));
        let [text] = texts(&findings, true)[..] else {
            panic!("{findings:#?}")
        };
        assert!(
            text.starts_with(
                "enum schema `JobPriority` (values low, high-ish, 2x) has no stand-in in src/models/stand_ins.rs; add:\n\
                 extensible_enum! {\n    /// How urgent (`JobResponse.priority`).\n    JobPriority {\n\
                 \x20       /// `low`\n        Low = \"low\",\n\
                 \x20       /// `high-ish`\n        HighIsh = \"high-ish\",\n\
                 \x20       /// `2x`\n        V2x = \"2x\",\n    }\n}\n"
            ),
            "{text}"
        );
        // Pasting the declaration is all it takes.
        let declaration = text
            .split_once("add:\n")
            .unwrap()
            .1
            .split_once("\n(")
            .unwrap()
            .0;
        let models = format!("{}\n{declaration}\n", committed(MODELS_PATH));
        let findings = review_edited(add_priority, &models);
        assert!(findings.is_empty(), "{findings:#?}");
    }

    #[test]
    fn a_new_enum_value_is_a_to_do_that_does_not_block() {
        let findings = review_edited(
            |spec| {
                spec["components"]["schemas"]["JobStatus"]["enum"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!("cancelling"))
            },
            &committed(MODELS_PATH),
        );
        assert!(texts(&findings, true).is_empty(), "{findings:#?}");
        let [text] = texts(&findings, false)[..] else {
            panic!("{findings:#?}")
        };
        assert!(
            text.contains("`JobStatus` in src/models/stand_ins.rs lacks `cancelling`")
                && text.ends_with("/// `cancelling`\nCancelling = \"cancelling\","),
            "{text}"
        );
    }

    #[test]
    fn a_generated_field_that_would_reject_null_is_named() {
        let generate = |spec: &Value| {
            let tokens = codegen::generate_from(serde_json::from_value(spec.clone()).unwrap());
            fields_that_reject_null(&syn::parse2(tokens.unwrap()).unwrap())
        };
        let mut spec: Value = serde_json::from_str(&committed(codegen::SPEC_PATH)).unwrap();
        assert!(generate(&spec).is_empty());
        spec["components"]["schemas"]["Twin"]["properties"]["attributes"] =
            json!({"type": "object", "additionalProperties": {"type": "string"}});
        let findings = generate(&spec);
        let [text] = texts(&findings, false)[..] else {
            panic!("{findings:#?}")
        };
        assert!(
            text.starts_with("`Twin::attributes` is generated as a field that is not an `Option`"),
            "{text}"
        );
    }

    #[test]
    fn every_operation_needs_a_method_name_and_every_name_an_operation() {
        let findings = review_edited(
            |spec| {
                let paths = spec["paths"].as_object_mut().unwrap();
                paths.remove("/jobs/v2/{id}/cancel");
                paths.insert(
                    "/statistics/service".into(),
                    json!({"get": {"operationId": "Statistics_GetServiceStatistics", "responses": {}}}),
                );
            },
            &committed(MODELS_PATH),
        );
        let blocking = texts(&findings, true);
        assert_eq!(blocking.len(), 2, "{findings:#?}");
        assert!(blocking[0].starts_with(
            "GET /statistics/service (operationId Statistics_GetServiceStatistics) has no stable method name: add its row (method \"GET\", path \"/statistics/service\""
        ));
        assert!(blocking[1].starts_with(
            "spec/ no longer has POST /jobs/v2/{id}/cancel, named `cancel_job` in OPERATIONS in spec/codegen.rs, which src/areas/scheduled_jobs/mod.rs calls"
        ));
    }

    #[test]
    fn what_the_layer_uses_is_named_when_it_goes_or_changes() {
        let findings = review_edited(
            |spec| {
                let schemas = &mut spec["components"]["schemas"];
                schemas.as_object_mut().unwrap().remove("X509Thumbprint");
                let twin = &mut schemas["Twin"];
                twin["properties"].as_object_mut().unwrap().remove("etag");
                twin["required"] = json!(["tags"]);
                schemas["CloudToDeviceMethod"]["properties"]["payload"] = json!({"type": "string"});
                let query = &mut spec["paths"]["/jobs/v2/query"]["get"];
                query["parameters"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "top", "in": "query", "schema": {"type": "integer", "format": "int32"}}));
                spec["paths"]["/jobs/v2/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
                    ["schema"] = json!({"type": "object"});
            },
            &committed(MODELS_PATH),
        );
        let blocking = texts(&findings, true);
        for expected in [
            "schema `X509Thumbprint` is gone from spec/, but src/models/mod.rs names it",
            "`Twin.etag` is gone from spec/, but src/areas/scheduled_jobs/requests.rs uses it",
            "`Twin.tags` is a required {object} (no longer an `Option`) in spec/, but src/areas/scheduled_jobs/requests.rs uses it as an optional {object}",
            "`CloudToDeviceMethod.payload` is string in spec/, but src/areas/scheduled_jobs/requests.rs uses it as an optional object",
            "GET /jobs/v2/query's parameters changed (new: `query top?: int32`; gone: none), and src/areas/scheduled_jobs/mod.rs passes them positionally",
            "GET /jobs/v2/{id} answers 200 with object in spec/, but src/areas/scheduled_jobs/mod.rs reads JobResponse",
        ] {
            assert!(
                blocking.iter().any(|t| t.starts_with(expected)),
                "no finding starts with {expected:?}: {blocking:#?}"
            );
        }
        assert_eq!(blocking.len(), 6, "{blocking:#?}");
    }
}
