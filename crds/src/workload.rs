//! Fields shared by Function, Source and Sink (flattened into each spec), and their status.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceRequirements, VolumeMount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::common::{
    InputConf, LogTopicAgent, Messaging, PodPolicy, ProcessingGuarantee, PulsarMessaging, Runtime,
    SecretRef, Stateful, SubscriptionPosition,
};

/// What every Function, Source and Sink declares: identity in Pulsar, scale, runtime, pod.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSpec {
    /// The Pulsar Functions name; the object name when absent. In a mesh, the member name.
    pub name: Option<String>,
    pub class_name: Option<String>,
    pub tenant: Option<String>,
    pub namespace: Option<String>,
    pub cluster_name: Option<String>,
    pub replicas: Option<i32>,
    pub show_precise_parallelism: Option<bool>,
    pub min_replicas: Option<i32>,
    /// Setting it turns autoscaling on.
    pub max_replicas: Option<i32>,
    pub downloader_image: Option<String>,
    pub cleanup_image: Option<String>,
    pub log_topic: Option<String>,
    pub log_topic_agent: Option<LogTopicAgent>,
    pub filebeat_image: Option<String>,
    pub resources: Option<ResourceRequirements>,
    pub secrets_map: Option<BTreeMap<String, SecretRef>>,
    pub volume_mounts: Option<Vec<VolumeMount>>,
    pub processing_guarantee: Option<ProcessingGuarantee>,
    pub runtime_flags: Option<String>,
    // Boxed, like the other large parts most specs leave unset: an inline `PodPolicy` was
    // 1.5 KB of every member of a mesh, moved and copied at each step of decoding it.
    pub pod: Option<Box<PodPolicy>>,
    #[serde(flatten)]
    pub messaging: Messaging,
    pub pulsar_package_service: Option<Box<PulsarMessaging>>,
    #[serde(flatten)]
    pub runtime: Runtime,
    pub image: Option<String>,
    pub image_pull_policy: Option<String>,
    pub image_has_pulsarctl: Option<bool>,
    /// Function Mesh spells it `imageHasGet`.
    #[serde(rename = "imageHasGet")]
    pub image_has_wget: Option<bool>,
    #[serde(rename = "statefulConfig")]
    pub state_config: Option<Stateful>,
}

/// What Functions and Sinks declare about consuming their inputs.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerSpec {
    pub input: Option<InputConf>,
    pub timeout: Option<i32>,
    pub auto_ack: Option<bool>,
    pub max_message_retry: Option<i32>,
    pub retain_ordering: Option<bool>,
    pub retain_key_ordering: Option<bool>,
    pub dead_letter_topic: Option<String>,
    pub subscription_name: Option<String>,
    pub cleanup_subscription: Option<bool>,
    pub subscription_position: Option<SubscriptionPosition>,
}

/// Observed state of a Function, Source or Sink, in the shape the scale subresource reads.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadStatus {
    /// `Ready`, `Progressing`, `Degraded`, following Kubernetes API conventions.
    pub conditions: Option<Vec<Condition>>,
    pub replicas: Option<i32>,
    pub ready_replicas: Option<i32>,
    /// Label selector of the pods, for `kubectl scale` and the HPA.
    pub selector: Option<String>,
    pub observed_generation: Option<i64>,
    pub global_backend_config_revision: Option<String>,
    pub namespaced_backend_config_revision: Option<String>,
}

crate::decode::fields!(WorkloadSpec {
    name: "name",
    class_name: "className",
    tenant: "tenant",
    namespace: "namespace",
    cluster_name: "clusterName",
    replicas: "replicas",
    show_precise_parallelism: "showPreciseParallelism",
    min_replicas: "minReplicas",
    max_replicas: "maxReplicas",
    downloader_image: "downloaderImage",
    cleanup_image: "cleanupImage",
    log_topic: "logTopic",
    log_topic_agent: "logTopicAgent",
    filebeat_image: "filebeatImage",
    resources: "resources",
    secrets_map: "secretsMap",
    volume_mounts: "volumeMounts",
    processing_guarantee: "processingGuarantee",
    runtime_flags: "runtimeFlags",
    pod: "pod",
    pulsar_package_service: "pulsarPackageService",
    image: "image",
    image_pull_policy: "imagePullPolicy",
    image_has_pulsarctl: "imageHasPulsarctl",
    image_has_wget: "imageHasGet",
    state_config: "statefulConfig",
} flatten { messaging: Messaging, runtime: Runtime });

crate::decode::fields!(ConsumerSpec {
    input: "input",
    timeout: "timeout",
    auto_ack: "autoAck",
    max_message_retry: "maxMessageRetry",
    retain_ordering: "retainOrdering",
    retain_key_ordering: "retainKeyOrdering",
    dead_letter_topic: "deadLetterTopic",
    subscription_name: "subscriptionName",
    cleanup_subscription: "cleanupSubscription",
    subscription_position: "subscriptionPosition",
});

crate::decode::fields!(Messaging { pulsar: "pulsar" });

crate::decode::fields!(Runtime {
    java: "java",
    python: "python",
    golang: "golang",
    generic_runtime: "genericRuntime",
    wasm: "wasm",
    exec: "exec",
    builtin: "builtin",
});
