//! A scheduled job's rows per device (`SELECT * FROM devices.jobs …` through
//! `POST /devices/query`): which devices a job reached, and with what outcome.

use std::sync::Arc;

use futures_core::Stream;

use crate::{
    Error, JobsClient,
    areas::devices,
    call::Caller,
    call::paging::Queried,
    call::validate,
    models::{DeviceJob, DeviceJobStatus},
};

impl JobsClient {
    /// Each device's row of job `job_id` (a scheduled job): which devices failed, and why.
    ///
    /// The rows come from the query `SELECT * FROM devices.jobs WHERE devices.jobs.jobId =
    /// '<job_id>'` (and the status in `filter`), built here from the checked job id, so nothing
    /// can be injected through it; a job id or status that cannot go into the query is the one
    /// item, and nothing is sent. Pages are followed like [`query_jobs`](Self::query_jobs)';
    /// a row of an unexpected shape arrives as [`Queried::Unrecognized`].
    ///
    /// ```no_run
    /// # async fn run(client: iothub_jobs::JobsClient) -> Result<(), iothub_jobs::Error> {
    /// use futures_util::StreamExt as _;
    /// use iothub_jobs::{DeviceJobQuery, Queried, models::DeviceJobStatus};
    ///
    /// let failed = DeviceJobQuery::default().with_status(DeviceJobStatus::Failed);
    /// let mut rows = std::pin::pin!(client.query_device_jobs("nightly-reboot", failed));
    /// while let Some(row) = rows.next().await {
    ///     if let Queried::Item(row) = row? {
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
        device_jobs(self.caller().clone(), job_id, filter)
    }
}

/// Which rows of a job [`JobsClient::query_device_jobs`](crate::JobsClient::query_device_jobs)
/// lists. Start from `DeviceJobQuery::default()` (every device's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceJobQuery {
    status: Option<DeviceJobStatus>,
    page_size: Option<u32>,
}

impl DeviceJobQuery {
    /// Only the devices where the job is in this state (such as
    /// [`DeviceJobStatus::Failed`]).
    pub fn with_status(mut self, status: DeviceJobStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// How many rows to ask for per page (the service may answer with fewer).
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = Some(page_size);
        self
    }
}

/// One row of a device-job query.
pub type QueriedDeviceJob = Queried<DeviceJob>;

/// `SELECT * FROM devices.jobs WHERE devices.jobs.jobId = '<job_id>' [AND …status = '…']`,
/// built only from checked parts: the job id by the job-id rule, the status as letters only
/// (an unknown status is the caller's text), so nothing can be injected through them.
fn device_job_query(job_id: &str, filter: &DeviceJobQuery) -> Result<String, Error> {
    validate::job_id(job_id)?;
    let mut query = format!("SELECT * FROM devices.jobs WHERE devices.jobs.jobId = '{job_id}'");
    if let Some(status) = &filter.status {
        validate::query_word("the status filter", status.as_str())?;
        query.push_str(&format!(" AND devices.jobs.status = '{status}'"));
    }
    Ok(query)
}

/// Every row of job `job_id` matching `filter`, following the service's pages; a job id or
/// status that cannot be sent is the one item, and nothing is sent.
fn device_jobs(
    caller: Arc<Caller>,
    job_id: &str,
    filter: DeviceJobQuery,
) -> impl Stream<Item = Result<QueriedDeviceJob, Error>> + Send + 'static {
    let query = device_job_query(job_id, &filter);
    devices::hub_query(
        caller,
        "query_device_jobs",
        query,
        filter.page_size,
        Queried::read,
    )
}
