//! The examples, run as their users run them: as processes, over real HTTP.

use std::process::{Command, Stdio};

use iothub_jobs::{JobsClient, JobsClientOptions, models::JobStatus};

use iothub_local_hub::LocalHub;

use crate::support;

use support::started_local_hub;

/// A twin update of device `d` that starts in an hour, so it stays active.
fn twin_update_in_an_hour(id: &str) -> iothub_jobs::TwinUpdateJob {
    iothub_jobs::TwinUpdateJob::new(id, "deviceId IN ['d']")
        .with_tags(support::object(serde_json::json!({"site": "b"})))
        .with_start_time(chrono::Utc::now() + chrono::Duration::hours(1))
}

/// `iothub-local-hub` prints a connection string and an endpoint, answers any client at that
/// endpoint, logs each request on stderr, and stops cleanly on Ctrl-C (SIGINT).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_hub_binary_serves_until_interrupted() {
    let (hub, connection_string, endpoint) = started_local_hub(
        &["--host-name", "testhub.azure-devices.net"],
        Stdio::piped(),
    );
    assert!(
        connection_string.starts_with(
            "HostName=testhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey="
        ),
        "{connection_string}"
    );
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");

    let options = JobsClientOptions::default().with_endpoint(&endpoint);
    let client =
        JobsClient::from_connection_string_with_options(&connection_string, options).unwrap();
    client
        .schedule_twin_update(twin_update_in_an_hour("served"))
        .await
        .unwrap();
    let cancelled = client.cancel_job("served").await.unwrap();
    assert_eq!(cancelled.status, Some(JobStatus::Cancelled));

    let interrupted = Command::new("kill")
        .args(["-INT", &hub.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let output = tokio::task::spawn_blocking(move || hub.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(output.status.success(), "{:?}", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in [
        "method=PUT path=\"/jobs/v2/served\" status=200",
        "method=POST path=\"/jobs/v2/served/cancel\" status=200",
    ] {
        assert!(stderr.contains(line), "{line} in {stderr}");
    }
    assert!(!stderr.contains("SharedAccessSignature"), "{stderr}");
}

/// `iothub-local-hub --tier S1` runs one scheduled job at a time and refuses a second with `429
/// ThrottlingMaxActiveJobCountExceeded`; a tier it does not know stops it with exit code 2,
/// naming the ones it knows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_hub_binary_runs_as_many_jobs_as_its_tier() {
    let (mut hub, connection_string, endpoint) =
        started_local_hub(&["--tier", "s1"], Stdio::null());
    let options = JobsClientOptions::default()
        .with_endpoint(endpoint)
        .with_retry(iothub_jobs::RetryOptions::disabled());
    let client =
        JobsClient::from_connection_string_with_options(&connection_string, options).unwrap();
    let first = client
        .schedule_twin_update(twin_update_in_an_hour("first"))
        .await;
    let second = client
        .schedule_twin_update(twin_update_in_an_hour("second"))
        .await;
    let _ = hub.kill();
    let _ = hub.wait();
    first.unwrap();
    let refused = second.unwrap_err();
    assert_eq!(
        (refused.status(), refused.code()),
        (Some(429), Some("ThrottlingMaxActiveJobCountExceeded")),
        "{refused}"
    );

    let output = support::output_within(
        Command::new(support::local_hub_binary()).args(["--port", "0", "--tier", "S9"]),
        EXAMPLE_TIME,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for named in ["--tier", "\"S9\"", "Free, S1, S2 or S3", "usage:"] {
        assert!(stderr.contains(named), "{named} in {stderr}");
    }
}

#[test]
fn the_local_hub_binarys_help_lists_every_setting_with_its_default() {
    let output = Command::new(support::local_hub_binary())
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8_lossy(&output.stdout);
    for (flag, default) in [
        ("--port", "0"),
        ("--host-name", LocalHub::DEFAULT_HOST_NAME),
        ("--policy-name", LocalHub::DEFAULT_POLICY_NAME),
        ("--max-active-jobs", "100"),
        ("--job-run-time", "60 s"),
        ("--import-export-run-time", "3 s"),
        ("--job-retention", "2592000 s"),
        ("--max-page-size", "3"),
        ("--client-timeout", "30 s"),
        ("--max-connections", "512"),
        ("--request-log ", "0"),
        ("--request-log-bytes", "16777216"),
        ("--apply-delay", "2 s"),
        ("--slow-delay", "600 s"),
        ("--seed", "0"),
    ] {
        let line = help
            .lines()
            .find(|line| line.trim_start().starts_with(flag))
            .unwrap_or_else(|| panic!("{flag} in {help}"));
        assert!(line.contains(&format!("(default {default}")), "{line}");
    }
    for flag in ["--policy-key", "--devices", "--tier"] {
        assert!(help.contains(flag), "{flag} in {help}");
    }
}

#[test]
fn the_local_hub_binary_refuses_bad_arguments() {
    for args in [
        &["--port", "http"][..],
        &["--policy-key"],
        &["--bogus"],
        &["--policy-name", "p"],
        &["--policy-keys=c2VjcmV0LWxvY2FsLWh1Yi1rZXk="],
        &["--policy-key=not base64 c2VjcmV0LWxvY2FsLWh1Yi1rZXk="],
        &["--job-run-time", "soon"],
        &["--client-timeout", "-1"],
        &["--max-page-size", "many"],
    ] {
        let output = Command::new(support::local_hub_binary())
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("usage:"), "{args:?}");
        assert!(
            !stderr.contains("c2VjcmV0LWxvY2FsLWh1Yi1rZXk"),
            "a key is never echoed: {stderr}"
        );
    }
    // The `=` form is read like the spaced one.
    let mut hub = Command::new(support::local_hub_binary())
        .args(["--port=0", "--policy-key=c2VjcmV0LWxvY2FsLWh1Yi1rZXk="])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(hub.stdout.as_mut().unwrap()),
        &mut first,
    )
    .unwrap();
    let _ = hub.kill();
    let _ = hub.wait();
    assert!(
        first.contains("SharedAccessKey=c2VjcmV0LWxvY2FsLWh1Yi1rZXk="),
        "the key given with `=` is the hub's: {first}"
    );
}

/// `iothub-local-hub --devices FILE` refuses a fleet with a twin the hub cannot hold: exit code 2, a
/// message naming the file, the twin and what it lacks, and no connection string on stdout
/// (a client must never be handed a hub without its fleet).
#[test]
fn the_local_hub_binary_refuses_a_twin_without_a_device_id() {
    let file = std::env::temp_dir().join(format!(
        "iothub-jobs-fleet-without-id-{}.json",
        std::process::id()
    ));
    std::fs::write(
        &file,
        r#"[{"deviceId": "sensor-1"}, {"tags": {"ring": "canary"}}]"#,
    )
    .unwrap();
    let output = support::output_within(
        Command::new(support::local_hub_binary())
            .args(["--port", "0", "--devices"])
            .arg(&file),
        EXAMPLE_TIME,
    );
    let _ = std::fs::remove_file(&file);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(output.stdout.is_empty(), "{:?}", output.stdout);
    for named in [file.to_string_lossy().as_ref(), "twin 1", "deviceId"] {
        assert!(stderr.contains(named), "{named} in {stderr}");
    }
}

/// `iothub-local-hub --devices FILE` refuses a twin that breaks the API description's twin rules (a
/// tag named `a.b`, which no query could select): exit code 2, a message naming the device, the
/// key and the rule, and no connection string.
#[test]
fn the_local_hub_binary_refuses_a_twin_that_breaks_the_twin_rules() {
    let file = std::env::temp_dir().join(format!(
        "iothub-jobs-fleet-dotted-tag-{}.json",
        std::process::id()
    ));
    std::fs::write(
        &file,
        r#"[{"deviceId": "sensor-1"}, {"deviceId": "sensor-2", "tags": {"a.b": 1}}]"#,
    )
    .unwrap();
    let output = support::output_within(
        Command::new(support::local_hub_binary())
            .args(["--port", "0", "--devices"])
            .arg(&file),
        EXAMPLE_TIME,
    );
    let _ = std::fs::remove_file(&file);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(output.stdout.is_empty(), "{:?}", output.stdout);
    for named in ["twin 1", "sensor-2", "\"a.b\"", "holds '.'"] {
        assert!(stderr.contains(named), "{named} in {stderr}");
    }
}

/// How long an example on the embedded hub may take: far more than it needs, far less than a
/// wait it would never finish (the examples wait up to 30 minutes on a real hub).
const EXAMPLE_TIME: std::time::Duration = std::time::Duration::from_secs(30);

/// `export_devices` on the embedded hub: progress on stderr, the completed job as JSON on
/// stdout, and the container's SAS in neither.
#[test]
fn the_export_example_prints_a_completed_job_and_no_sas() {
    let output = support::output_within(
        Command::new(support::example("export_devices"))
            .env_remove("IOTHUB_CONNECTION_STRING")
            .env_remove("IOTHUB_EXPORT_CONTAINER_URI"),
        EXAMPLE_TIME,
    );
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(output.status.success(), "{stderr}");
    let job: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (&job["status"], &job["progress"]),
        (&serde_json::json!("completed"), &serde_json::json!(100))
    );
    assert!(stderr.contains("running"), "progress shown: {stderr}");
    for shown in [&stdout, &stderr] {
        crate::secret_forms::assert_hidden(shown, "ZGVtby1zaWduYXR1cmU%3D");
    }
}

/// `device_results` on the embedded hub: the job's outcome as JSON on stdout, the device that
/// answered `501` apart from the succeeded ones, the offline one failed with its error.
#[test]
fn the_device_results_example_reports_the_method_failure_apart() {
    let output = support::output_within(
        Command::new(support::example("device_results")).env_remove("IOTHUB_CONNECTION_STRING"),
        EXAMPLE_TIME,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let outcome: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        outcome["counts"],
        serde_json::json!({"succeeded": 2, "methodFailed": 1, "failed": 1, "running": 0,
            "pending": 0, "scheduled": 0, "canceled": 0, "other": 0})
    );
    assert_eq!(outcome["devices"], 4);
    assert_eq!(
        (
            &outcome["failed"][0]["deviceId"],
            &outcome["failed"][0]["code"]
        ),
        (
            &serde_json::json!("thermostat-3"),
            &serde_json::json!("DeviceNotOnline")
        )
    );
    assert_eq!(
        (
            &outcome["methodFailed"][0]["deviceId"],
            &outcome["methodFailed"][0]["status"]
        ),
        (&serde_json::json!("thermostat-4"), &serde_json::json!(501))
    );
    assert!(
        stderr.contains(
            "2 succeeded, 1 failed, 1 answered outside 2xx (the service counts 3 succeeded)"
        ),
        "{stderr}"
    );
}

/// `rollout` on the embedded hub: a firmware version through desired properties; the canary
/// converges, the early ring's two rejecting devices halt it there, named, and the broad ring is
/// never scheduled. (A direct method answering `500` halting a rollout is
/// `rollouts::a_rollout_halts_at_the_ring_where_a_method_failed_and_names_the_device`.)
#[test]
fn the_rollout_example_halts_at_the_early_ring_where_devices_reject_the_firmware() {
    let output = support::output_within(
        Command::new(support::example("rollout")).env_remove("IOTHUB_CONNECTION_STRING"),
        EXAMPLE_TIME,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let waves = report["waves"].as_array().unwrap();
    let names: Vec<_> = waves.iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["canary", "early"]);
    assert_eq!(waves[0]["convergence"]["end"], "converged");
    assert_eq!(
        waves[1]["outcome"]["counts"]["succeeded"], 9,
        "every cloud twin was written"
    );
    let reason = &report["halted"]["reason"];
    assert_eq!(
        (reason["kind"].as_str(), reason["end"].as_str()),
        (Some("notConverged"), Some("tooManyFailed"))
    );
    assert_eq!(
        reason["failedSample"],
        serde_json::json!(["device-0000004", "device-0000007"])
    );
    assert!(
        stderr.contains("halted after wave 2 (early): 2 device(s) reported failure to apply it: device-0000004, device-0000007"),
        "{stderr}"
    );
    assert!(
        stderr.contains("wave 1: 0 of 1 devices applied 2.4.1"),
        "the progress: {stderr}"
    );
    assert!(!stderr.contains("wave 3"), "{stderr}");
}

/// `preview_targets` on the embedded hub: the count and the devices the condition selects,
/// and a twin the job changed, read back.
#[test]
fn the_preview_targets_example_prints_a_count_the_devices_and_a_changed_twin() {
    let output = support::output_within(
        Command::new(support::example("preview_targets")).env_remove("IOTHUB_CONNECTION_STRING"),
        EXAMPLE_TIME,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["count"], 2, "{report}");
    assert_eq!(
        report["devices"],
        serde_json::json!(["sensor-01", "sensor-03"])
    );
    assert_eq!(report["job"]["statistics"]["succeededCount"], 2, "{report}");
    let twin = &report["changed_twin"];
    assert_eq!(twin["deviceId"], "sensor-01");
    assert_eq!(
        twin["properties"]["desired"]["firmware"]["version"],
        "2.4.0"
    );
    assert_eq!(twin["version"], 2, "{twin}");
}
