//! Listing jobs: the query filter and the stream that follows the service's pages.
//!
//! The service pages the jobs query like the twin query: a JSON array per page, the page size
//! asked for in `x-ms-max-item-count`, the next page's token in the `x-ms-continuation`
//! response header and sent back in the same request header (spec/README.md, deviation 2).

use std::collections::VecDeque;

use futures_core::Stream;
use serde::Deserialize as _;
use serde_json::{Map, Value};

use crate::{
    Error, JobsClient,
    models::{JobResponse, JobStatus, JobType},
};

/// The header that carries the next page's token, both ways.
pub(crate) const CONTINUATION: &str = "x-ms-continuation";

/// Which jobs [`JobsClient::query_jobs`] lists. Start from `JobQuery::default()` (every job).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct JobQuery {
    pub(crate) job_type: Option<JobType>,
    pub(crate) status: Option<JobStatus>,
    pub(crate) page_size: Option<u32>,
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
        let item = Value::Object(item);
        // Read from a reference: the item is kept only when it is not a job.
        match JobResponse::deserialize(&item) {
            Ok(job) => Self::Job(Box::new(job)),
            Err(error) => {
                tracing::debug!(%error, "a query item is not a job; passed on as it is");
                Self::Unrecognized(item)
            }
        }
    }
}

/// Where the stream is: items left from the last page, and the next page to ask for.
struct Pages<'a> {
    client: &'a JobsClient,
    filter: JobQuery,
    items: VecDeque<Map<String, Value>>,
    /// `Some(None)`: the first page; `Some(Some(token))`: a later one; `None`: no more.
    next: Option<Option<String>>,
}

pub(crate) fn pages(
    client: &JobsClient,
    filter: JobQuery,
) -> impl Stream<Item = Result<QueriedJob, Error>> + Send + '_ {
    let start = Pages {
        client,
        filter,
        items: VecDeque::new(),
        next: Some(None),
    };
    futures_util::stream::unfold(start, |mut pages| async move {
        loop {
            if let Some(item) = pages.items.pop_front() {
                return Some((Ok(QueriedJob::read(item)), pages));
            }
            let token = pages.next.take()?;
            match pages
                .client
                .query_page(&pages.filter, token.as_deref())
                .await
            {
                Ok((items, next)) => {
                    pages.items.extend(items);
                    pages.next = next.map(Some);
                }
                Err(error) => return Some((Err(error), pages)),
            }
        }
    })
}
