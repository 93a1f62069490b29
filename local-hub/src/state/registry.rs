//! The hub's devices: a twin per device, in the service's own shape, as queries read them and
//! twin-update jobs change them.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::Arc,
};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::state::behaviours::{self, Behaviours, DeviceBehaviour};
use crate::state::compact::Compact;
use crate::state::rules;
use crate::state::twin_rules;

/// Every device's twin, by device id, held compactly.
pub(crate) type Twins = BTreeMap<String, Compact>;

/// The most twins one step of work holds the registry's lock for — a twin update written, a
/// query evaluated — so that no request waits on another's for longer than this many twins
/// take, however many the work reaches.
pub(crate) const TWINS_PER_SLICE: usize = 1_000;

/// The twins, the twin updates of finished jobs still being written into them, and how the
/// devices answer back.
pub(crate) struct Registry {
    twins: Twins,
    behaviours: Behaviours,
    /// Updates of jobs whose end has come, in the order they ended, each written
    /// [`TWINS_PER_SLICE`] twins at a time.
    pending: VecDeque<Update>,
    /// Moves on with every change to the twins, so that work reading them a slice at a time
    /// can tell that it read across a change. Only compared for equality: it wraps.
    changes: u64,
}

/// A twin-update job's patch, being written into the twins it reaches.
pub(crate) struct Update {
    pub job_id: String,
    /// When the job ended: what its `endTime` reads once every twin is written.
    pub end: DateTime<Utc>,
    targets: Arc<[String]>,
    patch: Value,
    /// How many of `targets` are written.
    written: usize,
}

impl Update {
    pub(crate) fn new(
        job_id: String,
        end: DateTime<Utc>,
        targets: Arc<[String]>,
        patch: Value,
    ) -> Self {
        Self {
            job_id,
            end,
            targets,
            patch,
            written: 0,
        }
    }

    /// Whether what remains of it fits in one slice.
    fn ends_in_a_slice(&self) -> bool {
        self.targets.len() - self.written <= TWINS_PER_SLICE
    }
}

impl Registry {
    pub(crate) fn new(behaviours: Behaviours) -> Self {
        Self {
            twins: Twins::new(),
            behaviours,
            pending: VecDeque::new(),
            changes: 0,
        }
    }

    /// The twins, to read.
    pub(crate) fn twins(&self) -> &Twins {
        &self.twins
    }

    /// The twins, to change.
    pub(crate) fn twins_mut(&mut self) -> &mut Twins {
        self.changes = self.changes.wrapping_add(1);
        &mut self.twins
    }

    /// How many changes the twins have seen (wrapping): equal twice, nothing changed between.
    pub(crate) fn changes(&self) -> u64 {
        self.changes
    }

    /// Queues `update`, to be written after those queued before it.
    pub(crate) fn queue(&mut self, update: Update) {
        self.pending.push_back(update);
    }

    /// Whether an update waits to be written.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether what remains of the oldest update fits in one slice (`false` when none waits).
    pub(crate) fn next_slice_ends_an_update(&self) -> bool {
        self.pending.front().is_some_and(Update::ends_in_a_slice)
    }

    /// Writes the next [`TWINS_PER_SLICE`] twins of the oldest update, and returns the update
    /// when that wrote its last twin. Each twin counts as written before it is changed, so a
    /// twin whose change fails is not tried again.
    pub(crate) fn write_slice(&mut self) -> Option<Update> {
        let update = self.pending.front_mut()?;
        let end = update
            .targets
            .len()
            .min(update.written.saturating_add(TWINS_PER_SLICE));
        let start = update.written;
        let desired_changes = update.patch["properties"]["desired"].is_object();
        for device_id in &update.targets[start..end] {
            update.written += 1;
            if let Some(twin) = self.twins.get_mut(device_id) {
                rewrite(twin, |twin| apply(twin, &update.patch));
                if desired_changes {
                    self.behaviours.desired_changed(device_id, update.end);
                }
            }
        }
        self.changes = self.changes.wrapping_add(1);
        if update.written < update.targets.len() {
            return None;
        }
        self.pending.pop_front()
    }

    /// How device `device_id` answers back.
    pub(crate) fn behaviour(&self, device_id: &str) -> DeviceBehaviour {
        self.behaviours.of(device_id)
    }

    /// Makes device `device_id` behave as `behaviour` from `now` on.
    pub(crate) fn set_behaviour(
        &mut self,
        device_id: &str,
        behaviour: DeviceBehaviour,
        now: DateTime<Utc>,
    ) {
        self.behaviours.set(device_id, behaviour, now);
    }

    /// Makes the next [`TWINS_PER_SLICE`] reports due by `now`, each as of when it fell due;
    /// says whether more are due.
    pub(crate) fn report_slice(&mut self, now: DateTime<Utc>) -> bool {
        let due = self.behaviours.take_due(now, TWINS_PER_SLICE);
        if due.is_empty() {
            return false;
        }
        for (at, device_id) in due {
            let behaviour = self.behaviours.of(&device_id);
            if let Some(twin) = self.twins.get_mut(&device_id) {
                rewrite(twin, |twin| {
                    if behaviours::report(twin, behaviour, at) {
                        next_version(twin);
                    }
                });
            }
        }
        self.changes = self.changes.wrapping_add(1);
        self.behaviours.has_due(now)
    }
}

/// Changes `twin` as `change` changes its JSON.
fn rewrite(twin: &mut Compact, change: impl FnOnce(&mut Value)) {
    let mut value = twin.to_value();
    change(&mut value);
    *twin = Compact::new(&value);
}

/// When a twin says nothing happened yet, as the service writes it.
const NEVER: &str = "0001-01-01T00:00:00Z";

/// `given` as the service would hold it: its `deviceId` checked, its `tags`, `properties` and
/// other fields kept, and every field the service always writes filled in where missing.
/// Says what is wrong with a twin that cannot be one.
pub(crate) fn twin(given: Value) -> Result<(String, Value), String> {
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
    if let Err(problem) = twin_rules::check_twin(&given) {
        return Err(format!("the twin of {device_id:?}: {problem}"));
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
pub(crate) fn bare(device_id: &str) -> Result<(String, Value), String> {
    twin(json!({"deviceId": device_id}))
}

/// A generated fleet of `devices` devices (`device-0000001` onwards): each tagged `ring` in
/// [`LocalHub::GENERATED_RINGS`](crate::LocalHub::GENERATED_RINGS), in id order, and reporting
/// [`LocalHub::GENERATED_FIRMWARE`](crate::LocalHub::GENERATED_FIRMWARE).
pub(crate) fn generated(devices: usize) -> impl Iterator<Item = (String, Compact)> {
    let rings = crate::LocalHub::GENERATED_RINGS;
    // Where each ring ends: its share of the fleet, rounded, but at least one device past the
    // ring before while there are devices left, so that a small fleet still has every ring.
    let mut ends = Vec::with_capacity(rings.len());
    let mut share = 0.0;
    for (_, ring_share) in rings {
        share += ring_share;
        let previous = ends.last().copied().unwrap_or(0);
        let end = ((share * devices as f64).round() as usize)
            .max(previous + 1)
            .min(devices);
        ends.push(end);
    }
    if let Some(last) = ends.last_mut() {
        *last = devices;
    }
    (0..devices).map(move |n| {
        let ring = ends.iter().position(|end| n < *end).unwrap_or(0);
        let device_id = format!("device-{:07}", n + 1);
        let given = json!({
            "deviceId": device_id,
            "tags": {"ring": rings[ring].0},
            "properties": {"reported": {"firmware": {"version": crate::LocalHub::GENERATED_FIRMWARE}}},
        });
        // Every field is the hub's own and within the twin rules: never refused.
        let (device_id, twin) = twin(given.clone()).unwrap_or((device_id, given));
        (device_id, Compact::new(&twin))
    })
}

/// Applies a twin-update job's `updateTwin` to `twin`: its tags and desired properties merged
/// as the service merges a patch (`null` removes a property), the twin's version moved on,
/// and the desired properties' `$version` too when they changed. A version at the largest
/// there is stays there.
fn apply(twin: &mut Value, update: &Value) {
    if let Some(tags) = update.get("tags").filter(|tags| tags.is_object()) {
        merge(&mut twin["tags"], tags);
    }
    if let Some(desired) = update["properties"]
        .get("desired")
        .filter(|desired| desired.is_object())
    {
        let section = &mut twin["properties"]["desired"];
        merge(section, desired);
        let version = section["$version"].as_i64().unwrap_or(0).saturating_add(1);
        section["$version"] = json!(version);
    }
    next_version(twin);
}

/// Moves `twin`'s version on, and its etag with it.
fn next_version(twin: &mut Value) {
    let version = twin["version"].as_i64().unwrap_or(0).saturating_add(1);
    twin["version"] = json!(version);
    twin["etag"] = json!(etag(version));
}

/// RFC 7386 merge: objects merged key by key, `null` removing a key, anything else replacing.
pub(super) fn merge(target: &mut Value, patch: &Value) {
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
    fn a_generated_fleet_has_every_ring_in_its_share_in_id_order() {
        let rings = |devices| {
            generated(devices)
                .map(|(_, twin)| twin.to_value()["tags"]["ring"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        };
        let count = |rings: &[String], ring: &str| rings.iter().filter(|r| *r == ring).count();
        let hundred = rings(100);
        assert_eq!(
            [
                count(&hundred, "canary"),
                count(&hundred, "early"),
                count(&hundred, "broad")
            ],
            [2, 18, 80]
        );
        assert!(
            hundred.is_sorted_by_key(|ring| ["canary", "early", "broad"]
                .iter()
                .position(|r| r == ring))
        );
        assert_eq!(rings(3), ["canary", "early", "broad"], "one each at least");
        assert_eq!(rings(1), ["canary"]);
        assert!(rings(0).is_empty());
        let (id, twin) = generated(12).nth(11).unwrap();
        let twin = twin.to_value();
        assert_eq!(id, "device-0000012");
        assert_eq!(
            twin["properties"]["reported"]["firmware"]["version"],
            "1.0.0"
        );
        assert_eq!(twin["properties"]["desired"]["$version"], 1, "filled in");
    }

    #[test]
    fn versions_at_the_largest_there_is_stay_there() {
        let (_, mut twin) = twin(json!({"deviceId": "a", "version": i64::MAX,
            "properties": {"desired": {"$version": i64::MAX}}}))
        .unwrap();
        apply(&mut twin, &json!({"properties": {"desired": {"x": 1}}}));
        assert_eq!(twin["version"], i64::MAX);
        assert_eq!(twin["properties"]["desired"]["$version"], i64::MAX);
        assert_eq!(twin["etag"], etag(i64::MAX));
    }

    /// A registry whose devices answer back at once.
    fn instant_registry() -> Registry {
        let instant = behaviours::Delays {
            apply: std::time::Duration::ZERO,
            slow: std::time::Duration::ZERO,
        };
        Registry::new(Behaviours::new(instant, behaviours::DeviceMix::default()))
    }

    #[test]
    fn updates_are_written_a_slice_at_a_time_in_the_order_they_ended() {
        let mut registry = instant_registry();
        let ids: Vec<String> = (0..TWINS_PER_SLICE + 1)
            .map(|n| format!("d{n:05}"))
            .collect();
        registry.twins_mut().extend(ids.iter().map(|id| {
            let (id, twin) = bare(id).unwrap();
            (id, Compact::new(&twin))
        }));
        let end = DateTime::<Utc>::MIN_UTC;
        let update = |job: &str, tags: Value| {
            Update::new(job.into(), end, ids.clone().into(), json!({ "tags": tags }))
        };
        registry.queue(update("first", json!({"a": 1})));
        registry.queue(update("second", json!({"a": 2})));
        let before = registry.changes();
        assert!(!registry.next_slice_ends_an_update());
        assert!(registry.write_slice().is_none(), "a slice short of the end");
        assert_ne!(registry.changes(), before);
        assert_eq!(
            registry.twins()[&ids[TWINS_PER_SLICE - 1]].to_value()["tags"]["a"],
            1
        );
        assert!(
            registry.twins()[&ids[TWINS_PER_SLICE]].to_value()["tags"]
                .get("a")
                .is_none()
        );
        assert!(registry.next_slice_ends_an_update());
        assert_eq!(registry.write_slice().unwrap().job_id, "first");
        assert!(registry.has_pending());
        registry.write_slice();
        assert_eq!(registry.write_slice().unwrap().job_id, "second");
        assert!(!registry.has_pending() && registry.write_slice().is_none());
        assert_eq!(registry.twins()[&ids[0]].to_value()["tags"]["a"], 2);
        assert_eq!(registry.twins()[&ids[0]].to_value()["version"], 3);
    }

    #[test]
    fn reports_are_made_a_slice_at_a_time_until_none_is_due() {
        let mut registry = instant_registry();
        let ids: Vec<String> = (0..=TWINS_PER_SLICE).map(|n| format!("d{n:05}")).collect();
        registry.twins_mut().extend(ids.iter().map(|id| {
            let (id, twin) = bare(id).unwrap();
            (id, Compact::new(&twin))
        }));
        let end = DateTime::<Utc>::MIN_UTC;
        let patch = json!({"properties": {"desired": {"fw": "2"}}});
        registry.queue(Update::new("j".into(), end, ids.clone().into(), patch));
        while registry.write_slice().is_none() && registry.has_pending() {}
        assert!(
            registry.report_slice(end),
            "one twin past the first slice is due still"
        );
        assert!(!registry.report_slice(end), "the last");
        assert!(!registry.report_slice(end), "none due");
        for id in [&ids[0], &ids[TWINS_PER_SLICE]] {
            let twin = registry.twins()[id].to_value();
            assert_eq!(twin["properties"]["reported"]["fw"], "2", "{id}");
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
