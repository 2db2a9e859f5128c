//! Validation: every rule Function Mesh's webhook enforces, plus fmesh's own, each reported
//! with the field's JSON path and a one-line fix. Specs are validated after defaulting, as the
//! apiserver does (mutating admission runs before validating admission).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::ResourceRequirements;

use crate::common::FreeForm;
use crate::common::{
    BuiltinHpaRule, CryptoConfig, InputConf, OutputConf, PodPolicy, ProcessingGuarantee,
    PulsarMessaging, Runtime, RuntimeKind, WindowConfig,
};
use crate::connectors::{self, ConnectorKind, java::JavaRef};
use crate::diagnostic::{FieldPath, Report};
use crate::topic::{TopicParts, TopicPattern};
use crate::workload::{ConsumerSpec, WorkloadSpec};
use crate::{FunctionMeshSpec, FunctionSpec, SinkSpec, SourceSpec, defaults, graph, quantity};

/// Function Mesh's limit on object names: the StatefulSet, its pods and their
/// controller-revision-hash label must all fit Kubernetes' 63-character label values.
pub const MAX_NAME_LENGTH: usize = 43;

/// The three workload kinds; they share most rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkloadKind {
    Function,
    Source,
    Sink,
}

impl WorkloadKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WorkloadKind::Function => "Function",
            WorkloadKind::Source => "Source",
            WorkloadKind::Sink => "Sink",
        }
    }
}

/// Validates a Function's spec at `at` (`spec`, or `spec.functions[i]` in a mesh).
pub fn function(spec: &FunctionSpec, at: &FieldPath) -> Report {
    let mut r = Report::default();
    workload(&mut r, at, &spec.workload, WorkloadKind::Function);
    let has_source_connector = spec.source_config.is_some();
    let output_topic = spec.output.as_ref().and_then(|o| o.topic.as_deref());
    consumer(
        &mut r,
        at,
        &spec.consumer,
        &spec.workload,
        !has_source_connector,
        output_topic,
    );
    if let Some(out) = &spec.output {
        output(&mut r, &at.field("output"), out);
    }
    if let Some(max) = spec.max_pending_async_requests.filter(|m| *m <= 0) {
        r.error(
            &at.field("maxPendingAsyncRequests"),
            format!("must be positive, got {max}"),
            "remove it for the default of 1000",
        );
    }
    if let Some(w) = &spec.window_config {
        window(&mut r, &at.field("windowConfig"), w);
    }
    r
}

/// Validates a Source's spec at `at`.
pub fn source(spec: &SourceSpec, at: &FieldPath) -> Report {
    let mut r = Report::default();
    workload(&mut r, at, &spec.workload, WorkloadKind::Source);
    let java = spec.workload.runtime.java.is_some();
    if java && spec.source_config.is_none() {
        r.error(
            &at.field("sourceConfig"),
            "source config is not provided",
            "a Pulsar IO source needs its connector settings under sourceConfig",
        );
    }
    match spec.output.as_ref().and_then(|o| o.topic.as_ref()) {
        Some(_) => {}
        None => r.error(
            &at.field("output").field("topic"),
            "a source needs an output topic",
            "set output.topic to the topic the source publishes to",
        ),
    }
    if let Some(out) = &spec.output {
        output(&mut r, &at.field("output"), out);
    }
    r.extend(connector(
        ConnectorKind::Source,
        &spec.workload,
        spec.source_type.as_deref(),
        spec.source_config.as_ref(),
        at,
    ));
    if let Some(b) = &spec.batch_source_config
        && b.discovery_triggerer_class_name
            .as_deref()
            .unwrap_or("")
            .is_empty()
    {
        r.error(
            &at.field("batchSourceConfig")
                .field("discoveryTriggererClassName"),
            "a batch source needs a discovery triggerer",
            "name the DiscoveryTriggerer class",
        );
    }
    r
}

/// Validates a Sink's spec at `at`.
pub fn sink(spec: &SinkSpec, at: &FieldPath) -> Report {
    let mut r = Report::default();
    workload(&mut r, at, &spec.workload, WorkloadKind::Sink);
    consumer(&mut r, at, &spec.consumer, &spec.workload, true, None);
    if spec.workload.runtime.java.is_some() && spec.sink_config.is_none() {
        r.error(
            &at.field("sinkConfig"),
            "sink config is not provided",
            "a Pulsar IO sink needs its connector settings under sinkConfig",
        );
    }
    r.extend(connector(
        ConnectorKind::Sink,
        &spec.workload,
        spec.sink_type.as_deref(),
        spec.sink_config.as_ref(),
        at,
    ));
    if let Some(d) = spec.negative_ack_redelivery_delay_ms.filter(|d| *d < 0) {
        r.error(
            &at.field("negativeAckRedeliveryDelayMs"),
            format!("must not be negative, got {d}"),
            "use 0 or more milliseconds",
        );
    }
    r
}

/// The connector catalogue's checks of a Source's or Sink's settings (crds/src/connectors).
fn connector(
    kind: ConnectorKind,
    w: &WorkloadSpec,
    connector_type: Option<&str>,
    config: Option<&FreeForm>,
    at: &FieldPath,
) -> Report {
    let secrets: Vec<&str> = w
        .secrets_map
        .iter()
        .flatten()
        .map(|(k, _)| k.as_str())
        .collect();
    let builtin = w.runtime.builtin.as_ref().and_then(|b| b.name.as_deref());
    let java_ref = match &w.runtime.java {
        Some(j) => JavaRef {
            jar: j.jar.as_deref(),
            class_name: w.class_name.as_deref(),
            connector_type,
        },
        None => JavaRef::default(),
    };
    connectors::check_connector(kind, builtin, java_ref, config.map(|c| &c.0), &secrets, at)
}

/// Validates a mesh: every member at its path (with defaults applied, as after admission's
/// mutation), then the graph they form.
pub fn mesh(mesh_name: &str, spec: &FunctionMeshSpec) -> Report {
    let mut spec = spec.clone();
    defaults::mesh(&mut spec);
    mesh_defaulted(mesh_name, &spec)
}

/// [`mesh`] of a spec that is already defaulted ([`crate::Resource::validate`] defaults its copy).
pub(crate) fn mesh_defaulted(mesh_name: &str, spec: &FunctionMeshSpec) -> Report {
    let root = FieldPath::root("spec");
    // A mesh over a size limit is refused as such: walking it costs what the limit prevents.
    let mut r = crate::limits::check_mesh(spec);
    if !r.is_valid() {
        return r;
    }
    for (i, f) in spec.functions.iter().flatten().enumerate() {
        r.extend(function(f, &root.field("functions").index(i)));
    }
    for (i, s) in spec.sources.iter().flatten().enumerate() {
        r.extend(source(s, &root.field("sources").index(i)));
    }
    for (i, s) in spec.sinks.iter().flatten().enumerate() {
        r.extend(sink(s, &root.field("sinks").index(i)));
    }
    r.extend(graph::graph_report(mesh_name, spec));
    r
}

/// Checks an object name (or a mesh child's derived name) against Kubernetes and
/// Function Mesh limits.
pub fn object_name(r: &mut Report, path: &FieldPath, name: &str, what: &str) {
    if name.is_empty() {
        r.error(
            path,
            format!("{what} is not provided"),
            "give the object a name",
        );
        return;
    }
    if name.len() > MAX_NAME_LENGTH {
        r.error(
            path,
            format!(
                "{what} `{name}` is {} characters, more than {MAX_NAME_LENGTH}",
                name.len()
            ),
            format!("shorten it to {MAX_NAME_LENGTH} characters or fewer"),
        );
    }
    if !is_dns_label(name) {
        r.error(
            path,
            format!("{what} `{name}` is not a valid DNS-1123 label"),
            "use lowercase letters, digits and '-', starting and ending with a letter or digit",
        );
    }
}

/// RFC 1123 label: what StatefulSet and Service names must be.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn workload(r: &mut Report, at: &FieldPath, w: &WorkloadSpec, kind: WorkloadKind) {
    runtime(r, at, &w.runtime, w.class_name.as_deref(), kind);
    replicas(r, at, w);
    if let Some(pod) = &w.pod {
        pod_policy(r, at, pod, w.max_replicas.is_some());
    }
    if let Some(res) = &w.resources {
        resources(r, &at.field("resources"), res);
    }
    for (name, s) in w.secrets_map.iter().flatten() {
        let p = at.field("secretsMap").key(name);
        if s.path.as_deref().unwrap_or("").is_empty() {
            r.error(
                &p.field("path"),
                "the Secret's name is missing",
                "set path to the Secret's name",
            );
        }
        if s.key.as_deref().unwrap_or("").is_empty() {
            r.error(
                &p.field("key"),
                "the Secret's key is missing",
                "set key to the key inside the Secret",
            );
        }
    }
    if let Some(t) = &w.log_topic {
        topic(r, &at.field("logTopic"), t);
    }
    match w.messaging.pulsar.as_ref() {
        Some(p) if p.pulsar_config.as_deref().is_some_and(|c| !c.is_empty()) => {
            pulsar_messaging(r, &at.field("pulsar"), p);
        }
        _ => r.error(
            &at.field("pulsar").field("pulsarConfig"),
            "Pulsar configuration needs to be set",
            "name the ConfigMap holding webServiceURL and brokerServiceURL",
        ),
    }
    if let Some(pkg) = &w.pulsar_package_service {
        if pkg.pulsar_config.as_deref().unwrap_or("").is_empty() {
            r.error(
                &at.field("pulsarPackageService").field("pulsarConfig"),
                "pulsarPackageService.pulsarConfig needs to be set",
                "name the ConfigMap of the Pulsar cluster that serves the packages",
            );
        } else {
            pulsar_messaging(r, &at.field("pulsarPackageService"), pkg);
        }
    }
    if let Some(state) = w.state_config.as_ref().and_then(|s| s.pulsar.as_ref()) {
        let p = at.field("statefulConfig").field("pulsar");
        if w.runtime.golang.is_some() {
            r.error(
                &p,
                "Go functions do not support state yet",
                "remove statefulConfig or use Java or Python",
            );
        }
        if state.service_url.as_deref().unwrap_or("").is_empty() {
            r.error(
                &p.field("serviceUrl"),
                "serviceUrl cannot be empty",
                "set the state store's URL, like bk://bookkeeper:4181",
            );
        }
    }
    if let Some(policy) = &w.image_pull_policy
        && !["Always", "IfNotPresent", "Never"].contains(&policy.as_str())
    {
        r.error(
            &at.field("imagePullPolicy"),
            format!("unknown image pull policy `{policy}`"),
            "use Always, IfNotPresent or Never",
        );
    }
}

fn runtime(
    r: &mut Report,
    at: &FieldPath,
    rt: &Runtime,
    class_name: Option<&str>,
    kind: WorkloadKind,
) {
    let kinds = rt.kinds();
    let allowed: &[RuntimeKind] = match kind {
        WorkloadKind::Function => &[
            RuntimeKind::Java,
            RuntimeKind::Python,
            RuntimeKind::Golang,
            RuntimeKind::Generic,
            RuntimeKind::Wasm,
            RuntimeKind::Exec,
            RuntimeKind::Builtin,
        ],
        WorkloadKind::Source | WorkloadKind::Sink => &[
            RuntimeKind::Java,
            RuntimeKind::Wasm,
            RuntimeKind::Exec,
            RuntimeKind::Builtin,
        ],
    };
    let names = |ks: &[RuntimeKind]| ks.iter().map(|k| k.field()).collect::<Vec<_>>().join(", ");
    match kinds.as_slice() {
        [] => r.error(
            at,
            "runtime cannot be empty",
            format!("set exactly one of {}", names(allowed)),
        ),
        [_] => {}
        many => r.error(
            at,
            format!("you can only specify one runtime, found {}", names(many)),
            format!("keep one of {}", names(many)),
        ),
    }
    for k in kinds.iter().filter(|k| !allowed.contains(k)) {
        r.error(
            &at.field(k.field()),
            format!(
                "a {} cannot run on the {} runtime",
                kind.as_str(),
                k.field()
            ),
            format!("use one of {}", names(allowed)),
        );
    }
    let needs_class = |r: &mut Report| {
        if class_name.unwrap_or("").is_empty() {
            r.error(
                &at.field("className"),
                "class name cannot be empty",
                "set className to the class that implements the function or connector",
            );
        }
    };
    if let Some(java) = &rt.java {
        needs_class(r);
        required(
            r,
            &at.field("java").field("jar"),
            java.jar.as_deref(),
            "jar cannot be empty in java runtime",
            "name the jar file",
        );
        package_location(
            r,
            &at.field("java").field("jarLocation"),
            java.jar_location.as_deref(),
        );
    }
    if let Some(py) = &rt.python {
        if kind == WorkloadKind::Function {
            needs_class(r);
        }
        required(
            r,
            &at.field("python").field("py"),
            py.py.as_deref(),
            "py cannot be empty in python runtime",
            "name the .py, .zip or .whl file",
        );
        package_location(
            r,
            &at.field("python").field("pyLocation"),
            py.py_location.as_deref(),
        );
    }
    if let Some(go) = &rt.golang {
        required(
            r,
            &at.field("golang").field("go"),
            go.go.as_deref(),
            "go cannot be empty in golang runtime",
            "name the Go executable",
        );
        package_location(
            r,
            &at.field("golang").field("goLocation"),
            go.go_location.as_deref(),
        );
    }
    if let Some(g) = &rt.generic_runtime {
        let p = at.field("genericRuntime");
        required(
            r,
            &p.field("functionFile"),
            g.function_file.as_deref(),
            "functionFile cannot be empty",
            "name the function's file",
        );
        required(
            r,
            &p.field("language"),
            g.language.as_deref(),
            "language cannot be empty",
            "set the language, like nodejs",
        );
        package_location(
            r,
            &p.field("functionFileLocation"),
            g.function_file_location.as_deref(),
        );
    }
    if let Some(w) = &rt.wasm {
        let p = at.field("wasm");
        if w.module.is_none() && w.module_location.is_none() {
            r.error(
                &p.field("module"),
                "a wasm runtime needs a module",
                "set module (a path in the image) or moduleLocation",
            );
        }
        package_location(r, &p.field("moduleLocation"), w.module_location.as_deref());
        if let Some(e) = w.export.as_deref().filter(|e| e.is_empty()) {
            r.error(
                &p.field("export"),
                format!("export name `{e}` is empty"),
                "remove it to call `process`",
            );
        }
        if w.fuel_per_message == Some(0) {
            r.error(
                &p.field("fuelPerMessage"),
                "zero fuel stops every call",
                "remove it for the default or give a positive budget",
            );
        }
        if let Some(q) = &w.max_memory
            && quantity::parse(&q.0).is_none_or(|v| v <= 0.0)
        {
            r.error(
                &p.field("maxMemory"),
                format!("`{}` is not a positive quantity", q.0),
                "write a size like 64Mi",
            );
        }
    }
    if let Some(e) = &rt.exec
        && e.command
            .as_ref()
            .is_none_or(|c| c.is_empty() || c[0].is_empty())
    {
        r.error(
            &at.field("exec").field("command"),
            "an exec runtime needs a command",
            "set command to the program and its fixed arguments",
        );
    }
    if let Some(b) = &rt.builtin {
        required(
            r,
            &at.field("builtin").field("name"),
            b.name.as_deref(),
            "a builtin runtime needs a name",
            "name a builtin, like identity, datagen or log",
        );
    }
}

fn required(r: &mut Report, path: &FieldPath, value: Option<&str>, message: &str, hint: &str) {
    if value.unwrap_or("").is_empty() {
        r.error(path, message, hint);
    }
}

/// `function://tenant/ns/name@version` (also `source://`, `sink://`) or `http(s)://…`.
fn package_location(r: &mut Report, path: &FieldPath, location: Option<&str>) {
    // Function Mesh documents `""` as "read the package from the image".
    let Some(loc) = location.filter(|l| !l.is_empty()) else {
        return;
    };
    let lower = loc.to_ascii_lowercase();
    let pulsar_pkg = ["function://", "source://", "sink://"]
        .iter()
        .find(|p| lower.starts_with(**p));
    let ok = match pulsar_pkg {
        Some(prefix) => {
            let rest = &loc[prefix.len()..];
            let name = rest.split_once('@').map_or(rest, |(n, _)| n);
            let parts: Vec<&str> = name.split('/').collect();
            parts.len() == 3
                && parts.iter().all(|p| !p.is_empty())
                && rest.matches('@').count() <= 1
        }
        None => {
            (lower.starts_with("http://") || lower.starts_with("https://"))
                && loc.len() > "https://".len()
        }
    };
    if !ok {
        r.error(
            path,
            format!("invalid package location `{loc}`"),
            "use function://tenant/namespace/name@version (or source://, sink://) or an http(s):// URL",
        );
    }
}

fn replicas(r: &mut Report, at: &FieldPath, w: &WorkloadSpec) {
    let (rep, min, max) = (w.replicas, w.min_replicas, w.max_replicas);
    if let Some(n) = rep.filter(|n| *n < 0) {
        r.error(
            &at.field("replicas"),
            format!("replicas cannot be negative, got {n}"),
            "use 0 or more",
        );
    }
    if let (Some(rep), Some(max)) = (rep, max) {
        if rep > max {
            r.error(
                &at.field("maxReplicas"),
                format!("maxReplicas ({max}) must be greater than or equal to replicas ({rep})"),
                format!("raise maxReplicas to at least {rep} or lower replicas"),
            );
        }
        if rep == 0 {
            r.error(
                &at.field("replicas"),
                "replicas cannot be zero when autoscaling (maxReplicas) is enabled",
                "set replicas to 1 or more",
            );
        }
    }
    if let Some(m) = min.filter(|m| *m <= 0) {
        r.error(
            &at.field("minReplicas"),
            format!("minReplicas must be positive, got {m}"),
            "set minReplicas to 1 or more",
        );
    }
    if let (Some(min), Some(rep)) = (min, rep)
        && min > rep
        && rep >= 0
    {
        r.error(
            &at.field("minReplicas"),
            format!("minReplicas ({min}) must be less than or equal to replicas ({rep})"),
            if rep == 0 {
                format!("raise replicas to at least {min}; replicas cannot be 0")
            } else {
                format!("lower minReplicas to {rep} or raise replicas")
            },
        );
    }
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        r.error(
            &at.field("minReplicas"),
            format!("minReplicas ({min}) must be less than or equal to maxReplicas ({max})"),
            format!("lower minReplicas to {max} or raise maxReplicas"),
        );
    }
}

fn pod_policy(r: &mut Report, at: &FieldPath, pod: &PodPolicy, hpa: bool) {
    let p = at.field("pod");
    if let Some(vpa) = &pod.vpa {
        if hpa {
            r.error(
                &p.field("vpa"),
                "you can not enable HPA and VPA at the same time",
                "remove pod.vpa or maxReplicas",
            );
        }
        let policies = vpa
            .resource_policy
            .as_ref()
            .and_then(|rp| rp.container_policies.as_ref());
        for (i, c) in policies.into_iter().flatten().enumerate() {
            if c.container_name.as_deref().unwrap_or("").is_empty() {
                r.error(
                    &p.field("vpa")
                        .field("resourcePolicy")
                        .field("containerPolicies")
                        .index(i)
                        .field("containerName"),
                    "container name must be specified",
                    "name the container, or * for all",
                );
            }
        }
    }
    let rules = pod.builtin_autoscaler.as_deref().unwrap_or_default();
    let mut seen: BTreeMap<&str, BuiltinHpaRule> = BTreeMap::new();
    for (i, rule) in rules.iter().enumerate() {
        let (resource, _) = rule.target();
        if let Some(first) = seen.insert(resource, *rule) {
            r.error(
                &p.field("builtinAutoscaler").index(i),
                format!("duplicate {resource} autoscaler rule: {rule} after {first}"),
                format!("keep one {resource} rule"),
            );
        }
    }
    let autoscaling = !rules.is_empty()
        || pod
            .auto_scaling_metrics
            .as_ref()
            .is_some_and(|m| !m.is_empty());
    if autoscaling && !hpa {
        r.warn(
            &p.field(if rules.is_empty() {
                "autoScalingMetrics"
            } else {
                "builtinAutoscaler"
            }),
            "autoscaling rules have no effect without maxReplicas",
            "set maxReplicas to turn the autoscaler on",
        );
    }
    if let Some(g) = pod.termination_grace_period_seconds.filter(|g| *g < 0) {
        r.error(
            &p.field("terminationGracePeriodSeconds"),
            format!("must not be negative, got {g}"),
            "use 0 or more seconds",
        );
    }
}

fn resources(r: &mut Report, at: &FieldPath, res: &ResourceRequirements) {
    let mut parsed: BTreeMap<(&str, &str), f64> = BTreeMap::new();
    for (which, list) in [("requests", &res.requests), ("limits", &res.limits)] {
        for (name, q) in list.iter().flatten() {
            let path = at.field(which).field(name);
            match quantity::parse(&q.0) {
                None => r.error(
                    &path,
                    format!("`{}` is not a quantity", q.0),
                    "write a quantity like 500m, 1 or 512Mi",
                ),
                Some(v) if v < 0.0 => r.error(
                    &path,
                    format!("`{}` is negative", q.0),
                    "resources cannot be negative",
                ),
                Some(v) => {
                    parsed.insert((which, name.as_str()), v);
                }
            }
        }
    }
    let names: BTreeSet<&str> = parsed.keys().map(|(_, n)| *n).collect();
    for name in names {
        if let (Some(req), Some(lim)) = (
            parsed.get(&("requests", name)),
            parsed.get(&("limits", name)),
        ) && req > lim
        {
            r.error(
                &at.field("requests").field(name),
                format!("{name} request is greater than its limit"),
                format!("lower requests.{name} or raise limits.{name}"),
            );
        }
    }
}

fn pulsar_messaging(r: &mut Report, at: &FieldPath, p: &PulsarMessaging) {
    if let Some(tls) = p.tls_config.as_ref().filter(|t| t.enabled == Some(true)) {
        let name = tls.cert_secret_name.as_deref().unwrap_or("");
        let key = tls.cert_secret_key.as_deref().unwrap_or("");
        if name.is_empty() != key.is_empty() {
            // Function Mesh silently mounts nothing in this case; say so.
            r.warn(
                &at.field("tlsConfig"),
                "certSecretName and certSecretKey go together; with one of them the trust certificate is not mounted",
                "set both to mount the trust certificate, or neither",
            );
        }
    }
    for (field, auth) in [
        ("authConfig", &p.auth_config),
        ("cleanupAuthConfig", &p.cleanup_auth_config),
    ] {
        let Some(auth) = auth else { continue };
        let ap = at.field(field);
        if auth.oauth2_config.is_some() && auth.generic_auth.is_some() {
            r.error(
                &ap,
                "oauth2Config and genericAuth are exclusive",
                "keep one of them",
            );
        }
        if let Some(o) = &auth.oauth2_config {
            let op = ap.field("oauth2Config");
            for (name, v) in [
                ("audience", &o.audience),
                ("issuerUrl", &o.issuer_url),
                ("keySecretName", &o.key_secret_name),
                ("keySecretKey", &o.key_secret_key),
            ] {
                required(
                    r,
                    &op.field(name),
                    v.as_deref(),
                    &format!("{name} is required for OAuth2"),
                    "see Pulsar's OAuth2 client settings",
                );
            }
        }
        if let Some(g) = &auth.generic_auth {
            let gp = ap.field("genericAuth");
            required(
                r,
                &gp.field("clientAuthenticationPlugin"),
                g.client_authentication_plugin.as_deref(),
                "the auth plugin class is required",
                "name the client authentication plugin class",
            );
            required(
                r,
                &gp.field("clientAuthenticationParameters"),
                g.client_authentication_parameters.as_deref(),
                "the auth parameters are required",
                "give the plugin's parameters",
            );
        }
    }
}

fn consumer(
    r: &mut Report,
    at: &FieldPath,
    c: &ConsumerSpec,
    w: &WorkloadSpec,
    inputs_required: bool,
    output_topic: Option<&str>,
) {
    let guarantee = w.processing_guarantee;
    let effectively_once = guarantee == Some(ProcessingGuarantee::EffectivelyOnce);
    if let Some(t) = c.timeout {
        if t != 0 && effectively_once {
            r.error(
                &at.field("timeout"),
                "message timeout can only be set for the atleast_once processing guarantee",
                "remove timeout or change processingGuarantee",
            );
        }
        if t < 0 {
            r.error(
                &at.field("timeout"),
                format!("timeout must not be negative, got {t}"),
                "use milliseconds, 0 or more",
            );
        }
    }
    let retries = c.max_message_retry.unwrap_or(0);
    if retries > 0 && effectively_once {
        r.error(
            &at.field("maxMessageRetry"),
            "maxMessageRetry and effectively_once are not compatible",
            "remove maxMessageRetry or change processingGuarantee",
        );
    }
    if let Some(dlq) = &c.dead_letter_topic {
        if retries <= 0 {
            r.error(&at.field("maxMessageRetry"), "dead letter topic is set but max message retry is set to infinity", "set maxMessageRetry to the attempts before a message goes to the dead letter topic");
        }
        topic(r, &at.field("deadLetterTopic"), dlq);
    }
    let (ordering, key_ordering) = (
        c.retain_ordering == Some(true),
        c.retain_key_ordering == Some(true),
    );
    if key_ordering && effectively_once {
        r.error(
            &at.field("retainKeyOrdering"),
            "retainKeyOrdering cannot be set with the effectively_once processing guarantee",
            "remove retainKeyOrdering or change processingGuarantee",
        );
    }
    if key_ordering && ordering {
        for field in ["retainKeyOrdering", "retainOrdering"] {
            r.error(
                &at.field(field),
                "only one of retainOrdering or retainKeyOrdering can be set",
                "keep one of them",
            );
        }
    }
    if c.subscription_name.as_deref() == Some("") {
        r.error(
            &at.field("subscriptionName"),
            "subscription name is empty",
            "remove it for the default or name the subscription",
        );
    }
    if let Some(input) = &c.input {
        input_conf(r, &at.field("input"), input, inputs_required, output_topic);
    } else if inputs_required {
        r.error(
            &at.field("input"),
            "no input topic(s) specified",
            "set input.topics or input.topicPattern",
        );
    }
}

fn input_conf(
    r: &mut Report,
    at: &FieldPath,
    input: &InputConf,
    required: bool,
    output_topic: Option<&str>,
) {
    let all = input.all_topics();
    if all.is_empty() && required {
        r.error(
            at,
            "no input topic(s) specified",
            "set input.topics or input.topicPattern",
        );
    }
    let output = output_topic.and_then(|t| TopicParts::parse(t).ok());
    for (field, name) in &all {
        let path = FieldPath::root(&format!("{at}.{field}"));
        if field == "topicPattern"
            || input
                .source_specs
                .as_ref()
                .and_then(|s| s.get(*name))
                .is_some_and(|s| s.is_regex_pattern == Some(true))
        {
            if let Err(e) = TopicPattern::parse(name) {
                r.error(
                    &path,
                    format!("input topic pattern `{name}` is invalid: {e}"),
                    e.hint,
                );
            }
            continue;
        }
        match TopicParts::parse(name) {
            Err(e) => r.error(
                &path,
                format!("input topic `{name}` is invalid: {e}"),
                e.hint,
            ),
            Ok(t) if output == Some(t) => r.error(
                &path,
                format!("topic {t} is both an input and the output"),
                "a function cannot consume its own output; use another topic",
            ),
            Ok(_) => {}
        }
    }
    for (name, spec) in input.source_specs.iter().flatten() {
        let p = at.field("sourceSpecs").key(name);
        if let Some(q) = spec.receiver_queue_size.filter(|q| *q < 0) {
            r.error(
                &p.field("receiverQueueSize"),
                format!("receiver queue size must be 0 or more, got {q}"),
                "remove it for the runtime's default (1000 in Pulsar's instances, 100 in fmesh-runner)",
            );
        }
        if let Some(c) = &spec.crypto_config {
            crypto(r, &p.field("cryptoConfig"), c, false);
        }
    }
}

fn output(r: &mut Report, at: &FieldPath, out: &OutputConf) {
    if let Some(t) = &out.topic {
        topic(r, &at.field("topic"), t);
    }
    if let Some(c) = out
        .producer_conf
        .as_ref()
        .and_then(|p| p.crypto_config.as_ref())
    {
        crypto(r, &at.field("producerConf").field("cryptoConfig"), c, true);
    }
    if let Some(p) = &out.producer_conf {
        for (field, v) in [
            ("maxPendingMessages", p.max_pending_messages),
            (
                "maxPendingMessagesAcrossPartitions",
                p.max_pending_messages_across_partitions,
            ),
        ] {
            if let Some(v) = v.filter(|v| *v < 0) {
                r.error(
                    &at.field("producerConf").field(field),
                    format!("must be 0 or more, got {v}"),
                    "remove it for the default of 1000",
                );
            }
        }
    }
}

fn crypto(r: &mut Report, at: &FieldPath, c: &CryptoConfig, producing: bool) {
    required(
        r,
        &at.field("cryptoKeyReaderClassName"),
        c.crypto_key_reader_class_name.as_deref(),
        "cryptoKeyReader class name required",
        "name the CryptoKeyReader class",
    );
    if producing && c.encryption_keys.as_ref().is_none_or(|k| k.is_empty()) {
        r.error(
            &at.field("encryptionKeys"),
            "must provide encryption key name for crypto key reader",
            "list the encryption key names",
        );
    }
}

fn topic(r: &mut Report, path: &FieldPath, name: &str) {
    if let Err(e) = TopicParts::parse(name) {
        r.error(path, format!("topic `{name}` is invalid: {e}"), e.hint);
    }
}

fn window(r: &mut Report, at: &FieldPath, w: &WindowConfig) {
    match (w.window_length_count, w.window_length_duration_ms) {
        (None, None) => r.error(
            at,
            "window length is not specified",
            "set windowLengthCount or windowLengthDurationMs",
        ),
        (Some(_), Some(_)) => r.error(
            at,
            "window length for time and count are both set",
            "set windowLengthCount or windowLengthDurationMs, not both",
        ),
        _ => {}
    }
    let positive = [
        ("windowLengthCount", w.window_length_count.map(i64::from)),
        ("windowLengthDurationMs", w.window_length_duration_ms),
        (
            "slidingIntervalCount",
            w.sliding_interval_count.map(i64::from),
        ),
        ("slidingIntervalDurationMs", w.sliding_interval_duration_ms),
    ];
    for (field, v) in positive {
        if let Some(v) = v.filter(|v| *v <= 0) {
            r.error(
                &at.field(field),
                format!("must be positive, got {v}"),
                "use 1 or more",
            );
        }
    }
    if w.timestamp_extractor_class_name.is_some() {
        if let Some(v) = w.max_lag_ms.filter(|v| *v < 0) {
            r.error(
                &at.field("maxLagMs"),
                format!("lag duration must not be negative, got {v}"),
                "use 0 or more milliseconds",
            );
        }
        if let Some(v) = w.watermark_emit_interval_ms.filter(|v| *v <= 0) {
            r.error(
                &at.field("watermarkEmitIntervalMs"),
                format!("watermark interval must be positive, got {v}"),
                "use 1 or more milliseconds",
            );
        }
    }
    if let Some(t) = &w.late_data_topic {
        topic(r, &at.field("lateDataTopic"), t);
    }
    if w.actual_window_function_class_name
        .as_deref()
        .is_some_and(str::is_empty)
    {
        r.error(
            &at.field("actualWindowFunctionClassName"),
            "window function class name is empty",
            "name the window function's class",
        );
    }
}
