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
/// need with the `with_*` methods. Its `Debug` output never shows an endpoint's user info or
/// query.
#[derive(Clone)]
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
    /// reverse proxy or a private endpoint. Tokens are still scoped to the hub's host name.
    /// Must be `https://`, or `http://` to a loopback address (`127.0.0.0/8`, `[::1]`,
    /// `localhost`), without user info, query or fragment.
    ///
    /// A loopback endpoint is always reached directly: the proxy settings of the environment
    /// (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`) are ignored for it, so a token meant for this
    /// machine never travels to a proxy. Other endpoints use those settings as usual.
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
    /// with [`ErrorKind::ResponseTooLarge`] without being read in full. Zero is refused when
    /// the client is built.
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

impl fmt::Debug for JobsClientOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobsClientOptions")
            .field("endpoint", &self.endpoint.as_deref().map(redacted_url))
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("sas_token_lifetime", &self.sas_token_lifetime)
            .field("retry", &self.retry)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish()
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
        let endpoint = match &options.endpoint {
            Some(endpoint) => validate_endpoint(endpoint)?,
            None => validate_endpoint(&format!("https://{host_name}"))?,
        };
        for (setting, zero) in [
            (
                "the connect timeout (JobsClientOptions::with_connect_timeout)",
                options.connect_timeout.is_zero(),
            ),
            (
                "the request timeout (JobsClientOptions::with_request_timeout)",
                options.request_timeout.is_zero(),
            ),
            (
                "the total timeout (RetryOptions::with_total_timeout)",
                options.retry.total_timeout().is_zero(),
            ),
            (
                "the response size limit (JobsClientOptions::with_max_response_bytes)",
                options.max_response_bytes == 0,
            ),
        ] {
            if zero {
                return Err(Error::new(
                    ErrorKind::InvalidConfiguration,
                    format!("{setting} must not be zero: no call could succeed"),
                ));
            }
        }
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
        let pipeline = Pipeline {
            user_agent: HeaderValue::from_static(concat!(
                "iothub-jobs/",
                env!("CARGO_PKG_VERSION"),
                " (Rust)"
            )),
            max_response_bytes: options.max_response_bytes,
        };
        let transport = Transport {
            generated: generated::Client::new_with_client(&endpoint.base_url, http, pipeline),
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
    ) -> impl Stream<Item = Result<QueriedJob, Error>> + Send + 'static {
        query::jobs(self.transport.clone(), filter)
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
        validate_job_id(job_id)?;
        let deadline = crate::retry::deadline(Instant::now(), options.timeout);
        let mut last_seen = None;
        let waited = tokio::time::timeout_at(deadline.into(), async {
            let job = match self.cancel_job(job_id).await {
                Ok(job) => job,
                // Too late: say what became of the job instead.
                Err(error) if error.is_operation_not_allowed() => self.get_job(job_id).await?,
                Err(error) => return Err(error),
            };
            let job = last_seen.insert(job);
            let mut pause = options.first_pause();
            loop {
                match job.status {
                    Some(JobStatus::Cancelled) => return Ok(Settled::Cancelled),
                    Some(JobStatus::Running | JobStatus::Completed | JobStatus::Failed) => {
                        return Ok(Settled::TooLate);
                    }
                    _ => {}
                }
                // A pause that would end past the deadline cannot be followed by a poll.
                if pause >= deadline.saturating_duration_since(Instant::now()) {
                    return Ok(Settled::OutOfTime);
                }
                tokio::time::sleep(pause).await;
                pause = options.next_pause(pause);
                *job = self.get_job(job_id).await?;
            }
        })
        .await;
        match (waited, last_seen) {
            (Ok(Err(error)), _) => Err(error),
            (Ok(Ok(Settled::Cancelled)), Some(job)) => Ok(job),
            (Ok(Ok(Settled::TooLate)), Some(job)) => {
                let status = job.status.as_ref().map_or("", |s| s.as_str()).to_owned();
                Err(Error::new(
                    ErrorKind::NotCancelled,
                    format!("job {job_id:?} was not cancelled: it is {status}, too late to cancel"),
                )
                .with_job(job))
            }
            // Out of time, polling or sleeping.
            (_, job) => {
                let error = Error::new(
                    ErrorKind::WaitTimedOut,
                    format!(
                        "job {job_id:?} did not read cancelled within {:?} (WaitOptions::with_timeout)",
                        options.timeout
                    ),
                );
                Err(match job {
                    Some(job) => error.with_job(job),
                    None => error,
                })
            }
        }
    }
}

/// How a wait ended, short of an error.
enum Settled {
    Cancelled,
    TooLate,
    OutOfTime,
}

/// The shortest pause between polls, whatever [`WaitOptions`] say: a zero interval would
/// flood the service.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(10);

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
    /// [`with_max_poll_interval`](Self::with_max_poll_interval) (default 5 s). Pauses are never
    /// shorter than [`MIN_POLL_INTERVAL`].
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The longest pause between polls (default 5 s).
    pub fn with_max_poll_interval(mut self, interval: Duration) -> Self {
        self.max_poll_interval = interval;
        self
    }

    /// How long to wait in all, the requests included (default 60 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn first_pause(&self) -> Duration {
        self.poll_interval.max(MIN_POLL_INTERVAL)
    }

    fn next_pause(&self, pause: Duration) -> Duration {
        pause
            .saturating_mul(2)
            .min(self.max_poll_interval)
            .max(MIN_POLL_INTERVAL)
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

/// Where a client sends its requests.
#[derive(Debug)]
struct Endpoint {
    /// Without a trailing `/`.
    base_url: String,
    /// On this machine: plain HTTP is allowed, and no proxy is used.
    loopback: bool,
}

/// `https://…`, or `http://` to loopback only, without user info, query or fragment. Messages
/// show the URL only as [`redacted_url`] does: a password or SAS in it must not reach logs.
fn validate_endpoint(endpoint: &str) -> Result<Endpoint, Error> {
    let invalid = |problem: &str| {
        Error::new(
            ErrorKind::InvalidConfiguration,
            format!("endpoint {} {problem}", redacted_url(endpoint)),
        )
    };
    // The parser's messages name the problem, never the input.
    let url = reqwest::Url::parse(endpoint).map_err(|e| invalid(&format!("is not a URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "carries user info, which is never sent: the credential authenticates",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("must not carry a query or fragment"));
    }
    let loopback = is_loopback(&url);
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(invalid(
                "uses plain http, which is allowed only for loopback addresses; use https",
            ));
        }
        other => return Err(invalid(&format!("has scheme {other:?}; use https"))),
    }
    Ok(Endpoint {
        base_url: url.as_str().trim_end_matches('/').to_owned(),
        loopback,
    })
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// `url` as messages and `Debug` show it: scheme, host, port and path, with user info, query
/// and fragment replaced by `<redacted>` (they may hold a password or a SAS).
pub(crate) fn redacted_url(url: &str) -> String {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return format!("<not a URL, {} characters>", url.chars().count());
    };
    let user_info = if parsed.username().is_empty() && parsed.password().is_none() {
        ""
    } else {
        "<redacted>@"
    };
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let mut shown = format!(
        "{}://{user_info}{}{port}{}",
        parsed.scheme(),
        parsed.host_str().unwrap_or_default(),
        parsed.path()
    );
    if parsed.query().is_some() {
        shown.push_str("?<redacted>");
    }
    if parsed.fragment().is_some() {
        shown.push_str("#<redacted>");
    }
    shown
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
            validate_endpoint("https://proxy:8443/iothub/")
                .unwrap()
                .base_url,
            "https://proxy:8443/iothub"
        );
        assert!(validate_endpoint("http://127.9.0.1").unwrap().loopback);
        assert!(validate_endpoint("https://localhost").unwrap().loopback);
        assert!(
            !validate_endpoint("https://hub.example.com")
                .unwrap()
                .loopback
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

    proptest::proptest! {
        /// Whatever surrounds a secret in an endpoint, neither the refusal nor `Debug` shows it.
        #[test]
        fn no_endpoint_leaks_its_user_info_or_query(
            scheme in "(https|http|ftp|HTTPS)",
            user in "[a-zA-Z0-9._~-]{0,8}",
            secret in "[a-zA-Z0-9]{12,20}",
            host in "(127\\.0\\.0\\.1|localhost|hub\\.example\\.com|\\[::1\\]|10\\.0\\.0\\.1|999\\.1\\.1\\.1|)",
            port in proptest::option::of(0u32..70_000),
            path in "(/[a-z]{0,6}){0,2}",
            place in 0..4,
        ) {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let endpoint = match place {
                0 => format!("{scheme}://{user}:{secret}@{host}{port}{path}"),
                1 => format!("{scheme}://{host}{port}{path}?sig={secret}"),
                2 => format!("{scheme}://{host}{port}{path}#{secret}"),
                _ => format!("{scheme}:/{user}:{secret}@@{host}{port}{path}?x={secret}"),
            };
            let options = JobsClientOptions::default().with_endpoint(&endpoint);
            let shown = format!("{options:?}");
            proptest::prop_assert!(!shown.contains(&secret), "{}", shown);
            let error = build("hub.example.com", options).unwrap_err();
            let shown = format!("{error} {error:?}");
            proptest::prop_assert!(!shown.contains(&secret), "{} -> {}", endpoint, shown);
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
