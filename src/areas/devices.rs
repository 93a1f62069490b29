//! Which devices a condition selects, before a job runs: how many, their twins and their ids,
//! through the hub's query (`POST /devices/query`). The same operation answers a job's rows
//! per device (`device_jobs`), through [`hub_query`].
//!
//! The operation's items are free-form JSON in spec/ (deviation 5): each query reads its
//! items as its own shape here, so one item of another shape arrives as data.

use std::sync::Arc;

use futures_core::Stream;
use serde_json::Value;

use crate::{
    API_VERSION, Condition, Error, ErrorKind, JobsClient,
    call::Caller,
    call::paging::{self, Page, Queried},
    call::retry::Replay,
    generated::types::QuerySpecification,
    models::Twin,
};

/// The name the count query gives its one column.
const COUNT_ALIAS: &str = "numberOfDevices";

impl JobsClient {
    /// How many devices `condition` selects (`SELECT COUNT() AS numberOfDevices FROM devices
    /// WHERE …`), in one request: what a job on that condition would reach, before it runs.
    ///
    /// A condition that cannot be sent is an [`ErrorKind::InvalidCondition`], and nothing is
    /// sent; an answer without a count is an [`ErrorKind::InvalidResponse`].
    ///
    /// ```no_run
    /// # async fn run(client: iothub_jobs::JobsClient) -> Result<(), iothub_jobs::Error> {
    /// use iothub_jobs::Field;
    ///
    /// let canary = Field::tag("ring").eq("canary");
    /// println!("{} devices", client.count_devices(canary).await?);
    /// # Ok(()) }
    /// ```
    pub async fn count_devices(&self, condition: impl Into<Condition>) -> Result<u64, Error> {
        let text = query_text(&format!("COUNT() AS {COUNT_ALIAS}"), &condition.into())?;
        let query = QuerySpecification { query: Some(text) };
        let page = fetch_page(self.caller(), "count_devices", &query, None, None).await?;
        let count = page.items.first().and_then(|row| row[COUNT_ALIAS].as_u64());
        count.ok_or_else(|| {
            let first = page.items.first().map(Value::to_string);
            Error::new(
                ErrorKind::InvalidResponse,
                format!(
                    "the count query answered no count: {} items, the first {}",
                    page.items.len(),
                    crate::call::util::bounded(first.as_deref().unwrap_or("absent"), 200)
                ),
            )
        })
    }

    /// The twin of every device `query`'s condition selects (`SELECT * FROM devices WHERE …`),
    /// following the service's pages as [`query_jobs`](Self::query_jobs) does, with the same
    /// guards; an item that does not read as a twin arrives as [`Queried::Unrecognized`].
    /// A condition that cannot be sent is the one item, and nothing is sent.
    ///
    /// ```no_run
    /// # async fn run(client: iothub_jobs::JobsClient) -> Result<(), iothub_jobs::Error> {
    /// use futures_util::StreamExt as _;
    /// use iothub_jobs::{DeviceQuery, Field, Queried};
    ///
    /// let query = DeviceQuery::new(Field::reported("firmware").lt("2.4")).with_page_size(500);
    /// let mut twins = std::pin::pin!(client.query_twins(query));
    /// while let Some(twin) = twins.next().await {
    ///     if let Queried::Item(twin) = twin? {
    ///         println!("{:?}", twin.device_id);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn query_twins(
        &self,
        query: impl Into<DeviceQuery>,
    ) -> impl Stream<Item = Result<QueriedTwin, Error>> + Send + 'static {
        let query = query.into();
        let text = query_text("*", &query.condition);
        hub_query(
            self.caller().clone(),
            "query_twins",
            text,
            query.page_size,
            Queried::read,
        )
    }

    /// The id of every device `query`'s condition selects (`SELECT deviceId FROM devices
    /// WHERE …`): a preview of a job's targets, or a list to target
    /// ([`Condition::device_ids`]). Paged and guarded as [`query_twins`](Self::query_twins).
    pub fn query_device_ids(
        &self,
        query: impl Into<DeviceQuery>,
    ) -> impl Stream<Item = Result<QueriedDeviceId, Error>> + Send + 'static {
        let query = query.into();
        let text = query_text("deviceId", &query.condition);
        hub_query(
            self.caller().clone(),
            "query_device_ids",
            text,
            query.page_size,
            read_device_id,
        )
    }
}

/// The devices a device query lists: a [`Condition`], and how many to ask for per page.
/// Made from a condition (`DeviceQuery::from(condition)`, or a `&str`) or with [`new`](Self::new).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceQuery {
    condition: Condition,
    page_size: Option<u32>,
}

impl DeviceQuery {
    /// The devices `condition` selects.
    pub fn new(condition: impl Into<Condition>) -> Self {
        Self {
            condition: condition.into(),
            page_size: None,
        }
    }

    /// How many items to ask for per page (the service may answer with fewer).
    pub fn with_page_size(mut self, page_size: u32) -> Self {
        self.page_size = Some(page_size);
        self
    }
}

impl From<Condition> for DeviceQuery {
    fn from(condition: Condition) -> Self {
        Self::new(condition)
    }
}

impl From<&str> for DeviceQuery {
    fn from(condition: &str) -> Self {
        Self::new(condition)
    }
}

/// One item of a twin query.
pub type QueriedTwin = Queried<Twin>;

/// One item of a device-id query: the item's `deviceId`, or an item without a string
/// `deviceId`, kept as the service sent it.
pub type QueriedDeviceId = Queried<String>;

/// An item of a device-id query, as its `deviceId`.
fn read_device_id(item: Value) -> QueriedDeviceId {
    match item.get("deviceId").and_then(Value::as_str) {
        Some(id) => Queried::Item(id.to_owned()),
        None => Queried::Unrecognized(item),
    }
}

/// `SELECT <select> FROM devices [WHERE <condition>]`; no `WHERE` for every device.
fn query_text(select: &str, condition: &Condition) -> Result<String, Error> {
    let text = condition.text()?;
    Ok(if condition.is_every_device() {
        format!("SELECT {select} FROM devices")
    } else {
        format!("SELECT {select} FROM devices WHERE {text}")
    })
}

/// Every item of the hub query `text`, read by `read`, following the service's pages (as
/// [`query::pages`] guards them); a query that cannot be sent is the one item, and nothing
/// is sent.
pub(crate) fn hub_query<T: Send + 'static>(
    caller: Arc<Caller>,
    operation: &'static str,
    text: Result<String, Error>,
    page_size: Option<u32>,
    read: fn(Value) -> T,
) -> impl Stream<Item = Result<T, Error>> + Send + 'static {
    use futures_util::StreamExt as _;
    let query = match text {
        Ok(text) => Arc::new(QuerySpecification { query: Some(text) }),
        Err(refused) => {
            return futures_util::stream::once(std::future::ready(Err(refused))).left_stream();
        }
    };
    let page_size = page_size.map(|size| size.to_string());
    paging::pages(
        move |token| {
            let (caller, query, page_size) = (caller.clone(), query.clone(), page_size.clone());
            async move {
                fetch_page(
                    &caller,
                    operation,
                    &query,
                    token.as_deref(),
                    page_size.as_deref(),
                )
                .await
            }
        },
        read,
    )
    .right_stream()
}

async fn fetch_page(
    caller: &Caller,
    operation: &'static str,
    query: &QuerySpecification,
    continuation: Option<&str>,
    page_size: Option<&str>,
) -> Result<Page, Error> {
    // A query reads and changes nothing: it is always safe to send again.
    let page = caller
        .call(operation, "", Replay::Always, |client| {
            client.query_devices(API_VERSION, continuation, page_size, query)
        })
        .await?;
    Ok(Page::read(page))
}
