//! Errors of certificate management.

use std::path::PathBuf;

/// What can go wrong making, storing, injecting or loading certificates.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("Kubernetes API call failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("invalid PEM in {what}: {reason}")]
    Pem { what: String, reason: String },
    #[error("the TLS library refused the key: {0}")]
    Tls(#[from] rustls::Error),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Secret {name} is malformed: {reason}")]
    MalformedSecret { name: String, reason: String },
    #[error("gave up after {attempts} conflicting writes to {what}")]
    Contention { what: String, attempts: u32 },
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
