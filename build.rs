//! Generates the private client from spec/ (see spec/codegen.rs for the settings).

#[path = "spec/codegen.rs"]
mod codegen;

fn main() {
    // The document and the settings; not all of spec/, which also holds the review copy that
    // `cargo xtask generate` writes. (spec/codegen.rs is compiled into this script, but a
    // rerun-if-changed list replaces cargo's own tracking: name it too, and this script.)
    println!("cargo::rerun-if-changed={}", codegen::SPEC_PATH);
    println!("cargo::rerun-if-changed=spec/codegen.rs");
    println!("cargo::rerun-if-changed=build.rs");
    let spec = std::fs::read_to_string(codegen::SPEC_PATH)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", codegen::SPEC_PATH));
    let code = codegen::generate(&spec)
        .unwrap_or_else(|e| panic!("{e}"))
        .to_string();
    let out = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("generated.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
