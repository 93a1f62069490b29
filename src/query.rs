//! Listings: jobs (`GET /jobs/v2/query`) and a job's rows per device (`POST /devices/query`),
//! their filters, fetching one page, and the stream that follows the pages.
//!
//! The service pages both alike: a JSON array per page, the page size asked for in
//! `x-ms-max-item-count`, the next page's token in the `x-ms-continuation` response header and
//! sent back in the same request header (spec/README.md, deviations 2 and 5).

use std::{
    collections::{HashSet, VecDeque},
    hash::{BuildHasher as _, RandomState},
    sync::Arc,
};

use futures_core::Stream;
use progenitor_client::ResponseValue;
use serde_json::{Map, Value};

use crate::{
    API_VERSION, Error, ErrorKind,
    call::Caller,
    generated::types::QuerySpecification,
    models::{DeviceJob, DeviceJobStatus, JobResponse, JobStatus, JobType},
    retry::Replay,
    validate,
};

/// The header that carries the next page's token, both ways.
const CONTINUATION: &str = "x-ms-continuation";

/// After this many empty pages in a row, each naming yet another page, a listing stops with
/// an error: a service that pages like that would never finish.
pub const MAX_EMPTY_PAGES_IN_A_ROW: u32 = 20;

/// Which jobs [`JobsClient::query_jobs`](crate::JobsClient::query_jobs) lists. Start from
/// `JobQuery::default()` (every job).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobQuery {
    job_type: Option<JobType>,
    status: Option<JobStatus>,
    page_size: Option<u32>,
}

impl JobQuery {
    /// Only jobs of this type.
    pub fn with_type(mut self, job_type: JobType) -> Self {
        self.job_type = Some(job_type);
        self
    }

    /// Only jobs in this state.
    pub fn with_status(mut self, status: JobStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// How many jobs to ask for per page (the service may answer with fewer).
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = Some(page_size);
        self
    }
}

/// One item of a job query.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum QueriedJob {
    /// An item that reads as a job.
    Job(Box<JobResponse>),
    /// An item of a shape the model cannot read, kept as the service sent it.
    Unrecognized(Value),
}

impl QueriedJob {
    fn read(item: Map<String, Value>) -> Self {
        read_item(item).map_or_else(Self::Unrecognized, |job| Self::Job(Box::new(job)))
    }
}

/// `item` read as a `T`, or handed back as the service sent it when it is not one: an
/// item of an unexpected shape is data, not an error that ends the stream.
fn read_item<T: serde::de::DeserializeOwned>(item: Map<String, Value>) -> Result<T, Value> {
    let item = Value::Object(item);
    // Read from a reference: the item is kept only when it is not a `T`.
    T::deserialize(&item).map_err(|error| {
        tracing::debug!(%error, "a query item of another shape; passed on as it is");
        item
    })
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
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum QueriedDeviceJob {
    /// A row that reads as a device job.
    DeviceJob(Box<DeviceJob>),
    /// A row of a shape the model cannot read, kept as the service sent it.
    Unrecognized(Value),
}

impl QueriedDeviceJob {
    fn read(item: Map<String, Value>) -> Self {
        read_item(item).map_or_else(Self::Unrecognized, |row| Self::DeviceJob(Box::new(row)))
    }
}

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
pub(crate) fn device_jobs(
    caller: Arc<Caller>,
    job_id: &str,
    filter: DeviceJobQuery,
) -> impl Stream<Item = Result<QueriedDeviceJob, Error>> + Send + 'static {
    use futures_util::StreamExt as _;
    let query = match device_job_query(job_id, &filter) {
        Ok(text) => Arc::new(QuerySpecification {
            query: Some(text),
            ..Default::default()
        }),
        Err(refused) => {
            return futures_util::stream::once(std::future::ready(Err(refused))).left_stream();
        }
    };
    let page_size = filter.page_size.map(|size| size.to_string());
    pages(
        move |token| {
            let (caller, query, page_size) = (caller.clone(), query.clone(), page_size.clone());
            async move {
                device_jobs_page(&caller, &query, token.as_deref(), page_size.as_deref()).await
            }
        },
        QueriedDeviceJob::read,
    )
    .right_stream()
}

async fn device_jobs_page(
    caller: &Caller,
    query: &QuerySpecification,
    continuation: Option<&str>,
    page_size: Option<&str>,
) -> Result<Page, Error> {
    let page = caller
        .call("query_device_jobs", "", Replay::Always, |client| {
            client.query_devices(API_VERSION, continuation, page_size, query)
        })
        .await?;
    Ok(Page::from(page))
}

/// One page of a listing: its items and the token for the next page, if there is one.
pub(crate) struct Page {
    pub items: Vec<Map<String, Value>>,
    pub next: Option<String>,
}

impl From<ResponseValue<Vec<Map<String, Value>>>> for Page {
    /// The answer's items, and the next page's token if it names one.
    fn from(answer: ResponseValue<Vec<Map<String, Value>>>) -> Self {
        let next = answer
            .headers()
            .get(CONTINUATION)
            .and_then(|v| v.to_str().ok())
            .filter(|token| !token.is_empty())
            .map(str::to_owned);
        Self {
            items: answer.into_inner(),
            next,
        }
    }
}

/// Every job matching `filter`, following the service's pages.
pub(crate) fn jobs(
    caller: Arc<Caller>,
    filter: JobQuery,
) -> impl Stream<Item = Result<QueriedJob, Error>> + Send + 'static {
    let page_size = filter.page_size.map(|size| size.to_string());
    let filter = Arc::new(filter);
    pages(
        move |token| {
            let (caller, filter, page_size) = (caller.clone(), filter.clone(), page_size.clone());
            async move { jobs_page(&caller, &filter, token.as_deref(), page_size.as_deref()).await }
        },
        QueriedJob::read,
    )
}

async fn jobs_page(
    caller: &Caller,
    filter: &JobQuery,
    continuation: Option<&str>,
    page_size: Option<&str>,
) -> Result<Page, Error> {
    let (status, kind) = (
        filter.status.as_ref().map(|s| s.as_str()),
        filter.job_type.as_ref().map(|t| t.as_str()),
    );
    let page = caller
        .call("query_jobs", "", Replay::Always, |client| {
            client.query_jobs(API_VERSION, status, kind, continuation, page_size)
        })
        .await?;
    Ok(Page::from(page))
}

/// Where a listing is: items left from the last page, the next page to ask for, and what
/// tells a listing that would never end.
struct Pages<F, T> {
    fetch: F,
    read: fn(Map<String, Value>) -> T,
    items: VecDeque<Map<String, Value>>,
    /// `Some(None)`: the first page; `Some(Some(token))`: a later one; `None`: no more.
    next: Option<Option<String>>,
    /// Hashes of the tokens handed out so far: a token handed out twice means a loop.
    tokens: HashSet<u64>,
    hasher: RandomState,
    empty_in_a_row: u32,
    /// Ends the listing once the items before it are passed on.
    failure: Option<Error>,
}

/// The items of every page `fetch` returns, read by `read`, until a page names no next one.
/// A failed page ends the stream with its error; so does a token handed out twice or a run
/// of [`MAX_EMPTY_PAGES_IN_A_ROW`] empty pages, so the stream always ends.
pub(crate) fn pages<F, Fut, T>(
    fetch: F,
    read: fn(Map<String, Value>) -> T,
) -> impl Stream<Item = Result<T, Error>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page, Error>>,
{
    let start = Pages {
        fetch,
        read,
        items: VecDeque::new(),
        next: Some(None),
        tokens: HashSet::new(),
        hasher: RandomState::new(),
        empty_in_a_row: 0,
        failure: None,
    };
    futures_util::stream::unfold(start, |mut pages| async move {
        loop {
            if let Some(item) = pages.items.pop_front() {
                return Some((Ok((pages.read)(item)), pages));
            }
            if let Some(failure) = pages.failure.take() {
                return Some((Err(failure), pages));
            }
            let token = pages.next.take()?;
            match (pages.fetch)(token).await {
                Ok(page) => pages.take(page),
                Err(error) => return Some((Err(error), pages)),
            }
        }
    })
}

impl<F, T> Pages<F, T> {
    fn take(&mut self, page: Page) {
        self.empty_in_a_row = if page.items.is_empty() {
            self.empty_in_a_row + 1
        } else {
            0
        };
        self.items.extend(page.items);
        let Some(token) = page.next else { return };
        let endless = if !self.tokens.insert(self.hasher.hash_one(&token)) {
            format!(
                "the service handed out a continuation token it had already given (after {} pages)",
                self.tokens.len() + 1
            )
        } else if self.empty_in_a_row >= MAX_EMPTY_PAGES_IN_A_ROW {
            format!(
                "the service sent {MAX_EMPTY_PAGES_IN_A_ROW} empty pages in a row, each naming another"
            )
        } else {
            self.next = Some(Some(token));
            return;
        };
        self.failure = Some(Error::new(
            ErrorKind::InvalidResponse,
            format!("{endless}; the listing was stopped because it would never end"),
        ));
    }
}
