//! The hub's state, in one place: what it keeps (jobs of both kinds, devices, requests, the
//! clock and its limits) and how its jobs stand at a moment. Handlers import this; it
//! imports none of them.
//!
//! - `registry`: the twins, and twin updates written a slice at a time;
//! - `behaviours`: how devices answer back on their twins, on the hub's clock;
//! - `rows`: a job's rows per device;
//! - `rules`: the hub's own rules for ids and job states;
//! - `twin_rules`: the API description's rules for twins and patches;
//! - `tier`: a hub's tier and its job limit.

pub(crate) mod behaviours;
pub(crate) mod compact;
pub(crate) mod registry;
pub(crate) mod rows;
pub(crate) mod rules;
pub(crate) mod tier;
pub(crate) mod twin_rules;

use std::{
    collections::{BTreeMap, VecDeque},
    fmt,
    ops::{Bound, ControlFlow},
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex, MutexGuard},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::hmac;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::{Map, Value, json};
use tokio::sync::Notify;

use crate::query::Filter;
use crate::util;
use registry::{Registry, TWINS_PER_SLICE, Twins, Update};
use rows::{Devices, Fleet, JobRows};

/// What the hub keeps, shared by every request.
pub(crate) struct HubState {
    pub host_name: String,
    /// `host_name` lowercased: what a token's `sr` must name.
    pub resource: String,
    pub policy_name: String,
    pub key: Vec<u8>,
    /// `key`, prepared once for checking signatures.
    pub signing_key: hmac::Key,
    /// Scheduled jobs by id.
    pub jobs: Mutex<BTreeMap<String, ScheduledJob>>,
    /// Import and export jobs, oldest first.
    pub import_export_jobs: Mutex<Vec<ImportExportJob>>,
    /// How devices answer direct methods, where a test said; shared with the jobs that
    /// finished while it stood (changed copy-on-write).
    pub devices: Mutex<Arc<Devices>>,
    /// Every device's twin, and the twin updates being written. Locked after `jobs` when
    /// both are held.
    pub twins: Mutex<Registry>,
    /// Told when a twin update is queued, so that it is written even if no client asks.
    pub updates_queued: Notify,
    pub requests: Mutex<RequestLog>,
    /// The time tests set, or `None` for the real clock.
    pub frozen_time: Mutex<Option<SystemTime>>,
    pub limits: Limits,
}

/// How the hub behaves where the service has limits of its own.
#[derive(Clone, Debug)]
pub(crate) struct Limits {
    /// Jobs that are queued, scheduled or running at once; more are refused with 429.
    pub max_active_jobs: usize,
    /// How long a job runs, from its start time, before it completes.
    pub job_run_time: Duration,
    /// The most jobs a query page holds, whatever the client asks for.
    pub max_page_size: usize,
    /// How long an import or export job takes, from its creation until it completes.
    pub import_export_run_time: Duration,
    /// How long a finished job, of either kind, is kept; then it is gone.
    pub job_retention: Duration,
    /// How long the hub waits on a client: for a request's headers (and so on an idle
    /// connection), and for its body.
    pub client_timeout: Duration,
    /// The most connections served at once; more wait to be accepted.
    pub max_connections: usize,
    /// The most requests the log keeps, and the most bytes of their headers and bodies.
    pub recorded_requests: usize,
    pub recorded_bytes: usize,
}

/// A scheduled job as the hub keeps it: the JSON the service returns, and the devices its
/// rows and statistics are read from.
pub(crate) struct ScheduledJob {
    pub json: Value,
    pub fleet: Fleet,
    /// When the hub came to hold it, on its clock: its retention never counts from earlier.
    pub held_since: DateTime<Utc>,
    /// Whether it is a twin update whose end has come and whose patch is being written into
    /// its twins: it reads `running` until the last is written.
    pub writing: bool,
}

impl ScheduledJob {
    /// A job a test inserted, kept as given: it reaches the devices its condition selects
    /// now (none, for a condition the hub cannot read); one already over keeps how `devices`
    /// answer now. `now` is the hub's clock, from which its retention counts at the earliest.
    pub(crate) fn as_given(
        json: Value,
        twins: &Twins,
        devices: &Arc<Devices>,
        now: DateTime<Utc>,
    ) -> Self {
        let condition = json["queryCondition"].as_str().unwrap_or_default();
        let fleet = crate::query::condition(condition)
            .map(|filter| Fleet::of(&filter, twins))
            .unwrap_or_default();
        let mut job = Self {
            json,
            fleet,
            held_since: now,
            writing: false,
        };
        if job.json["status"]
            .as_str()
            .is_some_and(|status| ["completed", "failed"].contains(&status))
        {
            job.fleet.settle(devices);
        }
        job
    }

    /// What its rows are read from, to make them outside the job table's lock.
    pub(crate) fn rows(&self) -> JobRows {
        JobRows::of(&self.json, &self.fleet)
    }

    /// Whether it finished before `cutoff`, so that the service no longer has it.
    fn is_gone(&self, cutoff: DateTime<Utc>) -> bool {
        rules::retained_from(&self.json, self.held_since).is_some_and(|from| from < cutoff)
    }

    /// Moves it to `status` and counts its statistics again.
    pub(crate) fn set_status(&mut self, status: &str) {
        self.json["status"] = json!(status);
        self.json["deviceJobStatistics"] = self.rows().statistics();
    }

    /// Completes it, as of `end`.
    fn complete(&mut self, end: DateTime<Utc>) {
        self.writing = false;
        self.json["endTime"] = json!(end.to_rfc3339_opts(SecondsFormat::Secs, true));
        self.set_status("completed");
    }
}

/// Where a read of the twins a slice at a time stands.
enum Slice {
    /// More twins follow.
    More,
    /// The read is over.
    Done,
    /// The twins changed since the read began: it must begin again.
    Changed,
}

impl HubState {
    /// The hub's clock: the time a test set, or the real one; always within years 0000–9999.
    pub fn now(&self) -> SystemTime {
        util::lock(&self.frozen_time).unwrap_or_else(|| within_dates(SystemTime::now()))
    }

    pub(crate) fn utc_now(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.now())
    }

    /// The jobs, moved along by the hub's clock: a job whose start time has come is `running`,
    /// and `completed` once it has run for the configured time — a twin update once its patch
    /// is written into every twin it reaches, which is queued here and written a slice at a
    /// time outside this lock ([`write_slice`](Self::write_slice)). One that finished longer
    /// ago than the retention is gone. Each step is a few fields, whatever a job's size: its
    /// rows are made only when read.
    pub(crate) fn jobs_now(&self) -> MutexGuard<'_, BTreeMap<String, ScheduledJob>> {
        let now = self.utc_now();
        // A run time too long for the calendar means the job never completes.
        let run_time = TimeDelta::from_std(self.limits.job_run_time).ok();
        let mut jobs = util::lock(&self.jobs);
        let mut ended_updates = Vec::new();
        for (id, job) in jobs.iter_mut() {
            let Some(start) = job.json["startTime"].as_str().and_then(rules::date_time) else {
                continue;
            };
            if !rules::is_active(&job.json) || start > now || job.writing {
                continue;
            }
            match run_time.and_then(|run_time| start.checked_add_signed(run_time)) {
                Some(end) if end <= now => {
                    job.fleet.settle(&util::lock(&self.devices));
                    if job.json["type"] == "scheduleUpdateTwin" && !job.fleet.targets().is_empty() {
                        let patch = job.json["updateTwin"].clone();
                        ended_updates.push(Update::new(
                            id.clone(),
                            end,
                            job.fleet.shared_targets(),
                            patch,
                        ));
                        job.writing = true;
                        job.set_status("running");
                    } else {
                        job.complete(end);
                    }
                }
                _ => job.set_status("running"),
            }
        }
        if !ended_updates.is_empty() {
            // Written in the order the jobs ended, as the service would have applied them.
            ended_updates.sort_by_key(|update| update.end);
            let mut registry = util::lock(&self.twins);
            for update in ended_updates {
                registry.queue(update);
            }
            self.updates_queued.notify_one();
        }
        if let Some(cutoff) = retention_cutoff(now, self.limits.job_retention) {
            jobs.retain(|_, job| !job.is_gone(cutoff));
        }
        jobs
    }

    /// Writes the next slice of the oldest queued twin update; says whether one is still
    /// queued. The slice that writes an update's last twin (that twin alone) completes its job
    /// under the job table's lock too, so that the job reads `completed` exactly when every
    /// twin is written.
    pub(crate) fn write_slice(&self) -> bool {
        {
            let mut registry = util::lock(&self.twins);
            if !registry.next_slice_ends_an_update() {
                registry.write_slice();
                return registry.has_pending();
            }
        }
        let mut jobs = util::lock(&self.jobs);
        let mut registry = util::lock(&self.twins);
        if let Some(written) = registry.write_slice()
            && let Some(job) = jobs.get_mut(&written.job_id).filter(|job| job.writing)
        {
            job.complete(written.end);
        }
        registry.has_pending()
    }

    /// [`write_slice`](Self::write_slice), a panic in it caught: the twin it stopped at counts
    /// as written, so the next slice goes on past it.
    fn write_slice_caught(&self) -> bool {
        std::panic::catch_unwind(AssertUnwindSafe(|| self.write_slice())).unwrap_or(true)
    }

    /// Writes queued twin updates as they come, so that their jobs complete even when no
    /// client reads them or the twins. Yields between slices. Runs until dropped.
    pub(crate) async fn write_queued_updates(&self) {
        loop {
            self.updates_queued.notified().await;
            while self.write_slice_caught() {
                tokio::task::yield_now().await;
            }
        }
    }

    /// Writes every twin update whose job's end has come, then the reports devices owe by now,
    /// a slice at a time, yielding between slices: twins read after this show them.
    pub(crate) async fn settle_twins(&self) {
        drop(self.jobs_now());
        while self.write_slice() {
            tokio::task::yield_now().await;
        }
        while self.report_slice() {
            tokio::task::yield_now().await;
        }
    }

    /// [`settle_twins`](Self::settle_twins), without yielding: for the hub's own API.
    pub(crate) fn settle_twins_now(&self) {
        drop(self.jobs_now());
        while self.write_slice() {}
        while self.report_slice() {}
    }

    /// Makes a slice of the reports devices owe by now on the hub's clock; says whether more
    /// are due.
    fn report_slice(&self) -> bool {
        let now = self.utc_now();
        util::lock(&self.twins).report_slice(now)
    }

    /// Writes the twin update of job `id`, if its end has come (and those queued before it),
    /// so that it reads `completed`; yields between slices.
    pub(crate) async fn settle_job(&self, id: &str) {
        while self.write_slice_of(id) {
            tokio::task::yield_now().await;
        }
    }

    /// [`settle_job`](Self::settle_job), without yielding: for the hub's own API.
    pub(crate) fn settle_job_now(&self, id: &str) {
        while self.write_slice_of(id) {}
    }

    /// Writes a slice towards job `id`'s twin update when it is being written; says whether
    /// more remains.
    fn write_slice_of(&self, id: &str) -> bool {
        // The job table's guard is gone before a slice takes it again.
        let writing = self.jobs_now().get(id).is_some_and(|job| job.writing);
        writing && self.write_slice()
    }

    /// Reads the twins after `after` (all, for `None`) in id order, as they stand once every
    /// due twin update is written: `visit` is given each in turn, with what it gathers (from
    /// `gathered`), until it breaks. The lock is held for [`TWINS_PER_SLICE`] twins at a time;
    /// a read across a change begins again, so what it gathers is from one state of the twins.
    pub(crate) async fn read_twins<T>(
        &self,
        after: Option<&str>,
        gathered: impl Fn() -> T,
        mut visit: impl FnMut(&mut T, &str, &compact::Compact) -> ControlFlow<()>,
    ) -> T {
        loop {
            self.settle_twins().await;
            let mut gathering = gathered();
            let mut from = after.map(str::to_owned);
            let mut seen = None;
            loop {
                let slice = self.read_slice(&mut from, &mut seen, &mut |id, twin| {
                    visit(&mut gathering, id, twin)
                });
                match slice {
                    Slice::More => tokio::task::yield_now().await,
                    Slice::Done => return gathering,
                    Slice::Changed => break,
                }
            }
        }
    }

    /// One slice of [`read_twins`](Self::read_twins): the twins after `from`, which moves
    /// on; `seen` holds the registry's changes when the read began.
    fn read_slice(
        &self,
        from: &mut Option<String>,
        seen: &mut Option<u64>,
        visit: &mut dyn FnMut(&str, &compact::Compact) -> ControlFlow<()>,
    ) -> Slice {
        let registry = util::lock(&self.twins);
        if *seen.get_or_insert(registry.changes()) != registry.changes() {
            return Slice::Changed;
        }
        let start = from.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let mut read = 0;
        for (id, twin) in registry
            .twins()
            .range::<str, _>((start, Bound::Unbounded))
            .take(TWINS_PER_SLICE)
        {
            read += 1;
            if visit(id, twin).is_break() {
                return Slice::Done;
            }
            if read == TWINS_PER_SLICE {
                *from = Some(id.clone());
            }
        }
        if read < TWINS_PER_SLICE {
            Slice::Done
        } else {
            Slice::More
        }
    }

    /// The registered devices `filter` selects, sorted by id: looked up by id when it names
    /// them (a list bounded by the query size limit), else every twin read a slice at a time.
    pub(crate) async fn targets(&self, filter: &Filter) -> Vec<String> {
        if filter.device_ids().is_some() {
            return rows::targets(filter, util::lock(&self.twins).twins());
        }
        self.read_twins(None, Vec::new, |ids, id, twin| {
            if filter.matches(twin) {
                ids.push(id.to_owned());
            }
            ControlFlow::Continue(())
        })
        .await
    }

    /// The import and export jobs the service still has: those that finished longer ago than
    /// the retention are gone.
    pub(crate) fn import_export_jobs_now(&self) -> MutexGuard<'_, Vec<ImportExportJob>> {
        let (now, run_time) = (self.utc_now(), self.limits.import_export_run_time);
        let mut transfers = util::lock(&self.import_export_jobs);
        if let Some(cutoff) = retention_cutoff(now, self.limits.job_retention) {
            transfers.retain(|transfer| {
                transfer
                    .finished_at(now, run_time)
                    .is_none_or(|end| end >= cutoff)
            });
        }
        transfers
    }

    /// The import/export job `id` as the service would return it now.
    pub(crate) fn import_export_job(&self, id: &str) -> Option<Value> {
        let (now, run_time) = (self.utc_now(), self.limits.import_export_run_time);
        self.import_export_jobs_now()
            .iter()
            .find(|transfer| transfer.id == id)
            .map(|transfer| transfer.view(now, run_time))
    }
}

/// The moment before which a job that finished is gone, `retention` before `now`; `None`
/// (nothing is gone) when that is before the calendar begins.
fn retention_cutoff(now: DateTime<Utc>, retention: Duration) -> Option<DateTime<Utc>> {
    now.checked_sub_signed(TimeDelta::from_std(retention).ok()?)
}

/// `time` within the years a date-time can carry (0000–9999), so the hub's clock can be set
/// anywhere without a conversion overflowing.
pub(crate) fn within_dates(time: SystemTime) -> SystemTime {
    // 0000-01-01T00:00:00Z.
    const BEFORE_EPOCH: Duration = Duration::from_secs(62_167_219_200);
    let first = UNIX_EPOCH.checked_sub(BEFORE_EPOCH).unwrap_or(UNIX_EPOCH);
    time.clamp(first, last_date())
}

/// 9999-12-31T23:59:59Z, the last second a date-time can carry.
pub(crate) fn last_date() -> SystemTime {
    const AFTER_EPOCH: Duration = Duration::from_secs(253_402_300_799);
    UNIX_EPOCH.checked_add(AFTER_EPOCH).unwrap_or(UNIX_EPOCH)
}

/// An import or export job as the hub keeps it: what it was asked, and what decides its course.
pub(crate) struct ImportExportJob {
    pub id: String,
    /// The echoed fields of the create request.
    pub request: Map<String, Value>,
    pub created: DateTime<Utc>,
    /// Why it fails as soon as it starts, when a container URI cannot be used.
    pub failure: Option<&'static str>,
    pub cancelled: Option<DateTime<Utc>>,
}

/// Where a job is at some moment.
#[derive(Clone, Copy)]
enum Stage {
    Enqueued,
    Running {
        progress: u8,
    },
    Completed {
        end: DateTime<Utc>,
    },
    Failed {
        end: DateTime<Utc>,
        reason: &'static str,
    },
}

impl ImportExportJob {
    /// When it leaves the queue: after a tenth of the run time (never, for a run time too long
    /// for the calendar).
    fn start(&self, run_time: Duration) -> Option<DateTime<Utc>> {
        after(self.created, run_time / 10)
    }

    fn end(&self, run_time: Duration) -> Option<DateTime<Utc>> {
        after(self.created, run_time)
    }

    fn stage_at(&self, at: DateTime<Utc>, run_time: Duration) -> Stage {
        let Some(start) = self.start(run_time).filter(|start| *start <= at) else {
            return Stage::Enqueued;
        };
        if let Some(reason) = self.failure {
            return Stage::Failed { end: start, reason };
        }
        match self.end(run_time) {
            Some(end) if end <= at => Stage::Completed { end },
            end => {
                let done = (at - start).num_milliseconds() as f64;
                let total =
                    end.map_or(f64::INFINITY, |end| (end - start).num_milliseconds() as f64);
                Stage::Running {
                    progress: (100.0 * done / total).clamp(0.0, 99.0) as u8,
                }
            }
        }
    }

    /// When it ended, if it has by `now`: completed, failed or cancelled.
    fn finished_at(&self, now: DateTime<Utc>, run_time: Duration) -> Option<DateTime<Utc>> {
        if self.cancelled.is_some() {
            return self.cancelled;
        }
        match self.stage_at(now, run_time) {
            Stage::Completed { end } | Stage::Failed { end, .. } => Some(end),
            Stage::Enqueued | Stage::Running { .. } => None,
        }
    }

    pub(crate) fn is_active(&self, now: DateTime<Utc>, run_time: Duration) -> bool {
        self.cancelled.is_none()
            && matches!(
                self.stage_at(now, run_time),
                Stage::Enqueued | Stage::Running { .. }
            )
    }

    /// The job as the service returns it at `now`.
    pub(crate) fn view(&self, now: DateTime<Utc>, run_time: Duration) -> Value {
        let at = self.cancelled.unwrap_or(now);
        let stage = self.stage_at(at, run_time);
        let mut job = self.request.clone();
        job.entry("excludeKeysInExport").or_insert(json!(false));
        job.insert("jobId".into(), json!(self.id));
        // Fields the service sends that the API description does not list.
        job.insert("parentJobId".into(), Value::Null);
        job.insert("useSecondaryStorageAsSource".into(), json!(false));
        job.insert("failureReason".into(), Value::Null);
        if let Some(start) = self.start(run_time).filter(|start| *start <= at) {
            job.insert("startTimeUtc".into(), json!(time(start)));
        }
        let (status, progress) = match stage {
            _ if self.cancelled.is_some() => {
                job.insert("endTimeUtc".into(), json!(time(at)));
                let progress = match stage {
                    Stage::Running { progress } => progress,
                    _ => 0,
                };
                ("cancelled", progress)
            }
            Stage::Enqueued => ("enqueued", 0),
            Stage::Running { progress } => ("running", progress),
            Stage::Completed { end } => {
                job.insert("endTimeUtc".into(), json!(time(end)));
                ("completed", 100)
            }
            Stage::Failed { end, reason } => {
                job.insert("endTimeUtc".into(), json!(time(end)));
                job.insert("failureReason".into(), json!(reason));
                ("failed", 0)
            }
        };
        job.insert("status".into(), json!(status));
        job.insert("progress".into(), json!(progress));
        Value::Object(job)
    }
}

/// `start + span`, or `None` past the calendar.
fn after(start: DateTime<Utc>, span: Duration) -> Option<DateTime<Utc>> {
    start.checked_add_signed(TimeDelta::from_std(span).ok()?)
}

/// A date-time as the service writes these jobs' (`2020-01-08T22:51:23+00:00`).
fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// The requests the hub received, oldest first: at most so many, holding at most so many
/// bytes of headers and bodies, the oldest dropped to make room. A request larger than all
/// the room is kept with its body cut to fit.
pub(crate) struct RequestLog {
    kept: VecDeque<RecordedRequest>,
    bytes: usize,
    max_requests: usize,
    max_bytes: usize,
}

impl RequestLog {
    pub(crate) fn new(max_requests: usize, max_bytes: usize) -> Self {
        Self {
            kept: VecDeque::new(),
            bytes: 0,
            max_requests,
            max_bytes,
        }
    }

    /// Whether it keeps anything: when not, requests need not be copied for it.
    pub(crate) fn is_on(&self) -> bool {
        self.max_requests > 0 && self.max_bytes > 0
    }

    pub(crate) fn record(&mut self, mut request: RecordedRequest) {
        if !self.is_on() {
            return;
        }
        let room = self
            .max_bytes
            .saturating_sub(request.size() - request.body.len());
        request.body.truncate(room);
        let size = request.size().min(self.max_bytes);
        while self.kept.len() >= self.max_requests || self.bytes + size > self.max_bytes {
            let Some(oldest) = self.kept.pop_front() else {
                break;
            };
            self.bytes -= oldest.size().min(self.max_bytes);
        }
        self.bytes += size;
        self.kept.push_back(request);
    }

    pub(crate) fn recorded(&self) -> Vec<RecordedRequest> {
        self.kept.iter().cloned().collect()
    }
}

/// One request the hub received, for wire-level assertions.
#[derive(Clone)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The HTTP method.
    pub method: String,
    /// The path as sent, still percent-encoded.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The headers, names lower-case, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body as received.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The bytes it holds, as the request log counts them.
    fn size(&self) -> usize {
        let headers: usize = self.headers.iter().map(|(n, v)| n.len() + v.len()).sum();
        self.method.len()
            + self.path.len()
            + self.query.as_ref().map_or(0, String::len)
            + headers
            + self.body.len()
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<_> = self
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str(),
                    if n == "authorization" {
                        "<redacted>"
                    } else {
                        v.as_str()
                    },
                )
            })
            .collect();
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: usize) -> RecordedRequest {
        RecordedRequest {
            method: "PUT".into(),
            path: "/p".into(),
            query: None,
            headers: vec![("h".into(), "v".into())],
            body: vec![b'x'; body],
        }
    }

    #[test]
    fn the_request_log_drops_the_oldest_and_cuts_what_cannot_fit() {
        // Each request holds 7 bytes besides its body.
        let mut log = RequestLog::new(3, 30);
        for body in [10, 10, 3] {
            log.record(request(body));
        }
        let sizes = |log: &RequestLog| {
            log.recorded()
                .iter()
                .map(|r| r.body.len())
                .collect::<Vec<_>>()
        };
        assert_eq!(sizes(&log), [10, 3], "17 + 17 + 10 bytes do not fit in 30");
        log.record(request(0));
        log.record(request(0));
        assert_eq!(sizes(&log), [3, 0, 0], "three at most");
        log.record(request(100));
        assert_eq!(sizes(&log), [23], "cut to the room there is");
        let mut off = RequestLog::new(0, 30);
        off.record(request(1));
        assert!(!off.is_on() && off.recorded().is_empty());
    }

    #[test]
    fn the_retention_cutoff_is_the_retention_before_now_when_the_calendar_has_it() {
        let now = "2026-03-31T12:00:00Z".parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            retention_cutoff(now, rules::JOB_RETENTION),
            Some("2026-03-01T12:00:00Z".parse().unwrap())
        );
        assert_eq!(retention_cutoff(now, Duration::ZERO), Some(now));
        let first_day = DateTime::<Utc>::MIN_UTC + TimeDelta::days(1);
        assert_eq!(retention_cutoff(first_day, rules::JOB_RETENTION), None);
        assert_eq!(retention_cutoff(now, Duration::MAX), None);
    }

    #[test]
    fn an_import_or_export_job_finishes_when_it_ends_fails_or_is_cancelled() {
        let created = "2026-03-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let run_time = Duration::from_secs(100);
        let transfer = |failure, cancelled| ImportExportJob {
            id: "j".into(),
            request: Map::new(),
            created,
            failure,
            cancelled,
        };
        let at = |seconds| created + TimeDelta::seconds(seconds);
        let done = transfer(None, None);
        assert_eq!(done.finished_at(at(99), run_time), None, "running");
        assert_eq!(done.finished_at(at(500), run_time), Some(at(100)));
        let failed = transfer(Some("unusable"), None);
        assert_eq!(failed.finished_at(at(5), run_time), None, "enqueued");
        assert_eq!(failed.finished_at(at(500), run_time), Some(at(10)));
        let cancelled = transfer(None, Some(at(3)));
        assert_eq!(cancelled.finished_at(at(500), run_time), Some(at(3)));
    }

    #[test]
    fn a_recorded_request_shows_its_headers_but_never_its_token() {
        let request = RecordedRequest {
            method: "POST".into(),
            path: "/jobs/v2/j/cancel".into(),
            query: Some("api-version=2021-04-12".into()),
            headers: vec![
                (
                    "authorization".into(),
                    "SharedAccessSignature sr=h&sig=c2VjcmV0&se=1&skn=p".into(),
                ),
                ("user-agent".into(), "iothub-jobs/0.1.0 (Rust)".into()),
            ],
            body: vec![0; 3],
        };
        let shown = format!("{request:?}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
        for part in [
            r#"("authorization", "<redacted>")"#,
            r#"("user-agent", "iothub-jobs/0.1.0 (Rust)")"#,
            "body_len: 3",
        ] {
            assert!(shown.contains(part), "{part} in {shown}");
        }
        assert_eq!(
            request.header("User-Agent"),
            Some("iothub-jobs/0.1.0 (Rust)")
        );
        assert_eq!(request.header("x-missing"), None);
    }
}
