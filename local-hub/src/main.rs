//! `iothub-local-hub`: the local hub as a server any client can use, in any language. It
//! answers the IoT Hub jobs API (scheduled and import/export jobs, device queries) on
//! `127.0.0.1` until Ctrl-C.
//!
//! ```text
//! cargo run -p iothub-local-hub -- [--port PORT] [--devices FILE] [--tier TIER] … (--help lists every flag)
//! ```
//!
//! On start it prints two lines on stdout: the service connection string, then the endpoint URL
//! to send requests to (the host name in the connection string is what tokens are scoped to; it
//! need not resolve). Each request is logged on stderr (`RUST_LOG` changes the level). Without
//! `--policy-key`, the key is random for each start. As a server other processes share, it
//! keeps no request log (no one could read it).
//!
//! `--devices FILE` registers a fleet: `FILE` holds a JSON array of twins in the service's shape
//! (`deviceId`, `tags`, `properties.desired`, `properties.reported`, `status`, …; the fields the
//! service always writes are filled in where missing). It may be repeated; a later twin of the
//! same device replaces the earlier one. A file that cannot be read, is not such an array, or
//! holds a twin the hub refuses (the API description's twin rules among others) stops it with
//! exit code 2 before it prints anything on stdout, naming the twin and what is wrong. So does
//! any flag it cannot use.
//!
//! A twin in a `--devices` file may carry one field of the hub's own, `"behaviour"`: how that
//! device answers back when its desired properties change (`applies`, `slow`, `rejects`,
//! `offline`, `never-reports`); it is taken out of the twin. `--generate-fleet N` registers N
//! devices tagged in rings, and `--device-mix` decides how devices without a behaviour of their
//! own behave (`--device-mix rejects=0.05,offline=0.02 --seed 7`).

use std::{process::ExitCode, time::Duration};

use iothub_local_hub::{DeviceBehaviour, DeviceMix, LocalHub, LocalHubBuilder, Tier};
use tracing::Level;
use tracing_subscriber::{
    filter::Targets, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};

/// Every flag, with what it takes and its default, for `--help`: one table, so the help cannot
/// leave a setting out or state another default than the builder's.
fn flags() -> Vec<(&'static str, &'static str, String)> {
    let seconds = |d: Duration| format!("{} s", d.as_secs_f64());
    vec![
        (
            "--port PORT",
            "the port on 127.0.0.1",
            "0: a free one".to_owned(),
        ),
        (
            "--host-name NAME",
            "the host name tokens are scoped to",
            LocalHub::DEFAULT_HOST_NAME.to_owned(),
        ),
        (
            "--policy-name NAME",
            "the shared access policy's name (needs --policy-key)",
            LocalHub::DEFAULT_POLICY_NAME.to_owned(),
        ),
        (
            "--policy-key BASE64",
            "the policy's key",
            "random for each start".to_owned(),
        ),
        (
            "--devices FILE",
            "register the twins FILE holds, as a JSON array (repeatable)",
            "none".to_owned(),
        ),
        (
            "--generate-fleet N",
            "register N devices device-0000001…, tagged ring = canary (2%), early (18%), broad (80%)",
            "none".to_owned(),
        ),
        (
            "--device-mix SHARES",
            "how devices behave, as BEHAVIOUR=SHARE,… of slow, rejects, offline, never-reports; the rest apply",
            "every device applies".to_owned(),
        ),
        (
            "--seed N",
            "the seed that picks which devices the mix's shares are",
            "0".to_owned(),
        ),
        (
            "--apply-delay SECONDS",
            "how long a device takes to report back desired properties",
            seconds(LocalHubBuilder::DEFAULT_APPLY_DELAY),
        ),
        (
            "--slow-delay SECONDS",
            "how long a slow device takes",
            seconds(LocalHubBuilder::DEFAULT_SLOW_DELAY),
        ),
        (
            "--tier TIER",
            "Free, S1, S2 or S3: as many active scheduled jobs as that tier (1, 1, 5, 10)",
            "none".to_owned(),
        ),
        (
            "--max-active-jobs N",
            "scheduled jobs active at once; one more is refused 429",
            LocalHubBuilder::DEFAULT_MAX_ACTIVE_JOBS.to_string(),
        ),
        (
            "--job-run-time SECONDS",
            "how long a scheduled job runs",
            seconds(LocalHubBuilder::DEFAULT_JOB_RUN_TIME),
        ),
        (
            "--import-export-run-time SECONDS",
            "how long an import or export job runs",
            seconds(LocalHubBuilder::DEFAULT_IMPORT_EXPORT_RUN_TIME),
        ),
        (
            "--job-retention SECONDS",
            "how long a finished job is kept",
            seconds(LocalHubBuilder::DEFAULT_JOB_RETENTION),
        ),
        (
            "--max-page-size N",
            "the most items a page holds",
            LocalHubBuilder::DEFAULT_MAX_PAGE_SIZE.to_string(),
        ),
        (
            "--client-timeout SECONDS",
            "how long it waits on a client's request head or body",
            seconds(LocalHubBuilder::DEFAULT_CLIENT_TIMEOUT),
        ),
        (
            "--max-connections N",
            "the most connections served at once",
            LocalHubBuilder::DEFAULT_MAX_CONNECTIONS.to_string(),
        ),
        (
            "--request-log N",
            "how many recent requests to keep in memory, headers and bodies included",
            "0: no client of the binary could read them".to_owned(),
        ),
        (
            "--request-log-bytes BYTES",
            "the most bytes of headers and bodies that log holds",
            LocalHubBuilder::DEFAULT_RECORDED_BYTES.to_string(),
        ),
        ("--help", "this list", String::new()),
    ]
}

fn usage() -> String {
    let mut text = "usage: iothub-local-hub [FLAG VALUE]...\nthe IoT Hub jobs API on 127.0.0.1, until Ctrl-C; prints the connection string, then the endpoint\n".to_owned();
    for (flag, what, default) in flags() {
        let default = if default.is_empty() {
            String::new()
        } else {
            format!(" (default {default})")
        };
        text.push_str(&format!("  {flag:<34} {what}{default}\n"));
    }
    text
}

fn main() -> ExitCode {
    one_malloc_arena();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(serve()),
        Err(error) => {
            eprintln!("error: the local hub could not start: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Keeps glibc's allocator to one arena. Twin updates and devices' reports rewrite twins a
/// slice at a time on whichever worker thread runs them; with an arena per thread, the memory
/// they free stays spread over the arenas and the process keeps it: a rehearsal over a million
/// devices grew by 1.3 GB that one arena reuses (measured: 257 MB against 100 MB over 300,000
/// twins updated). The hub is a server of two or so threads, and never allocator-bound.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn one_malloc_arena() {
    // SAFETY: `mallopt` only sets an allocator parameter; it is called before any thread of
    // the process starts, and its answer (0 when the setting is refused) changes nothing here.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn one_malloc_arena() {}

async fn serve() -> ExitCode {
    // `Targets` reads `RUST_LOG`'s `target=level,…` form without a regex engine to build.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_target("iothub_local_hub", Level::INFO));
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
    let (builder, fleets) = match configured(std::env::args().skip(1).collect()) {
        Ok(Some(config)) => config,
        Ok(None) => {
            print!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Err(problem) => {
            eprintln!("{problem}\n{}", usage());
            return ExitCode::from(2);
        }
    };
    let hub = match builder.start().await {
        Ok(hub) => hub,
        Err(error) => {
            eprintln!("error: the local hub could not listen: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The builder takes no twins, so they load once the hub is up, and before anyone is told
    // where it is: a client never sees a hub without its fleet.
    for fleet in fleets {
        match hub.load_twins(fleet.reader) {
            Ok(loaded) => eprintln!("loaded {loaded} device(s) from {}", fleet.file),
            Err(error) => {
                eprintln!(
                    "--devices {}: {error} (the first twin is twin 0); fix that twin or remove it \
                     from the file",
                    fleet.file
                );
                return ExitCode::from(2);
            }
        }
    }
    println!("{}", hub.connection_string());
    println!("{}", hub.endpoint());
    eprintln!(
        "local hub {} listening on {}; Ctrl-C stops it",
        hub.host_name(),
        hub.endpoint()
    );
    if let Err(error) = tokio::signal::ctrl_c().await {
        eprintln!("error: cannot wait for Ctrl-C: {error}");
        return ExitCode::FAILURE;
    }
    eprintln!("stopped");
    ExitCode::SUCCESS
}

/// One `--devices` file, open: its twins are read a twin at a time once the hub is up.
struct Fleet {
    /// The file as given on the command line, to name it in messages.
    file: String,
    reader: std::fs::File,
}

/// The hub the command line describes, and the fleets to load into it once it is up; `None`
/// for `--help`.
fn configured(args: Vec<String>) -> Result<Option<(LocalHubBuilder, Vec<Fleet>)>, String> {
    let mut builder = LocalHub::builder();
    // As a server other processes share, it keeps no request log unless asked: no one could
    // read it.
    let (mut log_requests, mut log_bytes) = (0, LocalHubBuilder::DEFAULT_RECORDED_BYTES);
    let mut fleets = Vec::new();
    let mut policy_name = LocalHub::DEFAULT_POLICY_NAME.to_owned();
    let mut policy_key = None;
    let (mut mix, mut seed) = (None, 0);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        // `--flag value` or `--flag=value`; only the flag is ever repeated in a message, since
        // the value may be the policy's key.
        let (flag, mut inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg, None),
        };
        let mut value = || {
            inline
                .take()
                .or_else(|| args.next())
                .ok_or(format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--port" => {
                let port = value()?;
                builder = builder.port(
                    port.parse()
                        .map_err(|_| format!("--port {port:?} is not a port number"))?,
                );
            }
            "--host-name" => builder = builder.host_name(value()?),
            "--policy-name" => policy_name = value()?,
            "--policy-key" => policy_key = Some(value()?),
            "--devices" => fleets.push(fleet(value()?)?),
            "--generate-fleet" => builder = builder.generated_fleet(count(&flag, &value()?)?),
            "--device-mix" => mix = Some(value()?),
            "--seed" => {
                let given = value()?;
                seed = given
                    .parse()
                    .map_err(|_| format!("--seed {given:?} is not a whole number"))?;
            }
            "--apply-delay" => builder = builder.apply_delay(seconds(&flag, &value()?)?),
            "--slow-delay" => builder = builder.slow_delay(seconds(&flag, &value()?)?),
            "--tier" => {
                let tier: Tier = value()?.parse().map_err(|e| format!("--tier: {e}"))?;
                builder = builder.tier(tier);
            }
            "--max-active-jobs" => builder = builder.max_active_jobs(count(&flag, &value()?)?),
            "--job-run-time" => builder = builder.job_run_time(seconds(&flag, &value()?)?),
            "--import-export-run-time" => {
                builder = builder.import_export_run_time(seconds(&flag, &value()?)?);
            }
            "--job-retention" => builder = builder.job_retention(seconds(&flag, &value()?)?),
            "--max-page-size" => builder = builder.max_page_size(count(&flag, &value()?)?),
            "--client-timeout" => builder = builder.client_timeout(seconds(&flag, &value()?)?),
            "--max-connections" => builder = builder.max_connections(count(&flag, &value()?)?),
            "--request-log" => log_requests = count(&flag, &value()?)?,
            "--request-log-bytes" => log_bytes = count(&flag, &value()?)?,
            "--help" | "-h" => return Ok(None),
            other => {
                return Err(format!(
                    "unknown argument {:?}",
                    other.chars().take(40).collect::<String>()
                ));
            }
        }
    }
    builder = builder.request_log(log_requests, log_bytes);
    if let Some(shares) = mix {
        builder = builder.device_mix(device_mix(&shares, seed)?);
    }
    if let Some(key) = policy_key {
        builder = builder
            .policy(policy_name, &key)
            .map_err(|e| e.to_string())?;
    } else if policy_name != LocalHub::DEFAULT_POLICY_NAME {
        return Err("--policy-name needs --policy-key".to_owned());
    }
    Ok(Some((builder, fleets)))
}

/// The mix `--device-mix` describes: `BEHAVIOUR=SHARE` pairs, comma-separated.
fn device_mix(shares: &str, seed: u64) -> Result<DeviceMix, String> {
    let mut mix = DeviceMix::seeded(seed);
    for pair in shares.split(',').filter(|pair| !pair.trim().is_empty()) {
        let problem = |what: String| format!("--device-mix {pair:?}: {what}");
        let (name, share) = pair
            .split_once('=')
            .ok_or_else(|| problem("write BEHAVIOUR=SHARE, like rejects=0.05".to_owned()))?;
        let behaviour: DeviceBehaviour =
            name.trim().parse().map_err(|e| problem(format!("{e}")))?;
        let share: f64 = share
            .trim()
            .parse()
            .map_err(|_| problem(format!("{share:?} is not a share from 0.0 to 1.0")))?;
        mix = mix
            .with_share(behaviour, share)
            .map_err(|e| problem(e.to_string()))?;
    }
    Ok(mix)
}

/// A whole number for `flag`.
fn count(flag: &str, value: &str) -> Result<usize, String> {
    value
        .parse()
        .map_err(|_| format!("{flag} {value:?} is not a whole number"))
}

/// A duration for `flag`, in seconds (`0.05`, `60`).
fn seconds(flag: &str, value: &str) -> Result<Duration, String> {
    value
        .parse::<f64>()
        .ok()
        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
        .ok_or(format!("{flag} {value:?} is not a number of seconds"))
}

/// `file`, opened before the hub starts, so that a wrong path stops it before it listens.
fn fleet(file: String) -> Result<Fleet, String> {
    let reader = std::fs::File::open(&file)
        .map_err(|error| format!("--devices {file}: cannot read the file: {error}"))?;
    Ok(Fleet { file, reader })
}
