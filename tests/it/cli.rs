//! The command line, `iothub-jobs`, driven as a process against the local hub's binary: every
//! command, the JSON it prints, each exit code, a rollout from the example plan that halts and
//! resumes, and Ctrl-C during a wait.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::Duration,
};

use serde_json::{Value, json};

use crate::support;

/// Longer than any command here takes; a command that would hang fails its test instead.
const COMMAND_TIME: Duration = Duration::from_secs(60);

/// A local hub's binary serving a generated fleet of 50 devices in rings, whose jobs run for a
/// second and whose devices answer half a second after their twins are written, with
/// `device-0000004` (early ring) rejecting desired changes and `device-0000002` offline; and
/// the command line pointed at it.
struct Hub {
    process: Child,
    connection_string: String,
    endpoint: String,
    _fleet: TempFile,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// A file removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("iothub-jobs-cli-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Numbers the fleet files of hubs running at once.
static FLEETS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn hub() -> Hub {
    let fleet = TempFile::new(
        &format!(
            "fleet-{}.json",
            FLEETS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ),
        &json!([
            {"deviceId": "device-0000004", "tags": {"ring": "early"}, "behaviour": "rejects"},
            {"deviceId": "device-0000002", "tags": {"ring": "early"}, "behaviour": "offline"},
        ])
        .to_string(),
    );
    let (process, connection_string, endpoint) = support::started_local_hub(
        &[
            "--generate-fleet",
            "50",
            "--devices",
            fleet.0.to_str().unwrap(),
            "--job-run-time",
            "1",
            "--apply-delay",
            "0.5",
            "--max-page-size",
            "20",
            "--import-export-run-time",
            "1",
        ],
        Stdio::null(),
    );
    Hub {
        process,
        connection_string,
        endpoint,
        _fleet: fleet,
    }
}

impl Hub {
    /// `iothub-jobs args…` against this hub, with no progress (stderr is a pipe anyway).
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(support::cli_binary());
        command
            .args(args)
            .env("IOTHUB_CONNECTION_STRING", &self.connection_string)
            .env("IOTHUB_ENDPOINT", &self.endpoint)
            .env_remove("IOTHUB_HUB");
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::of(support::output_within(
            &mut self.command(args),
            COMMAND_TIME,
        ))
    }
}

/// How a command ended.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn of(output: Output) -> Self {
        Self {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Its one JSON document, having exited with `code`.
    fn json(&self, code: i32) -> Value {
        assert_eq!(self.code, Some(code), "{self:?}");
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }
}

/// `job create` of job `id` of type `job_type` on the devices `condition` selects, then `more`.
fn create<'a>(
    id: &'a str,
    job_type: &'a str,
    condition: &'a str,
    more: &[&'a str],
) -> Vec<&'a str> {
    let create = [
        "job",
        "create",
        "--job-id",
        id,
        "--job-type",
        job_type,
        "-q",
        condition,
    ];
    [&create[..], more].concat()
}

/// `job create` of twin update `id` of `patch` on the devices `condition` selects, then `more`.
fn create_twin_update<'a>(
    id: &'a str,
    condition: &'a str,
    patch: &'a str,
    more: &[&'a str],
) -> Vec<&'a str> {
    create(
        id,
        "scheduleUpdateTwin",
        condition,
        &[&["--twin-patch", patch][..], more].concat(),
    )
}

/// `job create` of method `reboot` on every device as job `id`, then `more`.
fn create_reboot<'a>(id: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    create(
        id,
        "scheduleDeviceMethod",
        "*",
        &[&["--method-name", "reboot"][..], more].concat(),
    )
}

/// Waits, a second between polls, for a job that starts in 2099: it stays scheduled.
const WAITING_FOR_2099: [&str; 5] = [
    "--start-time",
    "2099-01-01T00:00:00Z",
    "--wait",
    "--poll-interval",
    "1",
];

fn example_plan() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/plans/firmware.toml")
}

#[test]
fn a_method_job_runs_to_its_end_and_its_outcome_and_rows_follow() {
    let hub = hub();
    let job = hub
        .run(&create_reboot(
            "j1",
            &[
                "--method-payload",
                r#"{"delay": 5}"#,
                "--wait",
                "--poll-interval",
                "1",
            ],
        ))
        .json(0);
    assert_eq!(job["jobId"], "j1");
    assert_eq!(job["status"], "completed");
    assert_eq!(job["cloudToDeviceMethod"]["payload"], json!({"delay": 5}));
    assert_eq!(job["deviceJobStatistics"]["deviceCount"], 50);

    let outcome = hub.run(&["job", "outcome", "j1"]).json(0);
    assert_eq!(outcome["devices"], 50);
    assert_eq!(outcome["counts"]["succeeded"], 49);
    assert_eq!(outcome["failed"][0]["deviceId"], "device-0000002");
    assert_eq!(outcome["failed"][0]["code"], "DeviceNotOnline");

    let shown = hub.run(&["job", "show", "--job-id", "j1"]).json(0);
    assert_eq!(shown, job);
    let listed = hub
        .run(&[
            "job",
            "list",
            "--job-type",
            "scheduleDeviceMethod",
            "--top",
            "5",
        ])
        .json(0);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["jobId"], "j1");
    let failed = hub.run(&["job", "devices", "j1", "--failed-only"]).json(0);
    assert_eq!(failed.as_array().unwrap().len(), 1, "{failed}");
    assert_eq!(failed[0]["error"]["code"], "DeviceNotOnline");
    let rows = hub.run(&["job", "devices", "j1", "--top", "30"]).json(0);
    assert_eq!(rows.as_array().unwrap().len(), 30, "past a page of 20");

    let reruns = hub.run(&["job", "rerun", "j1"]).json(0);
    assert_eq!(reruns[0]["jobId"], "j1-rerun-1");
    assert_eq!(
        reruns[0]["queryCondition"],
        "deviceId IN ['device-0000002']"
    );
}

#[test]
fn each_exit_code_says_how_a_command_ended() {
    let hub = hub();
    let missing = hub.run(&["job", "show", "missing"]);
    assert_eq!(missing.code, Some(1), "{missing:?}");
    assert!(missing.stderr.contains("404 JobNotFound"), "{missing:?}");
    assert!(missing.stdout.is_empty());

    // Invalid input is refused before anything is sent: the endpoint is never reached.
    let nowhere = "http://127.0.0.1:1";
    let tags = r#"{"tags": {"a": 1}}"#;
    for args in [
        create_reboot("bad id!", &[]),
        create_reboot("t", &["--start-time", "tomorrow"]),
        create_reboot("t", &["--method-payload", "{not json"]),
        create_twin_update("t", "*", r#"{"properties": {"reported": {"a": 1}}}"#, &[]),
        create_twin_update("t", "SELECT * FROM devices", tags, &[]),
        create_twin_update("t", "*", tags, &["--method-name", "reboot"]),
        create("t", "scheduleUpdateTwin", "*", &[]),
        create("t", "twin", "*", &[]),
        vec!["devices", "count", "-q", "tags.ring = 'unclosed"],
        vec!["rollout", "missing-plan.toml", "--dry-run"],
    ] {
        let run = hub.run(&[&["--endpoint", nowhere][..], &args].concat());
        assert_eq!(run.code, Some(2), "{args:?}: {run:?}");
        assert!(!run.stderr.is_empty() && run.stdout.is_empty(), "{run:?}");
    }
    let listed = hub.run(&["job", "list"]).json(0);
    assert_eq!(listed, json!([]), "nothing was created");

    let no_credentials = Run::of(support::output_within(
        Command::new(support::cli_binary())
            .args(["job", "show", "j"])
            .env_remove("IOTHUB_CONNECTION_STRING"),
        COMMAND_TIME,
    ));
    assert_eq!(no_credentials.code, Some(2), "{no_credentials:?}");
    assert!(no_credentials.stderr.contains("IOTHUB_CONNECTION_STRING"));

    // Waited, and it did not happen: the job as last seen, and exit code 3.
    let late = hub
        .run(&create_twin_update(
            "late",
            "*",
            r#"{"tags": {"a": 1}}"#,
            &[&WAITING_FOR_2099[..], &["--poll-duration", "2"]].concat(),
        ))
        .json(3);
    assert_eq!(late["status"], "scheduled");
    let cancelled = hub
        .run(&["job", "cancel", "late", "--wait", "--poll-interval", "1"])
        .json(0);
    assert_eq!(cancelled["status"], "cancelled");
}

#[test]
fn device_commands_count_list_group_and_judge_convergence() {
    let hub = hub();
    assert_eq!(
        hub.run(&["devices", "count", "-q", "tags.ring = 'early'"])
            .json(0),
        json!({"count": 9})
    );
    let ids = hub
        .run(&["devices", "ids", "-q", "tags.ring = 'early'", "--top", "3"])
        .json(0);
    assert_eq!(
        ids,
        json!(["device-0000002", "device-0000003", "device-0000004"])
    );
    let twins = hub
        .run(&["devices", "twins", "-q", "tags.ring = 'canary'"])
        .json(0);
    assert_eq!(twins[0]["deviceId"], "device-0000001");
    assert_eq!(twins[0]["tags"]["ring"], "canary");
    let groups = hub
        .run(&["devices", "distribution", "--by", "tags.ring"])
        .json(0);
    let mut counted: Vec<(String, u64)> = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["values"][0].as_str().unwrap().to_owned(),
                g["devices"].as_u64().unwrap(),
            )
        })
        .collect();
    counted.sort();
    assert_eq!(
        counted,
        [
            ("broad".into(), 40),
            ("canary".into(), 1),
            ("early".into(), 9)
        ]
    );

    // Firmware to the early ring: one device rejects it, one is offline.
    hub.run(&create_twin_update(
        "fw",
        "tags.ring = 'early'",
        r#"{"properties": {"desired": {"firmware": {"version": "2.0.0"}}}}"#,
        &["--wait", "--poll-interval", "1"],
    ))
    .json(0);
    let early = "tags.ring = 'early'";
    let patch = r#"{"firmware": {"version": "2.0.0"}}"#;
    let report = hub
        .run(&[
            "devices",
            "convergence",
            "-q",
            early,
            "--patch",
            patch,
            "--wait",
            "--poll-interval",
            "1",
            "--poll-duration",
            "20",
        ])
        .json(3);
    assert_eq!(report["end"], "tooManyFailed");
    assert_eq!(report["failedSample"], json!(["device-0000004"]));
    let lenient = hub
        .run(&[
            "devices",
            "convergence",
            "-q",
            early,
            "--acknowledged",
            "--wait",
            "--share",
            "0.7",
            "--max-failed-share",
            "0.2",
            "--poll-interval",
            "1",
        ])
        .json(0);
    assert_eq!(lenient["end"], "converged");
    let counts = hub
        .run(&["devices", "convergence", "-q", early, "--acknowledged"])
        .json(0);
    assert_eq!(
        counts,
        json!({"targeted": 9, "converged": 7, "failed": 1, "pending": 1})
    );
}

#[test]
fn import_and_export_jobs_wait_and_never_print_a_container_sas() {
    let hub = hub();
    let sas = "sv=2024-08-04&sig=c2VjcmV0LXNpZ25hdHVyZQ";
    let container = format!("https://backups.blob.core.windows.net/devices?{sas}");
    let export = hub.run(&[
        "import-export",
        "export",
        "--output-container",
        &container,
        "--wait",
        "--poll-interval",
        "1",
    ]);
    let job = export.json(0);
    assert_eq!(job["status"], "completed");
    assert_eq!(job["excludeKeysInExport"], true);
    let id = job["jobId"].as_str().unwrap();
    let shown = hub.run(&["import-export", "show", id]).json(0);
    let listed = hub.run(&["import-export", "list"]).json(0);
    assert_eq!(listed[0]["jobId"], id);
    let import = hub
        .run(&[
            "import-export",
            "import",
            "--input-container",
            &container,
            "--output-container",
            &container,
        ])
        .json(0);
    let cancelled = hub
        .run(&["import-export", "cancel", import["jobId"].as_str().unwrap()])
        .json(0);
    assert_eq!(cancelled["status"], "cancelled");
    for printed in [
        &export.stdout,
        &shown.to_string(),
        &listed.to_string(),
        &cancelled.to_string(),
    ] {
        assert!(!printed.contains("c2VjcmV0"), "{printed}");
        assert!(
            printed.contains("https://backups.blob.core.windows.net/devices"),
            "{printed}"
        );
    }
}

#[test]
fn the_example_plan_counts_its_waves_halts_where_devices_reject_and_resumes() {
    let hub = hub();
    let plan = example_plan();
    let plan = plan.to_str().unwrap();
    let dry = hub.run(&["rollout", plan, "--dry-run"]).json(0);
    let devices: Vec<(String, u64)> = dry["waves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["name"].as_str().unwrap().to_owned(),
                w["devices"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        devices,
        [
            ("canary".into(), 1),
            ("early".into(), 9),
            ("broad".into(), 40)
        ]
    );
    assert_eq!(dry["waves"][1]["jobId"], "firmware-2-4-1-early");
    assert_eq!(
        hub.run(&["job", "list"]).json(0),
        json!([]),
        "a dry run creates nothing"
    );

    let halted = hub.run(&["rollout", plan]);
    let report = halted.json(3);
    assert_eq!(report["halted"]["name"], "early");
    assert_eq!(report["halted"]["reason"]["kind"], "notConverged");
    assert!(
        halted.stderr.contains("device-0000004") && halted.stderr.contains("--start-at broad"),
        "{halted:?}"
    );
    let resumed = hub.run(&["rollout", plan, "--start-at", "broad"]).json(0);
    assert_eq!(resumed["halted"], Value::Null);
    assert_eq!(resumed["waves"][0]["name"], "broad");
    assert_eq!(
        resumed["waves"][0]["convergence"]["counts"]["converged"],
        40
    );

    let typo = TempFile::new(
        "typo.toml",
        &std::fs::read_to_string(example_plan())
            .unwrap()
            .replace("max-failure-rate", "max-failure-rat"),
    );
    let refused = hub.run(&["rollout", typo.0.to_str().unwrap(), "--dry-run"]);
    assert_eq!(refused.code, Some(2), "{refused:?}");
    assert!(refused.stderr.contains("max-failure-rat"), "{refused:?}");
    let unknown_wave = hub.run(&["rollout", plan, "--start-at", "lab"]);
    assert_eq!(unknown_wave.code, Some(2));
    assert!(
        unknown_wave.stderr.contains("canary, early, broad"),
        "{unknown_wave:?}"
    );
}

/// Ctrl-C during a wait stops the command cleanly (exit 130), saying what runs on.
#[cfg(unix)]
#[test]
fn ctrl_c_during_a_wait_stops_cleanly_and_says_what_runs_on() {
    let hub = hub();
    let mut waiting = hub
        .command(&create_twin_update(
            "far",
            "*",
            r#"{"tags": {"a": 1}}"#,
            &WAITING_FOR_2099,
        ))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the job exists, the command is waiting.
    let mut created = false;
    for _ in 0..200 {
        if hub.run(&["job", "show", "far"]).code == Some(0) {
            created = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(created, "the job was created");
    let signalled = Command::new("kill")
        .args(["-INT", &waiting.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let started = std::time::Instant::now();
    while waiting.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < COMMAND_TIME,
            "still waiting after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let run = Run::of(waiting.wait_with_output().unwrap());
    assert_eq!(run.code, Some(130), "{run:?}");
    assert!(run.stderr.contains("job far runs on"), "{run:?}");
}

#[test]
fn output_formats_completions_and_logs_never_show_a_secret() {
    let hub = hub();
    let key = hub
        .connection_string
        .split("SharedAccessKey=")
        .nth(1)
        .unwrap()
        .to_owned();
    let table = hub.run(&["-o", "table", "devices", "count"]);
    assert_eq!(table.code, Some(0));
    assert_eq!(table.stdout.trim(), "count  50");
    let none = hub.run(&["--output", "none", "devices", "count"]);
    assert_eq!((none.code, none.stdout.as_str()), (Some(0), ""));
    let logged = hub.run(&["-vvv", "job", "show", "missing"]);
    assert_eq!(logged.code, Some(1));
    assert!(logged.stderr.len() > 100, "-vvv logs: {logged:?}");
    for text in [&logged.stderr, &logged.stdout] {
        assert!(!text.contains(&key), "the key: {text}");
        assert!(!text.contains("sig="), "a signature: {text}");
    }
    let quiet = hub.run(&["job", "show", "missing"]);
    assert_eq!(
        quiet.stderr.lines().count(),
        1,
        "no logs without -v: {quiet:?}"
    );
    for shell in ["bash", "zsh", "fish"] {
        let script = hub.run(&["completions", shell]);
        assert_eq!(script.code, Some(0));
        assert!(script.stdout.contains("rollout"), "{shell}");
    }
    let help = hub.run(&["--help"]);
    assert!(help.stdout.contains("130  interrupted"), "{help:?}");
    assert!(
        !help.stdout.contains(&key),
        "help shows no environment value"
    );
}

/// `--auth-type login` takes its token from the Azure CLI (here a stand-in `az` on PATH that
/// prints one, as `az account get-access-token` does) and sends it as a bearer token, which the
/// local hub, knowing SAS alone, refuses; without `az`, the error says to install it and log in.
#[cfg(unix)]
#[test]
fn the_azure_cli_login_is_used_for_entra_id() {
    use std::os::unix::fs::PermissionsExt as _;
    let hub = hub();
    let bin = std::env::temp_dir().join(format!("iothub-jobs-cli-az-{}", std::process::id()));
    std::fs::create_dir_all(&bin).unwrap();
    let az = bin.join("az");
    let expires = support::unix_now() + 3600;
    std::fs::write(
        &az,
        format!(
            "#!/bin/sh\necho '{{\"accessToken\": \"entra-cli-token\", \"expires_on\": {expires}, \"tokenType\": \"Bearer\"}}'\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&az, std::fs::Permissions::from_mode(0o755)).unwrap();
    let login = |path: &str| {
        Run::of(support::output_within(
            hub.command(&[
                "--auth-type",
                "login",
                "--hub",
                "localhub",
                "job",
                "show",
                "j",
            ])
            .env_remove("IOTHUB_CONNECTION_STRING")
            .env("PATH", path),
            COMMAND_TIME,
        ))
    };
    let refused = login(bin.to_str().unwrap());
    assert_eq!(refused.code, Some(1), "{refused:?}");
    assert!(
        refused.stderr.contains("401"),
        "the hub refused the bearer token: {refused:?}"
    );
    assert!(!refused.stderr.contains("entra-cli-token"), "{refused:?}");
    let without_az = login("/nonexistent");
    let _ = std::fs::remove_dir_all(&bin);
    assert_eq!(without_az.code, Some(1), "{without_az:?}");
    assert!(without_az.stderr.contains("az login"), "{without_az:?}");
}
