//! The pod template: the main container (instance main or runner), the download init container,
//! everything the CR names wired in (Pulsar ConfigMap, auth/TLS Secrets, `secretsMap`, pod
//! policy), and a restricted securityContext by default.

use std::collections::BTreeMap;

use fmesh_crds::common::{PodPolicy, PulsarMessaging, RuntimeKind};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities as LinuxCapabilities, ConfigMapKeySelector, Container, ContainerPort,
    EmptyDirVolumeSource, EnvFromSource, EnvVar, EnvVarSource, HTTPGetAction, ObjectFieldSelector,
    PodAffinityTerm, PodAntiAffinity, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    SeccompProfile, SecretEnvSource, SecretKeySelector, SecretVolumeSource, SecurityContext,
    Volume, VolumeMount, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::command::{self, METRICS_PORT, Package};
use crate::config::OperatorConfig;
use crate::labels;
use crate::workload::Workload;

/// Name of the main container (Function Mesh's names).
pub fn container_name(w: &Workload) -> &'static str {
    match labels::component(w.kind) {
        "function" => "pulsar-function",
        "source" => "pulsar-source",
        _ => "pulsar-sink",
    }
}

/// The image of the main container: the CR's, else the operator's default for the runtime.
pub fn image(w: &Workload, cfg: &OperatorConfig) -> String {
    if let Some(i) = &w.spec.image {
        return i.clone();
    }
    match w.runtime() {
        Some(RuntimeKind::Java) => cfg.java_image.clone(),
        Some(RuntimeKind::Python) => cfg.python_image.clone(),
        Some(RuntimeKind::Golang) => cfg.go_image.clone(),
        _ => cfg.runner_image.clone(),
    }
}

/// The pod template. `config_hash` (of the referenced ConfigMaps/Secrets) becomes an
/// annotation, so that a change to them rolls the pods.
pub fn template(w: &Workload, cfg: &OperatorConfig, config_hash: Option<&str>) -> PodTemplateSpec {
    let policy = w.spec.pod.clone().unwrap_or_default();
    let pkg = command::package(w);
    let mut labels = labels::selector(w.kind, &w.name);
    for (k, v) in policy.labels.iter().flatten() {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    let mut annotations = BTreeMap::from([
        ("prometheus.io/scrape".to_string(), "true".to_string()),
        ("prometheus.io/port".to_string(), METRICS_PORT.to_string()),
    ]);
    annotations.extend(policy.annotations.clone().unwrap_or_default());
    if let Some(h) = config_hash {
        annotations.insert(labels::CONFIG_HASH.into(), h.into());
    }
    let mut init = Vec::new();
    if let Some(p) = &pkg {
        init.push(download_container(w, cfg, p));
    }
    init.extend(policy.init_containers.clone().unwrap_or_default());
    let mut containers = vec![main_container(w, cfg, &policy, pkg.as_ref())];
    containers.extend(policy.sidecars.clone().unwrap_or_default());
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            init_containers: (!init.is_empty()).then_some(init),
            containers,
            volumes: non_empty(volumes(w, &policy, pkg.is_some())),
            node_selector: policy.node_selector.clone(),
            affinity: affinity(w, &policy),
            tolerations: policy.tolerations.clone(),
            security_context: Some(pod_security(&policy, cfg)),
            termination_grace_period_seconds: policy.termination_grace_period_seconds,
            image_pull_secrets: policy.image_pull_secrets.clone(),
            service_account_name: policy.service_account_name.clone(),
            ..PodSpec::default()
        }),
    }
}

fn main_container(
    w: &Workload,
    cfg: &OperatorConfig,
    policy: &PodPolicy,
    pkg: Option<&Package>,
) -> Container {
    let (command, args) = command::container_command(w, cfg);
    let runner = w.runs_on_runner();
    let mut ports = vec![port("http-metrics", METRICS_PORT)];
    if !runner {
        ports.insert(0, port("tcp-grpc", command::GRPC_PORT));
    }
    let mut mounts = volume_mounts(w, pkg.is_some());
    mounts.extend(w.spec.volume_mounts.clone().unwrap_or_default());
    Container {
        name: container_name(w).into(),
        image: Some(image(w, cfg)),
        image_pull_policy: w
            .spec
            .image_pull_policy
            .clone()
            .or(cfg.image_pull_policy.clone()),
        command,
        args: non_empty(args),
        ports: Some(ports),
        env: Some(env(w, policy, pkg)),
        env_from: non_empty(env_from(w)),
        resources: w.spec.resources.clone(),
        volume_mounts: non_empty(mounts),
        liveness_probe: liveness(policy),
        startup_probe: policy.startup_probe.clone(),
        security_context: Some(container_security(runner)),
        ..Container::default()
    }
}

fn port(name: &str, number: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: number,
        protocol: Some("TCP".into()),
        ..ContainerPort::default()
    }
}

fn env(w: &Workload, policy: &PodPolicy, pkg: Option<&Package>) -> Vec<EnvVar> {
    let mut env = vec![EnvVar {
        name: "POD_NAME".into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: "metadata.name".into(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }];
    let pulsar = w.spec.messaging.pulsar.clone().unwrap_or_default();
    let runner = w.runs_on_runner();
    if let Some(cm) = &pulsar.pulsar_config {
        let (broker, web) = if runner {
            ("FMESH_PULSAR_URL", "FMESH_PULSAR_WEB_URL")
        } else {
            ("brokerServiceURL", "webServiceURL")
        };
        env.push(config_map_key(broker, cm, "brokerServiceURL"));
        env.push(config_map_key(web, cm, "webServiceURL"));
    }
    if runner {
        env.extend(runner_env(w, &pulsar, pkg));
    }
    for (name, r) in w.spec.secrets_map.iter().flatten() {
        env.push(EnvVar {
            name: name.clone(),
            value_from: Some(EnvVarSource {
                secret_key_ref: Some(SecretKeySelector {
                    name: r.path.clone().unwrap_or_default(),
                    key: r.key.clone().unwrap_or_default(),
                    optional: None,
                }),
                ..EnvVarSource::default()
            }),
            ..EnvVar::default()
        });
    }
    env.extend(policy.env.clone().unwrap_or_default());
    env
}

fn runner_env(w: &Workload, pulsar: &PulsarMessaging, pkg: Option<&Package>) -> Vec<EnvVar> {
    let mut spec = w.runner_spec.clone();
    // The runner reads the module from where the init container put it.
    if let (Some(p), Some(RuntimeKind::Wasm)) = (pkg, w.runtime())
        && let Some(m) = spec.pointer_mut("/wasm")
        && let Some(o) = m.as_object_mut()
    {
        o.insert("module".into(), serde_json::Value::String(p.path.clone()));
    }
    let mut env = vec![
        value(
            "FMESH_SPEC",
            &serde_json::to_string(&spec).expect("spec serializes"),
        ),
        value("FMESH_METRICS_PORT", &METRICS_PORT.to_string()),
    ];
    if pulsar.auth_secret.is_some() {
        env.push(value(
            "FMESH_AUTH_TOKEN_FILE",
            &format!("{}/token", command::RUNNER_AUTH_MOUNT),
        ));
    }
    if let Some(key) = trust_cert_key(pulsar) {
        let dir = if pulsar.tls_config.is_some() {
            command::TLS_MOUNT
        } else {
            command::RUNNER_TLS_MOUNT
        };
        env.push(value("FMESH_TLS_TRUST_CERT", &format!("{dir}/{key}")));
    }
    env
}

fn trust_cert_key(p: &PulsarMessaging) -> Option<String> {
    if let Some(t) = &p.tls_config {
        return t
            .cert_secret_name
            .as_ref()
            .map(|_| t.cert_secret_key.clone().unwrap_or_else(|| "ca.crt".into()));
    }
    p.tls_secret.as_ref().map(|_| "ca.crt".to_string())
}

fn value(name: &str, v: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(v.into()),
        ..EnvVar::default()
    }
}

fn config_map_key(name: &str, config_map: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            config_map_key_ref: Some(ConfigMapKeySelector {
                name: config_map.into(),
                key: key.into(),
                optional: None,
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// Instance mains read auth and TLS settings from env (`$clientAuthenticationPlugin`, …), as
/// Function Mesh wires them.
fn env_from(w: &Workload) -> Vec<EnvFromSource> {
    if w.runs_on_runner() {
        return Vec::new();
    }
    let pulsar = w.spec.messaging.pulsar.clone().unwrap_or_default();
    [pulsar.auth_secret, pulsar.tls_secret]
        .into_iter()
        .flatten()
        .map(|name| EnvFromSource {
            secret_ref: Some(SecretEnvSource {
                name,
                optional: None,
            }),
            ..EnvFromSource::default()
        })
        .collect()
}

fn download_container(w: &Workload, cfg: &OperatorConfig, pkg: &Package) -> Container {
    let pulsar = w.spec.messaging.pulsar.clone();
    let mut env = Vec::new();
    if let Some(cm) = pulsar.as_ref().and_then(|p| p.pulsar_config.as_ref()) {
        env.push(config_map_key("webServiceURL", cm, "webServiceURL"));
    }
    let env_from = pulsar
        .as_ref()
        .and_then(|p| p.auth_secret.clone())
        .map(|name| {
            vec![EnvFromSource {
                secret_ref: Some(SecretEnvSource {
                    name,
                    optional: None,
                }),
                ..EnvFromSource::default()
            }]
        });
    Container {
        name: "download".into(),
        image: Some(
            w.spec
                .downloader_image
                .clone()
                .unwrap_or_else(|| cfg.downloader_image.clone()),
        ),
        image_pull_policy: cfg.image_pull_policy.clone(),
        command: Some(vec![
            "sh".into(),
            "-c".into(),
            command::download_command(pkg, pulsar.as_ref()),
        ]),
        env: non_empty(env),
        env_from,
        volume_mounts: Some(vec![mount("download", command::DOWNLOAD_DIR, false)]),
        security_context: Some(container_security(false)),
        ..Container::default()
    }
}

fn volumes(w: &Workload, policy: &PodPolicy, download: bool) -> Vec<Volume> {
    let mut v = Vec::new();
    if download {
        v.push(empty_dir("download"));
    }
    if w.runs_on_runner() {
        v.push(empty_dir("tmp"));
    }
    let pulsar = w.spec.messaging.pulsar.clone().unwrap_or_default();
    if let Some(name) = pulsar
        .tls_config
        .as_ref()
        .and_then(|t| t.cert_secret_name.clone())
    {
        v.push(secret_volume("tls", &name));
    }
    if let Some(name) = pulsar
        .auth_config
        .as_ref()
        .and_then(|a| a.oauth2_config.as_ref())
        .and_then(|o| o.key_secret_name.clone())
    {
        v.push(secret_volume("oauth2", &name));
    }
    if w.runs_on_runner() {
        if let Some(name) = &pulsar.auth_secret {
            v.push(secret_volume("fmesh-auth", name));
        }
        if let (None, Some(name)) = (&pulsar.tls_config, &pulsar.tls_secret) {
            v.push(secret_volume("fmesh-tls", name));
        }
    }
    v.extend(policy.volumes.clone().unwrap_or_default());
    v
}

fn volume_mounts(w: &Workload, download: bool) -> Vec<VolumeMount> {
    let mut m = Vec::new();
    if download {
        m.push(mount("download", command::DOWNLOAD_DIR, false));
    }
    if w.runs_on_runner() {
        m.push(mount("tmp", "/tmp", false));
    }
    let pulsar = w.spec.messaging.pulsar.clone().unwrap_or_default();
    if pulsar
        .tls_config
        .as_ref()
        .is_some_and(|t| t.cert_secret_name.is_some())
    {
        m.push(mount("tls", command::TLS_MOUNT, true));
    }
    if pulsar
        .auth_config
        .as_ref()
        .and_then(|a| a.oauth2_config.as_ref())
        .is_some_and(|o| o.key_secret_name.is_some())
    {
        m.push(mount("oauth2", command::OAUTH2_MOUNT, true));
    }
    if w.runs_on_runner() {
        if pulsar.auth_secret.is_some() {
            m.push(mount("fmesh-auth", command::RUNNER_AUTH_MOUNT, true));
        }
        if pulsar.tls_config.is_none() && pulsar.tls_secret.is_some() {
            m.push(mount("fmesh-tls", command::RUNNER_TLS_MOUNT, true));
        }
    }
    m
}

fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }
}

fn secret_volume(name: &str, secret: &str) -> Volume {
    Volume {
        name: name.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.into()),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn mount(name: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

/// Liveness on `GET /` of the metrics port, only when the CR tunes it (as Function Mesh).
fn liveness(policy: &PodPolicy) -> Option<Probe> {
    let l = policy.liveness.as_ref()?;
    Some(Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/".into()),
            port: IntOrString::Int(METRICS_PORT),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: l.initial_delay_seconds,
        period_seconds: l.period_seconds,
        success_threshold: l.success_threshold,
        failure_threshold: l.failure_threshold,
        ..Probe::default()
    })
}

/// Spread instances over nodes unless told not to (Function Mesh's default affinity).
fn affinity(w: &Workload, policy: &PodPolicy) -> Option<Affinity> {
    if policy.affinity.is_some() || policy.disable_default_affinity == Some(true) {
        return policy.affinity.clone();
    }
    Some(Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: PodAffinityTerm {
                        label_selector: Some(LabelSelector {
                            match_labels: Some(labels::selector(w.kind, &w.name)),
                            ..LabelSelector::default()
                        }),
                        topology_key: "kubernetes.io/hostname".into(),
                        ..PodAffinityTerm::default()
                    },
                },
            ]),
            ..PodAntiAffinity::default()
        }),
        ..Affinity::default()
    })
}

/// The CR's pod securityContext, else a restricted one: a fixed non-root user, RuntimeDefault
/// seccomp.
fn pod_security(policy: &PodPolicy, cfg: &OperatorConfig) -> PodSecurityContext {
    policy
        .security_context
        .clone()
        .unwrap_or_else(|| PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(cfg.run_as_user),
            run_as_group: Some(cfg.run_as_user),
            fs_group: Some(cfg.run_as_user),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".into(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        })
}

/// No privilege escalation, no capabilities; a read-only root filesystem for the runner (which
/// writes only to `/tmp`); Pulsar's instance mains write logs under their working directory.
fn container_security(read_only_root: bool) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        run_as_non_root: Some(true),
        read_only_root_filesystem: Some(read_only_root),
        capabilities: Some(LinuxCapabilities {
            drop: Some(vec!["ALL".into()]),
            ..LinuxCapabilities::default()
        }),
        ..SecurityContext::default()
    }
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}
