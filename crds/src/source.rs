//! `Source`: a Pulsar IO source connector run as a StatefulSet.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::common::{FreeForm, OutputConf};
use crate::workload::{WorkloadSpec, WorkloadStatus};

/// A source connector: reads an external system and publishes to an output topic.
#[skip_serializing_none]
// kube's `printcolumn(...)` repeats the same keys by design.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
#[kube(
    group = "compute.functionmesh.io",
    version = "v1alpha1",
    kind = "Source",
    namespaced,
    status = "WorkloadStatus",
    shortname = "src",
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
pub struct SourceSpec {
    #[serde(flatten)]
    pub workload: WorkloadSpec,
    /// Builtin connector type (Pulsar's `--source-type`).
    pub source_type: Option<String>,
    pub output: Option<OutputConf>,
    pub batch_source_config: Option<BatchSourceConfig>,
    pub source_config: Option<FreeForm>,
    pub forward_source_message_property: Option<bool>,
}

/// Batch source discovery settings.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchSourceConfig {
    pub discovery_triggerer_class_name: Option<String>,
    pub discovery_triggerer_config: Option<FreeForm>,
}

crate::decode::fields!(SourceSpec {
    source_type: "sourceType",
    output: "output",
    batch_source_config: "batchSourceConfig",
    source_config: "sourceConfig",
    forward_source_message_property: "forwardSourceMessageProperty",
} flatten { workload: WorkloadSpec });
crate::decode::deserialize_by_fields!(SourceSpec, "struct SourceSpec");
