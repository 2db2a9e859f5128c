//! The PodDisruptionBudget: at most one instance voluntarily disrupted at a time.

use serde_json::{Value, json};

use crate::labels;
use crate::workload::Workload;

/// The PDB API version.
pub const API_VERSION: &str = "policy/v1";

/// The desired PDB.
pub fn pdb(w: &Workload) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": "PodDisruptionBudget",
        "metadata": {
            "name": labels::statefulset_name(w.kind, &w.name),
            "namespace": w.namespace,
            "labels": labels::object_labels(w.kind, &w.name),
            "ownerReferences": [w.owner],
        },
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": labels::selector(w.kind, &w.name)},
        },
    })
}
