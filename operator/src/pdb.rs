//! The PodDisruptionBudget: at most one instance voluntarily disrupted at a time. JSON, for
//! `policy/v1` or `policy/v1beta1` alike (the same shape here).

use serde_json::{Value, json};

use crate::capabilities::Capabilities;
use crate::labels;
use crate::workload::Workload;

/// The desired PDB.
pub fn pdb(w: &Workload, caps: &Capabilities) -> Value {
    json!({
        "apiVersion": caps.pdb_api_version,
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
