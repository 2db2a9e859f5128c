//! `BackendConfig`: cluster- or namespace-wide env and pod policy merged into every workload.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_with::skip_serializing_none;

use crate::common::PodPolicy;

/// Defaults the operator merges into workloads: env vars and pod policy.
#[skip_serializing_none]
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "compute.functionmesh.io",
    version = "v1alpha1",
    kind = "BackendConfig",
    namespaced,
    shortname = "fmbc",
    category = "fmesh"
)]
#[serde(rename_all = "camelCase")]
pub struct BackendConfigSpec {
    pub name: Option<String>,
    pub env: Option<BTreeMap<String, String>>,
    pub pod: Option<PodPolicy>,
    pub auto_update: Option<bool>,
}
