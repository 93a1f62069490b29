//! The SDK's layers, held to the rule README's map states: imports run one way, the fleet
//! features over the service areas over the call path, and the call path knows no area, no
//! model, no fleet feature and not the client built on it. Read from the source, as text: a
//! `use` that breaks the rule fails here by file and name.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

/// The SDK's `src/`.
fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../src")
}

/// What each layer may not import, by the top-level module it lives in.
const FORBIDDEN: &[(&str, &[&str])] = &[
    ("call", &["areas", "fleet", "models", "client"]),
    ("areas", &["fleet"]),
];

/// `text` without its comments, so that doc links do not count as imports.
fn code(text: &str) -> String {
    text.lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules `lib.rs` re-exports each crate-root name from: `Error` → `call`.
fn root_names() -> BTreeMap<String, String> {
    let lib = code(&fs::read_to_string(src().join("lib.rs")).unwrap());
    let mut names = BTreeMap::new();
    for export in lib.split("pub use ").skip(1) {
        let export = &export[..export.find(';').unwrap()];
        let (module, rest) = export.split_once("::").unwrap();
        for name in rest.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            if name.chars().next().is_some_and(char::is_uppercase) || name == "auth" {
                names.insert(name.to_owned(), module.trim().to_owned());
            }
        }
    }
    names
}

/// The first segment of every path `code` reaches through `crate::`, grouped imports included.
fn crate_paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let mut item = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 || (depth == 1 && c == ',') {
                    found.push(item.trim().to_owned());
                    item.clear();
                    if depth == 0 {
                        break;
                    }
                } else if depth == 1 {
                    item.push(c);
                }
            }
        } else {
            found.push(rest.to_owned());
        }
    }
    found
        .into_iter()
        .filter_map(|path| {
            let first: String = path
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            (!first.is_empty()).then_some(first)
        })
        .collect()
}

fn rust_files(folder: &Path, files: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// Every import across layers that the rule forbids, as `file: name (layer)`.
fn broken_rules() -> Vec<String> {
    let names = root_names();
    let mut broken = Vec::new();
    for (layer, forbidden) in FORBIDDEN {
        let mut files = Vec::new();
        rust_files(&src().join(layer), &mut files);
        assert!(!files.is_empty(), "src/{layer} holds the {layer} layer");
        for file in files {
            let text = code(&fs::read_to_string(&file).unwrap());
            for first in crate_paths(&text) {
                let module = names.get(&first).unwrap_or(&first);
                if forbidden.contains(&module.as_str()) {
                    let shown = file.strip_prefix(src()).unwrap().display().to_string();
                    broken.push(format!("src/{shown}: {first} ({module})"));
                }
            }
        }
    }
    broken
}

#[test]
fn imports_run_one_way_fleet_then_areas_then_the_call_path() {
    let broken = broken_rules();
    assert!(broken.is_empty(), "imports against the layers: {broken:#?}");
}

#[test]
fn the_layer_check_reads_grouped_imports_and_root_names() {
    let names = root_names();
    assert_eq!(names["Error"], "call");
    assert_eq!(names["WaitOptions"], "areas");
    assert_eq!(names["Rollout"], "fleet");
    assert_eq!(names["JobsClient"], "client");
    let paths = crate_paths(
        "use crate::{Error, models::JobResponse, areas::wait::{self, Verdict}};\nlet x = crate::fleet::f();",
    );
    assert_eq!(paths, ["Error", "models", "areas", "fleet"]);
}

#[test]
fn src_shows_its_layers_at_the_top() {
    let mut entries: Vec<String> = fs::read_dir(src())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    entries.sort();
    for layer in ["areas", "call", "client", "fleet", "models", "lib.rs"] {
        assert!(
            entries.contains(&layer.to_owned()),
            "{layer} in {entries:?}"
        );
    }
}
