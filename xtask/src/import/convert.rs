//! The generic part of the import: Swagger 2.0 operations, parameters and schemas as OpenAPI
//! 3.0.3, knowing nothing of IoT Hub or of the deviations.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::json::{self, as_object};

/// Converts operations, gathering the shared parameters and definitions they use.
pub(super) struct Converter<'a> {
    pub doc: &'a Value,
    /// The shared parameters the converted operations use, converted.
    pub parameters: BTreeMap<String, Value>,
    /// The definitions the converted operations refer to.
    pub definitions: BTreeSet<String>,
}

impl Converter<'_> {
    /// `source`, an operation, as OpenAPI 3.0.3, with its path item's `path_parameters`.
    pub fn operation(
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
pub(super) fn schema(source: &Value) -> Value {
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
