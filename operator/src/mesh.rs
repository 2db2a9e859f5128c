//! A FunctionMesh's children: one Function, Source or Sink per member, named
//! `<mesh>-<member>`, owned by and labelled with the mesh; and the mesh's view of their state.

use std::collections::BTreeMap;

use fmesh_crds::mesh::MemberStatus;
use fmesh_crds::validate::WorkloadKind;
use fmesh_crds::{FunctionMesh, WorkloadStatus};
use kube::ResourceExt;
use serde::Serialize;
use serde_json::{Value, json};

use crate::labels;
use crate::workload::owner_reference;

/// One child object the mesh wants.
#[derive(Clone, Debug, PartialEq)]
pub struct MeshChild {
    pub kind: WorkloadKind,
    /// The member name (`spec.functions[i].name`).
    pub member: String,
    /// `<mesh>-<member>`.
    pub name: String,
    /// The full object, with [`labels::APPLIED_HASH`] set.
    pub object: Value,
}

/// Why a stored mesh cannot be reconciled (its `InvalidSpec` message), or `None`: the same
/// validation admission applies, bounded by the mesh size limits whatever was stored.
pub fn invalid_spec(m: &FunctionMesh) -> Option<String> {
    let report = fmesh_crds::Resource::FunctionMesh(Box::new(m.clone())).validate();
    (!report.is_valid()).then(|| crate::status::invalid_message(&report))
}

/// The name of a member's child object.
pub fn child_name(mesh: &str, member: &str) -> String {
    format!("{mesh}-{member}")
}

/// Every child the mesh wants, functions first, then sources, then sinks. Members without a
/// name are skipped (validation reports them).
pub fn children(mesh: &FunctionMesh) -> Vec<MeshChild> {
    let mut out = Vec::new();
    for f in mesh.spec.functions.iter().flatten() {
        push(
            &mut out,
            mesh,
            WorkloadKind::Function,
            f.workload.name.as_deref(),
            f,
        );
    }
    for s in mesh.spec.sources.iter().flatten() {
        push(
            &mut out,
            mesh,
            WorkloadKind::Source,
            s.workload.name.as_deref(),
            s,
        );
    }
    for s in mesh.spec.sinks.iter().flatten() {
        push(
            &mut out,
            mesh,
            WorkloadKind::Sink,
            s.workload.name.as_deref(),
            s,
        );
    }
    out
}

fn push<S: Serialize>(
    out: &mut Vec<MeshChild>,
    mesh: &FunctionMesh,
    kind: WorkloadKind,
    member: Option<&str>,
    spec: &S,
) {
    let Some(member) = member.filter(|m| !m.is_empty()) else {
        return;
    };
    let name = child_name(&mesh.name_any(), member);
    let mut object = json!({
        "apiVersion": format!("{}/{}", fmesh_crds::GROUP, fmesh_crds::VERSION),
        "kind": kind.as_str(),
        "metadata": {
            "name": name,
            "namespace": mesh.namespace().unwrap_or_default(),
            "labels": {
                labels::MESH: mesh.name_any(),
                labels::MEMBER: member,
                labels::MANAGED_BY: labels::MANAGER,
            },
            "ownerReferences": [owner_reference(mesh)],
        },
        "spec": serde_json::to_value(spec).expect("a member spec serializes"),
    });
    let h = crate::hash::of_value(&object);
    object["metadata"]["annotations"] = json!({ labels::APPLIED_HASH: h });
    out.push(MeshChild {
        kind,
        member: member.to_string(),
        name,
        object,
    });
}

/// A member's phase from its child's status: `Invalid`, `Running` (Ready), `Degraded`, or
/// `Pending`.
pub fn phase(status: Option<&WorkloadStatus>) -> &'static str {
    let conds = status.and_then(|s| s.conditions.as_ref());
    let find = |t: &str| conds.and_then(|c| c.iter().find(|c| c.type_ == t));
    match (find("Ready"), find("Degraded")) {
        (Some(r), _) if r.reason == "InvalidSpec" => "Invalid",
        (Some(r), _) if r.status == "True" => "Running",
        (_, Some(d)) if d.status == "True" => "Degraded",
        _ => "Pending",
    }
}

/// The mesh's member list, in the mesh's order, from the children found (by child name).
pub fn members(
    wanted: &[MeshChild],
    found: &BTreeMap<String, Option<WorkloadStatus>>,
) -> Vec<MemberStatus> {
    wanted
        .iter()
        .map(|c| {
            let status = found.get(&c.name).and_then(Option::as_ref);
            MemberStatus {
                name: c.member.clone(),
                kind: c.kind.as_str().into(),
                phase: Some(phase(status).into()),
                replicas: status.and_then(|s| s.replicas),
                ready_replicas: status.and_then(|s| s.ready_replicas),
            }
        })
        .collect()
}
