//! The kustomize bundle under `manifests/`, rendered by the kustomize built into the cluster's
//! kubectl (kustomize v5, what users and Argo CD run): every overlay builds without a warning,
//! and what it builds is what the README promises. No cluster needed, only the cached kubectl.

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
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kubectl kustomize {dir}: {stderr}");
    // Deprecated fields (`bases`, `patchesStrategicMerge`, `env`, ...) are warned about here.
    assert!(
        stderr.trim().is_empty(),
        "kubectl kustomize {dir} warned: {stderr}"
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
    check_resource_names(docs);
}

/// Every `resourceNames` entry names the object the binary really uses: kustomize rewrites a
/// name that matches a generated ConfigMap's or Secret's to the generated (hashed) name, and
/// an operator whose Lease rule names another object never becomes leader.
fn check_resource_names(docs: &[Value]) {
    let lease = fmesh_operator::OperatorConfig::default().lease_name;
    let operator = container(get(docs, "Deployment", "fmesh-operator"));
    let settings = get(
        docs,
        "ConfigMap",
        operator["envFrom"][0]["configMapRef"]["name"]
            .as_str()
            .expect("envFrom"),
    );
    let lease = settings["data"]["FMESH_LEASE_NAME"]
        .as_str()
        .map_or(lease, str::to_owned);
    let webhook = container(get(docs, "Deployment", "fmesh-webhook"));
    let cert_secret = env(webhook, "FMESH_WEBHOOK_SECRET_NAME").map(str::to_owned);
    let mut checked = 0;
    for role in docs
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
    {
        for rule in role["rules"].as_array().expect("rules") {
            let Some(names) = rule["resourceNames"].as_array() else {
                continue;
            };
            for resource in rule["resources"].as_array().expect("resources") {
                let expected: Vec<String> = match resource.as_str().unwrap_or_default() {
                    "leases" => vec![lease.clone()],
                    "secrets" => cert_secret.clone().into_iter().collect(),
                    "validatingwebhookconfigurations" => vec![install::VALIDATING.to_owned()],
                    "mutatingwebhookconfigurations" => vec![install::MUTATING.to_owned()],
                    other => panic!("{role}: resourceNames on {other}: add what it must name"),
                };
                let actual: Vec<String> = names
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect();
                assert_eq!(
                    actual, expected,
                    "{}/{}: resourceNames on {resource}",
                    role["kind"], role["metadata"]["name"]
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "no resourceNames rule checked");
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
    assert!(cm_name.starts_with("fmesh-operator-settings-"), "{cm_name}");
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
    assert!(
        find(&docs, "Role", "fmesh-webhook-certs").is_none(),
        "removed"
    );
    assert!(
        find(&docs, "RoleBinding", "fmesh-webhook-certs").is_none(),
        "removed"
    );
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
fn local_overlay_is_the_self_signed_install_with_local_images_and_broker() {
    let local = render(install::LOCAL_OVERLAY);
    check_common(&local);
    let base = render("manifests/overlays/self-signed");
    // What only the local overlay has: the broker, its Service, the examples' cluster config.
    let extra = |d: &Value| {
        matches!(
            (d["kind"].as_str(), d["metadata"]["name"].as_str()),
            (Some("Deployment" | "Service"), Some("fmesh-broker"))
                | (Some("ConfigMap"), Some("pulsar"))
        )
    };
    // The rest is the self-signed install with other image names and one more setting.
    let settings = |docs: &[Value]| -> String {
        let operator = container(get(docs, "Deployment", "fmesh-operator"));
        operator["envFrom"][0]["configMapRef"]["name"]
            .as_str()
            .expect("envFrom")
            .to_owned()
    };
    let (local_settings, base_settings) = (settings(&local), settings(&base));
    let normalise = |d: &Value| -> Value {
        let mut d = d.clone();
        if d["kind"] == "ConfigMap" && d["metadata"]["name"] == local_settings.as_str() {
            d["metadata"]["name"] = base_settings.as_str().into();
            let data = d["data"].as_object_mut().expect("data");
            assert_eq!(
                data.remove("FMESH_RUNNER_IMAGE"),
                Some(fmesh_reference("runner").into())
            );
            data.insert(
                "FMESH_RUNNER_IMAGE".into(),
                get(&base, "ConfigMap", &base_settings)["data"]["FMESH_RUNNER_IMAGE"].clone(),
            );
        }
        if d["kind"] == "Deployment" {
            let operator = d["metadata"]["name"] == "fmesh-operator";
            let spec = &mut d["spec"]["template"]["spec"];
            if operator {
                spec["containers"][0]["envFrom"][0]["configMapRef"]["name"] =
                    base_settings.as_str().into();
            }
            let image = &mut spec["containers"][0]["image"];
            let program = image
                .as_str()
                .and_then(|i| i.strip_prefix("fmesh.local/"))
                .and_then(|i| i.strip_suffix(":dev"))
                .map(str::to_owned);
            if let Some(program) = program {
                *image = format!("fmesh/{program}:0.1.0").into();
            }
        }
        d
    };
    let rest: Vec<Value> = local.iter().filter(|d| !extra(d)).map(normalise).collect();
    assert_eq!(
        rest, base,
        "local = self-signed + images + broker + pulsar config"
    );
    for (name, program) in [
        ("fmesh-operator", "operator"),
        ("fmesh-webhook", "webhook"),
        ("fmesh-broker", "broker"),
    ] {
        let d = get(&local, "Deployment", name);
        assert!(
            d["spec"]["template"]["spec"]["hostNetwork"].is_null(),
            "{name}"
        );
        assert_eq!(
            container(d)["image"],
            fmesh_reference(program).as_str(),
            "{name}"
        );
        assert_eq!(container(d)["imagePullPolicy"], "IfNotPresent", "{name}");
    }
    // Runner pods reach the broker by its Service's name; lookups answer the same name.
    let broker = container(get(&local, "Deployment", "fmesh-broker"));
    let pulsar = get(&local, "ConfigMap", "pulsar");
    assert_eq!(pulsar["metadata"]["namespace"], "default");
    let url = pulsar["data"]["brokerServiceURL"]
        .as_str()
        .expect("brokerServiceURL");
    assert_eq!(env(broker, "FMESH_BROKER_ADVERTISED_URL"), Some(url));
    let service = get(&local, "Service", "fmesh-broker");
    let host = format!("fmesh-broker.{SYSTEM_NAMESPACE}.svc.cluster.local");
    assert_eq!(service["metadata"]["namespace"], SYSTEM_NAMESPACE);
    for (key, scheme, port) in [
        ("brokerServiceURL", "pulsar", 6650),
        ("webServiceURL", "http", 8080),
    ] {
        assert_eq!(
            pulsar["data"][key],
            format!("{scheme}://{host}:{port}").as_str(),
            "{key}"
        );
        assert!(
            service["spec"]["ports"]
                .as_array()
                .expect("ports")
                .iter()
                .any(|p| p["port"] == port),
            "{key}: the Service serves :{port}"
        );
    }
}

#[test]
fn upgrades_keep_a_serving_replica() {
    let docs = render("manifests/overlays/self-signed");
    for name in ["fmesh-operator", "fmesh-webhook"] {
        let d = get(&docs, "Deployment", name);
        assert_eq!(d["spec"]["replicas"], 2, "{name}");
        let strategy = &d["spec"]["strategy"];
        assert_eq!(strategy["type"], "RollingUpdate", "{name}");
        assert_eq!(strategy["rollingUpdate"]["maxUnavailable"], 0, "{name}");
        let pdb = get(&docs, "PodDisruptionBudget", name);
        assert_eq!(pdb["apiVersion"], "policy/v1");
        assert_eq!(pdb["spec"]["minAvailable"], 1, "{name}");
        assert_eq!(
            pdb["spec"]["selector"]["matchLabels"], d["spec"]["selector"]["matchLabels"],
            "{name}"
        );
    }
    let webhook = container(get(&docs, "Deployment", "fmesh-webhook"));
    let delay: u64 = env(webhook, "FMESH_WEBHOOK_SHUTDOWN_DELAY_SECONDS")
        .and_then(|v| v.parse().ok())
        .expect("shutdown delay");
    assert!(delay >= 2, "the webhook serves until its endpoint is gone");
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
