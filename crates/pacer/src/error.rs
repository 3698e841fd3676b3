//! Errors a user can act on, and the exit status of each kind.

use std::fmt;
use std::process::ExitCode;

/// Why a command stopped.
#[derive(Debug)]
pub struct CliError {
    kind: Kind,
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Bad flags, a bad input line, an unknown preset: exit 2.
    Usage,
    /// The API refused the credentials: exit 3.
    Auth,
    /// Anything else (the store, the network): exit 1.
    Failed,
}

impl CliError {
    /// The command line or its files are wrong.
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Usage,
            message: message.into(),
        }
    }

    /// The API refused the credentials.
    pub fn auth(message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Auth,
            message: message.into(),
        }
    }

    /// Anything else.
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            kind: Kind::Failed,
            message: message.into(),
        }
    }

    /// The process exit status for this error.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self.kind {
            Kind::Usage => 2,
            Kind::Auth => 3,
            Kind::Failed => 1,
        })
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl From<tower_pacer::BoxError> for CliError {
    fn from(e: tower_pacer::BoxError) -> Self {
        match e.downcast::<CliError>() {
            Ok(e) => *e,
            Err(e) => Self::failed(e.to_string()),
        }
    }
}

impl From<tower_pacer::dlq::StoreError> for CliError {
    fn from(e: tower_pacer::dlq::StoreError) -> Self {
        Self::failed(format!("dead-letter store: {e}"))
    }
}

impl From<rusqlite::Error> for CliError {
    fn from(e: rusqlite::Error) -> Self {
        Self::failed(format!("state: {e}"))
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        Self::failed(e.to_string())
    }
}

impl From<pacer_mock::MockError> for CliError {
    fn from(e: pacer_mock::MockError) -> Self {
        Self::failed(format!("mock server: {e}"))
    }
}

/// How a command that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    /// All work done.
    Finished,
    /// Stopped early (Ctrl-C): exit 130, the state says how to go on.
    Interrupted,
}

impl From<Done> for ExitCode {
    fn from(done: Done) -> Self {
        match done {
            Done::Finished => ExitCode::SUCCESS,
            Done::Interrupted => ExitCode::from(130),
        }
    }
}
