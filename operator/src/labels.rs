//! Names, labels and annotations the operator puts on what it creates.

use std::collections::BTreeMap;

use fmesh_crds::validate::WorkloadKind;

/// The server-side-apply field manager of every write.
pub const MANAGER: &str = "fmesh-operator";
/// `function`, `source` or `sink`.
pub const COMPONENT: &str = "compute.functionmesh.io/component";
/// The owning CR's name.
pub const NAME: &str = "compute.functionmesh.io/name";
/// On a mesh's children: the mesh's name.
pub const MESH: &str = "compute.functionmesh.io/mesh";
/// On a mesh's children: the member name.
pub const MEMBER: &str = "compute.functionmesh.io/member";
/// Standard label marking what this operator manages.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Hash of the object as last applied; equal hash → nothing to write.
pub const APPLIED_HASH: &str = "compute.functionmesh.io/applied-hash";
/// Hash of referenced ConfigMaps and Secrets on the pod template: changing them rolls the pods.
pub const CONFIG_HASH: &str = "compute.functionmesh.io/config-hash";
/// Finalizer present only while a subscription must be cleaned up at deletion.
pub const FINALIZER: &str = "compute.functionmesh.io/cleanup-subscription";

/// Lowercase component name, as Function Mesh spells it in object names.
pub fn component(kind: WorkloadKind) -> &'static str {
    match kind {
        WorkloadKind::Function => "function",
        WorkloadKind::Source => "source",
        WorkloadKind::Sink => "sink",
    }
}

/// The StatefulSet's name: `<name>-<component>`, as Function Mesh names it.
pub fn statefulset_name(kind: WorkloadKind, name: &str) -> String {
    format!("{name}-{}", component(kind))
}

/// The headless Service's name.
pub fn service_name(kind: WorkloadKind, name: &str) -> String {
    format!("{}-headless", statefulset_name(kind, name))
}

/// Labels that select a workload's pods (stable for its lifetime: StatefulSet selectors are
/// immutable).
pub fn selector(kind: WorkloadKind, name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (COMPONENT.to_string(), component(kind).to_string()),
        (NAME.to_string(), name.to_string()),
    ])
}

/// The selector as a label-selector string (for `status.selector`).
pub fn selector_string(kind: WorkloadKind, name: &str) -> String {
    selector(kind, name)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Labels on every object the operator creates for a workload.
pub fn object_labels(kind: WorkloadKind, name: &str) -> BTreeMap<String, String> {
    let mut l = selector(kind, name);
    l.insert(MANAGED_BY.to_string(), MANAGER.to_string());
    l
}
