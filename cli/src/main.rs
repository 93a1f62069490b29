//! `iothub-jobs`: Azure IoT Hub jobs, device queries, convergence and rollouts in waves from a
//! terminal or a pipeline, on the `iothub-jobs` SDK's public API.
//!
//! Every command prints one JSON document on stdout, progress on stderr (hidden when stderr is
//! not a terminal, or with `--no-progress`), and logs only with `-v`. Exit codes: 0 done, 2
//! invalid input (nothing was sent), 3 waited and it did not happen, 130 interrupted, 1 anything
//! else (`--help` says the same).

mod args;
mod commands;
mod connect;
mod exit;
mod output;
mod plan;
mod progress;

use std::process::ExitCode;

use clap::Parser as _;
use tracing_subscriber::{
    filter::{LevelFilter, Targets},
    layer::SubscriberExt as _,
    util::SubscriberInitExt as _,
};

fn main() -> ExitCode {
    // Arguments that cannot be parsed end here, with clap's message and exit code 2.
    let cli = args::Cli::parse();
    logging(cli.global.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if let Some(message) = failure.message() {
                eprintln!("error: {message}");
            }
            failure.exit_code()
        }
    }
}

/// Logs on stderr at the level `-v`s ask for: none without one. The SDK never logs a secret.
fn logging(verbose: u8) {
    let level = match verbose {
        0 => return,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(Targets::new().with_default(level))
        .init();
}
