//! What the tests share: spec/ as data and validators built from it, SAS tokens minted
//! independently of the crate's own signing code, requests to the local hub by hand, and
//! captured logs.

use std::{path::PathBuf, process::Command};

use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use iothub_jobs::{
    Error, ErrorKind, JobResponse, JobsClient, JobsClientOptions, WaitEnd, WaitFailure,
    models::JobProperties,
};
use iothub_local_hub::LocalHub;
use serde_json::{Map, Value, json};
use sha2::Sha256;

/// A client for a local hub, which knows nothing of the SDK: the tests' one way to build one,
/// from the hub's connection string with its endpoint, over real HTTP.
pub(crate) trait HubClient {
    /// Client options that send requests to this hub.
    fn client_options(&self) -> JobsClientOptions;
    /// A client for this hub, authenticating with its connection string.
    fn client(&self) -> Result<JobsClient, Error>;
}

impl HubClient for LocalHub {
    fn client_options(&self) -> JobsClientOptions {
        JobsClientOptions::default().with_endpoint(self.endpoint())
    }

    fn client(&self) -> Result<JobsClient, Error> {
        JobsClient::from_connection_string_with_options(
            &self.connection_string(),
            self.client_options(),
        )
    }
}

/// spec/ as shipped in the crate.
pub fn spec() -> Value {
    serde_json::from_str(iothub_jobs::spec::OPENAPI_JSON).expect("spec/ is JSON")
}

/// A validator for `#/components/schemas/<name>` of spec/ in which every object schema with
/// declared properties allows no others: spec/ keeps upstream's open schemas (a newer service
/// adds fields), while what this crate and the local hub write must not carry a misspelled or
/// invented field.
pub fn strict_validator_for(name: &str) -> jsonschema::Validator {
    fn close(schema: &mut Value) {
        match schema {
            Value::Object(object) => {
                if object.contains_key("properties") && !object.contains_key("additionalProperties")
                {
                    object.insert("additionalProperties".into(), Value::Bool(false));
                }
                object.values_mut().for_each(close);
            }
            Value::Array(items) => items.iter_mut().for_each(close),
            _ => {}
        }
    }
    let mut components = spec()["components"].clone();
    close(&mut components);
    validator_over(components, name)
}

/// `value` without the fields that are `null`, at any depth: the service writes `null` for an
/// absent field (`"failureReason": null`, `"deviceMethodResponse": null`), which the API
/// description does not allow and the model reads as absent.
pub fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .filter(|(_, field)| !field.is_null())
                .map(|(name, field)| (name.clone(), without_nulls(field)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// A validator for `#/components/schemas/<name>` of spec/ in which map values may be any
/// JSON: spec/ follows upstream, which describes twin tags and properties as maps of objects,
/// while real twins hold scalars there (`"$version": 4`) and the model keeps them.
pub fn lenient_validator_for(name: &str) -> jsonschema::Validator {
    fn open_maps(schema: &mut Value) {
        match schema {
            Value::Object(object) => {
                if object.get("additionalProperties") == Some(&json!({"type": "object"})) {
                    object.insert("additionalProperties".into(), Value::Bool(true));
                }
                object.values_mut().for_each(open_maps);
            }
            Value::Array(items) => items.iter_mut().for_each(open_maps),
            _ => {}
        }
    }
    let mut components = spec()["components"].clone();
    open_maps(&mut components);
    validator_over(components, name)
}

/// A validator for `#/components/schemas/<name>` of `components`, formats checked.
fn validator_over(components: Value, name: &str) -> jsonschema::Validator {
    let root = json!({ "$ref": format!("#/components/schemas/{name}"), "components": components });
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .should_validate_formats(true)
        .build(&root)
        .expect("spec/'s schemas are valid JSON Schema")
}

/// Every violation of `validator` by `instance`, one per line; empty when valid.
pub fn violations(validator: &jsonschema::Validator, instance: &Value) -> String {
    violations_except_enums(validator, instance, false)
}

/// As [`violations`], optionally leaving out values outside an `enum`: the models keep values
/// the spec does not list yet, by design.
pub fn violations_except_enums(
    validator: &jsonschema::Validator,
    instance: &Value,
    skip_enums: bool,
) -> String {
    validator
        .iter_errors(instance)
        .filter(|e| {
            !(skip_enums
                && matches!(
                    e.kind(),
                    jsonschema::error::ValidationErrorKind::Enum { .. }
                ))
        })
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `SharedAccessSignature sr=<host>&sig=…&se=<expiry>&skn=<key_name>`, signed with `key_base64`
/// by the recipe in Microsoft's documentation, not by the crate.
pub fn mint_token(host: &str, key_name: &str, key_base64: &str, expiry: u64) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(key_base64)
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{host}\n{expiry}").as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    let sig = sig
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    format!("SharedAccessSignature sr={host}&sig={sig}&se={expiry}&skn={key_name}")
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token for the hub's own policy, valid for ten minutes, minted independently.
pub fn hub_token(hub: &LocalHub) -> String {
    mint_token(
        hub.host_name(),
        hub.policy_name(),
        &hub.policy_key(),
        unix_now() + 600,
    )
}

/// `https://…/<path>?api-version=…` on the hub, for requests written by hand.
pub fn hub_url(hub: &LocalHub, path: &str) -> String {
    format!(
        "{}{path}?api-version={}",
        hub.endpoint(),
        iothub_jobs::API_VERSION
    )
}

/// Sends `method` to `path` on the hub with a valid token and an optional JSON body; returns
/// the status, the `iothub-errorcode` header and the body (`null` when empty).
pub async fn send(
    hub: &LocalHub,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Option<String>, Value) {
    let mut request = reqwest::Client::new()
        .request(method, hub_url(hub, path))
        .header("authorization", hub_token(hub));
    request = match body {
        Some(body) => request.json(&body),
        None => request.header("content-length", "0"),
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let code = response
        .headers()
        .get("iothub-errorcode")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, code, body)
}

/// A client for the hub's policy that signs with `key_base64` instead of the hub's key.
pub fn client_with_key(hub: &LocalHub, key_base64: &str) -> JobsClient {
    let connection_string = format!(
        "HostName={};SharedAccessKeyName={};SharedAccessKey={key_base64}",
        hub.host_name(),
        hub.policy_name()
    );
    JobsClient::from_connection_string_with_options(&connection_string, hub.client_options())
        .unwrap()
}

/// `value`, a JSON object, as a map.
pub fn object(value: Value) -> Map<String, Value> {
    value.as_object().expect("a JSON object").clone()
}

/// A local hub whose jobs run for a minute, on a clock the test holds at the real time (it
/// moves jobs on with `advance_time`), and the start time of a job that begins 10 s later.
pub async fn hub_on_a_held_clock() -> (LocalHub, chrono::DateTime<chrono::Utc>) {
    let hub = LocalHub::builder()
        .job_run_time(std::time::Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    let now = std::time::SystemTime::now();
    hub.set_time(now);
    let start = chrono::DateTime::<chrono::Utc>::from(now) + chrono::Duration::seconds(10);
    (hub, start)
}

/// Everything logged at any level, TRACE included, while `run` runs to its end on this thread
/// (a current-thread runtime, so that everything it spawns logs here too).
///
/// One global subscriber serves every test; its filter asks each time whether this thread is
/// capturing. (A subscriber set for one thread is not enough: `tracing` caches, per call site,
/// whether anyone listens, and a call site another test thread reached first can stay muted.)
pub fn trace_logs(run: impl std::future::Future<Output = ()>) -> String {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        use tracing_subscriber::{Layer as _, layer::SubscriberExt as _};
        let capturing = tracing_subscriber::filter::filter_fn(|_| {
            CAPTURED.with(|captured| captured.borrow().is_some())
        });
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(ThisThread)
            .with_filter(capturing);
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .expect("no other global subscriber in the tests");
    });
    CAPTURED.with(|captured| *captured.borrow_mut() = Some(Vec::new()));
    // Call sites that other threads reached before the subscriber existed are asked again.
    tracing::callsite::rebuild_interest_cache();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run);
    let bytes = CAPTURED.with(|captured| captured.borrow_mut().take().unwrap_or_default());
    String::from_utf8(bytes).unwrap()
}

thread_local! {
    /// What this thread's events wrote, while it captures.
    static CAPTURED: std::cell::RefCell<Option<Vec<u8>>> = const { std::cell::RefCell::new(None) };
}

/// Writes to the capture of the thread that logs.
struct ThisThread;

impl std::io::Write for ThisThread {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        CAPTURED.with(|captured| {
            if let Some(captured) = captured.borrow_mut().as_mut() {
                captured.extend_from_slice(bytes);
            }
        });
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for ThisThread {
    type Writer = ThisThread;
    fn make_writer(&'a self) -> Self::Writer {
        ThisThread
    }
}

/// A convergence's counts as one tuple: targeted, converged, failed, pending.
pub fn counted(counts: &iothub_jobs::ConvergenceCounts) -> (u64, u64, u64, u64) {
    (
        counts.targeted,
        counts.converged,
        counts.failed,
        counts.pending,
    )
}

/// The local hub's binary started on a free port with `args`, its stderr to `stderr`; the
/// process, and the connection string and endpoint it printed.
pub fn started_local_hub(
    args: &[&str],
    stderr: std::process::Stdio,
) -> (std::process::Child, String, String) {
    use std::io::BufRead as _;
    let mut hub = Command::new(local_hub_binary())
        .args(["--port", "0"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(hub.stdout.take().unwrap()).lines();
    let connection_string = stdout.next().unwrap().unwrap();
    let endpoint = stdout.next().unwrap().unwrap();
    (hub, connection_string, endpoint)
}

/// The command line's binary, `iothub-jobs`, built now as [`example`] builds examples.
pub fn cli_binary() -> PathBuf {
    built(
        &["-p", "iothub-jobs-cli", "--bin", "iothub-jobs"],
        "iothub-jobs",
    )
}

/// The example `name`, built now if it is missing or older than its sources (`cargo test --test
/// it` alone does not build examples): a test never runs a stale one.
pub fn example(name: &str) -> PathBuf {
    built(&["--example", name], &format!("examples/{name}"))
}

/// The local hub's binary, `iothub-local-hub`, built now as [`example`] builds examples.
pub fn local_hub_binary() -> PathBuf {
    built(
        &["-p", "iothub-local-hub", "--bin", "iothub-local-hub"],
        "iothub-local-hub",
    )
}

/// What `cargo build <what>` makes, in this test binary's profile, at `path` in the profile's
/// folder.
fn built(what: &[&str], path: &str) -> PathBuf {
    // This binary is target/<profile dir>/deps/it-…; what cargo builds goes to
    // target/<profile dir>/ (examples in its examples/).
    let profile_dir = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .to_owned();
    let profile = match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") | None => "dev",
        Some(other) => other,
    }
    .to_owned();
    let built = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--all-features", "--profile", &profile])
        .args(what)
        .arg("--manifest-path")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
        .status()
        .expect("cargo runs");
    assert!(built.success(), "{what:?} builds");
    profile_dir.join(format!("{path}{}", std::env::consts::EXE_SUFFIX))
}

/// How a wait for a scheduled job ended, and the job as last seen: the detail of its
/// `ErrorKind::Wait` error.
pub fn scheduled_wait(error: &Error) -> (WaitEnd, Option<&JobResponse>) {
    assert_eq!(error.kind(), &ErrorKind::Wait, "{error}");
    let wait = error
        .detail::<WaitFailure<JobResponse>>()
        .expect("a scheduled job's wait failure");
    (wait.end, wait.job.as_ref())
}

/// [`scheduled_wait`], for an import or export job.
pub fn import_export_wait(error: &Error) -> (WaitEnd, Option<&JobProperties>) {
    assert_eq!(error.kind(), &ErrorKind::Wait, "{error}");
    let wait = error
        .detail::<WaitFailure<JobProperties>>()
        .expect("an import or export job's wait failure");
    (wait.end, wait.job.as_ref())
}

/// What `command` printed, and how it exited; a test failure if it runs longer than `limit`
/// (it is killed first), so that a program that would wait forever cannot hang the suite.
pub fn output_within(command: &mut Command, limit: std::time::Duration) -> std::process::Output {
    use std::{io::Read as _, process::Stdio};
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program starts");
    // Read while it runs: a program that prints more than a pipe holds would otherwise wait
    // on its reader forever.
    let reader = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = reader(Box::new(child.stdout.take().expect("piped")));
    let stderr = reader(Box::new(child.stderr.take().expect("piped")));
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the program can be waited for") {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = stderr.join().unwrap_or_default();
            panic!(
                "still running after {limit:?}; stderr: {}",
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    std::process::Output {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Every operation spec/ describes, as `METHOD /path/{template}`: what the contract test must
/// send at least once.
pub(crate) fn spec_operations() -> std::collections::BTreeSet<String> {
    let spec: openapiv3::OpenAPI = serde_json::from_str(iothub_jobs::spec::OPENAPI_JSON).unwrap();
    spec.paths
        .iter()
        .filter_map(|(path, item)| Some((path, item.as_item()?)))
        .flat_map(|(path, item)| {
            item.iter()
                .map(move |(method, _)| format!("{} {path}", method.to_uppercase()))
        })
        .collect()
}

/// The operation of spec/, as [`spec_operations`] names it, that a `method` request for `path`
/// is: the one whose template's fixed segments match and whose parameters are not empty.
pub(crate) fn spec_operation_for(method: &str, path: &str) -> Option<String> {
    let path = path.split('?').next().unwrap_or(path);
    let actual: Vec<&str> = path.split('/').collect();
    let method = method.to_uppercase();
    // Fixed segments first: `/jobs/v2/query` is the listing, not a job named `query`.
    let mut operations: Vec<String> = spec_operations().into_iter().collect();
    operations.sort_by_key(|operation| operation.matches('{').count());
    operations.into_iter().find(|operation| {
        let (wanted_method, template) = operation.split_once(' ').unwrap();
        let wanted: Vec<&str> = template.split('/').collect();
        wanted_method == method
            && wanted.len() == actual.len()
            && wanted.iter().zip(&actual).all(|(w, a)| {
                if w.starts_with('{') {
                    !a.is_empty()
                } else {
                    w == a
                }
            })
    })
}

/// Every operation of spec/ is in `covered`; else a failure naming those that are not, which
/// `what` describes ("no request above exercised").
pub(crate) fn assert_every_operation(covered: &std::collections::BTreeSet<String>, what: &str) {
    let missing: Vec<_> = spec_operations().difference(covered).cloned().collect();
    assert!(
        missing.is_empty(),
        "operations in spec/ that {what}: {missing:?}"
    );
}
