//! The cgroups the kubelet makes for pods (`kubepods` under each cgroup-v1 controller, cgroupfs
//! driver): what is left in them after `down`, and their removal.

use std::fs;
use std::path::{Path, PathBuf};

const ROOT: &str = "/sys/fs/cgroup";

/// `kubepods` directories under each controller.
fn kubepods_roots() -> Vec<PathBuf> {
    let Ok(controllers) = fs::read_dir(ROOT) else {
        return Vec::new();
    };
    controllers
        .flatten()
        .map(|c| c.path().join("kubepods"))
        .filter(|p| p.is_dir())
        .collect()
}

/// Pids of processes still in a pod cgroup.
pub fn pod_pids() -> Vec<u32> {
    let mut pids = Vec::new();
    for root in kubepods_roots() {
        collect_pids(&root, &mut pids);
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

fn collect_pids(dir: &Path, pids: &mut Vec<u32>) {
    if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
        pids.extend(procs.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
    }
    for child in subdirs(dir) {
        collect_pids(&child, pids);
    }
}

/// Removes the (empty) pod cgroups, deepest first; a busy one stays.
pub fn remove_pod_cgroups() {
    for root in kubepods_roots() {
        remove_tree(&root);
    }
}

fn remove_tree(dir: &Path) {
    for child in subdirs(dir) {
        remove_tree(&child);
    }
    // cgroup directories go with rmdir (their control files vanish with them).
    let _ = fs::remove_dir(dir);
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}
