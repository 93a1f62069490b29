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
//! Every setting's default is an associated constant of the type it configures, beside its
//! setter: [`RetryOptions::DEFAULT_MAX_ATTEMPTS`], [`JobsClientOptions::DEFAULT_REQUEST_TIMEOUT`],
//! [`WaitOptions::DEFAULT_TIMEOUT`], …; only limits that belong to no one type are at the crate
//! root ([`MAX_JOB_ID_LEN`], [`MAX_EMPTY_PAGES_IN_A_ROW`]).
//!
//! ## Cargo features
//! - `entra`: `auth::EntraCredential`, Microsoft Entra ID tokens through `azure_core`.
#![warn(missing_docs)]

// The layers, imports running one way: the fleet features over the service areas over the
// call path (tests/it/layers.rs holds the code to it). The client and models are what all share.
mod areas;
mod call;
mod client;
mod fleet;
#[allow(missing_docs, dead_code, clippy::all)]
mod generated;
pub mod models;
pub mod spec;

pub use areas::{
    condition::{Condition, Field, Literal, MAX_DEVICE_ID_LEN},
    device_jobs::{DeviceJobQuery, QueriedDeviceJob},
    devices::{DeviceGroup, DeviceQuery, QueriedDeviceId, QueriedGroup, QueriedTwin},
    import_export::{ExportJob, ImportJob, StorageAuthentication},
    scheduled_jobs::{DirectMethodJob, JobQuery, QueriedJob, TwinUpdateJob},
    wait::{WaitEnd, WaitFailure, WaitOptions},
};
pub use call::{
    auth,
    error::{Error, ErrorKind, NotFound, ServiceError},
    paging::{MAX_EMPTY_PAGES_IN_A_ROW, Queried},
    retry::RetryOptions,
    validate::MAX_JOB_ID_LEN,
};
pub use client::{JobsClient, options::JobsClientOptions};
pub use fleet::{
    adopt::ConflictingJob,
    convergence::{
        Convergence, ConvergenceCounts, ConvergenceEnd, ConvergenceEvent, ConvergenceReport,
        ConvergenceWait,
    },
    outcome::{DeviceCounts, FailedDevice, JobOutcome, MethodFailure, OutcomeOptions},
    rerun::RerunOptions,
    rollout::{
        HaltReason, Rollout, RolloutEvent, RolloutGate, RolloutHalt, RolloutReport, WaveReport,
    },
};
pub use generated::API_VERSION;
pub use models::JobResponse;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
