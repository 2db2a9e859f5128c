//! fmesh installed into the cluster from `manifests/` with kustomize (`kubectl apply -k`): what
//! an install leaves in the cluster, so that tests running their own in-process operator or
//! webhook can refuse to start next to one, and the kubectl runs the install scenarios use.

use std::path::{Path, PathBuf};
use std::process::Output;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;

use crate::cluster::Cluster;
use crate::error::{Error, IoContext, Result};

/// The namespace the bundle installs into.
pub const SYSTEM_NAMESPACE: &str = "fmesh-system";
/// The overlay for this local cluster, relative to the workspace.
pub const LOCAL_OVERLAY: &str = "manifests/overlays/local";
/// The Deployments of an install (the broker only in the local overlay).
pub const DEPLOYMENTS: [&str; 3] = ["fmesh-operator", "fmesh-webhook", "fmesh-broker"];
/// The admission configurations of an install.
pub const VALIDATING: &str = "fmesh-validating";
/// See [`VALIDATING`].
pub const MUTATING: &str = "fmesh-mutating";

/// The workspace root (the parent of the e2e crate), where `manifests/` is.
pub fn workspace() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// What of an installed fmesh the cluster holds, as `kind/name` (empty: nothing).
pub async fn installed(client: &kube::Client) -> Result<Vec<String>> {
    let mut found = Vec::new();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), SYSTEM_NAMESPACE);
    for name in DEPLOYMENTS {
        if deployments.get_opt(name).await?.is_some() {
            found.push(format!("deployment {SYSTEM_NAMESPACE}/{name}"));
        }
    }
    let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    if validating.get_opt(VALIDATING).await?.is_some() {
        found.push(format!("validatingwebhookconfiguration {VALIDATING}"));
    }
    let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    if mutating.get_opt(MUTATING).await?.is_some() {
        found.push(format!("mutatingwebhookconfiguration {MUTATING}"));
    }
    Ok(found)
}

/// Fails with [`Error::FmeshInstalled`] when the cluster holds an installed fmesh.
pub async fn require_none(client: &kube::Client) -> Result<()> {
    let found = installed(client).await?;
    if found.is_empty() {
        Ok(())
    } else {
        Err(Error::FmeshInstalled {
            found: found.join(", "),
        })
    }
}

impl Cluster {
    /// Runs the cluster's kubectl 1.20 with the admin kubeconfig, from the workspace root (so
    /// `-k manifests/...` paths work); returns its output whatever the exit status.
    pub fn kubectl(&self, args: &[&str]) -> Result<Output> {
        let kubectl = self.local().binaries().program("kubectl");
        std::process::Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(args)
            .current_dir(workspace())
            .output()
            .ctx(|| format!("run {} {}", kubectl.display(), args.join(" ")))
    }

    /// Like [`Cluster::kubectl`], but a non-zero exit is an error carrying stderr.
    pub fn kubectl_ok(&self, args: &[&str]) -> Result<String> {
        let out = self.kubectl(args)?;
        if !out.status.success() {
            return Err(Error::Command {
                command: format!("kubectl {}", args.join(" ")),
                detail: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}
