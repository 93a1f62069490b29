//! Schema parity: the JSON Schema of the public model (from `schemars`) against the schemas
//! in spec/ that responses use — the same properties, types, formats and enum values.
//!
//! The generated structs come from spec/ itself, so for them this holds by construction. What
//! it really checks is everything written by hand in their place: the extensible enums
//! (`src/models/stand_ins.rs`: a missing or misspelled value fails here), `Timestamp` and the other
//! stand-ins, and the conversions in `spec/codegen.rs` (a map, free-form object or array
//! turned into a type that cannot carry what spec/ allows fails here). That spec/ says what
//! upstream says is checked elsewhere: `cargo xtask check --upstream` and `cargo xtask diff`,
//! an independent reading of both documents, in CI.

use iothub_jobs::models::JobResponse;
use serde_json::{Value, json};

use crate::support;

/// A property's type reduced to what both sides must agree on.
fn shape(schema: &Value, definitions: &Value, reference_prefix: &str) -> Value {
    // schemars writes `Option<T>` as `anyOf: [T, null]` or `type: [T, "null"]`; absence and
    // `null` are the same to the model.
    if let Some(variants) = schema["anyOf"].as_array() {
        let non_null: Vec<&Value> = variants.iter().filter(|v| v["type"] != "null").collect();
        if let [only] = non_null.as_slice() {
            return shape(only, definitions, reference_prefix);
        }
    }
    let reference = schema["$ref"]
        .as_str()
        .or_else(|| schema["allOf"][0]["$ref"].as_str());
    if let Some(reference) = reference {
        let name = reference.trim_start_matches(reference_prefix);
        let target = &definitions[name];
        // Enums and scalars are compared by content, objects by name.
        return if target.get("properties").is_some() {
            json!({"object": name})
        } else {
            shape(target, definitions, reference_prefix)
        };
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds
            .iter()
            .find(|k| *k != "null")
            .cloned()
            .unwrap_or(Value::Null),
        other => other.clone(),
    };
    let mut shape = json!({ "type": kind });
    for keyword in ["format", "enum"] {
        if let Some(value) = schema.get(keyword) {
            shape[keyword] = value.clone();
        }
    }
    if kind == "array" {
        shape["items"] = self::shape(&schema["items"], definitions, reference_prefix);
    }
    if kind == "object" {
        // The model keeps any JSON in maps and free-form objects (real twins hold numbers and
        // strings where the spec says objects): it can carry everything spec/ allows there.
        shape["free-form"] = json!(schema.get("properties").is_none());
    }
    shape
}

/// `root` and every schema it refers to, directly or not. (Request bodies are built by the
/// job builders and checked against spec/ in `contract_requests.rs`.)
fn closure(schemas: &Value, root: &str) -> Vec<String> {
    let mut found = vec![root.to_owned()];
    let mut index = 0;
    while index < found.len() {
        let text = schemas[&found[index]].to_string();
        for (at, _) in text.match_indices("#/components/schemas/") {
            let name: String = text[at + "#/components/schemas/".len()..]
                .chars()
                .take_while(|c| *c != '"')
                .collect();
            if !found.contains(&name) {
                found.push(name);
            }
        }
        index += 1;
    }
    found
}

#[test]
fn the_public_model_carries_every_schema_property_of_spec() {
    let spec = support::spec();
    let spec_schemas = &spec["components"]["schemas"];
    let model = serde_json::to_value(schemars::schema_for!(JobResponse)).unwrap();
    let mut model_definitions = model["definitions"].clone();
    model_definitions["JobResponse"] = model.clone();

    let mut compared = 0;
    for name in closure(spec_schemas, "JobResponse") {
        let spec_schema = &spec_schemas[&name];
        let Some(spec_properties) = spec_schema["properties"].as_object() else {
            continue;
        };
        let model_schema = &model_definitions[&name];
        let model_properties = model_schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("the public model has no type for spec/'s schema {name}"));
        let (spec_names, model_names): (Vec<_>, Vec<_>) = (
            spec_properties.keys().collect(),
            model_properties.keys().collect(),
        );
        assert_eq!(
            model_names, spec_names,
            "{name}: the model's properties differ from spec/'s"
        );
        for (property, spec_property) in spec_properties {
            let expected = shape(spec_property, spec_schemas, "#/components/schemas/");
            let actual = shape(
                &model_properties[property],
                &model_definitions,
                "#/definitions/",
            );
            assert_eq!(actual, expected, "{name}.{property}");
            compared += 1;
        }
        let required = |schema: &Value| schema["required"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            required(model_schema),
            required(spec_schema),
            "{name}: required properties"
        );
    }
    assert!(compared > 0, "spec/ has object schemas to compare");
}
