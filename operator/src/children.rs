//! Everything a Function, Source or Sink owns, as the JSON that is server-side applied, each
//! stamped with the hash of its own content so that an unchanged object is never written.

use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use crate::capabilities::Capabilities;
use crate::config::OperatorConfig;
use crate::workload::Workload;
use crate::{hash, hpa, labels, pdb, service, statefulset, vpa};

/// Which kind of object, in a form that makes an `Api<DynamicObject>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildKind {
    pub api_version: String,
    pub kind: String,
    pub plural: String,
}

impl ChildKind {
    fn new(api_version: &str, kind: &str, plural: &str) -> Self {
        ChildKind {
            api_version: api_version.into(),
            kind: kind.into(),
            plural: plural.into(),
        }
    }

    /// The dynamic API resource.
    pub fn api_resource(&self) -> ApiResource {
        let (group, version) = self
            .api_version
            .split_once('/')
            .unwrap_or(("", &self.api_version));
        ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk(group, version, &self.kind),
            &self.plural,
        )
    }
}

/// One desired object.
#[derive(Clone, Debug, PartialEq)]
pub struct Child {
    pub kind: ChildKind,
    pub name: String,
    /// The full object, with [`labels::APPLIED_HASH`] set.
    pub object: Value,
}

impl Child {
    fn new(kind: ChildKind, mut object: Value) -> Self {
        let h = hash::of_value(&object);
        let meta = object
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .expect("every child has metadata");
        let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
        annotations[labels::APPLIED_HASH] = json!(h);
        let name = meta
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        Child { kind, name, object }
    }

    /// The hash stamped on it.
    pub fn applied_hash(&self) -> &str {
        self.object["metadata"]["annotations"][labels::APPLIED_HASH]
            .as_str()
            .unwrap_or_default()
    }
}

/// What should exist and what should not.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// Objects to apply, in order.
    pub apply: Vec<Child>,
    /// Optional objects that must not exist (an HPA after `maxReplicas` was removed…).
    pub absent: Vec<(ChildKind, String)>,
}

/// The kinds of a workload's children besides its StatefulSet (which has its own cache):
/// Service, HorizontalPodAutoscaler, PodDisruptionBudget, VerticalPodAutoscaler.
pub fn optional_kinds() -> [ChildKind; 4] {
    [
        ChildKind::new("v1", "Service", "services"),
        ChildKind::new(
            hpa::API_VERSION,
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
        ),
        ChildKind::new(
            pdb::API_VERSION,
            "PodDisruptionBudget",
            "poddisruptionbudgets",
        ),
        ChildKind::new(
            "autoscaling.k8s.io/v1",
            "VerticalPodAutoscaler",
            "verticalpodautoscalers",
        ),
    ]
}

/// The StatefulSet kind.
pub fn statefulset_kind() -> ChildKind {
    ChildKind::new("apps/v1", "StatefulSet", "statefulsets")
}

/// Every child of a workload.
pub fn desired(
    w: &Workload,
    cfg: &OperatorConfig,
    caps: &Capabilities,
    config_hash: Option<&str>,
) -> Desired {
    let sts = serde_json::to_value(statefulset::statefulset(w, cfg, config_hash))
        .expect("a StatefulSet serializes");
    let svc = serde_json::to_value(service::service(w)).expect("a Service serializes");
    let [_, hpa_kind, pdb_kind, vpa_kind] = optional_kinds();
    let name = labels::statefulset_name(w.kind, &w.name);
    let mut out = Desired {
        apply: vec![
            Child::new(optional_kinds()[0].clone(), svc),
            Child::new(statefulset_kind(), sts),
            Child::new(pdb_kind, pdb::pdb(w)),
        ],
        absent: Vec::new(),
    };
    match hpa::hpa(w) {
        Some(h) => out.apply.push(Child::new(hpa_kind, h)),
        None => out.absent.push((hpa_kind, name.clone())),
    }
    match vpa::vpa(w, caps) {
        Some(v) => out.apply.push(Child::new(vpa_kind, v)),
        None if caps.vpa => out.absent.push((vpa_kind, name)),
        None => {}
    }
    out
}
