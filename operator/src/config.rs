//! Operator settings. Every flag has an environment variable, so a ConfigMap mounted with
//! `envFrom` configures a deployed operator (see `manifests/base/operator/`); flags win over env.

use std::net::SocketAddr;

use clap::Args;

/// Image run for fmesh-native runtimes (`wasm`, `exec`, `builtin`, `genericRuntime`).
pub const DEFAULT_RUNNER_IMAGE: &str = "fmesh.local/runner:dev";
/// Pulsar's Java instance image, as Function Mesh's users know it.
pub const DEFAULT_JAVA_IMAGE: &str = "streamnative/pulsar-functions-java-runner:3.0.0";
/// Pulsar's Python instance image.
pub const DEFAULT_PYTHON_IMAGE: &str = "streamnative/pulsar-functions-python-runner:3.0.0";
/// Pulsar's Go instance image.
pub const DEFAULT_GO_IMAGE: &str = "streamnative/pulsar-functions-go-runner:3.0.0";
/// Image of the init container that downloads `function://` and `http(s)://` packages.
pub const DEFAULT_DOWNLOADER_IMAGE: &str = "streamnative/pulsarctl:v3.0.0";
/// Non-root user the pods run as unless the CR's pod policy says otherwise.
pub const DEFAULT_RUN_AS_USER: i64 = 10000;
/// How long a subscription cleanup is retried before the finalizer is dropped anyway.
pub const DEFAULT_CLEANUP_TIMEOUT_SECS: u64 = 300;

/// Everything the operator can be told, with the documented defaults above.
#[derive(Clone, Debug, PartialEq, Args)]
pub struct OperatorConfig {
    /// Image for fmesh-native runtimes (runs `fmesh-runner`).
    #[arg(long, env = "FMESH_RUNNER_IMAGE", default_value = DEFAULT_RUNNER_IMAGE)]
    pub runner_image: String,
    /// A shell command replacing the runner image's entrypoint (`sh -c COMMAND`); for stand-in
    /// images in tests. Unset: the image's own entrypoint.
    #[arg(long, env = "FMESH_RUNNER_COMMAND")]
    pub runner_command: Option<String>,
    /// Default image for `java` workloads without `spec.image`.
    #[arg(long, env = "FMESH_JAVA_IMAGE", default_value = DEFAULT_JAVA_IMAGE)]
    pub java_image: String,
    /// Default image for `python` workloads without `spec.image`.
    #[arg(long, env = "FMESH_PYTHON_IMAGE", default_value = DEFAULT_PYTHON_IMAGE)]
    pub python_image: String,
    /// Default image for `golang` workloads without `spec.image`.
    #[arg(long, env = "FMESH_GO_IMAGE", default_value = DEFAULT_GO_IMAGE)]
    pub go_image: String,
    /// Default package downloader image (init container) without `spec.downloaderImage`.
    #[arg(long, env = "FMESH_DOWNLOADER_IMAGE", default_value = DEFAULT_DOWNLOADER_IMAGE)]
    pub downloader_image: String,
    /// imagePullPolicy for containers whose CR does not set one; unset leaves Kubernetes' default.
    #[arg(long, env = "FMESH_IMAGE_PULL_POLICY")]
    pub image_pull_policy: Option<String>,
    /// UID of the restricted default pod securityContext.
    #[arg(long, env = "FMESH_RUN_AS_USER", default_value_t = DEFAULT_RUN_AS_USER)]
    pub run_as_user: i64,
    /// Seconds a subscription cleanup is retried before the finalizer is removed with an Event.
    #[arg(long, env = "FMESH_CLEANUP_TIMEOUT_SECS", default_value_t = DEFAULT_CLEANUP_TIMEOUT_SECS)]
    pub cleanup_timeout_secs: u64,
    /// Watch one namespace only; unset: all namespaces.
    #[arg(long, env = "FMESH_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// Take a Lease before reconciling, so that several replicas are safe.
    #[arg(long, env = "FMESH_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// Name of the leader-election Lease.
    #[arg(long, env = "FMESH_LEASE_NAME", default_value = "fmesh-operator")]
    pub lease_name: String,
    /// Namespace of the Lease; defaults to the pod's namespace (`POD_NAMESPACE`), else `default`.
    #[arg(long, env = "FMESH_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Address of `/healthz`, `/readyz` and `/metrics`.
    #[arg(long, env = "FMESH_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    pub http_addr: SocketAddr,
    /// Name of the cluster-wide BackendConfig merged into every workload (Function Mesh's
    /// `GLOBAL_BACKEND_CONFIG`); unset: none.
    #[arg(long, env = "GLOBAL_BACKEND_CONFIG")]
    pub global_backend_config: Option<String>,
    /// Namespace of the cluster-wide BackendConfig.
    #[arg(
        long,
        env = "GLOBAL_BACKEND_CONFIG_NAMESPACE",
        default_value = "default"
    )]
    pub global_backend_config_namespace: String,
    /// Name of the BackendConfig merged into the workloads of its own namespace; it wins over
    /// the cluster-wide one, and the workload's own settings win over both.
    #[arg(
        long,
        env = "NAMESPACED_BACKEND_CONFIG",
        default_value = "backend-config"
    )]
    pub namespaced_backend_config: String,
}

impl Default for OperatorConfig {
    fn default() -> Self {
        OperatorConfig {
            runner_image: DEFAULT_RUNNER_IMAGE.into(),
            runner_command: None,
            java_image: DEFAULT_JAVA_IMAGE.into(),
            python_image: DEFAULT_PYTHON_IMAGE.into(),
            go_image: DEFAULT_GO_IMAGE.into(),
            downloader_image: DEFAULT_DOWNLOADER_IMAGE.into(),
            image_pull_policy: None,
            run_as_user: DEFAULT_RUN_AS_USER,
            cleanup_timeout_secs: DEFAULT_CLEANUP_TIMEOUT_SECS,
            watch_namespace: None,
            leader_elect: true,
            lease_name: "fmesh-operator".into(),
            lease_namespace: None,
            http_addr: SocketAddr::from(([0, 0, 0, 0], 8080)),
            global_backend_config: None,
            global_backend_config_namespace: "default".into(),
            namespaced_backend_config: "backend-config".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        cfg: OperatorConfig,
    }

    #[test]
    fn flag_defaults_match_default() {
        let parsed = Cli::try_parse_from(["fmesh-operator"]).expect("no flags parse");
        // Env vars of the test process could leak in; none of ours are set in CI.
        assert_eq!(parsed.cfg, OperatorConfig::default());
    }
}
