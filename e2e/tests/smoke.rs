//! Smoke tests against the real local cluster: pods from a locally built image run on the node
//! and reach each other by pod IP and through a Service found by its DNS name, a pod reads a
//! mounted Secret, and the controller-manager's garbage collector removes a deleted
//! StatefulSet's pods.

use std::time::Duration;

use fmesh_e2e::{Cluster, images, wait};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Secret, Service};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use serde_json::json;

const TIMEOUT: Duration = Duration::from_secs(120);

fn from_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
    serde_json::from_value(value).expect("test manifest matches the k8s-openapi type")
}

/// A pod that runs `script` in the smoke image once.
fn script_pod(name: &str, script: &str) -> Pod {
    from_json(json!({
        "metadata": { "name": name },
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 1,
            "containers": [{
                "name": "main",
                "image": images::SMOKE,
                "imagePullPolicy": "IfNotPresent",
                "command": ["/bin/sh", "-c", script],
            }],
        }
    }))
}

#[tokio::test]
async fn statefulset_pods_talk_by_ip_and_by_service_name_and_are_garbage_collected() {
    let cluster = Cluster::ensure().await.expect("cluster up");
    let ns = cluster.namespace("smoke-sts").await.expect("namespace");
    let client = cluster.client();
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), ns.name());
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns.name());

    let set: StatefulSet = from_json(json!({
        "metadata": { "name": "web" },
        "spec": {
            "replicas": 2,
            "serviceName": "web",
            "podManagementPolicy": "Parallel",
            "selector": { "matchLabels": { "app": "web" } },
            "template": {
                "metadata": { "labels": { "app": "web" } },
                "spec": {
                    "terminationGracePeriodSeconds": 1,
                    "containers": [{
                        "name": "web",
                        "image": images::SMOKE,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["/bin/sh", "-c",
                            "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"],
                    }],
                },
            },
        }
    }));
    sets.create(&PostParams::default(), &set)
        .await
        .expect("create StatefulSet");

    let mut ips = Vec::new();
    for name in ["web-0", "web-1"] {
        let pod = wait::pod_running(&pods, name, TIMEOUT)
            .await
            .expect("StatefulSet pod runs");
        let spec = pod.spec.expect("pod has a spec");
        assert_eq!(
            spec.node_name.as_deref(),
            Some(fmesh_e2e::layout::NODE_NAME)
        );
        let ip = pod
            .status
            .and_then(|s| s.pod_ip)
            .expect("running pod has an IP");
        assert!(
            ip.starts_with("10.244.0."),
            "pod IP {ip} from the pod subnet"
        );
        ips.push(ip);
    }
    assert_ne!(ips[0], ips[1], "each pod has its own IP");

    // Through a Service found by name: CoreDNS answers its cluster IP, kube-proxy routes it to
    // one of the pods. (Debian's static busybox wget crashes in glibc's resolver; busybox's
    // nslookup has its own, and nc speaks the HTTP by hand.)
    let service: Service = from_json(json!({
        "metadata": { "name": "web" },
        "spec": {
            "selector": { "app": "web" },
            "ports": [{ "port": 80, "targetPort": 8080 }],
        }
    }));
    let services: Api<Service> = Api::namespaced(client.clone(), ns.name());
    services
        .create(&PostParams::default(), &service)
        .await
        .expect("create Service");
    let get = |host: &str, port: u16| {
        format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {host} {port} | tail -n 1")
    };
    let resolve = |name: &str| format!("nslookup {name} | sed -n 's/^Address: //p' | tail -n 1");
    let script = format!(
        "set -e
by_ip=$({by_ip}); echo \"by IP: $by_ip\"; test \"$by_ip\" = web-1
api=$({api}); echo \"kubernetes: $api\"; test \"$api\" = 10.96.0.1
ip=$({web}); echo \"web: $ip\"; case $ip in 10.96.*) ;; *) exit 1 ;; esac
by_name=$({by_name}); echo \"by name: $by_name\"; case $by_name in web-0|web-1) ;; *) exit 1 ;; esac",
        by_ip = get(&ips[1], 8080),
        api = resolve("kubernetes.default.svc.cluster.local"),
        web = resolve(&format!("web.{}.svc.cluster.local", ns.name())),
        by_name = get("$ip", 80),
    );
    let probe = script_pod("probe", &script);
    pods.create(&PostParams::default(), &probe)
        .await
        .expect("create probe pod");
    let done = wait::pod_finished(&pods, "probe", TIMEOUT)
        .await
        .expect("probe finishes");
    let log = cluster
        .container_log(ns.name(), "probe", "main")
        .await
        .unwrap_or_default();
    assert_eq!(
        wait::phase(Some(&done)).as_deref(),
        Some("Succeeded"),
        "probe output: {log}"
    );

    // Background propagation: the StatefulSet goes at once, the garbage collector removes its pods.
    sets.delete("web", &DeleteParams::background())
        .await
        .expect("delete StatefulSet");
    let selector = ListParams::default().labels("app=web");
    wait::until(
        "the StatefulSet's pods to be garbage-collected",
        TIMEOUT,
        || async {
            let left = pods.list(&selector).await?;
            Ok(left.items.is_empty().then_some(()))
        },
    )
    .await
    .expect("pods garbage-collected");
}

#[tokio::test]
async fn pod_reads_a_mounted_secret() {
    let cluster = Cluster::ensure().await.expect("cluster up");
    let ns = cluster.namespace("smoke-secret").await.expect("namespace");
    let client = cluster.client();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns.name());
    let pods: Api<Pod> = Api::namespaced(client, ns.name());

    let secret: Secret = from_json(json!({
        "metadata": { "name": "greeting" },
        "stringData": { "message": "hello from a secret" },
    }));
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .expect("create Secret");

    let mut pod = script_pod(
        "reader",
        "cat /etc/greeting/message && test \"$(cat /etc/greeting/message)\" = 'hello from a secret'",
    );
    let spec: serde_json::Value = json!({
        "volumes": [{ "name": "greeting", "secret": { "secretName": "greeting" } }],
    });
    let pod_spec = pod.spec.as_mut().expect("script pod has a spec");
    pod_spec.volumes = from_json(spec["volumes"].clone());
    pod_spec.containers[0].volume_mounts =
        from_json(json!([{ "name": "greeting", "mountPath": "/etc/greeting", "readOnly": true }]));
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create reader pod");

    let done = wait::pod_finished(&pods, "reader", TIMEOUT)
        .await
        .expect("reader finishes");
    let log = cluster
        .container_log(ns.name(), "reader", "main")
        .await
        .expect("reader log");
    assert_eq!(
        wait::phase(Some(&done)).as_deref(),
        Some("Succeeded"),
        "reader output: {log}"
    );
    assert_eq!(log.trim(), "hello from a secret");
}
