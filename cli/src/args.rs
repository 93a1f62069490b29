//! The command line: every command, flag and default, as types. Flag names follow `az iot hub
//! job` where it has one, so that an operator's habits carry over.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// How long a wait pauses between polls unless told otherwise, in seconds: `az iot hub job`'s
/// default.
pub const DEFAULT_POLL_INTERVAL: u64 = 10;
/// How long a wait lasts unless told otherwise, in seconds: `az iot hub job`'s default.
pub const DEFAULT_POLL_DURATION: u64 = 600;

const EXIT_CODES: &str = "\
Exit codes:
  0    done
  1    any other failure (the service refused, the network failed, …)
  2    invalid input: nothing was sent
  3    waited and it did not happen: a wait timed out, a job failed or was cancelled, a
       rollout halted, devices did not converge
  130  interrupted (Ctrl-C): what runs on the hub runs on; the message says how to resume";

/// Azure IoT Hub jobs, device queries, convergence and rollouts in waves.
///
/// Every command prints one JSON document on stdout (the SDK's serialized types), progress on
/// stderr, and logs only with -v. Credentials come from IOTHUB_CONNECTION_STRING (or
/// --connection-string), or from your Azure CLI login with --hub NAME --auth-type login; no
/// key, token or signature is ever printed.
#[derive(Debug, Parser)]
#[command(name = "iothub-jobs", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// What every command takes.
#[derive(Debug, Args)]
pub struct Global {
    /// A service connection string (HostName=…;SharedAccessKeyName=…;SharedAccessKey=…).
    #[arg(
        long,
        global = true,
        env = "IOTHUB_CONNECTION_STRING",
        hide_env_values = true
    )]
    pub connection_string: Option<String>,
    /// The base URL to send requests to instead of https://<HostName> (a local hub's endpoint).
    #[arg(long, global = true, env = "IOTHUB_ENDPOINT")]
    pub endpoint: Option<String>,
    /// The hub's name (`myhub`) or host name (`myhub.azure-devices.net`), for --auth-type login.
    #[arg(long, global = true, env = "IOTHUB_HUB")]
    pub hub: Option<String>,
    /// How to authenticate: `key` (the connection string's policy key) or `login` (your Azure
    /// CLI login, `az login`: Microsoft Entra ID).
    #[arg(long, global = true, value_enum, default_value_t = AuthType::Key)]
    pub auth_type: AuthType,
    /// What to print on stdout.
    #[arg(long, short, global = true, value_enum, default_value_t = OutputFormat::Json)]
    pub output: OutputFormat,
    /// No progress bars on stderr (they are hidden anyway when stderr is not a terminal).
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Log to stderr: -v the SDK's requests and retries, -vv more, -vvv everything.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuthType {
    Key,
    Login,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// One JSON document.
    Json,
    /// A table of the document's fields, for reading.
    Table,
    /// Nothing: the exit code says how it went.
    None,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scheduled jobs: create, show, list, cancel, and each device's outcome.
    #[command(subcommand)]
    Job(JobCommand),
    /// The devices a query condition selects: count, ids, twins, distribution, convergence.
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// Import and export jobs of device identities.
    #[command(subcommand, name = "import-export")]
    ImportExport(ImportExportCommand),
    /// Runs a rollout described in a plan file (TOML): one job's operation, wave by wave,
    /// each behind a gate.
    Rollout(RolloutArgs),
    /// Prints a shell's completion script: `iothub-jobs completions bash > …`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// A job id, given as the first argument or with --job-id.
#[derive(Debug, Args)]
pub struct JobId {
    /// The job's id.
    #[arg(value_name = "JOB_ID", required_unless_present = "job_id_flag")]
    pub job_id: Option<String>,
    /// The job's id (as `az iot hub job` takes it).
    #[arg(long = "job-id", value_name = "JOB_ID", conflicts_with = "job_id")]
    pub job_id_flag: Option<String>,
}

impl JobId {
    pub fn get(&self) -> &str {
        self.job_id
            .as_deref()
            .or(self.job_id_flag.as_deref())
            .unwrap_or_default()
    }
}

/// How a wait polls: `az iot hub job`'s `--poll-interval` and `--poll-duration`.
#[derive(Debug, Args)]
pub struct Polling {
    /// Seconds between polls.
    #[arg(long, default_value_t = DEFAULT_POLL_INTERVAL, value_name = "SECONDS")]
    pub poll_interval: u64,
    /// Seconds to wait in all before giving up (exit code 3).
    #[arg(long, default_value_t = DEFAULT_POLL_DURATION, value_name = "SECONDS")]
    pub poll_duration: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum JobType {
    #[value(name = "scheduleUpdateTwin")]
    ScheduleUpdateTwin,
    #[value(name = "scheduleDeviceMethod")]
    ScheduleDeviceMethod,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum JobStatus {
    Queued,
    Scheduled,
    Running,
    Cancelled,
    Completed,
    Failed,
}

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Schedules a twin update or a direct method on the devices a condition selects.
    Create(Box<CreateArgs>),
    /// Shows a job.
    Show(JobId),
    /// Lists the scheduled jobs the service still has (30 days after they end), page by page.
    List {
        /// Only jobs of this type.
        #[arg(long, value_enum)]
        job_type: Option<JobType>,
        /// Only jobs in this state.
        #[arg(long, value_enum)]
        job_status: Option<JobStatus>,
        /// At most this many.
        #[arg(long)]
        top: Option<usize>,
    },
    /// Cancels a job that has not started.
    Cancel {
        #[command(flatten)]
        job: JobId,
        /// Wait until it reads `cancelled` (exit code 3 if it ran first).
        #[arg(long)]
        wait: bool,
        #[command(flatten)]
        polling: Polling,
    },
    /// Each device's outcome: succeeded, failed, and direct methods that answered outside 2xx
    /// apart (the service counts those as succeeded).
    Outcome {
        #[command(flatten)]
        job: JobId,
        /// The most failed devices, and method failures, to list.
        #[arg(long, default_value_t = 100)]
        max_details: usize,
    },
    /// The job's rows, one per device.
    Devices {
        #[command(flatten)]
        job: JobId,
        /// Only the rows of devices where it failed.
        #[arg(long)]
        failed_only: bool,
        /// At most this many.
        #[arg(long)]
        top: Option<usize>,
    },
    /// Schedules the job's operation again on the devices where it failed.
    Rerun {
        #[command(flatten)]
        job: JobId,
        /// Also the devices whose direct method answered outside 2xx.
        #[arg(long)]
        method_failures: bool,
        /// The new jobs' ids start with this (default: `<job id>-rerun`).
        #[arg(long)]
        job_id_prefix: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The new job's id (1–64 letters, digits and `-`).
    #[arg(long)]
    pub job_id: String,
    /// What the job does.
    #[arg(long, value_enum)]
    pub job_type: JobType,
    /// The devices it reaches: the WHERE part of a device query (`*` for every device).
    #[arg(long, short = 'q')]
    pub query_condition: String,
    /// For scheduleUpdateTwin: the twin patch, as JSON or a file holding it:
    /// `{"tags": {…}, "properties": {"desired": {…}}}`.
    #[arg(long, value_name = "JSON|FILE")]
    pub twin_patch: Option<String>,
    /// For scheduleDeviceMethod: the method to call.
    #[arg(long)]
    pub method_name: Option<String>,
    /// For scheduleDeviceMethod: the payload, as JSON or a file holding it.
    #[arg(long, value_name = "JSON|FILE")]
    pub method_payload: Option<String>,
    /// For scheduleDeviceMethod: seconds to wait for a device's answer (service default 30).
    #[arg(long, value_name = "SECONDS")]
    pub method_response_timeout: Option<u64>,
    /// For scheduleDeviceMethod: seconds to wait for a device to connect (service default 0).
    #[arg(long, value_name = "SECONDS")]
    pub method_connect_timeout: Option<u64>,
    /// When it starts, as RFC 3339 (`2026-12-24T02:00:00Z`; default: now).
    #[arg(long)]
    pub start_time: Option<String>,
    /// Its maximum execution time, in seconds (the service's default: 3600).
    #[arg(long, value_name = "SECONDS")]
    pub ttl: Option<u64>,
    /// Wait until it completes (exit code 3 if it fails, is cancelled, or the wait times out).
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub polling: Polling,
}

/// The devices a command reads: a condition, `*` for every device.
#[derive(Debug, Args)]
pub struct Selection {
    /// The WHERE part of a device query (`*`: every device).
    #[arg(long, short = 'q', default_value = "*")]
    pub query_condition: String,
}

#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// How many devices the condition selects.
    Count(Selection),
    /// The ids of the devices it selects.
    Ids {
        #[command(flatten)]
        selection: Selection,
        /// At most this many.
        #[arg(long)]
        top: Option<usize>,
    },
    /// The twins of the devices it selects.
    Twins {
        #[command(flatten)]
        selection: Selection,
        /// At most this many.
        #[arg(long)]
        top: Option<usize>,
    },
    /// How the devices it selects distribute over properties' values (GROUP BY), with counts.
    Distribution {
        #[command(flatten)]
        selection: Selection,
        /// A property to group by: `tags.ring`, `properties.reported.firmware.version`, a twin
        /// field such as `status`. Repeat for several.
        #[arg(long = "by", required = true, value_name = "PROPERTY")]
        by: Vec<String>,
    },
    /// Whether the devices it selects applied what their twins were sent: targeted, converged,
    /// failed and pending.
    Convergence(Box<ConvergenceArgs>),
}

#[derive(Debug, Args)]
pub struct ConvergenceArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Converged: the desired properties of this patch reported back (JSON or a file; a
    /// status other than 200 in Microsoft's convention counts as failed).
    #[arg(long, value_name = "JSON|FILE", group = "convergence")]
    pub patch: Option<String>,
    /// Converged: Microsoft's convention (`properties.desired.$version =
    /// properties.reported.lastDesiredVersion AND properties.reported.lastDesiredStatus.code =
    /// 200`). The default.
    #[arg(long, group = "convergence")]
    pub acknowledged: bool,
    /// Converged: this condition of yours.
    #[arg(long, value_name = "CONDITION", group = "convergence")]
    pub converged: Option<String>,
    /// Failed: this condition of yours (with --converged).
    #[arg(long, value_name = "CONDITION", requires = "converged")]
    pub failed: Option<String>,
    /// Wait until the share converges, too many fail (exit code 3), or the wait times out
    /// (exit code 3).
    #[arg(long)]
    pub wait: bool,
    /// With --wait: the share, 0–1, that must converge.
    #[arg(long, default_value_t = 1.0)]
    pub share: f64,
    /// With --wait: the largest share, 0–1, that may fail.
    #[arg(long, default_value_t = 0.0)]
    pub max_failed_share: f64,
    /// With --wait: how many pending and failed device ids the report names.
    #[arg(long, default_value_t = 20)]
    pub sample: usize,
    /// With --wait: seconds between polls (each costs three queries; the service allows 20 a
    /// minute per unit on S1 and S2).
    #[arg(long, default_value_t = 15, value_name = "SECONDS")]
    pub poll_interval: u64,
    /// With --wait: seconds to wait in all.
    #[arg(long, default_value_t = 1800, value_name = "SECONDS")]
    pub poll_duration: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StorageAuth {
    /// A SAS token in each container URI.
    #[value(name = "keyBased")]
    KeyBased,
    /// The hub's managed identity (--identity for a user-assigned one).
    #[value(name = "identityBased")]
    IdentityBased,
}

/// How an import or export job reaches its storage.
#[derive(Debug, Args)]
pub struct Storage {
    /// How the hub authenticates to the storage account.
    #[arg(long, value_enum, default_value_t = StorageAuth::KeyBased)]
    pub storage_auth_type: StorageAuth,
    /// With identityBased: a user-assigned managed identity's resource id (default: the hub's
    /// system-assigned identity).
    #[arg(long)]
    pub identity: Option<String>,
    /// Wait until it completes, showing its progress.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub polling: Polling,
}

#[derive(Debug, Subcommand)]
pub enum ImportExportCommand {
    /// Exports the hub's device identities to a blob container (without their keys unless
    /// --include-keys).
    Export {
        /// The blob container's URI (with a SAS token for keyBased).
        #[arg(long)]
        output_container: String,
        /// Include the devices' authentication keys (secrets) in the export.
        #[arg(long)]
        include_keys: bool,
        #[command(flatten)]
        storage: Storage,
    },
    /// Imports device identities from a blob container.
    Import {
        /// The container holding `devices.txt`.
        #[arg(long)]
        input_container: String,
        /// The container the job writes its log to.
        #[arg(long)]
        output_container: String,
        #[command(flatten)]
        storage: Storage,
    },
    /// Shows an import or export job.
    Show(JobId),
    /// Lists the import and export jobs.
    List,
    /// Cancels an import or export job.
    Cancel(JobId),
}

#[derive(Debug, Args)]
pub struct RolloutArgs {
    /// The plan file (TOML); `cli/plans/firmware.toml` shows every field.
    pub plan: PathBuf,
    /// Print each wave's job id and device count, and create nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Resume at this wave (its name, or its number from 1), skipping those before it; a
    /// wave whose job exists already is waited for and judged, not scheduled twice.
    #[arg(long, value_name = "WAVE")]
    pub start_at: Option<String>,
}
