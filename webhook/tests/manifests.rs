//! `manifests/base/webhook/webhooks.yaml` is the objects `fmesh_webhook::registration` builds
//! for the in-cluster Service; they must not drift. (The overlays only patch them: annotations
//! for cert-manager, URLs for the local cluster; e2e/tests/install_bundle.rs checks those.)

use fmesh_webhook::registration::{self, Endpoint, Registration};
use serde_json::Value;

fn expected() -> Vec<Value> {
    let reg = Registration {
        validating_name: "fmesh-validating".into(),
        mutating_name: "fmesh-mutating".into(),
        base: Endpoint::Service {
            namespace: "fmesh-system".into(),
            name: "fmesh-webhook".into(),
            port: 443,
        },
        namespace_selector: registration::all_but_system(),
        timeout_seconds: 10,
    };
    let mut v = serde_json::to_value(reg.validating()).unwrap();
    let mut m = serde_json::to_value(reg.mutating()).unwrap();
    v["apiVersion"] = "admissionregistration.k8s.io/v1".into();
    v["kind"] = "ValidatingWebhookConfiguration".into();
    m["apiVersion"] = "admissionregistration.k8s.io/v1".into();
    m["kind"] = "MutatingWebhookConfiguration".into();
    vec![v, m]
}

fn read(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(format!(
        "{}/../manifests/base/webhook/{path}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    serde_saphyr::from_multiple::<Value>(&text).unwrap()
}

fn normalize(mut v: Value) -> Value {
    // k8s-openapi serializes object fields in its own order; compare as sorted JSON.
    v.as_object_mut().map(|o| o.remove("status"));
    serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap()
}

#[test]
fn webhooks_yaml_matches_the_code() {
    let want: Vec<Value> = expected().into_iter().map(normalize).collect();
    let got: Vec<Value> = read("webhooks.yaml").into_iter().map(normalize).collect();
    assert_eq!(got, want);
}

#[test]
fn every_manifest_parses() {
    for f in ["rbac.yaml", "service.yaml", "deployment.yaml"] {
        assert!(!read(f).is_empty(), "{f}");
    }
}
