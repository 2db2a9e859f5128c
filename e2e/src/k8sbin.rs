//! The cluster's programs, built once from their Go modules and cached by version: Kubernetes
//! (with the etcd its release requires) and CoreDNS.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, IoContext, Result};
use crate::process;

/// The Kubernetes release the local cluster runs (module `k8s.io/kubernetes`).
pub const VERSION: &str = "1.37.2";
/// The CoreDNS release serving the cluster's DNS (module `github.com/coredns/coredns`).
pub const COREDNS_VERSION: &str = "1.15.0";
/// The programs built from `k8s.io/kubernetes` (etcd: the server version its go.mod requires).
pub const KUBERNETES_PROGRAMS: [&str; 7] = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
    "kubectl",
];

/// One set of programs built by one script into `<cache>/<name>/<version>/bin`.
struct Build {
    name: &'static str,
    version: &'static str,
    programs: &'static [&'static str],
    /// The build script, embedded so the binary works from any directory.
    script: &'static str,
}

const KUBERNETES: Build = Build {
    name: "kubernetes",
    version: VERSION,
    programs: &KUBERNETES_PROGRAMS,
    script: include_str!("../scripts/build-kubernetes.sh"),
};

const COREDNS: Build = Build {
    name: "coredns",
    version: COREDNS_VERSION,
    programs: &["coredns"],
    script: include_str!("../scripts/build-coredns.sh"),
};

impl Build {
    fn dir(&self, cache_root: &Path) -> PathBuf {
        cache_root.join(self.name).join(self.version)
    }

    fn complete(&self, dir: &Path) -> bool {
        self.programs
            .iter()
            .all(|p| dir.join("bin").join(p).is_file())
    }

    /// Runs the script unless every program is there; two processes on a fresh machine share
    /// the cache: one builds, the other waits on the lock.
    fn ensure(&self, dir: &Path) -> Result<()> {
        if self.complete(dir) {
            return Ok(());
        }
        fs::create_dir_all(dir).ctx(|| format!("create {}", dir.display()))?;
        let lock_path = dir.join("build.lock");
        let lock =
            fs::File::create(&lock_path).ctx(|| format!("create {}", lock_path.display()))?;
        lock.lock()
            .ctx(|| format!("lock {}", lock_path.display()))?;
        if self.complete(dir) {
            return Ok(());
        }
        let script = dir.join(format!("build-{}.sh", self.name));
        fs::write(&script, self.script).ctx(|| format!("write {}", script.display()))?;
        let log_path = dir.join("build.log");
        let log = fs::File::create(&log_path).ctx(|| format!("create {}", log_path.display()))?;
        let err = log.try_clone().ctx(|| "dup build log".to_owned())?;
        tracing::info!(
            build = self.name,
            version = self.version,
            log = %log_path.display(),
            "building from Go modules (first run only)"
        );
        let status = Command::new("bash")
            .arg(&script)
            .arg(dir)
            .arg(self.version)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .status()
            .ctx(|| format!("run {}", script.display()))?;
        if !status.success() || !self.complete(dir) {
            return Err(Error::Command {
                command: format!(
                    "bash {} {} {}",
                    script.display(),
                    dir.display(),
                    self.version
                ),
                detail: format!(
                    "{status}; last lines of {}:\n{}",
                    log_path.display(),
                    process::log_tail(&log_path, 30)
                ),
            });
        }
        Ok(())
    }
}

/// Where the cached programs live.
#[derive(Debug, Clone)]
pub struct KubeBinaries {
    kubernetes: PathBuf,
    coredns: PathBuf,
}

impl KubeBinaries {
    /// The caches for [`VERSION`] and [`COREDNS_VERSION`] under `cache_root` (not necessarily
    /// built yet).
    pub fn at(cache_root: &Path) -> Self {
        Self {
            kubernetes: KUBERNETES.dir(cache_root),
            coredns: COREDNS.dir(cache_root),
        }
    }

    /// Path of one program (`coredns` or one of [`KUBERNETES_PROGRAMS`]).
    pub fn program(&self, name: &str) -> PathBuf {
        let dir = if name == "coredns" {
            &self.coredns
        } else {
            &self.kubernetes
        };
        dir.join("bin").join(name)
    }

    /// Whether every program is present.
    pub fn complete(&self) -> bool {
        KUBERNETES.complete(&self.kubernetes) && COREDNS.complete(&self.coredns)
    }

    /// Builds what is missing: Kubernetes in about 15-25 minutes on 2 cores, CoreDNS in 2-4;
    /// a no-op when cached. Needs Go and the Go module proxy.
    pub fn ensure(&self) -> Result<()> {
        if !self.complete() && Command::new("go").arg("version").output().is_err() {
            return Err(Error::Command {
                command: "go version".into(),
                detail: "Go is needed once to build the cluster's programs from their modules \
                         (k8s.io/kubernetes, github.com/coredns/coredns); put it on PATH"
                    .into(),
            });
        }
        KUBERNETES.ensure(&self.kubernetes)?;
        COREDNS.ensure(&self.coredns)
    }
}
