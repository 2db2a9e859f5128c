//! `FunctionMesh`: a graph of Functions, Sources and Sinks deployed and removed together.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::function::FunctionSpec;
use crate::limits::MAX_MESH_MEMBERS;
use crate::sink::SinkSpec;
use crate::source::SourceSpec;

/// A mesh: members connected by the topics they name. Each member's `name` is its member name.
#[skip_serializing_none]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "compute.functionmesh.io",
    version = "v1alpha1",
    kind = "FunctionMesh",
    namespaced,
    status = "FunctionMeshStatus",
    shortname = "fm",
    category = "fmesh",
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
pub struct FunctionMeshSpec {
    /// At most [`MAX_MESH_MEMBERS`] members in all three lists together.
    #[schemars(length(max = MAX_MESH_MEMBERS))]
    pub sources: Option<Vec<SourceSpec>>,
    #[schemars(length(max = MAX_MESH_MEMBERS))]
    pub sinks: Option<Vec<SinkSpec>>,
    #[schemars(length(max = MAX_MESH_MEMBERS))]
    pub functions: Option<Vec<FunctionSpec>>,
}

/// The mesh's aggregate of its members' state.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FunctionMeshStatus {
    pub conditions: Option<Vec<Condition>>,
    pub members: Option<Vec<MemberStatus>>,
    pub observed_generation: Option<i64>,
}

/// One member's state, as its child object reports it.
#[skip_serializing_none]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatus {
    pub name: String,
    /// `Function`, `Source` or `Sink`.
    pub kind: String,
    /// `Pending`, `Running`, `Degraded` or `Invalid`.
    pub phase: Option<String>,
    pub replicas: Option<i32>,
    pub ready_replicas: Option<i32>,
}
