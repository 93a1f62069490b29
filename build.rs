//! Generates the private client from spec/ (see spec/codegen.rs for the settings).

#[path = "spec/codegen.rs"]
mod codegen;

fn main() {
    // Only the document: spec/ also holds the review copy that `cargo xtask generate` writes.
    // (spec/codegen.rs is part of this script, so cargo tracks it already.)
    println!("cargo::rerun-if-changed={}", codegen::SPEC_PATH);
    let spec = std::fs::read_to_string(codegen::SPEC_PATH)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", codegen::SPEC_PATH));
    let code = codegen::generate(&spec)
        .unwrap_or_else(|e| panic!("{e}"))
        .to_string();
    let out = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("generated.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
