//! Scheduled jobs (`/jobs/v2/…`): twin updates and direct methods on the devices a query
//! selects. Schedule, read, list, cancel and wait; the typed requests are in `requests`.

mod requests;

use std::sync::Arc;

use futures_core::Stream;

pub(crate) use requests::NewJob;
pub use requests::{DirectMethodJob, TwinUpdateJob};

use crate::{
    API_VERSION, Error, JobsClient, WaitOptions,
    areas::job_slots,
    areas::wait::{self, Verdict, WaitEnd},
    call::Caller,
    call::paging::{self, Page, Queried},
    call::retry::Replay,
    call::validate,
    generated::types::JobRequest,
    models::{JobResponse, JobStatus, JobType},
};

impl JobsClient {
    /// Cancels the scheduled job `job_id` and returns it as the service now reports it
    /// (normally with status `cancelled`; see [`cancel_job_and_wait`](Self::cancel_job_and_wait)
    /// to wait until it reads so).
    ///
    /// Only a job that has not started can be cancelled: a running job fails with
    /// [`Error::is_operation_not_allowed`], an unknown id with [`Error::is_not_found`]. The job
    /// id is checked first (1–64 US-ASCII letters, digits and `-`); an invalid one fails with
    /// [`ErrorKind::InvalidJobId`](crate::ErrorKind::InvalidJobId) and nothing is sent.
    pub async fn cancel_job(&self, job_id: &str) -> Result<JobResponse, Error> {
        validate::job_id(job_id)?;
        let call = self
            .caller()
            .call("cancel_job", job_id, Replay::Always, |client| {
                client.cancel_job(job_id, API_VERSION)
            });
        Ok(call.await?.into_inner())
    }

    /// The job `job_id` as the service reports it now.
    ///
    /// An unknown id fails with [`Error::is_not_found`]; an invalid one with
    /// [`ErrorKind::InvalidJobId`](crate::ErrorKind::InvalidJobId), before anything is sent.
    pub async fn get_job(&self, job_id: &str) -> Result<JobResponse, Error> {
        validate::job_id(job_id)?;
        let call = self
            .caller()
            .call("get_job", job_id, Replay::Always, |client| {
                client.get_job(job_id, API_VERSION)
            });
        Ok(call.await?.into_inner())
    }

    /// Schedules a twin update job and returns it as created (normally `queued` or
    /// `scheduled`). The job is checked first (id rules, a query condition, something to set);
    /// a problem fails with [`ErrorKind::InvalidJobId`](crate::ErrorKind::InvalidJobId) or [`ErrorKind::InvalidJobRequest`](crate::ErrorKind::InvalidJobRequest) and
    /// nothing is sent. An id in use fails with status `409`; a hub that runs as many jobs as
    /// its tier allows with [`Error::is_job_limit_reached`], unless the client waits for a slot
    /// ([`JobsClientOptions::with_job_slot_wait`](crate::JobsClientOptions::with_job_slot_wait)).
    pub async fn schedule_twin_update(&self, job: TwinUpdateJob) -> Result<JobResponse, Error> {
        let slot_wait = self.job_slot_wait();
        self.schedule(NewJob::TwinUpdate(job), slot_wait).await
    }

    /// Schedules a direct-method job and returns it as created; see
    /// [`schedule_twin_update`](Self::schedule_twin_update) for the checks and errors.
    pub async fn schedule_direct_method(&self, job: DirectMethodJob) -> Result<JobResponse, Error> {
        let slot_wait = self.job_slot_wait();
        self.schedule(NewJob::DirectMethod(job), slot_wait).await
    }

    /// Schedules `job`, waiting for a free job slot as `slot_wait` says.
    pub(crate) async fn schedule(
        &self,
        job: NewJob,
        slot_wait: Option<&WaitOptions>,
    ) -> Result<JobResponse, Error> {
        let job_id = job.job_id().to_owned();
        let request = job.into_request()?;
        job_slots::waiting_for_a_slot("create_job", &job_id, slot_wait, || {
            self.create_job(&job_id, &request)
        })
        .await
    }

    async fn create_job(&self, job_id: &str, request: &JobRequest) -> Result<JobResponse, Error> {
        // A create that may have reached the service is not sent again: the retry would find
        // its own job and answer 409.
        let call = self
            .caller()
            .call("create_job", job_id, Replay::IfRejected, |client| {
                client.create_job(job_id, API_VERSION, request)
            });
        Ok(call.await?.into_inner())
    }

    /// Every job matching `filter`, page after page until the service has no more.
    ///
    /// Items that read as a job arrive as [`Queried::Item`]; an item of another shape arrives
    /// as [`Queried::Unrecognized`] with its JSON, without ending the stream. A failed page
    /// request arrives as an `Err` and ends the stream. Consume it with `StreamExt` (from `futures` or `futures-util`):
    ///
    /// ```no_run
    /// # async fn run(client: iothub_jobs::JobsClient) -> Result<(), iothub_jobs::Error> {
    /// use futures_util::StreamExt as _;
    /// use iothub_jobs::{JobQuery, Queried, models::JobStatus};
    ///
    /// let mut jobs = std::pin::pin!(client.query_jobs(JobQuery::default().with_status(JobStatus::Scheduled)));
    /// while let Some(item) = jobs.next().await {
    ///     if let Queried::Item(job) = item? {
    ///         println!("{:?} starts at {:?}", job.job_id, job.start_time);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn query_jobs(
        &self,
        filter: JobQuery,
    ) -> impl Stream<Item = Result<QueriedJob, Error>> + Send + 'static {
        jobs(self.caller().clone(), filter)
    }

    /// Cancels `job_id`, then waits until the service reports it `cancelled`, and returns it.
    ///
    /// The service may answer the cancel before the job reads `cancelled`, so this polls
    /// [`get_job`](Self::get_job) with growing pauses until the job is cancelled, or it ended
    /// otherwise, or `options`' timeout passes. The timeout bounds the whole wait, the cancel
    /// and every poll included, whatever the client's own timeouts. A job that ran or finished
    /// before it could be cancelled fails with [`ErrorKind::Wait`](crate::ErrorKind::Wait), [`WaitEnd::NotCancelled`](crate::WaitEnd::NotCancelled);
    /// waiting too long with [`WaitEnd::TimedOut`](crate::WaitEnd::TimedOut). Both carry the job as last seen in their
    /// [`WaitFailure`](crate::WaitFailure) detail (none, if the cancel itself did not answer in
    /// time).
    pub async fn cancel_job_and_wait(
        &self,
        job_id: &str,
        options: WaitOptions,
    ) -> Result<JobResponse, Error> {
        validate::job_id(job_id)?;
        let cancel = async {
            match self.cancel_job(job_id).await {
                // Too late: say what became of the job instead.
                Err(error) if error.is_operation_not_allowed() => self.get_job(job_id).await,
                answer => answer,
            }
        };
        let verdict = |job: &JobResponse| match &job.status {
            Some(JobStatus::Cancelled) => Verdict::Done,
            Some(status) if status.has_started() => Verdict::Failed(wait::failure(
                WaitEnd::NotCancelled,
                format!("job {job_id:?} was not cancelled: it is {status}, too late to cancel"),
                Some(job.clone()),
            )),
            _ => Verdict::Pending,
        };
        let timed_out = wait::timed_out(job_id, "read cancelled", &options);
        let watch = wait::watch(
            job_id.to_owned(),
            options,
            cancel,
            || self.get_job(job_id),
            verdict,
            timed_out,
        );
        wait::outcome(watch).await
    }

    /// Waits until the scheduled job `job_id` completes, and returns it.
    ///
    /// Polls [`get_job`](Self::get_job) with growing pauses, all within `options`' timeout.
    /// A job that fails, one that is cancelled and one that does not settle in time end the
    /// wait with [`ErrorKind::Wait`](crate::ErrorKind::Wait), its [`WaitFailure`](crate::WaitFailure) detail saying
    /// which ([`WaitEnd::Failed`](crate::WaitEnd::Failed), [`WaitEnd::Cancelled`](crate::WaitEnd::Cancelled), [`WaitEnd::TimedOut`](crate::WaitEnd::TimedOut)) with the job
    /// as last seen (a failed job's `failure_reason` says why).
    /// [`watch_job`](Self::watch_job) shows every state on the way.
    pub async fn wait_for_job(
        &self,
        job_id: &str,
        options: WaitOptions,
    ) -> Result<JobResponse, Error> {
        wait::outcome(self.watch_job(job_id, options)).await
    }

    /// Every state of the scheduled job `job_id` seen while waiting for it to complete, as
    /// [`wait_for_job`](Self::wait_for_job) polls them: the last item is the completed job or
    /// the error that ended the wait.
    ///
    /// ```no_run
    /// # async fn run(client: iothub_jobs::JobsClient) -> Result<(), iothub_jobs::Error> {
    /// use futures_util::StreamExt as _;
    ///
    /// let mut states = std::pin::pin!(client.watch_job("nightly-reboot", Default::default()));
    /// while let Some(state) = states.next().await {
    ///     let job = state?;
    ///     if let Some(counts) = &job.device_job_statistics {
    ///         eprintln!("{:?}: {:?} of {:?} devices done", job.status, counts.succeeded_count, counts.device_count);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn watch_job(
        &self,
        job_id: &str,
        options: WaitOptions,
    ) -> impl Stream<Item = Result<JobResponse, Error>> + Send + 'static {
        let (client, id) = (self.clone(), job_id.to_owned());
        wait::until_completed(job_id, options, move || {
            let (client, id) = (client.clone(), id.clone());
            async move { client.get_job(&id).await }
        })
    }
}

/// Which jobs [`JobsClient::query_jobs`](crate::JobsClient::query_jobs) lists. Start from
/// `JobQuery::default()` (every job).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobQuery {
    job_type: Option<JobType>,
    status: Option<JobStatus>,
    page_size: Option<u32>,
}

impl JobQuery {
    /// Only jobs of this type.
    pub fn with_type(mut self, job_type: JobType) -> Self {
        self.job_type = Some(job_type);
        self
    }

    /// Only jobs in this state.
    pub fn with_status(mut self, status: JobStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// How many jobs to ask for per page (the service may answer with fewer).
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = Some(page_size);
        self
    }
}

/// One item of a job query.
pub type QueriedJob = Queried<JobResponse>;

/// Every job matching `filter`, following the service's pages.
fn jobs(
    caller: Arc<Caller>,
    filter: JobQuery,
) -> impl Stream<Item = Result<QueriedJob, Error>> + Send + 'static {
    let page_size = filter.page_size.map(|size| size.to_string());
    let filter = Arc::new(filter);
    paging::pages(
        move |token| {
            let (caller, filter, page_size) = (caller.clone(), filter.clone(), page_size.clone());
            async move { jobs_page(&caller, &filter, token.as_deref(), page_size.as_deref()).await }
        },
        Queried::read,
    )
}

async fn jobs_page(
    caller: &Caller,
    filter: &JobQuery,
    continuation: Option<&str>,
    page_size: Option<&str>,
) -> Result<Page, Error> {
    let (status, kind) = (
        filter.status.as_ref().map(|s| s.as_str()),
        filter.job_type.as_ref().map(|t| t.as_str()),
    );
    let page = caller
        .call("query_jobs", "", Replay::Always, |client| {
            client.query_jobs(API_VERSION, status, kind, continuation, page_size)
        })
        .await?;
    Ok(Page::read(page))
}
