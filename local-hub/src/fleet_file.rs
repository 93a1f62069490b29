//! A fleet file: a JSON array of twins in the service's shape, read a twin at a time, each
//! checked and held compactly as soon as it is read — a million twins never stand as JSON
//! values at once. A twin may carry one field of the hub's own, `"behaviour"`, taken out of it.

use std::{fmt, io::Read};

use serde::de::{Deserializer as _, Error as _, SeqAccess, Visitor};
use serde_json::Value;

use crate::state::{behaviours::DeviceBehaviour, compact::Compact, registry};

/// The twins a fleet file holds, checked, and the behaviours some carried.
#[derive(Default)]
pub(crate) struct Fleet {
    pub twins: Vec<(String, Compact)>,
    pub behaviours: Vec<(String, DeviceBehaviour)>,
}

/// The fleet `reader` holds; what is wrong names the twin (counted from 0) and the rule.
pub(crate) fn read(reader: impl Read) -> Result<Fleet, String> {
    let mut json = serde_json::Deserializer::from_reader(std::io::BufReader::new(reader));
    let fleet = json.deserialize_seq(Twins).map_err(|e| e.to_string())?;
    json.end().map_err(|e| format!("after the array: {e}"))?;
    Ok(fleet)
}

struct Twins;

impl<'de> Visitor<'de> for Twins {
    type Value = Fleet;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "a JSON array of twins, like [{\"deviceId\": \"sensor-1\", \"tags\": {\"ring\": \"canary\"}}]",
        )
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut twins: A) -> Result<Fleet, A::Error> {
        let mut fleet = Fleet::default();
        let mut at = 0_usize;
        while let Some(mut given) = twins.next_element::<Value>()? {
            let refused = |problem: String| A::Error::custom(format!("twin {at}: {problem}"));
            let behaviour = behaviour(&mut given).map_err(refused)?;
            let (device_id, twin) = registry::twin(given).map_err(refused)?;
            if let Some(behaviour) = behaviour {
                fleet.behaviours.push((device_id.clone(), behaviour));
            }
            fleet.twins.push((device_id, Compact::new(&twin)));
            at += 1;
        }
        Ok(fleet)
    }
}

/// The hub's own `"behaviour"` of a twin, taken out of it.
fn behaviour(twin: &mut Value) -> Result<Option<DeviceBehaviour>, String> {
    let Some(given) = twin
        .as_object_mut()
        .and_then(|twin| twin.remove("behaviour"))
    else {
        return Ok(None);
    };
    let name = given
        .as_str()
        .ok_or_else(|| "its behaviour must be a string".to_owned())?;
    name.parse()
        .map(Some)
        .map_err(|e: crate::Error| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fleet_is_read_a_twin_at_a_time_with_its_behaviours() {
        let fleet = read(
            r#"[{"deviceId": "a", "behaviour": "rejects"}, {"deviceId": "b", "tags": {"r": 1}}]"#
                .as_bytes(),
        )
        .unwrap();
        let ids: Vec<&str> = fleet.twins.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(
            fleet.behaviours,
            [("a".to_owned(), DeviceBehaviour::Rejects)]
        );
        assert!(fleet.twins[0].1.to_value().get("behaviour").is_none());
        assert_eq!(fleet.twins[1].1.to_value()["tags"]["r"], 1);
    }

    #[test]
    fn what_is_not_a_fleet_is_refused_saying_why() {
        for (text, named) in [
            ("{}", "a JSON array of twins"),
            (r#"[{"deviceId": "a"}"#, "EOF"),
            ("[] []", "after the array"),
            (
                r#"[{"deviceId": "a"}, {"tags": {}}]"#,
                "twin 1: a twin needs a deviceId",
            ),
            (
                r#"[{"deviceId": "a", "behaviour": "sulks"}]"#,
                "twin 0: \"sulks\"",
            ),
            (r#"[{"deviceId": "a", "behaviour": 3}]"#, "must be a string"),
        ] {
            let problem = read(text.as_bytes()).err().unwrap();
            assert!(problem.contains(named), "{text}: {problem}");
        }
        assert!(read("[]".as_bytes()).unwrap().twins.is_empty());
    }
}
