//! Per-device results of scheduled jobs on the local hub: `SELECT * FROM devices.jobs [WHERE …]`
//! through `POST /devices/query` (the rows themselves are `rows'`).

use std::ops::Bound;

use axum::response::Response;

use crate::http::answers::{PageItem, PageKey, Paging, continuation, page};
use crate::query::Filter;
use crate::state::HubState;
use crate::state::rows::{JobRows, Row};

/// The rows `filter` selects, in job-id then device-id order, paged like every query of the
/// service, with `x-ms-item-type: DeviceJob`.
pub(crate) async fn rows(hub: &HubState, filter: &Filter, paging: &Paging) -> Response {
    // A condition on one job (as `query_device_jobs` sends) reads that job's rows only.
    let wanted_job = filter.required_text("jobId");
    // Rows are read once the twin updates whose end has come are written (that job's alone,
    // when one is wanted), as twins are: a job's rows and its twins never disagree.
    match wanted_job {
        Some(job_id) => hub.settle_job(job_id).await,
        None => hub.settle_twins().await,
    }
    // Under the lock only what the rows are read from (a few fields per job); the rows
    // themselves are made, filtered and paged after it is released.
    let sources: Vec<JobRows> = {
        let first = match (wanted_job, paging.after(0)) {
            (Some(wanted), _) => Bound::Included(wanted),
            (None, Some(after)) => Bound::Included(after),
            (None, None) => Bound::Unbounded,
        };
        hub.jobs_now()
            .range::<str, _>((first, Bound::Unbounded))
            .take_while(|(id, _)| wanted_job.is_none_or(|wanted| wanted == id.as_str()))
            .filter(|(id, _)| paging.after(0).is_none_or(|after| after <= id.as_str()))
            .map(|(_, job)| job.rows())
            .collect()
    };
    // A condition of that job alone (what `query_device_jobs` sends) selects every row: each is
    // written out as it is read. Any other is evaluated over each row's value.
    let every_row = wanted_job.is_some_and(|job| filter.is_exactly("jobId", job));
    let rows = sources
        .iter()
        .flat_map(|source| {
            let after = paging
                .after(1)
                .filter(|_| paging.after(0) == Some(source.job_id()));
            source.rows_after(after).map(move |row| {
                let key = RowKey(source.job_id(), row.device_id);
                (key, row)
            })
        })
        .filter(|(_, row)| every_row || filter.matches(&row.to_value()));
    page(rows, paging.size, "DeviceJob")
}

/// A row's key: its job's id and its device's.
struct RowKey<'a>(&'a str, &'a str);

impl PageKey for RowKey<'_> {
    fn token(self) -> String {
        continuation(&[self.0, self.1])
    }
}

impl PageItem for Row<'_> {
    fn write_json(&self, out: &mut Vec<u8>) {
        Row::write_json(self, out);
    }
}
