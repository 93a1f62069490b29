//! How a [`JobsClient`](crate::JobsClient) is set up: where it sends requests, its timeouts,
//! retries and limits, with their defaults. Checked when the client is built.

use std::{fmt, time::Duration};

use crate::{
    Error, ErrorKind, RetryOptions, WaitOptions, auth::SasKeyCredential, call::redact::redacted_url,
};

/// Settings for a [`JobsClient`](crate::JobsClient). Start from `JobsClientOptions::default()` and change what you
/// need with the `with_*` methods. Its `Debug` output never shows an endpoint's user info or
/// query.
#[derive(Clone)]
pub struct JobsClientOptions {
    pub(crate) endpoint: Option<String>,
    pub(crate) connect_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) sas_token_lifetime: Duration,
    pub(crate) retry: RetryOptions,
    pub(crate) max_response_bytes: usize,
    pub(crate) job_slot_wait: Option<WaitOptions>,
}

impl Default for JobsClientOptions {
    fn default() -> Self {
        Self {
            endpoint: None,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            sas_token_lifetime: SasKeyCredential::DEFAULT_TOKEN_LIFETIME,
            retry: RetryOptions::default(),
            max_response_bytes: Self::DEFAULT_MAX_RESPONSE_BYTES,
            job_slot_wait: None,
        }
    }
}

impl JobsClientOptions {
    /// How long to wait for a TCP + TLS connection unless configured otherwise.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
    /// How long one attempt may take, from asking the credential for a token to the last byte
    /// of the answer, unless configured otherwise.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
    /// The largest answer read unless configured otherwise: a job is a few kilobytes.
    pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

    /// Sends requests to `base_url` instead of `https://<host name>`: a local hub, a
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

    /// How long to wait for a connection (default [`Self::DEFAULT_CONNECT_TIMEOUT`]; not zero).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one attempt may take, the credential's token and the answer included (default
    /// [`Self::DEFAULT_REQUEST_TIMEOUT`]).
    /// The whole call, retries included, is bounded by [`RetryOptions::with_total_timeout`].
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// How transient failures are retried (default [`RetryOptions::default`]: up to
    /// [`RetryOptions::DEFAULT_MAX_ATTEMPTS`] attempts within
    /// [`RetryOptions::DEFAULT_TOTAL_TIMEOUT`]).
    pub fn with_retry(mut self, retry: RetryOptions) -> Self {
        self.retry = retry;
        self
    }

    /// The largest answer read (default [`Self::DEFAULT_MAX_RESPONSE_BYTES`]); a larger one fails
    /// with [`ErrorKind::ResponseTooLarge`](crate::ErrorKind::ResponseTooLarge) without being read in full. Zero is refused when
    /// the client is built.
    pub fn with_max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = limit;
        self
    }

    /// Makes job creates — [`schedule_twin_update`](crate::JobsClient::schedule_twin_update),
    /// [`schedule_direct_method`](crate::JobsClient::schedule_direct_method),
    /// [`export_devices`](crate::JobsClient::export_devices) and
    /// [`import_devices`](crate::JobsClient::import_devices) — wait while the hub runs as many
    /// jobs as it allows ([`Error::is_job_limit_reached`]): the create is sent again, with
    /// `wait`'s growing pauses, until it is accepted or `wait`'s timeout passes; then it fails
    /// with the service's refusal. Each pause is logged (`tracing`, level `INFO`). Only those two
    /// refusals are followed by another create: any other failure, and a create that got no
    /// answer (it may have taken effect), ends the call as it is. Each create is a call of its
    /// own, with its own retries ([`RetryOptions`]: a refused create is retried a few times
    /// within seconds); the wait goes on after them, and a create in flight when the bound
    /// passes is finished, not abandoned.
    ///
    /// By default a create does not wait, and fails at once with the refusal: a slot frees when
    /// a running job ends, which takes minutes to hours, and only the caller knows how long it
    /// can wait. ([`JobsClient::rollout`](crate::JobsClient::rollout) waits by default, with
    /// its own bound.)
    pub fn with_job_slot_wait(mut self, wait: WaitOptions) -> Self {
        self.job_slot_wait = Some(wait);
        self
    }

    /// How long the SAS tokens minted from a connection string's key are valid (default
    /// [`SasKeyCredential::DEFAULT_TOKEN_LIFETIME`]). Applies to
    /// [`JobsClient::from_connection_string_with_options`](crate::JobsClient::from_connection_string_with_options).
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
            .field("job_slot_wait", &self.job_slot_wait)
            .finish()
    }
}

impl JobsClientOptions {
    /// Refuses settings with which no call could succeed.
    pub(crate) fn check(&self) -> Result<(), Error> {
        for (setting, zero) in [
            (
                "the connect timeout (JobsClientOptions::with_connect_timeout)",
                self.connect_timeout.is_zero(),
            ),
            (
                "the request timeout (JobsClientOptions::with_request_timeout)",
                self.request_timeout.is_zero(),
            ),
            (
                "the total timeout (RetryOptions::with_total_timeout)",
                self.retry.total_timeout().is_zero(),
            ),
            (
                "the response size limit (JobsClientOptions::with_max_response_bytes)",
                self.max_response_bytes == 0,
            ),
        ] {
            if zero {
                return Err(Error::new(
                    ErrorKind::InvalidConfiguration,
                    format!("{setting} must not be zero: no call could succeed"),
                ));
            }
        }
        Ok(())
    }
}
