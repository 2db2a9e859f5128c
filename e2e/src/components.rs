//! The node's processes: how each is started, which ports it needs and how its health is read.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::containerd;
use crate::error::Result;
use crate::k8sbin::KubeBinaries;
use crate::kubeconfig;
use crate::layout::{CLUSTER_DOMAIN, Layout, NODE_IP, NODE_NAME, POD_SUBNET, SERVICE_SUBNET};
use crate::pki::Pki;
use crate::process::Spec;

/// Where CoreDNS answers readiness (`ready` plugin) and liveness (`health` plugin); off the
/// ports fmesh's own programs default to (8080).
const COREDNS_READY_PORT: u16 = 8181;
const COREDNS_HEALTH_PORT: u16 = 8180;

/// One process of the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Etcd,
    Containerd,
    Apiserver,
    ControllerManager,
    Scheduler,
    Kubelet,
    KubeProxy,
    CoreDns,
}

impl Component {
    /// Start order; `down` stops in reverse.
    pub const ALL: [Component; 8] = [
        Component::Etcd,
        Component::Containerd,
        Component::Apiserver,
        Component::ControllerManager,
        Component::Scheduler,
        Component::Kubelet,
        Component::KubeProxy,
        Component::CoreDns,
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
            Component::KubeProxy => "kube-proxy",
            Component::CoreDns => "coredns",
        }
    }

    /// Parses a CLI name (also accepts the short forms without `kube-`).
    pub fn parse(name: &str) -> Option<Component> {
        Component::ALL
            .into_iter()
            .find(|c| c.name() == name || c.name().strip_prefix("kube-") == Some(name))
    }

    /// TCP ports it listens on (on 127.0.0.1 or all addresses).
    pub fn ports(self) -> &'static [u16] {
        match self {
            Component::Etcd => &[2379, 2380],
            Component::Containerd => &[],
            Component::Apiserver => &[6443],
            Component::ControllerManager => &[10257],
            Component::Scheduler => &[10259],
            Component::Kubelet => &[10248, 10250],
            Component::KubeProxy => &[10249, 10256],
            Component::CoreDns => &[COREDNS_HEALTH_PORT, COREDNS_READY_PORT],
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
        let kubeconfig =
            |c: Component| format!("--kubeconfig={}", s(layout.component_kubeconfig(c.name())));
        let (program, args): (std::path::PathBuf, Vec<String>) = match self {
            Component::Etcd => (
                bins.program("etcd"),
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
                    // Loopback for kubeconfigs, the node IP for pods (the `kubernetes` Service).
                    "--bind-address=0.0.0.0".into(),
                    format!("--advertise-address={NODE_IP}"),
                    format!("--tls-cert-file={}", s(pki.apiserver_cert())),
                    format!("--tls-private-key-file={}", s(pki.apiserver_key())),
                    format!("--client-ca-file={}", s(pki.ca_cert())),
                    format!("--token-auth-file={}", s(pki.tokens())),
                    "--service-account-issuer=https://kubernetes.default.svc".into(),
                    format!("--service-account-key-file={}", s(pki.sa_pub())),
                    format!("--service-account-signing-key-file={}", s(pki.sa_key())),
                    "--authorization-mode=Node,RBAC".into(),
                    format!("--service-cluster-ip-range={SERVICE_SUBNET}"),
                    // `kubectl logs`/`exec` reach the kubelet by the node's IP: its name resolves nowhere.
                    "--kubelet-preferred-address-types=InternalIP".into(),
                    "--allow-privileged=true".into(),
                    "--profiling=false".into(),
                ],
            ),
            Component::ControllerManager => (
                bins.program("kube-controller-manager"),
                vec![
                    kubeconfig(self),
                    format!("--service-account-private-key-file={}", s(pki.sa_key())),
                    // The CA put in every pod's service-account volume (kube-root-ca.crt).
                    format!("--root-ca-file={}", s(pki.ca_cert())),
                    "--use-service-account-credentials=true".into(),
                    "--leader-elect=false".into(),
                    "--bind-address=127.0.0.1".into(),
                    "--profiling=false".into(),
                ],
            ),
            Component::Scheduler => (
                bins.program("kube-scheduler"),
                vec![
                    kubeconfig(self),
                    "--leader-elect=false".into(),
                    "--bind-address=127.0.0.1".into(),
                    "--profiling=false".into(),
                ],
            ),
            Component::Kubelet => (
                bins.program("kubelet"),
                vec![
                    kubeconfig(self),
                    format!("--config={}", s(layout.kubelet_config())),
                    format!("--root-dir={}", s(layout.kubelet_root())),
                    format!("--hostname-override={NODE_NAME}"),
                    format!("--node-ip={NODE_IP}"),
                ],
            ),
            Component::KubeProxy => (
                bins.program("kube-proxy"),
                vec![format!("--config={}", s(layout.kube_proxy_config()))],
            ),
            Component::CoreDns => (
                bins.program("coredns"),
                vec!["-conf".into(), s(layout.corefile())],
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
            Component::ControllerManager => https_ok(10257, "/healthz").await,
            Component::Scheduler => https_ok(10259, "/healthz").await,
            Component::Kubelet => http_ok(10248, "/healthz", "ok").await,
            // 200 once its rules are synced with the apiserver's Services.
            Component::KubeProxy => http_ok(10256, "/healthz", "").await,
            // 200 once the kubernetes plugin has synced.
            Component::CoreDns => http_ok(COREDNS_READY_PORT, "/ready", "OK").await,
        }
    }
}

/// Writes kube-proxy's configuration if it changed: iptables mode (the kernel's xt matches
/// and NAT are what this VM has), sysctls left alone (conntrack sizes are the VM's to set).
pub fn write_kube_proxy_config(layout: &Layout) -> Result<()> {
    let text = format!(
        "apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: {kubeconfig}
mode: iptables
clusterCIDR: {POD_SUBNET}
hostnameOverride: {NODE_NAME}
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
",
        kubeconfig = layout
            .component_kubeconfig(Component::KubeProxy.name())
            .display()
    );
    containerd::write_if_changed(&layout.kube_proxy_config(), &text)
}

/// Writes CoreDNS's Corefile if it changed: the cluster domain from the apiserver, the rest
/// forwarded to the host's resolvers. It serves on the node IP, the `clusterDNS` of every pod.
pub fn write_corefile(layout: &Layout) -> Result<()> {
    let text = format!(
        ".:53 {{
    bind {NODE_IP}
    errors
    health 127.0.0.1:{COREDNS_HEALTH_PORT}
    ready 127.0.0.1:{COREDNS_READY_PORT}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    forward . /etc/resolv.conf
    cache 30
    loop
    loadbalance
}}
",
        kubeconfig = layout
            .component_kubeconfig(Component::CoreDns.name())
            .display()
    );
    containerd::write_if_changed(&layout.corefile(), &text)
}

/// Writes the KubeletConfiguration if it changed.
pub fn write_kubelet_config(layout: &Layout) -> Result<()> {
    let text = format!(
        "apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://{socket}
# Reached by the apiserver at the node IP (`kubectl logs`, `exec`).
address: 0.0.0.0
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
cgroupDriver: cgroupfs
# This VM mounts cgroup v1 controllers only; the kubelet still supports them when asked to.
failCgroupV1: false
failSwapOn: false
clusterDNS: [{NODE_IP}]
clusterDomain: {CLUSTER_DOMAIN}
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
",
        socket = layout.containerd_socket().display()
    );
    containerd::write_if_changed(&layout.kubelet_config(), &text)
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

/// An HTTPS GET on 127.0.0.1 that must answer 200 `ok`: the controller-manager's and the
/// scheduler's self-signed serving certificates are not checked, only their answer.
async fn https_ok(port: u16, path: &str) -> std::result::Result<(), String> {
    let url: http::Uri = format!("https://127.0.0.1:{port}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let mut config = kube::Config::new(url);
    config.accept_invalid_certs = true;
    config.connect_timeout = Some(Duration::from_secs(5));
    config.read_timeout = Some(Duration::from_secs(5));
    let client = kube::Client::try_from(config).map_err(|e| e.to_string())?;
    let request = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    let body = client
        .request_text(request)
        .await
        .map_err(|e| format!(":{port}{path}: {e}"))?;
    if body.trim() == "ok" {
        Ok(())
    } else {
        Err(format!(":{port}{path} answered {body}"))
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
