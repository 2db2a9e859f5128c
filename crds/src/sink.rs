//! `Sink`: a Pulsar IO sink connector run as a StatefulSet.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::Serialize;
use serde_with::skip_serializing_none;

use crate::common::FreeForm;
use crate::workload::{ConsumerSpec, WorkloadSpec, WorkloadStatus};

/// A sink connector: consumes input topics and writes to an external system.
#[skip_serializing_none]
// kube's `printcolumn(...)` repeats the same keys by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
#[kube(
    group = "compute.functionmesh.io",
    version = "v1alpha1",
    kind = "Sink",
    namespaced,
    status = "WorkloadStatus",
    shortname = "snk",
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
pub struct SinkSpec {
    #[serde(flatten)]
    pub workload: WorkloadSpec,
    #[serde(flatten)]
    pub consumer: ConsumerSpec,
    /// Builtin connector type (Pulsar's `--sink-type`).
    pub sink_type: Option<String>,
    pub sink_config: Option<FreeForm>,
    pub negative_ack_redelivery_delay_ms: Option<i32>,
}

crate::decode::fields!(SinkSpec {
    sink_type: "sinkType",
    sink_config: "sinkConfig",
    negative_ack_redelivery_delay_ms: "negativeAckRedeliveryDelayMs",
} flatten { workload: WorkloadSpec, consumer: ConsumerSpec });
crate::decode::deserialize_by_fields!(SinkSpec, "struct SinkSpec");
