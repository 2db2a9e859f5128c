//! The cluster as a whole: idempotent `up`, exact `down`, `status`, and the shared handle tests use.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Node as KubeNode, ServiceAccount};
use kube::Api;

use crate::cgroups;
use crate::cni;
use crate::components::{self, Component};
use crate::containerd;
use crate::dns;
use crate::error::{Error, IoContext, Result};
use crate::images;
use crate::k8sbin::KubeBinaries;
use crate::kubeconfig;
use crate::layout::{self, Layout, NODE_NAME};
use crate::mounts;
use crate::pki::{Identity, Pki};
use crate::process;

/// Lines of a component's log shown with an error.
const TAIL: usize = 25;

/// Installs ring as rustls' process-wide crypto provider (idempotent). kube's client needs one.
pub fn install_crypto_provider() {
    // Err only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The local single-node cluster in one state directory.
#[derive(Debug, Clone)]
pub struct LocalCluster {
    layout: Layout,
    bins: KubeBinaries,
}

impl LocalCluster {
    /// A cluster in `state_dir`, with Kubernetes binaries cached under `cache_root`.
    pub fn new(state_dir: impl Into<PathBuf>, cache_root: &Path) -> Self {
        Self {
            layout: Layout::new(state_dir),
            bins: KubeBinaries::at(cache_root),
        }
    }

    /// The cluster in the default state directory and cache.
    pub fn default_location() -> Self {
        Self::new(layout::default_state_dir(), &layout::cache_root())
    }

    /// Its paths.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The Kubernetes binaries it runs (kubectl included).
    pub fn binaries(&self) -> &KubeBinaries {
        &self.bins
    }

    /// Brings the cluster up, or checks and repairs a running one; returns the admin kubeconfig.
    pub async fn up(&self) -> Result<PathBuf> {
        install_crypto_provider();
        crate::prereq::require_root()?;
        crate::prereq::check_kernel()?;
        crate::prereq::ensure_packages()?;
        self.bins.ensure()?;
        let _lock = self.lock()?;
        let pki = Pki::ensure(&self.layout)?;
        self.write_configs(&pki)?;
        cni::ensure_bridge()?;
        cni::enable_forwarding()?;
        // Fail before starting anything if a port we need belongs to someone else.
        for c in Component::ALL {
            if process::running(&self.layout, c.name()).is_none() {
                for &port in c.ports() {
                    crate::prereq::require_free_port(port, c.name())?;
                }
            }
        }
        for component in Component::ALL {
            if component == Component::CoreDns {
                let client = kubeconfig::client(&self.layout.admin_kubeconfig()).await?;
                dns::ensure_rbac(&client).await?;
            }
            self.ensure_component(component, &pki).await?;
            if component == Component::Containerd {
                // Sandboxes need the pause image before the kubelet starts any pod.
                images::ensure_base(&self.layout)?;
            }
        }
        let client = kubeconfig::client(&self.layout.admin_kubeconfig()).await?;
        self.wait_node_ready(&client).await?;
        self.wait_default_service_account(&client).await?;
        Ok(self.layout.admin_kubeconfig())
    }

    fn write_configs(&self, pki: &Pki) -> Result<()> {
        kubeconfig::write(
            &self.layout.admin_kubeconfig(),
            &pki.ca_cert(),
            "fmesh-admin",
            &pki.token(Identity::Admin)?,
        )?;
        for who in [
            Identity::ControllerManager,
            Identity::Scheduler,
            Identity::Kubelet,
            Identity::KubeProxy,
            Identity::CoreDns,
        ] {
            let path = self.layout.component_kubeconfig(who.name());
            kubeconfig::write(&path, &pki.ca_cert(), who.name(), &pki.token(who)?)?;
        }
        containerd::write_config(&self.layout)?;
        cni::write_config(&self.layout)?;
        components::write_kubelet_config(&self.layout)?;
        components::write_kube_proxy_config(&self.layout)?;
        components::write_corefile(&self.layout)?;
        for dir in [self.layout.etcd_data(), self.layout.kubelet_root()] {
            fs::create_dir_all(&dir).ctx(|| format!("create {}", dir.display()))?;
        }
        // etcd refuses a data directory others can read.
        use std::os::unix::fs::PermissionsExt;
        let etcd = self.layout.etcd_data();
        fs::set_permissions(&etcd, fs::Permissions::from_mode(0o700))
            .ctx(|| format!("chmod {}", etcd.display()))
    }

    /// Leaves a healthy component alone; starts a stopped one; restarts one that stays unhealthy.
    async fn ensure_component(&self, c: Component, pki: &Pki) -> Result<()> {
        if let Some(pid) = process::running(&self.layout, c.name()) {
            if c.health(&self.layout).await.is_ok() {
                return Ok(());
            }
            // Maybe still starting (an interrupted `up` just launched it): give it a moment.
            match self.wait_healthy(c, pid, Duration::from_secs(15)).await {
                Ok(()) => return Ok(()),
                Err(e) => tracing::warn!(component = c.name(), error = %e, "unhealthy; restarting"),
            }
            process::stop(&self.layout, c.name(), Duration::from_secs(5))?;
        }
        for &port in c.ports() {
            crate::prereq::require_free_port(port, c.name())?;
        }
        if c == Component::Containerd {
            // A socket left by a killed containerd makes the new one fail to listen.
            let _ = fs::remove_file(self.layout.containerd_socket());
        }
        let pid = process::start(&self.layout, &c.spec(&self.layout, &self.bins, pki))?;
        self.wait_healthy(c, pid, c.start_timeout()).await
    }

    async fn wait_healthy(&self, c: Component, pid: u32, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if !process::alive(pid) {
                return Err(self.exited(c));
            }
            let health = c.health(&self.layout).await;
            match health {
                Ok(()) => return Ok(()),
                Err(detail) if Instant::now() >= deadline => {
                    let log = self.layout.log(c.name());
                    return Err(Error::NotHealthy {
                        component: c.name().into(),
                        secs: timeout.as_secs(),
                        detail,
                        tail: process::log_tail(&log, TAIL),
                        log,
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
            }
        }
    }

    fn exited(&self, c: Component) -> Error {
        let log = self.layout.log(c.name());
        Error::ComponentExited {
            component: c.name().into(),
            tail: process::log_tail(&log, TAIL),
            log,
        }
    }

    /// Fails with the component's log if it died while we wait for something it provides.
    fn require_alive(&self, c: Component) -> Result<()> {
        match process::running(&self.layout, c.name()) {
            Some(_) => Ok(()),
            None => Err(self.exited(c)),
        }
    }

    async fn wait_node_ready(&self, client: &kube::Client) -> Result<()> {
        let nodes: Api<KubeNode> = Api::all(client.clone());
        self.poll(
            "node to be Ready",
            Duration::from_secs(120),
            Component::Kubelet,
            || async {
                let node = nodes.get_opt(NODE_NAME).await?;
                Ok(node
                    .and_then(|n| n.status?.conditions)
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")))
            },
        )
        .await
    }

    /// Pods of a new namespace need its `default` ServiceAccount (their token is projected).
    async fn wait_default_service_account(&self, client: &kube::Client) -> Result<()> {
        let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
        self.poll(
            "the default ServiceAccount",
            Duration::from_secs(60),
            Component::ControllerManager,
            || async { Ok(accounts.get_opt("default").await?.is_some()) },
        )
        .await
    }

    /// Polls `check` until true; fails early if `provider` dies, with its log.
    async fn poll<F, Fut>(
        &self,
        what: &str,
        timeout: Duration,
        provider: Component,
        mut check: F,
    ) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<bool>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            self.require_alive(provider)?;
            match check().await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) => tracing::debug!(error = %e, "waiting for {what}"),
            }
            if Instant::now() >= deadline {
                let log = self.layout.log(provider.name());
                return Err(Error::NotHealthy {
                    component: provider.name().into(),
                    secs: timeout.as_secs(),
                    detail: format!("waiting for {what}"),
                    tail: process::log_tail(&log, TAIL),
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Stops every process this cluster started and removes what the node left on the host:
    /// containers and their shims, mounts, network namespaces, the bridge, pod cgroups.
    /// With `purge`, the state directory goes too (the cached Kubernetes binaries stay).
    pub fn down(&self, purge: bool) -> Result<()> {
        crate::prereq::require_root()?;
        if !self.layout.root().exists() {
            return Ok(());
        }
        let lock = self.lock()?;
        let grace = Duration::from_secs(10);
        process::stop(&self.layout, Component::CoreDns.name(), grace)?;
        process::stop(&self.layout, Component::KubeProxy.name(), grace)?;
        // kube-proxy's iptables chains outlive it; its own cleanup mode removes them.
        let kube_proxy = self.bins.program("kube-proxy");
        if kube_proxy.is_file()
            && let Err(e) = process::run(&kube_proxy.display().to_string(), &["--cleanup"])
        {
            tracing::warn!(error = %e, "kube-proxy --cleanup failed");
        }
        process::stop(&self.layout, Component::Kubelet.name(), grace)?;
        cni::remove_kube_iptables()?;
        if process::running(&self.layout, Component::Containerd.name()).is_some()
            && let Err(e) = containerd::remove_all_containers(&self.layout)
        {
            tracing::warn!(error = %e, "removing containers through containerd failed; killing them");
        }
        process::stop(&self.layout, Component::Containerd.name(), grace)?;
        // Shims are started by containerd, not us; each carries our socket path on its command line.
        let socket = self.layout.containerd_socket().display().to_string();
        for pid in process::pids_mentioning(&socket) {
            process::terminate(pid, Duration::from_secs(2));
        }
        for pid in cgroups::pod_pids() {
            process::terminate(pid, Duration::from_secs(2));
        }
        for c in [
            Component::Scheduler,
            Component::ControllerManager,
            Component::Apiserver,
            Component::Etcd,
        ] {
            process::stop(&self.layout, c.name(), grace)?;
        }
        mounts::unmount_all(self.layout.root())?;
        remove_dir_entries(&self.layout.netns_dir())?;
        cni::delete_bridge()?;
        cni::clear_ipam(&self.layout)?;
        cgroups::remove_pod_cgroups();
        drop(lock);
        if purge {
            let root = self.layout.root();
            fs::remove_dir_all(root).ctx(|| format!("remove {}", root.display()))?;
        }
        Ok(())
    }

    /// What runs, how healthy it is, and the node's state.
    pub async fn status(&self) -> Status {
        install_crypto_provider();
        let mut components = Vec::new();
        for c in Component::ALL {
            let pid = process::running(&self.layout, c.name());
            let health = match pid {
                Some(_) => c.health(&self.layout).await,
                None => Err("not running".into()),
            };
            components.push(ComponentStatus {
                component: c,
                pid,
                health,
                log: self.layout.log(c.name()),
            });
        }
        let node = match kubeconfig::client(&self.layout.admin_kubeconfig()).await {
            Ok(client) => node_summary(&client).await,
            Err(e) => format!("unknown ({e})"),
        };
        Status {
            state_dir: self.layout.root().to_path_buf(),
            kubeconfig: self.layout.admin_kubeconfig(),
            binaries: if self.bins.complete() {
                "cached"
            } else {
                "not built"
            },
            components,
            node,
            bridge: cni::bridge_exists(),
            mounts: mounts::under(self.layout.root()).len(),
        }
    }

    /// The last `lines` lines of a component's log.
    pub fn logs(&self, component: &str, lines: usize) -> Result<String> {
        let c =
            Component::parse(component).ok_or_else(|| Error::UnknownComponent(component.into()))?;
        Ok(process::log_tail(&self.layout.log(c.name()), lines))
    }

    fn lock(&self) -> Result<fs::File> {
        let root = self.layout.root();
        fs::create_dir_all(root).ctx(|| format!("create {}", root.display()))?;
        let path = self.layout.lock_file();
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ctx(|| format!("open {}", path.display()))?;
        // Another `up`/`down` on the same state directory finishes first.
        file.lock().ctx(|| format!("lock {}", path.display()))?;
        Ok(file)
    }
}

/// Removes the files in `dir` (unmounted network namespace handles), keeping `dir`.
fn remove_dir_entries(dir: &Path) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        fs::remove_file(&path).ctx(|| format!("remove {}", path.display()))?;
    }
    Ok(())
}

async fn node_summary(client: &kube::Client) -> String {
    let nodes: Api<KubeNode> = Api::all(client.clone());
    match nodes.get_opt(NODE_NAME).await {
        Ok(Some(node)) => {
            let ready = node
                .status
                .and_then(|s| s.conditions)
                .and_then(|cs| cs.into_iter().find(|c| c.type_ == "Ready"))
                .map(|c| format!("Ready={} ({})", c.status, c.reason.unwrap_or_default()))
                .unwrap_or_else(|| "no Ready condition yet".into());
            format!("{NODE_NAME}: {ready}")
        }
        Ok(None) => format!("{NODE_NAME}: not registered"),
        Err(e) => format!("unknown ({e})"),
    }
}

/// One component's line in `status`.
#[derive(Debug)]
pub struct ComponentStatus {
    /// Which component.
    pub component: Component,
    /// Its pid if it runs.
    pub pid: Option<u32>,
    /// Its health check's answer.
    pub health: std::result::Result<(), String>,
    /// Its log file.
    pub log: PathBuf,
}

/// The cluster's state for humans.
#[derive(Debug)]
pub struct Status {
    /// The state directory.
    pub state_dir: PathBuf,
    /// The admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// Whether the Kubernetes binaries are cached.
    pub binaries: &'static str,
    /// Per component.
    pub components: Vec<ComponentStatus>,
    /// The node's Ready condition.
    pub node: String,
    /// Whether the pod bridge exists.
    pub bridge: bool,
    /// How many mounts are under the state directory.
    pub mounts: usize,
}

impl Status {
    /// Whether every component runs and is healthy.
    pub fn healthy(&self) -> bool {
        self.components
            .iter()
            .all(|c| c.pid.is_some() && c.health.is_ok())
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "state dir:  {}", self.state_dir.display())?;
        writeln!(f, "kubeconfig: {}", self.kubeconfig.display())?;
        writeln!(f, "k8s {}: {}", crate::k8sbin::VERSION, self.binaries)?;
        for c in &self.components {
            let pid = c.pid.map_or_else(|| "-".to_owned(), |p| p.to_string());
            let health = match &c.health {
                Ok(()) => "healthy".to_owned(),
                Err(e) => e.lines().next().unwrap_or_default().to_owned(),
            };
            writeln!(
                f,
                "  {:<24} pid {:<8} {:<40} {}",
                c.component.name(),
                pid,
                health,
                c.log.display()
            )?;
        }
        writeln!(f, "node:       {}", self.node)?;
        writeln!(
            f,
            "bridge {}:  {}",
            layout::BRIDGE,
            if self.bridge { "present" } else { "absent" }
        )?;
        write!(f, "mounts under state dir: {}", self.mounts)
    }
}

/// A running cluster as tests see it: the kubeconfig and a client bound to the caller's runtime.
#[derive(Clone)]
pub struct Cluster {
    local: LocalCluster,
    kubeconfig: PathBuf,
    client: kube::Client,
}

impl Cluster {
    /// Brings the default cluster up once per process (later calls only make a client) and
    /// returns a handle. Each `#[tokio::test]` has its own runtime, so each gets its own client.
    /// Fails with [`Error::FmeshInstalled`] when fmesh is installed in the cluster (by
    /// `run.sh` or `kubectl apply -k`): tests that run their own operator or webhook must not
    /// share the cluster with an installed one.
    pub async fn ensure() -> Result<Cluster> {
        let cluster = Self::ensure_allowing_install().await?;
        crate::install::require_none(&cluster.client).await?;
        Ok(cluster)
    }

    /// [`Cluster::ensure`] without the installed-fmesh check, for the install scenarios.
    pub async fn ensure_allowing_install() -> Result<Cluster> {
        static UP: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();
        install_crypto_provider();
        let local = LocalCluster::default_location();
        let kubeconfig = UP.get_or_try_init(|| local.up()).await?.clone();
        let client = kubeconfig::client(&kubeconfig).await?;
        Ok(Cluster {
            local,
            kubeconfig,
            client,
        })
    }

    /// A handle on a cluster that is already up, without bringing it up or checking for an
    /// install (for `fmesh-e2e uninstall`).
    pub async fn running(local: LocalCluster) -> Result<Cluster> {
        install_crypto_provider();
        let kubeconfig = local.layout().admin_kubeconfig();
        let client = kubeconfig::client(&kubeconfig).await?;
        Ok(Cluster {
            local,
            kubeconfig,
            client,
        })
    }

    /// The admin kubeconfig path.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A client with admin rights.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// The underlying local cluster (paths, binaries, `down`).
    pub fn local(&self) -> &LocalCluster {
        &self.local
    }
}
