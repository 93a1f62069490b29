//! Whether devices applied what their twins were sent: a twin-update job's row reads
//! `completed` once the cloud twin is written, which says nothing of the device. What
//! operators watch instead is the reported side; [`Convergence`] says what "applied" means
//! there, and [`JobsClient::convergence`] counts the devices that have, have failed to, or have
//! not answered yet.

use std::time::{Duration, Instant};

use futures_core::Stream;
use futures_util::StreamExt as _;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::{
    Condition, DeviceQuery, Error, Field, JobsClient, Literal, WaitOptions,
    call::{util, validate},
};

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
    /// Where `converged` is not true, written apart (as `failed`'s opposite is): `NOT` of a
    /// comparison with a property a device lacks is undefined, not true, in the query language,
    /// and those devices are the ones that never reported.
    not_converged: Condition,
    failed: Option<Failure>,
}

/// A convergence's failure condition, and where it is not true.
#[derive(Clone, Debug, PartialEq)]
struct Failure {
    failed: Condition,
    not_failed: Condition,
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
        let code = || Field::reported("lastDesiredStatus.code");
        Self {
            converged: acknowledged_version().and(code().eq(Self::APPLIED_STATUS)),
            not_converged: unacknowledged_version().or(code().ne(Self::APPLIED_STATUS)),
            failed: Some(acknowledged_failure()),
        }
    }

    /// Converged when every leaf of the desired-properties `patch` that is a string, number or
    /// boolean is reported back with the same value (`properties.reported.<path> = <value>`);
    /// `null` leaves (removals) and arrays are not compared. Failed when the device
    /// acknowledged the desired version with a status other than `200` in Microsoft's
    /// convention ([`acknowledged`](Self::acknowledged)); a device that does not follow it
    /// never counts as failed. A patch with no leaf to compare converges nowhere (there is
    /// nothing to see): [`JobsClient::convergence`] refuses it.
    pub fn reported_back(patch: &Map<String, Value>) -> Self {
        Self::of_patch(patch).unwrap_or_else(|| Self {
            converged: nothing_to_see(),
            not_converged: nothing_to_see(),
            failed: None,
        })
    }

    /// [`reported_back`](Self::reported_back) of `patch`, or `None` when it has no leaf to
    /// compare: a patch that only removes properties has nothing to see reported back.
    pub(crate) fn of_patch(patch: &Map<String, Value>) -> Option<Self> {
        let mut leaves = Vec::new();
        collect_leaves(patch, &mut Vec::new(), &mut leaves);
        let (reported, differing): (Vec<_>, Vec<_>) = leaves
            .into_iter()
            .map(|(field, literal)| {
                let missing = !field.clone().is_defined();
                (
                    field.clone().eq(literal.clone()),
                    missing.or(field.ne(literal)),
                )
            })
            .unzip();
        Some(Self {
            converged: reported.into_iter().reduce(Condition::and)?,
            not_converged: differing.into_iter().reduce(Condition::or)?,
            failed: Some(acknowledged_failure()),
        })
    }

    /// Converged when a device's twin meets `converged`; without a failure condition unless
    /// [`with_failure`](Self::with_failure) gives one.
    ///
    /// A report names as pending the devices for which `NOT` of the conditions is true; one
    /// that lacks a property they compare is counted as pending but may go unnamed.
    pub fn when(converged: impl Into<Condition>) -> Self {
        let converged = converged.into();
        Self {
            not_converged: !converged.clone(),
            converged,
            failed: None,
        }
    }

    /// Failed when a device's twin meets `failed` (and not `converged`'s condition: a device
    /// counts once, as converged first).
    pub fn with_failure(mut self, failed: impl Into<Condition>) -> Self {
        let failed = failed.into();
        self.failed = Some(Failure {
            not_failed: !failed.clone(),
            failed,
        });
        self
    }
}

/// The device acknowledged its twin's desired version.
fn acknowledged_version() -> Condition {
    Field::desired("$version").eq(Field::reported("lastDesiredVersion"))
}

/// The device has not acknowledged its twin's desired version (or any), or acknowledged it
/// with no status code.
fn unacknowledged_version() -> Condition {
    (!Field::reported("lastDesiredVersion").is_defined())
        .or(Field::desired("$version").ne(Field::reported("lastDesiredVersion")))
        .or(!Field::reported("lastDesiredStatus.code").is_defined())
}

/// Microsoft's convention's failure: the version acknowledged with another code than 200.
fn acknowledged_failure() -> Failure {
    let code = || Field::reported("lastDesiredStatus.code");
    Failure {
        failed: acknowledged_version().and(code().ne(Convergence::APPLIED_STATUS)),
        not_failed: unacknowledged_version().or(code().eq(Convergence::APPLIED_STATUS)),
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

/// The reported property and its value for every comparable leaf under `object`.
fn collect_leaves(
    object: &Map<String, Value>,
    path: &mut Vec<String>,
    leaves: &mut Vec<(Field, Literal)>,
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
            leaves.push((Field::reported(&path.join(".")), literal));
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
        Selections::of(condition.into(), convergence)?
            .count(self)
            .await
    }
}

/// The devices a convergence counts, each a whole condition — the targeted ones, and those of
/// them that converged, failed (and did not converge: a device counts once) or are pending —
/// written and checked once, before anything is sent, however often they are counted.
struct Selections {
    targeted: Condition,
    converged: Condition,
    failed: Option<Condition>,
    pending: Condition,
}

impl Selections {
    fn of(targeted: Condition, convergence: &Convergence) -> Result<Self, Error> {
        let within = |condition: &Condition| targeted.clone().and(condition.clone());
        let not_converged = within(&convergence.not_converged);
        let selections = Self {
            converged: within(&convergence.converged),
            failed: convergence
                .failed
                .as_ref()
                .map(|failure| not_converged.clone().and(failure.failed.clone())),
            pending: match &convergence.failed {
                Some(failure) => not_converged.and(failure.not_failed.clone()),
                None => not_converged,
            },
            targeted,
        };
        for checked in [
            Some(&selections.targeted),
            Some(&selections.converged),
            selections.failed.as_ref(),
            Some(&selections.pending),
        ]
        .into_iter()
        .flatten()
        {
            checked.text()?;
        }
        Ok(selections)
    }

    /// One count of each: two or three queries.
    async fn count(&self, client: &JobsClient) -> Result<ConvergenceCounts, Error> {
        let targeted = client.count_devices(self.targeted.clone()).await?;
        let converged = client.count_devices(self.converged.clone()).await?;
        let failed = match &self.failed {
            Some(failed) => client.count_devices(failed.clone()).await?,
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

/// How a wait for convergence ([`JobsClient::wait_for_convergence`]) polls, when it ends, and
/// how many device ids its report names. Start from `ConvergenceWait::default()`: every device
/// converged, none failed, polls from 15 s up to 60 s apart, for 30 minutes.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvergenceWait {
    wait: WaitOptions,
    share: f64,
    max_failed_share: f64,
    sample: usize,
}

impl Default for ConvergenceWait {
    fn default() -> Self {
        Self {
            wait: WaitOptions::default()
                .with_poll_interval(Self::DEFAULT_POLL_INTERVAL)
                .with_max_poll_interval(Self::DEFAULT_MAX_POLL_INTERVAL)
                .with_timeout(Self::DEFAULT_TIMEOUT),
            share: 1.0,
            max_failed_share: 0.0,
            sample: Self::DEFAULT_SAMPLE,
        }
    }
}

impl ConvergenceWait {
    /// The first pause between polls unless configured otherwise. A poll costs up to three
    /// queries, and the service allows 20 a minute per unit on S1 and S2: polls 15 s apart
    /// spend 12 a minute, leaving room for the rest of the fleet's work on one unit.
    pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(15);
    /// The longest pause between polls unless configured otherwise.
    pub const DEFAULT_MAX_POLL_INTERVAL: Duration = Duration::from_secs(60);
    /// How long a wait for convergence lasts unless configured otherwise: devices apply a
    /// change when they next connect, minutes away.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);
    /// How many pending and failed device ids a report names unless configured otherwise.
    pub const DEFAULT_SAMPLE: usize = 20;

    /// How it polls and for how long in all (default: pauses from
    /// [`Self::DEFAULT_POLL_INTERVAL`] up to [`Self::DEFAULT_MAX_POLL_INTERVAL`], for
    /// [`Self::DEFAULT_TIMEOUT`]).
    pub fn with_wait(mut self, wait: WaitOptions) -> Self {
        self.wait = wait;
        self
    }

    /// The share of the targeted devices, `0.0`–`1.0`, that must converge (default `1.0`: all).
    pub fn with_share(mut self, share: f64) -> Self {
        self.share = share;
        self
    }

    /// The largest share of the targeted devices, `0.0`–`1.0`, that may fail before the wait
    /// ends with [`ConvergenceEnd::TooManyFailed`] (default `0.0`: any failure ends it).
    pub fn with_max_failed_share(mut self, share: f64) -> Self {
        self.max_failed_share = share;
        self
    }

    /// How many pending and how many failed device ids the report names (default
    /// [`Self::DEFAULT_SAMPLE`]; `0`: none, and no query for them).
    pub fn with_sample(mut self, devices: usize) -> Self {
        self.sample = devices;
        self
    }

    pub(crate) fn check(&self) -> Result<(), Error> {
        for (share, setter) in [
            (self.share, "with_share"),
            (self.max_failed_share, "with_max_failed_share"),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err(validate::invalid_request(format!(
                    "a convergence share is {share}; it must be from 0.0 to 1.0 \
                     (ConvergenceWait::{setter})"
                )));
            }
        }
        Ok(())
    }
}

/// How a wait for convergence ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum ConvergenceEnd {
    /// The share asked for converged (a condition that selects no device converges at once).
    Converged,
    /// More devices failed than the wait allows.
    TooManyFailed,
    /// Neither happened within the wait's timeout.
    TimedOut,
}

/// The end of a wait for convergence: how it ended, the last counts, and a bounded sample of
/// the devices still pending and of those that failed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ConvergenceReport {
    /// How it ended.
    pub end: ConvergenceEnd,
    /// The last counts read.
    pub counts: ConvergenceCounts,
    /// Some of the devices still pending, at most [`ConvergenceWait::with_sample`]'s number.
    pub pending_sample: Vec<String>,
    /// Some of the devices that failed, at most as many.
    pub failed_sample: Vec<String>,
}

/// What a wait for convergence saw ([`JobsClient::watch_convergence`]).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum ConvergenceEvent {
    /// A poll's counts, not yet an end.
    Progress(ConvergenceCounts),
    /// How the wait ended; the last event.
    Ended(ConvergenceReport),
}

impl JobsClient {
    /// Polls [`convergence`](Self::convergence) until the share of the devices `condition`
    /// selects that `wait` asks for converged, too many failed, or the wait's timeout passed,
    /// and returns the report with a sample of the pending and failed devices (read once it
    /// ended, two queries more). Every pause and every poll lies within the timeout; a poll
    /// costs what [`convergence`](Self::convergence) costs. A failed query ends it with that
    /// error; a share outside `0.0`–`1.0` is refused before anything is sent.
    pub async fn wait_for_convergence(
        &self,
        condition: impl Into<Condition>,
        convergence: &Convergence,
        wait: ConvergenceWait,
    ) -> Result<ConvergenceReport, Error> {
        let mut watch = ConvergenceWatch::new(self, condition.into(), convergence, wait)?;
        loop {
            if let ConvergenceEvent::Ended(report) = watch.next().await? {
                return Ok(report);
            }
        }
    }

    /// The progress of [`wait_for_convergence`](Self::wait_for_convergence), as a stream: each
    /// poll's counts, then [`ConvergenceEvent::Ended`] with the report, or an `Err` that ended it
    /// (options that cannot work are the one item, and nothing is sent).
    pub fn watch_convergence(
        &self,
        condition: impl Into<Condition>,
        convergence: &Convergence,
        wait: ConvergenceWait,
    ) -> impl Stream<Item = Result<ConvergenceEvent, Error>> + Send + 'static {
        let watch = ConvergenceWatch::new(self, condition.into(), convergence, wait);
        futures_util::stream::unfold(Some(watch), |watch| async move {
            let mut watch = match watch? {
                Ok(watch) => watch,
                Err(refused) => return Some((Err(refused), None)),
            };
            let event = watch.next().await;
            let goes_on = matches!(event, Ok(ConvergenceEvent::Progress(_)));
            Some((event, goes_on.then_some(Ok(watch))))
        })
    }
}

/// Where a wait for convergence is.
pub(crate) struct ConvergenceWatch {
    client: JobsClient,
    selections: Selections,
    wait: ConvergenceWait,
    deadline: Instant,
    /// The pause before the next poll; none before the first.
    pause: Option<Duration>,
    last: ConvergenceCounts,
}

impl ConvergenceWatch {
    pub(crate) fn new(
        client: &JobsClient,
        condition: Condition,
        convergence: &Convergence,
        wait: ConvergenceWait,
    ) -> Result<Self, Error> {
        wait.check()?;
        Ok(Self {
            client: client.clone(),
            selections: Selections::of(condition, convergence)?,
            deadline: util::deadline(Instant::now(), wait.wait.timeout()),
            wait,
            pause: None,
            last: ConvergenceCounts::default(),
        })
    }

    /// The next poll's counts, or how the wait ended.
    pub(crate) async fn next(&mut self) -> Result<ConvergenceEvent, Error> {
        if let Some(pause) = self.pause {
            // A pause that would end past the deadline cannot be followed by a poll.
            if pause >= self.deadline.saturating_duration_since(Instant::now()) {
                return self.ended(ConvergenceEnd::TimedOut).await;
            }
            tokio::time::sleep(pause).await;
        }
        self.pause = Some(match self.pause {
            None => self.wait.wait.first_pause(),
            Some(pause) => self.wait.wait.next_pause(pause),
        });
        let deadline = tokio::time::Instant::from_std(self.deadline);
        let poll = self.selections.count(&self.client);
        let Ok(counts) = tokio::time::timeout_at(deadline, poll).await else {
            return self.ended(ConvergenceEnd::TimedOut).await;
        };
        self.last = counts?;
        let share = |devices: u64| match self.last.targeted {
            0 => 0.0,
            targeted => devices as f64 / targeted as f64,
        };
        if share(self.last.failed) > self.wait.max_failed_share {
            self.ended(ConvergenceEnd::TooManyFailed).await
        } else if self.last.targeted == 0 || share(self.last.converged) >= self.wait.share {
            self.ended(ConvergenceEnd::Converged).await
        } else {
            Ok(ConvergenceEvent::Progress(self.last.clone()))
        }
    }

    /// The report of a wait that ended as `end`, with its samples read.
    async fn ended(&self, end: ConvergenceEnd) -> Result<ConvergenceEvent, Error> {
        let pending_sample = self.sample(&self.selections.pending).await?;
        let failed_sample = match &self.selections.failed {
            Some(failed) => self.sample(failed).await?,
            None => Vec::new(),
        };
        Ok(ConvergenceEvent::Ended(ConvergenceReport {
            end,
            counts: self.last.clone(),
            pending_sample,
            failed_sample,
        }))
    }

    /// At most the sample's number of the ids of the devices `selection` selects.
    async fn sample(&self, selection: &Condition) -> Result<Vec<String>, Error> {
        let wanted = self.wait.sample;
        if wanted == 0 {
            return Ok(Vec::new());
        }
        let page = u32::try_from(wanted).unwrap_or(u32::MAX);
        let query = DeviceQuery::new(selection.clone()).with_page_size(page);
        let mut ids = std::pin::pin!(self.client.query_device_ids(query));
        let mut sample = Vec::new();
        while sample.len() < wanted {
            match ids.next().await {
                Some(id) => sample.extend(id?.item()),
                None => break,
            }
        }
        Ok(sample)
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
    fn a_wait_for_convergence_polls_as_documented_by_default() {
        let wait = ConvergenceWait::default();
        assert_eq!(wait.wait.timeout(), Duration::from_secs(1800));
        assert_eq!(wait.wait.first_pause(), Duration::from_secs(15));
        assert_eq!(
            wait.wait.next_pause(Duration::from_secs(40)),
            Duration::from_secs(60)
        );
        assert_eq!(
            (wait.share, wait.max_failed_share, wait.sample),
            (1.0, 0.0, 20)
        );
    }

    #[test]
    fn the_conventions_render_the_conditions_operators_use() {
        let acknowledged = Convergence::acknowledged();
        let failure = acknowledged.failed.as_ref().unwrap();
        assert_eq!(
            text(&acknowledged.converged),
            "properties.desired.$version = properties.reported.lastDesiredVersion AND \
             properties.reported.lastDesiredStatus.code = 200"
        );
        assert_eq!(
            text(&failure.failed),
            "properties.desired.$version = properties.reported.lastDesiredVersion AND \
             properties.reported.lastDesiredStatus.code != 200"
        );
        let unacknowledged = "NOT (IS_DEFINED(properties.reported.lastDesiredVersion)) OR \
             properties.desired.$version != properties.reported.lastDesiredVersion OR \
             NOT (IS_DEFINED(properties.reported.lastDesiredStatus.code))";
        assert_eq!(
            text(&acknowledged.not_converged),
            format!("{unacknowledged} OR properties.reported.lastDesiredStatus.code != 200")
        );
        assert_eq!(
            text(&failure.not_failed),
            format!("{unacknowledged} OR properties.reported.lastDesiredStatus.code = 200")
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
        assert_eq!(
            reported.failed, acknowledged.failed,
            "a rejection in Microsoft's convention is a failure"
        );
        let one = Convergence::reported_back(json!({"fw": "2.4"}).as_object().unwrap());
        assert_eq!(
            text(&one.not_converged),
            "NOT (IS_DEFINED(properties.reported.fw)) OR properties.reported.fw != '2.4'"
        );
        let alone = Convergence::when(Field::tag("a").eq(1));
        assert_eq!(text(&alone.not_converged), "NOT (tags.a = 1)");
        assert_eq!(alone.failed, None);
        let own = alone.with_failure(Field::tag("b").eq(2));
        assert_eq!(text(&own.failed.unwrap().not_failed), "NOT (tags.b = 2)");
        let empty = Convergence::reported_back(json!({"gone": null}).as_object().unwrap());
        let refused = empty.converged.text().unwrap_err();
        assert!(
            refused.to_string().contains("Convergence::when"),
            "{refused}"
        );
        assert_eq!(
            Convergence::of_patch(json!({"gone": null, "list": [1]}).as_object().unwrap()),
            None,
            "nothing to see"
        );
    }

    #[test]
    fn a_device_counts_once_converged_failed_or_pending() {
        let selections = Selections::of(
            Field::tag("ring").eq("a"),
            &Convergence::when(Field::tag("ok").eq(1)).with_failure(Field::tag("bad").eq(1)),
        )
        .unwrap();
        assert_eq!(
            text(selections.failed.as_ref().unwrap()),
            "tags.ring = 'a' AND NOT (tags.ok = 1) AND tags.bad = 1"
        );
        assert_eq!(
            text(&selections.pending),
            "tags.ring = 'a' AND NOT (tags.ok = 1) AND NOT (tags.bad = 1)"
        );
    }
}
