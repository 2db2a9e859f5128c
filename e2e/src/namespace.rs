//! Per-test namespaces: unique, labelled (so webhooks can be scoped to one test), deleted on drop.

use std::collections::BTreeMap;
use std::path::PathBuf;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::Api;
use kube::api::{ObjectMeta, PostParams};

use crate::cluster::Cluster;
use crate::error::Result;
use crate::pki::random_hex;
use crate::wait;

/// The label every test namespace carries, valued with its own name (1.20 has no
/// `kubernetes.io/metadata.name` label to select on).
pub const NAMESPACE_LABEL: &str = "e2e.fmesh.io/namespace";

/// A namespace owned by one test. Dropping it starts its deletion (with everything in it).
pub struct TestNamespace {
    name: String,
    kubeconfig: PathBuf,
    kubectl: PathBuf,
}

impl TestNamespace {
    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        // Drop cannot await; kubectl with --wait=false returns at once and works on panic too.
        let result = std::process::Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args([
                "delete",
                "namespace",
                &self.name,
                "--wait=false",
                "--ignore-not-found",
            ])
            .output();
        if let Err(e) = result {
            tracing::warn!(namespace = %self.name, error = %e, "could not delete test namespace");
        }
    }
}

impl Cluster {
    /// Creates a namespace `<prefix>-<random>` for one test.
    pub async fn namespace(&self, prefix: &str) -> Result<TestNamespace> {
        let name = format!("{prefix}-{}", random_hex(3)?);
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(BTreeMap::from([(NAMESPACE_LABEL.to_owned(), name.clone())])),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(self.client())
            .create(&PostParams::default(), &namespace)
            .await?;
        let created = TestNamespace {
            name,
            kubeconfig: self.kubeconfig().to_path_buf(),
            kubectl: self.local().binaries().program("kubectl"),
        };
        // Pods are refused until the controller-manager has given `default` its token.
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client(), &created.name);
        wait::until(
            "the namespace's default ServiceAccount token",
            Duration::from_secs(60),
            || async {
                let sa = accounts.get_opt("default").await?;
                Ok(sa
                    .and_then(|sa| sa.secrets)
                    .filter(|s| !s.is_empty())
                    .map(|_| ()))
            },
        )
        .await?;
        Ok(created)
    }

    /// A container's log, read from the kubelet's log directory (`kubectl logs` cannot reach a
    /// kubelet on a loopback node IP).
    pub async fn container_log(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
    ) -> Result<String> {
        let pod_obj = Api::<Pod>::namespaced(self.client(), namespace)
            .get(pod)
            .await?;
        let uid = pod_obj.metadata.uid.unwrap_or_default();
        let dir = PathBuf::from("/var/log/pods")
            .join(format!("{namespace}_{pod}_{uid}"))
            .join(container);
        let mut logs: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        logs.sort();
        // CRI log lines are `<time> <stream> <tag> <message>`; keep the messages.
        Ok(logs
            .last()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.splitn(4, ' ').nth(3))
            .collect::<Vec<_>>()
            .join("\n"))
    }
}
