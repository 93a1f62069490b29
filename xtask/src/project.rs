//! The files a bump touches and the checks that keep them in step.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{
    codegen,
    diff::{self, Change},
    import::{self, Imported},
    json::{self, Operation},
    layer::{self, Finding},
};

/// The provenance record written beside the spec by `import`.
pub const PROVENANCE_PATH: &str = "spec/provenance.json";
/// The reviewable copy of the generated client.
pub const REVIEW_COPY_PATH: &str = "spec/generated.rs";
/// Files whose prose names the api-version as `api-version=<version>`.
pub const VERSIONED_DOCS: &[&str] = &["README.md", "src/lib.rs"];
pub const CHANGELOG_PATH: &str = "CHANGELOG.md";

/// A checkout of the crate, rooted at the workspace root.
pub struct Project {
    pub root: PathBuf,
}

impl Project {
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    fn read(&self, relative: &str) -> Result<String, String> {
        std::fs::read_to_string(self.path(relative))
            .map_err(|e| format!("cannot read {relative}: {e}"))
    }

    fn write(&self, relative: &str, text: &str) -> Result<(), String> {
        std::fs::write(self.path(relative), text)
            .map_err(|e| format!("cannot write {relative}: {e}"))
    }

    pub fn spec(&self) -> Result<Value, String> {
        json::read_json(&self.path(codegen::SPEC_PATH))
    }

    fn spec_document(&self) -> Result<SpecDocument, String> {
        SpecDocument::parse(self.read(codegen::SPEC_PATH)?)
    }

    /// The operations spec/ ships now: what `import` keeps unless told otherwise.
    pub fn shipped_operations(&self) -> Result<Vec<Operation>, String> {
        Ok(json::operations_of(&self.spec()?))
    }

    /// Imports `source` and writes spec/ and its provenance record.
    pub fn import(
        &self,
        source: &Path,
        operations: Option<Vec<Operation>>,
    ) -> Result<Imported, String> {
        let imported = self.import_in_memory(source, operations)?;
        self.write(
            codegen::SPEC_PATH,
            &json::to_canonical_string(&imported.spec),
        )?;
        self.write(
            PROVENANCE_PATH,
            &json::to_canonical_string(&imported.provenance),
        )?;
        Ok(imported)
    }

    fn import_in_memory(
        &self,
        source: &Path,
        operations: Option<Vec<Operation>>,
    ) -> Result<Imported, String> {
        let operations = match operations {
            Some(operations) => operations,
            None => self.shipped_operations()?,
        };
        let bytes =
            std::fs::read(source).map_err(|e| format!("cannot read {}: {e}", source.display()))?;
        let name = source.file_name().map_or_else(
            || source.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        import::import(&bytes, &name, &operations)
    }

    /// What the hand-written layer must change for spec/ as it is now (see [`layer`]).
    pub fn review(&self) -> Result<Vec<Finding>, String> {
        let spec = self.spec_document()?;
        Ok(self.review_document(&spec, generated(&spec)))
    }

    fn review_document(
        &self,
        spec: &SpecDocument,
        generated: Result<syn::File, String>,
    ) -> Vec<Finding> {
        let mut findings = match self.read(layer::MODELS_PATH) {
            Ok(models) => layer::review(&spec.json, &spec.openapi, &models),
            Err(problem) => vec![Finding::blocking(problem)],
        };
        match generated {
            Ok(file) => findings.extend(layer::fields_that_reject_null(&file)),
            // The checks above name the usual causes; say the generator's own words otherwise.
            Err(problem) if !findings.iter().any(|f| f.blocking) => {
                findings.push(Finding::blocking(problem))
            }
            Err(_) => {}
        }
        findings
    }

    /// Writes the reviewable copy of the generated client; returns the checklist for it.
    pub fn generate(&self) -> Result<Vec<Finding>, String> {
        let spec = self.spec_document()?;
        let generated = generated(&spec)?;
        self.write(REVIEW_COPY_PATH, &review_copy(&generated))?;
        Ok(self.review_document(&spec, Ok(generated)))
    }

    /// Moves the crate to the api-version of `source`: import, diff, review copy, docs and
    /// CHANGELOG. Returns the changes.
    pub fn bump(&self, source: &Path) -> Result<(String, String, Vec<Change>), String> {
        let old_spec = self.spec()?;
        let old_version = api_version(&old_spec)?;
        let operations = json::operations_of(&old_spec);
        let imported = self.import(source, Some(operations.clone()))?;
        let new_version = api_version(&imported.spec)?;
        let changes = diff::diff(&old_spec, &imported.spec, &operations);
        // The checklist is the caller's to print, once the docs have moved too.
        self.generate()?;
        for doc in VERSIONED_DOCS {
            let text = self.read(doc)?;
            self.write(
                doc,
                &text.replace(
                    &format!("api-version={old_version}"),
                    &format!("api-version={new_version}"),
                ),
            )?;
        }
        let changelog = self.read(CHANGELOG_PATH)?;
        self.write(
            CHANGELOG_PATH,
            &changelog_with_entry(&changelog, &old_version, &new_version, &changes)?,
        )?;
        Ok((old_version, new_version, changes))
    }

    /// Every way the checked-in files can disagree; empty when all is in step.
    pub fn check(&self, upstream: Option<&Path>) -> Vec<String> {
        let mut problems = Vec::new();
        let spec = match self.spec_document() {
            Ok(spec) => spec,
            Err(problem) => return vec![problem],
        };
        let generated = match generated(&spec) {
            Ok(generated) => generated,
            Err(problem) => return vec![problem],
        };
        let code = review_copy(&generated);
        match self.read(REVIEW_COPY_PATH) {
            Ok(copy) if copy == code => {}
            Ok(_) => problems.push(format!(
                "{REVIEW_COPY_PATH} is stale: run `cargo xtask generate` and commit it"
            )),
            Err(problem) => problems.push(format!("{problem}; run `cargo xtask generate`")),
        }
        let version = match codegen::api_version(&spec.openapi) {
            Ok(version) => version,
            Err(problem) => return [problems, vec![problem]].concat(),
        };
        for doc in VERSIONED_DOCS {
            match self.read(doc) {
                Ok(text) => {
                    let found = versions_in(&text);
                    if found.is_empty() {
                        problems.push(format!(
                            "{doc} does not name the api-version (`api-version={version}`)"
                        ));
                    }
                    for other in found.iter().filter(|v| **v != version) {
                        problems.push(format!(
                            "{doc} names api-version={other} but spec/ is {version}"
                        ));
                    }
                }
                Err(problem) => problems.push(problem),
            }
        }
        problems.extend(
            self.review_document(&spec, Ok(generated))
                .into_iter()
                .map(|f| f.text),
        );
        match self.read(CHANGELOG_PATH) {
            Ok(text) if has_changelog_entry(&text, &version) => {}
            Ok(_) => problems.push(format!(
                "{CHANGELOG_PATH} has no entry for API version `{version}` (a line with \"API version\" and `{version}`)"
            )),
            Err(problem) => problems.push(problem),
        }
        if let Some(upstream) = upstream {
            problems.extend(self.check_upstream(
                upstream,
                &spec.text,
                json::operations_of(&spec.json),
            ));
        }
        problems
    }

    fn check_upstream(
        &self,
        upstream: &Path,
        spec_text: &str,
        operations: Vec<Operation>,
    ) -> Vec<String> {
        let mut problems = Vec::new();
        let imported = match self.import_in_memory(upstream, Some(operations)) {
            Ok(imported) => imported,
            Err(problem) => return vec![problem],
        };
        let expected = json::to_canonical_string(&imported.spec);
        if expected != spec_text {
            problems.push(format!(
                "{} is not what importing {} produces ({}); run `cargo xtask import {}`",
                codegen::SPEC_PATH,
                upstream.display(),
                first_difference(spec_text, &expected),
                upstream.display()
            ));
        }
        match self
            .read(PROVENANCE_PATH)
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()))
        {
            Ok(recorded) => {
                let actual = &imported.provenance["source"]["sha256"];
                if recorded["source"]["sha256"] != *actual {
                    problems.push(format!(
                        "{PROVENANCE_PATH} records sha256 {} but {} has {actual}",
                        recorded["source"]["sha256"],
                        upstream.display()
                    ));
                } else if recorded != imported.provenance {
                    problems.push(format!(
                        "{PROVENANCE_PATH} is stale; run `cargo xtask import {}`",
                        upstream.display()
                    ));
                }
            }
            Err(problem) => problems.push(format!("{PROVENANCE_PATH}: {problem}")),
        }
        problems
    }
}

/// spec/'s document, read and parsed once for everything that looks at it.
struct SpecDocument {
    /// The text as committed, which an import must reproduce byte for byte.
    text: String,
    json: Value,
    /// What the generator takes.
    openapi: openapiv3::OpenAPI,
}

impl SpecDocument {
    fn parse(text: String) -> Result<Self, String> {
        let not_openapi =
            |e: serde_json::Error| format!("{} is not OpenAPI 3.0: {e}", codegen::SPEC_PATH);
        let json: Value = serde_json::from_str(&text).map_err(not_openapi)?;
        let openapi = serde_json::from_value(json.clone()).map_err(not_openapi)?;
        Ok(Self {
            text,
            json,
            openapi,
        })
    }
}

/// What build.rs generates from `spec`.
fn generated(spec: &SpecDocument) -> Result<syn::File, String> {
    let tokens = codegen::generate_from(spec.openapi.clone())?;
    syn::parse2(tokens).map_err(|e| format!("the generated code does not parse: {e}"))
}

/// `generated` formatted for review.
fn review_copy(generated: &syn::File) -> String {
    format!(
        "// @generated by progenitor from {} with the settings in spec/codegen.rs.\n\
         // Do not edit: change the spec or the settings, then run `cargo xtask generate`.\n\n{}",
        codegen::SPEC_PATH,
        prettyplease::unparse(generated)
    )
}

/// The spec's api-version, read as build.rs reads it (spec/codegen.rs).
pub fn api_version(spec: &Value) -> Result<String, String> {
    let spec: openapiv3::OpenAPI = serde_json::from_value(spec.clone())
        .map_err(|e| format!("{} is not OpenAPI 3.0: {e}", codegen::SPEC_PATH))?;
    codegen::api_version(&spec)
}

/// Every `api-version=<value>` in `text`.
fn versions_in(text: &str) -> Vec<String> {
    text.match_indices("api-version=")
        .map(|(at, marker)| {
            text[at + marker.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect::<String>()
        })
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        .collect()
}

fn has_changelog_entry(changelog: &str, version: &str) -> bool {
    changelog
        .lines()
        .any(|line| line.contains("API version") && line.contains(&format!("`{version}`")))
}

/// CHANGELOG with a bump entry added under `## [Unreleased]`.
fn changelog_with_entry(
    changelog: &str,
    old: &str,
    new: &str,
    changes: &[Change],
) -> Result<String, String> {
    let marker = "## [Unreleased]";
    let at = changelog
        .find(marker)
        .ok_or_else(|| format!("{CHANGELOG_PATH} has no `{marker}` section"))?;
    let mut entry = format!(
        "\n\n### Changed\n- IoT Hub service API version `{old}` → `{new}`: {}.\n",
        diff::summary(changes)
    );
    for change in changes {
        entry.push_str(&format!("  - {change}\n"));
    }
    let insert_at = at + marker.len();
    let rest = changelog[insert_at..].trim_start_matches('\n');
    Ok(format!(
        "{}{}\n\n{rest}",
        &changelog[..insert_at],
        entry.trim_end_matches('\n')
    ))
}

/// Where two texts first differ, as `line N: expected …, found …`.
fn first_difference(actual: &str, expected: &str) -> String {
    let mut expected_lines = expected.lines();
    for (number, line) in actual.lines().enumerate() {
        match expected_lines.next() {
            Some(wanted) if wanted == line => continue,
            Some(wanted) => {
                return format!(
                    "line {}: expected `{}`, found `{}`",
                    number + 1,
                    wanted.trim(),
                    line.trim()
                );
            }
            None => return format!("line {}: unexpected `{}`", number + 1, line.trim()),
        }
    }
    match expected_lines.next() {
        Some(missing) => format!("missing `{}` at the end", missing.trim()),
        None => "the texts differ only in line endings".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{
        testing::{Scratch, as_swagger_2, scratch, write_fixture},
        workspace_root,
    };

    /// The files `check` reads.
    fn checked_files(name: &str) -> Scratch {
        scratch(
            name,
            &[
                "spec",
                "README.md",
                "src/lib.rs",
                layer::MODELS_PATH,
                "CHANGELOG.md",
            ],
        )
    }

    fn edit(project: &Project, relative: &str, change: impl FnOnce(String) -> String) {
        let text = project.read(relative).unwrap();
        project.write(relative, &change(text)).unwrap();
    }

    #[test]
    fn the_committed_workspace_is_in_step() {
        let problems = Project {
            root: workspace_root(),
        }
        .check(None);
        assert!(problems.is_empty(), "{problems:#?}");
    }

    #[test]
    fn the_inverse_importer_round_trips_spec() {
        let scratch = checked_files("round-trip");
        let project = &scratch.0;
        let spec = project.spec().unwrap();
        let source = write_fixture(project, "upstream.json", &as_swagger_2(&spec));
        let imported = project.import_in_memory(&source, None).unwrap();
        assert_eq!(
            json::to_canonical_string(&imported.spec),
            json::to_canonical_string(&spec)
        );
    }

    #[test]
    fn check_names_each_kind_of_drift() {
        type Drift = Box<dyn Fn(&Project)>;
        let cases: Vec<(&str, Drift, &str)> = vec![
            (
                "stale",
                Box::new(|p| {
                    edit(p, REVIEW_COPY_PATH, |t| {
                        t.replace("pub struct Twin", "pub struct Twins")
                    })
                }),
                "spec/generated.rs is stale",
            ),
            (
                "readme",
                Box::new(|p| {
                    edit(p, "README.md", |t| {
                        t.replacen("api-version=2021-04-12", "api-version=2020-09-30", 1)
                    })
                }),
                "README.md names api-version=2020-09-30 but spec/ is 2021-04-12",
            ),
            (
                "lib",
                Box::new(|p| {
                    edit(p, "src/lib.rs", |t| {
                        t.replace("api-version=", "api version ")
                    })
                }),
                "src/lib.rs does not name the api-version",
            ),
            (
                "changelog",
                Box::new(|p| edit(p, CHANGELOG_PATH, |t| t.replace("API version", "version"))),
                "CHANGELOG.md has no entry for API version `2021-04-12`",
            ),
            (
                "not-json",
                Box::new(|p| edit(p, codegen::SPEC_PATH, |t| t.replacen('{', "", 1))),
                "is not OpenAPI 3.0",
            ),
            (
                "swagger",
                Box::new(|p| {
                    edit(p, codegen::SPEC_PATH, |t| {
                        t.replace("\"openapi\": \"3.0.3\"", "\"openapi\": \"2.0\"")
                    })
                }),
                "progenitor rejected",
            ),
            (
                "rejected",
                Box::new(|p| {
                    edit(p, codegen::SPEC_PATH, |t| {
                        t.replace("\"in\": \"path\"", "\"in\": \"cookie\"")
                    })
                }),
                "progenitor rejected",
            ),
        ];
        for (name, drift, expected) in cases {
            let scratch = checked_files(name);
            drift(&scratch.0);
            let problems = scratch.0.check(None);
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{name}: expected `{expected}` in {problems:#?}"
            );
        }
    }

    #[test]
    fn check_upstream_catches_a_spec_or_provenance_that_does_not_match() {
        let scratch = checked_files("upstream");
        let project = &scratch.0;
        let upstream = write_fixture(
            project,
            "upstream.json",
            &as_swagger_2(&project.spec().unwrap()),
        );
        project.import(&upstream, None).unwrap();
        assert!(
            project.check(Some(&upstream)).is_empty(),
            "{:#?}",
            project.check(Some(&upstream))
        );

        edit(project, codegen::SPEC_PATH, |t| {
            t.replace("The number of failed jobs.", "Failed.")
        });
        let problems = project.check(Some(&upstream));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("is not what importing")
                    && p.contains("The number of failed jobs.")),
            "{problems:#?}"
        );

        project.import(&upstream, None).unwrap();
        let mut changed = as_swagger_2(&project.spec().unwrap());
        changed["info"]["title"] = json!("Another title");
        write_fixture(project, "upstream.json", &changed);
        let problems = project.check(Some(&upstream));
        assert!(
            problems.iter().any(|p| p.contains("records sha256")),
            "{problems:#?}"
        );
    }

    #[test]
    fn bump_moves_every_file_that_carries_the_version() {
        let scratch = checked_files("bump");
        let project = &scratch.0;
        let mut newer = as_swagger_2(&project.spec().unwrap());
        newer["info"]["version"] = json!("2024-03-31");
        newer["parameters"]["api-version"]["default"] = json!("2024-03-31");
        newer["definitions"]["Twin"]["properties"]["attributes"] =
            json!({"type": "object", "additionalProperties": {"type": "object"}});
        let source = write_fixture(project, "newer.json", &newer);
        let (old, new, changes) = project.bump(&source).unwrap();
        assert_eq!((old.as_str(), new.as_str()), ("2021-04-12", "2024-03-31"));
        assert_eq!(changes.len(), 2, "{changes:#?}");
        assert!(project.check(None).is_empty(), "{:#?}", project.check(None));
        let changelog = project.read(CHANGELOG_PATH).unwrap();
        assert!(
            changelog.contains("IoT Hub service API version `2021-04-12` → `2024-03-31`"),
            "{changelog}"
        );
        assert!(changelog.contains("schema Twin: property attributes added, optional"));
        assert!(
            changelog.contains("attributes added, optional\n\n### Added"),
            "the entry is set apart from what follows it: {changelog}"
        );
        assert!(
            project
                .read(REVIEW_COPY_PATH)
                .unwrap()
                .contains("pub attributes:")
        );
        assert!(
            project
                .read("README.md")
                .unwrap()
                .contains("api-version=2024-03-31")
        );
    }
}
