//! Where everything lives: one state directory per cluster, one cache for the Kubernetes binaries.

use std::path::{Path, PathBuf};

/// Name of the node the kubelet registers.
pub const NODE_NAME: &str = "fmesh-e2e";
/// Linux bridge the CNI plugin creates for pods.
pub const BRIDGE: &str = "fmesh0";
/// Pod subnet on that bridge (host-local IPAM).
pub const POD_SUBNET: &str = "10.244.0.0/24";
/// The node's address: the bridge's own, the pods' gateway. The apiserver advertises it (the
/// `kubernetes` Service's endpoint), the kubelet reports it, CoreDNS serves on it: every pod
/// reaches it, and it exists before the first pod does (`cni::ensure_bridge`).
pub const NODE_IP: &str = "10.244.0.1";
/// The Service network; its first address is the `kubernetes` Service.
pub const SERVICE_SUBNET: &str = "10.96.0.0/16";
/// The cluster's DNS domain.
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// The root of the cache: `$FMESH_E2E_CACHE_DIR`, else `$FMESH_CACHE` (the project-wide cache
/// `.ci/run` and `run.sh` use), else `$XDG_CACHE_HOME/fmesh`, else `~/.cache/fmesh`.
pub fn cache_root() -> PathBuf {
    for var in ["FMESH_E2E_CACHE_DIR", "FMESH_CACHE"] {
        if let Some(dir) = std::env::var_os(var).filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("fmesh");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    PathBuf::from(home).join(".cache").join("fmesh")
}

/// The default state directory: `$FMESH_E2E_STATE_DIR`, else `<cache root>/cluster`.
pub fn default_state_dir() -> PathBuf {
    std::env::var_os("FMESH_E2E_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_root().join("cluster"))
}

/// Paths inside one cluster's state directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// A layout rooted at `root` (nothing is created yet).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The state directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// Keys, certificates and the token file.
    pub fn pki(&self) -> PathBuf {
        self.root.join("pki")
    }
    /// The admin kubeconfig handed to users and tests.
    pub fn admin_kubeconfig(&self) -> PathBuf {
        self.root.join("kubeconfig")
    }
    /// The kubeconfig a component uses to reach the apiserver.
    pub fn component_kubeconfig(&self, component: &str) -> PathBuf {
        self.root
            .join("kubeconfigs")
            .join(format!("{component}.kubeconfig"))
    }
    /// etcd's data directory.
    pub fn etcd_data(&self) -> PathBuf {
        self.root.join("etcd")
    }
    /// containerd's own directory (config, root, state, socket).
    pub fn containerd(&self) -> PathBuf {
        self.root.join("containerd")
    }
    /// containerd's gRPC socket.
    pub fn containerd_socket(&self) -> PathBuf {
        self.containerd().join("containerd.sock")
    }
    /// Where containerd's CRI plugin bind-mounts pod network namespaces
    /// (`netns_mounts_under_state_dir`).
    pub fn netns_dir(&self) -> PathBuf {
        self.containerd()
            .join("state")
            .join("io.containerd.grpc.v1.cri")
            .join("netns")
    }
    /// CNI network configuration directory.
    pub fn cni_conf_dir(&self) -> PathBuf {
        self.root.join("cni").join("net.d")
    }
    /// host-local IPAM's allocation records.
    pub fn cni_ipam_dir(&self) -> PathBuf {
        self.root.join("cni").join("ipam")
    }
    /// The kubelet's root directory (pod volumes live here).
    pub fn kubelet_root(&self) -> PathBuf {
        self.root.join("kubelet")
    }
    /// The KubeletConfiguration file.
    pub fn kubelet_config(&self) -> PathBuf {
        self.root.join("kubelet.yaml")
    }
    /// The KubeProxyConfiguration file.
    pub fn kube_proxy_config(&self) -> PathBuf {
        self.root.join("kube-proxy.yaml")
    }
    /// CoreDNS's Corefile.
    pub fn corefile(&self) -> PathBuf {
        self.root.join("Corefile")
    }
    /// A component's log file.
    pub fn log(&self, component: &str) -> PathBuf {
        self.root.join("logs").join(format!("{component}.log"))
    }
    /// A component's pid file.
    pub fn pid_file(&self, component: &str) -> PathBuf {
        self.root.join("run").join(format!("{component}.pid"))
    }
    /// Built image archives and the programs that go into them.
    pub fn images(&self) -> PathBuf {
        self.root.join("images")
    }
    /// The lock that serialises `up` and `down` between processes.
    pub fn lock_file(&self) -> PathBuf {
        self.root.join("lock")
    }
}
