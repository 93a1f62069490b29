//! Which devices a condition selects, before a job runs: how many, their twins and their ids,
//! through the hub's query (`POST /devices/query`). The same operation answers a job's rows
//! per device (`device_jobs`), through [`hub_query`].
//!
//! The operation's items are free-form JSON in spec/ (deviation 5): each query reads its
//! items as its own shape here, so one item of another shape arrives as data.

use std::sync::Arc;

use futures_core::Stream;
use serde::Serialize;
use serde_json::Value;

use crate::{
    API_VERSION, Condition, Error, ErrorKind, Field, JobsClient,
    areas::condition::MAX_QUERY_BYTES,
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
        let first = page.items.first().map(|row| paging::value_of(row));
        let count = first.as_ref().and_then(|row| row[COUNT_ALIAS].as_u64());
        count.ok_or_else(|| {
            let first = first.as_ref().map(Value::to_string);
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

    /// How the devices `query`'s condition selects distribute over the values of the fields
    /// `by` (`SELECT <field> AS group0, …, COUNT() AS numberOfDevices FROM devices WHERE …
    /// GROUP BY <field>, …`): a [`DeviceGroup`] per combination of values, with how many devices
    /// have it — the firmware versions across a ring, or which devices acknowledged a desired
    /// state. Paged and guarded as [`query_twins`](Self::query_twins), one query per page;
    /// no field, a field that cannot be written or a query over the service's size limit is
    /// the one item, an [`ErrorKind::InvalidCondition`], and nothing is sent.
    ///
    /// ```no_run
    /// # async fn run(client: iothub_jobs::JobsClient) -> Result<(), iothub_jobs::Error> {
    /// use futures_util::StreamExt as _;
    /// use iothub_jobs::{Field, Queried};
    ///
    /// let ring = Field::tag("ring").eq("early");
    /// let mut groups = std::pin::pin!(client.query_distribution([Field::reported("firmware")], ring));
    /// while let Some(group) = groups.next().await {
    ///     if let Queried::Item(group) = group? {
    ///         println!("{:?}: {} devices", group.values[0], group.devices);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn query_distribution<I>(
        &self,
        by: I,
        query: impl Into<DeviceQuery>,
    ) -> impl Stream<Item = Result<QueriedGroup, Error>> + Send + 'static
    where
        I: IntoIterator<Item = Field>,
    {
        let query = query.into();
        let by: Vec<Field> = by.into_iter().collect();
        let text = distribution_text(&by, &query.condition);
        let fields = by.len();
        hub_query(
            self.caller().clone(),
            "query_distribution",
            text,
            query.page_size,
            move |row| read_group(paging::value_of(&row), fields),
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

/// One group of a distribution ([`JobsClient::query_distribution`]): the values the grouped
/// fields have, in their order (`None` where the devices lack the property), and how many
/// devices have them.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DeviceGroup {
    /// The grouped fields' values, in the order they were given.
    pub values: Vec<Option<Value>>,
    /// How many devices have them.
    pub devices: u64,
}

/// One item of a distribution query: a [`DeviceGroup`], or a row without a count, kept as the
/// service sent it.
pub type QueriedGroup = Queried<DeviceGroup>;

/// The names the distribution query gives its grouped columns: `group0`, `group1`, ….
const GROUP_ALIAS: &str = "group";

/// `SELECT <field> AS group0, …, COUNT() AS numberOfDevices FROM devices [WHERE …] GROUP BY
/// <field>, …`, checked: at least one field, each writable, within the service's size limit.
fn distribution_text(by: &[Field], condition: &Condition) -> Result<String, Error> {
    if by.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidCondition,
            "a distribution needs at least one field to group by",
        ));
    }
    let paths = by
        .iter()
        .map(Field::written)
        .collect::<Result<Vec<_>, _>>()?;
    let columns: Vec<String> = paths
        .iter()
        .enumerate()
        .map(|(n, path)| format!("{path} AS {GROUP_ALIAS}{n}"))
        .chain(std::iter::once(format!("COUNT() AS {COUNT_ALIAS}")))
        .collect();
    let text = format!(
        "{} GROUP BY {}",
        query_text(&columns.join(", "), condition)?,
        paths.join(", ")
    );
    if text.len() > MAX_QUERY_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidCondition,
            format!(
                "the distribution query is {} bytes; the service runs queries of at most \
                 {MAX_QUERY_BYTES}: group by fewer or shorter fields, or a shorter condition",
                text.len()
            ),
        ));
    }
    Ok(text)
}

/// A distribution row of `fields` grouped values, as a group; one without a count, or with
/// a column it should not have, is unrecognized.
fn read_group(row: Value, fields: usize) -> QueriedGroup {
    let Some(devices) = row.get(COUNT_ALIAS).and_then(Value::as_u64) else {
        return Queried::Unrecognized(row);
    };
    let values = (0..fields)
        .map(|n| row.get(format!("{GROUP_ALIAS}{n}")).cloned())
        .collect();
    Queried::Item(DeviceGroup { values, devices })
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
fn read_device_id(item: paging::RawItem) -> QueriedDeviceId {
    let item = paging::value_of(&item);
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
    read: impl Fn(paging::RawItem) -> T + Send + 'static,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_distribution_groups_by_its_fields_and_reads_its_rows() {
        let text = distribution_text(
            &[Field::tag("ring"), Field::reported("fw.version")],
            &Field::tag("model").eq("t1"),
        )
        .unwrap();
        assert_eq!(
            text,
            "SELECT tags.ring AS group0, properties.reported.fw.version AS group1, \
             COUNT() AS numberOfDevices FROM devices WHERE tags.model = 't1' \
             GROUP BY tags.ring, properties.reported.fw.version"
        );
        let every = distribution_text(&[Field::status()], &Condition::every_device()).unwrap();
        assert_eq!(
            every,
            "SELECT status AS group0, COUNT() AS numberOfDevices FROM devices GROUP BY status"
        );
        // `SELECT tags.<n> AS group0, COUNT() AS numberOfDevices FROM devices GROUP BY tags.<n>`
        // is 78 bytes and the name twice.
        let of_length = |bytes: usize| {
            let name = "a".repeat((bytes - 78) / 2);
            distribution_text(&[Field::tag(&name)], &Condition::every_device())
        };
        assert_eq!(of_length(MAX_QUERY_BYTES).unwrap().len(), MAX_QUERY_BYTES);
        let error = of_length(MAX_QUERY_BYTES + 2).unwrap_err();
        assert!(error.to_string().contains("at most 8192"), "{error}");
        let row = serde_json::json!({"group1": 2, "numberOfDevices": 7});
        assert_eq!(
            read_group(row, 2),
            Queried::Item(DeviceGroup {
                values: vec![None, Some(2.into())],
                devices: 7
            })
        );
        let odd = serde_json::json!({"group0": 1});
        assert_eq!(read_group(odd.clone(), 1), Queried::Unrecognized(odd));
    }
}
