//! fmesh installed into the cluster from `manifests/` with kustomize (`kubectl apply -k`): what
//! an install leaves in the cluster, so that tests running their own in-process operator or
//! webhook can refuse to start next to one, and the kubectl runs the install scenarios use.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Api;
use kube::api::ListParams;

use crate::cluster::Cluster;
use crate::error::{Error, IoContext, Result};
use crate::wait;

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

/// The fmesh custom resources, meshes first (deleting a mesh deletes its members).
pub const CUSTOM_RESOURCES: [&str; 4] = [
    "functionmeshes.compute.functionmesh.io",
    "functions.compute.functionmesh.io",
    "sources.compute.functionmesh.io",
    "sinks.compute.functionmesh.io",
];
/// The label the operator puts on everything it creates.
pub const MANAGED_BY_OPERATOR: &str = "app.kubernetes.io/managed-by=fmesh-operator";

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
    /// Uninstalls fmesh so that nothing is left: first every fmesh custom resource, while the
    /// operator still runs to remove its finalizers, until the StatefulSets they own are
    /// collected; then the bundle (`kubectl delete -k`), until its namespace is gone. The
    /// bundle alone deletes the CRDs under live resources, leaving their children to the
    /// garbage collector.
    pub async fn uninstall(&self, timeout: Duration) -> Result<()> {
        let secs = format!("--timeout={}s", timeout.as_secs());
        let crds: Api<CustomResourceDefinition> = Api::all(self.client());
        for resource in CUSTOM_RESOURCES {
            if crds.get_opt(resource).await?.is_some() {
                self.kubectl_ok(&["delete", resource, "--all", "--all-namespaces", &secs])?;
            }
        }
        let statefulsets: Api<StatefulSet> = Api::all(self.client());
        let owned = ListParams::default().labels(MANAGED_BY_OPERATOR);
        wait::until(
            "the fmesh workloads' StatefulSets collected",
            timeout,
            || async {
                Ok(statefulsets
                    .list(&owned)
                    .await?
                    .items
                    .is_empty()
                    .then_some(()))
            },
        )
        .await?;
        self.kubectl_ok(&["delete", "-k", LOCAL_OVERLAY, "--ignore-not-found", &secs])?;
        let namespaces: Api<Namespace> = Api::all(self.client());
        wait::until("namespace fmesh-system deleted", timeout, || async {
            Ok(namespaces
                .get_opt(SYSTEM_NAMESPACE)
                .await?
                .is_none()
                .then_some(()))
        })
        .await
    }

    /// Runs the cluster's kubectl with the admin kubeconfig, from the workspace root (so
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
