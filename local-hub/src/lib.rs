//! A local IoT Hub: a real HTTP server on `127.0.0.1` that answers the jobs API the way the
//! service does, for examples and for contract tests (yours and ours) in any language. It
//! depends on no client: point one at [`LocalHub::endpoint`] with
//! [`LocalHub::connection_string`], or run the `iothub-local-hub` binary (README.md).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use iothub_local_hub::LocalHub;
//!
//! let hub = LocalHub::start().await?;
//! hub.schedule_job("nightly-reboot");
//! assert_eq!(hub.job("nightly-reboot").unwrap()["status"], "scheduled");
//! println!("{}\n{}", hub.connection_string(), hub.endpoint());
//! # Ok(()) }
//! ```
//!
//! What it does like the service:
//! - cancelling a `scheduled`, `queued` or `enqueued` job answers `200` with the job, now
//!   `cancelled`; a `cancelled` job is answered as it is; a `running`, `completed` or `failed`
//!   job answers `400 OperationNotAllowedInCurrentState`; an unknown id `404 JobNotFound`;
//! - errors carry the service's body (`{"Message":"ErrorCode:<Code>;<text>","ExceptionMessage":"Tracking ID:…"}`)
//!   and the `iothub-errorcode` header;
//! - every request needs a valid SAS token for one of its policies (signature, `skn`, expiry
//!   and `sr`), else `401 IotHubUnauthorizedAccess`; and an `api-version` query parameter, else
//!   `400 InvalidProtocolVersion`;
//! - a `POST` without `Content-Length` gets the front end's `411 Length Required` HTML page;
//! - it holds devices with twins ([`LocalHub::add_devices`], [`LocalHub::add_twins`]) and
//!   evaluates the query language over them: a scheduled job reaches the devices its condition
//!   selects (`*` every device), and `POST /devices/query` answers `SELECT * | COUNT() AS <name>
//!   | <fields> FROM devices [WHERE …]` and `SELECT * FROM devices.jobs [WHERE …]`, paged as the
//!   service pages; anything outside the subset (documented in `query/mod.rs`: paths,
//!   `= != <> < <= > >=`, `IN`/`NIN`, `IS_DEFINED`, `AND`/`OR`/`NOT`, parentheses, string,
//!   number, boolean and `null` literals) is refused `400 ArgumentInvalid`, never read as "no
//!   devices";
//! - a twin-update job, when it completes, merges its tags and desired properties into each
//!   twin it reached (`null` removes a property) and moves the twin's version on (a version at
//!   `i64::MAX` stays there); it reads `completed` once every twin is written, a slice of
//!   twins at a time, so that no other request waits for work that grows with its devices;
//! - its devices answer back on their twins, on its clock: one whose desired properties changed
//!   reports them back after [`LocalHubBuilder::apply_delay`], acknowledging the version in
//!   Microsoft's convention (`lastDesiredVersion`, `lastDesiredStatus {code, description}`),
//!   unless its [`DeviceBehaviour`] says it is slow, rejects, is offline or never reports (per
//!   device with [`LocalHub::set_device_behaviour`], or as a seeded [`DeviceMix`]);
//!   [`LocalHubBuilder::generated_fleet`] registers a fleet tagged in rings;
//! - twins it loads and twin-update patches follow the API description's twin rules (keys of at
//!   most 1,024 bytes without control characters, `.`, `$` or spaces; top-level values of at
//!   most 4,096 bytes; at most 10 levels of objects): a patch that breaks them is refused `400
//!   ArgumentInvalid` naming the key and the rule, a twin with an error naming the device;
//! - a request whose handler panics is answered `500 ServerError`, and the hub goes on;
//! - a hub of a [`Tier`] ([`LocalHubBuilder::tier`]) runs as many scheduled jobs at once as
//!   that tier allows (1 on Free and S1, 5 on S2, 10 on S3), refusing one more with `429
//!   ThrottlingMaxActiveJobCountExceeded`; a hub built without a tier allows 100. Every hub
//!   runs one import or export job at a time, refusing another with `403 JobQuotaExceeded`;
//! - a job of either kind that finished (completed, failed or cancelled) more than 30 days
//!   ago on the hub's clock is gone, as on the service: reading or cancelling it answers `404`,
//!   and listings and `devices.jobs` queries no longer show it.
//!
//! Jobs are kept as JSON exactly as inserted, so tests can serve values this crate does not
//! know (a status of `cancelling`, timestamps without an offset, `null` maps).

mod error;
mod fleet_file;
mod handlers;
mod http;
mod query;
mod state;
mod util;

use std::{
    fmt,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub use error::Error;
pub use state::RecordedRequest;
pub use state::behaviours::{DeviceBehaviour, DeviceMix};
pub use state::tier::{ParseTierError, Tier};

use state::{compact::Compact, registry, rows, rules};

const HOUR: Duration = Duration::from_secs(3600);

/// A running local hub. The server stops when this is dropped.
pub struct LocalHub {
    address: SocketAddr,
    state: Arc<state::HubState>,
    shutdown: Option<oneshot::Sender<()>>,
}

/// Settings for a [`LocalHub`] before it starts.
#[derive(Clone)]
pub struct LocalHubBuilder {
    port: u16,
    host_name: String,
    policy_name: String,
    key: Vec<u8>,
    limits: state::Limits,
    delays: state::behaviours::Delays,
    mix: DeviceMix,
    generated_devices: usize,
}

impl Default for LocalHubBuilder {
    fn default() -> Self {
        // A fresh random key per hub, so no test can pass with a key it was not given.
        let mut key = vec![0; 32];
        aws_lc_rs::rand::fill(&mut key).expect("the system's random source is available");
        Self {
            port: 0,
            host_name: LocalHub::DEFAULT_HOST_NAME.to_owned(),
            policy_name: LocalHub::DEFAULT_POLICY_NAME.to_owned(),
            key,
            limits: state::Limits {
                max_active_jobs: Self::DEFAULT_MAX_ACTIVE_JOBS,
                job_run_time: Self::DEFAULT_JOB_RUN_TIME,
                max_page_size: Self::DEFAULT_MAX_PAGE_SIZE,
                import_export_run_time: Self::DEFAULT_IMPORT_EXPORT_RUN_TIME,
                job_retention: Self::DEFAULT_JOB_RETENTION,
                client_timeout: Self::DEFAULT_CLIENT_TIMEOUT,
                max_connections: Self::DEFAULT_MAX_CONNECTIONS,
                recorded_requests: Self::DEFAULT_RECORDED_REQUESTS,
                recorded_bytes: Self::DEFAULT_RECORDED_BYTES,
            },
            delays: state::behaviours::Delays {
                apply: Self::DEFAULT_APPLY_DELAY,
                slow: Self::DEFAULT_SLOW_DELAY,
            },
            mix: DeviceMix::default(),
            generated_devices: 0,
        }
    }
}

impl LocalHubBuilder {
    /// Scheduled jobs active at once unless set otherwise: more than any tier allows, so that
    /// tests are not throttled unless they ask.
    pub const DEFAULT_MAX_ACTIVE_JOBS: usize = 100;
    /// How long a scheduled job runs on the hub's clock unless set otherwise.
    pub const DEFAULT_JOB_RUN_TIME: Duration = Duration::from_secs(60);
    /// How long an import or export job runs on the hub's clock unless set otherwise.
    pub const DEFAULT_IMPORT_EXPORT_RUN_TIME: Duration = Duration::from_secs(3);
    /// The most items a page holds unless set otherwise: small, so that paging is exercised.
    pub const DEFAULT_MAX_PAGE_SIZE: usize = 3;
    /// How long a finished job is kept unless set otherwise: 30 days, as the service keeps them.
    pub const DEFAULT_JOB_RETENTION: Duration = rules::JOB_RETENTION;
    /// How long the hub waits on a client's request head or body unless set otherwise.
    pub const DEFAULT_CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
    /// The most connections served at once unless set otherwise: within a process's usual
    /// 1,024 file descriptors.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
    /// How many recent requests [`LocalHub::requests`] keeps unless set otherwise.
    pub const DEFAULT_RECORDED_REQUESTS: usize = 1_000;
    /// How many bytes of headers and bodies the request log holds unless set otherwise.
    pub const DEFAULT_RECORDED_BYTES: usize = 16 << 20;
    /// How long a device takes to report back desired properties it was sent unless set
    /// otherwise: short, as a connected device's answer is.
    pub const DEFAULT_APPLY_DELAY: Duration = Duration::from_secs(2);
    /// How long a [`DeviceBehaviour::Slow`] device takes unless set otherwise: longer than a
    /// wait should stand for one device, shorter than a convergence wait's usual half hour.
    pub const DEFAULT_SLOW_DELAY: Duration = Duration::from_secs(10 * 60);

    /// How long, on the hub's clock, a device takes to report back desired properties sent
    /// to it (default [`Self::DEFAULT_APPLY_DELAY`]): counted from when its twin was written.
    pub fn apply_delay(mut self, delay: Duration) -> Self {
        self.delays.apply = delay;
        self
    }

    /// How long a [`DeviceBehaviour::Slow`] device takes instead (default
    /// [`Self::DEFAULT_SLOW_DELAY`]).
    pub fn slow_delay(mut self, delay: Duration) -> Self {
        self.delays.slow = delay;
        self
    }

    /// How the devices behave, but for those given their own
    /// ([`LocalHub::set_device_behaviour`]): by default every device applies what it is sent.
    /// The mix decides how devices report back on their twins; direct methods are answered as
    /// [`LocalHub::set_method_response`] and [`LocalHub::set_device_offline`] say.
    pub fn device_mix(mut self, mix: DeviceMix) -> Self {
        self.mix = mix;
        self
    }

    /// Registers `devices` devices when the hub starts, `device-0000001` onwards, each tagged
    /// `ring` in the rings of [`LocalHub::GENERATED_RINGS`] (in id order, each ring at least
    /// one device when there are enough) and reporting firmware
    /// [`LocalHub::GENERATED_FIRMWARE`] (`properties.reported.firmware.version`).
    pub fn generated_fleet(mut self, devices: usize) -> Self {
        self.generated_devices = devices;
        self
    }

    /// The port to listen on, on `127.0.0.1` (default 0: a free one, see
    /// [`LocalHub::endpoint`]). The hub answers plain HTTP, so it listens on loopback only.
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// The host name tokens must be scoped to (default [`LocalHub::DEFAULT_HOST_NAME`]).
    pub fn host_name(mut self, host_name: impl Into<String>) -> Self {
        self.host_name = host_name.into();
        self
    }

    /// The shared access policy the hub accepts: its name and base64 key (default
    /// [`LocalHub::DEFAULT_POLICY_NAME`] with a random key).
    pub fn policy(mut self, name: impl Into<String>, key_base64: &str) -> Result<Self, Error> {
        self.policy_name = name.into();
        self.key = base64::engine::general_purpose::STANDARD
            .decode(key_base64)
            .map_err(|_| Error::new("the policy key is not valid base64"))?;
        Ok(self)
    }

    /// How many scheduled jobs may be queued, scheduled or running at once (default
    /// [`Self::DEFAULT_MAX_ACTIVE_JOBS`]); creating one
    /// more answers `429 ThrottlingMaxActiveJobCountExceeded`. A job that completes or is
    /// cancelled frees its place. [`tier`](Self::tier) sets a real hub's limit.
    pub fn max_active_jobs(mut self, jobs: usize) -> Self {
        self.limits.max_active_jobs = jobs;
        self
    }

    /// Limits the scheduled jobs active at once to what a hub of `tier` runs
    /// ([`Tier::max_active_jobs`]: 1 on Free and S1, 5 on S2, 10 on S3), as
    /// [`max_active_jobs`](Self::max_active_jobs) does. Without a tier the hub allows 100, so
    /// that tests are not throttled unless they ask. Import and export jobs run one at a time
    /// on every tier, with or without this.
    pub fn tier(self, tier: Tier) -> Self {
        self.max_active_jobs(tier.max_active_jobs())
    }

    /// How long a job of either kind is kept, on the hub's clock, after it completed, failed
    /// or was cancelled (default [`Self::DEFAULT_JOB_RETENTION`]); then reading or cancelling
    /// it answers `404 JobNotFound` and no listing or query shows it. A scheduled job's time
    /// counts from its `endTime` (for one cancelled before it started, its `createdTime`);
    /// one inserted with [`LocalHub::insert_job_json`] is kept at least that long after its
    /// insertion. Active jobs are always kept.
    pub fn job_retention(mut self, retention: Duration) -> Self {
        self.limits.job_retention = retention;
        self
    }

    /// How long a job runs, on the hub's clock, from its start time until it completes
    /// (default [`Self::DEFAULT_JOB_RUN_TIME`]). Move the clock with [`LocalHub::advance_time`].
    pub fn job_run_time(mut self, run_time: Duration) -> Self {
        self.limits.job_run_time = run_time;
        self
    }

    /// How long an import or export job takes on the hub's clock, from its creation until it
    /// completes (default [`Self::DEFAULT_IMPORT_EXPORT_RUN_TIME`]): `enqueued` for the first
    /// tenth, then `running` with its
    /// progress rising.
    pub fn import_export_run_time(mut self, run_time: Duration) -> Self {
        self.limits.import_export_run_time = run_time;
        self
    }

    /// The most items a query page holds (default [`Self::DEFAULT_MAX_PAGE_SIZE`]).
    pub fn max_page_size(mut self, jobs: usize) -> Self {
        self.limits.max_page_size = jobs.max(1);
        self
    }

    /// How long the hub waits on a client (default [`Self::DEFAULT_CLIENT_TIMEOUT`]): for a
    /// request's head — so a silent
    /// connection, or a kept-alive one left idle, is closed after it — and for the request's
    /// body, else `408` and the connection closed. Slow or stalled clients cannot hold the
    /// hub's connections for longer.
    pub fn client_timeout(mut self, timeout: Duration) -> Self {
        self.limits.client_timeout = timeout;
        self
    }

    /// The most connections the hub serves at once (default [`Self::DEFAULT_MAX_CONNECTIONS`]);
    /// further clients wait to be accepted until one closes.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.limits.max_connections = connections.max(1);
        self
    }

    /// How much of its traffic the hub keeps for [`LocalHub::requests`]: the most recent
    /// `requests` requests (default [`Self::DEFAULT_RECORDED_REQUESTS`]), holding at most
    /// `bytes` bytes of headers and bodies (default [`Self::DEFAULT_RECORDED_BYTES`]); the
    /// oldest are dropped to make room. `0` keeps none: for a hub
    /// serving other processes, which cannot read the log anyway.
    pub fn request_log(mut self, requests: usize, bytes: usize) -> Self {
        self.limits.recorded_requests = requests;
        self.limits.recorded_bytes = bytes;
        self
    }

    /// Starts the hub on `127.0.0.1`, on the configured port or a free one.
    pub async fn start(self) -> std::io::Result<LocalHub> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port)).await?;
        let address = listener.local_addr()?;
        let state = Arc::new(state::HubState {
            resource: self.host_name.to_ascii_lowercase(),
            host_name: self.host_name,
            policy_name: self.policy_name,
            signing_key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &self.key),
            key: self.key,
            jobs: Mutex::default(),
            import_export_jobs: Mutex::default(),
            devices: Mutex::default(),
            twins: Mutex::new(registry::Registry::new(state::behaviours::Behaviours::new(
                self.delays,
                self.mix,
            ))),
            updates_queued: tokio::sync::Notify::new(),
            requests: Mutex::new(state::RequestLog::new(
                self.limits.recorded_requests,
                self.limits.recorded_bytes,
            )),
            frozen_time: Mutex::default(),
            limits: self.limits,
        });
        let (shutdown, stopped) = oneshot::channel();
        let app = http::router(state.clone());
        let served = state.clone();
        tokio::spawn(async move {
            // A task of its own, so that a slice being written never delays an accept; it
            // stops with the server.
            let writer = tokio::spawn({
                let state = served.clone();
                async move { state.write_queued_updates().await }
            });
            http::serve(listener, app, &served.limits, stopped).await;
            writer.abort();
        });
        let hub = LocalHub {
            address,
            state,
            shutdown: Some(shutdown),
        };
        hub.settled_twins()
            .twins_mut()
            .extend(registry::generated(self.generated_devices));
        Ok(hub)
    }
}

impl LocalHub {
    /// The policy name of the hub's default shared access policy, as on a real hub.
    pub const DEFAULT_POLICY_NAME: &str = "iothubowner";
    /// The host name the local hub pretends to be unless built otherwise; tokens must be
    /// scoped to it.
    pub const DEFAULT_HOST_NAME: &str = "localhub.azure-devices.net";
    /// The rings of a generated fleet ([`LocalHubBuilder::generated_fleet`]), in id order,
    /// each with its share of the devices.
    pub const GENERATED_RINGS: [(&str, f64); 3] =
        [("canary", 0.02), ("early", 0.18), ("broad", 0.80)];
    /// The firmware version a generated fleet's devices report.
    pub const GENERATED_FIRMWARE: &str = "1.0.0";

    /// Starts a hub with the default host name and policy and a random key.
    pub async fn start() -> std::io::Result<Self> {
        LocalHubBuilder::default().start().await
    }

    /// Settings for a hub before it starts.
    pub fn builder() -> LocalHubBuilder {
        LocalHubBuilder::default()
    }

    /// The base URL to send requests to, such as `http://127.0.0.1:49152`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The host name the hub pretends to be.
    pub fn host_name(&self) -> &str {
        &self.state.host_name
    }

    /// The name of the shared access policy the hub accepts.
    pub fn policy_name(&self) -> &str {
        &self.state.policy_name
    }

    /// The policy's key, base64, for tests that mint their own tokens.
    pub fn policy_key(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.state.key)
    }

    /// A service connection string for this hub's policy. Pair it with [`endpoint`](Self::endpoint):
    /// the host name is not resolvable.
    pub fn connection_string(&self) -> String {
        format!(
            "HostName={};SharedAccessKeyName={};SharedAccessKey={}",
            self.state.host_name,
            self.state.policy_name,
            self.policy_key()
        )
    }

    /// Adds (or replaces) a job given as raw JSON, kept exactly as given; its `"jobId"` must be
    /// a string. Use this to serve values the crate's model does not know.
    ///
    /// A finished job is kept for the retention ([`LocalHubBuilder::job_retention`]) from its
    /// `endTime` or from now on the hub's clock, whichever is later: one served with an old
    /// `endTime` (a recorded answer from 2020, say) stays until the clock moves 30 days on.
    ///
    /// # Panics
    /// If `job` has no string `"jobId"`: a test set-up mistake.
    pub fn insert_job_json(&self, job: Value) {
        let id = job
            .get("jobId")
            .and_then(Value::as_str)
            .expect("the job has a string \"jobId\"")
            .to_owned();
        let devices = util::lock(&self.state.devices).clone();
        let now = self.state.utc_now();
        self.state.settle_twins_now();
        let twins = util::lock(&self.state.twins);
        let job = state::ScheduledJob::as_given(job, twins.twins(), &devices, now);
        drop(twins);
        util::lock(&self.state.jobs).insert(id, job);
    }

    /// Adds a twin-update job with status `scheduled`, starting an hour from now on the hub's
    /// clock, for device `demo-device` (added if the hub has no such device), and returns it.
    pub fn schedule_job(&self, job_id: &str) -> Value {
        self.ensure_device("demo-device");
        let now = self.state.now();
        let in_an_hour =
            state::within_dates(now.checked_add(HOUR).unwrap_or_else(state::last_date));
        let start = chrono::DateTime::<chrono::Utc>::from(in_an_hour);
        let request = json!({
            "type": "scheduleUpdateTwin",
            "queryCondition": "deviceId IN ['demo-device']",
            "startTime": start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "maxExecutionTimeInSeconds": 3600,
            "updateTwin": {"etag": "*", "tags": {"maintenance": {"window": "night"}}},
        });
        let filter = query::condition(request["queryCondition"].as_str().unwrap_or_default())
            .unwrap_or_else(|_| query::Filter::every());
        let fleet = rows::Fleet::of(&filter, util::lock(&self.state.twins).twins());
        let job = handlers::scheduled::created_job(job_id, request, fleet, start, now);
        let json = job.json.clone();
        util::lock(&self.state.jobs).insert(job_id.to_owned(), job);
        json
    }

    /// Stops the hub's clock at `time`: token expiry and job progress are judged by it from
    /// now on. A time outside years 0000–9999 stops it at the nearest end of that range.
    pub fn set_time(&self, time: SystemTime) {
        *util::lock(&self.state.frozen_time) = Some(state::within_dates(time));
    }

    /// Moves the hub's clock forward by `by` (and stops it there), at most to the end of year
    /// 9999.
    pub fn advance_time(&self, by: Duration) {
        let now = self.state.now();
        self.set_time(now.checked_add(by).unwrap_or_else(state::last_date));
    }

    /// The job `job_id` as the hub would return it now; `None` once it is gone. A twin update
    /// whose end has come is written into its twins first, so that it reads `completed`.
    pub fn job(&self, job_id: &str) -> Option<Value> {
        self.state.settle_job_now(job_id);
        self.state
            .jobs_now()
            .get(job_id)
            .map(|job| job.json.clone())
    }

    /// Makes device `device_id` answer direct methods with `status` and `payload` (by default a
    /// device answers `200` with `{}`): its row of a direct-method job then reads `completed`
    /// with that outcome. Jobs that finished before (on the hub's clock) keep the answers
    /// they had. The hub adds the device if it has none of that id.
    pub fn set_method_response(&self, device_id: &str, status: u16, payload: Value) {
        self.set_device(device_id, rows::Device::Answers { status, payload });
    }

    /// Makes device `device_id` never connect ([`DeviceBehaviour::Offline`]): its row of a
    /// direct-method job reads `failed`, with error `DeviceNotOnline`, and it reports nothing
    /// back on its twin. Jobs that finished before keep the answers they had. The hub adds the
    /// device if it has none of that id.
    pub fn set_device_offline(&self, device_id: &str) {
        self.set_device_behaviour(device_id, DeviceBehaviour::Offline);
    }

    /// Makes device `device_id` behave as `behaviour` from now on, over the fleet's mix
    /// ([`LocalHubBuilder::device_mix`]). An [`Offline`](DeviceBehaviour::Offline) device
    /// also fails direct methods; one set back online answers them with `200` and `{}` again
    /// ([`set_method_response`](Self::set_method_response) changes that), and reports its
    /// twin's latest desired state after its delay. The hub adds the device if it
    /// has none of that id.
    pub fn set_device_behaviour(&self, device_id: &str, behaviour: DeviceBehaviour) {
        self.ensure_device(device_id);
        let now = self.state.utc_now();
        self.settled_twins()
            .set_behaviour(device_id, behaviour, now);
        let mut devices = util::lock(&self.state.devices);
        let configured = Arc::make_mut(&mut devices);
        if behaviour == DeviceBehaviour::Offline {
            configured.insert(device_id.to_owned(), rows::Device::Offline);
        } else if matches!(configured.get(device_id), Some(rows::Device::Offline)) {
            configured.remove(device_id);
        }
    }

    /// How device `device_id` behaves now: as set for it, else as the fleet's mix says.
    pub fn device_behaviour(&self, device_id: &str) -> DeviceBehaviour {
        util::lock(&self.state.twins).behaviour(device_id)
    }

    fn set_device(&self, device_id: &str, device: rows::Device) {
        self.ensure_device(device_id);
        let mut devices = util::lock(&self.state.devices);
        Arc::make_mut(&mut devices).insert(device_id.to_owned(), device);
    }

    /// Adds devices `device_ids`, each with a twin of nothing but the fields the service
    /// always writes (a device the hub has is kept as it is). Jobs scheduled from now on whose
    /// condition selects them reach them. Returns how many devices the hub has now.
    ///
    /// # Errors
    /// An [`Error`] naming the
    /// first id that breaks IoT Hub's device-id rule; then no device is added.
    pub fn add_devices<I>(&self, device_ids: I) -> Result<usize, Error>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let twins = device_ids
            .into_iter()
            .map(|id| registry::bare(id.as_ref()).map_err(refused_twin))
            .collect::<Result<Vec<_>, _>>()?;
        let mut registry = self.settled_twins();
        let registered = registry.twins_mut();
        for (device_id, twin) in twins {
            registered
                .entry(device_id)
                .or_insert_with(|| Compact::new(&twin));
        }
        Ok(registered.len())
    }

    /// Adds devices with the twins given, in the service's own shape (`deviceId`, `tags`,
    /// `properties.desired`, `properties.reported`, `status`, `connectionState`, …; the fields
    /// the service always writes are filled in where missing). A twin replaces the device's
    /// twin if the hub has it. Returns how many were added or replaced; none is, if any twin
    /// cannot be one.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let hub = iothub_local_hub::LocalHub::start().await?;
    /// hub.add_twins([serde_json::json!({
    ///     "deviceId": "sensor-1",
    ///     "tags": {"ring": "canary"},
    ///     "properties": {"reported": {"firmware": "2.3.0"}},
    /// })])?;
    /// assert_eq!(hub.twin("sensor-1").unwrap()["tags"]["ring"], "canary");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// An [`Error`] naming the
    /// first twin that is not an object, lacks a valid `deviceId`, has `tags` or properties
    /// that are not objects, or breaks the API description's twin rules, saying which: a key
    /// (at any depth of `tags`, `properties.desired`, `properties.reported`) over 1,024 bytes
    /// or holding a control character, `.`, `$` or a space; a top-level value over 4,096 bytes
    /// of JSON; more than 10 levels of objects; a `version` (or the properties' `$version`)
    /// that is not a whole number from 0 to `i64::MAX`. The service's own `$version` and
    /// `$metadata` at the top of the properties are its own, so a twin exported from a real
    /// hub loads.
    pub fn add_twins(&self, twins: impl IntoIterator<Item = Value>) -> Result<usize, Error> {
        let checked = twins
            .into_iter()
            .enumerate()
            .map(|(at, twin)| {
                registry::twin(twin)
                    .map(|(device_id, twin)| (device_id, Compact::new(&twin)))
                    .map_err(|problem| refused_twin(format!("twin {at}: {problem}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let added = checked.len();
        self.settled_twins().twins_mut().extend(checked);
        Ok(added)
    }

    /// Adds the devices of a fleet file: a JSON array of twins in the service's shape, as
    /// [`add_twins`](Self::add_twins) takes them, read from `reader` a twin at a time (each is
    /// held compactly as soon as it is read, so a file of a million twins loads in the memory
    /// the twins take). A twin may carry the hub's own field `"behaviour"` — `applies`, `slow`,
    /// `rejects`, `offline` or `never-reports` ([`DeviceBehaviour`]) — taken out of the twin
    /// and set for its device. Returns how many were added or replaced; none is, if any twin
    /// cannot be one.
    ///
    /// # Errors
    /// An [`Error`] saying what is not JSON or not an array of twins, or naming the first twin
    /// (counted from 0) that breaks a rule, as [`add_twins`](Self::add_twins) says.
    pub fn load_twins(&self, reader: impl std::io::Read) -> Result<usize, Error> {
        let fleet = fleet_file::read(reader).map_err(Error::new)?;
        let added = fleet.twins.len();
        self.settled_twins().twins_mut().extend(fleet.twins);
        for (device_id, behaviour) in fleet.behaviours {
            self.set_device_behaviour(&device_id, behaviour);
        }
        Ok(added)
    }

    /// The twin of device `device_id`, as a `SELECT * FROM devices` query answers it.
    pub fn twin(&self, device_id: &str) -> Option<Value> {
        self.settled_twins()
            .twins()
            .get(device_id)
            .map(Compact::to_value)
    }

    /// The twins, after every job whose end has come has changed them.
    fn settled_twins(&self) -> std::sync::MutexGuard<'_, registry::Registry> {
        // Jobs end (and twin updates are written, and answers settle) before the registry
        // changes.
        self.state.settle_twins_now();
        util::lock(&self.state.twins)
    }

    fn ensure_device(&self, device_id: &str) {
        if let Ok((device_id, twin)) = registry::bare(device_id) {
            let mut registry = self.settled_twins();
            if !registry.twins().contains_key(&device_id) {
                registry.twins_mut().insert(device_id, Compact::new(&twin));
            }
        }
    }

    /// The import or export job `job_id` as the hub would return it now.
    pub fn import_export_job(&self, job_id: &str) -> Option<Value> {
        self.state.import_export_job(job_id)
    }

    /// The requests received so far, oldest first — refused ones too, since what a refused
    /// client sent is often the point — within the log's bounds
    /// ([`LocalHubBuilder::request_log`]: by default the last 1,000, within 16 MiB).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        util::lock(&self.state.requests).recorded()
    }
}

fn refused_twin(problem: String) -> Error {
    Error::new(problem)
}

impl fmt::Debug for LocalHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalHub")
            .field("endpoint", &self.endpoint())
            .field("host_name", &self.state.host_name)
            .field("policy_name", &self.state.policy_name)
            .finish_non_exhaustive()
    }
}

impl Drop for LocalHub {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
