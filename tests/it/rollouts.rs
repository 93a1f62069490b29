//! Rollouts against the local hub over real HTTP: waves in order, each gated on its outcome,
//! halting where the gate says and resuming from there, every wait bounded.

use std::{pin::pin, time::Duration};

use futures::StreamExt as _;
use iothub_jobs::{
    ConflictingJob, Convergence, ConvergenceEnd, ConvergenceWait, DirectMethodJob, Error,
    ErrorKind, Field, HaltReason, JobsClient, Rollout, RolloutEvent, RolloutGate, TwinUpdateJob,
    WaitEnd, WaitOptions,
};
use iothub_local_hub::{DeviceBehaviour, LocalHub};
use serde_json::json;

use crate::support;
use crate::support::HubClient as _;

fn quick(timeout: Duration) -> WaitOptions {
    WaitOptions::default()
        .with_poll_interval(Duration::from_millis(20))
        .with_max_poll_interval(Duration::from_millis(50))
        .with_timeout(timeout)
}

/// Three rings — canary `c1`, `c2`; early `e1`…`e3`; broad `b1`…`b4` — and a lab device
/// outside every ring, on a hub where jobs run for 50 ms and devices report back desired
/// properties 50 ms after they are written; `e2` answers `500`.
async fn fleet() -> LocalHub {
    let hub = LocalHub::builder()
        .job_run_time(Duration::from_millis(50))
        .apply_delay(Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    let twins = [("c", "canary", 2), ("e", "early", 3), ("b", "broad", 4)]
        .into_iter()
        .flat_map(|(prefix, ring, n)| {
            (1..=n).map(move |k| json!({"deviceId": format!("{prefix}{k}"), "tags": {"ring": ring, "model": "t1"}}))
        })
        .chain([json!({"deviceId": "lab", "tags": {"model": "t1"}})]);
    hub.add_twins(twins).unwrap();
    hub.set_method_response("e2", 500, json!({"error": "flash failed"}));
    hub
}

/// `run` to its end, which comes within seconds here: a rollout that never ends fails the test
/// instead of hanging it.
async fn ended<T>(run: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the rollout ended")
}

/// The firmware update the rollouts here send: method `update` with `payload` on the model.
fn firmware(payload: serde_json::Value) -> DirectMethodJob {
    DirectMethodJob::new("fw", Field::tag("model").eq("t1"), "update").with_payload(payload)
}

fn update(gate: RolloutGate) -> Rollout {
    rings(
        Rollout::direct_method(firmware(json!({"version": "2.4.1"}))),
        gate,
    )
}

/// `rollout` over the three rings behind `gate`, its waits quick.
fn rings(rollout: Rollout, gate: RolloutGate) -> Rollout {
    rollout
        .wave("canary", Field::tag("ring").eq("canary"))
        .wave("early", Field::tag("ring").eq("early"))
        .wave("broad", Field::tag("ring").eq("broad"))
        .with_gate(gate)
        .with_slot_wait(quick(Duration::from_secs(10)))
        .with_job_wait(quick(Duration::from_secs(20)))
}

#[tokio::test]
async fn a_rollout_halts_at_the_ring_where_a_method_failed_and_names_the_device() {
    let hub = fleet().await;
    let client = hub.client().unwrap();
    let events: Vec<RolloutEvent> = ended(
        client
            .run_rollout(update(RolloutGate::default()))
            .map(Result::unwrap)
            .collect(),
    )
    .await;
    let kinds: Vec<String> = events
        .iter()
        .map(|event| match event {
            RolloutEvent::WaveScheduled { wave, .. } => format!("scheduled {wave}"),
            RolloutEvent::JobState { wave, .. } => format!("state {wave}"),
            RolloutEvent::WaveOutcome { wave, halts, .. } => format!("outcome {wave} {halts}"),
            RolloutEvent::Halted(_) => "halted".into(),
            RolloutEvent::Finished(_) => "finished".into(),
            other => format!("{other:?}"),
        })
        .collect();
    let mut steps = kinds.clone();
    steps.dedup();
    assert_eq!(
        steps,
        [
            "scheduled 0",
            "state 0",
            "outcome 0 false",
            "scheduled 1",
            "state 1",
            "outcome 1 true",
            "halted"
        ],
        "{kinds:?}"
    );
    let Some(RolloutEvent::Halted(report)) = events.last() else {
        panic!("{events:?}");
    };
    assert_eq!(report.waves.len(), 2);
    assert_eq!(report.waves[0].outcome.counts.succeeded, 2);
    let early = &report.waves[1].outcome;
    assert_eq!((early.job_id.as_str(), early.devices), ("fw-early", 3));
    assert_eq!(early.method_failed[0].device_id, "e2");
    assert_eq!(early.method_failed[0].status, Some(500));
    let halt = report.halted.as_ref().unwrap();
    assert_eq!((halt.wave, halt.name.as_str()), (1, "early"));
    assert!(matches!(
        halt.reason,
        HaltReason::FailureRate {
            failed: 1,
            devices: 3,
            ..
        }
    ));
    assert!(
        hub.job("fw-broad").is_none(),
        "the broad ring was never scheduled"
    );
    let canary = hub.job("fw-canary").unwrap();
    assert_eq!(
        canary["queryCondition"],
        "tags.model = 't1' AND tags.ring = 'canary'"
    );
    assert_eq!(
        canary["cloudToDeviceMethod"]["payload"],
        json!({"version": "2.4.1"})
    );
    let json = serde_json::to_value(report).unwrap();
    assert_eq!(json["halted"]["reason"]["kind"], "failureRate");
}

#[tokio::test]
async fn a_rollout_that_does_not_count_method_failures_finishes_every_ring() {
    let hub = fleet().await;
    let gate = RolloutGate::default().with_method_failures_counted(false);
    let report = ended(hub.client().unwrap().rollout(update(gate)))
        .await
        .unwrap();
    assert!(report.halted.is_none());
    let reached: Vec<u64> = report.waves.iter().map(|w| w.outcome.devices).collect();
    assert_eq!(reached, [2, 3, 4], "the lab device is in no ring");
}

#[tokio::test]
async fn a_listed_error_code_halts_whatever_the_rate_and_a_halted_rollout_resumes() {
    let hub = fleet().await;
    hub.set_device_offline("c2");
    let client = hub.client().unwrap();
    let gate = RolloutGate::default()
        .with_max_failure_rate(0.9)
        .with_halt_on_code("DeviceNotOnline");
    let report = ended(client.rollout(update(gate.clone()))).await.unwrap();
    let halt = report.halted.unwrap();
    assert_eq!(halt.wave, 0);
    let HaltReason::ErrorCode {
        code,
        devices,
        device_id,
        ..
    } = &halt.reason
    else {
        panic!("{:?}", halt.reason);
    };
    assert_eq!((code.as_str(), *devices), ("DeviceNotOnline", 1));
    assert_eq!(device_id.as_deref(), Some("c2"));

    // Resumed at the halted wave: its job is not scheduled twice, and judged again it halts again.
    let again = ended(client.rollout(update(gate.clone()).starting_at(halt.wave)))
        .await
        .unwrap();
    assert_eq!(again.halted.unwrap().wave, 0);
    let creates = hub
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path == "/jobs/v2/fw-canary")
        .count();
    assert_eq!(creates, 2, "sent again, refused 409, then read");
    // Resumed after it, with a gate that lets the early ring's method failure pass.
    let resumed = update(gate.with_method_failures_counted(false)).starting_at(halt.wave + 1);
    let rest = ended(client.rollout(resumed)).await.unwrap();
    assert!(rest.halted.is_none());
    let names: Vec<_> = rest.waves.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["early", "broad"]);
}

#[tokio::test]
async fn a_wave_waits_for_a_free_job_slot() {
    let hub = LocalHub::builder()
        .max_active_jobs(1)
        .job_run_time(Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    hub.add_twins([json!({"deviceId": "d", "tags": {"ring": "one"}})])
        .unwrap();
    hub.schedule_job("occupant");
    let client = hub.client().unwrap();
    let patch = support::object(json!({"fw": "2"}));
    let rollout =
        Rollout::twin_update(TwinUpdateJob::new("tw", "*").with_desired_properties(patch))
            .wave("one", "tags.ring = 'one'")
            .with_slot_wait(quick(Duration::from_secs(20)))
            .with_job_wait(quick(Duration::from_secs(20)));
    let run = tokio::spawn({
        let client = client.clone();
        async move { client.rollout(rollout).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!run.is_finished(), "waiting for the slot");
    client.cancel_job("occupant").await.unwrap();
    let report = tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(report.halted.is_none());
    assert_eq!(hub.twin("d").unwrap()["properties"]["desired"]["fw"], "2");
}

#[tokio::test]
async fn a_waves_job_that_does_not_finish_in_time_ends_the_rollout() {
    let hub = LocalHub::builder()
        .job_run_time(Duration::from_secs(3600))
        .start()
        .await
        .unwrap();
    hub.add_devices(["d"]).unwrap();
    let rollout = Rollout::direct_method(DirectMethodJob::new("slow", "*", "m"))
        .wave("all", "*")
        .with_job_wait(quick(Duration::from_millis(300)));
    let error = tokio::time::timeout(
        Duration::from_secs(10),
        hub.client().unwrap().rollout(rollout),
    )
    .await
    .expect("the job wait is bounded")
    .unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::Wait);
    assert_eq!(support::scheduled_wait(&error).0, WaitEnd::TimedOut);
}

#[tokio::test]
async fn a_rollout_that_cannot_run_sends_nothing() {
    let hub = fleet().await;
    let client = hub.client().unwrap();
    let before = hub.requests().len();
    let mut run = pin!(client.run_rollout(update(RolloutGate::default()).starting_at(3)));
    let error = run.next().await.unwrap().unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::InvalidJobRequest);
    assert!(error.to_string().contains("starts at wave 3"), "{error}");
    assert!(run.next().await.is_none(), "one item");
    assert_eq!(hub.requests().len(), before);
}

#[tokio::test]
async fn a_wave_that_finds_no_free_slot_in_time_ends_the_rollout_with_the_refusal() {
    let hub = crate::job_slots::full_hub().await;
    let rollout = Rollout::direct_method(DirectMethodJob::new("blocked", "*", "m"))
        .wave("all", "*")
        .with_slot_wait(quick(Duration::from_millis(200)));
    let error = tokio::time::timeout(
        Duration::from_secs(20),
        hub.client().unwrap().rollout(rollout),
    )
    .await
    .expect("the slot wait is bounded")
    .unwrap_err();
    assert!(error.is_job_limit_reached(), "{error}");
    assert!(hub.job("blocked-all").is_none());
}

#[tokio::test]
async fn a_job_of_another_condition_under_a_waves_id_is_not_adopted() {
    let hub = fleet().await;
    let client = hub.client().unwrap();
    let other = DirectMethodJob::new("fw-canary", "deviceId IN ['lab']", "other");
    client.schedule_direct_method(other).await.unwrap();
    let error = ended(client.rollout(update(RolloutGate::default())))
        .await
        .unwrap_err();
    assert!(error.is_conflicting_job(), "{error}");
    let conflict = error.detail::<ConflictingJob>().unwrap();
    assert_eq!(conflict.job_id, "fw-canary");
    assert_eq!(
        conflict.differences,
        [
            "queryCondition",
            "cloudToDeviceMethod.methodName",
            "cloudToDeviceMethod.payload"
        ]
    );
    assert_eq!(
        hub.job("fw-canary").unwrap()["cloudToDeviceMethod"]["methodName"],
        "other"
    );
}

/// The events of `rollout` on `client`, to its end.
async fn events(client: &JobsClient, rollout: Rollout) -> Vec<Result<RolloutEvent, Error>> {
    ended(client.run_rollout(rollout).collect()).await
}

#[tokio::test]
async fn other_work_under_a_finished_rollouts_id_fails_before_any_wave_is_judged() {
    let hub = fleet().await;
    let client = hub.client().unwrap();
    let lenient = || RolloutGate::default().with_method_failures_counted(false);
    let done = ended(client.rollout(update(lenient()))).await.unwrap();
    assert!(done.halted.is_none());

    let patch = support::object(json!({"firmware": "2.5.0"}));
    let twin =
        TwinUpdateJob::new("fw", Field::tag("model").eq("t1")).with_desired_properties(patch);
    let slower =
        firmware(json!({"version": "2.4.1"})).with_response_timeout(Duration::from_secs(5));
    for (rollout, differs) in [
        (
            Rollout::direct_method(firmware(json!({"version": "2.5.0"}))),
            vec!["cloudToDeviceMethod.payload"],
        ),
        (Rollout::twin_update(twin), vec!["type"]),
        (
            Rollout::direct_method(slower),
            vec!["cloudToDeviceMethod.responseTimeoutInSeconds"],
        ),
    ] {
        let seen = events(&client, rings(rollout, lenient())).await;
        let [Err(error)] = seen.as_slice() else {
            panic!("one error, no wave scheduled or judged: {seen:?}");
        };
        assert!(error.is_conflicting_job(), "{error}");
        let conflict = error.detail::<ConflictingJob>().unwrap();
        assert_eq!(
            (conflict.job_id.as_str(), &conflict.differences),
            ("fw-canary", &differs)
        );
        assert!(error.to_string().contains(differs[0]), "{error}");
    }
    assert_eq!(
        hub.job("fw-canary").unwrap()["cloudToDeviceMethod"]["payload"],
        json!({"version": "2.4.1"}),
        "the first rollout's job stands"
    );

    // The same work again adopts every wave's job and judges it: nothing is created twice.
    let again = events(&client, update(lenient())).await;
    let adopted: Vec<bool> = again
        .iter()
        .filter_map(|event| match event {
            Ok(RolloutEvent::WaveScheduled { adopted, .. }) => Some(*adopted),
            _ => None,
        })
        .collect();
    assert_eq!(adopted, [true, true, true]);
    assert!(matches!(again.last(), Some(Ok(RolloutEvent::Finished(_)))));
}

#[tokio::test]
async fn an_empty_canary_halts_the_rollout_unless_the_gate_allows_empty_waves() {
    let hub = fleet().await;
    let client = hub.client().unwrap();
    let typo = |id: &str, gate| {
        Rollout::direct_method(DirectMethodJob::new(
            id,
            Field::tag("model").eq("t1"),
            "update",
        ))
        .wave("canary", Field::tag("ring").eq("canery"))
        .wave("broad", Field::tag("ring").eq("broad"))
        .with_gate(gate)
        .with_slot_wait(quick(Duration::from_secs(10)))
        .with_job_wait(quick(Duration::from_secs(20)))
    };
    let report = ended(client.rollout(typo("strict", RolloutGate::default())))
        .await
        .unwrap();
    let halt = report.halted.unwrap();
    assert_eq!((halt.wave, &halt.reason), (0, &HaltReason::EmptyWave));
    assert_eq!(report.waves[0].outcome.devices, 0);
    assert!(
        hub.job("strict-broad").is_none(),
        "the broad ring was never scheduled"
    );

    let few = RolloutGate::default().with_min_devices(3);
    let report = ended(client.rollout(update(few))).await.unwrap();
    let reason = report.halted.unwrap().reason;
    assert!(
        matches!(
            reason,
            HaltReason::TooFewDevices {
                devices: 2,
                min_devices: 3,
                ..
            }
        ),
        "the canary ring has two devices: {reason:?}"
    );

    let allowing = RolloutGate::default().with_empty_waves_allowed(true);
    let report = ended(client.rollout(typo("lenient", allowing)))
        .await
        .unwrap();
    assert!(report.halted.is_none());
    assert_eq!(report.waves[1].outcome.devices, 4);
}

/// A twin update of the firmware version over the three rings, gated on the devices
/// acknowledging it (Microsoft's convention), every wait quick.
fn firmware_rollout(id: &str, wait: Duration) -> Rollout {
    let patch = support::object(json!({"firmware": "2.5.0"}));
    let job = TwinUpdateJob::new(id, Field::tag("model").eq("t1")).with_desired_properties(patch);
    let convergence = ConvergenceWait::default().with_wait(quick(wait));
    rings(
        Rollout::twin_update(job),
        RolloutGate::default().with_convergence(Convergence::acknowledged(), convergence),
    )
}

#[tokio::test]
async fn a_twin_update_over_devices_that_never_report_halts_for_not_converging() {
    let hub = fleet().await;
    for device in ["c1", "c2"] {
        hub.set_device_behaviour(device, DeviceBehaviour::NeverReports);
    }
    let client = hub.client().unwrap();
    let events: Vec<RolloutEvent> = ended(
        client
            .run_rollout(firmware_rollout("fw-silent", Duration::from_millis(400)))
            .map(Result::unwrap)
            .collect(),
    )
    .await;
    let Some(RolloutEvent::Halted(report)) = events.last() else {
        panic!("{events:?}");
    };
    let halt = report.halted.as_ref().unwrap();
    assert_eq!((halt.wave, halt.name.as_str()), (0, "canary"));
    let HaltReason::NotConverged {
        end,
        counts,
        pending_sample,
        ..
    } = &halt.reason
    else {
        panic!("{:?}", halt.reason);
    };
    assert_eq!(*end, ConvergenceEnd::TimedOut);
    assert_eq!((counts.targeted, counts.pending), (2, 2));
    assert_eq!(pending_sample, &["c1", "c2"]);
    assert_eq!(
        report.waves[0].outcome.counts.succeeded, 2,
        "the cloud twins were written"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, RolloutEvent::Converging { wave: 0, .. }))
    );
    assert!(
        hub.job("fw-silent-early").is_none(),
        "the next ring was never scheduled"
    );
    let json = serde_json::to_value(report).unwrap();
    assert_eq!(json["halted"]["reason"]["kind"], "notConverged");
}

#[tokio::test]
async fn a_twin_update_goes_on_where_devices_apply_it_and_halts_where_one_rejects_it() {
    let hub = fleet().await;
    hub.set_device_behaviour("e2", DeviceBehaviour::Rejects);
    let client = hub.client().unwrap();
    let patch = support::object(json!({"firmware": {"version": "2.5.0"}}));
    let job = TwinUpdateJob::new("fw-applied", Field::tag("model").eq("t1"))
        .with_desired_properties(patch);
    // The default gate: the patch reported back, a rejection in Microsoft's convention a
    // failure.
    let gate = RolloutGate::default().with_convergence_wait(
        ConvergenceWait::default().with_wait(quick(Duration::from_secs(20))),
    );
    let report = ended(client.rollout(rings(Rollout::twin_update(job), gate)))
        .await
        .unwrap();
    let halt = report.halted.unwrap();
    assert_eq!((halt.wave, halt.name.as_str()), (1, "early"));
    let HaltReason::NotConverged {
        end,
        failed_sample,
        counts,
        ..
    } = &halt.reason
    else {
        panic!("{:?}", halt.reason);
    };
    assert_eq!(*end, ConvergenceEnd::TooManyFailed);
    assert_eq!(failed_sample, &["e2"]);
    assert_eq!((counts.targeted, counts.failed), (3, 1));
    let canary = report.waves[0].convergence.as_ref().unwrap();
    assert_eq!(
        (canary.end, canary.counts.converged),
        (ConvergenceEnd::Converged, 2)
    );
    let applied = hub.twin("c1").unwrap();
    assert_eq!(
        applied["properties"]["reported"]["firmware"]["version"],
        "2.5.0"
    );
    let rejected = hub.twin("e2").unwrap();
    assert_eq!(
        rejected["properties"]["reported"]["lastDesiredStatus"]["code"],
        400
    );
    assert!(hub.job("fw-applied-broad").is_none());
}

#[tokio::test]
async fn a_twin_update_of_tags_or_a_gate_without_convergence_never_waits_for_devices() {
    let hub = fleet().await;
    for device in ["c1", "c2", "e1", "e2", "e3", "b1", "b2", "b3", "b4"] {
        hub.set_device_behaviour(device, DeviceBehaviour::NeverReports);
    }
    let client = hub.client().unwrap();
    let tags = TwinUpdateJob::new("tagged", Field::tag("model").eq("t1"))
        .with_tags(support::object(json!({"firmwareTrain": "2.5"})));
    let firmware = TwinUpdateJob::new("unwatched", Field::tag("model").eq("t1"))
        .with_desired_properties(support::object(json!({"firmware": "2.5.0"})));
    for rollout in [
        rings(Rollout::twin_update(tags), RolloutGate::default()),
        rings(
            Rollout::twin_update(firmware),
            RolloutGate::default().without_convergence(),
        ),
    ] {
        let events: Vec<RolloutEvent> =
            ended(client.run_rollout(rollout).map(Result::unwrap).collect()).await;
        assert!(
            matches!(events.last(), Some(RolloutEvent::Finished(_))),
            "{events:?}"
        );
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, RolloutEvent::Converging { .. })),
            "{events:?}"
        );
    }
}

#[tokio::test]
async fn a_wave_the_outcome_halts_is_not_waited_on_for_convergence() {
    let hub = fleet().await;
    let client = hub.client().unwrap();
    let patch = support::object(json!({"firmware": "2.5.0"}));
    let job =
        TwinUpdateJob::new("fw-typo", Field::tag("model").eq("t1")).with_desired_properties(patch);
    let gate = RolloutGate::default().with_convergence(
        Convergence::acknowledged(),
        ConvergenceWait::default().with_wait(quick(Duration::from_secs(20))),
    );
    // An empty canary converges at once (no device to wait for), yet its outcome halts.
    let rollout = Rollout::twin_update(job)
        .wave("canary", Field::tag("ring").eq("canery"))
        .wave("broad", Field::tag("ring").eq("broad"))
        .with_gate(gate)
        .with_job_wait(quick(Duration::from_secs(20)));
    let events: Vec<RolloutEvent> =
        ended(client.run_rollout(rollout).map(Result::unwrap).collect()).await;
    assert!(
        !events.iter().any(|e| matches!(
            e,
            RolloutEvent::Converging { .. } | RolloutEvent::Converged { .. }
        )),
        "{events:?}"
    );
    let Some(RolloutEvent::Halted(report)) = events.last() else {
        panic!("{events:?}");
    };
    assert_eq!(
        report.halted.as_ref().unwrap().reason,
        HaltReason::EmptyWave
    );
    assert!(hub.job("fw-typo-broad").is_none());
}
