//! # iothub-jobs
//!
//! A client for the [Azure IoT Hub](https://learn.microsoft.com/azure/iot-hub/) scheduled-jobs
//! service API, generated from a checked-in OpenAPI description (`spec/`) and wrapped in a small
//! hand-written layer for authentication, errors and stable names.
//!
//! ```no_run
//! # async fn run() -> Result<(), iothub_jobs::Error> {
//! use iothub_jobs::JobsClient;
//!
//! let client = JobsClient::from_connection_string(
//!     "HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=…",
//! )?;
//! match client.cancel_job("nightly-reboot").await {
//!     Ok(job) => println!("now {:?}", job.status),
//!     Err(e) if e.is_not_found() => println!("no such job"),
//!     Err(e) if e.is_operation_not_allowed() => println!("too late: the job is running"),
//!     Err(e) => return Err(e),
//! }
//! # Ok(()) }
//! ```
//!
//! Requests send `api-version=2021-04-12` ([`API_VERSION`]), taken from `spec/` when the crate
//! is built.
//!
//! ## Cargo features
//! - `simulator`: `simulator::LocalHub`, an in-process HTTP server that answers like IoT Hub,
//!   for examples and tests.
//! - `entra`: `auth::EntraCredential`, Microsoft Entra ID tokens through `azure_core`.
#![warn(missing_docs)]

pub mod auth;
mod client;
mod error;
#[allow(missing_docs, dead_code, clippy::all)]
mod generated;
mod job_id;
mod jobs;
pub mod models;
mod query;
mod retry;
#[cfg(feature = "simulator")]
pub mod simulator;
pub mod spec;
mod transport;

pub use client::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_REQUEST_TIMEOUT, JobsClient,
    JobsClientOptions, MIN_POLL_INTERVAL, WaitOptions,
};
pub use error::{Error, ErrorKind, ServiceError};
pub use generated::API_VERSION;
pub use job_id::MAX_JOB_ID_LEN;
pub use jobs::{DirectMethodJob, MAX_METHOD_PAYLOAD_BYTES, TwinUpdateJob};
pub use models::JobResponse;
pub use query::{JobQuery, MAX_EMPTY_PAGES_IN_A_ROW, QueriedJob};
pub use retry::{
    DEFAULT_INITIAL_DELAY, DEFAULT_MAX_ATTEMPTS, DEFAULT_MAX_DELAY, DEFAULT_TOTAL_TIMEOUT,
    RetryOptions,
};

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
