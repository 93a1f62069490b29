//! A rollout: one operation over rings of devices, in order — schedule a wave (waiting for a
//! job slot), wait for it, read its outcome, and let a gate decide whether the next wave goes.
//! The run is a stream of events that ends with a report; every wait in it is bounded.

use std::{collections::HashSet, pin::Pin, time::Duration};

use futures_core::Stream;
use futures_util::StreamExt as _;
use serde::Serialize;

use crate::{
    Condition, Convergence, ConvergenceCounts, ConvergenceEnd, ConvergenceEvent, ConvergenceReport,
    ConvergenceWait, DirectMethodJob, Error, JobsClient, OutcomeOptions, TwinUpdateJob,
    WaitOptions, areas::scheduled_jobs::NewJob, call::validate,
    fleet::convergence::ConvergenceWatch, fleet::outcome::JobOutcome, models::JobResponse,
};

/// One operation rolled out over waves of devices ([`JobsClient::rollout`]).
///
/// Each wave's job runs the template job's operation on the devices that its condition AND
/// the wave's select, under the id `<template job id>-<wave name>`, and starts when the wave
/// is scheduled. After each wave its outcome goes through the [`RolloutGate`]; the rollout
/// halts at the first wave the gate stops.
///
/// ```
/// use iothub_jobs::{Field, Rollout, RolloutGate, TwinUpdateJob};
/// use serde_json::json;
///
/// let firmware = TwinUpdateJob::new("fw-2-4", Field::tag("model").eq("t-100"))
///     .with_desired_properties(json!({"firmware": "2.4.1"}).as_object().unwrap().clone());
/// let rollout = Rollout::twin_update(firmware)
///     .wave("canary", Field::tag("ring").eq("canary"))
///     .wave("early", Field::tag("ring").eq("early"))
///     .wave("broad", Field::tag("ring").eq("broad"))
///     .with_gate(RolloutGate::default().with_max_failure_rate(0.02));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Rollout {
    template: NewJob,
    waves: Vec<Wave>,
    gate: RolloutGate,
    slot_wait: WaitOptions,
    job_wait: WaitOptions,
    outcome: OutcomeOptions,
    first_wave: usize,
}

#[derive(Clone, Debug, PartialEq)]
struct Wave {
    name: String,
    condition: Condition,
}

impl Rollout {
    /// How long scheduling a wave waits for a free job slot unless configured otherwise: a
    /// hub of the Free or S1 tier runs one job at a time, and another job's run takes minutes.
    pub const DEFAULT_SLOT_WAIT: Duration = Duration::from_secs(15 * 60);
    /// How long a wave's job may take to complete unless configured otherwise: a ring of
    /// devices, each given its connect and response timeouts, takes minutes.
    pub const DEFAULT_JOB_WAIT: Duration = Duration::from_secs(60 * 60);

    /// A rollout of `job`'s twin update: its id is the prefix of the waves' job ids, its
    /// condition the base every wave's is ANDed with.
    pub fn twin_update(job: TwinUpdateJob) -> Self {
        Self::of(NewJob::TwinUpdate(job))
    }

    /// A rollout of `job`'s direct method, as [`twin_update`](Self::twin_update) says.
    pub fn direct_method(job: DirectMethodJob) -> Self {
        Self::of(NewJob::DirectMethod(job))
    }

    fn of(template: NewJob) -> Self {
        Self {
            template,
            waves: Vec::new(),
            gate: RolloutGate::default(),
            slot_wait: WaitOptions::default()
                .with_poll_interval(Duration::from_secs(5))
                .with_max_poll_interval(Duration::from_secs(60))
                .with_timeout(Self::DEFAULT_SLOT_WAIT),
            job_wait: WaitOptions::default().with_timeout(Self::DEFAULT_JOB_WAIT),
            outcome: OutcomeOptions::default(),
            first_wave: 0,
        }
    }

    /// Adds a wave after the others: `name` (letters, digits and `-`; part of its job's id)
    /// and the condition that picks its devices, such as `Field::tag("ring").eq("canary")`.
    pub fn wave(mut self, name: impl Into<String>, condition: impl Into<Condition>) -> Self {
        self.waves.push(Wave {
            name: name.into(),
            condition: condition.into(),
        });
        self
    }

    /// What decides, after each wave, whether the next one goes (default
    /// [`RolloutGate::default`]: halt if any device failed).
    pub fn with_gate(mut self, gate: RolloutGate) -> Self {
        self.gate = gate;
        self
    }

    /// How scheduling a wave waits for a free job slot (default: pauses from 5 s up to 60 s,
    /// for [`Self::DEFAULT_SLOT_WAIT`]).
    pub fn with_slot_wait(mut self, wait: WaitOptions) -> Self {
        self.slot_wait = wait;
        self
    }

    /// How each wave's job is waited for (default [`WaitOptions::default`]'s pauses, for
    /// [`Self::DEFAULT_JOB_WAIT`]).
    pub fn with_job_wait(mut self, wait: WaitOptions) -> Self {
        self.job_wait = wait;
        self
    }

    /// How each wave's outcome is read (default [`OutcomeOptions::default`]).
    pub fn with_outcome_options(mut self, options: OutcomeOptions) -> Self {
        self.outcome = options;
        self
    }

    /// Starts at wave `wave` (counted from 0), skipping those before it: to resume a halted
    /// rollout where it stopped ([`RolloutHalt::wave`]). A wave whose job exists already, doing
    /// the same work (the same type, condition, and twin patch or method, payload and
    /// timeouts), is not scheduled again: that job is waited for and its outcome judged. A job
    /// of other work under that id fails the rollout with [`ErrorKind::ConflictingJob`](crate::ErrorKind::ConflictingJob) before
    /// the wave is judged.
    pub fn starting_at(mut self, wave: usize) -> Self {
        self.first_wave = wave;
        self
    }

    fn job_id(&self, wave: &Wave) -> String {
        format!("{}-{}", self.template.job_id(), wave.name)
    }

    /// Refuses a rollout that could not run as asked, before anything is sent.
    fn check(&self) -> Result<(), Error> {
        if self.waves.is_empty() {
            return Err(validate::invalid_request(
                "a rollout needs at least one wave (Rollout::wave)",
            ));
        }
        if self.first_wave >= self.waves.len() {
            return Err(validate::invalid_request(format!(
                "the rollout starts at wave {} but has {} (Rollout::starting_at counts from 0)",
                self.first_wave,
                self.waves.len()
            )));
        }
        let mut names = HashSet::new();
        for wave in &self.waves {
            if wave.name.is_empty() {
                return Err(validate::invalid_request(
                    "a wave needs a name (Rollout::wave): it ends its job's id",
                ));
            }
            if !names.insert(wave.name.as_str()) {
                return Err(validate::invalid_request(format!(
                    "two waves are named {:?}; each names its own job",
                    wave.name
                )));
            }
            validate::job_id(&self.job_id(wave))?;
            self.wave_job(wave).into_request()?;
        }
        self.gate.check()
    }

    /// The job of `wave`: the template's operation on its devices.
    fn wave_job(&self, wave: &Wave) -> NewJob {
        let condition = self
            .template
            .condition()
            .clone()
            .and(wave.condition.clone());
        self.template.retargeted(self.job_id(wave), condition)
    }
}

/// What decides, after a wave, whether the rollout goes on: halt when the wave reached no
/// device (or fewer than a bound), when the share of its devices that did not succeed passes a
/// bound, when any device failed with one of the listed error codes, or when its devices do not
/// converge on what they were sent. Start from `RolloutGate::default()`: halt if the wave
/// reached no device or any device failed, counting a direct method that answered outside 2xx
/// as failed; and for a twin update that sets desired properties, halt unless every device of
/// the wave reports them back ([`Convergence::reported_back`] of the patch, with
/// [`ConvergenceWait::default`]).
#[derive(Clone, Debug, PartialEq)]
pub struct RolloutGate {
    max_failure_rate: f64,
    count_method_failures: bool,
    halt_on_codes: Vec<String>,
    empty_waves_allowed: bool,
    min_devices: u64,
    convergence: GateConvergence,
    convergence_wait: ConvergenceWait,
}

/// What a gate waits for its devices to converge on.
#[derive(Clone, Debug, PartialEq)]
enum GateConvergence {
    /// The desired properties of a twin update, reported back; nothing for other rollouts.
    OfThePatch,
    Given(Convergence),
    Off,
}

impl Default for RolloutGate {
    fn default() -> Self {
        Self {
            max_failure_rate: 0.0,
            count_method_failures: true,
            halt_on_codes: Vec::new(),
            empty_waves_allowed: false,
            min_devices: Self::DEFAULT_MIN_DEVICES,
            convergence: GateConvergence::OfThePatch,
            convergence_wait: ConvergenceWait::default(),
        }
    }
}

impl RolloutGate {
    /// The fewest devices a wave must reach for the next to go, unless configured otherwise:
    /// one. A wave that reached none has proven nothing (a typo in its condition, say).
    pub const DEFAULT_MIN_DEVICES: u64 = 1;

    /// Whether a wave that reached no device lets the next one go (default `false`: it halts
    /// the rollout with [`HaltReason::EmptyWave`]). For rings that may be empty on purpose.
    pub fn with_empty_waves_allowed(mut self, allowed: bool) -> Self {
        self.empty_waves_allowed = allowed;
        self
    }

    /// The fewest devices a wave must reach for the next one to go (default
    /// [`Self::DEFAULT_MIN_DEVICES`]): a canary of 2 devices when 20 were meant halts with
    /// [`HaltReason::TooFewDevices`]. A wave of no device is judged by
    /// [`with_empty_waves_allowed`](Self::with_empty_waves_allowed) instead.
    pub fn with_min_devices(mut self, devices: u64) -> Self {
        self.min_devices = devices;
        self
    }

    /// The largest share of a wave's devices, `0.0`–`1.0`, that may fail for the next wave to
    /// go (default `0.0`: none). Anything outside that range is refused when the rollout runs.
    pub fn with_max_failure_rate(mut self, rate: f64) -> Self {
        self.max_failure_rate = rate;
        self
    }

    /// Whether a direct method that answered outside `200`–`299` counts as a failure (default
    /// `true`: the service calls it `completed`, but the device did not do what was asked).
    pub fn with_method_failures_counted(mut self, counted: bool) -> Self {
        self.count_method_failures = counted;
        self
    }

    /// Halts after a wave in which any device failed with error `code` (such as
    /// `DeviceNotOnline`), whatever the failure rate. Can be given several times.
    pub fn with_halt_on_code(mut self, code: impl Into<String>) -> Self {
        self.halt_on_codes.push(code.into());
        self
    }

    /// After a wave's job completed and its outcome passed, waits until its devices converge as
    /// `convergence` says (a twin update's row reads `completed` once the cloud twin is
    /// written, which says nothing of the device): the rollout halts with
    /// [`HaltReason::NotConverged`] when too many of them fail to apply it or the share `wait`
    /// asks for does not converge in time. Default: for a twin update that sets desired
    /// properties, [`Convergence::reported_back`] of them with [`ConvergenceWait::default`];
    /// for a twin update of tags alone or a direct method, none. [`Convergence::acknowledged`]
    /// suits devices that follow Microsoft's convention, whatever they were sent.
    pub fn with_convergence(mut self, convergence: Convergence, wait: ConvergenceWait) -> Self {
        self.convergence = GateConvergence::Given(convergence);
        self.convergence_wait = wait;
        self
    }

    /// How the wait for a wave's devices to converge polls and when it ends (default
    /// [`ConvergenceWait::default`]), whether the gate's convergence is the default one or
    /// given.
    pub fn with_convergence_wait(mut self, wait: ConvergenceWait) -> Self {
        self.convergence_wait = wait;
        self
    }

    /// Judges each wave by its job's outcome alone: no wait for its devices to report back,
    /// not even for a twin update that sets desired properties. For devices that never report
    /// their desired state, where the cloud twin being written is all there is to see.
    pub fn without_convergence(mut self) -> Self {
        self.convergence = GateConvergence::Off;
        self
    }

    /// What the devices of a wave of a rollout of `template` must converge on, if anything.
    fn convergence(&self, template: &NewJob) -> Option<Convergence> {
        match &self.convergence {
            GateConvergence::OfThePatch => template.desired().and_then(Convergence::of_patch),
            GateConvergence::Given(convergence) => Some(convergence.clone()),
            GateConvergence::Off => None,
        }
    }

    fn check(&self) -> Result<(), Error> {
        self.convergence_wait.check()?;
        if (0.0..=1.0).contains(&self.max_failure_rate) {
            return Ok(());
        }
        Err(validate::invalid_request(format!(
            "the gate's max failure rate is {}; it must be a share from 0.0 to 1.0 \
             (RolloutGate::with_max_failure_rate)",
            self.max_failure_rate
        )))
    }

    /// Why the rollout must halt after `outcome`, if it must.
    fn judge(&self, outcome: &JobOutcome) -> Option<HaltReason> {
        if outcome.devices == 0 {
            return (!self.empty_waves_allowed).then_some(HaltReason::EmptyWave);
        }
        if outcome.devices < self.min_devices {
            return Some(HaltReason::TooFewDevices {
                devices: outcome.devices,
                min_devices: self.min_devices,
            });
        }
        for code in &self.halt_on_codes {
            if let Some(devices) = outcome.error_codes.get(code) {
                let device_id = outcome
                    .failed
                    .iter()
                    .find(|device| device.code.as_ref() == Some(code))
                    .map(|device| device.device_id.clone());
                return Some(HaltReason::ErrorCode {
                    code: code.clone(),
                    devices: *devices,
                    device_id,
                });
            }
        }
        let rate = outcome.failure_rate(self.count_method_failures);
        (rate > self.max_failure_rate).then(|| HaltReason::FailureRate {
            failed: outcome.not_succeeded(self.count_method_failures),
            devices: outcome.devices,
            rate,
            max_rate: self.max_failure_rate,
        })
    }
}

/// What happened in a rollout, in order ([`JobsClient::run_rollout`]). The last event is
/// [`Halted`](Self::Halted) or [`Finished`](Self::Finished), or an `Err` that ended it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RolloutEvent {
    /// Wave `wave` (counted from 0) was scheduled as `job`, or its job from an earlier run of
    /// the same work was found.
    WaveScheduled {
        /// The wave, counted from 0.
        wave: usize,
        /// Its name.
        name: String,
        /// Its job, as created (or found).
        job: Box<JobResponse>,
        /// Whether the job was found, from an earlier run of the same work, rather than
        /// created now.
        adopted: bool,
    },
    /// Wave `wave`'s job as a poll found it.
    JobState {
        /// The wave, counted from 0.
        wave: usize,
        /// Its job.
        job: Box<JobResponse>,
    },
    /// Wave `wave`'s job completed with this outcome; `halts` says whether the gate stops the
    /// rollout here.
    WaveOutcome {
        /// The wave, counted from 0.
        wave: usize,
        /// Its devices' outcome.
        report: Box<WaveReport>,
        /// Whether the gate halts the rollout after it.
        halts: bool,
    },
    /// A poll of wave `wave`'s devices while the gate waits for them to converge
    /// ([`RolloutGate::with_convergence`]).
    Converging {
        /// The wave, counted from 0.
        wave: usize,
        /// How far its devices have converged.
        counts: ConvergenceCounts,
    },
    /// How the wait for wave `wave`'s devices to converge ended; `halts` says whether the
    /// rollout halts here.
    Converged {
        /// The wave, counted from 0.
        wave: usize,
        /// How it ended, with samples of the pending and failed devices.
        report: Box<ConvergenceReport>,
        /// Whether the gate halts the rollout after it.
        halts: bool,
    },
    /// The gate halted the rollout.
    Halted(RolloutReport),
    /// Every wave passed.
    Finished(RolloutReport),
}

/// A finished or halted rollout: each wave run, and where it stopped if it did.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RolloutReport {
    /// The waves that ran, in order.
    pub waves: Vec<WaveReport>,
    /// Where and why it halted; `None` if every wave passed.
    pub halted: Option<RolloutHalt>,
}

/// One wave that ran.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct WaveReport {
    /// The wave, counted from 0.
    pub wave: usize,
    /// Its name.
    pub name: String,
    /// What became of its devices (its job id included).
    pub outcome: JobOutcome,
    /// How the wait for its devices to converge ended, if the gate waits for that.
    pub convergence: Option<ConvergenceReport>,
}

/// Where a rollout halted, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct RolloutHalt {
    /// The wave after which it halted, counted from 0: give it to [`Rollout::starting_at`] to
    /// judge it again, or the next one to go on.
    pub wave: usize,
    /// Its name.
    pub name: String,
    /// What the gate found.
    pub reason: HaltReason,
}

/// What made the gate halt a rollout.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[non_exhaustive]
pub enum HaltReason {
    /// The wave's job reached no device: its condition selects none (a typo in a tag, say),
    /// so it proved nothing ([`RolloutGate::with_empty_waves_allowed`] lets such a wave pass).
    EmptyWave,
    /// The wave's devices did not converge on what they were sent
    /// ([`RolloutGate::with_convergence`]): too many failed to apply it, or too few applied it
    /// in time.
    #[non_exhaustive]
    NotConverged {
        /// How the wait for convergence ended.
        end: ConvergenceEnd,
        /// The last counts.
        counts: ConvergenceCounts,
        /// Some of the devices that failed to apply it.
        #[serde(rename = "failedSample")]
        failed_sample: Vec<String>,
        /// Some of the devices that had not applied it yet.
        #[serde(rename = "pendingSample")]
        pending_sample: Vec<String>,
    },
    /// The wave reached fewer devices than the gate asks for
    /// ([`RolloutGate::with_min_devices`]).
    #[non_exhaustive]
    TooFewDevices {
        /// The devices it reached.
        devices: u64,
        /// The fewest the gate takes.
        #[serde(rename = "minDevices")]
        min_devices: u64,
    },
    /// Too many of the wave's devices did not succeed.
    #[non_exhaustive]
    FailureRate {
        /// The devices that did not succeed (the method failures included if the gate counts them).
        failed: u64,
        /// The wave's devices.
        devices: u64,
        /// `failed / devices`.
        rate: f64,
        /// The gate's bound, which `rate` passed.
        #[serde(rename = "maxRate")]
        max_rate: f64,
    },
    /// A device failed with an error code the gate halts on.
    #[non_exhaustive]
    ErrorCode {
        /// The code.
        code: String,
        /// How many devices failed with it.
        devices: u64,
        /// One of them, if the outcome's details name one.
        #[serde(rename = "deviceId")]
        device_id: Option<String>,
    },
}

impl JobsClient {
    /// Runs `rollout` to its end and returns its report: every wave that ran, and where it
    /// halted if it did. See [`run_rollout`](Self::run_rollout) for the events on the way and
    /// the errors.
    pub async fn rollout(&self, rollout: Rollout) -> Result<RolloutReport, Error> {
        rollout.check()?;
        let mut run = Run::new(self, rollout);
        // Every step ends in an event; the last is the report, or an error ends the run.
        loop {
            if let RolloutEvent::Halted(report) | RolloutEvent::Finished(report) =
                run.next().await?
            {
                return Ok(report);
            }
        }
    }

    /// Runs `rollout`, wave by wave, as a stream of what happens: each wave scheduled (waiting
    /// for a job slot), its job's states while it runs, its outcome, and at the end
    /// [`RolloutEvent::Halted`] or [`RolloutEvent::Finished`] with the report.
    ///
    /// A rollout that cannot run as given (no waves, two of one name, an id past the job-id
    /// rule, a condition or gate that cannot be used) is the one item, an error, and nothing is
    /// sent. A wave's job that fails, is cancelled or does not complete within the job wait
    /// ends the stream with that [`ErrorKind::Wait`](crate::ErrorKind::Wait) error; so does any failed request. Dropping
    /// the stream stops the rollout; the wave's job, if scheduled, runs on.
    pub fn run_rollout(
        &self,
        rollout: Rollout,
    ) -> impl Stream<Item = Result<RolloutEvent, Error>> + Send + 'static {
        let run = rollout.check().map(|()| Run::new(self, rollout));
        // The run is dropped after its last event: the report, or an error.
        futures_util::stream::unfold(Some(run), |run| async move {
            let mut run = match run? {
                Ok(run) => run,
                Err(refused) => return Some((Err(refused), None)),
            };
            let event = run.next().await;
            let goes_on = !matches!(
                event,
                Err(_) | Ok(RolloutEvent::Halted(_) | RolloutEvent::Finished(_))
            );
            Some((event, goes_on.then_some(Ok(run))))
        })
    }
}

type States = Pin<Box<dyn Stream<Item = Result<JobResponse, Error>> + Send>>;

/// Where a run is.
enum Step {
    Schedule(usize),
    Watch(usize, States),
    Judge(usize),
    Converge(usize, Box<ConvergenceWatch>),
    End,
}

struct Run {
    client: JobsClient,
    rollout: Rollout,
    /// What each wave's devices must converge on, if anything: the gate's, read once.
    convergence: Option<Convergence>,
    step: Step,
    report: RolloutReport,
}

impl Run {
    /// A run of `rollout`, checked, from its first wave.
    fn new(client: &JobsClient, rollout: Rollout) -> Self {
        Self {
            client: client.clone(),
            step: Step::Schedule(rollout.first_wave),
            convergence: rollout.gate.convergence(&rollout.template),
            rollout,
            report: RolloutReport::default(),
        }
    }

    /// The next event. After the last (the report) or an error, the run is over: its callers
    /// drop it then.
    async fn next(&mut self) -> Result<RolloutEvent, Error> {
        loop {
            // Each arm sets the step that follows; the end is the placeholder meanwhile.
            match std::mem::replace(&mut self.step, Step::End) {
                Step::Schedule(wave) => return self.schedule(wave).await,
                Step::Watch(wave, mut states) => match states.next().await {
                    Some(Ok(job)) => {
                        self.step = Step::Watch(wave, states);
                        return Ok(RolloutEvent::JobState {
                            wave,
                            job: Box::new(job),
                        });
                    }
                    Some(Err(error)) => return Err(error),
                    None => self.step = Step::Judge(wave),
                },
                Step::Judge(wave) => return self.judge(wave).await,
                Step::Converge(wave, mut watch) => match watch.next().await? {
                    ConvergenceEvent::Progress(counts) => {
                        self.step = Step::Converge(wave, watch);
                        return Ok(RolloutEvent::Converging { wave, counts });
                    }
                    ConvergenceEvent::Ended(report) => return Ok(self.converged(wave, report)),
                },
                Step::End => {
                    let report = std::mem::take(&mut self.report);
                    return Ok(match report.halted {
                        Some(_) => RolloutEvent::Halted(report),
                        None => RolloutEvent::Finished(report),
                    });
                }
            }
        }
    }

    async fn schedule(&mut self, wave: usize) -> Result<RolloutEvent, Error> {
        let spec = &self.rollout.waves[wave];
        let job_id = self.rollout.job_id(spec);
        // Its job from an earlier run of this rollout is waited for, not scheduled twice; a job
        // of other work under that id is an error, never counted as this wave's.
        let scheduled = self
            .client
            .schedule_or_adopt(self.rollout.wave_job(spec), Some(&self.rollout.slot_wait))
            .await?;
        let states = self
            .client
            .watch_job(&job_id, self.rollout.job_wait.clone());
        self.step = Step::Watch(wave, Box::pin(states));
        Ok(RolloutEvent::WaveScheduled {
            wave,
            name: spec.name.clone(),
            job: Box::new(scheduled.job),
            adopted: scheduled.adopted,
        })
    }

    async fn judge(&mut self, wave: usize) -> Result<RolloutEvent, Error> {
        let spec = &self.rollout.waves[wave];
        let outcome = self
            .client
            .job_outcome(&self.rollout.job_id(spec), self.rollout.outcome.clone())
            .await?;
        let halt = self.rollout.gate.judge(&outcome);
        let report = WaveReport {
            wave,
            name: spec.name.clone(),
            outcome,
            convergence: None,
        };
        let halts = halt.is_some();
        self.report.waves.push(report.clone());
        self.report.halted = halt.map(|reason| RolloutHalt {
            wave,
            name: spec.name.clone(),
            reason,
        });
        let gate = &self.rollout.gate;
        self.step = match &self.convergence {
            Some(convergence) if !halts => {
                let devices = self.rollout.wave_job(spec).condition().clone();
                // The wait was checked with the gate, before anything was sent.
                let wait = gate.convergence_wait.clone();
                let watch = ConvergenceWatch::new(&self.client, devices, convergence, wait)?;
                Step::Converge(wave, Box::new(watch))
            }
            _ => self.after(wave, halts),
        };
        Ok(RolloutEvent::WaveOutcome {
            wave,
            report: Box::new(report),
            halts,
        })
    }
}

impl Run {
    /// What follows wave `wave`: the end if it halts or was the last, else the next wave.
    fn after(&self, wave: usize, halts: bool) -> Step {
        if halts || wave + 1 == self.rollout.waves.len() {
            Step::End
        } else {
            Step::Schedule(wave + 1)
        }
    }

    /// The end of the wait for wave `wave`'s devices to converge: recorded in its report, and
    /// a halt unless they converged.
    fn converged(&mut self, wave: usize, report: ConvergenceReport) -> RolloutEvent {
        let halts = report.end != ConvergenceEnd::Converged;
        if halts {
            self.report.halted = Some(RolloutHalt {
                wave,
                name: self.rollout.waves[wave].name.clone(),
                reason: HaltReason::NotConverged {
                    end: report.end,
                    counts: report.counts.clone(),
                    failed_sample: report.failed_sample.clone(),
                    pending_sample: report.pending_sample.clone(),
                },
            });
        }
        if let Some(judged) = self.report.waves.last_mut() {
            judged.convergence = Some(report.clone());
        }
        self.step = self.after(wave, halts);
        RolloutEvent::Converged {
            wave,
            report: Box::new(report),
            halts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::outcome::DeviceCounts;

    fn outcome(devices: u64, failed: u64, method_failed: u64) -> JobOutcome {
        JobOutcome {
            devices,
            counts: DeviceCounts {
                succeeded: devices - failed - method_failed,
                failed,
                method_failed,
                ..DeviceCounts::default()
            },
            ..JobOutcome::default()
        }
    }

    #[test]
    fn the_gate_halts_past_its_rate_counting_method_failures_as_told() {
        let strict = RolloutGate::default();
        assert_eq!(strict.judge(&outcome(10, 0, 0)), None);
        assert_eq!(
            strict.judge(&outcome(0, 0, 0)),
            Some(HaltReason::EmptyWave),
            "a wave that reached nobody proved nothing"
        );
        assert_eq!(
            strict.judge(&outcome(10, 0, 1)),
            Some(HaltReason::FailureRate {
                failed: 1,
                devices: 10,
                rate: 0.1,
                max_rate: 0.0
            })
        );
        let lenient = RolloutGate::default().with_max_failure_rate(0.2);
        assert_eq!(lenient.judge(&outcome(10, 1, 1)), None, "exactly the bound");
        assert!(matches!(
            lenient.judge(&outcome(10, 2, 1)),
            Some(HaltReason::FailureRate { failed: 3, .. })
        ));
        let methods_aside = lenient.with_method_failures_counted(false);
        assert_eq!(methods_aside.judge(&outcome(10, 2, 5)), None);
        assert!(matches!(
            methods_aside.judge(&outcome(10, 3, 0)),
            Some(HaltReason::FailureRate { failed: 3, .. })
        ));
    }

    #[test]
    fn a_wave_must_reach_devices_unless_the_gate_allows_empty_waves() {
        let allowing = RolloutGate::default().with_empty_waves_allowed(true);
        assert_eq!(allowing.judge(&outcome(0, 0, 0)), None);
        assert_eq!(allowing.judge(&outcome(1, 0, 0)), None);
        let five = RolloutGate::default().with_min_devices(5);
        assert_eq!(
            five.judge(&outcome(4, 0, 0)),
            Some(HaltReason::TooFewDevices {
                devices: 4,
                min_devices: 5
            })
        );
        assert_eq!(five.judge(&outcome(5, 0, 0)), None, "exactly the bound");
        assert_eq!(five.judge(&outcome(0, 0, 0)), Some(HaltReason::EmptyWave));
        assert_eq!(
            five.with_empty_waves_allowed(true).judge(&outcome(0, 0, 0)),
            None
        );
    }

    #[test]
    fn a_listed_error_code_halts_whatever_the_rate() {
        let gate = RolloutGate::default()
            .with_max_failure_rate(1.0)
            .with_halt_on_code("DeviceNotOnline");
        let mut wave = outcome(100, 1, 0);
        wave.error_codes.insert("Timeout".into(), 1);
        assert_eq!(gate.judge(&wave), None);
        wave.error_codes.insert("DeviceNotOnline".into(), 2);
        wave.failed.push(crate::fleet::outcome::FailedDevice {
            device_id: "d-7".into(),
            code: Some("DeviceNotOnline".into()),
            description: None,
        });
        assert_eq!(
            gate.judge(&wave),
            Some(HaltReason::ErrorCode {
                code: "DeviceNotOnline".into(),
                devices: 2,
                device_id: Some("d-7".into())
            })
        );
    }

    #[test]
    fn a_rollout_that_cannot_run_is_refused_before_anything_is_sent() {
        let job = || {
            TwinUpdateJob::new("fw", "*")
                .with_tags(serde_json::Map::from_iter([("a".to_owned(), 1.into())]))
        };
        let base = || Rollout::twin_update(job()).wave("one", "tags.ring = 'a'");
        assert!(base().check().is_ok());
        for (rollout, named) in [
            (Rollout::twin_update(job()), "at least one wave"),
            (base().wave("one", "tags.ring = 'b'"), "two waves"),
            (base().wave("a b", "*"), "\"fw-a b\""),
            (base().wave("", "*"), "a wave needs a name"),
            (base().wave("w".repeat(62), "*"), "64"),
            (base().wave("two", "SELECT *"), "SELECT"),
            (base().starting_at(1), "starts at wave 1"),
            (
                base().with_gate(RolloutGate::default().with_max_failure_rate(1.5)),
                "1.5",
            ),
            (
                base().with_gate(RolloutGate::default().with_max_failure_rate(f64::NAN)),
                "NaN",
            ),
            (
                Rollout::twin_update(TwinUpdateJob::new("fw", "*")).wave("w", "*"),
                "tags or desired",
            ),
        ] {
            let error = rollout.check().unwrap_err();
            assert!(error.to_string().contains(named), "{named}: {error}");
        }
    }

    #[test]
    fn a_waves_job_is_the_templates_on_the_base_and_the_waves_devices() {
        let rollout = Rollout::direct_method(
            DirectMethodJob::new("reboot", "tags.site = 'b'", "reboot")
                .with_payload(serde_json::json!({"delay": 1})),
        )
        .wave("canary", "tags.ring = 'canary'");
        let job = rollout.wave_job(&rollout.waves[0]);
        assert_eq!(job.job_id(), "reboot-canary");
        assert_eq!(
            job.condition().text().unwrap(),
            "(tags.site = 'b') AND (tags.ring = 'canary')"
        );
        let sent = serde_json::to_value(job.into_request().unwrap()).unwrap();
        assert_eq!(
            sent["cloudToDeviceMethod"]["payload"],
            serde_json::json!({"delay": 1})
        );
    }

    #[test]
    fn a_twin_update_that_sets_desired_properties_converges_on_them_by_default() {
        let object = |value: serde_json::Value| value.as_object().unwrap().clone();
        let firmware = object(serde_json::json!({"fw": "2.4"}));
        let desired = NewJob::TwinUpdate(
            TwinUpdateJob::new("fw", "*").with_desired_properties(firmware.clone()),
        );
        let tags = NewJob::TwinUpdate(
            TwinUpdateJob::new("t", "*").with_tags(object(serde_json::json!({"a": 1}))),
        );
        let removal = NewJob::TwinUpdate(
            TwinUpdateJob::new("r", "*")
                .with_desired_properties(object(serde_json::json!({"old": null}))),
        );
        let method = NewJob::DirectMethod(DirectMethodJob::new("m", "*", "reboot"));
        let gate = RolloutGate::default();
        assert_eq!(
            gate.convergence(&desired),
            Some(Convergence::reported_back(&firmware))
        );
        assert_eq!(gate.convergence(&tags), None, "nothing to converge");
        assert_eq!(gate.convergence(&removal), None, "nothing to see");
        assert_eq!(gate.convergence(&method), None);
        assert_eq!(
            gate.clone().without_convergence().convergence(&desired),
            None
        );
        let given = gate.with_convergence(Convergence::acknowledged(), ConvergenceWait::default());
        assert_eq!(
            given.convergence(&method),
            Some(Convergence::acknowledged())
        );
    }

    #[test]
    fn a_rollout_waits_by_default_as_documented() {
        let rollout = Rollout::direct_method(DirectMethodJob::new("r", "*", "m"));
        assert_eq!(rollout.slot_wait.timeout(), Duration::from_secs(900));
        assert_eq!(rollout.job_wait.timeout(), Duration::from_secs(3600));
        assert_eq!(rollout.slot_wait.first_pause(), Duration::from_secs(5));
        assert_eq!(
            rollout.slot_wait.next_pause(Duration::from_secs(40)),
            Duration::from_secs(60)
        );
    }
}
