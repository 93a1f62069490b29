//! `cargo xtask build-cost`: what depending on iothub-jobs costs a user's clean build.
//!
//! Builds, from scratch and one after the other, a tiny consumer of iothub-jobs and a tiny
//! consumer of only what it builds on (reqwest, serde, serde_json, tokio with the same
//! features), and reports the wall-time ratio and the crates that dominate (`cargo build
//! --timings`). A third consumer, the baseline plus progenitor's runtime crate and a build
//! script that runs progenitor on spec/, shows the floor of the build.rs design: what any
//! client generated this way costs before a line of ours. `cargo xtask build-cost tls`
//! instead compares reqwest's TLS back ends.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use crate::workspace_root;

/// The TLS back end as iothub-jobs' own `reqwest` dependency names it.
const CRATE_TLS: &str = "\"rustls\"";
const BASE_DEPENDENCIES: &str = r#"serde = { version = "1", features = ["derive"] }
serde_json = "1"
tokio = { version = "1", features = ["rt", "time", "macros"] }"#;

/// What a consumer's `main` uses of the baseline, so none of it is left out of the build.
const BASELINE_MAIN: &str =
    "fn main() { let _ = reqwest::Client::new(); let _ = serde_json::json!({}); }\n";

/// iothub-jobs' manifest, whose dependency lines the consumers copy so they cannot drift.
struct Manifest(String);

impl Manifest {
    fn read() -> Result<Self, String> {
        std::fs::read_to_string(workspace_root().join("Cargo.toml"))
            .map(Self)
            .map_err(|e| format!("cannot read Cargo.toml: {e}"))
    }

    /// The `<name> = …` line of `[section]`.
    fn line(&self, section: &str, name: &str) -> Result<&str, String> {
        let header = format!("{section}]");
        self.0
            .split("\n[")
            .find(|s| s.starts_with(&header))
            .and_then(|s| {
                s.lines()
                    .find(|line| line.starts_with(&format!("{name} =")))
            })
            .ok_or_else(|| format!("Cargo.toml has no `{name} = …` line in [{section}]"))
    }

    /// The `reqwest = …` line, which must name the TLS back end the TLS comparison swaps.
    fn reqwest(&self) -> Result<&str, String> {
        let line = self.line("dependencies", "reqwest")?;
        if line.contains(CRATE_TLS) {
            Ok(line)
        } else {
            Err(format!("Cargo.toml's reqwest has no {CRATE_TLS} feature"))
        }
    }
}

fn consumer(dir: &Path, dependencies: &str, main: &str) -> Result<(), String> {
    std::fs::create_dir_all(dir.join("src")).map_err(|e| e.to_string())?;
    let manifest = format!(
        "[package]\nname = \"consumer\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\n{dependencies}\n\n[workspace]\n"
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("src/main.rs"), main).map_err(|e| e.to_string())?;
    // The same versions as the workspace resolves, so only the dependency set differs.
    std::fs::copy(workspace_root().join("Cargo.lock"), dir.join("Cargo.lock"))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// A clean `cargo build --timings` of the crate in `dir`: wall time and seconds per crate.
fn clean_build(dir: &Path) -> Result<(Duration, BTreeMap<String, f64>), String> {
    let target = dir.join("target");
    let _ = std::fs::remove_dir_all(&target);
    // Downloads are not build time.
    let fetched = Command::new(env!("CARGO"))
        .args(["fetch", "--quiet"])
        .current_dir(dir)
        .status();
    if !fetched.is_ok_and(|status| status.success()) {
        return Err(format!(
            "cannot fetch the dependencies of {}",
            dir.display()
        ));
    }
    let started = Instant::now();
    let status = Command::new(env!("CARGO"))
        .args(["build", "--offline", "--quiet", "--timings"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    let elapsed = started.elapsed();
    if !status.success() {
        return Err(format!("building {} failed", dir.display()));
    }
    let html = std::fs::read_to_string(target.join("cargo-timings/cargo-timing.html"))
        .map_err(|e| e.to_string())?;
    Ok((elapsed, unit_seconds(&html)))
}

/// Seconds per crate from the `UNIT_DATA` table in cargo's timings report.
fn unit_seconds(html: &str) -> BTreeMap<String, f64> {
    let mut per_crate = BTreeMap::new();
    let Some(start) = html
        .find("const UNIT_DATA = ")
        .map(|i| i + "const UNIT_DATA = ".len())
    else {
        return per_crate;
    };
    let Some(end) = html[start..].find("];\n").map(|i| start + i + 1) else {
        return per_crate;
    };
    let units: serde_json::Value = serde_json::from_str(&html[start..end]).unwrap_or_default();
    for unit in units.as_array().into_iter().flatten() {
        let name = unit["name"].as_str().unwrap_or("?");
        let what = if unit["target"]
            .as_str()
            .unwrap_or("")
            .contains("build script")
        {
            " (build script)"
        } else {
            ""
        };
        *per_crate.entry(format!("{name}{what}")).or_insert(0.0) +=
            unit["duration"].as_f64().unwrap_or(0.0);
    }
    per_crate
}

fn top(per_crate: &BTreeMap<String, f64>, count: usize) -> Vec<(String, f64)> {
    let mut sorted: Vec<(String, f64)> = per_crate.iter().map(|(k, v)| (k.clone(), *v)).collect();
    sorted.sort_by(|a, b| b.1.total_cmp(&a.1));
    sorted.truncate(count);
    sorted
}

fn scratch() -> PathBuf {
    workspace_root().join("target").join("build-cost")
}

/// iothub-jobs' consumer against the baseline.
pub fn sdk_against_baseline() -> Result<(), String> {
    let manifest = Manifest::read()?;
    let root = scratch();
    let sdk = root.join("with-iothub-jobs");
    let baseline = root.join("baseline");
    consumer(
        &sdk,
        &format!(
            "iothub-jobs = {{ path = {:?} }}\n{BASE_DEPENDENCIES}",
            workspace_root().display().to_string()
        ),
        "fn main() { let _ = iothub_jobs::JobsClient::from_connection_string(\"\"); }\n",
    )?;
    consumer(
        &baseline,
        &format!("{}\n{BASE_DEPENDENCIES}", manifest.reqwest()?),
        BASELINE_MAIN,
    )?;
    println!(
        "clean builds, one after the other, on {} cores:",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let (baseline_time, _) = clean_build(&baseline)?;
    println!(
        "  baseline (reqwest + serde + serde_json + tokio):  {:6.1} s",
        baseline_time.as_secs_f64()
    );
    let (floor_time, _) = clean_build(&design_floor(&root.join("design-floor"), &manifest)?)?;
    println!(
        "  baseline + progenitor in build.rs (the floor):    {:6.1} s",
        floor_time.as_secs_f64()
    );
    let (sdk_time, per_crate) = clean_build(&sdk)?;
    println!(
        "  with iothub-jobs:                                 {:6.1} s",
        sdk_time.as_secs_f64()
    );
    println!(
        "what dominates the iothub-jobs build (crate: seconds of compilation, summed over units):"
    );
    for (name, seconds) in top(&per_crate, 12) {
        println!("  {name:<40} {seconds:6.1}");
    }
    println!(
        "design floor ratio (baseline + progenitor in build.rs / baseline): {:.2}",
        floor_time.as_secs_f64() / baseline_time.as_secs_f64()
    );
    println!(
        "build cost ratio (with iothub-jobs / baseline): {:.2}",
        sdk_time.as_secs_f64() / baseline_time.as_secs_f64()
    );
    Ok(())
}

/// The baseline plus what the build.rs design needs whatever the SDK around it: progenitor's
/// runtime crate, and a build script that runs progenitor (default settings) on spec/.
fn design_floor(dir: &Path, manifest: &Manifest) -> Result<PathBuf, String> {
    let spec = workspace_root().join(crate::codegen::SPEC_PATH);
    consumer(
        dir,
        &format!(
            "{}\n{}\n{BASE_DEPENDENCIES}\n\n[build-dependencies]\n{}\n{}\n{}",
            manifest.reqwest()?,
            manifest.line("dependencies", "progenitor-client")?,
            manifest.line("build-dependencies", "progenitor")?,
            manifest.line("build-dependencies", "openapiv3")?,
            manifest.line("build-dependencies", "serde_json")?,
        ),
        BASELINE_MAIN,
    )?;
    let build = format!(
        "fn main() {{\n    let spec: openapiv3::OpenAPI = serde_json::from_str(include_str!({spec:?})).unwrap();\n    let code = progenitor::Generator::default().generate_tokens(&spec).unwrap();\n    std::fs::write(std::path::Path::new(&std::env::var(\"OUT_DIR\").unwrap()).join(\"generated.rs\"), code.to_string()).unwrap();\n}}\n",
        spec = spec.display().to_string()
    );
    std::fs::write(dir.join("build.rs"), build).map_err(|e| e.to_string())?;
    Ok(dir.to_owned())
}

/// reqwest's TLS back ends against each other.
pub fn tls_back_ends() -> Result<(), String> {
    let reqwest = Manifest::read()?.reqwest()?.to_owned();
    let root = scratch();
    let variants = [
        ("rustls + aws-lc-rs (reqwest's default)", CRATE_TLS, ""),
        (
            "rustls + ring",
            "\"rustls-no-provider\"",
            "rustls = { version = \"0.23\", default-features = false, features = [\"ring\", \"std\", \"tls12\"] }\n",
        ),
        ("native-tls (OpenSSL)", "\"native-tls\"", ""),
    ];
    println!("clean builds of reqwest + serde + tokio with each TLS back end:");
    for (index, (name, feature, extra)) in variants.iter().enumerate() {
        let dir = root.join(format!("tls-{index}"));
        consumer(
            &dir,
            &format!(
                "{}\n{extra}{BASE_DEPENDENCIES}",
                reqwest.replace(CRATE_TLS, feature)
            ),
            "fn main() { let _ = reqwest::Client::builder(); }\n",
        )?;
        match clean_build(&dir) {
            Ok((time, per_crate)) => {
                let heaviest: Vec<String> = top(&per_crate, 3)
                    .iter()
                    .map(|(n, s)| format!("{n} {s:.0}s"))
                    .collect();
                println!(
                    "  {name:<40} {:6.1} s   heaviest: {}",
                    time.as_secs_f64(),
                    heaviest.join(", ")
                );
            }
            Err(problem) => println!("  {name:<40} failed: {problem}"),
        }
    }
    Ok(())
}
