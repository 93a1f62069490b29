//! The public client.

use std::{
    fmt,
    net::IpAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use futures_core::Stream;

use reqwest::header::HeaderValue;

use crate::{
    API_VERSION, DirectMethodJob, Error, ErrorKind, RetryOptions, TwinUpdateJob,
    auth::{ConnectionString, Credential, DEFAULT_SAS_TOKEN_LIFETIME},
    generated,
    generated::types::JobRequest,
    job_id::validate_job_id,
    models::{JobResponse, JobStatus},
    query::{self, JobQuery, QueriedJob},
    transport::{Pipeline, Replay, Transport},
};

/// How long to wait for a TCP + TLS connection unless configured otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one attempt may take, from asking the credential for a token to the last byte of
/// the answer, unless configured otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest answer read unless configured otherwise: a job is a few kilobytes.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// Settings for a [`JobsClient`]. Start from `JobsClientOptions::default()` and change what you
/// need with the `with_*` methods.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JobsClientOptions {
    endpoint: Option<String>,
    connect_timeout: Duration,
    request_timeout: Duration,
    sas_token_lifetime: Duration,
    retry: RetryOptions,
    max_response_bytes: usize,
}

impl Default for JobsClientOptions {
    fn default() -> Self {
        Self {
            endpoint: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            sas_token_lifetime: DEFAULT_SAS_TOKEN_LIFETIME,
            retry: RetryOptions::default(),
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

impl JobsClientOptions {
    /// Sends requests to `base_url` instead of `https://<host name>`: a local simulator, a
    /// proxy or a private endpoint. Tokens are still scoped to the hub's host name. Must be
    /// `https://`, or `http://` to a loopback address (`127.0.0.0/8`, `[::1]`, `localhost`).
    pub fn with_endpoint(mut self, base_url: impl Into<String>) -> Self {
        self.endpoint = Some(base_url.into());
        self
    }

    /// How long to wait for a connection (default [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one attempt may take, the credential's token and the answer included (default
    /// [`DEFAULT_REQUEST_TIMEOUT`]).
    /// The whole call, retries included, is bounded by [`RetryOptions::with_total_timeout`].
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How transient failures are retried (default [`RetryOptions::default`]: up to
    /// [`DEFAULT_MAX_ATTEMPTS`](crate::DEFAULT_MAX_ATTEMPTS) attempts within
    /// [`DEFAULT_TOTAL_TIMEOUT`](crate::DEFAULT_TOTAL_TIMEOUT)).
    pub fn with_retry(mut self, retry: RetryOptions) -> Self {
        self.retry = retry;
        self
    }

    /// The largest answer read (default [`DEFAULT_MAX_RESPONSE_BYTES`]); a larger one fails
    /// with [`ErrorKind::ResponseTooLarge`] without being read in full.
    pub fn with_max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// How long the SAS tokens minted from a connection string's key are valid (default
    /// [`DEFAULT_SAS_TOKEN_LIFETIME`]). Applies to [`JobsClient::from_connection_string_with_options`].
    pub fn with_sas_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.sas_token_lifetime = lifetime;
        self
    }
}

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
    transport: Arc<Transport>,
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
        let parsed = ConnectionString::parse(connection_string)?;
        let host_name = parsed.host_name().to_owned();
        let credential = parsed.into_credential(options.sas_token_lifetime)?;
        Self::new(&host_name, credential, options)
    }

    /// A client for the hub at `host_name` (such as `myhub.azure-devices.net`) that
    /// authenticates with `credential`.
    pub fn new(
        host_name: &str,
        credential: Arc<dyn Credential>,
        options: JobsClientOptions,
    ) -> Result<Self, Error> {
        crate::auth::check_host_name(host_name)?;
        let base_url = match &options.endpoint {
            Some(endpoint) => validate_endpoint(endpoint)?,
            None => format!("https://{host_name}"),
        };
        for (name, timeout) in [
            ("connect", options.connect_timeout),
            ("request", options.request_timeout),
        ] {
            if timeout.is_zero() {
                return Err(Error::new(
                    ErrorKind::InvalidConfiguration,
                    format!("the {name} timeout must not be zero"),
                ));
            }
        }
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            // The service does not redirect; a followed redirect could take the token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                Error::new(
                    ErrorKind::InvalidConfiguration,
                    "could not set up the HTTP client",
                )
                .with_source(e)
            })?;
        let pipeline = Pipeline {
            user_agent: HeaderValue::from_static(concat!(
                "iothub-jobs/",
                env!("CARGO_PKG_VERSION"),
                " (Rust)"
            )),
            max_response_bytes: options.max_response_bytes,
        };
        let transport = Transport {
            generated: generated::Client::new_with_client(&base_url, http, pipeline),
            credential,
            retry: options.retry,
            request_timeout: options.request_timeout,
        };
        Ok(Self {
            transport: Arc::new(transport),
            host_name: host_name.into(),
        })
    }

    /// The hub's host name, to which tokens are scoped.
    pub fn host_name(&self) -> &str {
        &self.host_name
    }

    /// The base URL requests go to.
    pub fn endpoint(&self) -> &str {
        progenitor_client::ClientInfo::baseurl(&self.transport.generated)
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
        validate_job_id(job_id)?;
        let call = self
            .transport
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
        validate_job_id(job_id)?;
        let call = self
            .transport
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
            .transport
            .call("create_job", job_id, Replay::IfRejected, |client| {
                client.create_job(job_id, API_VERSION, &request)
            });
        Ok(call.await?.into_inner())
    }

    /// Every job matching `filter`, page after page until the service has no more.
    ///
    /// Items that read as a job arrive as [`QueriedJob::Job`]; an item of another shape arrives
    /// as [`QueriedJob::Unrecognized`] with its JSON, without ending the stream. A failed page
    /// request arrives as an `Err` and ends the stream. Consume it with `futures::StreamExt`:
    ///
    /// ```no_run
    /// # async fn run(client: iothub_jobs::JobsClient) -> Result<(), iothub_jobs::Error> {
    /// use futures::StreamExt as _;
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
    ) -> impl Stream<Item = Result<QueriedJob, Error>> + Send + '_ {
        query::pages(self, filter)
    }

    /// One page of a query: its items and the token for the next page, if there is one.
    pub(crate) async fn query_page(
        &self,
        filter: &JobQuery,
        continuation: Option<&str>,
    ) -> Result<
        (
            Vec<serde_json::Map<String, serde_json::Value>>,
            Option<String>,
        ),
        Error,
    > {
        let page_size = filter.page_size.map(|size| size.to_string());
        let (status, kind) = (
            filter.status.as_ref().map(|s| s.as_str()),
            filter.job_type.as_ref().map(|t| t.as_str()),
        );
        let call = self
            .transport
            .call("query_jobs", "", Replay::Always, |client| {
                client.query_jobs(
                    API_VERSION,
                    status,
                    kind,
                    continuation,
                    page_size.as_deref(),
                )
            });
        let page = call.await?;
        let next = page
            .headers()
            .get(query::CONTINUATION)
            .and_then(|v| v.to_str().ok())
            .filter(|token| !token.is_empty())
            .map(str::to_owned);
        Ok((page.into_inner(), next))
    }

    /// Cancels `job_id`, then waits until the service reports it `cancelled`, and returns it.
    ///
    /// The service may answer the cancel before the job reads `cancelled`, so this polls
    /// [`get_job`](Self::get_job) with growing pauses until the job is cancelled, or it ended
    /// otherwise, or `options`' timeout passes. A job that ran or finished before it could be
    /// cancelled fails with [`ErrorKind::NotCancelled`]; waiting too long with
    /// [`ErrorKind::WaitTimedOut`]. Both carry the job as last seen in [`Error::job`].
    pub async fn cancel_job_and_wait(
        &self,
        job_id: &str,
        options: WaitOptions,
    ) -> Result<JobResponse, Error> {
        let deadline = crate::retry::deadline(Instant::now(), options.timeout);
        let mut job = match self.cancel_job(job_id).await {
            Ok(job) => job,
            // Too late: say what became of the job instead.
            Err(error) if error.is_operation_not_allowed() => self.get_job(job_id).await?,
            Err(error) => return Err(error),
        };
        let mut pause = options.poll_interval;
        loop {
            match job.status {
                Some(JobStatus::Cancelled) => return Ok(job),
                Some(JobStatus::Running | JobStatus::Completed | JobStatus::Failed) => {
                    let status = job.status.as_ref().map_or("", |s| s.as_str()).to_owned();
                    return Err(Error::new(
                        ErrorKind::NotCancelled,
                        format!(
                            "job {job_id:?} was not cancelled: it is {status}, too late to cancel"
                        ),
                    )
                    .with_job(job));
                }
                _ => {}
            }
            if pause > deadline.saturating_duration_since(Instant::now()) {
                return Err(Error::new(
                    ErrorKind::WaitTimedOut,
                    format!(
                        "job {job_id:?} did not read cancelled within {:?}",
                        options.timeout
                    ),
                )
                .with_job(job));
            }
            tokio::time::sleep(pause).await;
            pause = pause.saturating_mul(2).min(options.max_poll_interval);
            job = self.get_job(job_id).await?;
        }
    }
}

/// How [`JobsClient::cancel_job_and_wait`] waits. Start from `WaitOptions::default()`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitOptions {
    poll_interval: Duration,
    max_poll_interval: Duration,
    timeout: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_millis(500),
            max_poll_interval: Duration::from_secs(5),
            timeout: Duration::from_secs(60),
        }
    }
}

impl WaitOptions {
    /// The first pause between polls (default 0.5 s); each next one doubles, up to
    /// [`with_max_poll_interval`](Self::with_max_poll_interval) (default 5 s).
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The longest pause between polls (default 5 s).
    pub fn with_max_poll_interval(mut self, interval: Duration) -> Self {
        self.max_poll_interval = interval;
        self
    }

    /// How long to wait in all (default 60 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl fmt::Debug for JobsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobsClient")
            .field("host_name", &self.host_name)
            .field("endpoint", &self.endpoint())
            .field("credential", &self.transport.credential)
            .field("retry", &self.transport.retry)
            .finish()
    }
}

/// `https://…`, or `http://` to loopback only; returns the base URL without a trailing `/`.
fn validate_endpoint(endpoint: &str) -> Result<String, Error> {
    let invalid = |problem: &str| {
        Error::new(
            ErrorKind::InvalidConfiguration,
            format!("endpoint {endpoint:?} {problem}"),
        )
    };
    let url = reqwest::Url::parse(endpoint).map_err(|e| invalid(&format!("is not a URL: {e}")))?;
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(invalid("must not carry a query, fragment or user info"));
    }
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(invalid(
                "uses plain http, which is allowed only for loopback addresses; use https",
            ));
        }
        other => return Err(invalid(&format!("has scheme {other:?}; use https"))),
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_https_or_loopback_http() {
        for ok in [
            "https://hub.example.com",
            "https://proxy:8443/iothub/",
            "http://127.0.0.1:8080",
            "http://127.9.0.1",
            "http://[::1]:1",
            "http://localhost:9",
        ] {
            assert!(validate_endpoint(ok).is_ok(), "{ok}");
        }
        assert_eq!(
            validate_endpoint("https://proxy:8443/iothub/").unwrap(),
            "https://proxy:8443/iothub"
        );
        for bad in [
            "http://10.0.0.1",
            "http://hub.azure-devices.net",
            "ftp://x",
            "hub.azure-devices.net",
            "https://x/?a=1",
            "https://u:p@x",
        ] {
            let error = validate_endpoint(bad).unwrap_err();
            assert_eq!(error.kind(), &ErrorKind::InvalidConfiguration, "{bad}");
        }
    }
}
