//! A rollout plan: the TOML file `iothub-jobs rollout` runs. Every field is here, with its
//! default; a field it does not know is refused, so a typo never silently loosens a gate.
//! `cli/plans/firmware.toml` is a commented example.

use std::{path::Path, time::Duration};

use iothub_jobs::{
    Condition, Convergence, ConvergenceWait, DirectMethodJob, Rollout, RolloutGate, TwinUpdateJob,
    WaitOptions,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::exit::Failure;

/// The whole plan.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Plan {
    /// The template job: its operation, and the base condition every wave's is ANDed with.
    pub job: Job,
    /// The waves, in order (`[[wave]]`).
    #[serde(rename = "wave")]
    pub waves: Vec<Wave>,
    #[serde(default)]
    pub gate: Gate,
    /// How each wave waits for its devices to apply a twin update (`[convergence]`).
    #[serde(default)]
    pub convergence: ConvergencePlan,
    #[serde(default)]
    pub waits: Waits,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Job {
    /// The prefix of every wave's job id: `<id>-<wave name>`.
    pub id: String,
    /// `scheduleUpdateTwin` or `scheduleDeviceMethod`.
    #[serde(rename = "type")]
    pub job_type: JobType,
    /// The devices of every wave: the WHERE part of a device query (default `*`).
    #[serde(default = "every_device")]
    pub condition: String,
    /// Seconds each wave's job may run (the service's default: 3600).
    pub ttl: Option<u64>,
    /// A twin update's patch: `tags` and `properties.desired`.
    pub twin_patch: Option<Map<String, Value>>,
    pub method_name: Option<String>,
    pub method_payload: Option<Value>,
    /// Seconds.
    pub method_response_timeout: Option<u64>,
    /// Seconds.
    pub method_connect_timeout: Option<u64>,
}

#[derive(Clone, Copy, Debug, Deserialize)]
pub enum JobType {
    #[serde(rename = "scheduleUpdateTwin")]
    ScheduleUpdateTwin,
    #[serde(rename = "scheduleDeviceMethod")]
    ScheduleDeviceMethod,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Wave {
    /// Letters, digits and `-`: the end of its job's id.
    pub name: String,
    /// Its devices, ANDed with the job's condition.
    pub condition: String,
}

/// `[gate]`: when a wave halts the rollout.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Gate {
    /// The largest share of a wave's devices, 0–1, that may fail (default 0).
    pub max_failure_rate: f64,
    /// Whether a direct method answered outside 2xx counts as failed (default true).
    pub count_method_failures: bool,
    /// Error codes that halt whatever the rate, such as `DeviceNotOnline`.
    pub halt_on_codes: Vec<String>,
    /// Whether a wave that reached no device lets the next go (default false).
    pub allow_empty_waves: bool,
    /// The fewest devices a wave must reach (default 1).
    pub min_devices: u64,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            max_failure_rate: 0.0,
            count_method_failures: true,
            halt_on_codes: Vec::new(),
            allow_empty_waves: false,
            min_devices: RolloutGate::DEFAULT_MIN_DEVICES,
        }
    }
}

/// `[convergence]`: what "applied" means, and how long a wave waits for it.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct ConvergencePlan {
    /// `patch` (default: a twin update's desired properties reported back; nothing for a
    /// direct method), `acknowledged` (Microsoft's convention), `custom` (`converged` and
    /// `failed`), or `none`.
    pub mode: ConvergenceMode,
    /// For `custom`: the condition a converged device meets.
    pub converged: Option<String>,
    /// For `custom`: the condition a device that failed meets.
    pub failed: Option<String>,
    /// The share, 0–1, that must converge (default 1).
    pub share: f64,
    /// The largest share, 0–1, that may fail (default 0).
    pub max_failed_share: f64,
    /// Seconds between the first polls (each costs three queries).
    pub poll_interval: f64,
    /// The longest pause between polls, in seconds.
    pub max_poll_interval: f64,
    /// Seconds a wave waits in all.
    pub timeout: f64,
    /// How many pending and failed device ids a halt names.
    pub sample: usize,
}

impl Default for ConvergencePlan {
    fn default() -> Self {
        Self {
            mode: ConvergenceMode::Patch,
            converged: None,
            failed: None,
            share: 1.0,
            max_failed_share: 0.0,
            poll_interval: ConvergenceWait::DEFAULT_POLL_INTERVAL.as_secs_f64(),
            max_poll_interval: ConvergenceWait::DEFAULT_MAX_POLL_INTERVAL.as_secs_f64(),
            timeout: ConvergenceWait::DEFAULT_TIMEOUT.as_secs_f64(),
            sample: ConvergenceWait::DEFAULT_SAMPLE,
        }
    }
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum ConvergenceMode {
    Patch,
    Acknowledged,
    Custom,
    None,
}

/// `[waits]`: how long each wave may wait for a job slot and for its job, in seconds.
#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "kebab-case")]
pub struct Waits {
    pub slot_timeout: f64,
    pub job_timeout: f64,
    /// Seconds between the first polls of a wave's job.
    pub job_poll_interval: f64,
}

impl Default for Waits {
    fn default() -> Self {
        Self {
            slot_timeout: Rollout::DEFAULT_SLOT_WAIT.as_secs_f64(),
            job_timeout: Rollout::DEFAULT_JOB_WAIT.as_secs_f64(),
            job_poll_interval: WaitOptions::DEFAULT_POLL_INTERVAL.as_secs_f64(),
        }
    }
}

fn every_device() -> String {
    "*".to_owned()
}

impl Plan {
    /// The plan in `path`; a problem names the file and what is wrong.
    pub fn read(path: &Path) -> Result<Self, Failure> {
        let shown = path.display();
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::Input(format!("the plan {shown} cannot be read: {e}")))?;
        let plan: Self =
            toml::from_str(&text).map_err(|e| Failure::Input(format!("the plan {shown}: {e}")))?;
        if plan.waves.is_empty() {
            return Err(Failure::Input(format!(
                "the plan {shown} has no waves: add [[wave]] tables with a name and a condition"
            )));
        }
        Ok(plan)
    }

    /// The wave `given` names — its name, or its number from 1 — counted from 0.
    pub fn wave_index(&self, given: &str) -> Result<usize, Failure> {
        if let Some(at) = self.waves.iter().position(|wave| wave.name == given) {
            return Ok(at);
        }
        match given.parse::<usize>() {
            Ok(number) if (1..=self.waves.len()).contains(&number) => Ok(number - 1),
            _ => {
                let names: Vec<&str> = self.waves.iter().map(|w| w.name.as_str()).collect();
                Err(Failure::Input(format!(
                    "--start-at {given:?} is no wave of the plan: give a name ({}) or a number \
                     from 1 to {}",
                    names.join(", "),
                    self.waves.len()
                )))
            }
        }
    }

    /// The condition wave `at`'s job reaches: the job's AND the wave's.
    pub fn wave_condition(&self, at: usize) -> Condition {
        Condition::from(self.job.condition.as_str()).and(self.waves[at].condition.as_str())
    }

    /// The wave's job id.
    pub fn wave_job_id(&self, at: usize) -> String {
        format!("{}-{}", self.job.id, self.waves[at].name)
    }

    /// The rollout the plan describes (checked by the SDK when it runs, before anything is
    /// sent).
    pub fn rollout(&self) -> Result<Rollout, Failure> {
        let job = &self.job;
        let mut rollout = match job.job_type {
            JobType::ScheduleUpdateTwin => {
                let Some(patch) = &job.twin_patch else {
                    return Err(Failure::Input(
                        "the plan's job is a scheduleUpdateTwin: give it a twin-patch".to_owned(),
                    ));
                };
                let mut update = TwinUpdateJob::new(&job.id, job.condition.as_str());
                for (field, value) in patch {
                    match (field.as_str(), value) {
                        ("tags", Value::Object(tags)) => update = update.with_tags(tags.clone()),
                        ("properties", Value::Object(properties))
                            if properties.keys().all(|key| key == "desired") =>
                        {
                            if let Some(Value::Object(desired)) = properties.get("desired") {
                                update = update.with_desired_properties(desired.clone());
                            }
                        }
                        _ => {
                            return Err(Failure::Input(format!(
                                "the plan's twin-patch.{field} cannot be set by a job: it takes \
                                 tags and properties.desired, each a table"
                            )));
                        }
                    }
                }
                if let Some(ttl) = job.ttl {
                    update = update.with_max_execution_time(Duration::from_secs(ttl));
                }
                Rollout::twin_update(update)
            }
            JobType::ScheduleDeviceMethod => {
                let Some(method) = &job.method_name else {
                    return Err(Failure::Input(
                        "the plan's job is a scheduleDeviceMethod: give it a method-name"
                            .to_owned(),
                    ));
                };
                let mut call = DirectMethodJob::new(&job.id, job.condition.as_str(), method);
                if let Some(payload) = &job.method_payload {
                    call = call.with_payload(payload.clone());
                }
                if let Some(seconds) = job.method_response_timeout {
                    call = call.with_response_timeout(Duration::from_secs(seconds));
                }
                if let Some(seconds) = job.method_connect_timeout {
                    call = call.with_connect_timeout(Duration::from_secs(seconds));
                }
                if let Some(ttl) = job.ttl {
                    call = call.with_max_execution_time(Duration::from_secs(ttl));
                }
                Rollout::direct_method(call)
            }
        };
        for wave in &self.waves {
            rollout = rollout.wave(&wave.name, wave.condition.as_str());
        }
        let waits = &self.waits;
        Ok(rollout
            .with_gate(self.gate()?)
            .with_slot_wait(
                WaitOptions::default()
                    .with_poll_interval(seconds(
                        "waits.job-poll-interval",
                        waits.job_poll_interval,
                    )?)
                    .with_timeout(seconds("waits.slot-timeout", waits.slot_timeout)?),
            )
            .with_job_wait(
                WaitOptions::default()
                    .with_poll_interval(seconds(
                        "waits.job-poll-interval",
                        waits.job_poll_interval,
                    )?)
                    .with_timeout(seconds("waits.job-timeout", waits.job_timeout)?),
            ))
    }

    fn gate(&self) -> Result<RolloutGate, Failure> {
        let gate = &self.gate;
        let mut built = RolloutGate::default()
            .with_max_failure_rate(gate.max_failure_rate)
            .with_method_failures_counted(gate.count_method_failures)
            .with_empty_waves_allowed(gate.allow_empty_waves)
            .with_min_devices(gate.min_devices);
        for code in &gate.halt_on_codes {
            built = built.with_halt_on_code(code);
        }
        let plan = &self.convergence;
        let wait = ConvergenceWait::default()
            .with_wait(
                WaitOptions::default()
                    .with_poll_interval(seconds("convergence.poll-interval", plan.poll_interval)?)
                    .with_max_poll_interval(seconds(
                        "convergence.max-poll-interval",
                        plan.max_poll_interval,
                    )?)
                    .with_timeout(seconds("convergence.timeout", plan.timeout)?),
            )
            .with_share(plan.share)
            .with_max_failed_share(plan.max_failed_share)
            .with_sample(plan.sample);
        if plan.mode != ConvergenceMode::Custom
            && (plan.converged.is_some() || plan.failed.is_some())
        {
            return Err(Failure::Input(
                "the plan's convergence.converged and .failed are for mode = \"custom\"".to_owned(),
            ));
        }
        Ok(match plan.mode {
            ConvergenceMode::Patch => built.with_convergence_wait(wait),
            ConvergenceMode::Acknowledged => {
                built.with_convergence(Convergence::acknowledged(), wait)
            }
            ConvergenceMode::Custom => {
                let Some(converged) = &plan.converged else {
                    return Err(Failure::Input(
                        "the plan's convergence mode \"custom\" needs converged = \"<condition>\""
                            .to_owned(),
                    ));
                };
                let mut own = Convergence::when(converged.as_str());
                if let Some(failed) = &plan.failed {
                    own = own.with_failure(failed.as_str());
                }
                built.with_convergence(own, wait)
            }
            ConvergenceMode::None => built.without_convergence(),
        })
    }
}

/// `value` seconds for the plan's field `field`.
fn seconds(field: &str, value: f64) -> Result<Duration, Failure> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        Failure::Input(format!(
            "the plan's {field} is {value}; it must be a number of seconds, 0 or more"
        ))
    })
}
