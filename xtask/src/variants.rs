//! The regenerate workflow on variants of the upstream document, each met as a maintainer
//! meets a new upstream version: `cargo xtask diff` first, then `import` and its
//! checklist, then the build. A variant either leaves spec/ written and the crate building,
//! or the xtask refuses it with its own message, never with a rustc error.
//!
//! What "building" covers: a variant `diff` rates additive or docs-only must leave everything
//! that uses the public API compiling, the library, examples and tests (`cargo check --lib
//! --examples --tests`, the `tests/` package included); a breaking one the xtask accepts (a
//! field the layer does not use is gone) must leave the library and examples compiling, while
//! code that read that field, tests included, is what `major` warns about. Every build shares one
//! target dir (`target/variants`), so each is incremental.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::{
    codegen, diff, import,
    json::{self, to_canonical_string},
    layer::{self, Finding},
    project::Project,
    testing::{as_swagger_2, scratch, write_fixture},
    workspace_root,
};

/// The document the variants are made from: spec/ written back as the Swagger 2.0 document it
/// was imported from, so the test needs nothing outside the repository. (That this is what
/// upstream publishes is `cargo xtask check --upstream`'s job, in CI.)
const REFERENCE: &str = "spec/ as Swagger 2.0";

/// Which targets must compile.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Scope {
    /// The library, examples and tests: nothing that uses the public API breaks.
    Everything,
    /// The library and examples: the API broke, as `diff` says, but the crate still builds.
    LibraryAndExamples,
}

enum Outcome {
    /// spec/ comes out byte for byte as importing the reference writes it: nothing to build.
    Unchanged,
    /// Imported with these to-dos and nothing blocking; then `scope` compiles.
    Builds {
        to_do: &'static [&'static str],
        scope: Scope,
    },
    /// Imported, but the checklist blocks, with items starting with these.
    Refused(&'static [&'static str]),
    /// As `Refused` with this one item, a missing enum stand-in; pasting the declaration it
    /// gives makes everything build.
    RefusedUntilStandIn(&'static str),
    /// `import` fails with a message holding these.
    ImportFails(&'static [&'static str]),
}

struct Variant {
    name: &'static str,
    /// Makes the variant from the reference document.
    edit: fn(&mut Value),
    /// What `cargo xtask diff spec/… <variant>` finds.
    diff: Diff,
    semver: &'static str,
    outcome: Outcome,
}

enum Diff {
    /// These changes (the start of what each says), in order.
    Exactly(&'static [&'static str]),
    /// Some breaking changes, each a removal.
    Removals,
}

fn variants() -> Vec<Variant> {
    vec![
        Variant {
            // As in 2019-06-30 and 2019-07-01-preview: deviation 2 has nothing to copy from.
            name: "twin-query-without-paging",
            edit: |doc| {
                let query = &mut doc["paths"]["/devices/query"]["post"];
                query["parameters"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|p| p["in"] != "header");
                query["responses"]["200"] =
                    json!({"description": "OK.", "schema": {"$ref": "#/definitions/QueryResult"}});
            },
            diff: Diff::Exactly(&[]),
            semver: "patch",
            outcome: Outcome::Unchanged,
        },
        Variant {
            name: "jobs-query-paged-upstream",
            edit: |doc| {
                let ok = &mut doc["paths"]["/jobs/v2/query"]["get"]["responses"]["200"];
                ok["schema"] =
                    json!({"type": "array", "items": {"$ref": "#/definitions/JobResponse"}});
            },
            diff: Diff::Exactly(&[
                "deviation 2 (the jobs query pages like the twin query) cannot be applied: GET /jobs/v2/query answers 200 with",
                "operation GET /jobs/v2/query: parameter header x-ms-continuation removed",
                "operation GET /jobs/v2/query: parameter header x-ms-max-item-count removed",
            ]),
            semver: "major",
            outcome: Outcome::ImportFails(&[
                "deviation 2 (the jobs query pages like the twin query) cannot be applied",
                "where upstream had a QueryResult object",
            ]),
        },
        Variant {
            name: "new-enum-value",
            // Upstream's copies of one service enum change together (a copy that did not
            // would be refused, the names of the two shown).
            edit: |doc| {
                for schema in ["JobResponse", "JobProperties"] {
                    push_enum_value(
                        &mut doc["definitions"][schema]["properties"]["status"],
                        "cancelling",
                    )
                }
            },
            diff: Diff::Exactly(&[
                "schema JobProperties: property status: enum value cancelling added",
                "schema JobResponse: property status: enum value cancelling added",
            ]),
            semver: "minor",
            outcome: Outcome::Builds {
                to_do: &["`JobStatus` in src/models/stand_ins.rs lacks `cancelling`"],
                scope: Scope::Everything,
            },
        },
        Variant {
            name: "new-enum-schema",
            edit: |doc| {
                doc["definitions"]["JobResponse"]["properties"]["storageAuthenticationType"] = json!({
                    "type": "string", "enum": ["keyBased", "identityBased"],
                    "description": "The authentication type used for connecting to the storage account."});
            },
            diff: Diff::Exactly(&[
                "schema JobResponse: property storageAuthenticationType added, optional",
            ]),
            semver: "minor",
            outcome: Outcome::RefusedUntilStandIn(
                "enum schema `JobResponseStorageAuthenticationType` (values keyBased, identityBased) has no stand-in in src/models/stand_ins.rs; add:\nextensible_enum! {",
            ),
        },
        Variant {
            // What api-version 2024-03-31 adds (xtask/README.md walks through this bump).
            name: "new-optional-field",
            edit: |doc| {
                doc["info"]["version"] = json!("2024-03-31");
                doc["parameters"]["api-version"]["default"] = json!("2024-03-31");
                doc["definitions"]["Twin"]["properties"]["attributes"] = json!({
                    "type": "object", "additionalProperties": {"type": "string"},
                    "description": "The device's attributes."});
            },
            diff: Diff::Exactly(&[
                "api-version 2021-04-12 → 2024-03-31",
                "schema Twin: property attributes added, optional",
            ]),
            semver: "minor",
            outcome: Outcome::Builds {
                to_do: &["`Twin::attributes` is generated as a field that is not an `Option`"],
                scope: Scope::Everything,
            },
        },
        Variant {
            // The 2019 name of the cancel operation.
            name: "operation-id-rename",
            edit: |doc| {
                doc["paths"]["/jobs/v2/{id}/cancel"]["post"]["operationId"] =
                    json!("Service_CancelJob")
            },
            diff: Diff::Exactly(&[
                "operation POST /jobs/v2/{id}/cancel: operationId Jobs_CancelScheduledJob → Service_CancelJob",
            ]),
            semver: "patch",
            outcome: Outcome::Builds {
                to_do: &[],
                scope: Scope::Everything,
            },
        },
        Variant {
            name: "removed-field",
            edit: |doc| {
                remove_property(doc, "JobResponse", "status");
            },
            diff: Diff::Exactly(&["schema JobResponse: property status removed"]),
            semver: "major",
            outcome: Outcome::Refused(&[
                "`JobResponse.status` is gone from spec/, but src/areas/scheduled_jobs/mod.rs uses it",
            ]),
        },
        Variant {
            name: "property-type-changed",
            edit: |doc| {
                doc["definitions"]["CloudToDeviceMethod"]["properties"]["responseTimeoutInSeconds"]
                    ["format"] = json!("int64")
            },
            diff: Diff::Exactly(&[
                "schema CloudToDeviceMethod: property responseTimeoutInSeconds: type integer (int32) → integer (int64)",
            ]),
            semver: "major",
            outcome: Outcome::Refused(&[
                "`CloudToDeviceMethod.responseTimeoutInSeconds` is int64 in spec/, but src/areas/scheduled_jobs/requests.rs uses it as an optional int32",
            ]),
        },
        Variant {
            // Every field the layer does not use is gone (as Twin.parentScopes is before
            // 2020-09-30): the build proves the tables in layer.rs miss nothing it uses.
            name: "unlisted-fields-removed",
            edit: remove_unlisted_fields,
            diff: Diff::Removals,
            semver: "major",
            outcome: Outcome::Builds {
                to_do: &[],
                scope: Scope::LibraryAndExamples,
            },
        },
    ]
}

fn push_enum_value(property: &mut Value, value: &str) {
    property["enum"].as_array_mut().unwrap().push(json!(value));
}

fn remove_property(doc: &mut Value, schema: &str, property: &str) {
    doc["definitions"][schema]["properties"]
        .as_object_mut()
        .unwrap()
        .remove(property);
}

/// Removes every property the tables in layer.rs do not list, except those that keep a
/// listed schema in use.
fn remove_unlisted_fields(doc: &mut Value) {
    let listed_type = |name: &str| layer::TYPES_USED.iter().any(|(t, _)| *t == name);
    for (schema, definition) in doc["definitions"].as_object_mut().unwrap() {
        if !listed_type(schema) {
            continue;
        }
        let Some(properties) = definition["properties"].as_object_mut() else {
            continue;
        };
        properties.retain(|property, value| {
            let listed = layer::FIELDS_USED
                .iter()
                .any(|(s, p, ..)| s == schema && p == property);
            listed || json::single_reference(value).is_some_and(listed_type)
        });
    }
}

/// The files a build of the crate needs.
const WORKSPACE: &[&str] = &[
    "Cargo.toml",
    "Cargo.lock",
    "build.rs",
    "spec",
    "src",
    "examples",
    "benches",
    "tests",
    "README.md",
    "CHANGELOG.md",
    "xtask/Cargo.toml",
    "xtask/src",
    "local-hub",
    "cli",
];

#[test]
fn every_variant_of_upstream_imports_and_builds_or_is_refused_with_a_checklist() {
    let scratch = scratch("variants", WORKSPACE);
    let project = &scratch.0;
    let reference = as_swagger_2(&project.spec().unwrap());
    let reference_bytes = serde_json::to_vec(&reference).unwrap();
    let operations = project.shipped_operations().unwrap();
    // Variants are compared with the reference as imported, not with spec/, so that this test
    // holds whatever api-version spec/ has moved to.
    let baseline = import::import(&reference_bytes, REFERENCE, &operations)
        .unwrap()
        .spec;
    let models = read(project, layer::MODELS_PATH);
    // Beside the workspace's own builds, wherever they are, so that each variant is incremental.
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
        .join("variants");
    let started = Instant::now();
    for variant in variants() {
        // Undoes a stand-in pasted for the variant before.
        std::fs::write(project.path(layer::MODELS_PATH), &models).unwrap();
        let mut doc = reference.clone();
        (variant.edit)(&mut doc);
        let name = variant.name;

        let changes = diff::diff(&baseline, &doc, &operations);
        let lines: Vec<String> = changes.iter().map(ToString::to_string).collect();
        match variant.diff {
            Diff::Exactly(expected) => {
                assert_eq!(lines.len(), expected.len(), "{name}: {lines:#?}");
                for (change, expected) in changes.iter().zip(expected) {
                    assert!(
                        change.what.starts_with(expected),
                        "{name}: {change} is not {expected:?}"
                    );
                }
            }
            Diff::Removals => assert!(
                !changes.is_empty()
                    && changes
                        .iter()
                        .all(|c| c.api == diff::Impact::Breaking && c.what.ends_with(" removed")),
                "{name}: {lines:#?}"
            ),
        }
        assert_eq!(
            diff::semver_step(&changes),
            variant.semver,
            "{name}: {lines:#?}"
        );

        let source = write_fixture(project, &format!("{name}.json"), &doc);
        let imported = project.import(&source, Some(operations.clone()));
        if let Outcome::ImportFails(expected) = variant.outcome {
            let error = imported.expect_err(name);
            assert!(
                expected.iter().all(|e| error.contains(e)),
                "{name}: {error}"
            );
            eprintln!("variant {name}: ok, import refused");
            continue;
        }
        imported.unwrap_or_else(|e| panic!("{name}: {e}"));
        let findings = project.review().unwrap();
        let built = match variant.outcome {
            Outcome::Unchanged => {
                assert!(findings.is_empty(), "{name}: {findings:#?}");
                assert_eq!(
                    read(project, codegen::SPEC_PATH),
                    to_canonical_string(&baseline),
                    "{name}"
                );
                None
            }
            Outcome::Builds { to_do, scope } => {
                assert!(
                    !findings.iter().any(|f| f.blocking),
                    "{name}: {findings:#?}"
                );
                assert_eq!(findings.len(), to_do.len(), "{name}: {findings:#?}");
                for (finding, expected) in findings.iter().zip(to_do) {
                    assert!(finding.text.starts_with(expected), "{name}: {finding:#?}");
                }
                Some(check_builds(project, &target_dir, scope, name))
            }
            Outcome::Refused(expected) => {
                assert_blocks(&findings, expected, name);
                None
            }
            Outcome::RefusedUntilStandIn(expected) => {
                assert_blocks(&findings, &[expected], name);
                let declaration = findings[0].text.split_once("add:\n").unwrap().1;
                let declaration = declaration.split_once("\n(").unwrap().0;
                let models = project.path(layer::MODELS_PATH);
                let with_it = format!("{}\n{declaration}\n", read(project, layer::MODELS_PATH));
                std::fs::write(models, with_it).unwrap();
                let findings = project.review().unwrap();
                assert!(
                    findings.is_empty(),
                    "{name}, with the stand-in: {findings:#?}"
                );
                Some(check_builds(project, &target_dir, Scope::Everything, name))
            }
            Outcome::ImportFails(_) => unreachable!("handled above"),
        };
        eprintln!(
            "variant {name}: ok{}",
            built.map_or(String::new(), |took| format!(
                ", built in {:.1} s",
                took.as_secs_f64()
            ))
        );
    }
    eprintln!("all variants: {:.1} s", started.elapsed().as_secs_f64());
}

fn assert_blocks(findings: &[Finding], expected: &[&str], name: &str) {
    let blocking: Vec<&Finding> = findings.iter().filter(|f| f.blocking).collect();
    assert_eq!(blocking.len(), expected.len(), "{name}: {findings:#?}");
    for (finding, expected) in blocking.iter().zip(expected) {
        assert!(finding.text.starts_with(expected), "{name}: {finding:#?}");
    }
}

fn read(project: &Project, relative: &str) -> String {
    std::fs::read_to_string(project.path(relative)).unwrap()
}

/// `cargo check`s `scope` in the scratch copy; how long it took.
fn check_builds(project: &Project, target_dir: &Path, scope: Scope, name: &str) -> Duration {
    let started = Instant::now();
    let mut command = Command::new(env!("CARGO"));
    command
        .args(["check", "--offline", "--quiet", "-p", "iothub-jobs"])
        .args(["--lib", "--examples"]);
    if scope == Scope::Everything {
        // The unit tests, and the integration tests in their own package.
        command.args(["-p", "iothub-jobs-tests", "--tests"]);
    }
    let output = command
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(&project.root)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{name}: {scope:?} does not build:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    started.elapsed()
}
