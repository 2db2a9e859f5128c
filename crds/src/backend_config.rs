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

/// Pod policy maps merged key by key (the workload's keys win); every other field is taken
/// from a BackendConfig only when the workload sets none.
const MERGED_MAPS: [&str; 3] = ["labels", "annotations", "nodeSelector"];

impl BackendConfigSpec {
    /// Fills what `pod` leaves unset from this config: env vars by name and the label,
    /// annotation and node-selector maps by key (the workload's win), any other pod policy
    /// field only when the workload has none. Applied most specific first (namespace, then
    /// cluster-wide), so a nearer config wins over a farther one.
    pub fn fill(&self, pod: &mut PodPolicy) {
        let mut env = pod.env.take().unwrap_or_default();
        let layer = self.pod.clone().unwrap_or_default();
        let named =
            self.env
                .iter()
                .flatten()
                .map(|(name, value)| k8s_openapi::api::core::v1::EnvVar {
                    name: name.clone(),
                    value: Some(value.clone()),
                    value_from: None,
                });
        for var in named.chain(layer.env.clone().unwrap_or_default()) {
            if !env.iter().any(|e| e.name == var.name) {
                env.push(var);
            }
        }
        if let (Ok(serde_json::Value::Object(mut base)), Ok(serde_json::Value::Object(extra))) =
            (serde_json::to_value(&*pod), serde_json::to_value(&layer))
        {
            for (key, value) in extra {
                if key == "env" {
                    continue;
                }
                match (base.get_mut(&key), value) {
                    (None, value) => {
                        base.insert(key, value);
                    }
                    (Some(serde_json::Value::Object(mine)), serde_json::Value::Object(theirs))
                        if MERGED_MAPS.contains(&key.as_str()) =>
                    {
                        for (k, v) in theirs {
                            mine.entry(k).or_insert(v);
                        }
                    }
                    _ => {}
                }
            }
            // Both sides came from PodPolicy, so the merge is one too.
            if let Ok(merged) = serde_json::from_value(serde_json::Value::Object(base)) {
                *pod = merged;
            }
        }
        pod.env = (!env.is_empty()).then_some(env);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(v: serde_json::Value) -> BackendConfigSpec {
        serde_json::from_value(v).unwrap()
    }

    fn policy(v: serde_json::Value) -> PodPolicy {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_workload_wins_then_the_namespace_then_the_cluster() {
        let mut pod = policy(json!({
            "env": [{"name": "LEVEL", "value": "workload"}],
            "labels": {"team": "orders"},
            "serviceAccountName": "mine",
        }));
        let namespace = config(json!({
            "env": {"LEVEL": "namespace", "REGION": "eu"},
            "pod": {"labels": {"team": "other", "tier": "gold"}, "serviceAccountName": "ns",
                    "tolerations": [{"key": "dedicated", "operator": "Exists"}]},
        }));
        let cluster = config(json!({
            "env": {"REGION": "us", "TRACE": "on"},
            "pod": {"nodeSelector": {"pool": "fn"}, "terminationGracePeriodSeconds": 5},
        }));
        namespace.fill(&mut pod);
        cluster.fill(&mut pod);
        let env: Vec<(String, Option<String>)> = pod
            .env
            .iter()
            .flatten()
            .map(|e| (e.name.clone(), e.value.clone()))
            .collect();
        assert_eq!(
            env,
            vec![
                ("LEVEL".into(), Some("workload".into())),
                ("REGION".into(), Some("eu".into())),
                ("TRACE".into(), Some("on".into())),
            ]
        );
        let labels = pod.labels.clone().unwrap();
        assert_eq!(labels["team"], "orders");
        assert_eq!(labels["tier"], "gold");
        assert_eq!(pod.service_account_name.as_deref(), Some("mine"));
        assert_eq!(pod.tolerations.as_ref().map(Vec::len), Some(1));
        assert_eq!(pod.node_selector.unwrap()["pool"], "fn");
        assert_eq!(pod.termination_grace_period_seconds, Some(5));
    }

    #[test]
    fn an_empty_config_changes_nothing() {
        let before = policy(json!({"labels": {"a": "b"}}));
        let mut pod = before.clone();
        BackendConfigSpec::default().fill(&mut pod);
        assert_eq!(pod, before);
        let mut empty = PodPolicy::default();
        BackendConfigSpec::default().fill(&mut empty);
        assert_eq!(empty, PodPolicy::default());
    }
}
