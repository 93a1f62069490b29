//! Running a scheduled job's operation again on the devices it failed on: the operation read
//! from the job itself, the devices from its rows, in as many jobs as the query size limit
//! needs, with ids derived from the original's.

use futures_util::StreamExt as _;

use crate::{
    Condition, DeviceJobQuery, Error, JobsClient, Queried, WaitOptions,
    areas::scheduled_jobs::NewJob, call::validate, fleet::outcome::DeviceResult,
    models::JobResponse,
};

impl JobsClient {
    /// Schedules job `job_id`'s operation again — its twin patch, or its method with payload
    /// and timeouts, as the service reports the job — on the devices whose row reads
    /// `failed`, and with [`RerunOptions::with_method_failures`] also those whose direct
    /// method answered outside `200`–`299`. Returns the jobs scheduled, none if no device
    /// qualifies. Meant for a finished job: on one still running, only the devices that have
    /// failed so far qualify.
    ///
    /// The devices are named by id, split into as many jobs as the query size limit needs
    /// ([`Condition::device_ids`]), with ids `<job_id>-rerun-1`, `-2`, … (or
    /// [`RerunOptions::with_job_id_prefix`]'s), starting now. Every row is read first, keeping
    /// only the ids to run again. A hub of the Free or S1 tier runs one job at a time: for
    /// more than one job, let creates wait for a slot ([`RerunOptions::with_slot_wait`]). If a
    /// create fails, so does this, and the jobs scheduled before it stand: calling it again
    /// with the same options completes the work, adopting the jobs it finds under its ids when
    /// they are the same work (the same operation on the same devices) and creating the rest.
    /// A job of other work under one of its ids fails it with
    /// [`ErrorKind::ConflictingJob`](crate::ErrorKind::ConflictingJob).
    pub async fn rerun_failures(
        &self,
        job_id: &str,
        options: RerunOptions,
    ) -> Result<Vec<JobResponse>, Error> {
        let prefix = options
            .job_id_prefix
            .clone()
            .unwrap_or_else(|| format!("{job_id}-rerun"));
        validate::job_id(job_id)?;
        // Checked before anything is sent, and again for the last id once the jobs are counted.
        derived_id(&prefix, 1)?;
        let operation = NewJob::of(&self.get_job(job_id).await?)?;
        let mut devices = Vec::new();
        let mut rows = std::pin::pin!(self.query_device_jobs(job_id, DeviceJobQuery::default()));
        while let Some(row) = rows.next().await {
            let Queried::Item(row) = row? else {
                continue;
            };
            let again = match DeviceResult::of(&row) {
                DeviceResult::Failed { .. } => true,
                DeviceResult::MethodFailed { .. } => options.method_failures,
                _ => false,
            };
            if let Some(device_id) = row.device_id.filter(|_| again) {
                devices.push(device_id);
            }
        }
        if devices.is_empty() {
            return Ok(Vec::new());
        }
        // In one order whatever order the rows came in, so that a second call after a partial
        // failure names the same devices in the same jobs, and adopts those it created.
        devices.sort_unstable();
        let conditions = Condition::device_ids(&devices)?;
        derived_id(&prefix, conditions.len())?;
        let slot_wait = options.slot_wait.as_ref().or(self.job_slot_wait());
        let mut scheduled = Vec::new();
        for (n, condition) in conditions.into_iter().enumerate() {
            let job = operation.retargeted(derived_id(&prefix, n + 1)?, condition);
            match self.schedule_or_adopt(job, slot_wait).await {
                Ok(job) => {
                    if job.adopted {
                        tracing::info!(job_id, adopted = ?job.job.job_id, "a re-run job from an earlier call is this work: adopted");
                    }
                    scheduled.push(job.job);
                }
                Err(error) => {
                    let ids: Vec<_> = scheduled
                        .iter()
                        .filter_map(|job| job.job_id.as_deref())
                        .collect();
                    tracing::warn!(job_id, scheduled = ?ids, %error, "a re-run job could not be scheduled; those before it stand");
                    return Err(error);
                }
            }
        }
        Ok(scheduled)
    }
}

/// Which devices [`JobsClient::rerun_failures`] runs a job on again, and how. Start from
/// `RerunOptions::default()`: the devices that failed, under ids `<job id>-rerun-<n>`, waiting
/// for a job slot as the client does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RerunOptions {
    method_failures: bool,
    job_id_prefix: Option<String>,
    slot_wait: Option<WaitOptions>,
}

impl RerunOptions {
    /// Also run it again on the devices whose direct method answered outside `200`–`299`
    /// (default: only those that failed, since a method that answered `404` or `501` is not
    /// there to call, and would answer the same).
    pub fn with_method_failures(mut self, included: bool) -> Self {
        self.method_failures = included;
        self
    }

    /// The new jobs' ids are `<prefix>-1`, `<prefix>-2`, … (default `<job id>-rerun`). The
    /// prefix must leave room for the number within the job-id rule (64 characters at most).
    pub fn with_job_id_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.job_id_prefix = Some(prefix.into());
        self
    }

    /// How the creates wait for a free job slot (default: as the client's
    /// [`JobsClientOptions::with_job_slot_wait`](crate::JobsClientOptions::with_job_slot_wait)
    /// says).
    pub fn with_slot_wait(mut self, wait: WaitOptions) -> Self {
        self.slot_wait = Some(wait);
        self
    }
}

/// The id of the `n`th job under `prefix`, checked against the job-id rule.
fn derived_id(prefix: &str, n: usize) -> Result<String, Error> {
    let id = format!("{prefix}-{n}");
    validate::job_id(&id).map_err(|_| {
        validate::invalid_request(format!(
            "the re-run jobs' ids would be {id:?}, which breaks the job-id rule (1-64 letters, \
             digits and '-'); give a shorter prefix (RerunOptions::with_job_id_prefix)"
        ))
    })?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_count_from_one_and_must_fit_the_rule() {
        assert_eq!(derived_id("fw-rerun", 1).unwrap(), "fw-rerun-1");
        assert_eq!(derived_id("fw-rerun", 12).unwrap(), "fw-rerun-12");
        let longest = "a".repeat(62);
        assert_eq!(derived_id(&longest, 9).unwrap().len(), 64);
        let error = derived_id(&longest, 10).unwrap_err();
        assert!(error.to_string().contains("shorter prefix"), "{error}");
        assert!(derived_id("no spaces", 1).is_err());
    }
}
