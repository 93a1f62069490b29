//! Maintainer workflows for iothub-jobs, run as `cargo xtask <command>` from anywhere in the
//! workspace. See xtask/README.md for the api-version bump procedure.

mod build_cost;
#[path = "../../spec/codegen.rs"]
#[expect(
    dead_code,
    reason = "`generate` is build.rs's entry point; the xtask has parsed spec/ already and calls `generate_from`"
)]
mod codegen;
mod diff;
mod import;
mod json;
mod layer;
mod project;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod variants;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use project::Project;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  import <SWAGGER_2_JSON> [--operations \"<METHOD> <path>,…\"]
                  convert an upstream Swagger 2.0 document into spec/ (default: the operations
                  spec/ ships now, matched by method and path) with its provenance record
  diff <OLD> <NEW> [--operations …]
                  what changed between two documents (Swagger 2.0 or OpenAPI 3.0) over the
                  shipped operations, each change rated for the public API and the wire
  generate        write the reviewable copy of the generated client, spec/generated.rs
  bump <SWAGGER_2_JSON>
                  import, diff, regenerate, update the api-version in the docs and CHANGELOG
  build-cost [tls]
                  time a clean build of a tiny consumer of iothub-jobs against one of only
                  reqwest/serde/tokio and one that adds progenitor in build.rs (the design's
                  floor), and what dominates; `tls` compares TLS back ends
  check [--upstream <SWAGGER_2_JSON>]
                  fail unless spec/ generates, and the review copy, docs and CHANGELOG agree
                  with it; with --upstream, also that importing that document reproduces spec/";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let project = Project {
        root: workspace_root(),
    };
    let (positional, operations) = split_options(args)?;
    let positional: Vec<&str> = positional.iter().map(String::as_str).collect();
    match positional.as_slice() {
        ["import", source] => {
            let imported = project.import(Path::new(source), operations)?;
            println!(
                "wrote {} (api-version {}) and {}",
                codegen::SPEC_PATH,
                project::api_version(&imported.spec)?,
                project::PROVENANCE_PATH
            );
            report_checklist(
                &project.review()?,
                "next: `cargo xtask generate`, then review `git diff spec/`",
            )
        }
        ["diff", old, new] => {
            let old_doc = json::read_json(Path::new(old))?;
            let new_doc = json::read_json(Path::new(new))?;
            let operations = match operations {
                Some(operations) => operations,
                None => project.shipped_operations()?,
            };
            let changes = diff::diff(&old_doc, &new_doc, &operations);
            for change in &changes {
                println!("{change}");
            }
            println!("{}", diff::summary(&changes));
            Ok(())
        }
        ["generate"] => {
            let findings = project.generate()?;
            println!("wrote {}", project::REVIEW_COPY_PATH);
            report_checklist(&findings, "")
        }
        ["bump", source] => {
            let (old, new, changes) = project.bump(Path::new(source))?;
            for change in &changes {
                println!("{change}");
            }
            println!("{}", diff::summary(&changes));
            println!(
                "\nmoved spec/ from api-version {old} to {new}; updated {}, {}, {} and {}.",
                project::REVIEW_COPY_PATH,
                project::VERSIONED_DOCS.join(", "),
                project::CHANGELOG_PATH,
                project::PROVENANCE_PATH,
            );
            report_checklist(
                &project.review()?,
                &format!(
                    "next steps:\n  \
                     1. review `git diff spec/` — the spec, provenance.json and generated.rs (the code users get)\n  \
                     2. cargo test --workspace --all-features && cargo xtask check\n  \
                     3. release as a {} version (Cargo's 0.x rules: major → bump the minor digit)",
                    diff::semver_step(&changes),
                ),
            )
        }
        ["build-cost"] => build_cost::sdk_against_baseline(),
        ["build-cost", "tls"] => build_cost::tls_back_ends(),
        ["check"] => report(project.check(None)),
        ["check", "--upstream", upstream] => report(project.check(Some(Path::new(upstream)))),
        ["help"] | ["-h"] | ["--help"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_owned()),
    }
}

/// Prints what the hand-written layer must change, then `next`; fails when the crate cannot
/// build until it does.
fn report_checklist(findings: &[layer::Finding], next: &str) -> Result<(), String> {
    let checklist = layer::checklist(findings);
    if findings.iter().any(|f| f.blocking) {
        return Err(format!(
            "{checklist}then run `cargo xtask generate` and `cargo xtask check` (spec/ is written: \
             `git diff spec/` shows what changed)"
        ));
    }
    print!("{checklist}");
    if !next.is_empty() {
        println!("{next}");
    }
    Ok(())
}

fn report(problems: Vec<String>) -> Result<(), String> {
    if problems.is_empty() {
        println!(
            "ok: spec/ generates, the review copy, docs and CHANGELOG agree with it, and the \
             hand-written layer has what it uses"
        );
        Ok(())
    } else {
        Err(problems
            .iter()
            .map(|p| format!("check failed: {p}"))
            .collect::<Vec<_>>()
            .join("\n"))
    }
}

/// Takes `--operations <list>` out of the arguments.
fn split_options(args: &[String]) -> Result<(Vec<String>, Option<Vec<json::Operation>>), String> {
    let mut positional = Vec::new();
    let mut operations = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        if arg == "--operations" {
            let list = iter
                .next()
                .ok_or("--operations needs a list such as \"POST /jobs/v2/{id}/cancel\"")?;
            operations = Some(json::parse_operations(list)?);
        } else {
            positional.push(arg.clone());
        }
    }
    Ok((positional, operations))
}

/// The workspace root: xtask lives one level below it.
pub(crate) fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ has a parent")
        .to_path_buf()
}
