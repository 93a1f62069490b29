//! The service areas, each a file or folder with its own `impl JobsClient` block, over the
//! call path: scheduled jobs, import/export jobs, device queries and a job's rows per device,
//! with what they share (conditions, waits, waiting for a job slot).

pub(crate) mod condition;
pub(crate) mod device_jobs;
pub(crate) mod devices;
pub(crate) mod import_export;
pub(crate) mod job_slots;
pub(crate) mod scheduled_jobs;
pub(crate) mod wait;
