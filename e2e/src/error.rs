//! One error type for the library; variants say what failed and what to do about it.

use std::path::PathBuf;

/// Everything that can stop the local cluster from coming up, going down or being used.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cluster mounts filesystems, makes network namespaces and runs a kubelet: root only.
    #[error(
        "fmesh-e2e must run as root (it mounts filesystems, creates network namespaces and runs a kubelet); try `sudo`"
    )]
    NotRoot,
    /// A kernel feature the node needs is absent.
    #[error("the kernel lacks {feature}: {hint}")]
    KernelFeature { feature: String, hint: String },
    /// A port the cluster needs is held by a process this cluster did not start.
    #[error(
        "port {port} on 127.0.0.1 is taken by a process this cluster did not start (needed by {component}); stop it or run `fmesh-e2e down` for a cluster started elsewhere"
    )]
    PortTaken { port: u16, component: String },
    /// A component we started exited.
    #[error("{component} exited; last lines of {}:\n{tail}", log.display())]
    ComponentExited {
        component: String,
        log: PathBuf,
        tail: String,
    },
    /// A component is running but never became healthy.
    #[error("{component} did not become healthy within {secs}s ({detail}); last lines of {}:\n{tail}", log.display())]
    NotHealthy {
        component: String,
        secs: u64,
        detail: String,
        log: PathBuf,
        tail: String,
    },
    /// An external command failed.
    #[error("`{command}` failed: {detail}")]
    Command { command: String, detail: String },
    /// A file-system or process operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// Key or certificate generation failed.
    #[error("certificate generation: {0}")]
    Cert(#[from] rcgen::Error),
    /// The kubeconfig could not be read back.
    #[error("kubeconfig {}: {source}", path.display())]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// A Kubernetes API call failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// A condition was not reached in time.
    #[error("timed out after {secs}s waiting for {what}")]
    Timeout { what: String, secs: u64 },
    /// An image could not be built.
    #[error("image {image}: {detail}")]
    Image { image: String, detail: String },
    /// fmesh is installed in the cluster (`kubectl apply -k manifests/...`): its operator and
    /// webhook would act on the objects of a test that runs its own.
    #[error(
        "fmesh is installed in this cluster ({found}); its operator and webhook would act on this test's objects. Uninstall it first: `fmesh-e2e uninstall`"
    )]
    FmeshInstalled { found: String },
    /// `logs` was asked for a component that does not exist.
    #[error(
        "unknown component `{0}`; known: etcd, containerd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet"
    )]
    UnknownComponent(String),
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds a human context to `std::io::Error`s.
pub(crate) trait IoContext<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: context(),
            source,
        })
    }
}
