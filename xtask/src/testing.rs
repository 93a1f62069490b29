//! Throwaway copies of the workspace for tests that run the workflow on them, and the
//! upstream document they start from, rebuilt from spec/.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::{project::Project, workspace_root};

/// A throwaway copy of (parts of) the workspace, removed when dropped.
pub struct Scratch(pub Project);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0.root);
    }
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

pub fn scratch(name: &str, items: &[&str]) -> Scratch {
    let root =
        std::env::temp_dir().join(format!("iothub-jobs-xtask-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let source = workspace_root();
    for item in items {
        let (from, to) = (source.join(item), root.join(item));
        if from.is_dir() {
            copy_tree(&from, &to);
        } else {
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&from, &to).unwrap();
        }
    }
    Scratch(Project { root })
}

pub fn write_fixture(project: &Project, name: &str, doc: &Value) -> PathBuf {
    let path = project.path(name);
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}

/// spec/ written back as the Swagger 2.0 document it was imported from: the inverse of
/// the importer, deviations included, so tests can feed the importer realistic input
/// without the upstream file.
pub fn as_swagger_2(spec: &Value) -> Value {
    let text = spec
        .to_string()
        .replace("#/components/schemas/", "#/definitions/")
        .replace("#/components/parameters/", "#/parameters/");
    let spec: Value = serde_json::from_str(&text).unwrap();
    let flatten = |parameter: &Value| {
        let mut flat = parameter.as_object().unwrap().clone();
        if let Some(Value::Object(schema)) = flat.remove("schema") {
            flat.extend(schema);
        }
        Value::Object(flat)
    };
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    let is_enum = |name: &str| schemas[name].get("enum").is_some();
    let mut definitions = serde_json::Map::new();
    for (name, schema) in schemas.iter().filter(|(name, _)| !is_enum(name)) {
        let mut schema = schema.clone();
        for property in schema["properties"]
            .as_object_mut()
            .into_iter()
            .flat_map(|p| p.values_mut())
        {
            let Some(all_of) = property.as_object_mut().unwrap().remove("allOf") else {
                continue;
            };
            let target = all_of[0]["$ref"]
                .as_str()
                .unwrap()
                .trim_start_matches("#/definitions/")
                .to_owned();
            let object = property.as_object_mut().unwrap();
            if is_enum(&target) {
                object.extend(schemas[&target].as_object().unwrap().clone());
            } else {
                object.insert("$ref".into(), json!(format!("#/definitions/{target}")));
            }
        }
        definitions.insert(name.clone(), schema);
    }
    let mut paths = serde_json::Map::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        let mut converted = serde_json::Map::new();
        for (method, operation) in item.as_object().unwrap() {
            let mut operation = operation.clone();
            operation["parameters"] = operation["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .map(flatten)
                .collect();
            for response in operation["responses"].as_object_mut().unwrap().values_mut() {
                if let Some(content) = response.as_object_mut().unwrap().remove("content") {
                    response["schema"] = content["application/json"]["schema"].clone();
                }
                if let Some(headers) = response.get_mut("headers").and_then(Value::as_object_mut) {
                    for header in headers.values_mut() {
                        *header = flatten(header);
                    }
                }
            }
            if let Some(body) = operation.as_object_mut().unwrap().remove("requestBody") {
                let mut parameter = json!({
                    "name": "body",
                    "in": "body",
                    "schema": body["content"]["application/json"]["schema"],
                });
                for field in ["description", "required"] {
                    if let Some(value) = body.get(field) {
                        parameter[field] = value.clone();
                    }
                }
                operation["parameters"]
                    .as_array_mut()
                    .unwrap()
                    .push(parameter);
                operation["consumes"] = json!(["application/json"]);
            }
            operation["produces"] = json!(["application/json"]);
            converted.insert(method.clone(), operation);
        }
        paths.insert(path.clone(), Value::Object(converted));
    }
    // Deviation 2 undone: upstream's unpaged QueryResult answer.
    if let Some(query) = paths.get_mut("/jobs/v2/query") {
        let query = &mut query["get"];
        query["parameters"]
            .as_array_mut()
            .unwrap()
            .retain(|p| p["in"] != "header");
        let ok = query["responses"]["200"].as_object_mut().unwrap();
        ok.remove("headers");
        ok["schema"] = json!({"$ref": "#/definitions/QueryResult"});
        definitions.insert(
            "QueryResult".into(),
            json!({"type": "object", "properties": {
                "items": {"type": "array", "items": {"type": "object"}},
                "continuationToken": {"type": "string"}}}),
        );
    }
    // Deviation 3 undone: the container URIs are plain strings.
    if let Some(job) = definitions.get_mut("JobProperties") {
        for property in ["inputBlobContainerUri", "outputBlobContainerUri"] {
            let uri = job["properties"][property].as_object_mut().unwrap();
            uri.remove("$ref");
            uri.insert("type".into(), json!("string"));
        }
        definitions.remove(crate::codegen::CONTAINER_URI_SCHEMA);
    }
    // Deviation 5 undone: upstream's twin query answers twins, and no row schemas.
    if let Some(query) = paths
        .get_mut("/devices/query")
        .and_then(|item| item.get_mut("post"))
    {
        query["responses"]["200"]["schema"] =
            json!({"type": "array", "items": {"$ref": "#/definitions/Twin"}});
        for name in crate::import::device_job_schemas().keys() {
            definitions.remove(name);
        }
    }
    // Deviation 4 undone: upstream's 200 with an undescribed object.
    if let Some(cancel) = paths
        .get_mut("/jobs/{id}")
        .and_then(|item| item.get_mut("delete"))
    {
        cancel["responses"]["200"]["schema"] = json!({"type": "object"});
    }
    json!({
        "swagger": "2.0",
        "info": spec["info"],
        "host": spec["servers"][0]["url"].as_str().unwrap().trim_start_matches("https://"),
        "schemes": ["https"],
        "parameters": spec["components"]["parameters"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), flatten(v))).collect::<serde_json::Map<_, _>>(),
        "paths": paths,
        "definitions": definitions,
    })
}
