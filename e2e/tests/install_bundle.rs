//! The kustomize bundle under `manifests/`, rendered by the kustomize built into the cluster's
//! kubectl 1.20 (kustomize v2.0.3, the oldest a user may have): every overlay builds, and what
//! it builds is what the README promises. No cluster needed, only the cached kubectl.

use std::collections::BTreeSet;
use std::path::Path;

use fmesh_e2e::images::fmesh_reference;
use fmesh_e2e::install::{self, SYSTEM_NAMESPACE};
use fmesh_e2e::k8sbin::KubeBinaries;
use fmesh_e2e::layout;
use serde_json::Value;

fn render(dir: &str) -> Vec<Value> {
    let kubectl = KubeBinaries::at(&layout::cache_root()).program("kubectl");
    assert!(
        kubectl.is_file(),
        "{} missing: `fmesh-e2e up` builds Kubernetes (with kubectl) once",
        kubectl.display()
    );
    let out = std::process::Command::new(&kubectl)
        .args(["kustomize", dir])
        .current_dir(install::workspace())
        .output()
        .expect("run kubectl kustomize");
    assert!(
        out.status.success(),
        "kubectl kustomize {dir}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_saphyr::from_multiple::<Value>(&String::from_utf8_lossy(&out.stdout)).expect("YAML")
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
}

fn get<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    find(docs, kind, name).unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn env<'a>(container: &'a Value, name: &str) -> Option<&'a str> {
    container["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)?["value"]
        .as_str()
}

fn container(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

fn webhooks(docs: &[Value]) -> Vec<&Value> {
    [
        ("ValidatingWebhookConfiguration", install::VALIDATING),
        ("MutatingWebhookConfiguration", install::MUTATING),
    ]
    .iter()
    .flat_map(|(kind, name)| {
        get(docs, kind, name)["webhooks"]
            .as_array()
            .expect("webhooks")
            .iter()
    })
    .collect()
}

/// What every overlay shares: one copy of each object, the CRDs, restricted and probed pods,
/// and RBAC without wildcards.
fn check_common(docs: &[Value]) {
    let mut seen = BTreeSet::new();
    for d in docs {
        // kubectl <= 1.20 refuses to apply a document without them (`$patch: delete` makes one).
        assert!(
            d["apiVersion"].is_string() && d["kind"].is_string(),
            "document {d}"
        );
        let key = format!(
            "{}/{}/{}",
            d["kind"].as_str().unwrap_or_default(),
            d["metadata"]["namespace"].as_str().unwrap_or_default(),
            d["metadata"]["name"].as_str().unwrap_or_default()
        );
        assert!(seen.insert(key.clone()), "{key} twice");
    }
    get(docs, "Namespace", SYSTEM_NAMESPACE);
    let crds: BTreeSet<&str> = docs
        .iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    for kind in ["functions", "sources", "sinks", "functionmeshes"] {
        assert!(
            crds.contains(format!("{kind}.compute.functionmesh.io").as_str()),
            "{crds:?}"
        );
    }
    for name in ["fmesh-operator", "fmesh-webhook"] {
        let d = get(docs, "Deployment", name);
        assert_eq!(d["metadata"]["namespace"], SYSTEM_NAMESPACE, "{name}");
        let pod = &d["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}");
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
            "{name}"
        );
        let c = container(d);
        let sc = &c["securityContext"];
        assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(sc["capabilities"]["drop"][0], "ALL", "{name}");
        assert!(
            c["readinessProbe"]["httpGet"].is_object(),
            "{name} readiness"
        );
        assert!(c["livenessProbe"]["httpGet"].is_object(), "{name} liveness");
        assert!(
            c["resources"]["requests"]["cpu"].is_string(),
            "{name} requests"
        );
        assert!(
            c["resources"]["limits"]["memory"].is_string(),
            "{name} limits"
        );
        assert_eq!(pod["serviceAccountName"], name, "{name}");
    }
    for role in docs
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
    {
        for rule in role["rules"].as_array().expect("rules") {
            for field in ["verbs", "resources", "apiGroups"] {
                let values = rule[field].as_array().expect(field);
                assert!(!values.iter().any(|v| v == "*"), "wildcard in {role}");
            }
        }
    }
    assert_eq!(webhooks(docs).len(), 8);
}

#[test]
fn crds_kustomization_lists_every_crd_file() {
    let dir = install::workspace().join("manifests/crds");
    let on_disk: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("manifests/crds")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".compute.functionmesh.io.yaml"))
        .collect();
    let text = std::fs::read_to_string(dir.join("kustomization.yaml")).expect("kustomization");
    let k: Value = serde_saphyr::from_str(&text).expect("YAML");
    let listed: BTreeSet<String> = k["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(listed, on_disk, "update manifests/crds/kustomization.yaml");
}

#[test]
fn self_signed_is_the_base_with_self_managed_certificates() {
    let docs = render("manifests/overlays/self-signed");
    check_common(&docs);
    assert_eq!(docs, render("manifests/base"));
    let webhook = container(get(&docs, "Deployment", "fmesh-webhook"));
    assert_eq!(
        env(webhook, "FMESH_WEBHOOK_CERT_MODE"),
        Some("self-managed")
    );
    // It writes its certificate Secret and injects the CA bundle: exactly those permissions.
    let role = get(&docs, "Role", "fmesh-webhook-certs");
    assert_eq!(role["rules"][1]["resourceNames"][0], "fmesh-webhook-certs");
    get(&docs, "RoleBinding", "fmesh-webhook-certs");
    for w in webhooks(&docs) {
        assert_eq!(w["clientConfig"]["service"]["name"], "fmesh-webhook", "{w}");
        assert_eq!(w["failurePolicy"], "Fail");
    }
    // Settings reach the operator through the generated (hash-named) ConfigMap.
    let operator = container(get(&docs, "Deployment", "fmesh-operator"));
    let cm_name = operator["envFrom"][0]["configMapRef"]["name"]
        .as_str()
        .expect("envFrom");
    assert!(cm_name.starts_with("fmesh-operator-"), "{cm_name}");
    get(&docs, "ConfigMap", cm_name);
}

#[test]
fn cert_manager_overlay_writes_nothing_and_asks_for_injection() {
    let docs = render("manifests/overlays/cert-manager");
    check_common(&docs);
    let webhook = container(get(&docs, "Deployment", "fmesh-webhook"));
    assert_eq!(env(webhook, "FMESH_WEBHOOK_CERT_MODE"), Some("files"));
    let dir = env(webhook, "FMESH_WEBHOOK_CERT_DIR").expect("cert dir");
    assert_eq!(webhook["volumeMounts"][0]["mountPath"], dir);
    let cert = get(&docs, "Certificate", "fmesh-webhook");
    let volumes = &get(&docs, "Deployment", "fmesh-webhook")["spec"]["template"]["spec"]["volumes"];
    assert_eq!(
        volumes[0]["secret"]["secretName"],
        cert["spec"]["secretName"]
    );
    let certs_role = get(&docs, "Role", "fmesh-webhook-certs");
    assert_eq!(certs_role["rules"], serde_json::json!([]), "emptied");
    let rules = get(&docs, "ClusterRole", "fmesh-webhook")["rules"]
        .as_array()
        .expect("rules");
    for rule in rules {
        for verb in rule["verbs"].as_array().expect("verbs") {
            assert!(
                ["get", "list", "watch"].contains(&verb.as_str().unwrap_or_default()),
                "{rule}"
            );
        }
    }
    for (kind, name) in [
        ("ValidatingWebhookConfiguration", install::VALIDATING),
        ("MutatingWebhookConfiguration", install::MUTATING),
    ] {
        let c = get(&docs, kind, name);
        assert_eq!(
            c["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            "fmesh-system/fmesh-webhook"
        );
    }
}

#[test]
fn local_overlay_fits_a_cluster_without_kube_proxy_or_dns() {
    let docs = render(install::LOCAL_OVERLAY);
    check_common(&docs);
    for (name, program) in [
        ("fmesh-operator", "operator"),
        ("fmesh-webhook", "webhook"),
        ("fmesh-broker", "broker"),
    ] {
        let d = get(&docs, "Deployment", name);
        assert_eq!(d["spec"]["replicas"], 1, "{name}: one per host port");
        assert_eq!(d["spec"]["strategy"]["type"], "Recreate", "{name}");
        assert_eq!(d["spec"]["template"]["spec"]["hostNetwork"], true, "{name}");
        assert_eq!(
            container(d)["image"],
            fmesh_reference(program).as_str(),
            "{name}"
        );
        assert_eq!(container(d)["imagePullPolicy"], "IfNotPresent", "{name}");
    }
    for name in ["fmesh-operator", "fmesh-webhook"] {
        let c = container(get(&docs, "Deployment", name));
        assert_eq!(
            env(c, "KUBERNETES_SERVICE_HOST"),
            Some("127.0.0.1"),
            "{name}"
        );
        assert_eq!(env(c, "KUBERNETES_SERVICE_PORT"), Some("6443"), "{name}");
    }
    // The apiserver calls the webhook by URL where it listens, with a certificate for that IP.
    let webhook = container(get(&docs, "Deployment", "fmesh-webhook"));
    let listen = env(webhook, "FMESH_WEBHOOK_LISTEN").expect("listen");
    assert!(
        env(webhook, "FMESH_WEBHOOK_EXTRA_SANS")
            .expect("sans")
            .split(',')
            .any(|s| s == "127.0.0.1")
    );
    for w in webhooks(&docs) {
        let url = w["clientConfig"]["url"]
            .as_str()
            .unwrap_or_else(|| panic!("{w}"));
        assert!(
            url.starts_with(&format!("https://{listen}/")),
            "{url} vs {listen}"
        );
        assert!(w["clientConfig"].get("service").is_none(), "{w}");
    }
    // Probes and ports follow the host-network addresses.
    let operator = container(get(&docs, "Deployment", "fmesh-operator"));
    let http = env(operator, "FMESH_HTTP_ADDR").expect("http addr");
    assert_eq!(
        operator["ports"][0]["containerPort"]
            .as_u64()
            .map(|p| p.to_string())
            .as_deref(),
        http.rsplit(':').next()
    );
    assert_eq!(operator["ports"].as_array().map(Vec::len), Some(1));
    // The broker advertises what the cluster config tells the runners.
    let broker = container(get(&docs, "Deployment", "fmesh-broker"));
    let pulsar = get(&docs, "ConfigMap", "pulsar");
    assert_eq!(pulsar["metadata"]["namespace"], "default");
    let url = pulsar["data"]["brokerServiceURL"]
        .as_str()
        .expect("brokerServiceURL");
    assert_eq!(env(broker, "FMESH_BROKER_ADVERTISED_URL"), Some(url));
    let listen = env(broker, "FMESH_BROKER_LISTEN").expect("broker listen");
    assert_eq!(url, format!("pulsar://{listen}"));
    assert!(
        listen.starts_with(&format!("{}:", fmesh_e2e::cni::GATEWAY)),
        "{listen}"
    );
    let web = pulsar["data"]["webServiceURL"]
        .as_str()
        .expect("webServiceURL");
    assert_eq!(
        Some(web),
        env(broker, "FMESH_BROKER_ADMIN_LISTEN")
            .map(|a| format!("http://{a}"))
            .as_deref()
    );
    // The operator starts runner pods from the local runner image.
    let cm_name = operator["envFrom"][0]["configMapRef"]["name"]
        .as_str()
        .expect("envFrom");
    let settings = get(&docs, "ConfigMap", cm_name);
    assert_eq!(
        settings["data"]["FMESH_RUNNER_IMAGE"],
        fmesh_reference("runner").as_str()
    );
    assert_eq!(
        settings["data"]["FMESH_LEADER_ELECT"], "true",
        "base settings kept"
    );
}

#[test]
fn no_copy_of_the_manifests_outside_the_bundle() {
    let manifests = install::workspace().join("manifests");
    for old in ["operator", "webhook"] {
        assert!(
            !Path::new(&manifests.join(old)).exists(),
            "manifests/{old} is back"
        );
    }
}
