//! The local hub's devices answer back on their twins, on the hub's clock: each applies a
//! desired change after a delay (or rejects it, stays offline, never reports, or is slow), as
//! set per device, as a seeded fleet-wide mix, or from the binary's flags and `--devices` file.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use futures::StreamExt as _;
use iothub_jobs::{
    Convergence, ConvergenceCounts, Field, JobsClient, JobsClientOptions, Queried, TwinUpdateJob,
    WaitOptions,
};
use iothub_local_hub::{DeviceBehaviour, DeviceMix, LocalHub, LocalHubBuilder};
use serde_json::{Value, json};

use crate::support::{self, HubClient as _};

const APPLY: Duration = LocalHubBuilder::DEFAULT_APPLY_DELAY;

/// A hub of `devices` generated devices whose jobs run for a minute, on a clock held at the
/// real time.
async fn held_hub(builder: LocalHubBuilder, devices: usize) -> LocalHub {
    let hub = builder
        .job_run_time(Duration::from_secs(60))
        .generated_fleet(devices)
        .start()
        .await
        .unwrap();
    hub.set_time(std::time::SystemTime::now());
    hub
}

/// Sends firmware `version` to every device in a twin update that starts now (the client's
/// now, a little past the held clock), and moves the clock past its end: every cloud twin is
/// written then.
async fn send_firmware(hub: &LocalHub, client: &JobsClient, job_id: &str, version: &str) {
    let patch = support::object(json!({"firmware": {"version": version}}));
    client
        .schedule_twin_update(TwinUpdateJob::new(job_id, "*").with_desired_properties(patch))
        .await
        .unwrap();
    hub.advance_time(Duration::from_secs(61));
    assert_eq!(hub.job(job_id).unwrap()["status"], "completed");
}

async fn acknowledged(client: &JobsClient) -> ConvergenceCounts {
    client
        .convergence("*", &Convergence::acknowledged())
        .await
        .unwrap()
}

#[tokio::test]
async fn devices_apply_desired_properties_after_the_delay_in_microsofts_convention() {
    let hub = held_hub(LocalHub::builder(), 3).await;
    let client = hub.client().unwrap();
    let before = hub.twin("device-0000001").unwrap();
    send_firmware(&hub, &client, "fw", "2.0.0").await;
    let written = hub.twin("device-0000001").unwrap();
    assert_eq!(
        written["properties"]["reported"], before["properties"]["reported"],
        "not before the delay"
    );
    assert_eq!(support::counted(&acknowledged(&client).await), (3, 0, 0, 3));

    hub.advance_time(APPLY);
    assert_eq!(support::counted(&acknowledged(&client).await), (3, 3, 0, 0));
    let applied = hub.twin("device-0000001").unwrap();
    let reported = &applied["properties"]["reported"];
    assert_eq!(reported["firmware"]["version"], "2.0.0");
    assert_eq!(reported["lastDesiredVersion"], 2);
    assert_eq!(reported["lastDesiredStatus"]["code"], 200);
    assert_eq!(
        reported["$version"].as_i64().unwrap(),
        before["properties"]["reported"]["$version"]
            .as_i64()
            .unwrap()
            + 1
    );
    assert_ne!(
        reported["$metadata"]["$lastUpdated"],
        before["properties"]["reported"]["$metadata"]["$lastUpdated"]
    );
    assert_eq!(
        applied["version"].as_i64().unwrap(),
        written["version"].as_i64().unwrap() + 1,
        "the report moves the twin's version on"
    );
    assert_ne!(applied["etag"], written["etag"]);
    let patch = support::object(json!({"firmware": {"version": "2.0.0"}}));
    let reported_back = client
        .convergence("*", &Convergence::reported_back(&patch))
        .await
        .unwrap();
    assert_eq!(support::counted(&reported_back), (3, 3, 0, 0));
}

#[tokio::test]
async fn each_behaviour_answers_back_as_documented() {
    let hub = held_hub(LocalHub::builder(), 5).await;
    let behaviours = [
        ("device-0000001", DeviceBehaviour::Applies),
        ("device-0000002", DeviceBehaviour::Rejects),
        ("device-0000003", DeviceBehaviour::Slow),
        ("device-0000004", DeviceBehaviour::NeverReports),
        ("device-0000005", DeviceBehaviour::Offline),
    ];
    for (device, behaviour) in behaviours {
        hub.set_device_behaviour(device, behaviour);
        assert_eq!(hub.device_behaviour(device), behaviour);
    }
    let client = hub.client().unwrap();
    send_firmware(&hub, &client, "fw", "2.0.0").await;
    hub.advance_time(APPLY);
    assert_eq!(
        support::counted(&acknowledged(&client).await),
        (5, 1, 1, 3),
        "applied, rejected; slow, silent and offline pending"
    );
    let rejected = hub.twin("device-0000002").unwrap();
    let reported = &rejected["properties"]["reported"];
    assert_eq!(
        reported["lastDesiredStatus"]["code"],
        DeviceBehaviour::REJECTED_STATUS
    );
    assert_eq!(
        reported["firmware"]["version"],
        LocalHub::GENERATED_FIRMWARE,
        "a rejecting device keeps what it ran"
    );

    hub.advance_time(LocalHubBuilder::DEFAULT_SLOW_DELAY);
    assert_eq!(
        support::counted(&acknowledged(&client).await),
        (5, 2, 1, 2),
        "slow"
    );

    // Offline, it misses a second version too; back online, it applies the latest.
    send_firmware(&hub, &client, "fw-2", "3.0.0").await;
    hub.set_device_behaviour("device-0000005", DeviceBehaviour::Applies);
    hub.advance_time(APPLY);
    let returned = hub.twin("device-0000005").unwrap();
    assert_eq!(
        returned["properties"]["reported"]["firmware"]["version"],
        "3.0.0"
    );
    assert_eq!(returned["properties"]["reported"]["lastDesiredVersion"], 3);
    let silent = hub.twin("device-0000004").unwrap();
    assert!(
        silent["properties"]["reported"]
            .get("lastDesiredVersion")
            .is_none()
    );
}

#[tokio::test]
async fn an_offline_device_fails_direct_methods_until_it_is_back() {
    let hub = held_hub(LocalHub::builder(), 1).await;
    let client = hub.client().unwrap();
    let device = "device-0000001";
    hub.set_method_response(device, 503, json!({"busy": true}));
    hub.set_device_behaviour(device, DeviceBehaviour::Offline);
    let run = |id: &'static str| {
        let (hub, client) = (&hub, &client);
        async move {
            client
                .schedule_direct_method(iothub_jobs::DirectMethodJob::new(id, "*", "reboot"))
                .await
                .unwrap();
            hub.advance_time(Duration::from_secs(61));
            client
                .job_outcome(id, iothub_jobs::OutcomeOptions::default())
                .await
                .unwrap()
        }
    };
    let offline = run("offline").await;
    assert_eq!(offline.counts.failed, 1);
    assert_eq!(offline.failed[0].code.as_deref(), Some("DeviceNotOnline"));
    hub.set_device_behaviour(device, DeviceBehaviour::Applies);
    let back = run("back").await;
    assert_eq!(
        (back.counts.succeeded, back.counts.failed),
        (1, 0),
        "back online, it answers 200 again"
    );
}

#[tokio::test]
async fn a_seeded_mix_picks_the_same_devices_and_the_hub_counts_exactly_them() {
    let mix = || {
        DeviceMix::seeded(7)
            .with_share(DeviceBehaviour::Rejects, 0.1)
            .unwrap()
            .with_share(DeviceBehaviour::NeverReports, 0.05)
            .unwrap()
    };
    let hub = held_hub(LocalHub::builder().device_mix(mix()), 400).await;
    let ids: Vec<String> = (1..=400).map(|n| format!("device-{n:07}")).collect();
    let with = |behaviour| {
        ids.iter()
            .filter(|id| hub.device_behaviour(id) == behaviour)
            .count() as u64
    };
    let (rejecting, silent) = (
        with(DeviceBehaviour::Rejects),
        with(DeviceBehaviour::NeverReports),
    );
    assert!((20..=60).contains(&rejecting), "{rejecting}");
    assert!((5..=40).contains(&silent), "{silent}");
    for id in &ids {
        assert_eq!(hub.device_behaviour(id), mix().behaviour_of(id), "{id}");
    }
    let client = hub.client().unwrap();
    send_firmware(&hub, &client, "fw", "2.0.0").await;
    hub.advance_time(APPLY);
    assert_eq!(
        support::counted(&acknowledged(&client).await),
        (400, 400 - rejecting - silent, rejecting, silent)
    );
}

#[tokio::test]
async fn a_generated_fleet_is_tagged_in_rings_and_reports_its_firmware() {
    let hub = held_hub(LocalHub::builder(), 1_000).await;
    let client = hub.client().unwrap();
    let groups: Vec<(Vec<Option<Value>>, u64)> = client
        .query_distribution(
            [Field::tag("ring"), Field::reported("firmware.version")],
            "*",
        )
        .map(|group| match group.unwrap() {
            Queried::Item(group) => (group.values, group.devices),
            other => panic!("{other:?}"),
        })
        .collect()
        .await;
    let mut groups = groups;
    groups.sort_by_key(|(_, devices)| *devices);
    let firmware = Some(json!(LocalHub::GENERATED_FIRMWARE));
    assert_eq!(
        groups,
        [
            (vec![Some(json!("canary")), firmware.clone()], 20),
            (vec![Some(json!("early")), firmware.clone()], 180),
            (vec![Some(json!("broad")), firmware], 800),
        ]
    );
}

/// The binary's flags and `--devices` file set the same behaviours as the builder.
#[test]
fn the_binary_takes_a_generated_fleet_a_mix_and_behaviours_from_its_devices_file() {
    let file = std::env::temp_dir().join(format!("behaviours-{}.json", std::process::id()));
    std::fs::write(
        &file,
        json!([
            {"deviceId": "stubborn", "tags": {"ring": "lab"}, "behaviour": "rejects"},
            {"deviceId": "quiet", "tags": {"ring": "lab"}, "behaviour": "never-reports"},
        ])
        .to_string(),
    )
    .unwrap();
    let file_arg = file.to_str().unwrap();
    let (mut hub, connection_string, endpoint) = support::started_local_hub(
        &[
            "--generate-fleet",
            "50",
            "--apply-delay",
            "0",
            "--device-mix",
            "rejects=1",
            "--seed",
            "3",
            "--job-run-time",
            "0",
            "--devices",
            file_arg,
        ],
        Stdio::null(),
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let result = runtime.block_on(async {
        let options = JobsClientOptions::default().with_endpoint(&endpoint);
        let client =
            JobsClient::from_connection_string_with_options(&connection_string, options).unwrap();
        let patch = support::object(json!({"firmware": {"version": "2.0.0"}}));
        client
            .schedule_twin_update(TwinUpdateJob::new("fw", "*").with_desired_properties(patch))
            .await
            .unwrap();
        let wait = WaitOptions::default()
            .with_poll_interval(Duration::from_millis(20))
            .with_timeout(Duration::from_secs(20));
        client.wait_for_job("fw", wait).await.unwrap();
        let lab = client
            .convergence(Field::tag("ring").eq("lab"), &Convergence::acknowledged())
            .await
            .unwrap();
        let generated = client
            .convergence(
                Field::tag("ring").is_defined(),
                &Convergence::acknowledged(),
            )
            .await
            .unwrap();
        (support::counted(&lab), support::counted(&generated))
    });
    let _ = hub.kill();
    let _ = hub.wait();
    let _ = std::fs::remove_file(&file);
    assert_eq!(result.0, (2, 0, 1, 1), "one rejects, one never reports");
    assert_eq!(
        result.1,
        (52, 0, 51, 1),
        "the whole mix rejects, but for the file's own"
    );

    for (args, named) in [
        (&["--device-mix", "sulks=0.1"][..], "never-reports"),
        (&["--device-mix", "rejects"], "BEHAVIOUR=SHARE"),
        (&["--device-mix", "rejects=0.7,slow=0.7"], "more than 1.0"),
        (&["--seed", "x"], "--seed"),
        (&["--generate-fleet", "-3"], "--generate-fleet"),
        (&["--apply-delay", "soon"], "--apply-delay"),
    ] {
        let output = Command::new(support::local_hub_binary())
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(named), "{named} in {stderr}");
    }
}
