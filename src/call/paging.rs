//! Listings, whatever they list: one page as the service answers it, reading its items, and the
//! stream that follows the pages. The areas own their filters and requests (jobs in
//! `scheduled_jobs`, a job's rows per device in `device_jobs`).
//!
//! The service pages its listings alike: a JSON array per page, the page size asked for in
//! `x-ms-max-item-count`, the next page's token in the `x-ms-continuation` response header and
//! sent back in the same request header (spec/README.md, deviations 2 and 5).

use std::{
    collections::{HashSet, VecDeque},
    hash::{BuildHasher as _, RandomState},
};

use futures_core::Stream;
use progenitor_client::ResponseValue;
use serde_json::{Value, value::RawValue};

use crate::{Error, ErrorKind};

/// The header that carries the next page's token, both ways.
const CONTINUATION: &str = "x-ms-continuation";

/// After this many empty pages in a row, each naming yet another page, a listing stops with
/// an error: a service that pages like that would never finish.
pub const MAX_EMPTY_PAGES_IN_A_ROW: u32 = 20;

/// One item of a listing (`query_jobs`, `query_twins`, `query_device_ids`,
/// `query_device_jobs`): what the model reads, or an item of another shape, kept as the service
/// sent it rather than ending the stream.
///
/// ```no_run
/// # async fn run(client: iothub_jobs::JobsClient) -> Result<(), iothub_jobs::Error> {
/// use futures_util::StreamExt as _;
/// use iothub_jobs::{JobQuery, Queried};
///
/// let mut jobs = std::pin::pin!(client.query_jobs(JobQuery::default()));
/// while let Some(item) = jobs.next().await {
///     match item? {
///         Queried::Item(job) => println!("{:?}", job.job_id),
///         Queried::Unrecognized(json) => eprintln!("an item of another shape: {json}"),
///         _ => {}
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Queried<T> {
    /// An item that reads as a `T`.
    Item(T),
    /// An item of a shape the model cannot read, kept as the service sent it.
    Unrecognized(Value),
}

impl<T> Queried<T> {
    /// The item, if it read as a `T`.
    pub fn item(self) -> Option<T> {
        match self {
            Self::Item(item) => Some(item),
            Self::Unrecognized(_) => None,
        }
    }

    /// The item, if it read as a `T`, by reference.
    pub fn as_item(&self) -> Option<&T> {
        match self {
            Self::Item(item) => Some(item),
            Self::Unrecognized(_) => None,
        }
    }
}

impl<T: serde::de::DeserializeOwned> Queried<T> {
    /// `item` as a `T`, or unrecognized.
    pub(crate) fn read(item: RawItem) -> Self {
        read_item(&item).map_or_else(Self::Unrecognized, Self::Item)
    }
}

/// An item of a page as the service sent it: its JSON text, read once into what wants it.
pub(crate) type RawItem = Box<RawValue>;

/// `item` as a value, for readers of free-form rows (a count, a group, an id).
pub(crate) fn value_of(item: &RawValue) -> Value {
    // The text was read from a JSON page: it is one JSON value.
    serde_json::from_str(item.get()).unwrap_or(Value::Null)
}

/// `item` read as a `T`, or handed back as the service sent it when it is not one (another
/// object, or not an object at all): an item of an unexpected shape is data, not an error
/// that ends the stream.
fn read_item<T: serde::de::DeserializeOwned>(item: &RawValue) -> Result<T, Value> {
    // Checked first: a derived struct also reads from an array (`[]` would be an empty job).
    if !item.get().starts_with('{') {
        tracing::debug!("a query item that is not an object; passed on as it is");
        return Err(value_of(item));
    }
    // Read from its text: a value tree is made only for an item that is not a `T`.
    serde_json::from_str(item.get()).map_err(|error| {
        tracing::debug!(%error, "a query item of another shape; passed on as it is");
        value_of(item)
    })
}

/// One page of a listing: its items and the token for the next page, if there is one.
pub(crate) struct Page {
    pub items: Vec<RawItem>,
    /// The next page's token; an error for one that cannot be sent back, which ends the
    /// listing after this page's items.
    pub next: Result<Option<String>, Error>,
}

impl Page {
    /// The answer's items, and the next page's token if it names one. A token that cannot be
    /// sent back (not visible ASCII) ends the listing with an error rather than silently, as
    /// if it were complete.
    pub(crate) fn read(answer: ResponseValue<Vec<RawItem>>) -> Self {
        let next = match answer.headers().get(CONTINUATION) {
            None => Ok(None),
            Some(token) => match token.to_str() {
                Ok("") => Ok(None),
                Ok(token) => Ok(Some(token.to_owned())),
                Err(_) => Err(Error::new(
                    ErrorKind::InvalidResponse,
                    format!(
                        "the service named a next page with a continuation token that cannot be sent back (not visible ASCII, {} bytes); the listing stopped there, incomplete",
                        token.len()
                    ),
                )),
            },
        };
        Self {
            items: answer.into_inner(),
            next,
        }
    }
}

/// Where a listing is: items left from the last page, the next page to ask for, and what
/// tells a listing that would never end.
struct Pages<F, R> {
    fetch: F,
    read: R,
    items: VecDeque<RawItem>,
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
pub(crate) fn pages<F, Fut, R, T>(fetch: F, read: R) -> impl Stream<Item = Result<T, Error>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page, Error>>,
    R: Fn(RawItem) -> T,
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

impl<F, R> Pages<F, R> {
    fn take(&mut self, page: Page) {
        self.empty_in_a_row = if page.items.is_empty() {
            self.empty_in_a_row + 1
        } else {
            0
        };
        self.items.extend(page.items);
        let token = match page.next {
            Ok(Some(token)) => token,
            Ok(None) => return,
            Err(unsendable) => {
                self.failure = Some(unsendable);
                return;
            }
        };
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
