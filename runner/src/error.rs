//! The runner's errors. Variant names read well in logs and map to exit codes.

use thiserror::Error;

/// Anything that stops an instance.
#[derive(Debug, Error)]
pub enum RunnerError {
    /// The spec cannot be run: bad JSON, a field the runner does not support. Exit code 2.
    #[error("invalid spec at {path}: {message}")]
    InvalidSpec {
        /// JSON path of the offending field (`spec.wasm.module`).
        path: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A runtime could not be started (module does not compile, program not found).
    #[error("runtime failed to start: {0}")]
    RuntimeStart(String),
    /// Talking to Pulsar failed for good.
    #[error("pulsar: {0}")]
    Pulsar(String),
    /// Local I/O (metrics listener, spec file).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl RunnerError {
    /// Shorthand for an [`RunnerError::InvalidSpec`].
    pub fn spec(path: impl Into<String>, message: impl Into<String>) -> Self {
        RunnerError::InvalidSpec {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The process exit code the contract assigns to this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            RunnerError::InvalidSpec { .. } => 2,
            _ => 1,
        }
    }
}

impl From<pulsar::Error> for RunnerError {
    fn from(e: pulsar::Error) -> Self {
        RunnerError::Pulsar(e.to_string())
    }
}

/// Why one invocation of the user's function failed.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum FunctionError {
    /// The function raised, returned an error, trapped or ran out of fuel or memory.
    #[error("user error: {0}")]
    User(String),
    /// The runtime itself failed (child died, protocol violation).
    #[error("system error: {0}")]
    System(String),
    /// The invocation took longer than the spec's `timeout`.
    #[error("timed out after {0} ms")]
    Timeout(u64),
}
