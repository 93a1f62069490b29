//! Convergence counted on the local hub: what devices reported back, by Microsoft's
//! acknowledgement convention, by a patch's values, and by the caller's own conditions.

use iothub_jobs::{Convergence, ErrorKind, Field};
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
    assert_eq!(
        (
            counts.targeted,
            counts.converged,
            counts.failed,
            counts.pending
        ),
        (4, 1, 1, 2)
    );
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
    assert_eq!(
        (
            counts.targeted,
            counts.converged,
            counts.failed,
            counts.pending
        ),
        (4, 3, 0, 1)
    );
    assert_eq!(
        hub.requests().len() - before,
        2,
        "no failure condition, no third query"
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
    assert_eq!(
        (
            counts.targeted,
            counts.converged,
            counts.failed,
            counts.pending
        ),
        (5, 4, 0, 1)
    );
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
