//! Maintainer workflows for iothub-jobs, run as `cargo xtask <command>` from anywhere in the
//! workspace.

#[path = "../../spec/codegen.rs"]
mod codegen;

use std::{path::PathBuf, process::ExitCode};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  check    fail unless spec/ is OpenAPI 3.0.x that progenitor accepts with the crate's settings";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("check") => check(),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command `{other}`\n\n{USAGE}")),
        None => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: xtask lives one level below it.
fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask/ has a parent")
        .to_path_buf()
}

fn check() -> Result<(), String> {
    let path = workspace_root().join(codegen::SPEC_PATH);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let version: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not JSON: {e}", codegen::SPEC_PATH))?;
    let openapi = version["openapi"].as_str().unwrap_or_default();
    if !openapi.starts_with("3.0.") {
        return Err(format!(
            "{}: `openapi` is {openapi:?}; progenitor reads OpenAPI 3.0.x only",
            codegen::SPEC_PATH
        ));
    }
    codegen::generate(&text)?;
    println!(
        "ok: {} is OpenAPI {openapi} and generates with the settings in spec/codegen.rs",
        codegen::SPEC_PATH
    );
    Ok(())
}
