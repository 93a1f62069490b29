//! The client against Stoplight Prism, a third-party mock server that validates every request
//! against spec/ and, in dynamic mode, answers with random schema-valid responses.
//!
//! Needs Prism: `.ci/run` installs it (`npm ci --prefix .ci/prism`) and sets
//! `IOTHUB_JOBS_PRISM=.ci/prism/node_modules/.bin/prism`. Run it locally the same way:
//!
//! ```text
//! npm ci --prefix .ci/prism
//! IOTHUB_JOBS_PRISM=$PWD/.ci/prism/node_modules/.bin/prism cargo test --all-features --test prism
//! ```

use std::{
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use iothub_jobs::{JobsClient, JobsClientOptions, auth::SasKeyCredential};

const CALLS: usize = 200;

/// Stops Prism however the test ends.
struct Prism(Child);

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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
    let Some(prism) = std::env::var_os("IOTHUB_JOBS_PRISM") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must run this test: .ci/run sets IOTHUB_JOBS_PRISM"
        );
        eprintln!("skipped: set IOTHUB_JOBS_PRISM to a prism executable (see this file's header)");
        return;
    };
    let port = free_port();
    let log_path =
        std::env::temp_dir().join(format!("iothub-jobs-prism-{}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).unwrap();
    let spec = concat!(env!("CARGO_MANIFEST_DIR"), "/spec/iothub-jobs.openapi.json");
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
    for call in 0..CALLS {
        let id = ids[call % ids.len()];
        if let Err(error) = client.cancel_job(id).await {
            panic!(
                "call {call} ({id}) failed: {error}\n{}",
                std::fs::read_to_string(&log_path).unwrap()
            );
        }
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
    let validated = log
        .matches("The request passed the validation rules")
        .count();
    assert_eq!(validated, CALLS, "prism validated every request:\n{log}");
}
