//! The handlers, one file per area of the API: what the hub answers to each operation, by its
//! own rules, over the state (`crate::state`). The routes that lead here are in `crate::http`.

pub(crate) mod device_jobs;
pub(crate) mod devices;
pub(crate) mod import_export;
pub(crate) mod scheduled;
