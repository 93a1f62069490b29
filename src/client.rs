//! The public client: how it is built, and one method per operation.

use std::{fmt, sync::Arc};

use futures_core::Stream;
use reqwest::header::HeaderValue;

use crate::{
    API_VERSION, DirectMethodJob, Error, ErrorKind, ExportJob, ImportJob, JobsClientOptions,
    TwinUpdateJob, WaitOptions,
    auth::{ConnectionString, Credential},
    call::Caller,
    error::SeenJob,
    generated::{self, types::JobRequest},
    hooks::HookSettings,
    models::{JobProperties, JobResponse, JobStatus},
    query::{self, DeviceJobQuery, JobQuery, QueriedDeviceJob, QueriedJob},
    retry::Replay,
    validate::{self, HostName},
    wait::{self, Verdict},
};

/// A client for an IoT Hub's scheduled-jobs API.
///
/// Cheap to clone (clones share the connection pool and the token cache); create one per hub
/// and reuse it.
///
/// ```no_run
/// # async fn run() -> Result<(), iothub_jobs::Error> {
/// let client = iothub_jobs::JobsClient::from_connection_string(
///     &std::env::var("IOTHUB_CONNECTION_STRING").unwrap_or_default(),
/// )?;
/// let job = client.cancel_job("nightly-reboot").await?;
/// println!("{:?}", job.status);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct JobsClient {
    caller: Arc<Caller>,
    host_name: Arc<str>,
}

impl JobsClient {
    /// A client from a service connection string (`HostName=…;SharedAccessKeyName=…;SharedAccessKey=…`
    /// or `HostName=…;SharedAccessSignature=…`) with default options.
    pub fn from_connection_string(connection_string: &str) -> Result<Self, Error> {
        Self::from_connection_string_with_options(connection_string, JobsClientOptions::default())
    }

    /// A client from a service connection string with `options`.
    pub fn from_connection_string_with_options(
        connection_string: &str,
        options: JobsClientOptions,
    ) -> Result<Self, Error> {
        let (host_name, credential) = ConnectionString::parse(connection_string)?
            .into_credential(options.sas_token_lifetime)?;
        Self::build(host_name, credential, options)
    }

    /// A client for the hub at `host_name` (such as `myhub.azure-devices.net`) that
    /// authenticates with `credential`.
    pub fn new(
        host_name: &str,
        credential: Arc<dyn Credential>,
        options: JobsClientOptions,
    ) -> Result<Self, Error> {
        Self::build(HostName::checked(host_name)?, credential, options)
    }

    fn build(
        host_name: HostName,
        credential: Arc<dyn Credential>,
        options: JobsClientOptions,
    ) -> Result<Self, Error> {
        let endpoint = match &options.endpoint {
            Some(endpoint) => validate::endpoint(endpoint)?,
            None => validate::endpoint(&format!("https://{}", host_name.as_str()))?,
        };
        options.check()?;
        let mut http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            // The service does not redirect; a followed redirect could take the token elsewhere.
            .redirect(reqwest::redirect::Policy::none());
        if endpoint.loopback {
            // An environment proxy is not this machine: the token would leave it, in clear
            // text for plain HTTP.
            http = http.no_proxy();
        }
        let http = http.build().map_err(|e| {
            Error::new(
                ErrorKind::InvalidConfiguration,
                "could not set up the HTTP client",
            )
            .with_source(e)
        })?;
        let settings = HookSettings {
            user_agent: HeaderValue::from_static(concat!(
                "iothub-jobs/",
                env!("CARGO_PKG_VERSION"),
                " (Rust)"
            )),
            max_response_bytes: options.max_response_bytes,
        };
        let caller = Caller {
            generated: generated::Client::new_with_client(&endpoint.base_url, http, settings),
            credential,
            retry: options.retry,
            request_timeout: options.request_timeout,
        };
        Ok(Self {
            caller: Arc::new(caller),
            host_name: host_name.as_str().into(),
        })
    }

    /// The hub's host name, to which tokens are scoped.
    pub fn host_name(&self) -> &str {
        &self.host_name
    }

    /// The base URL requests go to.
    pub fn endpoint(&self) -> &str {
        progenitor_client::ClientInfo::baseurl(&self.caller.generated)
    }

    /// Cancels the scheduled job `job_id` and returns it as the service now reports it
    /// (normally with status `cancelled`; see [`cancel_job_and_wait`](Self::cancel_job_and_wait)
    /// to wait until it reads so).
    ///
    /// Only a job that has not started can be cancelled: a running job fails with
    /// [`Error::is_operation_not_allowed`], an unknown id with [`Error::is_not_found`]. The job
    /// id is checked first (1–64 US-ASCII letters, digits and `-`); an invalid one fails with
    /// [`ErrorKind::InvalidJobId`] and nothing is sent.
    pub async fn cancel_job(&self, job_id: &str) -> Result<JobResponse, Error> {
        validate::job_id(job_id)?;
        let call = self
            .caller
            .call("cancel_job", job_id, Replay::Always, |client| {
                client.cancel_job(job_id, API_VERSION)
            });
        Ok(call.await?.into_inner())
    }

    /// The job `job_id` as the service reports it now.
    ///
    /// An unknown id fails with [`Error::is_not_found`]; an invalid one with
    /// [`ErrorKind::InvalidJobId`], before anything is sent.
    pub async fn get_job(&self, job_id: &str) -> Result<JobResponse, Error> {
        validate::job_id(job_id)?;
        let call = self
            .caller
            .call("get_job", job_id, Replay::Always, |client| {
                client.get_job(job_id, API_VERSION)
            });
        Ok(call.await?.into_inner())
    }

    /// Schedules a twin update job and returns it as created (normally `queued` or
    /// `scheduled`). The job is checked first (id rules, a query condition, something to set);
    /// a problem fails with [`ErrorKind::InvalidJobId`] or [`ErrorKind::InvalidJobRequest`] and
    /// nothing is sent. An id in use fails with status `409`.
    pub async fn schedule_twin_update(&self, job: TwinUpdateJob) -> Result<JobResponse, Error> {
        let job_id = job.job_id().to_owned();
        self.create_job(&job_id, job.into_request()?).await
    }

    /// Schedules a direct-method job and returns it as created; see
    /// [`schedule_twin_update`](Self::schedule_twin_update) for the checks and errors.
    pub async fn schedule_direct_method(&self, job: DirectMethodJob) -> Result<JobResponse, Error> {
        let job_id = job.job_id().to_owned();
        self.create_job(&job_id, job.into_request()?).await
    }

    async fn create_job(&self, job_id: &str, request: JobRequest) -> Result<JobResponse, Error> {
        // A create that may have reached the service is not sent again: the retry would find
        // its own job and answer 409.
        let call = self
            .caller
            .call("create_job", job_id, Replay::IfRejected, |client| {
                client.create_job(job_id, API_VERSION, &request)
            });
        Ok(call.await?.into_inner())
    }

    /// Every job matching `filter`, page after page until the service has no more.
    ///
    /// Items that read as a job arrive as [`QueriedJob::Job`]; an item of another shape arrives
    /// as [`QueriedJob::Unrecognized`] with its JSON, without ending the stream. A failed page
    /// request arrives as an `Err` and ends the stream. Consume it with `StreamExt` (from `futures` or `futures-util`):
    ///
    /// ```no_run
    /// # async fn run(client: iothub_jobs::JobsClient) -> Result<(), iothub_jobs::Error> {
    /// use futures_util::StreamExt as _;
    /// use iothub_jobs::{JobQuery, QueriedJob, models::JobStatus};
    ///
    /// let mut jobs = std::pin::pin!(client.query_jobs(JobQuery::default().with_status(JobStatus::Scheduled)));
    /// while let Some(item) = jobs.next().await {
    ///     if let QueriedJob::Job(job) = item? {
    ///         println!("{:?} starts at {:?}", job.job_id, job.start_time);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn query_jobs(
        &self,
        filter: JobQuery,
    ) -> impl Stream<Item = Result<QueriedJob, Error>> + Send + 'static {
        query::jobs(self.caller.clone(), filter)
    }

    /// Each device's row of job `job_id` (a scheduled job): which devices failed, and why.
    ///
    /// The rows come from the query `SELECT * FROM devices.jobs WHERE devices.jobs.jobId =
    /// '<job_id>'` (and the status in `filter`), built here from the checked job id, so nothing
    /// can be injected through it; a job id or status that cannot go into the query is the one
    /// item, and nothing is sent. Pages are followed like [`query_jobs`](Self::query_jobs)';
    /// a row of an unexpected shape arrives as [`QueriedDeviceJob::Unrecognized`].
    ///
    /// ```no_run
    /// # async fn run(client: iothub_jobs::JobsClient) -> Result<(), iothub_jobs::Error> {
    /// use futures_util::StreamExt as _;
    /// use iothub_jobs::{DeviceJobQuery, QueriedDeviceJob, models::DeviceJobStatus};
    ///
    /// let failed = DeviceJobQuery::default().with_status(DeviceJobStatus::Failed);
    /// let mut rows = std::pin::pin!(client.query_device_jobs("nightly-reboot", failed));
    /// while let Some(row) = rows.next().await {
    ///     if let QueriedDeviceJob::DeviceJob(row) = row? {
    ///         let error = row.error.as_ref();
    ///         println!("{:?}: {:?}", row.device_id, error.and_then(|e| e.code.as_deref()));
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn query_device_jobs(
        &self,
        job_id: &str,
        filter: DeviceJobQuery,
    ) -> impl Stream<Item = Result<QueriedDeviceJob, Error>> + Send + 'static {
        query::device_jobs(self.caller.clone(), job_id, filter)
    }

    /// Cancels `job_id`, then waits until the service reports it `cancelled`, and returns it.
    ///
    /// The service may answer the cancel before the job reads `cancelled`, so this polls
    /// [`get_job`](Self::get_job) with growing pauses until the job is cancelled, or it ended
    /// otherwise, or `options`' timeout passes. The timeout bounds the whole wait, the cancel
    /// and every poll included, whatever the client's own timeouts. A job that ran or finished
    /// before it could be cancelled fails with [`ErrorKind::NotCancelled`]; waiting too long
    /// with [`ErrorKind::WaitTimedOut`]. Both carry the job as last seen in [`Error::job`]
    /// (none, if the cancel itself did not answer in time).
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
            Some(status) if status.has_started() => Verdict::Failed(
                Error::new(
                    ErrorKind::NotCancelled,
                    format!("job {job_id:?} was not cancelled: it is {status}, too late to cancel"),
                )
                .with_job(job.clone()),
            ),
            _ => Verdict::Pending,
        };
        let timed_out = timed_out(job_id, "read cancelled", &options);
        let watch = wait::watch(options, cancel, || self.get_job(job_id), verdict, timed_out);
        wait::outcome(watch).await
    }

    /// Waits until the scheduled job `job_id` completes, and returns it.
    ///
    /// Polls [`get_job`](Self::get_job) with growing pauses, all within `options`' timeout.
    /// A job that fails ends the wait with [`ErrorKind::JobFailed`] ([`Error::failure_reason`]
    /// says why), one that is cancelled with [`ErrorKind::JobCancelled`], and a job that does
    /// not settle in time with [`ErrorKind::WaitTimedOut`]; each carries the job as last seen in
    /// [`Error::job`]. [`watch_job`](Self::watch_job) shows every state on the way.
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
        self.watch_until_completed(job_id, options, |client, id| async move {
            client.get_job(&id).await
        })
    }

    /// Starts an export of the hub's device identities to a blob container, and returns the
    /// job as the service created it (`enqueued`; its `job_id` is the service's). Waiting for it:
    /// [`wait_for_import_export_job`](Self::wait_for_import_export_job).
    ///
    /// The job is checked first (container URI, authentication, blob names): a problem fails
    /// with [`ErrorKind::InvalidJobRequest`] and nothing is sent. The hub runs one import or
    /// export job at a time: another one running fails with [`Error::is_job_quota_exceeded`].
    /// Leaves the devices' keys out unless the job asks for them ([`ExportJob`]).
    pub async fn export_devices(&self, job: ExportJob) -> Result<JobProperties, Error> {
        self.create_import_export_job(job.into_request()?).await
    }

    /// Starts an import of device identities from a blob container into the hub, and returns
    /// the job as the service created it; see [`export_devices`](Self::export_devices) for the
    /// checks and errors.
    pub async fn import_devices(&self, job: ImportJob) -> Result<JobProperties, Error> {
        self.create_import_export_job(job.into_request()?).await
    }

    async fn create_import_export_job(
        &self,
        request: JobProperties,
    ) -> Result<JobProperties, Error> {
        // A create that may have reached the service is not sent again: it would start a
        // second job, or be refused because the first one runs.
        let call = self.caller.call(
            "create_import_export_job",
            "",
            Replay::IfRejected,
            |client| client.create_import_export_job(API_VERSION, &request),
        );
        Ok(call.await?.into_inner())
    }

    /// The import or export job `job_id` as the service reports it now. An unknown id fails
    /// with [`Error::is_not_found`]; an invalid one with [`ErrorKind::InvalidJobId`], before
    /// anything is sent.
    pub async fn get_import_export_job(&self, job_id: &str) -> Result<JobProperties, Error> {
        validate::import_export_job_id(job_id)?;
        let call = self
            .caller
            .call("get_import_export_job", job_id, Replay::Always, |client| {
                client.get_import_export_job(job_id, API_VERSION)
            });
        Ok(call.await?.into_inner())
    }

    /// Every import and export job the hub keeps (the service keeps them for 30 days).
    pub async fn list_import_export_jobs(&self) -> Result<Vec<JobProperties>, Error> {
        let call = self
            .caller
            .call("list_import_export_jobs", "", Replay::Always, |client| {
                client.list_import_export_jobs(API_VERSION)
            });
        Ok(call.await?.into_inner())
    }

    /// Cancels the import or export job `job_id`. The service answers `200` or `204`, both
    /// success; read the job again to see it `cancelled`. An unknown id fails with
    /// [`Error::is_not_found`].
    pub async fn cancel_import_export_job(&self, job_id: &str) -> Result<(), Error> {
        validate::import_export_job_id(job_id)?;
        let call = self.caller.call(
            "cancel_import_export_job",
            job_id,
            Replay::Always,
            |client| client.cancel_import_export_job(job_id, API_VERSION),
        );
        call.await?;
        Ok(())
    }

    /// Waits until the import or export job `job_id` completes, and returns it; as
    /// [`wait_for_job`](Self::wait_for_job) does for scheduled jobs (the same errors, with the
    /// job in [`Error::import_export_job`]).
    pub async fn wait_for_import_export_job(
        &self,
        job_id: &str,
        options: WaitOptions,
    ) -> Result<JobProperties, Error> {
        wait::outcome(self.watch_import_export_job(job_id, options)).await
    }

    /// Every state of the import or export job `job_id` seen while waiting for it to complete:
    /// the last item is the completed job or the error that ended the wait. Each state has the
    /// job's `progress` in percent.
    ///
    /// ```no_run
    /// # async fn run(client: iothub_jobs::JobsClient, job_id: &str) -> Result<(), iothub_jobs::Error> {
    /// use futures_util::StreamExt as _;
    ///
    /// let mut states = std::pin::pin!(client.watch_import_export_job(job_id, Default::default()));
    /// while let Some(state) = states.next().await {
    ///     let job = state?;
    ///     eprintln!("{:?} {}%", job.status, job.progress.unwrap_or(0));
    /// }
    /// # Ok(()) }
    /// ```
    pub fn watch_import_export_job(
        &self,
        job_id: &str,
        options: WaitOptions,
    ) -> impl Stream<Item = Result<JobProperties, Error>> + Send + 'static {
        self.watch_until_completed(job_id, options, |client, id| async move {
            client.get_import_export_job(&id).await
        })
    }

    /// The states `get` reads of `job_id` until it completes; failed, cancelled and timed-out
    /// waits end with their typed error, the job attached.
    fn watch_until_completed<J, F, Fut>(
        &self,
        job_id: &str,
        options: WaitOptions,
        get: F,
    ) -> impl Stream<Item = Result<J, Error>> + Send + 'static
    where
        J: Settling,
        F: Fn(JobsClient, String) -> Fut + Send + 'static,
        Fut: Future<Output = Result<J, Error>> + Send + 'static,
    {
        let id = job_id.to_owned();
        let first = get(self.clone(), id.clone());
        let poll = {
            let (client, id) = (self.clone(), id.clone());
            move || get(client.clone(), id.clone())
        };
        let timed_out = timed_out(&id, "finish", &options);
        let verdict = move |job: &J| {
            let failed = |kind, what: &str| {
                let reason = job.failure_reason().unwrap_or("no reason given");
                Verdict::Failed(
                    Error::new(kind, format!("job {id:?} {what}: {reason}")).with_job(job.clone()),
                )
            };
            match job.status() {
                Some(JobStatus::Completed) => Verdict::Done,
                Some(JobStatus::Failed) => failed(ErrorKind::JobFailed, "failed"),
                Some(JobStatus::Cancelled) => failed(ErrorKind::JobCancelled, "was cancelled"),
                _ => Verdict::Pending,
            }
        };
        wait::watch(options, first, poll, verdict, timed_out)
    }
}

/// What a wait reads of a job, whichever kind.
trait Settling: Clone + Send + Into<SeenJob> + 'static {
    fn status(&self) -> Option<&JobStatus>;
    fn failure_reason(&self) -> Option<&str>;
}

impl Settling for JobResponse {
    fn status(&self) -> Option<&JobStatus> {
        self.status.as_ref()
    }

    fn failure_reason(&self) -> Option<&str> {
        self.failure_reason.as_deref()
    }
}

impl Settling for JobProperties {
    fn status(&self) -> Option<&JobStatus> {
        self.status.as_ref()
    }

    fn failure_reason(&self) -> Option<&str> {
        self.failure_reason.as_deref()
    }
}

/// The error that ends a wait for `job_id` to `goal` without it, carrying the job as last seen.
fn timed_out<J: Into<SeenJob>>(
    job_id: &str,
    goal: &str,
    options: &WaitOptions,
) -> impl Fn(Option<J>) -> Error + Send + use<J> {
    let message = format!(
        "job {job_id:?} did not {goal} within {:?} (WaitOptions::with_timeout)",
        options.timeout()
    );
    move |job| {
        let error = Error::new(ErrorKind::WaitTimedOut, message.clone());
        match job {
            Some(job) => error.with_job(job),
            None => error,
        }
    }
}

impl fmt::Debug for JobsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobsClient")
            .field("host_name", &self.host_name)
            .field("endpoint", &self.endpoint())
            .field("credential", &self.caller.credential)
            .field("retry", &self.caller.retry)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::RetryOptions;

    #[test]
    fn an_endpoint_is_never_echoed_with_its_user_info_or_query() {
        for endpoint in [
            "http://admin:S3cretP4ss@127.0.0.1:8080",
            "https://admin:S3cretP4ss@hub.example.com/",
            "https://hub.example.com/?sig=S3cretP4ss",
            "https://hub.example.com/#S3cretP4ss",
            "http://admin:S3cretP4ss@10.0.0.1",
            "https://admin:S3cretP4ss@hub.example.com:99999",
            "ftp://admin:S3cretP4ss@x",
            "S3cretP4ss",
        ] {
            let options = JobsClientOptions::default().with_endpoint(endpoint);
            let shown = format!("{options:?}");
            assert!(!shown.contains("S3cretP4ss"), "{shown}");
            let credential = Arc::new(
                crate::auth::SasTokenCredential::new("SharedAccessSignature sr=h&sig=x&se=1&skn=p")
                    .unwrap(),
            );
            let error = JobsClient::new("hub.example.com", credential, options).unwrap_err();
            assert_eq!(error.kind(), &ErrorKind::InvalidConfiguration, "{endpoint}");
            let shown = format!("{error} {error:?}");
            assert!(!shown.contains("S3cretP4ss"), "{endpoint}: {shown}");
        }
    }

    fn build(host: &str, options: JobsClientOptions) -> Result<JobsClient, Error> {
        let credential = Arc::new(
            crate::auth::SasTokenCredential::new("SharedAccessSignature sr=h&sig=x&se=1&skn=p")
                .unwrap(),
        );
        JobsClient::new(host, credential, options)
    }

    #[test]
    fn settings_that_can_never_work_are_refused_when_the_client_is_built() {
        let zero_total = JobsClientOptions::default()
            .with_retry(RetryOptions::default().with_total_timeout(Duration::ZERO));
        let no_bytes = JobsClientOptions::default().with_max_response_bytes(0);
        for (what, host, options) in [
            ("total timeout", "hub.example.com", zero_total),
            ("response bytes", "hub.example.com", no_bytes),
            ("host", "999.1.1.1", JobsClientOptions::default()),
            ("host", "hub.0x10", JobsClientOptions::default()),
            ("host", "1.2.3", JobsClientOptions::default()),
        ] {
            let error = build(host, options).unwrap_err();
            assert_eq!(
                error.kind(),
                &ErrorKind::InvalidConfiguration,
                "{what}: {error}"
            );
        }
        for host in ["hub.azure-devices.net", "10.1.2.3", "localhost", "a-b.c9"] {
            assert!(build(host, JobsClientOptions::default()).is_ok(), "{host}");
        }
    }
}
