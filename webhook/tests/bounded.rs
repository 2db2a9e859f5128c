//! One hostile FunctionMesh cannot take admission down: the validating and mutating handlers
//! answer each shape (long chain, wide bipartite, many patterns, and the sizes issue #27 used)
//! on a small stack, with findings proportional to the mesh.

use std::sync::Arc;
use std::time::Duration;

use fmesh_crds::shapes;
use fmesh_webhook::metrics::Metrics;
use fmesh_webhook::server::{App, Listener};
use fmesh_webhook::{Admission, Settings, StaticReferences};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

const SMALL_STACK: usize = 256 * 1024;

fn app() -> App<StaticReferences> {
    let refs = StaticReferences::default().with_config_map(
        "ns",
        "pulsar",
        &["webServiceURL", "brokerServiceURL"],
    );
    App {
        admission: Arc::new(Admission::new(refs, Settings::default())),
        metrics: Arc::new(Metrics::new()),
        ready: Box::new(|| true),
        deadline: Duration::from_secs(10),
    }
}

fn review(mut object: Value) -> Vec<u8> {
    object["metadata"]["namespace"] = json!("ns");
    serde_json::to_vec(
        &json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "uid-1", "kind": {"group": "compute.functionmesh.io",
        "version": "v1alpha1", "kind": "FunctionMesh"}, "operation": "CREATE",
        "namespace": "ns", "name": "m", "object": object}}),
    )
    .unwrap()
}

/// Posts the review to `path` on a thread with a small stack (a current-thread runtime).
fn answer(path: &'static str, body: Vec<u8>) -> Value {
    // What the handlers build once per process (CRD schemas, decoder tables: walks as deep as
    // the types, not the input) is built first by a one-member mesh on a default stack.
    static WARM: std::sync::Once = std::sync::Once::new();
    WARM.call_once(|| {
        for path in ["/validate/functionmesh", "/mutate/functionmesh"] {
            on_stack(8 * 1024 * 1024, path, review(shapes::chain(1)));
        }
    });
    on_stack(SMALL_STACK, path, body)
}

fn on_stack(stack: usize, path: &'static str, body: Vec<u8>) -> Value {
    std::thread::Builder::new()
        .stack_size(stack)
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let app = app();
                let req = http::Request::post(path)
                    .body(Full::new(body.into()))
                    .unwrap();
                let resp = app.handle(req, Listener::Tls).await;
                assert_eq!(resp.status().as_u16(), 200);
                let body = resp.into_body().collect().await.unwrap().to_bytes();
                let v: Value = serde_json::from_slice(&body).unwrap();
                v["response"].clone()
            })
        })
        .unwrap()
        .join()
        .expect("the handler returns instead of overflowing the stack")
}

fn message(r: &Value) -> &str {
    r["status"]["message"].as_str().unwrap_or_default()
}

#[test]
fn a_long_chain_is_admitted() {
    for path in ["/validate/functionmesh", "/mutate/functionmesh"] {
        let r = answer(path, review(shapes::largest_chain()));
        assert_eq!(r["allowed"], true, "{path}: {r}");
    }
}

#[test]
fn a_wide_bipartite_mesh_is_denied_once_per_consumer() {
    let r = answer(
        "/validate/functionmesh",
        review(shapes::largest_bipartite()),
    );
    assert_eq!(r["allowed"], false);
    let m = message(&r);
    assert!(
        m.contains("(and 499 other producers)"),
        "{}",
        &m[..300.min(m.len())]
    );
    assert_eq!(m.matches("produces schema").count(), 500);
    assert_eq!(
        answer("/mutate/functionmesh", review(shapes::largest_bipartite()))["allowed"],
        true
    );
}

#[test]
fn the_largest_pattern_mesh_is_admitted() {
    for path in ["/validate/functionmesh", "/mutate/functionmesh"] {
        let r = answer(path, review(shapes::largest_patterns()));
        assert_eq!(r["allowed"], true, "{path}: {}", message(&r));
    }
}

#[test]
fn meshes_over_the_limits_are_denied_naming_the_limit() {
    for doc in [
        shapes::chain(6000),
        shapes::chain(20_000),
        shapes::bipartite(4000),
        shapes::patterns(2000, 2000, 0),
    ] {
        let r = answer("/validate/functionmesh", review(doc.clone()));
        assert_eq!(r["allowed"], false);
        assert!(
            message(&r).contains("more than the limit of 1000 members per mesh"),
            "{}",
            message(&r)
        );
        // Defaulting answers too (the apiserver's schema check comes after it).
        let r = answer("/mutate/functionmesh", review(doc));
        assert!(r["allowed"].is_boolean(), "{r}");
    }
}
