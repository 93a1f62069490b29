//! Whether devices applied what their twins were sent: a twin-update job's row reads
//! `completed` once the cloud twin is written, which says nothing of the device. What
//! operators watch instead is the reported side; [`Convergence`] says what "applied" means
//! there, and [`JobsClient::convergence`] counts the devices that have, have failed to, or have
//! not answered yet.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::{Condition, Error, Field, JobsClient, Literal};

/// What "applied" means for a set of devices, as conditions on their twins: one a converged
/// device meets, and optionally one a device that failed to apply meets.
///
/// ```
/// use iothub_jobs::{Convergence, Field};
/// use serde_json::json;
///
/// // Microsoft's acknowledgement convention (IoT Edge deployments' metrics).
/// let acknowledged = Convergence::acknowledged();
/// // Every desired leaf of the patch reported back with the same value.
/// let patch = json!({"firmware": {"version": "2.4.1"}}).as_object().unwrap().clone();
/// let reported = Convergence::reported_back(&patch);
/// // The caller's own.
/// let own = Convergence::when(Field::reported("fw").eq("2.4.1"))
///     .with_failure(Field::reported("fwError").is_defined());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Convergence {
    converged: Condition,
    failed: Option<Condition>,
}

impl Convergence {
    /// The status code with which a device acknowledges that it applied its desired state,
    /// in Microsoft's convention (`properties.reported.lastDesiredStatus.code`).
    pub const APPLIED_STATUS: u32 = 200;

    /// Microsoft's acknowledgement convention, from IoT Edge deployments' metrics: converged
    /// when `properties.desired.$version = properties.reported.lastDesiredVersion AND
    /// properties.reported.lastDesiredStatus.code = 200`; failed when the device acknowledged
    /// the version with another code.
    pub fn acknowledged() -> Self {
        let version = || Field::desired("$version").eq(Field::reported("lastDesiredVersion"));
        let code = || Field::reported("lastDesiredStatus.code");
        Self {
            converged: version().and(code().eq(Self::APPLIED_STATUS)),
            failed: Some(version().and(code().ne(Self::APPLIED_STATUS))),
        }
    }

    /// Converged when every leaf of the desired-properties `patch` that is a string, number or
    /// boolean is reported back with the same value (`properties.reported.<path> = <value>`);
    /// `null` leaves (removals) and arrays are not compared. No failure condition: a device
    /// either reports the values or does not yet. A patch with no such leaf converges nowhere
    /// (there is nothing to see): [`JobsClient::convergence`] refuses it.
    pub fn reported_back(patch: &Map<String, Value>) -> Self {
        let mut leaves = Vec::new();
        collect_leaves(patch, &mut Vec::new(), &mut leaves);
        let converged = leaves
            .into_iter()
            .fold(None, |all: Option<Condition>, condition| {
                Some(match all {
                    Some(all) => all.and(condition),
                    None => condition,
                })
            })
            .unwrap_or_else(nothing_to_see);
        Self {
            converged,
            failed: None,
        }
    }

    /// Converged when a device's twin meets `converged`; without a failure condition unless
    /// [`with_failure`](Self::with_failure) gives one.
    pub fn when(converged: impl Into<Condition>) -> Self {
        Self {
            converged: converged.into(),
            failed: None,
        }
    }

    /// Failed when a device's twin meets `failed` (and not `converged`'s condition: a device
    /// counts once, as converged first).
    pub fn with_failure(mut self, failed: impl Into<Condition>) -> Self {
        self.failed = Some(failed.into());
        self
    }
}

/// The condition of a patch with nothing to compare: refused when it is used.
fn nothing_to_see() -> Condition {
    Condition::refused(
        "the patch has no string, number or boolean to see reported back \
         (Convergence::reported_back): give a condition of your own (Convergence::when)"
            .to_owned(),
    )
}

/// `properties.reported.<path> = <value>` for every comparable leaf under `object`.
fn collect_leaves(
    object: &Map<String, Value>,
    path: &mut Vec<String>,
    leaves: &mut Vec<Condition>,
) {
    for (name, value) in object {
        path.push(name.clone());
        let literal: Option<Literal> = match value {
            Value::String(text) => Some(text.into()),
            Value::Bool(flag) => Some((*flag).into()),
            Value::Number(number) => number
                .as_i64()
                .map(Literal::from)
                .or_else(|| number.as_u64().map(Literal::from))
                .or_else(|| number.as_f64().map(Literal::from)),
            Value::Object(inner) => {
                collect_leaves(inner, path, leaves);
                None
            }
            Value::Null | Value::Array(_) => None,
        };
        if let Some(literal) = literal {
            leaves.push(Field::reported(&path.join(".")).eq(literal));
        }
        path.pop();
    }
}

/// How far a set of devices has converged ([`JobsClient::convergence`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ConvergenceCounts {
    /// The devices the condition selects.
    pub targeted: u64,
    /// Those that applied it.
    pub converged: u64,
    /// Those that failed to (none without a failure condition).
    pub failed: u64,
    /// The rest: not (yet) reported either way.
    pub pending: u64,
}

impl JobsClient {
    /// How far the devices `condition` selects have converged as `convergence` says: how many
    /// are targeted, converged, failed and pending. Costs three queries (two without a
    /// failure condition) — count queries, against the service's budget of 20 queries a
    /// minute per unit on S1 and S2 — read one after the other, so devices that change between
    /// them are counted as they were at each; `pending` is what is left, never below 0.
    ///
    /// A condition that cannot be written, or a [`Convergence::reported_back`] patch with
    /// nothing to compare, is an [`ErrorKind::InvalidCondition`](crate::ErrorKind::InvalidCondition),
    /// and nothing is sent.
    pub async fn convergence(
        &self,
        condition: impl Into<Condition>,
        convergence: &Convergence,
    ) -> Result<ConvergenceCounts, Error> {
        let condition = condition.into();
        let converged_when = condition.clone().and(convergence.converged.clone());
        // Converged first: a device meeting both conditions counts once.
        let failed_when = convergence.failed.clone().map(|failed| {
            condition
                .clone()
                .and(failed)
                .and(!convergence.converged.clone())
        });
        // Every condition is checked before the first query is sent.
        for checked in [
            Some(&condition),
            Some(&converged_when),
            failed_when.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            checked.text()?;
        }
        let targeted = self.count_devices(condition).await?;
        let converged = self.count_devices(converged_when).await?;
        let failed = match failed_when {
            Some(failed_when) => self.count_devices(failed_when).await?,
            None => 0,
        };
        Ok(ConvergenceCounts {
            targeted,
            converged,
            failed,
            pending: targeted.saturating_sub(converged).saturating_sub(failed),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn text(condition: &Condition) -> &str {
        condition.text().unwrap()
    }

    #[test]
    fn the_conventions_render_the_conditions_operators_use() {
        let acknowledged = Convergence::acknowledged();
        assert_eq!(
            text(&acknowledged.converged),
            "properties.desired.$version = properties.reported.lastDesiredVersion AND \
             properties.reported.lastDesiredStatus.code = 200"
        );
        assert_eq!(
            text(acknowledged.failed.as_ref().unwrap()),
            "properties.desired.$version = properties.reported.lastDesiredVersion AND \
             properties.reported.lastDesiredStatus.code != 200"
        );
        let patch = json!({"firmware": {"version": "2.4.1", "channel": null, "rings": [1]},
            "interval": 30, "ratio": 0.5, "on": true});
        let reported = Convergence::reported_back(patch.as_object().unwrap());
        assert_eq!(
            text(&reported.converged),
            "properties.reported.firmware.version = '2.4.1' AND \
             properties.reported.interval = 30 AND properties.reported.on = true AND \
             properties.reported.ratio = 0.5"
        );
        assert_eq!(reported.failed, None);
        let empty = Convergence::reported_back(json!({"gone": null}).as_object().unwrap());
        let refused = empty.converged.text().unwrap_err();
        assert!(
            refused.to_string().contains("Convergence::when"),
            "{refused}"
        );
    }
}
