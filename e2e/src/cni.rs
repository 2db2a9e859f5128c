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

/// The iptables tables the kubelet and kube-proxy write to, for IPv4 and IPv6.
pub const IPTABLES: [(&str, &str); 2] = [
    ("iptables", "iptables-save"),
    ("ip6tables", "ip6tables-save"),
];
/// See [`IPTABLES`].
pub const IPTABLES_TABLES: [&str; 3] = ["filter", "nat", "mangle"];

/// Removes every `KUBE-*` chain and the rules that jump to them: the kubelet's (its canary,
/// `KUBE-FIREWALL`) outlive it, and `kube-proxy --cleanup` removes only kube-proxy's.
pub fn remove_kube_iptables() -> Result<()> {
    for (iptables, save) in IPTABLES {
        for table in IPTABLES_TABLES {
            let Ok(rules) = process::run(save, &["-t", table]) else {
                continue;
            };
            for rule in rules.lines().filter_map(|l| l.strip_prefix("-A ")) {
                let (chain, _) = rule.split_once(' ').unwrap_or((rule, ""));
                if !chain.starts_with("KUBE-") && rule.contains(" KUBE-") {
                    let words = save_words(rule);
                    let mut args = vec!["-t", table, "-D"];
                    args.extend(words.iter().map(String::as_str));
                    process::run(iptables, &args)?;
                }
            }
            let chains: Vec<&str> = rules
                .lines()
                .filter_map(|l| l.strip_prefix(':'))
                .filter_map(|l| l.split_whitespace().next())
                .filter(|c| c.starts_with("KUBE-"))
                .collect();
            for chain in &chains {
                process::run(iptables, &["-t", table, "-F", chain])?;
            }
            for chain in &chains {
                process::run(iptables, &["-t", table, "-X", chain])?;
            }
        }
    }
    Ok(())
}

/// The words of an `iptables-save` rule: blank-separated, `"…"` quoting a word with blanks
/// (comments), `\"` a quote inside it.
fn save_words(rule: &str) -> Vec<String> {
    let (mut words, mut word, mut quoted, mut chars) =
        (Vec::new(), String::new(), false, rule.chars());
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => word.extend(chars.next()),
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_words_keep_quoted_comments_whole() {
        assert_eq!(
            save_words(
                r#"PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES"#
            ),
            [
                "PREROUTING",
                "-m",
                "comment",
                "--comment",
                "kubernetes service portals",
                "-j",
                "KUBE-SERVICES"
            ]
        );
        assert_eq!(
            save_words(r#"INPUT -m comment --comment "say \"hi\"" -j KUBE-FIREWALL"#)[4],
            r#"say "hi""#
        );
        assert_eq!(
            save_words("OUTPUT  -j KUBE-FIREWALL "),
            ["OUTPUT", "-j", "KUBE-FIREWALL"]
        );
    }
}
