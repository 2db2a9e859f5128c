//! The Kubernetes binaries, built once from Debian's source package and cached by version.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::error::{Error, IoContext, Result};
use crate::process;

/// The Kubernetes version Debian bookworm ships in full source.
pub const VERSION: &str = "1.20.2";
/// The cache key: source version plus our patch level (`-2`: reflect2 1.0.2 swapped into vendor/),
/// so a change to the build invalidates binaries built before it.
pub const CACHE_KEY: &str = "1.20.2-2";
/// The programs the build produces.
pub const PROGRAMS: [&str; 5] = [
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kubectl",
];

/// The build script, embedded so the binary works from any directory.
const BUILD_SCRIPT: &str = include_str!("../scripts/build-kubernetes.sh");

/// Where the cached binaries of one version live.
#[derive(Debug, Clone)]
pub struct KubeBinaries {
    dir: PathBuf,
}

impl KubeBinaries {
    /// The cache for [`CACHE_KEY`] under `cache_root` (not necessarily built yet).
    pub fn at(cache_root: &std::path::Path) -> Self {
        Self {
            dir: cache_root.join("k8s").join(CACHE_KEY),
        }
    }

    /// Path of one program.
    pub fn program(&self, name: &str) -> PathBuf {
        self.dir.join("bin").join(name)
    }

    /// Whether every program is present.
    pub fn complete(&self) -> bool {
        PROGRAMS.iter().all(|p| self.program(p).is_file())
    }

    /// Builds the binaries if any is missing (about 5–10 minutes on 2 cores; a no-op when cached).
    pub fn ensure(&self) -> Result<()> {
        if self.complete() {
            return Ok(());
        }
        fs::create_dir_all(&self.dir).ctx(|| format!("create {}", self.dir.display()))?;
        // Two `up`s on a fresh machine (two state dirs) share this cache: one builds, one waits.
        let lock_path = self.dir.join("build.lock");
        let lock =
            fs::File::create(&lock_path).ctx(|| format!("create {}", lock_path.display()))?;
        lock.lock()
            .ctx(|| format!("lock {}", lock_path.display()))?;
        if self.complete() {
            return Ok(());
        }
        let script = self.dir.join("build-kubernetes.sh");
        fs::write(&script, BUILD_SCRIPT).ctx(|| format!("write {}", script.display()))?;
        let log_path = self.dir.join("build.log");
        let log = fs::File::create(&log_path).ctx(|| format!("create {}", log_path.display()))?;
        let err = log.try_clone().ctx(|| "dup build log".to_owned())?;
        tracing::info!(version = VERSION, log = %log_path.display(), "building Kubernetes (first run only, 10-15 min on 2 idle cores)");
        let status = Command::new("bash")
            .arg(&script)
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .status()
            .ctx(|| format!("run {}", script.display()))?;
        if !status.success() || !self.complete() {
            return Err(Error::Command {
                command: format!("bash {} {}", script.display(), self.dir.display()),
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
