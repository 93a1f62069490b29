//! How a command ends, and the exit code that says so: 0 done, 2 invalid input (nothing was
//! sent), 3 waited and it did not happen, 130 interrupted, 1 anything else.

use std::process::ExitCode;

use iothub_jobs::ErrorKind;

/// Why a command did not do what it was asked. Its message goes to stderr; it never holds a
/// secret (the SDK's errors hold none, and the command line's own name flags, never values).
#[derive(Debug)]
pub enum Failure {
    /// The input cannot work: nothing was sent.
    Input(String),
    /// A wait ended without what it waited for: a timeout, a failed or cancelled job, a halted
    /// rollout, devices that did not converge.
    NotDone(String),
    /// Ctrl-C: what runs on the hub runs on; the message says how to go on.
    Interrupted(String),
    /// Anything else: the SDK's error (a service refusal, the network, …).
    Sdk(iothub_jobs::Error),
    /// Anything else of the command line's own.
    Other(String),
    /// Whoever read stdout closed it (`| head`): the command stops, quietly, as done.
    StdoutClosed,
}

impl Failure {
    pub const INVALID_INPUT: u8 = 2;
    pub const NOT_DONE: u8 = 3;
    pub const INTERRUPTED: u8 = 130;

    /// The process's exit code.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Input(_) => Self::INVALID_INPUT,
            Self::NotDone(_) => Self::NOT_DONE,
            Self::Interrupted(_) => Self::INTERRUPTED,
            Self::Sdk(error) => match error.kind() {
                // Each of these is refused before anything is sent.
                ErrorKind::InvalidJobId
                | ErrorKind::InvalidJobRequest
                | ErrorKind::InvalidCondition
                | ErrorKind::InvalidConnectionString
                | ErrorKind::InvalidConfiguration => Self::INVALID_INPUT,
                ErrorKind::Wait => Self::NOT_DONE,
                _ => 1,
            },
            Self::Other(_) => 1,
            Self::StdoutClosed => 0,
        })
    }

    /// What stderr says, if anything.
    pub fn message(&self) -> Option<String> {
        Some(match self {
            Self::Input(message) | Self::NotDone(message) | Self::Other(message) => message.clone(),
            Self::Interrupted(message) => format!("interrupted: {message}"),
            Self::Sdk(error) if error.kind() == &ErrorKind::Credential => {
                let mut text = error.to_string();
                let mut source = std::error::Error::source(error);
                while let Some(cause) = source {
                    text.push_str(&format!(": {cause}"));
                    source = cause.source();
                }
                format!(
                    "{text} (with --auth-type login, the Azure CLI must be installed and \
                     logged in: run `az login`)"
                )
            }
            Self::Sdk(error) => error.to_string(),
            Self::StdoutClosed => return None,
        })
    }
}

impl From<iothub_jobs::Error> for Failure {
    fn from(error: iothub_jobs::Error) -> Self {
        Self::Sdk(error)
    }
}

/// `Ok`, or the failure that ended a command.
pub type Outcome = Result<(), Failure>;
