//! The OLM bundle (`manifests/bundle/`) and the Argo CD health checks (`manifests/argocd/`),
//! generated from the same sources as the kustomize base: the base as the cluster kubectl's kustomize
//! renders it, `examples/`, and the Lua files under `manifests/argocd/health/`.
//! `fmesh-e2e bundle` writes them; `e2e/tests/olm_bundle.rs` fails when the checked-in copy drifts.
//!
//! The conversion ([`bundle_files`], [`argocd_cm`]) is pure; rendering and writing are the edges.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// The OLM package and its one channel.
pub const PACKAGE: &str = "fmesh";
pub const CHANNEL: &str = "alpha";
/// Where OLM mounts the serving certificate it manages (`tls.crt`, `tls.key`) in the deployment
/// a webhook definition names; the webhook serves it in files mode.
pub const OLM_CERT_DIR: &str = "/tmp/k8s-webhook-server/serving-certs";
/// The oldest Kubernetes fmesh supports (README: the API versions it needs, kustomize v5).
pub const MIN_KUBE_VERSION: &str = "1.27.0";
/// The kinds whose health Argo CD computes with our Lua, and the file under
/// `manifests/argocd/health/` holding it. All four write the same conditions (the operator's
/// `Ready`/`Progressing`/`Degraded`), so one script serves them; a kind-specific one would be
/// a new file here.
pub const HEALTH_CHECKS: [(&str, &str); 4] = [
    ("Function", "conditions.lua"),
    ("Source", "conditions.lua"),
    ("Sink", "conditions.lua"),
    ("FunctionMesh", "conditions.lua"),
];
pub const GROUP: &str = "compute.functionmesh.io";

/// Display name and description of each owned kind.
const OWNED: [(&str, &str, &str); 5] = [
    (
        "Function",
        "Function",
        "A Pulsar Function: consumes input topics, runs user code (Java, Python, Go or WebAssembly) and publishes the results.",
    ),
    (
        "Source",
        "Source",
        "A Pulsar IO source connector: brings data from an external system into a topic.",
    ),
    (
        "Sink",
        "Sink",
        "A Pulsar IO sink connector: writes the messages of input topics to an external system.",
    ),
    (
        "FunctionMesh",
        "Function Mesh",
        "Functions, sources and sinks deployed and updated together as one pipeline.",
    ),
    (
        "BackendConfig",
        "Backend Config",
        "Shared settings (environment, Pulsar client, pod policy) merged into the workloads of a namespace or of the whole cluster.",
    ),
];

/// What is wrong with the sources the bundle is generated from.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("the rendered base has no {kind} {name}; fix manifests/base")]
    Missing { kind: String, name: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("kubectl kustomize {dir}: {message}")]
    Render { dir: String, message: String },
    #[error("{path}: not YAML: {message}")]
    Yaml { path: String, message: String },
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> BundleError {
    BundleError::Invalid {
        path: path.into(),
        message: message.into(),
    }
}

fn name_of(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or_default()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> Result<&'a Value, BundleError> {
    docs.iter()
        .find(|d| d["kind"] == kind && name_of(d) == name)
        .ok_or_else(|| BundleError::Missing {
            kind: kind.into(),
            name: name.into(),
        })
}

/// `kubectl kustomize <dir>` (run in `workspace`) parsed into documents.
pub fn render(kubectl: &Path, workspace: &Path, dir: &str) -> Result<Vec<Value>, BundleError> {
    let out = std::process::Command::new(kubectl)
        .args(["kustomize", dir])
        .current_dir(workspace)
        .output()
        .map_err(|source| BundleError::Io {
            path: kubectl.into(),
            source,
        })?;
    if !out.status.success() {
        return Err(BundleError::Render {
            dir: dir.into(),
            message: String::from_utf8_lossy(&out.stderr).trim().into(),
        });
    }
    parse_yaml(dir, &String::from_utf8_lossy(&out.stdout))
}

fn parse_yaml(path: &str, text: &str) -> Result<Vec<Value>, BundleError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| BundleError::Yaml {
        path: path.into(),
        message: e.to_string(),
    })?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// The custom resources in `examples/*.yaml` (not `examples/invalid/`), in file order.
pub fn read_examples(workspace: &Path) -> Result<Vec<Value>, BundleError> {
    let dir = workspace.join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|source| BundleError::Io {
            path: dir.clone(),
            source,
        })?
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|source| BundleError::Io {
            path: f.clone(),
            source,
        })?;
        out.extend(
            parse_yaml(&f.display().to_string(), &text)?
                .into_iter()
                .filter(|d| {
                    d["apiVersion"]
                        .as_str()
                        .is_some_and(|a| a.starts_with(GROUP))
                }),
        );
    }
    Ok(out)
}

/// Rules of every (Cluster)Role bound to a ServiceAccount, grouped by account: cluster-wide
/// (ClusterRoleBinding) and namespaced (RoleBinding), in the CSV's `{serviceAccountName, rules}`.
fn permissions(base: &[Value]) -> Result<(Vec<Value>, Vec<Value>), BundleError> {
    let mut cluster: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut namespaced: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for binding in base
        .iter()
        .filter(|d| d["kind"] == "ClusterRoleBinding" || d["kind"] == "RoleBinding")
    {
        let role_kind = binding["roleRef"]["kind"].as_str().unwrap_or_default();
        let role_name = binding["roleRef"]["name"].as_str().unwrap_or_default();
        let role = find(base, role_kind, role_name)?;
        let rules = role["rules"].as_array().cloned().unwrap_or_default();
        let target = if binding["kind"] == "ClusterRoleBinding" {
            &mut cluster
        } else {
            &mut namespaced
        };
        for subject in binding["subjects"].as_array().into_iter().flatten() {
            if subject["kind"] != "ServiceAccount" {
                return Err(invalid(
                    format!("{}/{}.subjects", binding["kind"], name_of(binding)),
                    "only ServiceAccount subjects can be expressed in a CSV",
                ));
            }
            let sa = subject["name"].as_str().unwrap_or_default().to_string();
            target.entry(sa).or_default().extend(rules.iter().cloned());
        }
    }
    let list = |m: BTreeMap<String, Vec<Value>>| {
        m.into_iter()
            .map(|(sa, rules)| json!({"serviceAccountName": sa, "rules": rules}))
            .collect()
    };
    Ok((list(cluster), list(namespaced)))
}

/// The webhook Deployment under OLM: it serves the certificate OLM mounts (files mode) instead
/// of managing its own, which OLM's generated configuration names would defeat anyway.
fn olm_webhook_deployment(mut spec: Value) -> Result<Value, BundleError> {
    let env = spec["template"]["spec"]["containers"][0]["env"]
        .as_array_mut()
        .ok_or_else(|| {
            invalid(
                "Deployment/fmesh-webhook.spec.template.spec.containers[0].env",
                "missing",
            )
        })?;
    let mut set = |name: &str, value: &str| match env.iter_mut().find(|e| e["name"] == name) {
        Some(e) => e["value"] = json!(value),
        None => env.push(json!({"name": name, "value": value})),
    };
    set("FMESH_WEBHOOK_CERT_MODE", "files");
    set("FMESH_WEBHOOK_CERT_DIR", OLM_CERT_DIR);
    Ok(spec)
}

fn webhook_definitions(base: &[Value]) -> Result<Vec<Value>, BundleError> {
    let service = find(base, "Service", "fmesh-webhook")?;
    let deployment = find(base, "Deployment", "fmesh-webhook")?;
    let mut defs = Vec::new();
    for (kind, type_) in [
        (
            "ValidatingWebhookConfiguration",
            "ValidatingAdmissionWebhook",
        ),
        ("MutatingWebhookConfiguration", "MutatingAdmissionWebhook"),
    ] {
        for config in base.iter().filter(|d| d["kind"] == kind) {
            for (i, hook) in config["webhooks"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let path = format!("{kind}/{}.webhooks[{i}]", name_of(config));
                let svc = &hook["clientConfig"]["service"];
                if svc["name"] != "fmesh-webhook" {
                    return Err(invalid(
                        format!("{path}.clientConfig.service"),
                        "must be the Service fmesh-webhook (OLM routes to the deployment behind it)",
                    ));
                }
                let port = svc["port"].as_i64().unwrap_or(443);
                let service_port = service["spec"]["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|p| p["port"] == port)
                    .ok_or_else(|| {
                        invalid(
                            format!("{path}.clientConfig.service.port"),
                            "no such port on Service fmesh-webhook",
                        )
                    })?;
                let target =
                    container_port(deployment, &service_port["targetPort"]).ok_or_else(|| {
                        invalid(
                            "Service/fmesh-webhook.spec.ports[].targetPort",
                            "names no port of Deployment fmesh-webhook",
                        )
                    })?;
                let mut def = json!({
                    "type": type_,
                    "generateName": hook["name"],
                    "deploymentName": name_of(deployment),
                    "containerPort": port,
                    "targetPort": target,
                    "webhookPath": svc["path"],
                    "admissionReviewVersions": hook["admissionReviewVersions"],
                    "sideEffects": hook["sideEffects"],
                    "failurePolicy": hook["failurePolicy"],
                    "rules": hook["rules"],
                });
                // OLM generates namespaceSelector from the OperatorGroup; the rest carry over.
                for field in [
                    "matchPolicy",
                    "timeoutSeconds",
                    "objectSelector",
                    "reinvocationPolicy",
                ] {
                    if !hook[field].is_null() {
                        def[field] = hook[field].clone();
                    }
                }
                defs.push(def);
            }
        }
    }
    Ok(defs)
}

fn container_port(deployment: &Value, target: &Value) -> Option<i64> {
    if let Some(n) = target.as_i64() {
        return Some(n);
    }
    deployment["spec"]["template"]["spec"]["containers"]
        .as_array()?
        .iter()
        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
        .find(|p| p["name"] == *target)?["containerPort"]
        .as_i64()
}

fn owned_crds(base: &[Value]) -> Result<Vec<Value>, BundleError> {
    OWNED
        .iter()
        .map(|(kind, display, description)| {
            let crd = base
                .iter()
                .find(|d| {
                    d["kind"] == "CustomResourceDefinition" && d["spec"]["names"]["kind"] == *kind
                })
                .ok_or_else(|| BundleError::Missing {
                    kind: "CustomResourceDefinition".into(),
                    name: format!("of kind {kind}"),
                })?;
            let version = crd["spec"]["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|v| v["storage"] == true)
                .and_then(|v| v["name"].as_str())
                .ok_or_else(|| {
                    invalid(
                        format!("CustomResourceDefinition/{}.spec.versions", name_of(crd)),
                        "no storage version",
                    )
                })?;
            Ok(json!({
                "name": name_of(crd),
                "version": version,
                "kind": kind,
                "displayName": display,
                "description": description,
            }))
        })
        .collect()
}

/// The ClusterServiceVersion for `version`, from the rendered base and the example CRs.
pub fn csv(base: &[Value], examples: &[Value], version: &str) -> Result<Value, BundleError> {
    let (cluster_permissions, permissions) = permissions(base)?;
    let mut deployments = Vec::new();
    for name in ["fmesh-operator", "fmesh-webhook"] {
        let d = find(base, "Deployment", name)?;
        let mut spec = d["spec"].clone();
        if name == "fmesh-webhook" {
            spec = olm_webhook_deployment(spec)?;
        }
        deployments.push(json!({"name": name, "label": d["metadata"]["labels"], "spec": spec}));
    }
    let operator_image =
        deployments[0]["spec"]["template"]["spec"]["containers"][0]["image"].clone();
    let examples: Vec<Value> = examples
        .iter()
        .map(|e| {
            let mut e = e.clone();
            if let Some(m) = e["metadata"].as_object_mut() {
                // Examples land in whatever namespace the user picks in the console.
                m.remove("namespace");
            }
            e
        })
        .collect();
    let alm = serde_json::to_string_pretty(&examples)
        .map_err(|e| invalid("alm-examples", e.to_string()))?;
    Ok(json!({
        "apiVersion": "operators.coreos.com/v1alpha1",
        "kind": "ClusterServiceVersion",
        "metadata": {
            "name": format!("{PACKAGE}.v{version}"),
            "namespace": "placeholder",
            "annotations": {
                "alm-examples": alm,
                "capabilities": "Basic Install",
                "categories": "Streaming & Messaging",
                "containerImage": operator_image,
                "description": "Run Pulsar Functions, IO connectors and meshes of them as Kubernetes resources.",
                "repository": "https://github.com/streamnative/function-mesh",
                "support": "fmesh",
            },
        },
        "spec": {
            "displayName": "fmesh",
            "description": "fmesh runs Pulsar Functions, sources, sinks and whole pipelines of them (Function Meshes) as Kubernetes custom resources `compute.functionmesh.io/v1alpha1`. The operator turns each into a StatefulSet of runners and reports Ready/Progressing/Degraded conditions; the admission webhook validates specs (every error with its field path and a hint), checks referenced Secrets and ConfigMaps, and fills defaults without rewriting what you wrote.\n\nOLM manages the webhook's serving certificate. Apply a ConfigMap `pulsar` (keys `webServiceURL`, `brokerServiceURL`) in the namespace of your workloads, then the examples.",
            "version": version,
            "maturity": CHANNEL,
            "minKubeVersion": MIN_KUBE_VERSION,
            "provider": {"name": "fmesh"},
            "maintainers": [{"name": "fmesh", "email": "fmesh@example.invalid"}],
            "keywords": ["pulsar", "functions", "streaming", "connectors", "function-mesh", "wasm"],
            "links": [
                {"name": "Function Mesh", "url": "https://functionmesh.io"},
                {"name": "Apache Pulsar Functions", "url": "https://pulsar.apache.org/docs/functions-overview/"},
            ],
            // The operator watches and the webhook admits in every namespace, and the CRDs and
            // webhooks are cluster-wide anyway: two installs scoped to different namespaces
            // would fight over the same objects. So AllNamespaces only.
            "installModes": [
                {"type": "OwnNamespace", "supported": false},
                {"type": "SingleNamespace", "supported": false},
                {"type": "MultiNamespace", "supported": false},
                {"type": "AllNamespaces", "supported": true},
            ],
            "install": {
                "strategy": "deployment",
                "spec": {
                    "clusterPermissions": cluster_permissions,
                    "permissions": permissions,
                    "deployments": deployments,
                },
            },
            "customresourcedefinitions": {"owned": owned_crds(base)?},
            "webhookdefinitions": webhook_definitions(base)?,
        },
    }))
}

/// Base objects a registry+v1 bundle ships besides the CSV and CRDs (ConfigMaps, Services),
/// without a namespace: OLM puts them in the install namespace.
fn extra_objects(base: &[Value]) -> Vec<Value> {
    base.iter()
        .filter(|d| d["kind"] == "ConfigMap" || d["kind"] == "Service")
        .map(|d| {
            let mut d = d.clone();
            if let Some(m) = d["metadata"].as_object_mut() {
                m.remove("namespace");
            }
            d
        })
        .collect()
}

fn to_yaml(path: &str, value: &Value) -> Result<String, BundleError> {
    serde_saphyr::to_string(value).map_err(|e| BundleError::Yaml {
        path: path.into(),
        message: e.to_string(),
    })
}

const HEADER: &str =
    "# Generated by `fmesh-e2e bundle` from manifests/base and examples/: do not edit.\n";

/// Every file of `manifests/bundle/`, relative to it, with its content.
pub fn bundle_files(
    base: &[Value],
    examples: &[Value],
    version: &str,
) -> Result<BTreeMap<String, String>, BundleError> {
    let mut files = BTreeMap::new();
    let path = format!("manifests/{PACKAGE}.clusterserviceversion.yaml");
    files.insert(
        path.clone(),
        format!(
            "{HEADER}{}",
            to_yaml(&path, &csv(base, examples, version)?)?
        ),
    );
    for crd in base
        .iter()
        .filter(|d| d["kind"] == "CustomResourceDefinition")
    {
        let path = format!("manifests/{}.yaml", name_of(crd));
        files.insert(path.clone(), format!("{HEADER}{}", to_yaml(&path, crd)?));
    }
    for obj in extra_objects(base) {
        let kind = obj["kind"].as_str().unwrap_or_default().to_lowercase();
        let path = format!("manifests/{}.{kind}.yaml", name_of(&obj));
        files.insert(path.clone(), format!("{HEADER}{}", to_yaml(&path, &obj)?));
    }
    let annotations = json!({"annotations": {
        "operators.operatorframework.io.bundle.mediatype.v1": "registry+v1",
        "operators.operatorframework.io.bundle.manifests.v1": "manifests/",
        "operators.operatorframework.io.bundle.metadata.v1": "metadata/",
        "operators.operatorframework.io.bundle.package.v1": PACKAGE,
        "operators.operatorframework.io.bundle.channels.v1": CHANNEL,
        "operators.operatorframework.io.bundle.channel.default.v1": CHANNEL,
    }});
    let path = "metadata/annotations.yaml".to_string();
    files.insert(
        path.clone(),
        format!("{HEADER}{}", to_yaml(&path, &annotations)?),
    );
    Ok(files)
}

/// The `argocd-cm` snippet: `resource.customizations.health.<group>_<Kind>` for each kind,
/// the Lua read from `health` (file name → content).
pub fn argocd_cm(health: &BTreeMap<String, String>) -> Result<String, BundleError> {
    let mut data = serde_json::Map::new();
    for (kind, file) in HEALTH_CHECKS {
        let lua = health
            .get(file)
            .ok_or_else(|| invalid(format!("manifests/argocd/health/{file}"), "missing"))?;
        data.insert(
            format!("resource.customizations.health.{GROUP}_{kind}"),
            json!(lua),
        );
    }
    let cm = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "argocd-cm",
            "namespace": "argocd",
            "labels": {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"},
        },
        "data": data,
    });
    Ok(format!(
        "# Generated by `fmesh-e2e bundle` from manifests/argocd/health/*.lua: do not edit.\n# Merge into your argocd-cm (kubectl -n argocd patch cm argocd-cm --patch-file …).\n{}",
        to_yaml("argocd-cm.yaml", &cm)?
    ))
}

/// The Lua health checks on disk, file name → content.
pub fn read_health(workspace: &Path) -> Result<BTreeMap<String, String>, BundleError> {
    let mut out = BTreeMap::new();
    for (_, file) in HEALTH_CHECKS {
        let path = workspace.join("manifests/argocd/health").join(file);
        let text =
            std::fs::read_to_string(&path).map_err(|source| BundleError::Io { path, source })?;
        out.insert(file.to_string(), text);
    }
    Ok(out)
}

/// Everything the generator owns, path relative to the workspace → content.
pub fn generate(
    kubectl: &Path,
    workspace: &Path,
) -> Result<BTreeMap<PathBuf, String>, BundleError> {
    let base = render(kubectl, workspace, "manifests/base")?;
    let examples = read_examples(workspace)?;
    let mut out: BTreeMap<PathBuf, String> =
        bundle_files(&base, &examples, env!("CARGO_PKG_VERSION"))?
            .into_iter()
            .map(|(p, c)| (Path::new("manifests/bundle").join(p), c))
            .collect();
    out.insert(
        PathBuf::from("manifests/argocd/argocd-cm.yaml"),
        argocd_cm(&read_health(workspace)?)?,
    );
    Ok(out)
}

/// Writes what [`generate`] produced, replacing `manifests/bundle/` whole (no stale files).
pub fn write(workspace: &Path, files: &BTreeMap<PathBuf, String>) -> Result<(), BundleError> {
    let bundle = workspace.join("manifests/bundle");
    if bundle.exists() {
        std::fs::remove_dir_all(&bundle).map_err(|source| BundleError::Io {
            path: bundle.clone(),
            source,
        })?;
    }
    for (rel, content) in files {
        let path = workspace.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| BundleError::Io {
                path: dir.into(),
                source,
            })?;
        }
        std::fs::write(&path, content).map_err(|source| BundleError::Io { path, source })?;
    }
    Ok(())
}
