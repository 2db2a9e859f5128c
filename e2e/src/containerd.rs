//! containerd: its configuration (own root, state and socket under the state directory) and `ctr`.

use std::fs;
use std::path::Path;

use crate::error::{IoContext, Result};
use crate::layout::Layout;
use crate::process;

/// The image every pod sandbox runs (built locally by `images::pause`).
pub const PAUSE_IMAGE: &str = "fmesh.local/pause:dev";
/// The containerd namespace the CRI plugin (and so the kubelet) uses.
pub const CRI_NAMESPACE: &str = "k8s.io";

/// containerd's config file path.
pub fn config_path(layout: &Layout) -> std::path::PathBuf {
    layout.containerd().join("config.toml")
}

/// Writes containerd's config (version 2) if it changed.
pub fn write_config(layout: &Layout) -> Result<()> {
    let dir = layout.containerd();
    let d = dir.display();
    let text = format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"

[grpc]
  address = "{sock}"

[ttrpc]
  address = "{sock}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # The VM lacks CAP_SYS_RESOURCE: without this every sandbox fails writing oom_score_adj.
  restrict_oom_score_adj = true
  # Pod network namespaces under our state dir, so `down` finds exactly ours.
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        Root = "{d}/runc"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni}"
"#,
        sock = layout.containerd_socket().display(),
        cni = layout.cni_conf_dir().display(),
    );
    write_if_changed(&config_path(layout), &text)
}

/// Runs `ctr` against our containerd in the CRI namespace.
pub fn ctr(layout: &Layout, args: &[&str]) -> Result<String> {
    let sock = layout.containerd_socket();
    let sock = sock.to_string_lossy();
    let mut all = vec!["-a", sock.as_ref(), "-n", CRI_NAMESPACE];
    all.extend_from_slice(args);
    process::run("ctr", &all)
}

/// Image references present in our containerd.
pub fn images(layout: &Layout) -> Result<Vec<String>> {
    Ok(ctr(layout, &["images", "ls", "-q"])?
        .lines()
        .map(str::to_owned)
        .collect())
}

/// Kills and deletes every container (pod sandboxes included) in the CRI namespace, so their
/// shims exit and their mounts can go. Used by `down` while containerd still runs.
pub fn remove_all_containers(layout: &Layout) -> Result<()> {
    let tasks = ctr(layout, &["tasks", "ls", "-q"])?;
    for id in tasks.lines().filter(|l| !l.is_empty()) {
        // A task that already exited refuses the kill; the delete below still works.
        let _ = ctr(layout, &["tasks", "kill", "-s", "SIGKILL", id]);
    }
    for id in tasks.lines().filter(|l| !l.is_empty()) {
        let _ = ctr(layout, &["tasks", "delete", "-f", id]);
    }
    let containers = ctr(layout, &["containers", "ls", "-q"])?;
    for id in containers.lines().filter(|l| !l.is_empty()) {
        let _ = ctr(layout, &["containers", "delete", id]);
    }
    Ok(())
}

pub(crate) fn write_if_changed(path: &Path, text: &str) -> Result<()> {
    if fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).ctx(|| format!("create {}", dir.display()))?;
    }
    fs::write(path, text).ctx(|| format!("write {}", path.display()))
}
