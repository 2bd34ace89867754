//! The one error type of the lab.

use std::time::Duration;

/// What went wrong while building or driving the lab.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// A file or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A command exited unsuccessfully.
    #[error("command `{cmd}` failed ({status})\nstdout:\n{stdout}\nstderr:\n{stderr}")]
    Command {
        /// The command line, for the reader.
        cmd: String,
        /// Exit status as printed by std.
        status: String,
        /// Its standard output.
        stdout: String,
        /// Its standard error.
        stderr: String,
    },
    /// Something did not happen in time.
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout {
        /// What we waited for.
        what: String,
        /// How long we waited.
        waited: Duration,
    },
    /// A process we started died early.
    #[error("{what} exited early ({status}); output:\n{output}")]
    Died {
        /// Which process.
        what: String,
        /// Its exit status.
        status: String,
        /// What it printed (or its log).
        output: String,
    },
}

/// Result alias for the lab.
pub type Result<T> = std::result::Result<T, LabError>;

pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> LabError {
    let context = context.into();
    move |source| LabError::Io { context, source }
}
