//! `fmesh render`: the exact objects the operator would apply for some CRs, from the same
//! builders, offline (no cluster: [`Capabilities::latest`] versions, no ConfigMap/Secret hash).

use fmesh_crds::{Function, FunctionMesh, Resource, Sink, Source};
use serde_json::Value;

use crate::capabilities::Capabilities;
use crate::children;
use crate::config::OperatorConfig;
use crate::mesh;
use crate::workload::Workload;

/// The objects for one CR, in apply order. A FunctionMesh yields its child CRs, each followed
/// by the objects the child would get. BackendConfig yields nothing. Objects carry the
/// `applied-hash` annotation the operator compares; owner references carry the CR's uid, empty
/// for a CR that was never stored.
pub fn render(resource: &Resource, cfg: &OperatorConfig) -> Vec<Value> {
    render_with(resource, cfg, &Capabilities::latest())
}

/// [`render`] for a given API server's capabilities (e.g. one serving the VPA).
pub fn render_with(resource: &Resource, cfg: &OperatorConfig, caps: &Capabilities) -> Vec<Value> {
    match resource {
        Resource::Function(f) => workload(&Workload::of(f.as_ref()), cfg, caps),
        Resource::Source(s) => workload(&Workload::of(s.as_ref()), cfg, caps),
        Resource::Sink(s) => workload(&Workload::of(s.as_ref()), cfg, caps),
        Resource::FunctionMesh(m) => mesh_objects(m, cfg, caps),
        Resource::BackendConfig(_) => Vec::new(),
    }
}

fn workload(w: &Workload, cfg: &OperatorConfig, caps: &Capabilities) -> Vec<Value> {
    children::desired(w, cfg, caps, None)
        .apply
        .into_iter()
        .map(|c| c.object)
        .collect()
}

fn mesh_objects(m: &FunctionMesh, cfg: &OperatorConfig, caps: &Capabilities) -> Vec<Value> {
    let mut out = Vec::new();
    for child in mesh::children(m) {
        let w = match child.kind {
            fmesh_crds::validate::WorkloadKind::Function => {
                serde_json::from_value::<Function>(child.object.clone())
                    .ok()
                    .map(|o| Workload::of(&o))
            }
            fmesh_crds::validate::WorkloadKind::Source => {
                serde_json::from_value::<Source>(child.object.clone())
                    .ok()
                    .map(|o| Workload::of(&o))
            }
            fmesh_crds::validate::WorkloadKind::Sink => {
                serde_json::from_value::<Sink>(child.object.clone())
                    .ok()
                    .map(|o| Workload::of(&o))
            }
        };
        out.push(child.object);
        if let Some(w) = w {
            out.extend(workload(&w, cfg, caps));
        }
    }
    out
}
