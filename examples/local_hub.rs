//! The local hub as a server any client can use, in any language: it answers the IoT Hub jobs
//! API (scheduled and import/export jobs, device queries) on `127.0.0.1` until Ctrl-C.
//!
//! ```text
//! cargo run --example local_hub -- [--port PORT] [--host-name NAME] [--policy-name NAME] [--policy-key BASE64] [--devices FILE] [--tier TIER]
//! ```
//!
//! `--tier Free|S1|S2|S3` (in any case) runs as many scheduled jobs at once as a hub of that tier
//! does — 1 on Free and S1, 5 on S2, 10 on S3 — and refuses one more with `429
//! ThrottlingMaxActiveJobCountExceeded`, so a client's handling of that can be tried. Without
//! it the hub allows 100 active jobs. Import and export jobs run one at a time on every tier.
//! Another value stops it with exit code 2.
//!
//! `--devices FILE` registers a fleet: `FILE` holds a JSON array of twins in the service's shape
//! (`deviceId`, `tags`, `properties.desired`, `properties.reported`, `status`, …; the fields the
//! service always writes are filled in where missing), which `POST /devices/query` answers and
//! scheduled jobs target. It may be repeated; a later twin of the same device replaces the
//! earlier one. A file that cannot be read, is not such an array, or holds a twin the hub
//! refuses stops it with exit code 2 before it prints anything on stdout, naming the twin and
//! what is wrong — among others a twin that breaks the API description's twin rules (a key
//! over 1,024 bytes or holding a control character, `.`, `$` or a space; a value over 4,096
//! bytes; more than 10 levels of objects), which no query could select or a real hub hold.
//!
//! On start it prints two lines on stdout: the service connection string, then the endpoint URL
//! to send requests to (the host name in the connection string is what tokens are scoped to; it
//! need not resolve). Each request is logged on stderr (`RUST_LOG` changes the level). Without
//! `--policy-key`, the key is random for each start.
//!
//! As a server other processes share, it keeps no request log (no one could read it), closes
//! connections whose client sends no complete request head (or body) within 30 s — idle
//! kept-alive ones included — and serves at most 512 connections at once; further clients wait
//! to be accepted.

use std::process::ExitCode;

use iothub_jobs::simulator::{LocalHub, LocalHubBuilder, Tier};
use serde_json::Value;
use tracing::Level;
use tracing_subscriber::{
    filter::Targets, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};

const USAGE: &str = "usage: local_hub [--port PORT] [--host-name NAME] [--policy-name NAME] [--policy-key BASE64] [--devices FILE] [--tier TIER]
  --devices FILE  register the devices whose twins FILE holds, as a JSON array (repeatable)
  --tier TIER     Free, S1, S2 or S3: allow as many active scheduled jobs as that tier (1, 1, 5, 10; default 100)";

#[tokio::main]
async fn main() -> ExitCode {
    // `Targets` reads `RUST_LOG`'s `target=level,…` form without a regex engine to build.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_target("iothub_jobs", Level::INFO));
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
    let (builder, fleets) = match configured(std::env::args().skip(1).collect()) {
        Ok(config) => config,
        Err(problem) => {
            eprintln!("{problem}\n{USAGE}");
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
        match hub.add_twins(fleet.twins) {
            Ok(loaded) => eprintln!("loaded {loaded} device(s) from {}", fleet.file),
            Err(error) => {
                eprintln!(
                    "--devices {}: {error} (the first twin is twin 0); fix that twin or remove it \
                     from the file\n{USAGE}",
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

/// The twins one `--devices` file holds, read and parsed but not yet checked by the hub.
struct Fleet {
    /// The file as given on the command line, to name it in messages.
    file: String,
    /// The array's items, in the file's order.
    twins: Vec<Value>,
}

/// The hub the command line describes, and the fleets to load into it once it is up.
fn configured(args: Vec<String>) -> Result<(LocalHubBuilder, Vec<Fleet>), String> {
    let mut builder = LocalHub::builder().request_log(0, 0);
    let mut fleets = Vec::new();
    let mut policy_name = LocalHub::DEFAULT_POLICY_NAME.to_owned();
    let mut policy_key = None;
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
            "--tier" => {
                let tier: Tier = value()?.parse().map_err(|e| format!("--tier: {e}"))?;
                builder = builder.tier(tier);
            }
            "--help" | "-h" => {
                return Err("the IoT Hub jobs API on 127.0.0.1, until Ctrl-C".to_owned());
            }
            other => {
                return Err(format!(
                    "unknown argument {:?}",
                    other.chars().take(40).collect::<String>()
                ));
            }
        }
    }
    if let Some(key) = policy_key {
        builder = builder
            .policy(policy_name, &key)
            .map_err(|e| e.to_string())?;
    } else if policy_name != LocalHub::DEFAULT_POLICY_NAME {
        return Err("--policy-name needs --policy-key".to_owned());
    }
    Ok((builder, fleets))
}

/// The twins `file` holds: read before the hub starts, so that a wrong path or a file that is
/// not a JSON array stops it before it listens.
fn fleet(file: String) -> Result<Fleet, String> {
    let text = std::fs::read_to_string(&file)
        .map_err(|error| format!("--devices {file}: cannot read the file: {error}"))?;
    let parsed: Value = serde_json::from_str(&text).map_err(|error| {
        format!("--devices {file}: not JSON ({error}); the file must hold a JSON array of twins")
    })?;
    let Value::Array(twins) = parsed else {
        let found = match parsed {
            Value::Object(_) => "an object",
            Value::String(_) => "a string",
            Value::Number(_) => "a number",
            Value::Bool(_) => "a boolean",
            Value::Null => "null",
            // Taken by the `let` above; named so the match stays exhaustive.
            Value::Array(_) => "an array",
        };
        return Err(format!(
            "--devices {file}: found {found}; the file must hold a JSON array of twins, \
             like [{{\"deviceId\": \"sensor-1\", \"tags\": {{\"ring\": \"canary\"}}}}]"
        ));
    };
    Ok(Fleet { file, twins })
}
