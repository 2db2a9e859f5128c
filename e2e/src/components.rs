//! The six node processes: how each is started, which ports it needs and how its health is read.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::containerd::{self, PAUSE_IMAGE};
use crate::error::Result;
use crate::k8sbin::KubeBinaries;
use crate::kubeconfig;
use crate::layout::{Layout, NODE_NAME};
use crate::pki::Pki;
use crate::process::Spec;

/// One process of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Etcd,
    Containerd,
    Apiserver,
    ControllerManager,
    Scheduler,
    Kubelet,
}

impl Component {
    /// Start order; `down` stops in reverse.
    pub const ALL: [Component; 6] = [
        Component::Etcd,
        Component::Containerd,
        Component::Apiserver,
        Component::ControllerManager,
        Component::Scheduler,
        Component::Kubelet,
    ];

    /// The name used for logs, pid files and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Component::Etcd => "etcd",
            Component::Containerd => "containerd",
            Component::Apiserver => "kube-apiserver",
            Component::ControllerManager => "kube-controller-manager",
            Component::Scheduler => "kube-scheduler",
            Component::Kubelet => "kubelet",
        }
    }

    /// Parses a CLI name (also accepts the short forms without `kube-`).
    pub fn parse(name: &str) -> Option<Component> {
        Component::ALL
            .into_iter()
            .find(|c| c.name() == name || c.name().strip_prefix("kube-") == Some(name))
    }

    /// TCP ports on 127.0.0.1 it listens on.
    pub fn ports(self) -> &'static [u16] {
        match self {
            Component::Etcd => &[2379, 2380],
            Component::Containerd => &[],
            Component::Apiserver => &[6443],
            Component::ControllerManager => &[10252, 10257],
            Component::Scheduler => &[10251, 10259],
            Component::Kubelet => &[10248, 10250],
        }
    }

    /// How long it may take to turn healthy after a start.
    pub fn start_timeout(self) -> Duration {
        match self {
            Component::Apiserver | Component::Kubelet => Duration::from_secs(90),
            _ => Duration::from_secs(45),
        }
    }

    /// The command line that runs it.
    pub fn spec(self, layout: &Layout, bins: &KubeBinaries, pki: &Pki) -> Spec {
        let s = |p: std::path::PathBuf| p.display().to_string();
        let (program, args): (std::path::PathBuf, Vec<String>) = match self {
            Component::Etcd => (
                "/usr/bin/etcd".into(),
                vec![
                    "--name=fmesh-e2e".into(),
                    format!("--data-dir={}", s(layout.etcd_data())),
                    "--listen-client-urls=http://127.0.0.1:2379".into(),
                    "--advertise-client-urls=http://127.0.0.1:2379".into(),
                    "--listen-peer-urls=http://127.0.0.1:2380".into(),
                    "--initial-advertise-peer-urls=http://127.0.0.1:2380".into(),
                    "--initial-cluster=fmesh-e2e=http://127.0.0.1:2380".into(),
                ],
            ),
            Component::Containerd => (
                "/usr/bin/containerd".into(),
                vec![format!("--config={}", s(containerd::config_path(layout)))],
            ),
            Component::Apiserver => (
                bins.program("kube-apiserver"),
                vec![
                    "--etcd-servers=http://127.0.0.1:2379".into(),
                    "--secure-port=6443".into(),
                    "--bind-address=127.0.0.1".into(),
                    "--advertise-address=127.0.0.1".into(),
                    format!("--tls-cert-file={}", s(pki.apiserver_cert())),
                    format!("--tls-private-key-file={}", s(pki.apiserver_key())),
                    format!("--token-auth-file={}", s(pki.tokens())),
                    "--service-account-issuer=https://kubernetes.default.svc".into(),
                    format!("--service-account-key-file={}", s(pki.sa_pub())),
                    format!("--service-account-signing-key-file={}", s(pki.sa_key())),
                    "--authorization-mode=Node,RBAC".into(),
                    "--service-cluster-ip-range=10.96.0.0/16".into(),
                    "--allow-privileged=true".into(),
                    "--profiling=false".into(),
                ],
            ),
            Component::ControllerManager => (
                bins.program("kube-controller-manager"),
                vec![
                    format!(
                        "--kubeconfig={}",
                        s(layout.component_kubeconfig(self.name()))
                    ),
                    format!("--service-account-private-key-file={}", s(pki.sa_key())),
                    // Without it no service-account token secrets are made and pods mounting one are refused.
                    format!("--root-ca-file={}", s(pki.ca_cert())),
                    "--use-service-account-credentials=true".into(),
                    "--leader-elect=false".into(),
                    "--address=127.0.0.1".into(),
                    "--bind-address=127.0.0.1".into(),
                    "--profiling=false".into(),
                ],
            ),
            Component::Scheduler => (
                bins.program("kube-scheduler"),
                vec![
                    format!(
                        "--kubeconfig={}",
                        s(layout.component_kubeconfig(self.name()))
                    ),
                    "--leader-elect=false".into(),
                    "--address=127.0.0.1".into(),
                    "--bind-address=127.0.0.1".into(),
                    "--profiling=false".into(),
                ],
            ),
            Component::Kubelet => (
                bins.program("kubelet"),
                vec![
                    format!(
                        "--kubeconfig={}",
                        s(layout.component_kubeconfig(self.name()))
                    ),
                    format!("--config={}", s(layout.kubelet_config())),
                    "--container-runtime=remote".into(),
                    format!(
                        "--container-runtime-endpoint=unix://{}",
                        s(layout.containerd_socket())
                    ),
                    format!("--root-dir={}", s(layout.kubelet_root())),
                    format!("--hostname-override={NODE_NAME}"),
                    "--node-ip=127.0.0.1".into(),
                    format!("--pod-infra-container-image={PAUSE_IMAGE}"),
                ],
            ),
        };
        Spec {
            name: self.name(),
            program,
            args,
        }
    }

    /// Whether it answers its health check now; `Err` carries what it said instead.
    pub async fn health(self, layout: &Layout) -> std::result::Result<(), String> {
        match self {
            Component::Etcd => http_ok(2379, "/health", "true").await,
            Component::Containerd => containerd::ctr(layout, &["version"])
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Component::Apiserver => apiserver_ready(layout).await,
            Component::ControllerManager => http_ok(10252, "/healthz", "ok").await,
            Component::Scheduler => http_ok(10251, "/healthz", "ok").await,
            Component::Kubelet => http_ok(10248, "/healthz", "ok").await,
        }
    }
}

/// Writes the KubeletConfiguration if it changed.
pub fn write_kubelet_config(layout: &Layout) -> Result<()> {
    let text = "apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
cgroupDriver: cgroupfs
failSwapOn: false
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
# Small thresholds: a developer disk at 90% must not evict the test pods.
evictionHard:
  memory.available: 100Mi
  nodefs.available: 256Mi
  nodefs.inodesFree: 1%
  imagefs.available: 256Mi
# Images are imported, never pulled: the kubelet must not garbage-collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
";
    containerd::write_if_changed(&layout.kubelet_config(), text)
}

async fn apiserver_ready(layout: &Layout) -> std::result::Result<(), String> {
    let client = kubeconfig::client(&layout.admin_kubeconfig())
        .await
        .map_err(|e| e.to_string())?;
    let request = http::Request::get("/readyz")
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    let body = client
        .request_text(request)
        .await
        .map_err(|e| e.to_string())?;
    if body.trim() == "ok" {
        Ok(())
    } else {
        Err(body)
    }
}

/// A plain-HTTP GET on 127.0.0.1 whose 200 body must contain `expect`.
async fn http_ok(port: u16, path: &str, expect: &str) -> std::result::Result<(), String> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&response).into_owned())
    };
    let response = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| format!("no answer on :{port}{path} within 5s"))?
        .map_err(|e| format!(":{port}{path}: {e}"))?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let ok = head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200");
    if ok && body.contains(expect) {
        return Ok(());
    }
    Err(format!(
        ":{port}{path} answered {}",
        response.lines().next().unwrap_or("nothing")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_and_short_names() {
        assert_eq!(
            Component::parse("kube-apiserver"),
            Some(Component::Apiserver)
        );
        assert_eq!(Component::parse("apiserver"), Some(Component::Apiserver));
        assert_eq!(Component::parse("kubelet"), Some(Component::Kubelet));
        assert_eq!(Component::parse("dns"), None);
    }

    #[test]
    fn start_order_has_storage_and_runtime_before_their_users() {
        let at = |c| Component::ALL.iter().position(|x| *x == c);
        assert!(at(Component::Etcd) < at(Component::Apiserver));
        assert!(at(Component::Containerd) < at(Component::Kubelet));
        assert!(at(Component::Apiserver) < at(Component::ControllerManager));
    }
}
