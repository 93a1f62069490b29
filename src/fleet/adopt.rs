//! Scheduling a fleet operation's job, or adopting the one already under its id — only when it
//! is the same work, so that a rollout or re-run never counts another job's devices as its own.

use crate::{
    Error, ErrorKind, JobsClient, WaitOptions, areas::scheduled_jobs::NewJob, models::JobResponse,
};

/// What a fleet operation found under the id one of its jobs needs: a job that does other work
/// ([`ErrorKind::ConflictingJob`]). Read it with
/// [`Error::detail`](crate::Error::detail)`::<ConflictingJob>()`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ConflictingJob {
    /// The id both jobs need.
    pub job_id: String,
    /// The fields, by the service's names (`type`, `queryCondition`,
    /// `cloudToDeviceMethod.payload`, `updateTwin.properties.desired`, …), in which the job
    /// found differs from the one asked for.
    pub differences: Vec<&'static str>,
    /// The job found, as the service reports it.
    pub found: Box<JobResponse>,
}

/// A job a fleet operation runs: created now, or found from an earlier run of the same work.
pub(crate) struct Scheduled {
    pub(crate) job: JobResponse,
    pub(crate) adopted: bool,
}

impl JobsClient {
    /// Schedules `job`; if its id is taken (`409`), reads the job under it and adopts it when it
    /// is the same work ([`NewJob::differences`]), and otherwise fails with
    /// [`ErrorKind::ConflictingJob`] naming what differs, the `409` as its source.
    pub(crate) async fn schedule_or_adopt(
        &self,
        job: NewJob,
        slot_wait: Option<&WaitOptions>,
    ) -> Result<Scheduled, Error> {
        let job_id = job.job_id().to_owned();
        let taken = match self.schedule(job.clone(), slot_wait).await {
            Err(taken) if taken.status() == Some(409) => taken,
            created => {
                return created.map(|job| Scheduled {
                    job,
                    adopted: false,
                });
            }
        };
        let found = self.get_job(&job_id).await?;
        let differences = job.differences(&found)?;
        if differences.is_empty() {
            return Ok(Scheduled {
                job: found,
                adopted: true,
            });
        }
        tracing::warn!(job_id, ?differences, "another job's work holds this id");
        Err(Error::new(
            ErrorKind::ConflictingJob,
            format!(
                "job {job_id:?} exists and does other work (it differs in {}): it was not \
                 adopted and none of its devices is counted; give this work other job ids (a \
                 rollout's template job id, RerunOptions::with_job_id_prefix)",
                differences.join(", ")
            ),
        )
        .with_detail(ConflictingJob {
            job_id,
            differences,
            found: Box::new(found),
        })
        .with_source(taken))
    }
}
