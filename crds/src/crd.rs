//! The CustomResourceDefinitions generated from the types, as checked in under `manifests/crds/`.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;
use serde_json::Value;

use crate::{BackendConfig, Function, FunctionMesh, Sink, Source};

/// Fields typed by Kubernetes' own API (pod policy, resources, volumes…). Their nested
/// descriptions are dropped: `kubectl explain pod` documents them, and with them the
/// FunctionMesh CRD would pass etcd's 1.5 MB object limit.
const KUBERNETES_TYPED_FIELDS: &[&str] = &[
    "pod",
    "resources",
    "volumeMounts",
    "volumeClaimTemplates",
    "persistentVolumeClaimRetentionPolicy",
    "conditions",
];

/// Every CRD fmesh serves, in a stable order.
pub fn all() -> Vec<CustomResourceDefinition> {
    [
        Function::crd(),
        Source::crd(),
        Sink::crd(),
        FunctionMesh::crd(),
        BackendConfig::crd(),
    ]
    .into_iter()
    .map(slim)
    .collect()
}

/// The file name a CRD is checked in under: `<plural>.<group>.yaml`.
pub fn file_name(crd: &CustomResourceDefinition) -> String {
    format!("{}.yaml", crd.metadata.name.as_deref().unwrap_or("unnamed"))
}

fn slim(crd: CustomResourceDefinition) -> CustomResourceDefinition {
    let mut value = serde_json::to_value(&crd).expect("a CRD serializes to JSON");
    drop_nested_descriptions(&mut value);
    drop_null_enum_values(&mut value);
    serde_json::from_value(value).expect("removing descriptions keeps a valid CRD")
}

fn drop_nested_descriptions(node: &mut Value) {
    match node {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get_mut("properties") {
                for (name, prop) in props.iter_mut() {
                    if KUBERNETES_TYPED_FIELDS.contains(&name.as_str()) {
                        let own = prop.get("description").cloned();
                        strip_descriptions(prop);
                        if let (Some(own), Value::Object(p)) = (own, prop) {
                            p.insert("description".into(), own);
                        }
                    } else {
                        drop_nested_descriptions(prop);
                    }
                }
            }
            for (key, child) in map.iter_mut() {
                if key != "properties" {
                    drop_nested_descriptions(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nested_descriptions),
        _ => {}
    }
}

/// schemars lists `null` among an optional enum's values; the field is already `nullable`, and
/// apiservers before 1.21 refused the CRD with it ("unknown object type nil").
fn drop_null_enum_values(node: &mut Value) {
    match node {
        Value::Object(map) => {
            if let Some(Value::Array(values)) = map.get_mut("enum") {
                values.retain(|v| !v.is_null());
            }
            map.values_mut().for_each(drop_null_enum_values);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_null_enum_values),
        _ => {}
    }
}

fn strip_descriptions(node: &mut Value) {
    match node {
        Value::Object(map) => {
            map.remove("description");
            map.values_mut().for_each(strip_descriptions);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_descriptions),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_node(node: &Value, pred: &dyn Fn(&serde_json::Map<String, Value>) -> bool) -> bool {
        match node {
            Value::Object(map) => pred(map) || map.values().any(|v| any_node(v, pred)),
            Value::Array(items) => items.iter().any(|v| any_node(v, pred)),
            _ => false,
        }
    }

    #[test]
    fn enums_list_no_null_for_kubernetes_1_20() {
        for crd in all() {
            let v = serde_json::to_value(&crd).unwrap();
            let has_null = |m: &serde_json::Map<String, Value>| {
                m.get("enum")
                    .and_then(Value::as_array)
                    .is_some_and(|e| e.iter().any(Value::is_null))
            };
            assert!(
                !any_node(&v, &has_null),
                "{:?} has null in an enum",
                crd.metadata.name
            );
            // The enum itself is kept: only the null goes.
            let has_enum = |m: &serde_json::Map<String, Value>| m.contains_key("enum");
            assert!(any_node(&v, &has_enum));
        }
    }
}
