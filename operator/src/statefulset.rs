//! The StatefulSet: one pod per instance, the ordinal being the instance id.

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use crate::config::OperatorConfig;
use crate::labels;
use crate::pod;
use crate::workload::Workload;

/// The desired StatefulSet. Replicas always follow `spec.replicas` (the HPA, when asked for,
/// scales the CR through its scale subresource, as Function Mesh's does).
pub fn statefulset(w: &Workload, cfg: &OperatorConfig, config_hash: Option<&str>) -> StatefulSet {
    let function = w.function.as_ref();
    StatefulSet {
        metadata: ObjectMeta {
            name: Some(labels::statefulset_name(w.kind, &w.name)),
            namespace: Some(w.namespace.clone()),
            labels: Some(labels::object_labels(w.kind, &w.name)),
            owner_references: Some(vec![w.owner.clone()]),
            ..ObjectMeta::default()
        },
        spec: Some(StatefulSetSpec {
            replicas: Some(w.replicas()),
            selector: LabelSelector {
                match_labels: Some(labels::selector(w.kind, &w.name)),
                ..LabelSelector::default()
            },
            service_name: Some(labels::service_name(w.kind, &w.name)),
            pod_management_policy: Some("Parallel".into()),
            template: pod::template(w, cfg, config_hash),
            volume_claim_templates: function.and_then(|f| f.volume_claim_templates.clone()),
            persistent_volume_claim_retention_policy: function
                .and_then(|f| f.persistent_volume_claim_retention_policy.clone()),
            ..StatefulSetSpec::default()
        }),
        status: None,
    }
}
