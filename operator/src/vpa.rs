//! The VerticalPodAutoscaler (`autoscaling.k8s.io/v1`), only when the CR asks for one and the
//! VPA CRD is installed.

use serde_json::{Value, json};

use crate::capabilities::Capabilities;
use crate::labels;
use crate::workload::Workload;

/// The desired VPA, or `None`.
pub fn vpa(w: &Workload, caps: &Capabilities) -> Option<Value> {
    if !caps.vpa {
        return None;
    }
    let v = w.spec.pod.as_ref()?.vpa.as_ref()?;
    let mut spec = json!({
        "targetRef": {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "name": labels::statefulset_name(w.kind, &w.name),
        },
    });
    if let Some(u) = &v.update_policy {
        spec["updatePolicy"] = serde_json::to_value(u).expect("serializes");
    }
    if let Some(r) = &v.resource_policy {
        spec["resourcePolicy"] = serde_json::to_value(r).expect("serializes");
    }
    Some(json!({
        "apiVersion": "autoscaling.k8s.io/v1",
        "kind": "VerticalPodAutoscaler",
        "metadata": {
            "name": labels::statefulset_name(w.kind, &w.name),
            "namespace": w.namespace,
            "labels": labels::object_labels(w.kind, &w.name),
            "ownerReferences": [w.owner],
        },
        "spec": spec,
    }))
}
