//! The hub's devices: a twin per device, in the service's own shape, as queries read them and
//! twin-update jobs change them.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::rules;

/// Every device's twin, by device id.
pub(super) type Twins = BTreeMap<String, Value>;

/// When a twin says nothing happened yet, as the service writes it.
const NEVER: &str = "0001-01-01T00:00:00Z";

/// `given` as the service would hold it: its `deviceId` checked, its `tags`, `properties` and
/// other fields kept, and every field the service always writes filled in where missing.
/// Says what is wrong with a twin that cannot be one.
pub(super) fn twin(given: Value) -> Result<(String, Value), String> {
    let Value::Object(mut given) = given else {
        return Err("a twin must be a JSON object".to_owned());
    };
    let Some(device_id) = given
        .get("deviceId")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return Err("a twin needs a deviceId string".to_owned());
    };
    if !rules::is_device_id(&device_id) {
        return Err(format!(
            "{device_id:?} is not a device id: 1-128 ASCII letters, digits and - : . + % _ # * ? ! ( ) , = @ ; $ '"
        ));
    }
    for (field, value) in [
        ("tags", given.get("tags")),
        ("properties", given.get("properties")),
    ] {
        if value.is_some_and(|value| !value.is_object()) {
            return Err(format!(
                "the twin of {device_id:?} has {field} that is not an object"
            ));
        }
    }
    let mut properties = match given.remove("properties") {
        Some(Value::Object(properties)) => properties,
        _ => Map::new(),
    };
    for side in ["desired", "reported"] {
        let section = properties.entry(side).or_insert_with(|| json!({}));
        let Value::Object(section) = section else {
            return Err(format!(
                "the twin of {device_id:?} has properties.{side} that is not an object"
            ));
        };
        section.entry("$version").or_insert(json!(1));
        section
            .entry("$metadata")
            .or_insert_with(|| json!({"$lastUpdated": NEVER}));
    }
    let defaults = json!({
        "etag": etag(1),
        "deviceEtag": "AAAAAAAAAAE=",
        "status": "enabled",
        "statusUpdateTime": NEVER,
        "connectionState": "Disconnected",
        "lastActivityTime": NEVER,
        "cloudToDeviceMessageCount": 0,
        "authenticationType": "sas",
        "x509Thumbprint": {"primaryThumbprint": null, "secondaryThumbprint": null},
        "modelId": "",
        "version": 1,
        "tags": {},
        "capabilities": {"iotEdge": false},
    });
    if let Value::Object(defaults) = defaults {
        for (field, value) in defaults {
            given.entry(field).or_insert(value);
        }
    }
    given.insert("properties".to_owned(), Value::Object(properties));
    Ok((device_id, Value::Object(given)))
}

/// A device with nothing but its id.
pub(super) fn bare(device_id: &str) -> Result<(String, Value), String> {
    twin(json!({"deviceId": device_id}))
}

/// Applies a twin-update job's `updateTwin` to `twin`: its tags and desired properties merged
/// as the service merges a patch (`null` removes a property), the twin's version moved on,
/// and the desired properties' `$version` too when they changed.
pub(super) fn apply(twin: &mut Value, update: &Value) {
    if let Some(tags) = update.get("tags").filter(|tags| tags.is_object()) {
        merge(&mut twin["tags"], tags);
    }
    if let Some(desired) = update["properties"]
        .get("desired")
        .filter(|desired| desired.is_object())
    {
        let section = &mut twin["properties"]["desired"];
        merge(section, desired);
        let version = section["$version"].as_i64().unwrap_or(0) + 1;
        section["$version"] = json!(version);
    }
    let version = twin["version"].as_i64().unwrap_or(0) + 1;
    twin["version"] = json!(version);
    twin["etag"] = json!(etag(version));
}

/// RFC 7386 merge: objects merged key by key, `null` removing a key, anything else replacing.
fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Value::Object(target) = target {
        for (key, value) in patch {
            if value.is_null() {
                target.remove(key);
            } else {
                merge(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// An etag that changes with the twin's version, in the service's base64 form.
fn etag(version: i64) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(version.to_be_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_twin_keeps_what_it_is_given_and_gets_what_the_service_always_writes() {
        let (id, twin) = twin(json!({"deviceId": "a", "tags": {"ring": "canary"},
            "properties": {"reported": {"fw": "1.0"}}, "status": "disabled"}))
        .unwrap();
        assert_eq!(id, "a");
        assert_eq!(twin["tags"], json!({"ring": "canary"}));
        assert_eq!(twin["status"], "disabled");
        assert_eq!(twin["connectionState"], "Disconnected");
        assert_eq!(twin["properties"]["reported"]["fw"], "1.0");
        assert_eq!(twin["properties"]["desired"]["$version"], 1);
        let read: crate::models::Twin = serde_json::from_value(twin).unwrap();
        assert_eq!(read.device_id.as_deref(), Some("a"));
    }

    #[test]
    fn twins_that_cannot_be_are_refused_saying_why() {
        for (given, expected) in [
            (json!([]), "JSON object"),
            (json!({"tags": {}}), "deviceId"),
            (json!({"deviceId": "a b"}), "not a device id"),
            (json!({"deviceId": "a", "tags": 1}), "tags"),
            (
                json!({"deviceId": "a", "properties": {"desired": 1}}),
                "properties.desired",
            ),
        ] {
            let problem = twin(given.clone()).unwrap_err();
            assert!(problem.contains(expected), "{given}: {problem}");
        }
    }

    #[test]
    fn an_update_merges_tags_and_desired_and_moves_the_versions_on() {
        let (_, mut twin) = twin(
            json!({"deviceId": "a", "tags": {"ring": "canary", "old": 1},
            "properties": {"desired": {"fw": {"version": "1.0", "url": "x"}}}}),
        )
        .unwrap();
        let etag = twin["etag"].clone();
        apply(
            &mut twin,
            &json!({"etag": "*", "tags": {"old": null, "site": "b"},
                "properties": {"desired": {"fw": {"version": "2.0"}}}}),
        );
        assert_eq!(twin["tags"], json!({"ring": "canary", "site": "b"}));
        assert_eq!(
            twin["properties"]["desired"]["fw"],
            json!({"version": "2.0", "url": "x"})
        );
        assert_eq!(twin["properties"]["desired"]["$version"], 2);
        assert_eq!(twin["version"], 2);
        assert_ne!(twin["etag"], etag);
        apply(&mut twin, &json!({"tags": {"x": 1}}));
        assert_eq!(twin["version"], 3);
        assert_eq!(
            twin["properties"]["desired"]["$version"], 2,
            "the desired properties did not change"
        );
    }
}
