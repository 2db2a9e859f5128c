//! The operator's errors; variant names read well in metrics (`error` label) and logs.

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Server-side apply of a child was refused.
    #[error("applying {kind} {name}: {source}")]
    ChildApplyFailed {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    /// A child that should no longer exist could not be deleted.
    #[error("deleting {kind} {name}: {source}")]
    ChildDeleteFailed {
        kind: String,
        name: String,
        #[source]
        source: kube::Error,
    },
    /// Reading from the API server failed.
    #[error("reading {what}: {source}")]
    ReadFailed {
        what: String,
        #[source]
        source: kube::Error,
    },
    /// The status subresource write failed.
    #[error("writing status: {0}")]
    StatusWriteFailed(#[source] kube::Error),
    /// Adding or removing the finalizer failed.
    #[error("updating finalizers: {0}")]
    FinalizerFailed(#[source] kube::Error),
    /// Deleting the subscription through the Pulsar admin API failed (retried with backoff).
    #[error("subscription cleanup: {0}")]
    CleanupFailed(String),
    /// The object has no namespace (all fmesh kinds are namespaced).
    #[error("object has no namespace")]
    MissingNamespace,
}

impl Error {
    /// The variant name, for the `error` metric label.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::ChildApplyFailed { .. } => "ChildApplyFailed",
            Error::ChildDeleteFailed { .. } => "ChildDeleteFailed",
            Error::ReadFailed { .. } => "ReadFailed",
            Error::StatusWriteFailed(_) => "StatusWriteFailed",
            Error::FinalizerFailed(_) => "FinalizerFailed",
            Error::CleanupFailed(_) => "CleanupFailed",
            Error::MissingNamespace => "MissingNamespace",
        }
    }
}
