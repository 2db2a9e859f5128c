//! Types shared by Function, Source and Sink specs: messaging, runtimes, topics, pod policy.
//!
//! Every field is optional on the wire and keeps its presence (`Option`), so that a user's YAML
//! round-trips unchanged and defaulting can tell "absent" from "written as false/0".

use crate::limits::MAX_MESH_TOPICS;
use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::autoscaling::v2::{HorizontalPodAutoscalerBehavior, MetricSpec};
use k8s_openapi::api::core::v1::{
    Affinity, Container, EnvVar, LocalObjectReference, PodSecurityContext, Probe, Toleration,
    Volume,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

/// Free-form JSON object (`funcConfig`, `sourceConfig`, `sinkConfig`, …): kept as written.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FreeForm(pub serde_json::Map<String, serde_json::Value>);

impl JsonSchema for FreeForm {
    fn schema_name() -> Cow<'static, str> {
        "FreeForm".into()
    }
    fn inline_schema() -> bool {
        true
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": true
        })
    }
}

/// Where messages flow: the Pulsar cluster this workload talks to.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Messaging {
    pub pulsar: Option<PulsarMessaging>,
}

/// A Pulsar cluster reference: a ConfigMap with `webServiceURL`/`brokerServiceURL`, plus auth/TLS.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PulsarMessaging {
    /// Name of the ConfigMap holding `webServiceURL` and `brokerServiceURL`.
    pub pulsar_config: Option<String>,
    /// Secret with `clientAuthenticationPlugin` / `clientAuthenticationParameters`.
    pub auth_secret: Option<String>,
    /// Secret with TLS settings and the trust certificate.
    pub tls_secret: Option<String>,
    pub tls_config: Option<PulsarTlsConfig>,
    pub auth_config: Option<AuthConfig>,
    pub cleanup_auth_config: Option<AuthConfig>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PulsarTlsConfig {
    pub enabled: Option<bool>,
    pub allow_insecure: Option<bool>,
    pub hostname_verification: Option<bool>,
    pub cert_secret_name: Option<String>,
    pub cert_secret_key: Option<String>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuthConfig {
    pub oauth2_config: Option<OAuth2Config>,
    pub generic_auth: Option<GenericAuth>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuth2Config {
    pub audience: Option<String>,
    pub issuer_url: Option<String>,
    pub scope: Option<String>,
    /// Secret holding the OAuth2 private key (credentials file).
    pub key_secret_name: Option<String>,
    pub key_secret_key: Option<String>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GenericAuth {
    pub client_authentication_plugin: Option<String>,
    pub client_authentication_parameters: Option<String>,
}

/// State store of a stateful function (`statefulConfig`).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stateful {
    pub pulsar: Option<PulsarStateStore>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PulsarStateStore {
    pub service_url: Option<String>,
    pub java_provider: Option<PulsarStateStoreJavaProvider>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PulsarStateStoreJavaProvider {
    pub class_name: Option<String>,
    pub config: Option<FreeForm>,
}

/// The one runtime a workload runs on. Function Mesh's four plus fmesh's own (`wasm`, `exec`,
/// `builtin`), whose names cannot collide with Function Mesh's.
// Each boxed: one of seven is set, and inline they were 690 bytes of every spec.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Runtime {
    pub java: Option<Box<JavaRuntime>>,
    pub python: Option<Box<PythonRuntime>>,
    pub golang: Option<Box<GoRuntime>>,
    pub generic_runtime: Option<Box<GenericRuntime>>,
    /// fmesh: a WebAssembly module run by `fmesh-runner`.
    pub wasm: Option<Box<WasmRuntime>>,
    /// fmesh: any program speaking the runner's length-prefixed stdio protocol.
    pub exec: Option<Box<ExecRuntime>>,
    /// fmesh: a function or connector compiled into `fmesh-runner` (identity, datagen, …).
    pub builtin: Option<Box<BuiltinRuntime>>,
}

/// Which runtime a spec selected; `Runtime::kinds` lists every one set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuntimeKind {
    Java,
    Python,
    Golang,
    Generic,
    Wasm,
    Exec,
    Builtin,
}

impl RuntimeKind {
    /// The field name under `spec`.
    pub fn field(self) -> &'static str {
        match self {
            RuntimeKind::Java => "java",
            RuntimeKind::Python => "python",
            RuntimeKind::Golang => "golang",
            RuntimeKind::Generic => "genericRuntime",
            RuntimeKind::Wasm => "wasm",
            RuntimeKind::Exec => "exec",
            RuntimeKind::Builtin => "builtin",
        }
    }

    /// Runtimes executed by `fmesh-runner` rather than Pulsar's instance mains.
    pub fn is_fmesh_native(self) -> bool {
        matches!(
            self,
            RuntimeKind::Wasm | RuntimeKind::Exec | RuntimeKind::Builtin
        )
    }
}

impl Runtime {
    /// Every runtime that is set, in field order.
    pub fn kinds(&self) -> Vec<RuntimeKind> {
        let set = [
            (self.java.is_some(), RuntimeKind::Java),
            (self.python.is_some(), RuntimeKind::Python),
            (self.golang.is_some(), RuntimeKind::Golang),
            (self.generic_runtime.is_some(), RuntimeKind::Generic),
            (self.wasm.is_some(), RuntimeKind::Wasm),
            (self.exec.is_some(), RuntimeKind::Exec),
            (self.builtin.is_some(), RuntimeKind::Builtin),
        ];
        set.into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, k)| k)
            .collect()
    }

    /// The single runtime, when exactly one is set.
    pub fn kind(&self) -> Option<RuntimeKind> {
        match self.kinds().as_slice() {
            [one] => Some(*one),
            _ => None,
        }
    }
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct JavaRuntime {
    pub jar: Option<String>,
    pub jar_location: Option<String>,
    pub extra_dependencies_dir: Option<String>,
    pub log: Option<RuntimeLogConfig>,
    /// JVM options. Each item is split at whitespace into options, as Function Mesh does
    /// (`"-Xmx1g -Dk=v"` is two); nothing else is interpreted: quotes, `$` and globs reach
    /// the JVM as written.
    pub java_opts: Option<Vec<String>>,
    pub instance_path: Option<String>,
    pub entry_class: Option<String>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PythonRuntime {
    pub py: Option<String>,
    pub py_location: Option<String>,
    pub log: Option<RuntimeLogConfig>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GoRuntime {
    pub go: Option<String>,
    pub go_location: Option<String>,
    pub log: Option<RuntimeLogConfig>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GenericRuntime {
    pub function_file: Option<String>,
    pub language: Option<String>,
    pub function_file_location: Option<String>,
}

/// fmesh: a WebAssembly module exporting the runner's ABI.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WasmRuntime {
    /// Path of the module inside the pod (after download, if `moduleLocation` is set).
    pub module: Option<String>,
    /// Where to fetch the module: `function://tenant/ns/name@version`, `http(s)://…`.
    pub module_location: Option<String>,
    /// Exported processing function; `process` when absent.
    pub export: Option<String>,
    /// Fuel allowed per message before the call is cut off.
    pub fuel_per_message: Option<u64>,
    /// Linear-memory cap, as a Kubernetes quantity (`64Mi`).
    pub max_memory: Option<Quantity>,
}

/// fmesh: a program run as a child of the runner, speaking its stdio frame protocol.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecRuntime {
    pub command: Option<Vec<String>>,
    pub args: Option<Vec<String>>,
    pub working_dir: Option<String>,
}

/// fmesh: a function or connector compiled into the runner.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BuiltinRuntime {
    /// Catalogue name: `identity`, `datagen`, `http`, `postgres`, `log`, …
    pub name: Option<String>,
}

/// A secret reference in `secretsMap`: Secret name (`path`) and key.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    pub path: Option<String>,
    pub key: Option<String>,
}

/// What a function or sink consumes.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InputConf {
    pub type_class_name: Option<String>,
    #[schemars(length(max = MAX_MESH_TOPICS))]
    pub topics: Option<Vec<String>>,
    pub topic_pattern: Option<String>,
    #[schemars(extend("maxProperties" = MAX_MESH_TOPICS))]
    pub custom_serde_sources: Option<BTreeMap<String, String>>,
    #[schemars(extend("maxProperties" = MAX_MESH_TOPICS))]
    pub custom_schema_sources: Option<BTreeMap<String, String>>,
    #[schemars(extend("maxProperties" = MAX_MESH_TOPICS))]
    pub source_specs: Option<BTreeMap<String, ConsumerConfig>>,
}

impl InputConf {
    /// Every input topic or pattern named anywhere in the input, with its field path below
    /// `input`, in the order Function Mesh collects them.
    pub fn all_topics(&self) -> Vec<(String, &str)> {
        let mut all = Vec::new();
        for (i, t) in self.topics.iter().flatten().enumerate() {
            all.push((format!("topics[{i}]"), t.as_str()));
        }
        if let Some(p) = &self.topic_pattern {
            all.push(("topicPattern".to_string(), p.as_str()));
        }
        let maps = [
            (
                "customSerdeSources",
                self.custom_serde_sources
                    .as_ref()
                    .map(|m| m.keys().collect::<Vec<_>>()),
            ),
            (
                "customSchemaSources",
                self.custom_schema_sources
                    .as_ref()
                    .map(|m| m.keys().collect()),
            ),
            (
                "sourceSpecs",
                self.source_specs.as_ref().map(|m| m.keys().collect()),
            ),
        ];
        for (field, keys) in maps {
            for k in keys.into_iter().flatten() {
                all.push((format!("{field}[{k}]"), k.as_str()));
            }
        }
        all
    }
}

/// Per-topic consumer settings (`input.sourceSpecs[topic]`).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerConfig {
    pub schema_type: Option<String>,
    #[serde(rename = "serdeClassname")]
    pub serde_class_name: Option<String>,
    pub is_regex_pattern: Option<bool>,
    pub schema_properties: Option<BTreeMap<String, String>>,
    pub consumer_properties: Option<BTreeMap<String, String>>,
    pub receiver_queue_size: Option<i32>,
    pub crypto_config: Option<CryptoConfig>,
}

/// What a function or source produces.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutputConf {
    pub type_class_name: Option<String>,
    pub topic: Option<String>,
    pub sink_serde_class_name: Option<String>,
    pub sink_schema_type: Option<String>,
    pub producer_conf: Option<ProducerConfig>,
    pub custom_schema_sinks: Option<BTreeMap<String, String>>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProducerConfig {
    pub max_pending_messages: Option<i32>,
    pub max_pending_messages_across_partitions: Option<i32>,
    pub use_thread_local_producers: Option<bool>,
    pub crypto_config: Option<CryptoConfig>,
    pub batch_builder: Option<String>,
    pub compression_type: Option<CompressionType>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CryptoConfig {
    pub crypto_key_reader_class_name: Option<String>,
    pub crypto_key_reader_config: Option<BTreeMap<String, String>>,
    pub encryption_keys: Option<Vec<String>>,
    pub producer_crypto_failure_action: Option<String>,
    pub consumer_crypto_failure_action: Option<String>,
    pub crypto_secrets: Option<Vec<CryptoSecret>>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CryptoSecret {
    pub secret_name: Option<String>,
    pub secret_key: Option<String>,
    pub as_volume: Option<String>,
}

/// Defines a string enum with its wire names, `as_str` and `ALL` (for hints).
macro_rules! wire_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant),+
        }
        impl $name {
            /// Every value, as written in YAML.
            pub const ALL: &'static [&'static str] = &[$($wire),+];
            /// The value as written in YAML.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// Pulsar Functions' processing guarantees.
    ProcessingGuarantee {
        AtleastOnce = "atleast_once",
        AtmostOnce = "atmost_once",
        EffectivelyOnce = "effectively_once",
        Manual = "manual",
    }
);
wire_enum!(
    /// Where a new subscription starts.
    SubscriptionPosition { Latest = "latest", Earliest = "earliest" }
);
wire_enum!(
    /// Who publishes logs to `logTopic`.
    LogTopicAgent { Runtime = "runtime", Sidecar = "sidecar" }
);
wire_enum!(
    CompressionType { None = "NONE", Lz4 = "LZ4", Zlib = "ZLIB", Zstd = "ZSTD", Snappy = "SNAPPY" }
);
wire_enum!(
    LogLevel {
        Off = "off", Trace = "trace", Debug = "debug", Info = "info", Warn = "warn",
        Error = "error", Fatal = "fatal", All = "all", Panic = "panic",
    }
);
wire_enum!(
    TriggeringPolicy {
        TimedPolicyWithDaily = "TimedPolicyWithDaily",
        TimedPolicyWithWeekly = "TimedPolicyWithWeekly",
        TimedPolicyWithMonthly = "TimedPolicyWithMonthly",
        SizedPolicyWith10Mb = "SizedPolicyWith10MB",
        SizedPolicyWith50Mb = "SizedPolicyWith50MB",
        SizedPolicyWith100Mb = "SizedPolicyWith100MB",
    }
);
wire_enum!(LogFormat { Json = "json", Text = "text" });
wire_enum!(JavaLog4JConfigFileType { Xml = "xml", Yaml = "yaml", Ini = "ini" });
wire_enum!(
    WindowProcessingGuarantee { AtleastOnce = "ATLEAST_ONCE", AtmostOnce = "ATMOST_ONCE" }
);
wire_enum!(
    /// Function Mesh's built-in autoscaling rules (`pod.builtinAutoscaler`).
    BuiltinHpaRule {
        AverageUtilizationCpuPercent80 = "AverageUtilizationCPUPercent80",
        AverageUtilizationCpuPercent50 = "AverageUtilizationCPUPercent50",
        AverageUtilizationCpuPercent20 = "AverageUtilizationCPUPercent20",
        AverageUtilizationMemoryPercent80 = "AverageUtilizationMemoryPercent80",
        AverageUtilizationMemoryPercent50 = "AverageUtilizationMemoryPercent50",
        AverageUtilizationMemoryPercent20 = "AverageUtilizationMemoryPercent20",
    }
);

impl BuiltinHpaRule {
    /// The resource the rule scales on and its target utilisation in percent.
    pub fn target(self) -> (&'static str, i32) {
        match self {
            Self::AverageUtilizationCpuPercent80 => ("cpu", 80),
            Self::AverageUtilizationCpuPercent50 => ("cpu", 50),
            Self::AverageUtilizationCpuPercent20 => ("cpu", 20),
            Self::AverageUtilizationMemoryPercent80 => ("memory", 80),
            Self::AverageUtilizationMemoryPercent50 => ("memory", 50),
            Self::AverageUtilizationMemoryPercent20 => ("memory", 20),
        }
    }
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeLogConfig {
    pub level: Option<LogLevel>,
    pub rotate_policy: Option<TriggeringPolicy>,
    pub format: Option<LogFormat>,
    pub log_config: Option<LogConfig>,
    #[serde(rename = "javaLog4JConfigFileType")]
    pub java_log4j_config_file_type: Option<JavaLog4JConfigFileType>,
}

/// A ConfigMap (name + key) holding a runtime log configuration.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogConfig {
    pub name: Option<String>,
    pub key: Option<String>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WindowConfig {
    pub actual_window_function_class_name: Option<String>,
    pub window_length_count: Option<i32>,
    pub window_length_duration_ms: Option<i64>,
    pub sliding_interval_count: Option<i32>,
    pub sliding_interval_duration_ms: Option<i64>,
    pub late_data_topic: Option<String>,
    pub max_lag_ms: Option<i64>,
    pub watermark_emit_interval_ms: Option<i64>,
    pub timestamp_extractor_class_name: Option<String>,
    pub processing_guarantees: Option<WindowProcessingGuarantee>,
}

/// Pod-level policy carried onto the StatefulSet's pod template.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodPolicy {
    pub labels: Option<BTreeMap<String, String>>,
    pub node_selector: Option<BTreeMap<String, String>>,
    pub affinity: Option<Affinity>,
    pub tolerations: Option<Vec<Toleration>>,
    pub annotations: Option<BTreeMap<String, String>>,
    pub security_context: Option<PodSecurityContext>,
    pub termination_grace_period_seconds: Option<i64>,
    pub volumes: Option<Vec<Volume>>,
    pub image_pull_secrets: Option<Vec<LocalObjectReference>>,
    pub init_containers: Option<Vec<Container>>,
    pub sidecars: Option<Vec<Container>>,
    pub service_account_name: Option<String>,
    pub builtin_autoscaler: Option<Vec<BuiltinHpaRule>>,
    pub auto_scaling_metrics: Option<Vec<MetricSpec>>,
    pub auto_scaling_behavior: Option<HorizontalPodAutoscalerBehavior>,
    pub vpa: Option<VpaSpec>,
    pub env: Option<Vec<EnvVar>>,
    pub liveness: Option<Liveness>,
    pub startup_probe: Option<Probe>,
    pub disable_default_affinity: Option<bool>,
}

/// Liveness probe tuning; the probe itself is generated by the operator.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Liveness {
    pub period_seconds: Option<i32>,
    pub initial_delay_seconds: Option<i32>,
    pub success_threshold: Option<i32>,
    pub failure_threshold: Option<i32>,
}

/// Vertical Pod Autoscaler settings (autoscaling.k8s.io/v1 shapes, which k8s-openapi lacks).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VpaSpec {
    pub update_policy: Option<VpaUpdatePolicy>,
    pub resource_policy: Option<VpaResourcePolicy>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VpaUpdatePolicy {
    pub update_mode: Option<String>,
    pub min_replicas: Option<i32>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VpaResourcePolicy {
    pub container_policies: Option<Vec<VpaContainerResourcePolicy>>,
}

#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VpaContainerResourcePolicy {
    pub container_name: Option<String>,
    pub mode: Option<String>,
    pub min_allowed: Option<BTreeMap<String, Quantity>>,
    pub max_allowed: Option<BTreeMap<String, Quantity>>,
    pub controlled_resources: Option<Vec<String>>,
    pub controlled_values: Option<String>,
}
