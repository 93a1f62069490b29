//! The call path: everything between an area's request and the service, one concern a file.
//! It knows no service area, no model and no fleet feature; the areas call it.
//!
//! - `caller`: one operation's attempts, span, timeouts and errors ([`Caller::call`]);
//! - `hooks`: the headers and body cap the generated client applies to each request;
//! - `retry`: the retry policy and decision;
//! - `paging`: pages of a listing, whatever it lists;
//! - `validate`: input checked before sending (host names, endpoints, job ids);
//! - `redact`: how secrets are hidden when shown;
//! - `auth`: credentials and the `Authorization` header they make;
//! - `error`: the crate's one error type;
//! - `util`: ids, deadlines, bounded text and locks.

pub mod auth;
mod caller;
pub(crate) mod error;
pub(crate) mod hooks;
pub(crate) mod paging;
pub(crate) mod redact;
pub(crate) mod retry;
#[cfg(test)]
pub(crate) mod secret_forms;
pub(crate) mod util;
pub(crate) mod validate;

pub(crate) use caller::Caller;
