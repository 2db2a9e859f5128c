//! What the machine must offer before anything starts: root, kernel features, Debian packages,
//! free ports. Each failure says what is missing and how to get it.

use std::fs;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};
use crate::process;

/// Debian packages the node needs, each with a file that proves it is installed.
pub const PACKAGES: &[(&str, &str)] = &[
    ("containerd", "/usr/bin/containerd"),
    ("runc", "/usr/sbin/runc"),
    ("containernetworking-plugins", "/usr/lib/cni/bridge"),
    ("busybox-static", "/bin/busybox"),
    ("iproute2", "/usr/sbin/ip"),
    // kube-proxy programs Services with iptables and clears UDP flows with conntrack.
    ("iptables", "/usr/sbin/iptables"),
    ("conntrack", "/usr/sbin/conntrack"),
    ("gcc", "/usr/bin/gcc"),
    ("libc6-dev", "/usr/lib/x86_64-linux-gnu/libc.a"),
];

/// Fails unless running as root.
pub fn require_root() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(Error::NotRoot);
    }
    Ok(())
}

/// Checks the kernel features the node uses, loading modules where that is possible.
pub fn check_kernel() -> Result<()> {
    let filesystems = fs::read_to_string("/proc/filesystems").unwrap_or_default();
    if !filesystems.contains("overlay") {
        let _ = Command::new("modprobe").arg("overlay").status();
        if !fs::read_to_string("/proc/filesystems")
            .unwrap_or_default()
            .contains("overlay")
        {
            return Err(Error::KernelFeature {
                feature: "the overlay filesystem".into(),
                hint: "containerd's overlayfs snapshotter needs it; `modprobe overlay` or a kernel with CONFIG_OVERLAY_FS".into(),
            });
        }
    }
    if !Path::new("/proc/self/ns/net").exists() {
        return Err(Error::KernelFeature {
            feature: "network namespaces".into(),
            hint: "pods need CONFIG_NET_NS".into(),
        });
    }
    if !Path::new("/sys/fs/cgroup/memory").exists()
        && !Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
    {
        return Err(Error::KernelFeature {
            feature: "a mounted cgroup hierarchy".into(),
            hint: "the kubelet needs /sys/fs/cgroup (v1 controllers or v2)".into(),
        });
    }
    if !Path::new("/sys/module/bridge").exists() {
        let _ = Command::new("modprobe").arg("bridge").status();
        if !Path::new("/sys/module/bridge").exists() {
            return Err(Error::KernelFeature {
                feature: "Linux bridges".into(),
                hint: "the pod network is a bridge; `modprobe bridge` or CONFIG_BRIDGE".into(),
            });
        }
    }
    Ok(())
}

/// Installs the Debian packages that are missing (one `apt-get install` for all of them).
pub fn ensure_packages() -> Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, proof)| !Path::new(proof).exists())
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    tracing::info!(?missing, "installing Debian packages");
    process::run("apt-get", &["update", "-qq"])?;
    let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
    args.extend(missing.iter().copied());
    let out = Command::new("apt-get")
        .args(&args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .map_err(|e| Error::Command {
            command: "apt-get install".into(),
            detail: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("apt-get {}", args.join(" ")),
            detail: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    // The package starts a system containerd we do not use; it would only compete for resources.
    if missing.contains(&"containerd") {
        let _ = Command::new("systemctl")
            .args(["disable", "--now", "containerd"])
            .status();
    }
    Ok(())
}

/// Fails if `port` on 127.0.0.1 is in use (call only for a component that is not ours and running).
pub fn require_free_port(port: u16, component: &str) -> Result<()> {
    match TcpListener::bind(("127.0.0.1", port)) {
        Ok(_) => Ok(()),
        Err(_) => Err(Error::PortTaken {
            port,
            component: component.to_owned(),
        }),
    }
}
