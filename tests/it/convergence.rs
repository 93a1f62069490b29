//! Convergence counted on the local hub: what devices reported back, by Microsoft's
//! acknowledgement convention, by a patch's values, and by the caller's own conditions.

use std::time::Duration;

use futures::StreamExt as _;
use iothub_jobs::{
    Convergence, ConvergenceEnd, ConvergenceEvent, ConvergenceWait, ErrorKind, Field, WaitOptions,
};
use iothub_local_hub::LocalHub;
use serde_json::{Value, json};

use crate::support::{self, HubClient as _};

/// A device of ring `ring` whose desired `$version` is 4, that reported `reported`.
fn twin(id: &str, ring: &str, reported: Value) -> Value {
    json!({"deviceId": id, "tags": {"ring": ring},
        "properties": {"desired": {"$version": 4}, "reported": reported}})
}

async fn fleet() -> LocalHub {
    let hub = LocalHub::start().await.unwrap();
    let acknowledged = |version: u64, code: u64| json!({"lastDesiredVersion": version, "lastDesiredStatus": {"code": code}, "fw": "2.4"});
    hub.add_twins([
        twin("applied", "early", acknowledged(4, 200)),
        twin("behind", "early", acknowledged(3, 200)),
        twin("rejected", "early", acknowledged(4, 500)),
        twin("silent", "early", json!({"fw": "2.3"})),
        twin("other", "broad", acknowledged(4, 500)),
    ])
    .unwrap();
    hub
}

#[tokio::test]
async fn the_acknowledgement_convention_counts_applied_rejected_and_pending_devices() {
    let hub = fleet().await;
    let client = hub.client().unwrap();
    let before = hub.requests().len();
    let counts = client
        .convergence(Field::tag("ring").eq("early"), &Convergence::acknowledged())
        .await
        .unwrap();
    assert_eq!(support::counted(&counts), (4, 1, 1, 2));
    assert_eq!(hub.requests().len() - before, 3, "three count queries");
    let json = serde_json::to_value(&counts).unwrap();
    assert_eq!(
        json,
        json!({"targeted": 4, "converged": 1, "failed": 1, "pending": 2})
    );
}

#[tokio::test]
async fn a_patch_converges_where_its_values_are_reported_back() {
    let hub = fleet().await;
    let client = hub.client().unwrap();
    let patch = support::object(json!({"fw": "2.4", "gone": null}));
    let before = hub.requests().len();
    let counts = client
        .convergence(
            Field::tag("ring").eq("early"),
            &Convergence::reported_back(&patch),
        )
        .await
        .unwrap();
    assert_eq!(support::counted(&counts), (4, 3, 0, 1));
    assert_eq!(
        hub.requests().len() - before,
        3,
        "targeted, converged, and failed in Microsoft's convention"
    );
}

#[tokio::test]
async fn a_device_meeting_both_conditions_counts_once_as_converged() {
    let hub = fleet().await;
    let client = hub.client().unwrap();
    let own = Convergence::when(Field::reported("fw").eq("2.4"))
        .with_failure(Field::reported("lastDesiredStatus.code").ne(200));
    let counts = client
        .convergence(iothub_jobs::Condition::every_device(), &own)
        .await
        .unwrap();
    // fw 2.4: applied, behind, rejected, other; failed and not converged: none (silent has no
    // status).
    assert_eq!(support::counted(&counts), (5, 4, 0, 1));
}

#[tokio::test]
async fn what_cannot_be_counted_is_refused_before_anything_is_sent() {
    let hub = fleet().await;
    let client = hub.client().unwrap();
    let before = hub.requests().len();
    let nothing = Convergence::reported_back(&support::object(json!({"gone": null})));
    let error = client
        .convergence(Field::tag("ring").eq("early"), &nothing)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::InvalidCondition);
    assert!(error.to_string().contains("Convergence::when"), "{error}");
    let bad = Convergence::when(Field::reported("bad-name").eq(1));
    let error = client
        .convergence(Field::tag("ring").eq("early"), &bad)
        .await
        .unwrap_err();
    assert_eq!(error.kind(), &ErrorKind::InvalidCondition);
    assert_eq!(hub.requests().len(), before, "nothing was sent");
}

fn quick(timeout: Duration) -> ConvergenceWait {
    ConvergenceWait::default().with_wait(
        WaitOptions::default()
            .with_poll_interval(Duration::from_millis(20))
            .with_max_poll_interval(Duration::from_millis(50))
            .with_timeout(timeout),
    )
}

/// Bounds `run` within seconds: a wait that never ends fails the test instead of hanging it.
async fn ended<T>(run: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the wait ended")
}

#[tokio::test]
async fn a_wait_ends_once_the_devices_report_back() {
    let hub = LocalHub::start().await.unwrap();
    hub.add_twins([
        twin("d1", "canary", json!({})),
        twin("d2", "canary", json!({})),
    ])
    .unwrap();
    let client = hub.client().unwrap();
    let devices_apply = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let applied = json!({"lastDesiredVersion": 4, "lastDesiredStatus": {"code": 200}});
        hub.add_twins([
            twin("d1", "canary", applied.clone()),
            twin("d2", "canary", applied),
        ])
        .unwrap();
    };
    let canary = Field::tag("ring").eq("canary");
    let acknowledged = Convergence::acknowledged();
    let waiting =
        client.wait_for_convergence(canary, &acknowledged, quick(Duration::from_secs(20)));
    let (report, ()) = ended(async { tokio::join!(waiting, devices_apply) }).await;
    let report = report.unwrap();
    assert_eq!(report.end, ConvergenceEnd::Converged);
    assert_eq!((report.counts.targeted, report.counts.converged), (2, 2));
    assert!(report.pending_sample.is_empty() && report.failed_sample.is_empty());
}

#[tokio::test]
async fn a_wait_ends_when_too_many_fail_naming_them_and_the_pending() {
    let hub = fleet().await;
    let client = hub.client().unwrap();
    let early = || Field::tag("ring").eq("early");
    let report = ended(client.wait_for_convergence(
        early(),
        &Convergence::acknowledged(),
        quick(Duration::from_secs(20)),
    ))
    .await
    .unwrap();
    assert_eq!(report.end, ConvergenceEnd::TooManyFailed);
    assert_eq!(report.failed_sample, ["rejected"]);
    assert_eq!(report.pending_sample, ["behind", "silent"]);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["end"], "tooManyFailed");
    assert_eq!(json["failedSample"], json!(["rejected"]));

    // One failure in four allowed, three quarters asked for: it waits for the pending, in vain.
    let lenient = quick(Duration::from_millis(300))
        .with_max_failed_share(0.25)
        .with_share(0.75)
        .with_sample(1);
    let report = ended(client.wait_for_convergence(early(), &Convergence::acknowledged(), lenient))
        .await
        .unwrap();
    assert_eq!(report.end, ConvergenceEnd::TimedOut);
    assert_eq!(report.pending_sample.len(), 1, "the sample is bounded");
    assert_eq!((report.counts.converged, report.counts.pending), (1, 2));
}

#[tokio::test]
async fn the_progress_streams_until_the_end_and_bad_options_send_nothing() {
    let hub = fleet().await;
    let client = hub.client().unwrap();
    let events: Vec<_> = ended(
        client
            .watch_convergence(
                Field::tag("ring").eq("early"),
                &Convergence::reported_back(&support::object(json!({"fw": "2.4"}))),
                quick(Duration::from_millis(300)),
            )
            .collect(),
    )
    .await;
    let (last, progress) = events.split_last().unwrap();
    assert!(progress.len() >= 2, "{events:?}");
    assert!(progress.iter().all(|event| matches!(
        event,
        Ok(ConvergenceEvent::Progress(counts)) if counts.converged == 3 && counts.pending == 1
    )));
    let Ok(ConvergenceEvent::Ended(report)) = last else {
        panic!("{last:?}");
    };
    assert_eq!(report.end, ConvergenceEnd::TimedOut);
    assert_eq!(report.pending_sample, ["silent"]);

    let before = hub.requests().len();
    for wait in [
        ConvergenceWait::default().with_share(1.5),
        ConvergenceWait::default().with_max_failed_share(-0.1),
    ] {
        let items: Vec<_> = client
            .watch_convergence(
                Field::tag("ring").eq("early"),
                &Convergence::acknowledged(),
                wait,
            )
            .collect()
            .await;
        assert!(
            matches!(items.as_slice(), [Err(error)] if error.to_string().contains("from 0.0 to 1.0")),
            "{items:?}"
        );
    }
    assert_eq!(hub.requests().len(), before, "nothing was sent");
}

#[tokio::test]
async fn an_empty_selection_converges_at_once() {
    let hub = fleet().await;
    let client = hub.client().unwrap();
    let report = ended(client.wait_for_convergence(
        Field::tag("ring").eq("none"),
        &Convergence::acknowledged(),
        quick(Duration::from_secs(20)),
    ))
    .await
    .unwrap();
    assert_eq!(report.end, ConvergenceEnd::Converged);
    assert_eq!(report.counts.targeted, 0);
}
