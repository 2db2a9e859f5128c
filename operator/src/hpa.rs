//! The HorizontalPodAutoscaler, when `maxReplicas` asks for autoscaling. It scales the CR
//! through its scale subresource (so `spec.replicas` stays the one truth).

use fmesh_crds::common::BuiltinHpaRule;
use serde_json::{Value, json};

use crate::labels;
use crate::workload::Workload;

/// The HPA API version.
pub const API_VERSION: &str = "autoscaling/v2";

/// The desired HPA, or `None` without `maxReplicas`.
pub fn hpa(w: &Workload) -> Option<Value> {
    let max = w.spec.max_replicas?;
    let policy = w.spec.pod.clone().unwrap_or_default();
    let mut metrics: Vec<Value> = policy
        .builtin_autoscaler
        .iter()
        .flatten()
        .map(|rule| builtin_metric(*rule))
        .collect();
    for m in policy.auto_scaling_metrics.iter().flatten() {
        metrics.push(serde_json::to_value(m).expect("a MetricSpec serializes"));
    }
    if metrics.is_empty() {
        metrics.push(builtin_metric(
            BuiltinHpaRule::AverageUtilizationCpuPercent80,
        ));
    }
    let mut spec = json!({
        "scaleTargetRef": {
            "apiVersion": w.owner.api_version,
            "kind": w.owner.kind,
            "name": w.name,
        },
        "minReplicas": w.spec.min_replicas.unwrap_or(1),
        "maxReplicas": max,
        "metrics": metrics,
    });
    if let Some(b) = &policy.auto_scaling_behavior {
        spec["behavior"] = serde_json::to_value(b).expect("a behavior serializes");
    }
    Some(json!({
        "apiVersion": API_VERSION,
        "kind": "HorizontalPodAutoscaler",
        "metadata": {
            "name": labels::statefulset_name(w.kind, &w.name),
            "namespace": w.namespace,
            "labels": labels::object_labels(w.kind, &w.name),
            "ownerReferences": [w.owner],
        },
        "spec": spec,
    }))
}

fn builtin_metric(rule: BuiltinHpaRule) -> Value {
    let (resource, percent) = rule.target();
    json!({
        "type": "Resource",
        "resource": {
            "name": resource,
            "target": {"type": "Utilization", "averageUtilization": percent},
        },
    })
}
