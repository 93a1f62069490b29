//! The public client.

use std::{
    fmt,
    net::IpAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use progenitor_client::Error as GeneratedError;
use reqwest::header::HeaderValue;
use tracing::Instrument as _;

use crate::{
    API_VERSION, Error, ErrorKind,
    auth::{
        ConnectionString, Credential, DEFAULT_SAS_TOKEN_LIFETIME, SasKeyCredential,
        SasTokenCredential, SharedAccess,
    },
    error::parse_service_error,
    generated,
    job_id::validate_job_id,
    models::JobResponse,
    transport::{CALL, CallContext, Pipeline},
};

/// How long to wait for a TCP + TLS connection unless configured otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one request may take, from sending to the last byte of the answer, unless
/// configured otherwise.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings for a [`JobsClient`]. Start from `JobsClientOptions::default()` and change what you
/// need with the `with_*` methods.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct JobsClientOptions {
    endpoint: Option<String>,
    connect_timeout: Duration,
    request_timeout: Duration,
    sas_token_lifetime: Duration,
}

impl Default for JobsClientOptions {
    fn default() -> Self {
        Self {
            endpoint: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            sas_token_lifetime: DEFAULT_SAS_TOKEN_LIFETIME,
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

    /// How long one request may take in all (default [`DEFAULT_REQUEST_TIMEOUT`]).
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
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
    generated: generated::Client,
    credential: Arc<dyn Credential>,
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
        let credential: Arc<dyn Credential> = match parsed.access {
            SharedAccess::Key { key_name, key } => Arc::new(
                SasKeyCredential::from_key_bytes(&parsed.host_name, &key_name, key)?
                    .with_token_lifetime(options.sas_token_lifetime)?,
            ),
            SharedAccess::Signature(token) => Arc::new(SasTokenCredential::new(&token)?),
        };
        Self::new(&parsed.host_name, credential, options)
    }

    /// A client for the hub at `host_name` (such as `myhub.azure-devices.net`) that
    /// authenticates with `credential`.
    pub fn new(
        host_name: &str,
        credential: Arc<dyn Credential>,
        options: JobsClientOptions,
    ) -> Result<Self, Error> {
        crate::auth::validate_host_name(host_name).map_err(|problem| {
            Error::new(
                ErrorKind::InvalidConfiguration,
                format!("host name {problem}"),
            )
        })?;
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
            .timeout(options.request_timeout)
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
        };
        Ok(Self {
            generated: generated::Client::new_with_client(&base_url, http, pipeline),
            credential,
            host_name: host_name.into(),
        })
    }

    /// The hub's host name, to which tokens are scoped.
    pub fn host_name(&self) -> &str {
        &self.host_name
    }

    /// The base URL requests go to.
    pub fn endpoint(&self) -> &str {
        progenitor_client::ClientInfo::baseurl(&self.generated)
    }

    /// Cancels the scheduled job `job_id` and returns it as the service now reports it
    /// (normally with status `cancelled`).
    ///
    /// Only a job that has not started can be cancelled: a running job fails with
    /// [`Error::is_operation_not_allowed`], an unknown id with [`Error::is_not_found`]. The job
    /// id is checked first (1–64 US-ASCII letters, digits and `-`); an invalid one fails with
    /// [`ErrorKind::InvalidJobId`] and nothing is sent.
    pub async fn cancel_job(&self, job_id: &str) -> Result<JobResponse, Error> {
        validate_job_id(job_id)?;
        self.call("cancel_job", job_id, |client| {
            client.cancel_job(job_id, API_VERSION)
        })
        .await
    }

    /// Runs one generated operation with the credential's header and a fresh request id, in a
    /// span, and maps its outcome to our error type. Every operation goes through here.
    async fn call<'a, T, F>(
        &'a self,
        operation: &'static str,
        job_id: &str,
        send: impl FnOnce(&'a generated::Client) -> F,
    ) -> Result<T, Error>
    where
        F: Future<Output = Result<progenitor_client::ResponseValue<T>, GeneratedError<()>>>,
    {
        let request_id = uuid::Uuid::new_v4().to_string();
        let span = tracing::info_span!(
            "iothub_jobs",
            operation,
            job_id,
            api_version = API_VERSION,
            request_id = %request_id,
            status = tracing::field::Empty,
            elapsed_ms = tracing::field::Empty,
        );
        async {
            let started = Instant::now();
            let context = CallContext {
                authorization: self
                    .credential
                    .authorization()
                    .await
                    .map_err(|e| e.with_request_id(&request_id))?,
                request_id: HeaderValue::from_str(&request_id)
                    .expect("a UUID is a valid header value"),
            };
            let result = CALL.scope(context, send(&self.generated)).await;
            let span = tracing::Span::current();
            span.record("elapsed_ms", started.elapsed().as_millis() as u64);
            let outcome = match result {
                Ok(response) => {
                    span.record("status", response.status().as_u16());
                    Ok(response.into_inner())
                }
                Err(error) => {
                    let error = map_error(error).await;
                    if let Some(status) = error.status() {
                        span.record("status", status);
                    }
                    Err(error.with_request_id(&request_id))
                }
            };
            match &outcome {
                Ok(_) => tracing::debug!("call succeeded"),
                Err(error) => tracing::debug!(%error, "call failed"),
            }
            outcome
        }
        .instrument(span)
        .await
    }
}

impl fmt::Debug for JobsClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobsClient")
            .field("host_name", &self.host_name)
            .field("endpoint", &self.endpoint())
            .field("credential", &self.credential)
            .finish()
    }
}

/// Turns what the generated client returned into our error, reading the service's error body.
async fn map_error(error: GeneratedError<()>) -> Error {
    match error {
        GeneratedError::UnexpectedResponse(response) => {
            let status = response.status().as_u16();
            let code = response
                .headers()
                .get("iothub-errorcode")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            match response.bytes().await {
                Ok(body) if response_is_error(status) => {
                    Error::service(parse_service_error(status, code.as_deref(), &body))
                }
                Ok(_) => Error::new(
                    ErrorKind::InvalidResponse,
                    format!("IoT Hub answered {status}, which the API does not describe"),
                ),
                Err(e) => Error::new(
                    ErrorKind::Transport,
                    format!("could not read the {status} answer"),
                )
                .with_source(e),
            }
        }
        GeneratedError::InvalidResponsePayload(_, e) => Error::new(
            ErrorKind::InvalidResponse,
            format!("the answer is not a valid JobResponse: {e}"),
        )
        .with_source(e),
        GeneratedError::CommunicationError(e)
        | GeneratedError::ResponseBodyError(e)
        | GeneratedError::InvalidUpgrade(e) => {
            let what = if e.is_timeout() {
                "the request timed out"
            } else if e.is_connect() {
                "could not connect to the hub"
            } else {
                "the request failed"
            };
            Error::new(ErrorKind::Transport, format!("{what}: {}", without_url(&e)))
                .with_source(e.without_url())
        }
        GeneratedError::ErrorResponse(response) => {
            Error::service(parse_service_error(response.status().as_u16(), None, b""))
        }
        GeneratedError::InvalidRequest(message) | GeneratedError::Custom(message) => Error::new(
            ErrorKind::InvalidConfiguration,
            format!("the request could not be built: {message}"),
        ),
    }
}

fn response_is_error(status: u16) -> bool {
    status >= 300
}

/// reqwest's message without the URL, which the span already records.
fn without_url(error: &reqwest::Error) -> String {
    let mut text = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if text.is_empty() {
        "no details".to_owned()
    } else {
        text
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
