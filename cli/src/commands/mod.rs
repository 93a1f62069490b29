//! The commands, one file per group, and what they share: the client, where documents and
//! progress go, waits that Ctrl-C stops, and JSON given inline or in a file.

mod devices;
mod import_export;
mod job;
mod rollout;

use std::{future::Future, time::Duration};

use clap::CommandFactory as _;
use std::any::Any;

use iothub_jobs::{JobsClient, Queried, WaitFailure, WaitOptions};
use serde_json::Value;

use crate::{
    args::{Cli, Command, Polling},
    connect,
    exit::{Failure, Outcome},
    output::Output,
    progress::Progress,
};

/// What a command works with.
pub struct Context {
    pub client: JobsClient,
    pub output: Output,
    pub progress: Progress,
}

/// Runs the command `cli` holds.
pub async fn run(cli: Cli) -> Outcome {
    let output = Output::new(cli.global.output);
    if let Command::Completions { shell } = cli.command {
        // Written whole through the output's own writer: a closed stdout is an error, never
        // a panic.
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "iothub-jobs", &mut script);
        return crate::output::raw(&script);
    }
    let context = Context {
        client: connect::client(&cli.global)?,
        output,
        progress: Progress::new(!cli.global.no_progress),
    };
    match cli.command {
        Command::Job(command) => job::run(&context, command).await,
        Command::Devices(command) => devices::run(&context, command).await,
        Command::ImportExport(command) => import_export::run(&context, command).await,
        Command::Rollout(args) => rollout::run(&context, args).await,
        // Answered above, without a client.
        Command::Completions { .. } => Ok(()),
    }
}

/// How a wait polls: a fixed pause of `--poll-interval`, for `--poll-duration` in all.
pub fn wait_options(polling: &Polling) -> Result<WaitOptions, Failure> {
    fixed_polls(polling.poll_interval, polling.poll_duration)
}

/// Polls `interval` seconds apart (at least one), for `duration` seconds in all.
pub fn fixed_polls(interval: u64, duration: u64) -> Result<WaitOptions, Failure> {
    if interval == 0 {
        return Err(Failure::Input(
            "--poll-interval must be at least 1 second".to_owned(),
        ));
    }
    let interval = Duration::from_secs(interval);
    Ok(WaitOptions::default()
        .with_poll_interval(interval)
        .with_max_poll_interval(interval)
        .with_timeout(Duration::from_secs(duration)))
}

/// Prints how a wait ended: the job it waited for (as `shown` shows it), or — when it did not
/// happen — the job as last seen, and the error (exit code 3 for a wait).
pub fn ended_wait<J: Any>(
    context: &Context,
    waited: Result<J, iothub_jobs::Error>,
    shown: impl Fn(&J) -> Value,
) -> Outcome {
    match waited {
        Ok(job) => context.output.document(&shown(&job)),
        Err(error) => {
            if let Some(job) = error
                .detail::<WaitFailure<J>>()
                .and_then(|failure| failure.job.as_ref())
            {
                context.output.document(&shown(job))?;
            }
            Err(Failure::from(error))
        }
    }
}

/// An item of a listing: as the model reads it, or as the service sent it when it cannot.
pub fn queried<T: serde::Serialize>(item: Queried<T>) -> Value {
    match item {
        Queried::Item(item) => serde_json::to_value(item).unwrap_or(Value::Null),
        Queried::Unrecognized(raw) => raw,
        // A kind of item a later SDK adds: nothing to print of it.
        _ => Value::Null,
    }
}

/// `work`, unless Ctrl-C comes first: then [`Failure::Interrupted`] with `then`, which says what
/// runs on and how to go on.
pub async fn until_interrupted<T>(
    work: impl Future<Output = Result<T, Failure>>,
    then: impl FnOnce() -> String,
) -> Result<T, Failure> {
    tokio::select! {
        done = work => done,
        signal = tokio::signal::ctrl_c() => match signal {
            Ok(()) => Err(Failure::Interrupted(then())),
            Err(error) => Err(Failure::Other(format!("cannot wait for Ctrl-C: {error}"))),
        },
    }
}

/// JSON given inline, or the path of a file that holds it; `flag` names it in a problem.
pub fn json_or_file(flag: &str, given: &str) -> Result<Value, Failure> {
    if let Ok(value) = serde_json::from_str(given) {
        return Ok(value);
    }
    let text = std::fs::read_to_string(given).map_err(|_| {
        Failure::Input(format!(
            "{flag}: neither JSON nor a file that can be read (write the JSON inline, like \
             '{{\"properties\": {{\"desired\": {{\"fw\": \"2.4\"}}}}}}', or give a file's path)"
        ))
    })?;
    serde_json::from_str(&text)
        .map_err(|e| Failure::Input(format!("{flag}: the file {given} is not JSON: {e}")))
}

/// `value`, which must be a JSON object, as one; `what` names it in a problem.
pub fn object(what: &str, value: Value) -> Result<serde_json::Map<String, Value>, Failure> {
    match value {
        Value::Object(object) => Ok(object),
        other => Err(Failure::Input(format!(
            "{what} must be a JSON object, not {}",
            kind(&other)
        ))),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
