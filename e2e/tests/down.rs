//! `down` leaves nothing behind, and a second `up` reuses the cached binaries and the state.
//!
//! Ignored by default because it tears the shared cluster down: `e2e/ci.sh` runs it on its own,
//! after the other suites (`cargo test -p fmesh-e2e --test down -- --ignored`).

use std::path::Path;
use std::time::{Duration, Instant};

use fmesh_e2e::components::Component;
use fmesh_e2e::{Cluster, LocalCluster, cgroups, cni, images, mounts, process, wait};
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::PostParams;
use serde_json::json;

/// Every process the cluster runs now: components, containerd shims, pod processes.
fn cluster_pids(local: &LocalCluster) -> Vec<u32> {
    let layout = local.layout();
    let mut pids: Vec<u32> = Component::ALL
        .iter()
        .filter_map(|c| process::running(layout, c.name()))
        .collect();
    pids.extend(process::pids_mentioning(
        &layout.containerd_socket().display().to_string(),
    ));
    pids.extend(cgroups::pod_pids());
    pids
}

fn assert_clean(local: &LocalCluster, before: &[u32]) {
    let root = local.layout().root();
    let alive: Vec<u32> = before
        .iter()
        .copied()
        .filter(|&p| process::alive(p))
        .collect();
    assert!(
        alive.is_empty(),
        "processes still alive after down: {alive:?}"
    );
    let mentioning = process::pids_mentioning(&root.display().to_string());
    assert!(
        mentioning.is_empty(),
        "processes still using {}: {mentioning:?}",
        root.display()
    );
    assert!(
        cgroups::pod_pids().is_empty(),
        "processes left in pod cgroups"
    );
    let left = mounts::under(root);
    assert!(left.is_empty(), "mounts left: {left:?}");
    let netns = entries(&local.layout().netns_dir());
    assert_eq!(
        netns,
        0,
        "network namespace handles left in {}",
        local.layout().netns_dir().display()
    );
    assert!(
        !cni::bridge_exists(),
        "bridge {} left",
        fmesh_e2e::layout::BRIDGE
    );
    for (_, save) in cni::IPTABLES {
        for table in cni::IPTABLES_TABLES {
            let rules = process::run(save, &["-t", table]).expect("iptables-save");
            let kube: Vec<&str> = rules.lines().filter(|l| l.contains("KUBE-")).collect();
            assert!(
                kube.is_empty(),
                "{save} -t {table}: kubelet/kube-proxy rules left: {kube:?}"
            );
        }
    }
}

fn entries(dir: &Path) -> usize {
    std::fs::read_dir(dir).map(|e| e.count()).unwrap_or(0)
}

/// When the pod's (only) container last started running.
fn started_at(pod: &Pod) -> Option<k8s_openapi::jiff::Timestamp> {
    let status = pod.status.as_ref()?.container_statuses.as_ref()?.first()?;
    Some(
        status
            .state
            .as_ref()?
            .running
            .as_ref()?
            .started_at
            .as_ref()?
            .0,
    )
}

fn mtime(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("binary exists")
}

#[tokio::test]
#[ignore = "tears the shared cluster down; run alone and last (e2e/ci.sh does)"]
async fn down_leaves_nothing_behind_and_up_reuses_the_cache() {
    let cluster = Cluster::ensure().await.expect("cluster up");
    let local = cluster.local().clone();
    let ns = cluster.namespace("down").await.expect("namespace");
    let pods: Api<Pod> = Api::namespaced(cluster.client(), ns.name());
    // A running pod, so there is a sandbox, a network namespace, mounts and the bridge to remove.
    let pod: Pod = serde_json::from_value(json!({
        "metadata": { "name": "sleeper" },
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{ "name": "main", "image": images::SMOKE, "command": ["sleep", "3600"] }],
        }
    }))
    .expect("pod manifest");
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create pod");
    let first = wait::pod_running(&pods, "sleeper", Duration::from_secs(120))
        .await
        .expect("pod runs");
    let first_start = started_at(&first).expect("a running container has a start time");
    assert!(cni::bridge_exists(), "a running pod implies the bridge");
    assert!(
        entries(&local.layout().netns_dir()) > 0,
        "a running pod implies a netns handle"
    );

    let before = cluster_pids(&local);
    local.down(false).expect("down");
    assert_clean(&local, &before);

    // Second `up`: same binaries (no rebuild), same state; the kubelet restarts the pod.
    let apiserver = local.binaries().program("kube-apiserver");
    let built = mtime(&apiserver);
    let started = Instant::now();
    let kubeconfig = local.up().await.expect("second up");
    let took = started.elapsed();
    eprintln!(
        "second up (cached binaries, existing state): {:.1}s",
        took.as_secs_f64()
    );
    assert_eq!(
        mtime(&apiserver),
        built,
        "binaries were reused, not rebuilt"
    );
    assert!(
        took < Duration::from_secs(180),
        "a cached up is quick, took {took:?}"
    );
    let client = fmesh_e2e::kubeconfig::client(&kubeconfig)
        .await
        .expect("client");
    let pods: Api<Pod> = Api::namespaced(client, ns.name());
    // The pod object survived in etcd; its container must have been started anew.
    wait::object(
        &pods,
        "sleeper",
        Duration::from_secs(120),
        "the pod to run again",
        |pod: Option<&Pod>| pod.and_then(started_at).is_some_and(|t| t > first_start),
    )
    .await
    .expect("pod runs again after the second up");

    drop(ns);
    let before = cluster_pids(&local);
    local.down(false).expect("second down");
    assert_clean(&local, &before);
}
