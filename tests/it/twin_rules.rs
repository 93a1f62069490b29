//! The twin rules of the API description (`Twin.tags`, `TwinProperties`), as the local hub
//! enforces them on twins it loads and on twin-update jobs' patches: keys of up to 1,024 bytes
//! without control characters, `.`, `$` or spaces; each top-level value at most 4,096 bytes of
//! JSON; at most 10 levels of objects below `tags`, `properties.desired` and
//! `properties.reported`. The service's own `$version` and `$metadata` at the top of a loaded
//! twin's properties are its own, so an exported twin loads.
//!
//! The rules here are written from the description, not from the hub's code.

use std::sync::atomic::{AtomicUsize, Ordering};

use iothub_local_hub::LocalHub;
use proptest::prelude::*;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::support;

const MAX_KEY_BYTES: usize = 1024;
const MAX_VALUE_BYTES: usize = 4096;
const MAX_DEPTH: usize = 10;

/// `levels` objects nested below a top-level key, the innermost holding `leaf`.
fn nested(levels: usize, leaf: Value) -> Value {
    (0..levels).fold(
        leaf,
        |inner, level| json!({ format!("l{}", levels - level): inner }),
    )
}

/// Whether `key` is a name the description allows.
fn key_allowed(key: &str) -> bool {
    key.len() <= MAX_KEY_BYTES && !key.chars().any(|c| c.is_control() || ".$ ".contains(c))
}

/// Levels of objects in `value` (arrays add none; objects inside them do).
fn depth(value: &Value) -> usize {
    match value {
        Value::Object(fields) => 1 + fields.values().map(depth).max().unwrap_or(0),
        Value::Array(items) => items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Whether every key inside `value` is allowed.
fn keys_allowed(value: &Value) -> bool {
    match value {
        Value::Object(fields) => fields
            .iter()
            .all(|(k, v)| key_allowed(k) && keys_allowed(v)),
        Value::Array(items) => items.iter().all(keys_allowed),
        _ => true,
    }
}

/// Whether `section` (tags, desired or reported) keeps the rules; `service_fields` lets its
/// top-level `$version` and `$metadata` be.
fn section_allowed(section: &Map<String, Value>, service_fields: bool) -> bool {
    section.iter().all(|(key, value)| {
        (service_fields && ["$version", "$metadata"].contains(&key.as_str()))
            || (key_allowed(key)
                && keys_allowed(value)
                && depth(value) <= MAX_DEPTH
                && serde_json::to_string(value).unwrap().len() <= MAX_VALUE_BYTES)
    })
}

/// What a refusal must name: the key at fault and the rule.
type Refusal<'a> = (&'a str, &'a str);

/// A twin-update job on device `p` with `patch` as its `updateTwin` (etag added).
fn patch_job(mut patch: Value) -> Value {
    patch["etag"] = json!("*");
    json!({"type": "scheduleUpdateTwin", "queryCondition": "deviceId = 'p'",
        "startTime": "2020-01-01T00:00:00Z", "updateTwin": patch})
}

/// Names, values and depths at and past each limit, each refused where it breaks a rule and
/// only there: by `add_twins` (naming the device and the rule) and over HTTP (`400
/// ArgumentInvalid` naming the key and the rule, nothing stored).
#[tokio::test]
async fn twins_and_patches_that_break_the_rules_are_refused_naming_the_rule() {
    let hub = LocalHub::start().await.unwrap();
    hub.add_devices(["p"]).unwrap();
    let at_most = |bytes: usize| json!("v".repeat(bytes - 2));
    let long = "k".repeat(2000);
    let (longest, longest_wide) = ("k".repeat(MAX_KEY_BYTES), "é".repeat(MAX_KEY_BYTES / 2));
    // Each property, and what a refusal must name: the key at fault and the rule.
    let cases: Vec<(&str, Value, Option<Refusal>)> = vec![
        ("a.b", json!(1), Some(("a.b", "'.'"))),
        ("$x", json!(2), Some(("$x", "'$'"))),
        ("sp ace", json!(3), Some(("sp ace", "space"))),
        ("bell\u{7}", json!(1), Some(("bell", "control character"))),
        ("c1\u{85}", json!(1), Some(("c1", "control character"))),
        (&long, json!(1), Some(("kkkkkkkk", "1024 bytes"))),
        ("deep", nested(16, json!("v")), Some(("deep", "10 levels"))),
        ("deep", nested(11, json!("v")), Some(("deep", "10 levels"))),
        (
            "deep",
            json!([nested(11, json!("v"))]),
            Some(("deep", "10 levels")),
        ),
        (
            "big",
            at_most(MAX_VALUE_BYTES + 1),
            Some(("big", "4096 bytes")),
        ),
        ("inner", json!({"ok": {"a.b": 1}}), Some(("a.b", "'.'"))),
        ("inner", json!([{"$x": 1}]), Some(("$x", "'$'"))),
        // Exactly at each limit, and what the rules allow.
        (&longest, json!(1), None),
        (&longest_wide, json!(1), None),
        ("deep", nested(10, json!("v")), None),
        ("deep", json!([[nested(10, json!("v"))]]), None),
        ("big", at_most(MAX_VALUE_BYTES), None),
        (
            "ünï-cödé_名前",
            json!({"a-b": [1, "x", null, {"c": true}]}),
            None,
        ),
    ];
    for (n, (key, value, refusal)) in cases.iter().enumerate() {
        let property = Value::Object(Map::from_iter([(key.to_string(), value.clone())]));
        assert_eq!(
            section_allowed(property.as_object().unwrap(), false),
            refusal.is_none(),
            "this file's rules agree with the case: {key}"
        );
        for section in ["tags", "desired", "reported"] {
            let device = format!("d{n}-{section}");
            let twin = match section {
                "tags" => json!({"deviceId": device, "tags": property}),
                side => json!({"deviceId": device, "properties": {side: property}}),
            };
            let loaded = hub.add_twins([twin]);
            match refusal {
                None => assert!(loaded.is_ok(), "{device}: {loaded:?}"),
                Some((at_fault, rule)) => {
                    let error = loaded.unwrap_err();
                    let message = error.to_string();
                    for named in [device.as_str(), at_fault, rule] {
                        assert!(message.contains(named), "{named} in {message}");
                    }
                    assert!(hub.twin(&device).is_none(), "{device} loaded");
                }
            }
        }
        for (side, patch) in [
            json!({"tags": property}),
            json!({"properties": {"desired": property}}),
        ]
        .into_iter()
        .enumerate()
        {
            let id = format!("patch-{n}-{side}");
            let path = format!("/jobs/v2/{id}");
            let (status, code, body) =
                support::send(&hub, Method::PUT, &path, Some(patch_job(patch.clone()))).await;
            match refusal {
                None => assert_eq!(status, 200, "{patch}: {body}"),
                Some((at_fault, rule)) => {
                    assert_eq!(
                        (status, code.as_deref()),
                        (400, Some("ArgumentInvalid")),
                        "{patch}: {body}"
                    );
                    let message = body["Message"].as_str().unwrap();
                    for named in [*at_fault, rule] {
                        assert!(message.contains(named), "{named} in {message}");
                    }
                    assert!(hub.job(&id).is_none(), "{id} was stored");
                }
            }
        }
    }
}

/// A twin as a real hub exports it loads: `$version` and `$metadata` (with its `$`-names) at
/// the top of its properties are the service's own. Anywhere else, or in a patch, they are not.
#[tokio::test]
async fn an_exported_twin_loads_with_the_services_own_fields() {
    let hub = LocalHub::start().await.unwrap();
    let metadata = json!({"$lastUpdated": "2026-01-01T00:00:00Z",
        "fw": {"$lastUpdated": "2026-01-01T00:00:00Z", "$lastUpdatedVersion": 3}});
    let exported = json!({"deviceId": "exported", "etag": "AAAAAAAAAAM=", "version": 7,
    "tags": {"ring": "canary"},
    "properties": {
        "desired": {"fw": "2.4", "$metadata": metadata, "$version": 3},
        "reported": {"fw": "2.3", "$metadata": {"$lastUpdated": "2026-01-01T00:00:00Z"}, "$version": 5},
    }});
    hub.add_twins([exported]).unwrap();
    assert_eq!(hub.twin("exported").unwrap()["version"], 7);
    for (twin, rule) in [
        (json!({"deviceId": "t", "tags": {"$version": 1}}), "'$'"),
        (
            json!({"deviceId": "t", "properties": {"desired": {"fw": {"$metadata": {}}}}}),
            "'$'",
        ),
        (
            json!({"deviceId": "t", "properties": {"desired": {"$version": "three"}}}),
            "$version",
        ),
        (json!({"deviceId": "t", "version": -1}), "version"),
        (
            json!({"deviceId": "t", "version": 18_446_744_073_709_551_615u64}),
            "version",
        ),
    ] {
        let error = hub.add_twins([twin.clone()]).unwrap_err();
        assert!(error.to_string().contains(rule), "{twin}: {error}");
    }
    hub.add_devices(["p"]).unwrap();
    let (status, code, body) = support::send(
        &hub,
        Method::PUT,
        "/jobs/v2/versioned",
        Some(patch_job(
            json!({"properties": {"desired": {"$version": 9}}}),
        )),
    )
    .await;
    assert_eq!(
        (status, code.as_deref()),
        (400, Some("ArgumentInvalid")),
        "{body}"
    );
}

/// What the property test sends: one property, under `tags` or `properties.desired`.
#[derive(Clone, Debug)]
struct Case {
    desired: bool,
    key: String,
    value: Value,
}

/// Names of every kind: plain, non-ASCII, each forbidden character somewhere, around 1 KB.
fn name() -> impl Strategy<Value = String> {
    let forbidden = prop::sample::select(vec![
        ".", "$", " ", "\u{0}", "\u{1f}", "\u{7f}", "\u{85}", "\u{9f}",
    ]);
    prop_oneof![
        4 => "[a-zA-Z0-9_-]{1,12}",
        2 => "[a-zé名ü]{1,6}",
        2 => ("[a-z]{0,5}", forbidden, "[a-z]{0,5}").prop_map(|(a, bad, b)| format!("{a}{bad}{b}")),
        1 => (1010usize..1040).prop_map(|len| "k".repeat(len)),
        1 => (505usize..520).prop_map(|len| "é".repeat(len)),
    ]
}

/// A value `levels` objects deep under names drawn from [`name`], one level of which may be
/// an array, around a string of about `filler` bytes.
fn value() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec(name(), 0..14),
        prop::option::of(0usize..14),
        prop_oneof![3 => 0usize..64, 1 => 4070usize..4110],
    )
        .prop_map(|(names, array_at, filler)| {
            let leaf = json!("f".repeat(filler));
            names.iter().enumerate().fold(leaf, |inner, (level, name)| {
                let inner = if array_at == Some(level) {
                    json!([inner])
                } else {
                    inner
                };
                Value::Object(Map::from_iter([(name.clone(), inner)]))
            })
        })
}

fn case() -> impl Strategy<Value = Case> {
    (any::<bool>(), name(), value()).prop_map(|(desired, key, value)| Case {
        desired,
        key,
        value,
    })
}

/// Over random names, values and depths: the hub refuses exactly what breaks the rules, on
/// load and over HTTP; an accepted patch runs and is written into its twin; and every client
/// keeps its answers — no panic, no connection closed — throughout (overflow checks on, as in
/// every debug build).
#[test]
fn the_hub_refuses_exactly_what_breaks_the_rules_and_keeps_answering() {
    // Overflow checks on (the debug builds `cargo test` makes): an overflow in the hub panics.
    let overflow_checked = std::panic::catch_unwind(|| std::hint::black_box(i64::MAX) + 1).is_err();
    assert!(
        overflow_checked,
        "run with overflow checks on, as `cargo test` builds"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let hub = runtime.block_on(async {
        let hub = LocalHub::start().await.unwrap();
        hub.add_devices(["p"]).unwrap();
        hub.schedule_job("witness");
        hub
    });
    // One connection for every request, kept alive: a panicking handler would close it.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .build()
        .unwrap();
    let cases = AtomicUsize::new(0);
    let config = ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(case in case())| {
        let n = cases.fetch_add(1, Ordering::Relaxed);
        let property = Value::Object(Map::from_iter([(case.key.clone(), case.value.clone())]));
        let allowed = section_allowed(property.as_object().unwrap(), false);
        let (patch, twin) = if case.desired {
            (json!({"properties": {"desired": property}}),
             json!({"deviceId": format!("t{n}"), "properties": {"desired": property}}))
        } else {
            (json!({"tags": property}), json!({"deviceId": format!("t{n}"), "tags": property}))
        };
        prop_assert_eq!(hub.add_twins([twin]).is_ok(), allowed);
        let send = |method: Method, path: String, body: Option<Value>| {
            let mut request = client
                .request(method, support::hub_url(&hub, &path))
                .header("authorization", support::hub_token(&hub));
            request = match body {
                Some(body) => request.json(&body),
                None => request.header("content-length", "0"),
            };
            runtime.block_on(async {
                let response = request.send().await.expect("the hub answers");
                let status = response.status().as_u16();
                let body: Value = response.json().await.expect("a JSON answer");
                (status, body)
            })
        };
        let id = format!("case-{n}");
        let (status, body) = send(Method::PUT, format!("/jobs/v2/{id}"), Some(patch_job(patch)));
        prop_assert_eq!(status, if allowed { 200 } else { 400 }, "{}", body);
        if allowed {
            // It started in 2020: its end has come, and its read waits for its twin.
            let (status, job) = send(Method::GET, format!("/jobs/v2/{id}"), None);
            prop_assert_eq!((status, job["status"].as_str()), (200, Some("completed")));
            let twin = hub.twin("p").unwrap();
            let section = if case.desired { &twin["properties"]["desired"] } else { &twin["tags"] };
            prop_assert!(section.get(&case.key).is_some(), "{} not in {}", case.key, twin);
        } else {
            prop_assert!(body["Message"].as_str().unwrap().starts_with("ErrorCode:ArgumentInvalid;"));
        }
        let (status, witness) = send(Method::GET, "/jobs/v2/witness".into(), None);
        prop_assert_eq!((status, witness["jobId"].as_str()), (200, Some("witness")));
        let count = json!({"query": "SELECT COUNT() AS n FROM devices"});
        let (status, _) = send(Method::POST, "/devices/query".into(), Some(count));
        prop_assert_eq!(status, 200);
    });
}
