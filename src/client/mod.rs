//! The public client: how it is built (with its options, `options`) and what every service area
//! shares. The operations are in the areas' own `impl JobsClient` blocks (`areas/`) and the
//! fleet features' (`fleet/`).
//!
//! One client for every area, rather than one per area: they share the hub, the credential
//! and its token cache, the connection pool, the options and the call path, so a second
//! client type would only repeat construction and make a user build two for one hub. A new area
//! adds its methods in its own file.

pub(crate) mod options;

use std::{fmt, sync::Arc};

use reqwest::header::HeaderValue;

use crate::{
    Error, ErrorKind, JobsClientOptions, WaitOptions,
    auth::{ConnectionString, Credential},
    call::Caller,
    call::validate::{self, HostName},
    generated::{self, HookSettings},
};

/// A client for an IoT Hub's jobs API: scheduled jobs, import and export jobs, and a job's
/// rows per device.
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
    /// How creates wait for a free job slot, if they do: the areas' concern, kept out of the
    /// call path.
    job_slot_wait: Option<WaitOptions>,
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
            job_slot_wait: options.job_slot_wait,
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

    /// The call path every operation goes through.
    pub(crate) fn caller(&self) -> &Arc<Caller> {
        &self.caller
    }

    /// How creates wait for a free job slot, if they do
    /// ([`JobsClientOptions::with_job_slot_wait`]).
    pub(crate) fn job_slot_wait(&self) -> Option<&WaitOptions> {
        self.job_slot_wait.as_ref()
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
