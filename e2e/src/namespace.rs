//! Per-test namespaces: unique, labelled (so webhooks can be scoped to one test), deleted on drop.

use std::collections::BTreeMap;
use std::path::PathBuf;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::Api;
use kube::ResourceExt;
use kube::api::{ListParams, ObjectMeta, PostParams};

use crate::cluster::Cluster;
use crate::error::Result;
use crate::pki::random_hex;
use crate::wait;

/// The label every test namespace carries, valued with its own name: it marks the namespaces
/// of tests (the install scenario waits until none is left).
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
        // Pods are refused until the controller-manager has made the `default` ServiceAccount
        // (their token is projected from it).
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client(), &created.name);
        wait::until(
            "the namespace's default ServiceAccount",
            Duration::from_secs(60),
            || async { Ok(accounts.get_opt("default").await?.map(|_| ())) },
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

    /// For a failed wait: each pod of `namespace` with its phase, its containers' restarts and
    /// states, and the last `lines` lines of each container's log.
    pub async fn pods_report(&self, namespace: &str, lines: usize) -> String {
        let pods = match Api::<Pod>::namespaced(self.client(), namespace)
            .list(&ListParams::default())
            .await
        {
            Ok(list) => list.items,
            Err(e) => return format!("pods of {namespace}: {e}"),
        };
        let mut out = String::new();
        for pod in pods {
            let name = pod.name_any();
            let status = pod.status.unwrap_or_default();
            let deleting = pod.metadata.deletion_timestamp.is_some();
            out.push_str(&format!(
                "pod {namespace}/{name}: phase {:?}{}\n",
                status.phase,
                if deleting { ", terminating" } else { "" }
            ));
            for c in status.container_statuses.unwrap_or_default() {
                out.push_str(&format!(
                    "  container {}: ready {}, restarts {}, state {:?}, last {:?}\n",
                    c.name, c.ready, c.restart_count, c.state, c.last_state
                ));
                let log = self
                    .container_log(namespace, &name, &c.name)
                    .await
                    .unwrap_or_else(|e| e.to_string());
                let tail: Vec<&str> = log.lines().rev().take(lines).collect();
                for line in tail.into_iter().rev() {
                    out.push_str(&format!("    | {line}\n"));
                }
            }
        }
        out
    }
}
