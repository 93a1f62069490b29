//! The public client.

use std::{fmt, net::IpAddr, sync::Arc, time::Duration};

use reqwest::header::HeaderValue;

use crate::{
    API_VERSION, Error, ErrorKind, RetryOptions,
    auth::{ConnectionString, Credential, DEFAULT_SAS_TOKEN_LIFETIME},
    generated,
    job_id::validate_job_id,
    models::JobResponse,
    transport::{Pipeline, Transport},
};

/// How long to wait for a TCP + TLS connection unless configured otherwise.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one attempt may take, from sending to the last byte of the answer, unless
/// configured otherwise.
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

    /// How long one attempt may take, answer included (default [`DEFAULT_REQUEST_TIMEOUT`]).
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
    /// (normally with status `cancelled`).
    ///
    /// Only a job that has not started can be cancelled: a running job fails with
    /// [`Error::is_operation_not_allowed`], an unknown id with [`Error::is_not_found`]. The job
    /// id is checked first (1–64 US-ASCII letters, digits and `-`); an invalid one fails with
    /// [`ErrorKind::InvalidJobId`] and nothing is sent.
    pub async fn cancel_job(&self, job_id: &str) -> Result<JobResponse, Error> {
        validate_job_id(job_id)?;
        self.transport
            .call("cancel_job", job_id, |client| {
                client.cancel_job(job_id, API_VERSION)
            })
            .await
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
