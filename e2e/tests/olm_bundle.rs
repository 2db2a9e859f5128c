//! The OLM bundle under `manifests/bundle/` (and the generated `argocd-cm` snippet): the checked-in
//! files are exactly what `fmesh-e2e bundle` generates from the kustomize base rendered by
//! the cluster's kubectl, the CSV has the structure OLM's ClusterServiceVersion schema requires, and
//! every CRD, RBAC rule and webhook of the base is in it. No cluster needed, only the cached
//! kubectl.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use fmesh_e2e::bundle::{self, BundleError, OLM_CERT_DIR};
use fmesh_e2e::install;
use fmesh_e2e::k8sbin::KubeBinaries;
use fmesh_e2e::layout;
use serde_json::{Value, json};

fn kubectl() -> PathBuf {
    let kubectl = KubeBinaries::at(&layout::cache_root()).program("kubectl");
    assert!(
        kubectl.is_file(),
        "{} missing: `fmesh-e2e up` builds Kubernetes (with kubectl) once",
        kubectl.display()
    );
    kubectl
}

/// The rendered base, once per test binary (rendering the 1.2 MB of CRDs takes about a second).
fn base() -> Vec<Value> {
    static BASE: std::sync::OnceLock<Vec<Value>> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        bundle::render(&kubectl(), &install::workspace(), "manifests/base").expect("render base")
    })
    .clone()
}

fn csv_of(base: &[Value]) -> Value {
    let examples = bundle::read_examples(&install::workspace()).expect("examples");
    bundle::csv(base, &examples, env!("CARGO_PKG_VERSION")).expect("csv")
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| s.as_str().expect("string"))
        .collect()
}

#[test]
fn checked_in_bundle_is_what_the_generator_writes() {
    let ws = install::workspace();
    let generated = bundle::generate(&kubectl(), &ws).expect("generate");
    let regenerate =
        "run `cargo run -p fmesh-e2e -- bundle` and commit manifests/bundle and manifests/argocd";
    for (path, content) in &generated {
        let on_disk = std::fs::read_to_string(ws.join(path))
            .unwrap_or_else(|e| panic!("{}: {e}; {regenerate}", path.display()));
        assert!(
            on_disk == *content,
            "{} is stale; {regenerate}",
            path.display()
        );
    }
    // And nothing else: a file the generator no longer writes is stale too.
    let mut on_disk = BTreeSet::new();
    let mut stack = vec![ws.join("manifests/bundle")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                on_disk.insert(p.strip_prefix(&ws).expect("in workspace").to_path_buf());
            }
        }
    }
    let expected: BTreeSet<PathBuf> = generated
        .keys()
        .filter(|p| p.starts_with("manifests/bundle"))
        .cloned()
        .collect();
    assert_eq!(on_disk, expected, "{regenerate}");
}

/// The fields OLM's ClusterServiceVersion CRD (operators.coreos.com/v1alpha1) requires and the
/// values it accepts, plus what OLM documents for webhook definitions: a type of
/// Validating/Mutating/ConversionWebhook, a deploymentName of a deployment in the CSV, no
/// namespaceSelector (OLM generates it from the OperatorGroup), and rules that never intercept
/// all groups, operators.coreos.com or webhook configurations (OLM fails such a CSV).
#[test]
fn csv_has_the_structure_olm_requires() {
    let csv = csv_of(&base());
    assert_eq!(csv["apiVersion"], "operators.coreos.com/v1alpha1");
    assert_eq!(csv["kind"], "ClusterServiceVersion");
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(csv["metadata"]["name"], format!("fmesh.v{version}"));
    let spec = &csv["spec"];
    for field in [
        "displayName",
        "description",
        "version",
        "maturity",
        "minKubeVersion",
    ] {
        assert!(
            spec[field].as_str().is_some_and(|s| !s.is_empty()),
            "spec.{field}"
        );
    }
    let semver = |s: &str| {
        let parts: Vec<&str> = s.split('.').collect();
        parts.len() == 3 && parts.iter().all(|p| p.parse::<u64>().is_ok())
    };
    assert!(semver(spec["version"].as_str().unwrap()), "spec.version");
    assert!(
        semver(spec["minKubeVersion"].as_str().unwrap()),
        "spec.minKubeVersion"
    );
    assert!(spec["provider"]["name"].is_string(), "spec.provider.name");
    assert!(!strs(&spec["keywords"]).is_empty(), "spec.keywords");
    for link in spec["links"].as_array().expect("spec.links") {
        assert!(link["name"].is_string() && link["url"].as_str().unwrap().starts_with("https://"));
    }

    // installModes: each of the four types exactly once, `supported` a bool.
    let modes: BTreeMap<&str, bool> = spec["installModes"]
        .as_array()
        .expect("spec.installModes")
        .iter()
        .map(|m| {
            (
                m["type"].as_str().unwrap(),
                m["supported"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        modes,
        BTreeMap::from([
            ("AllNamespaces", true),
            ("MultiNamespace", false),
            ("OwnNamespace", false),
            ("SingleNamespace", false)
        ])
    );

    let install = &spec["install"];
    assert_eq!(install["strategy"], "deployment");
    let deployments = install["spec"]["deployments"]
        .as_array()
        .expect("deployments");
    let deployment_names: BTreeSet<&str> = deployments
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        deployment_names,
        BTreeSet::from(["fmesh-operator", "fmesh-webhook"])
    );
    for d in deployments {
        let pod = &d["spec"]["template"]["spec"];
        assert!(
            d["spec"]["selector"]["matchLabels"].is_object(),
            "{}",
            d["name"]
        );
        assert!(pod["containers"][0]["image"].is_string(), "{}", d["name"]);
    }
    for list in ["clusterPermissions", "permissions"] {
        for p in install["spec"][list].as_array().expect(list) {
            assert!(p["serviceAccountName"].is_string(), "{list}");
            for rule in p["rules"].as_array().expect("rules") {
                assert!(!strs(&rule["verbs"]).is_empty(), "{list} verbs");
            }
        }
    }

    for owned in spec["customresourcedefinitions"]["owned"]
        .as_array()
        .expect("owned")
    {
        for field in ["name", "version", "kind", "displayName", "description"] {
            assert!(
                owned[field].as_str().is_some_and(|s| !s.is_empty()),
                "owned.{field}: {owned}"
            );
        }
    }

    for def in spec["webhookdefinitions"]
        .as_array()
        .expect("webhookdefinitions")
    {
        let name = def["generateName"].as_str().expect("generateName");
        assert!(
            ["ValidatingAdmissionWebhook", "MutatingAdmissionWebhook"]
                .contains(&def["type"].as_str().unwrap()),
            "{name} type"
        );
        assert!(
            deployment_names.contains(def["deploymentName"].as_str().unwrap()),
            "{name} deploymentName"
        );
        for port in ["containerPort", "targetPort"] {
            let p = def[port].as_i64().expect(port);
            assert!((1..=65535).contains(&p), "{name} {port}");
        }
        assert!(
            strs(&def["admissionReviewVersions"]).contains(&"v1"),
            "{name}"
        );
        assert!(
            ["None", "NoneOnDryRun"].contains(&def["sideEffects"].as_str().unwrap()),
            "{name}"
        );
        assert!(
            ["Fail", "Ignore"].contains(&def["failurePolicy"].as_str().unwrap()),
            "{name}"
        );
        assert!(
            def["webhookPath"].as_str().unwrap().starts_with('/'),
            "{name}"
        );
        assert!(
            def["namespaceSelector"].is_null(),
            "{name}: OLM owns namespaceSelector"
        );
        for rule in def["rules"].as_array().expect("rules") {
            let groups = strs(&rule["apiGroups"]);
            assert!(
                !groups.contains(&"*") && !groups.contains(&"operators.coreos.com"),
                "{name}"
            );
            let resources = strs(&rule["resources"]);
            assert!(
                !resources
                    .iter()
                    .any(|r| r.contains("webhookconfigurations") || *r == "*"),
                "{name}"
            );
        }
    }

    // alm-examples: a JSON array of objects of owned kinds.
    let owned_kinds: BTreeSet<&str> = spec["customresourcedefinitions"]["owned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    let examples: Vec<Value> = serde_json::from_str(
        csv["metadata"]["annotations"]["alm-examples"]
            .as_str()
            .expect("alm-examples"),
    )
    .expect("alm-examples is JSON");
    assert!(!examples.is_empty());
    for e in &examples {
        assert_eq!(e["apiVersion"], "compute.functionmesh.io/v1alpha1");
        assert!(
            owned_kinds.contains(e["kind"].as_str().unwrap()),
            "{}",
            e["kind"]
        );
        assert!(e["metadata"]["name"].is_string());
    }
    let example_kinds: BTreeSet<&str> = examples
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in ["Function", "Source", "Sink", "FunctionMesh"] {
        assert!(example_kinds.contains(kind), "no {kind} in alm-examples");
    }
}

#[test]
fn every_crd_rule_and_webhook_of_the_base_is_in_the_csv() {
    let base = base();
    let csv = csv_of(&base);
    let spec = &csv["spec"];

    let owned: BTreeMap<&str, &Value> = spec["customresourcedefinitions"]["owned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["name"].as_str().unwrap(), o))
        .collect();
    let crds: Vec<&Value> = base
        .iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
        .collect();
    assert_eq!(crds.len(), 5);
    for crd in &crds {
        let name = crd["metadata"]["name"].as_str().unwrap();
        let o = owned
            .get(name)
            .unwrap_or_else(|| panic!("{name} not owned"));
        assert_eq!(o["kind"], crd["spec"]["names"]["kind"], "{name}");
        let served: Vec<&str> = crd["spec"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap())
            .collect();
        assert!(served.contains(&o["version"].as_str().unwrap()), "{name}");
    }
    assert_eq!(owned.len(), crds.len());

    // Each (Cluster)Role's rules, for each ServiceAccount it is bound to.
    let granted = |list: &str, sa: &str| -> Vec<Value> {
        spec["install"]["spec"][list]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["serviceAccountName"] == sa)
            .flat_map(|p| p["rules"].as_array().unwrap().clone())
            .collect()
    };
    let mut checked = 0;
    for binding in base
        .iter()
        .filter(|d| d["kind"] == "ClusterRoleBinding" || d["kind"] == "RoleBinding")
    {
        let list = if binding["kind"] == "ClusterRoleBinding" {
            "clusterPermissions"
        } else {
            "permissions"
        };
        let role = base
            .iter()
            .find(|d| {
                d["kind"] == binding["roleRef"]["kind"]
                    && d["metadata"]["name"] == binding["roleRef"]["name"]
            })
            .expect("bound role");
        for subject in binding["subjects"].as_array().unwrap() {
            let sa = subject["name"].as_str().unwrap();
            let have = granted(list, sa);
            for rule in role["rules"].as_array().unwrap() {
                assert!(have.contains(rule), "{list} of {sa} lacks {rule}");
                checked += 1;
            }
        }
    }
    assert!(checked >= 5, "only {checked} rules");
    // No grant that the base does not have either.
    let base_rules: Vec<&Value> = base
        .iter()
        .filter(|d| d["kind"] == "ClusterRole" || d["kind"] == "Role")
        .flat_map(|r| r["rules"].as_array().unwrap())
        .collect();
    for list in ["clusterPermissions", "permissions"] {
        for p in spec["install"]["spec"][list].as_array().unwrap() {
            for rule in p["rules"].as_array().unwrap() {
                assert!(
                    base_rules.contains(&rule),
                    "{list} grants {rule}, which the base does not"
                );
            }
        }
    }

    let defs: BTreeMap<&str, &Value> = spec["webhookdefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["generateName"].as_str().unwrap(), d))
        .collect();
    let mut hooks = 0;
    for (kind, type_) in [
        (
            "ValidatingWebhookConfiguration",
            "ValidatingAdmissionWebhook",
        ),
        ("MutatingWebhookConfiguration", "MutatingAdmissionWebhook"),
    ] {
        for config in base.iter().filter(|d| d["kind"] == kind) {
            for hook in config["webhooks"].as_array().unwrap() {
                let name = hook["name"].as_str().unwrap();
                let d = defs
                    .get(name)
                    .unwrap_or_else(|| panic!("webhook {name} not in the CSV"));
                assert_eq!(d["type"], type_, "{name}");
                assert_eq!(d["rules"], hook["rules"], "{name}");
                assert_eq!(
                    d["webhookPath"], hook["clientConfig"]["service"]["path"],
                    "{name}"
                );
                assert_eq!(
                    d["containerPort"], hook["clientConfig"]["service"]["port"],
                    "{name}"
                );
                for f in [
                    "sideEffects",
                    "failurePolicy",
                    "admissionReviewVersions",
                    "timeoutSeconds",
                    "matchPolicy",
                ] {
                    assert_eq!(d[f], hook[f], "{name} {f}");
                }
                hooks += 1;
            }
        }
    }
    assert_eq!(hooks, 8);
    assert_eq!(defs.len(), hooks);

    // targetPort is the webhook container's https port; under OLM it serves the mounted cert.
    let webhook = spec["install"]["spec"]["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "fmesh-webhook")
        .unwrap();
    let c = &webhook["spec"]["template"]["spec"]["containers"][0];
    let https = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "https")
        .unwrap();
    for d in defs.values() {
        assert_eq!(d["targetPort"], https["containerPort"]);
    }
    let env = |n: &str| {
        c["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == n)
            .map(|e| e["value"].clone())
    };
    assert_eq!(env("FMESH_WEBHOOK_CERT_MODE"), Some(json!("files")));
    assert_eq!(env("FMESH_WEBHOOK_CERT_DIR"), Some(json!(OLM_CERT_DIR)));
    // The operator Deployment is the base's, unchanged.
    let op = spec["install"]["spec"]["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "fmesh-operator")
        .unwrap();
    let base_op = base
        .iter()
        .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == "fmesh-operator")
        .unwrap();
    assert_eq!(op["spec"], base_op["spec"]);
}

#[test]
fn bundle_metadata_names_package_and_channels() {
    let ws = install::workspace();
    let text = std::fs::read_to_string(ws.join("manifests/bundle/metadata/annotations.yaml"))
        .expect("annotations.yaml");
    let doc: Value = serde_saphyr::from_str(&text).expect("YAML");
    let a = &doc["annotations"];
    assert_eq!(
        a["operators.operatorframework.io.bundle.mediatype.v1"],
        "registry+v1"
    );
    assert_eq!(
        a["operators.operatorframework.io.bundle.manifests.v1"],
        "manifests/"
    );
    assert_eq!(
        a["operators.operatorframework.io.bundle.metadata.v1"],
        "metadata/"
    );
    assert_eq!(
        a["operators.operatorframework.io.bundle.package.v1"],
        "fmesh"
    );
    let channels: Vec<&str> = a["operators.operatorframework.io.bundle.channels.v1"]
        .as_str()
        .unwrap()
        .split(',')
        .collect();
    let default = a["operators.operatorframework.io.bundle.channel.default.v1"]
        .as_str()
        .unwrap();
    assert!(
        channels.contains(&default),
        "default channel {default} not in {channels:?}"
    );
    // The CSV the manifests directory holds is the one the package names, and the ConfigMap the
    // operator's envFrom needs ships with it.
    let csv: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(
            ws.join("manifests/bundle/manifests/fmesh.clusterserviceversion.yaml"),
        )
        .unwrap(),
    )
    .unwrap();
    let op = &csv["spec"]["install"]["spec"]["deployments"][0];
    let cm = op["spec"]["template"]["spec"]["containers"][0]["envFrom"][0]["configMapRef"]["name"]
        .as_str()
        .expect("envFrom");
    assert!(
        ws.join(format!("manifests/bundle/manifests/{cm}.configmap.yaml"))
            .is_file(),
        "{cm}"
    );
}

#[test]
fn bad_sources_are_refused_with_the_path_and_fix() {
    let base = base();
    let without_service: Vec<Value> = base
        .iter()
        .filter(|d| !(d["kind"] == "Service" && d["metadata"]["name"] == "fmesh-webhook"))
        .cloned()
        .collect();
    let err = bundle::csv(&without_service, &[], "0.1.0").unwrap_err();
    assert!(matches!(err, BundleError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("Service fmesh-webhook"), "{err}");

    let mut user_subject = base.clone();
    let b = user_subject
        .iter_mut()
        .find(|d| d["kind"] == "ClusterRoleBinding")
        .unwrap();
    b["subjects"][0]["kind"] = json!("User");
    let err = bundle::csv(&user_subject, &[], "0.1.0").unwrap_err();
    assert!(err.to_string().contains(".subjects"), "{err}");
    assert!(err.to_string().contains("ServiceAccount"), "{err}");
}
