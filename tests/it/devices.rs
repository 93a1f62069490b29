//! Knowing the target before scheduling, over real HTTP to the local hub: how many devices and
//! which a condition selects, conditions checked (and device-id lists split) before anything is
//! sent, the hub's query language over its registry, and twin updates read back.

use std::time::Duration;

use futures::StreamExt as _;
use iothub_jobs::{
    Condition, DeviceQuery, ErrorKind, Field, JobsClient, Queried, TwinUpdateJob, WaitOptions,
    models::Twin,
};
use iothub_local_hub::LocalHub;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::HubClient as _;
use crate::{faults::client, service_answers::answering, support};

/// A hub with a small fleet: rings, sites and reported firmware versions.
async fn fleet() -> LocalHub {
    let hub = LocalHub::builder()
        .job_run_time(Duration::from_millis(50))
        .start()
        .await
        .unwrap();
    let twins = [
        ("canary-1", "canary", "berlin", "2.3.0", "enabled"),
        ("canary-2", "canary", "paris", "2.4.1", "enabled"),
        ("wide-1", "wide", "berlin", "2.3.0", "enabled"),
        ("wide-2", "wide", "berlin", "2.2.9", "disabled"),
        ("wide-3", "wide", "paris", "2.4.1", "enabled"),
    ]
    .map(|(id, ring, site, firmware, status)| {
        json!({"deviceId": id, "status": status, "tags": {"ring": ring, "site": site},
            "properties": {"reported": {"firmware": {"version": firmware}}}})
    });
    assert_eq!(hub.add_twins(twins).unwrap(), 5);
    // A device with no tags at all: undefined tags match nothing.
    hub.add_devices(["bare"]).unwrap();
    hub
}

async fn ids(client: &JobsClient, query: impl Into<DeviceQuery>) -> Vec<String> {
    let mut ids: Vec<String> = client
        .query_device_ids(query)
        .map(|item| match item.unwrap() {
            Queried::Item(id) => id,
            other => panic!("{other:?}"),
        })
        .collect()
        .await;
    ids.sort();
    ids
}

async fn twins(client: &JobsClient, query: impl Into<DeviceQuery>) -> Vec<Twin> {
    client
        .query_twins(query)
        .map(|item| match item.unwrap() {
            Queried::Item(twin) => twin,
            other => panic!("{other:?}"),
        })
        .collect()
        .await
}

#[tokio::test]
async fn counts_twins_and_ids_agree_for_conditions_over_tags_and_reported_properties() {
    let hub = fleet().await;
    let client = hub.client().unwrap();
    let outdated = Field::reported("firmware.version").lt("2.4.0");
    let cases: Vec<(Condition, Vec<&str>)> = vec![
        (
            Condition::every_device(),
            vec!["bare", "canary-1", "canary-2", "wide-1", "wide-2", "wide-3"],
        ),
        (
            Field::tag("ring").eq("canary"),
            vec!["canary-1", "canary-2"],
        ),
        (outdated.clone(), vec!["canary-1", "wide-1", "wide-2"]),
        (
            outdated
                .clone()
                .and(Field::tag("site").eq("berlin"))
                .and(!Field::status().eq("disabled")),
            vec!["canary-1", "wide-1"],
        ),
        (
            Field::tag("ring")
                .eq("canary")
                .or(Field::tag("site").eq("paris")),
            vec!["canary-1", "canary-2", "wide-3"],
        ),
        (
            Field::tag("site").not_in(["berlin"]),
            vec!["canary-2", "wide-3"],
        ),
        (!Field::tag("ring").is_defined(), vec!["bare"]),
        (
            Field::device_id().is_in(["wide-1", "ghost"]),
            vec!["wide-1"],
        ),
        (Field::tag("site").eq("x' OR deviceId != '"), vec![]),
    ];
    for (condition, expected) in cases {
        let shown = condition.text().unwrap().to_owned();
        assert_eq!(ids(&client, condition.clone()).await, expected, "{shown}");
        assert_eq!(
            client.count_devices(condition.clone()).await.unwrap(),
            expected.len() as u64,
            "{shown}"
        );
        let mut read: Vec<String> = twins(&client, DeviceQuery::new(condition).with_page_size(2))
            .await
            .into_iter()
            .map(|twin| twin.device_id.unwrap())
            .collect();
        read.sort();
        assert_eq!(read, expected, "{shown}");
    }
    // Plain text works the same, checked first.
    assert_eq!(client.count_devices("tags.ring = 'wide'").await.unwrap(), 3);
}

#[tokio::test]
async fn twins_arrive_in_the_services_shape_across_pages() {
    let hub = LocalHub::builder().max_page_size(2).start().await.unwrap();
    hub.add_twins((0..7).map(|n| json!({"deviceId": format!("d{n}"), "tags": {"n": n}})))
        .unwrap();
    let client = hub.client().unwrap();
    let read = twins(&client, Condition::every_device()).await;
    let ids: Vec<_> = read.iter().map(|t| t.device_id.clone().unwrap()).collect();
    assert_eq!(ids, ["d0", "d1", "d2", "d3", "d4", "d5", "d6"]);
    assert_eq!(read[3].tags.as_ref().unwrap()["n"], 3);
    assert_eq!(read[3].version, Some(1));
    let pages = hub
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/devices/query"))
        .count();
    assert_eq!(pages, 4, "7 twins in pages of 2");
}

#[tokio::test]
async fn conditions_that_cannot_be_sent_are_refused_before_anything_is() {
    let hub = fleet().await;
    let client = hub.client().unwrap();
    let before = hub.requests().len();
    let refused = [
        ("tags.site = 'berlin' OR tags.x = 'it's'", "never closed"),
        (
            "SELECT * FROM devices WHERE tags.ring = 'canary'",
            "starts with SELECT",
        ),
        ("", "empty"),
        ("deviceId IN ['a'", "never closed"),
    ];
    for (text, expected) in refused {
        let error = client.count_devices(text).await.unwrap_err();
        assert_eq!(error.kind(), &ErrorKind::InvalidCondition, "{text}");
        assert!(error.to_string().contains(expected), "{text}: {error}");
        let first = std::pin::pin!(client.query_twins(text))
            .next()
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(first.kind(), &ErrorKind::InvalidCondition);
        let job = TwinUpdateJob::new("refused", text).with_tags(support::object(json!({"a": 1})));
        let error = client.schedule_twin_update(job).await.unwrap_err();
        assert_eq!(error.kind(), &ErrorKind::InvalidCondition, "{text}");
    }
    for built in [Field::tag("bad-name").eq(1), Field::twin("AND").eq(1)] {
        assert_eq!(
            client.count_devices(built).await.unwrap_err().kind(),
            &ErrorKind::InvalidCondition
        );
    }
    // Patches the service's twin rules refuse (or would store where no query selects them).
    for patch in [json!({"a.b": 1}), json!({"$x": 2}), json!({"sp ace": 3})] {
        let job =
            TwinUpdateJob::new("refused", "*").with_desired_properties(support::object(patch));
        let error = client.schedule_twin_update(job).await.unwrap_err();
        assert_eq!(error.kind(), &ErrorKind::InvalidJobRequest, "{error}");
    }
    assert_eq!(hub.requests().len(), before, "nothing was sent");
    assert!(hub.job("refused").is_none());
}

#[tokio::test]
async fn five_thousand_device_ids_are_split_into_jobs_that_reach_each_once() {
    let hub = LocalHub::builder()
        .max_page_size(1_000)
        .start()
        .await
        .unwrap();
    let ids: Vec<String> = (0..5_000).map(|n| format!("sensor-{n:05}")).collect();
    hub.add_devices(&ids).unwrap();
    let client = hub.client().unwrap();
    let conditions = Condition::device_ids(&ids).unwrap();
    assert!(conditions.len() > 1, "{}", conditions.len());
    let mut reached = 0;
    for (n, condition) in conditions.into_iter().enumerate() {
        assert!(condition.text().unwrap().len() <= Condition::MAX_BYTES);
        reached += client.count_devices(condition.clone()).await.unwrap();
        let job = TwinUpdateJob::new(format!("part-{n}"), condition)
            .with_tags(support::object(json!({"batch": n})));
        let job = client.schedule_twin_update(job).await.unwrap();
        assert!(job.device_job_statistics.unwrap().device_count.unwrap() > 0);
    }
    assert_eq!(reached, 5_000);
    // Unsplit, the same list is over the service's limit: the client refuses it too.
    let whole = Field::device_id().is_in(&ids);
    assert!(
        whole
            .text()
            .unwrap_err()
            .to_string()
            .contains("Condition::device_ids")
    );
    let invalid = Condition::device_ids(["ok", "not ok"]).unwrap_err();
    assert!(invalid.to_string().contains("\"not ok\""), "{invalid}");
}

#[tokio::test]
async fn a_twin_update_job_changes_the_twins_it_reaches_when_it_runs() {
    let hub = fleet().await;
    let client = hub.client().unwrap();
    let canary = Field::tag("ring").eq("canary");
    let job = TwinUpdateJob::new("fw-2-5", canary.clone())
        .with_tags(support::object(json!({"rollout": "fw-2-5", "site": null})))
        .with_desired_properties(support::object(json!({"firmware": {"version": "2.5.0"}})));
    client.schedule_twin_update(job).await.unwrap();
    let wait = WaitOptions::default()
        .with_poll_interval(Duration::from_millis(20))
        .with_timeout(Duration::from_secs(10));
    let done = client.wait_for_job("fw-2-5", wait).await.unwrap();
    assert_eq!(done.device_job_statistics.unwrap().succeeded_count, Some(2));
    let changed = Field::desired("firmware.version").eq("2.5.0");
    assert_eq!(
        ids(&client, changed.clone()).await,
        ["canary-1", "canary-2"]
    );
    let twin = twins(&client, changed.and(Field::device_id().eq("canary-1")))
        .await
        .remove(0);
    assert_eq!(twin.version, Some(2), "the twin's version moved on");
    let tags = twin.tags.unwrap();
    assert_eq!(tags.get("rollout"), Some(&json!("fw-2-5")));
    assert_eq!(tags.get("site"), None, "null removes a tag");
    assert_eq!(tags.get("ring"), Some(&json!("canary")), "other tags stay");
    let untouched = hub.twin("wide-1").unwrap();
    assert_eq!(untouched["version"], 1);
    assert_eq!(untouched["tags"]["site"], "berlin");
}

#[tokio::test]
async fn the_hub_answers_its_query_subset_and_refuses_the_rest_in_the_services_shape() {
    let hub = fleet().await;
    let query = |text: &str| {
        let hub = &hub;
        let text = text.to_owned();
        async move {
            support::send(
                hub,
                Method::POST,
                "/devices/query",
                Some(json!({"query": text})),
            )
            .await
        }
    };
    let (status, _, counted) =
        query("select count() as n from devices where tags.site = 'berlin'").await;
    assert_eq!((status, counted), (200, json!([{"n": 3}])));
    let (status, _, projected) =
        query("SELECT deviceId, properties.reported.firmware.version AS fw FROM devices WHERE tags.ring = 'canary'").await;
    assert_eq!(status, 200);
    assert_eq!(
        projected,
        json!([{"deviceId": "canary-1", "fw": "2.3.0"}, {"deviceId": "canary-2", "fw": "2.4.1"}])
    );
    for refused in [
        "SELECT * FROM devices GROUP BY tags.ring",
        "SELECT * FROM devices WHERE tags.a IN [tags.b]",
        "SELECT * FROM devices.modules",
        "SELECT * FROM devices WHERE tags.x = 'open",
        "SELECT * FROM devices WHERE STARTS_WITH(deviceId, 'c')",
        "DELETE FROM devices",
    ] {
        let (status, code, body) = query(refused).await;
        assert_eq!(
            (status, code.as_deref()),
            (400, Some("ArgumentInvalid")),
            "{refused}: {body}"
        );
        assert!(
            body["Message"].as_str().unwrap().contains("at byte"),
            "{refused}: {body}"
        );
    }
    // A job whose condition the hub cannot read is refused, not a job on no devices.
    let job = json!({"type": "scheduleUpdateTwin", "queryCondition": "tags.a IN [tags.b]",
        "startTime": "2030-01-01T00:00:00Z", "updateTwin": {"etag": "*", "tags": {"a": 1}}});
    let (status, code, _) = support::send(&hub, Method::PUT, "/jobs/v2/unread", Some(job)).await;
    assert_eq!((status, code.as_deref()), (400, Some("ArgumentInvalid")));
}

#[tokio::test]
async fn odd_answers_to_device_queries_are_data_or_a_typed_error() {
    let port = answering(
        200,
        "",
        r#"[{"deviceId":"a","version":2}, 5, {"deviceId":7}]"#,
    )
    .await;
    let items: Vec<_> = client(port)
        .query_twins(Condition::every_device())
        .collect()
        .await;
    assert!(matches!(&items[0], Ok(Queried::Item(twin)) if twin.device_id.as_deref() == Some("a")));
    assert!(matches!(&items[1], Ok(Queried::Unrecognized(raw)) if raw == &json!(5)));
    assert!(
        matches!(&items[2], Ok(Queried::Unrecognized(_))),
        "{:?}",
        items[2]
    );
    let ids: Vec<_> = client(port)
        .query_device_ids(Condition::every_device())
        .collect()
        .await;
    assert!(matches!(&ids[0], Ok(Queried::Item(id)) if id == "a"));
    assert!(matches!(&ids[2], Ok(Queried::Unrecognized(raw)) if raw["deviceId"] == 7));
    for body in ["[]", r#"[{"numberOfDevices":"5"}]"#, r#"[{"other":5}]"#] {
        let port = answering(200, "", body).await;
        let error = client(port).count_devices("tags.a = 1").await.unwrap_err();
        assert_eq!(error.kind(), &ErrorKind::InvalidResponse, "{body}");
        assert!(error.to_string().contains("no count"), "{error}");
    }
    let port = answering(200, "", r#"[{"numberOfDevices":12}]"#).await;
    assert_eq!(
        client(port)
            .count_devices(Condition::every_device())
            .await
            .unwrap(),
        12
    );
}

#[tokio::test]
async fn the_queries_sent_are_the_ones_documented() {
    let hub = fleet().await;
    let client = hub.client().unwrap();
    let canary = Field::tag("ring").eq("canary");
    client.count_devices(canary.clone()).await.unwrap();
    let _ = ids(&client, canary.clone()).await;
    let _ = twins(&client, Condition::every_device()).await;
    let sent: Vec<Value> = hub
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/devices/query"))
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["query"].clone())
        .collect();
    assert_eq!(
        sent[0],
        "SELECT COUNT() AS numberOfDevices FROM devices WHERE tags.ring = 'canary'"
    );
    assert_eq!(
        sent[1],
        "SELECT deviceId FROM devices WHERE tags.ring = 'canary'"
    );
    assert_eq!(sent.last().unwrap(), "SELECT * FROM devices");
}

#[tokio::test]
async fn a_property_compares_with_another_property_of_the_twin() {
    let hub = LocalHub::start().await.unwrap();
    let twin = |id: &str, desired: u64, acknowledged: Option<u64>, code: u64| {
        let mut reported = json!({"lastDesiredStatus": {"code": code}});
        if let Some(version) = acknowledged {
            reported["lastDesiredVersion"] = json!(version);
        }
        json!({"deviceId": id, "properties": {"desired": {"$version": desired}, "reported": reported}})
    };
    hub.add_twins([
        twin("applied", 4, Some(4), 200),
        twin("behind", 4, Some(3), 200),
        twin("rejected", 4, Some(4), 500),
        twin("silent", 4, None, 200),
    ])
    .unwrap();
    let client = hub.client().unwrap();
    let acknowledged = Field::desired("$version").eq(Field::reported("lastDesiredVersion"));
    let applied = acknowledged
        .clone()
        .and(Field::reported("lastDesiredStatus.code").eq(200));
    assert_eq!(client.count_devices(acknowledged.clone()).await.unwrap(), 2);
    assert_eq!(client.count_devices(applied.clone()).await.unwrap(), 1);
    let ids: Vec<String> = std::pin::pin!(client.query_device_ids(applied))
        .map(|id| id.unwrap().item().unwrap())
        .collect()
        .await;
    assert_eq!(ids, ["applied"]);
    let pending = Field::desired("$version").gt(Field::reported("lastDesiredVersion"));
    assert_eq!(client.count_devices(pending).await.unwrap(), 1, "behind");
}

#[tokio::test]
async fn a_distribution_counts_the_devices_per_combination_of_values() {
    let hub = LocalHub::builder().max_page_size(2).start().await.unwrap();
    let twin = |id: &str, ring: &str, firmware: Option<&str>| {
        let mut twin = json!({"deviceId": id, "tags": {"ring": ring}});
        if let Some(firmware) = firmware {
            twin["properties"] = json!({"reported": {"firmware": firmware}});
        }
        twin
    };
    hub.add_twins([
        twin("a1", "early", Some("2.4")),
        twin("a2", "early", Some("2.4")),
        twin("a3", "early", Some("2.3")),
        twin("a4", "early", None),
        twin("b1", "broad", Some("2.3")),
    ])
    .unwrap();
    let client = hub.client().unwrap();
    let groups = |by: Vec<Field>, condition: Condition| {
        let client = client.clone();
        async move {
            std::pin::pin!(client.query_distribution(by, condition))
                .map(|group| group.unwrap().item().unwrap())
                .map(|group| (group.values, group.devices))
                .collect::<Vec<_>>()
                .await
        }
    };
    let early = groups(
        vec![Field::reported("firmware")],
        Field::tag("ring").eq("early"),
    )
    .await;
    assert_eq!(
        early,
        [
            (vec![Some(json!("2.3"))], 1),
            (vec![Some(json!("2.4"))], 2),
            (vec![None], 1)
        ],
        "in pages of 2; a device without the property is its own group"
    );
    let both = groups(
        vec![Field::tag("ring"), Field::reported("firmware")],
        Condition::every_device(),
    )
    .await;
    assert_eq!(both.len(), 4, "{both:?}");
    assert!(both.contains(&(vec![Some(json!("broad")), Some(json!("2.3"))], 1)));
    assert_eq!(both.iter().map(|(_, n)| n).sum::<u64>(), 5);

    let before = hub.requests().len();
    for (by, named) in [
        (vec![], "at least one field"),
        (vec![Field::tag("bad-name")], "bad-name"),
    ] {
        let first = std::pin::pin!(client.query_distribution(by, Condition::every_device()))
            .next()
            .await
            .unwrap()
            .unwrap_err();
        assert_eq!(first.kind(), &ErrorKind::InvalidCondition);
        assert!(first.to_string().contains(named), "{first}");
    }
    assert_eq!(hub.requests().len(), before, "nothing was sent");
}
