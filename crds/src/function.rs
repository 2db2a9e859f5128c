//! `Function`: a Pulsar Function run as a StatefulSet.

use k8s_openapi::api::apps::v1::StatefulSetPersistentVolumeClaimRetentionPolicy;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::common::{FreeForm, OutputConf, WindowConfig};
use crate::source::BatchSourceConfig;
use crate::workload::{ConsumerSpec, WorkloadSpec, WorkloadStatus};

/// A Pulsar Function: consumes input topics, runs user code, publishes to an output topic.
#[skip_serializing_none]
// kube's `printcolumn(...)` repeats the same keys by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
#[kube(
    group = "compute.functionmesh.io",
    version = "v1alpha1",
    kind = "Function",
    namespaced,
    status = "WorkloadStatus",
    shortname = "fn",
    category = "fmesh",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(name = "Replicas", type_ = "integer", json_path = ".spec.replicas"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
// `Deserialize` without serde's `flatten` buffering: see `crate::decode`.
pub struct FunctionSpec {
    #[serde(flatten)]
    pub workload: WorkloadSpec,
    #[serde(flatten)]
    pub consumer: ConsumerSpec,
    pub output: Option<OutputConf>,
    pub func_config: Option<FreeForm>,
    pub source_config: Option<Box<SourceConnectorSpec>>,
    pub sink_config: Option<Box<SinkConnectorSpec>>,
    pub forward_source_message_property: Option<bool>,
    pub max_pending_async_requests: Option<i32>,
    pub skip_to_latest: Option<bool>,
    pub window_config: Option<Box<WindowConfig>>,
    pub volume_claim_templates: Option<Vec<PersistentVolumeClaim>>,
    pub persistent_volume_claim_retention_policy:
        Option<StatefulSetPersistentVolumeClaimRetentionPolicy>,
}

/// A function's embedded source connector (`sourceConfig` on a Function).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceConnectorSpec {
    pub source_type: Option<String>,
    pub batch_source_config: Option<BatchSourceConfig>,
    pub class_name: Option<String>,
    pub type_class_name: Option<String>,
    pub configs: Option<FreeForm>,
}

/// A function's embedded sink connector (`sinkConfig` on a Function).
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SinkConnectorSpec {
    pub sink_type: Option<String>,
    pub class_name: Option<String>,
    pub type_class_name: Option<String>,
    pub configs: Option<FreeForm>,
}

crate::decode::fields!(FunctionSpec {
    output: "output",
    func_config: "funcConfig",
    source_config: "sourceConfig",
    sink_config: "sinkConfig",
    forward_source_message_property: "forwardSourceMessageProperty",
    max_pending_async_requests: "maxPendingAsyncRequests",
    skip_to_latest: "skipToLatest",
    window_config: "windowConfig",
    volume_claim_templates: "volumeClaimTemplates",
    persistent_volume_claim_retention_policy: "persistentVolumeClaimRetentionPolicy",
} flatten { workload: WorkloadSpec, consumer: ConsumerSpec });
crate::decode::deserialize_by_fields!(FunctionSpec, "struct FunctionSpec");
