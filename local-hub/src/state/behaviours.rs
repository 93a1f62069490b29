//! How the hub's devices answer back on their twins: a device that is sent desired properties
//! applies them after a delay on the hub's clock — its reported properties take the desired
//! values and acknowledge the version in Microsoft's convention (`lastDesiredVersion`,
//! `lastDesiredStatus {code, description}`) — unless its [`DeviceBehaviour`] says otherwise.
//!
//! Reports are due at a time and made when the twins are next read at or after it, so the
//! hub needs no timer and a frozen clock freezes the devices too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Value, json};

use crate::Error;

/// How a device of the local hub answers back when its desired properties change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeviceBehaviour {
    /// Applies the desired state after the apply delay
    /// ([`LocalHubBuilder::apply_delay`](crate::LocalHubBuilder::apply_delay)): reported
    /// properties take the desired values and acknowledge the version with status `200`.
    #[default]
    Applies,
    /// Applies it as [`Applies`](Self::Applies) does, after the slow delay
    /// ([`LocalHubBuilder::slow_delay`](crate::LocalHubBuilder::slow_delay)).
    Slow,
    /// Acknowledges the desired version after the apply delay with status
    /// [`REJECTED_STATUS`](Self::REJECTED_STATUS), and keeps its reported values.
    Rejects,
    /// Is not connected: it neither answers direct methods (they fail `DeviceNotOnline`) nor
    /// reports; set another behaviour and it applies the twin's latest desired state after
    /// that behaviour's delay, as a device that reconnects reads its twin.
    Offline,
    /// Is connected and answers direct methods, but never reports anything back.
    NeverReports,
}

impl DeviceBehaviour {
    /// The status with which a [`Rejects`](Self::Rejects) device acknowledges a desired
    /// version: `400`, as an IoT Edge agent reports a configuration it cannot use.
    pub const REJECTED_STATUS: u16 = 400;
    /// The status with which a device acknowledges a desired version it applied.
    pub const APPLIED_STATUS: u16 = 200;

    /// Every behaviour, by the name [`FromStr`] and the binary read.
    pub const ALL: [(&str, Self); 5] = [
        ("applies", Self::Applies),
        ("slow", Self::Slow),
        ("rejects", Self::Rejects),
        ("offline", Self::Offline),
        ("never-reports", Self::NeverReports),
    ];

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, behaviour)| *behaviour == self)
            .map_or("applies", |(name, _)| name)
    }

    /// Whether it reports back at all, and after which of the two delays.
    fn delay(self, delays: &Delays) -> Option<Duration> {
        match self {
            Self::Applies | Self::Rejects => Some(delays.apply),
            Self::Slow => Some(delays.slow),
            Self::Offline | Self::NeverReports => None,
        }
    }
}

impl fmt::Display for DeviceBehaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DeviceBehaviour {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self, Error> {
        Self::ALL
            .iter()
            .find(|(known, _)| known.eq_ignore_ascii_case(name))
            .map(|(_, behaviour)| *behaviour)
            .ok_or_else(|| {
                let names: Vec<_> = Self::ALL.iter().map(|(name, _)| *name).collect();
                Error::new(format!(
                    "{:?} is not a device behaviour; use one of {}",
                    name.chars().take(40).collect::<String>(),
                    names.join(", ")
                ))
            })
    }
}

/// The share of a fleet's devices that behave each way, the rest [`DeviceBehaviour::Applies`]:
/// which devices is drawn from each device's id and the seed, so the same seed picks the same
/// devices whatever the order they were added in.
///
/// ```
/// use iothub_local_hub::{DeviceBehaviour, DeviceMix};
///
/// let mix = DeviceMix::seeded(7)
///     .with_share(DeviceBehaviour::Rejects, 0.05)?
///     .with_share(DeviceBehaviour::Offline, 0.02)?;
/// # Ok::<(), iothub_local_hub::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeviceMix {
    seed: u64,
    /// Each behaviour other than `Applies` with its share, in the order given.
    shares: Vec<(DeviceBehaviour, f64)>,
}

impl DeviceMix {
    /// Every device applying, with `seed` for the shares added to it.
    pub fn seeded(seed: u64) -> Self {
        Self {
            seed,
            shares: Vec::new(),
        }
    }

    /// `share` (`0.0`–`1.0`) of the devices behave as `behaviour` (replacing an earlier share
    /// of it).
    ///
    /// # Errors
    /// A share outside `0.0`–`1.0`, or shares that add up to more than `1.0`.
    pub fn with_share(mut self, behaviour: DeviceBehaviour, share: f64) -> Result<Self, Error> {
        if !(0.0..=1.0).contains(&share) {
            return Err(Error::new(format!(
                "the share of {behaviour} devices is {share}; it must be from 0.0 to 1.0"
            )));
        }
        self.shares.retain(|(given, _)| *given != behaviour);
        self.shares.push((behaviour, share));
        let total: f64 = self.shares.iter().map(|(_, share)| share).sum();
        if total > 1.0 + f64::EPSILON {
            return Err(Error::new(format!(
                "the device mix's shares add up to {total}, more than 1.0"
            )));
        }
        Ok(self)
    }

    /// How device `device_id` behaves in this mix.
    pub fn behaviour_of(&self, device_id: &str) -> DeviceBehaviour {
        let draw = unit_draw(self.seed, device_id);
        let mut below = 0.0;
        for (behaviour, share) in &self.shares {
            below += share;
            if draw < below {
                return *behaviour;
            }
        }
        DeviceBehaviour::Applies
    }
}

/// A number in `[0, 1)` from `seed` and `device_id` alone: FNV-1a of the id, mixed with the
/// seed by SplitMix64's finalizer — written here because it must never change between
/// versions, or a seed would pick other devices.
fn unit_draw(seed: u64, device_id: &str) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in device_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let mut mixed = hash ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    mixed ^= mixed >> 31;
    // The top 53 bits: every value exact in an f64.
    (mixed >> 11) as f64 / (1u64 << 53) as f64
}

/// How long devices take to report back.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Delays {
    pub apply: Duration,
    pub slow: Duration,
}

/// The devices' behaviours, and the reports they owe.
pub(crate) struct Behaviours {
    delays: Delays,
    mix: DeviceMix,
    /// Behaviours set per device, over the mix.
    set: HashMap<String, DeviceBehaviour>,
    /// Reports owed, by when they are due; a device owes at most one (`due_of`).
    due: BTreeSet<(DateTime<Utc>, String)>,
    due_of: HashMap<String, DateTime<Utc>>,
}

impl Behaviours {
    pub(crate) fn new(delays: Delays, mix: DeviceMix) -> Self {
        Self {
            delays,
            mix,
            set: HashMap::new(),
            due: BTreeSet::new(),
            due_of: HashMap::new(),
        }
    }

    pub(crate) fn of(&self, device_id: &str) -> DeviceBehaviour {
        self.set
            .get(device_id)
            .copied()
            .unwrap_or_else(|| self.mix.behaviour_of(device_id))
    }

    /// Sets how `device_id` behaves from `now` on. One that comes back from
    /// [`Offline`](DeviceBehaviour::Offline) owes a report of its twin's latest desired state,
    /// as a device reads its twin when it connects; one that stops reporting owes none.
    pub(crate) fn set(&mut self, device_id: &str, behaviour: DeviceBehaviour, now: DateTime<Utc>) {
        let was = self.of(device_id);
        self.set.insert(device_id.to_owned(), behaviour);
        if behaviour.delay(&self.delays).is_none() {
            self.cancel(device_id);
        } else if was == DeviceBehaviour::Offline {
            self.desired_changed(device_id, now);
        }
    }

    /// The desired properties of `device_id` changed at `at`: it owes a report after its delay,
    /// unless it owes one already (it then reports the latest desired state).
    pub(crate) fn desired_changed(&mut self, device_id: &str, at: DateTime<Utc>) {
        if self.due_of.contains_key(device_id) {
            return;
        }
        let Some(delay) = self.of(device_id).delay(&self.delays) else {
            return;
        };
        // A delay past the calendar: the report is never due.
        let Some(due) = TimeDelta::from_std(delay)
            .ok()
            .and_then(|delay| at.checked_add_signed(delay))
        else {
            return;
        };
        self.due.insert((due, device_id.to_owned()));
        self.due_of.insert(device_id.to_owned(), due);
    }

    fn cancel(&mut self, device_id: &str) {
        if let Some(due) = self.due_of.remove(device_id) {
            self.due.remove(&(due, device_id.to_owned()));
        }
    }

    /// Takes up to `most` reports due by `now`, earliest first, with when each was due.
    pub(crate) fn take_due(
        &mut self,
        now: DateTime<Utc>,
        most: usize,
    ) -> Vec<(DateTime<Utc>, String)> {
        let mut taken = Vec::new();
        while taken.len() < most {
            match self.due.first() {
                Some((due, _)) if *due <= now => {}
                _ => break,
            }
            if let Some((due, device_id)) = self.due.pop_first() {
                self.due_of.remove(&device_id);
                taken.push((due, device_id));
            }
        }
        taken
    }

    /// Whether a report is due by `now`.
    pub(crate) fn has_due(&self, now: DateTime<Utc>) -> bool {
        self.due.first().is_some_and(|(due, _)| *due <= now)
    }
}

/// What `twin`'s device reports at `at`, behaving as `behaviour`: nothing if it acknowledged
/// its desired version already; else the version acknowledged, and for a device that applies,
/// the desired values reported back. Says whether the twin changed.
pub(crate) fn report(twin: &mut Value, behaviour: DeviceBehaviour, at: DateTime<Utc>) -> bool {
    let desired = &twin["properties"]["desired"];
    let version = desired["$version"].clone();
    if twin["properties"]["reported"]["lastDesiredVersion"] == version {
        return false;
    }
    let (code, description, values) = match behaviour {
        DeviceBehaviour::Applies | DeviceBehaviour::Slow => (
            DeviceBehaviour::APPLIED_STATUS,
            "applied",
            desired_values(desired),
        ),
        DeviceBehaviour::Rejects => (
            DeviceBehaviour::REJECTED_STATUS,
            "rejected: the device cannot use this desired state",
            BTreeMap::new(),
        ),
        DeviceBehaviour::Offline | DeviceBehaviour::NeverReports => return false,
    };
    let reported = &mut twin["properties"]["reported"];
    if !reported.is_object() {
        return false;
    }
    for (name, value) in values {
        super::registry::merge(&mut reported[name.as_str()], &value);
    }
    reported["lastDesiredVersion"] = version;
    reported["lastDesiredStatus"] = json!({"code": code, "description": description});
    let reported_version = reported["$version"].as_i64().unwrap_or(0).saturating_add(1);
    reported["$version"] = json!(reported_version);
    let metadata = &mut reported["$metadata"];
    if !metadata.is_object() {
        // A loaded twin's `$metadata` is the service's own and may be anything.
        *metadata = json!({});
    }
    metadata["$lastUpdated"] = json!(at.to_rfc3339_opts(SecondsFormat::Millis, true));
    true
}

/// The desired properties a device reports back: all but the service's own (`$version`,
/// `$metadata`).
fn desired_values(desired: &Value) -> BTreeMap<String, Value> {
    desired
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, _)| !name.starts_with('$'))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::seconds(seconds)
    }

    fn behaviours() -> Behaviours {
        Behaviours::new(
            Delays {
                apply: Duration::from_secs(2),
                slow: Duration::from_secs(60),
            },
            DeviceMix::default(),
        )
    }

    #[test]
    fn a_mix_picks_the_same_devices_for_a_seed_in_about_its_shares() {
        let mix = DeviceMix::seeded(1)
            .with_share(DeviceBehaviour::Rejects, 0.1)
            .unwrap()
            .with_share(DeviceBehaviour::NeverReports, 0.2)
            .unwrap();
        let ids: Vec<String> = (0..10_000).map(|n| format!("device-{n}")).collect();
        let count = |mix: &DeviceMix, behaviour| {
            ids.iter()
                .filter(|id| mix.behaviour_of(id) == behaviour)
                .count()
        };
        let rejecting = count(&mix, DeviceBehaviour::Rejects);
        assert!((900..1_100).contains(&rejecting), "{rejecting}");
        let never = count(&mix, DeviceBehaviour::NeverReports);
        assert!((1_800..2_200).contains(&never), "{never}");
        assert_eq!(
            mix.behaviour_of("device-7"),
            mix.clone().behaviour_of("device-7")
        );
        let rejects = |seed| {
            DeviceMix::seeded(seed)
                .with_share(DeviceBehaviour::Rejects, 0.1)
                .unwrap()
        };
        assert!(
            ids.iter()
                .any(|id| rejects(1).behaviour_of(id) != rejects(2).behaviour_of(id)),
            "another seed picks other devices"
        );
        // Pinned: a seed must pick the same devices in every version.
        assert_eq!(unit_draw(0, ""), 0.9576734252420561);
        assert_eq!(unit_draw(42, "sensor-1"), 0.8771347094852326);
        assert_eq!(unit_draw(7, "device-0000004"), 0.417961978102086);
    }

    #[test]
    fn a_mix_refuses_shares_it_cannot_hold() {
        let mix = DeviceMix::seeded(0);
        assert!(mix.clone().with_share(DeviceBehaviour::Slow, 1.5).is_err());
        assert!(
            mix.clone()
                .with_share(DeviceBehaviour::Slow, f64::NAN)
                .is_err()
        );
        assert!(
            mix.clone()
                .with_share(DeviceBehaviour::Slow, 0.7)
                .unwrap()
                .with_share(DeviceBehaviour::Rejects, 0.3)
                .is_ok(),
            "shares of exactly 1.0 in all"
        );
        let most = mix.with_share(DeviceBehaviour::Slow, 0.7).unwrap();
        let error = most
            .clone()
            .with_share(DeviceBehaviour::Rejects, 0.4)
            .unwrap_err();
        assert!(error.to_string().contains("more than 1.0"), "{error}");
        assert!(
            most.with_share(DeviceBehaviour::Slow, 0.9).is_ok(),
            "a share given again replaces the earlier one"
        );
    }

    #[test]
    fn behaviours_read_by_name_and_refuse_others_naming_them_all() {
        for (name, behaviour) in DeviceBehaviour::ALL {
            assert_eq!(name.parse::<DeviceBehaviour>().unwrap(), behaviour);
            assert_eq!(behaviour.to_string(), name);
        }
        assert_eq!(
            "REJECTS".parse::<DeviceBehaviour>().unwrap(),
            DeviceBehaviour::Rejects
        );
        let error = "sulks".parse::<DeviceBehaviour>().unwrap_err().to_string();
        assert!(
            error.contains("\"sulks\"") && error.contains("never-reports"),
            "{error}"
        );
    }

    #[test]
    fn reports_fall_due_after_each_behaviours_delay_once_per_device() {
        let mut devices = behaviours();
        devices.set("slow", DeviceBehaviour::Slow, at(0));
        devices.set("never", DeviceBehaviour::NeverReports, at(0));
        devices.set("gone", DeviceBehaviour::Offline, at(0));
        for id in ["a", "slow", "never", "gone"] {
            devices.desired_changed(id, at(10));
        }
        devices.desired_changed("a", at(11));
        assert!(!devices.has_due(at(11)));
        assert_eq!(devices.take_due(at(12), 10), [(at(12), "a".to_owned())]);
        assert!(devices.take_due(at(69), 10).is_empty());
        assert_eq!(devices.take_due(at(70), 10), [(at(70), "slow".to_owned())]);
        assert!(
            devices.take_due(at(10_000), 10).is_empty(),
            "never, offline"
        );
        devices.desired_changed("late", at(300));
        devices.set("late", DeviceBehaviour::NeverReports, at(301));
        assert!(devices.take_due(at(10_000), 10).is_empty(), "went silent");
        devices.set("gone", DeviceBehaviour::Applies, at(100));
        assert_eq!(
            devices.take_due(at(102), 10),
            [(at(102), "gone".to_owned())],
            "back online, it reports"
        );
        for n in 0..5 {
            devices.desired_changed(&format!("d{n}"), at(200));
        }
        assert_eq!(devices.take_due(at(202), 3).len(), 3, "at most so many");
        assert_eq!(devices.take_due(at(202), 3).len(), 2);
    }

    #[test]
    fn a_device_reports_the_desired_values_or_its_rejection_in_microsofts_convention() {
        let twin = || {
            json!({"properties": {
                "desired": {"fw": {"version": "2.0"}, "$version": 4, "$metadata": {}},
                "reported": {"fw": {"version": "1.0", "url": "x"}, "$version": 7,
                    "$metadata": {"$lastUpdated": "0001-01-01T00:00:00Z", "fw": {}}}}})
        };
        let mut applied = twin();
        assert!(report(&mut applied, DeviceBehaviour::Applies, at(5)));
        let reported = &applied["properties"]["reported"];
        assert_eq!(reported["fw"], json!({"version": "2.0", "url": "x"}));
        assert_eq!(reported["lastDesiredVersion"], 4);
        assert_eq!(reported["lastDesiredStatus"]["code"], 200);
        assert_eq!(reported["$version"], 8);
        assert_eq!(
            reported["$metadata"]["$lastUpdated"],
            "1970-01-01T00:00:05.000Z"
        );
        assert_eq!(
            reported["$metadata"]["fw"],
            json!({}),
            "the rest of it kept"
        );
        assert!(
            !report(&mut applied, DeviceBehaviour::Applies, at(6)),
            "nothing new to acknowledge"
        );
        let mut rejected = twin();
        assert!(report(&mut rejected, DeviceBehaviour::Rejects, at(5)));
        let reported = &rejected["properties"]["reported"];
        assert_eq!(reported["fw"]["version"], "1.0", "kept");
        assert_eq!(reported["lastDesiredStatus"]["code"], 400);
        assert_eq!(reported["lastDesiredVersion"], 4);
        let mut odd = twin();
        odd["properties"]["reported"]["$metadata"] = json!(5);
        assert!(report(&mut odd, DeviceBehaviour::Applies, at(5)));
        assert_eq!(
            odd["properties"]["reported"]["$metadata"],
            json!({"$lastUpdated": "1970-01-01T00:00:05.000Z"}),
            "metadata that is not an object is written anew"
        );
        let mut silent = twin();
        assert!(!report(&mut silent, DeviceBehaviour::NeverReports, at(5)));
        assert_eq!(silent, twin());
    }
}
