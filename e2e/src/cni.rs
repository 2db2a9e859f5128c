//! Pod networking: one bridge (`fmesh0`) with host-local IPAM, no masquerading, no port maps —
//! every packet stays on this machine — and the clean-up `down` needs.

use std::fs;
use std::path::Path;

use crate::containerd::write_if_changed;
use crate::error::{IoContext, Result};
use crate::layout::{BRIDGE, Layout, POD_SUBNET};
use crate::process;

/// Writes the CNI conflist if it changed.
pub fn write_config(layout: &Layout) -> Result<()> {
    let conf = serde_json::json!({
        "cniVersion": "0.4.0",
        "name": "fmesh",
        "plugins": [{
            "type": "bridge",
            "bridge": BRIDGE,
            "isGateway": true,
            "ipMasq": false,
            "hairpinMode": true,
            "ipam": {
                "type": "host-local",
                "ranges": [[{ "subnet": POD_SUBNET }]],
                "routes": [{ "dst": "0.0.0.0/0" }],
                "dataDir": layout.cni_ipam_dir(),
            }
        }]
    });
    let text = serde_json::to_string_pretty(&conf).unwrap_or_default();
    write_if_changed(&layout.cni_conf_dir().join("10-fmesh.conflist"), &text)
}

/// Whether the pod bridge exists.
pub fn bridge_exists() -> bool {
    Path::new("/sys/class/net").join(BRIDGE).exists()
}

/// The bridge's own address: the pods' gateway and the node's IP.
pub const GATEWAY: &str = crate::layout::NODE_IP;

/// Creates the pod bridge with the gateway address, up, unless it exists: host programs can
/// then listen on the gateway before the first pod starts (the CNI bridge plugin adopts it).
pub fn ensure_bridge() -> Result<()> {
    if !bridge_exists() {
        process::run("ip", &["link", "add", BRIDGE, "type", "bridge"])?;
    }
    let cidr = format!("{GATEWAY}/24");
    let addrs = process::run("ip", &["-o", "-4", "addr", "show", "dev", BRIDGE])?;
    if !addrs.split_whitespace().any(|w| w == cidr) {
        process::run("ip", &["addr", "add", &cidr, "dev", BRIDGE])?;
    }
    process::run("ip", &["link", "set", BRIDGE, "up"])?;
    Ok(())
}

/// Routes between pods, Services and the host: kube-proxy's DNAT needs forwarding, and
/// bridged pod-to-pod traffic must pass iptables so Service replies are translated back.
pub fn enable_forwarding() -> Result<()> {
    for (key, path) in [
        ("net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward"),
        (
            "net.bridge.bridge-nf-call-iptables",
            "/proc/sys/net/bridge/bridge-nf-call-iptables",
        ),
    ] {
        if fs::read_to_string(path).is_ok_and(|v| v.trim() == "1") {
            continue;
        }
        fs::write(path, "1").ctx(|| format!("set {key}=1 (write {path})"))?;
    }
    Ok(())
}

/// Deletes the pod bridge if it exists.
pub fn delete_bridge() -> Result<()> {
    if bridge_exists() {
        process::run("ip", &["link", "delete", BRIDGE])?;
    }
    Ok(())
}

/// Forgets IP allocations: after `down` no sandbox holds one.
pub fn clear_ipam(layout: &Layout) -> Result<()> {
    let dir = layout.cni_ipam_dir();
    match fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).ctx(|| format!("remove {}", dir.display()))
        }
        _ => Ok(()),
    }
}
