//! The connector catalogue through admission: schema errors of a native connector's settings
//! deny with their path (inside a mesh too), credentials in plain config warn, and a
//! `builtin://` Pulsar IO reference is resolved by the mutating webhook
//! (className and image added; the operator maps the jar to the archive in that image).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use fmesh_webhook::metrics::Metrics;
use fmesh_webhook::server::{App, Listener};
use fmesh_webhook::{Admission, Settings, StaticReferences};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

fn app() -> App<StaticReferences> {
    let refs = StaticReferences::default()
        .with_config_map("ns", "pulsar", &["webServiceURL", "brokerServiceURL"])
        .with_secret("ns", "es", &["password", "username"]);
    App {
        admission: Arc::new(Admission::new(refs, Settings::default())),
        metrics: Arc::new(Metrics::new()),
        ready: Box::new(|| true),
        deadline: Duration::from_secs(10),
    }
}

async fn answer(kind: &str, path: &str, spec: Value) -> Value {
    let object = json!({"apiVersion": "compute.functionmesh.io/v1alpha1", "kind": kind,
                        "metadata": {"name": "x", "namespace": "ns"}, "spec": spec});
    let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "u", "kind": {"group": "compute.functionmesh.io", "version": "v1alpha1", "kind": kind},
        "operation": "CREATE", "namespace": "ns", "name": "x", "object": object}});
    let req = http::Request::post(path)
        .body(Full::new(Bytes::from(review.to_string())))
        .unwrap();
    let resp = app().handle(req, Listener::Tls).await;
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice::<Value>(&body).unwrap()["response"].clone()
}

#[tokio::test]
async fn native_connector_settings_are_denied_at_their_path() {
    let p = json!({"pulsarConfig": "pulsar"});
    let mesh = json!({
        "sources": [{"name": "gen", "builtin": {"name": "datagen"}, "output": {"topic": "a"}, "pulsar": p,
                     "sourceConfig": {"rate": "fast", "template": "{{seq}"}}],
        "sinks": [{"name": "idx", "builtin": {"name": "elasticsearch"}, "input": {"topics": ["a"]}, "pulsar": p,
                   "sinkConfig": {"url": "http://es:9200", "index": "orders", "batchSize": 0}}]});
    let v = answer("FunctionMesh", "/validate/functionmesh", mesh).await;
    assert_eq!(v["allowed"], false, "{v}");
    let msg = v["status"]["message"].as_str().unwrap();
    for needle in [
        "spec.sources[0].sourceConfig.rate: must be number, got \"fast\"",
        "spec.sources[0].sourceConfig.template:",
        "spec.sinks[0].sinkConfig.batchSize: must be ≥ 1, got 0 (use 1 or more)",
    ] {
        assert!(msg.contains(needle), "{needle} missing from {msg}");
    }
}

#[tokio::test]
async fn plain_credentials_warn_and_secrets_pass() {
    let spec = json!({"className": "org.apache.pulsar.io.elasticsearch.ElasticSearchSink",
        "java": {"jar": "connectors/pulsar-io-elastic-search-3.2.2.1.nar"}, "image": "streamnative/pulsar-io-elastic-search:3.2.2.1",
        "input": {"topics": ["a"]}, "pulsar": {"pulsarConfig": "pulsar"},
        "sinkConfig": {"elasticSearchUrl": "http://es:9200", "indexName": "orders", "password": "hunter2"}});
    let v = answer("Sink", "/validate/sink", spec).await;
    assert_eq!(v["allowed"], true, "{v}");
    let warnings = v["warnings"].as_array().expect("warnings");
    assert!(
        warnings.iter().any(|w| w
            .as_str()
            .unwrap()
            .starts_with("spec.sinkConfig.password: looks like a credential")),
        "{v}"
    );

    let spec = json!({"builtin": {"name": "elasticsearch"}, "input": {"topics": ["a"]}, "pulsar": {"pulsarConfig": "pulsar"},
        "sinkConfig": {"url": "http://es:9200", "index": "orders"},
        "secretsMap": {"username": {"path": "es", "key": "username"}, "password": {"path": "es", "key": "password"}}});
    let v = answer("Sink", "/validate/sink", spec).await;
    assert_eq!(v["allowed"], true, "{v}");
    assert!(
        v.get("warnings")
            .is_none_or(|w| w.as_array().unwrap().is_empty()),
        "{v}"
    );
}

#[tokio::test]
async fn builtin_references_are_resolved_by_mutation_and_required_keys_checked() {
    let spec = json!({"java": {"jar": "builtin://elastic_search"}, "input": {"topics": ["a"]},
                      "pulsar": {"pulsarConfig": "pulsar"}, "sinkConfig": {"indexName": "orders"}});
    let m = answer("Sink", "/mutate/sink", spec.clone()).await;
    assert_eq!(m["allowed"], true, "{m}");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(m["patch"].as_str().unwrap())
        .unwrap();
    let patch: Value = serde_json::from_slice(&raw).unwrap();
    let op = |path: &str| {
        patch
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["path"] == path)
            .cloned()
    };
    assert_eq!(
        op("/spec/className").unwrap()["value"],
        "org.apache.pulsar.io.elasticsearch.ElasticSearchSink"
    );
    assert!(
        op("/spec/image").unwrap()["value"]
            .as_str()
            .unwrap()
            .starts_with("streamnative/pulsar-io-elastic-search:")
    );
    assert!(
        op("/spec/java/jar").is_none(),
        "defaults only add; the operator resolves the jar"
    );
    let v = answer("Sink", "/validate/sink", spec).await;
    assert_eq!(v["allowed"], false);
    let msg = v["status"]["message"].as_str().unwrap();
    assert!(msg.contains("spec.sinkConfig.elasticSearchUrl: the Pulsar IO elastic_search sink requires `elasticSearchUrl`"), "{msg}");
}
