//! The client against Stoplight Prism, a third-party mock server that validates every request
//! against spec/ and, in dynamic mode, answers with random schema-valid responses: every
//! operation, and every answer accepted.
//!
//! Needs Prism, pinned by `.ci/prism/package-lock.json`: with `IOTHUB_JOBS_PRISM` unset, the
//! test installs it the way `.ci/run` does (`npm ci --prefix .ci/prism`, once; needs Node.js
//! and npm) rather than skip, so `cargo test --workspace --all-features` runs it too.

use std::{
    collections::BTreeSet,
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use futures::StreamExt as _;
use iothub_jobs::{
    DeviceJobQuery, DirectMethodJob, ErrorKind, ExportJob, Field, ImportJob, JobQuery, JobsClient,
    JobsClientOptions, StorageAuthentication, TwinUpdateJob,
    auth::SasKeyCredential,
    models::{DeviceJobStatus, JobStatus},
};
use serde_json::json;

use crate::support;

/// Each round calls every operation once (the query asks for up to three pages).
const ROUNDS: usize = 40;

/// Stops Prism however the test ends.
struct Prism(Child);

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `.ci/prism`'s pinned Prism, installed with `npm ci` unless it already is.
fn installed_prism() -> std::path::PathBuf {
    let project = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/prism");
    let prism = project.join("node_modules/.bin/prism");
    if !prism.exists() {
        let installed = Command::new("npm")
            .args([
                "ci",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--prefix",
            ])
            .arg(&project)
            .status()
            .unwrap_or_else(|e| {
                panic!("Prism is needed: install Node.js and npm, or set IOTHUB_JOBS_PRISM ({e})")
            });
        assert!(installed.success(), "npm ci --prefix .ci/prism failed");
    }
    prism
}

/// An item of a listing of Prism's, read; or the client stopping a listing whose invented
/// continuation tokens came round again (Prism draws them from a small word list, so a token
/// can repeat within a few pages, and the client stops rather than loop). Anything else is
/// the error.
fn listed<T>(item: Result<T, iothub_jobs::Error>) -> Result<(), iothub_jobs::Error> {
    match item {
        Err(error)
            if error.kind() == &ErrorKind::InvalidResponse
                && error
                    .to_string()
                    .contains("continuation token it had already given") =>
        {
            Ok(())
        }
        other => other.map(drop),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prism_validates_every_request_and_the_client_accepts_every_dynamic_response() {
    let prism = match std::env::var_os("IOTHUB_JOBS_PRISM") {
        Some(prism) => std::path::PathBuf::from(prism),
        None => installed_prism(),
    };
    let port = free_port();
    let log_path =
        std::env::temp_dir().join(format!("iothub-jobs-prism-{}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).unwrap();
    let spec = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../spec/iothub-jobs.openapi.json"
    );
    let child = Command::new(&prism)
        .args([
            "mock",
            "--dynamic",
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            spec,
        ])
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {prism:?}: {e}"));
    let mut prism = Prism(child);
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            prism.0.try_wait().unwrap().is_none(),
            "prism exited:\n{}",
            std::fs::read_to_string(&log_path).unwrap()
        );
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "prism did not start listening"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let host = "prism.azure-devices.net";
    let credential = Arc::new(SasKeyCredential::new(host, "iothubowner", "cGFzc3dvcmQ=").unwrap());
    let options = JobsClientOptions::default().with_endpoint(format!("http://127.0.0.1:{port}"));
    let client = JobsClient::new(host, credential, options).unwrap();
    let ids = ["a", "Z9", "-", "job-2026-11-26", &"x".repeat(64)];
    let fail = |what: &str, error: iothub_jobs::Error| -> ! {
        panic!(
            "{what} failed: {error}\n{}",
            std::fs::read_to_string(&log_path).unwrap()
        )
    };
    for round in 0..ROUNDS {
        let id = ids[round % ids.len()];
        client
            .cancel_job(id)
            .await
            .unwrap_or_else(|e| fail("cancel", e));
        client.get_job(id).await.unwrap_or_else(|e| fail("get", e));
        let desired = json!({"firmware": {"version": "2.4"}})
            .as_object()
            .unwrap()
            .clone();
        let twin = TwinUpdateJob::new(id, "deviceId IN ['d']").with_desired_properties(desired);
        client
            .schedule_twin_update(twin)
            .await
            .unwrap_or_else(|e| fail("schedule_twin_update", e));
        let method =
            DirectMethodJob::new(id, "tags.site = 'b'", "reboot").with_payload(json!({"delay": 1}));
        client
            .schedule_direct_method(method)
            .await
            .unwrap_or_else(|e| fail("schedule_direct_method", e));
        // Prism invents a continuation token for every page, so the stream would not end.
        let query = JobQuery::default()
            .with_status(JobStatus::Scheduled)
            .with_page_size(5);
        let items: Vec<_> = std::pin::pin!(client.query_jobs(query))
            .take(3)
            .collect()
            .await;
        for item in items {
            if let Err(error) = listed(item) {
                fail("query", error);
            }
        }
        let rows = DeviceJobQuery::default().with_status(DeviceJobStatus::Failed);
        let rows: Vec<_> = std::pin::pin!(client.query_device_jobs(id, rows))
            .take(3)
            .collect()
            .await;
        for row in rows {
            if let Err(error) = listed(row) {
                fail("query_device_jobs", error);
            }
        }
        // Prism's invented rows hold no count: the client says so, as a typed error.
        let canary = Field::tag("ring").eq("canary");
        match client.count_devices(canary.clone()).await {
            Err(error) if error.kind() != &ErrorKind::InvalidResponse => {
                fail("count_devices", error)
            }
            _ => {}
        }
        let twins: Vec<_> = std::pin::pin!(client.query_twins(canary.clone()))
            .take(3)
            .collect()
            .await;
        for twin in twins {
            if let Err(error) = listed(twin) {
                fail("query_twins", error);
            }
        }
        let ids: Vec<_> = std::pin::pin!(client.query_device_ids(canary))
            .take(3)
            .collect()
            .await;
        for id in ids {
            if let Err(error) = listed(id) {
                fail("query_device_ids", error);
            }
        }
        let container = "https://acct.blob.core.windows.net/devices?sv=2024-08-04&sig=c2lnbmF0dXJl";
        client
            .export_devices(ExportJob::new(container, StorageAuthentication::KeyBased))
            .await
            .unwrap_or_else(|e| fail("export_devices", e));
        let plain = "https://acct.blob.core.windows.net/devices";
        client
            .import_devices(ImportJob::new(
                plain,
                plain,
                StorageAuthentication::SystemAssignedIdentity,
            ))
            .await
            .unwrap_or_else(|e| fail("import_devices", e));
        client
            .get_import_export_job(id)
            .await
            .unwrap_or_else(|e| fail("get_import_export_job", e));
        client
            .list_import_export_jobs()
            .await
            .unwrap_or_else(|e| fail("list_import_export_jobs", e));
        client
            .cancel_import_export_job(id)
            .await
            .unwrap_or_else(|e| fail("cancel_import_export_job", e));
    }
    drop(prism);

    let log = std::fs::read_to_string(&log_path).unwrap();
    let _ = std::fs::remove_file(&log_path);
    let violations: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("did not pass the validation rules") || l.contains('✖'))
        .collect();
    assert!(
        violations.is_empty(),
        "prism found violations:\n{}",
        violations.join("\n")
    );
    // `[HTTP SERVER] post /jobs/v2/a/cancel ℹ  info      Request received`
    let received: Vec<(String, String)> = log
        .lines()
        .filter(|line| line.contains("Request received"))
        .filter_map(|line| {
            let mut words = line.split("[HTTP SERVER] ").nth(1)?.split_whitespace();
            Some((words.next()?.to_owned(), words.next()?.to_owned()))
        })
        .collect();
    let covered: BTreeSet<String> = received
        .iter()
        .filter_map(|(method, path)| support::spec_operation_for(method, path))
        .collect();
    support::assert_every_operation(&covered, "the Prism test never sent");
    let validated = log
        .matches("The request passed the validation rules")
        .count();
    assert!(
        validated >= received.len(),
        "prism validated every request ({validated} of {}):\n{log}",
        received.len()
    );
}
