//! Handlers and the HTTP layer without a cluster: per-kind validation and mutation, reference
//! checks over `StaticReferences`, and hostile input (size, malformed JSON, wrong kind, wrong
//! AdmissionReview version, deep nesting) answered with a 4xx or a denial, never a panic or hang.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use fmesh_webhook::metrics::Metrics;
use fmesh_webhook::server::{App, Listener};
use fmesh_webhook::{Admission, Settings, StaticReferences};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};

fn app(refs: StaticReferences) -> App<StaticReferences> {
    App {
        admission: Arc::new(Admission::new(refs, Settings::default())),
        metrics: Arc::new(Metrics::new()),
        ready: Box::new(|| true),
        deadline: Duration::from_secs(10),
    }
}

fn refs() -> StaticReferences {
    StaticReferences::default()
        .with_config_map("ns", "pulsar", &["webServiceURL", "brokerServiceURL"])
        .with_secret("ns", "creds", &["password"])
}

fn review(kind: &str, operation: &str, object: Value, old: Option<Value>) -> Value {
    json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": "uid-1", "kind": {"group": "compute.functionmesh.io", "version": "v1alpha1", "kind": kind},
        "operation": operation, "namespace": "ns", "name": object["metadata"]["name"],
        "object": object, "oldObject": old}})
}

fn cr(kind: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "compute.functionmesh.io/v1alpha1", "kind": kind,
           "metadata": {"name": name, "namespace": "ns"}, "spec": spec})
}

async fn post(app: &App<StaticReferences>, path: &str, body: impl Into<Bytes>) -> (u16, String) {
    let req = http::Request::post(path)
        .body(Full::new(body.into()))
        .unwrap();
    let resp = app.handle(req, Listener::Tls).await;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn answer(app: &App<StaticReferences>, path: &str, review: &Value) -> Value {
    let (status, body) = post(app, path, review.to_string()).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["response"]["uid"], "uid-1");
    v["response"].clone()
}

fn good(kind: &str) -> Value {
    let p = json!({"pulsarConfig": "pulsar"});
    match kind {
        "Function" => cr(
            kind,
            "f",
            json!({"wasm": {"module": "/m"}, "input": {"topics": ["a"]}, "output": {"topic": "b"}, "pulsar": p}),
        ),
        "Source" => cr(
            kind,
            "s",
            json!({"builtin": {"name": "datagen"}, "output": {"topic": "a"}, "pulsar": p}),
        ),
        "Sink" => cr(
            kind,
            "k",
            json!({"builtin": {"name": "log"}, "input": {"topics": ["a"]}, "pulsar": p}),
        ),
        _ => cr(
            kind,
            "m",
            json!({
            "sources": [{"name": "s", "builtin": {"name": "datagen"}, "output": {"topic": "a"}, "pulsar": p}],
            "sinks": [{"name": "k", "builtin": {"name": "log"}, "input": {"topics": ["a"]}, "pulsar": p}]}),
        ),
    }
}

#[tokio::test]
async fn each_kind_is_allowed_when_good_and_defaulted_by_add_operations() {
    let app = app(refs());
    for (kind, seg) in [
        ("Function", "function"),
        ("Source", "source"),
        ("Sink", "sink"),
        ("FunctionMesh", "functionmesh"),
    ] {
        let r = review(kind, "CREATE", good(kind), None);
        let v = answer(&app, &format!("/validate/{seg}"), &r).await;
        assert_eq!(v["allowed"], true, "{kind}: {v}");
        let m = answer(&app, &format!("/mutate/{seg}"), &r).await;
        assert_eq!(m["allowed"], true);
        assert_eq!(m["patchType"], "JSONPatch");
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(m["patch"].as_str().unwrap())
            .unwrap();
        let patch: Value = serde_json::from_slice(&raw).unwrap();
        assert!(
            patch.as_array().unwrap().iter().all(|op| op["op"] == "add"),
            "{patch}"
        );
        // Reinvoked on its own output: nothing more to add.
        let mut patched = good(kind);
        let patch: json_patch::Patch = serde_json::from_value(patch).unwrap();
        json_patch::patch(&mut patched, &patch).unwrap();
        let again = answer(
            &app,
            &format!("/mutate/{seg}"),
            &review(kind, "CREATE", patched, None),
        )
        .await;
        assert!(
            again.get("patch").is_none(),
            "{kind} not idempotent: {again}"
        );
    }
}

#[tokio::test]
async fn every_error_is_listed_in_one_denial_and_graph_findings_are_warnings() {
    let app = app(refs());
    let bad = cr(
        "Function",
        "f",
        json!({"wasm": {"module": "/m"}, "input": {"topics": ["a"]},
        "output": {"topic": "b"}, "replicas": 5, "maxReplicas": 2, "maxPendingAsyncRequests": -1,
        "secretsMap": {"PW": {"path": "nope", "key": "k"}}, "pulsar": {"pulsarConfig": "pulsar"}}),
    );
    let v = answer(
        &app,
        "/validate/function",
        &review("Function", "CREATE", bad, None),
    )
    .await;
    assert_eq!(v["allowed"], false);
    let msg = v["status"]["message"].as_str().unwrap();
    for path in [
        "spec.maxReplicas:",
        "spec.maxPendingAsyncRequests:",
        "spec.secretsMap[PW]: Secret `nope` does not exist",
    ] {
        assert!(msg.contains(path), "{path} missing from {msg}");
    }
    let mesh = cr(
        "FunctionMesh",
        "m",
        json!({"functions": [{"name": "f", "wasm": {"module": "/m"},
        "input": {"topics": ["nobody"]}, "output": {"topic": "b"}, "pulsar": {"pulsarConfig": "pulsar"}}]}),
    );
    let v = answer(
        &app,
        "/validate/functionmesh",
        &review("FunctionMesh", "CREATE", mesh, None),
    )
    .await;
    assert_eq!(v["allowed"], true, "{v}");
    assert!(
        v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("nobody")),
        "{v}"
    );
}

#[tokio::test]
async fn reference_opt_out_by_namespace_annotation() {
    let lenient = refs().with_namespace_annotation("ns", "fmesh.io/reference-checks", "warn");
    let app = app(lenient);
    let f = cr(
        "Function",
        "f",
        json!({"wasm": {"module": "/m"}, "input": {"topics": ["a"]},
        "output": {"topic": "b"}, "pulsar": {"pulsarConfig": "missing", "authSecret": "creds"}}),
    );
    let v = answer(
        &app,
        "/validate/function",
        &review("Function", "CREATE", f, None),
    )
    .await;
    assert_eq!(v["allowed"], true, "{v}");
    let warnings = v["warnings"].to_string();
    assert!(
        warnings.contains("ConfigMap `missing` does not exist"),
        "{warnings}"
    );
    assert!(
        warnings.contains("clientAuthenticationPlugin"),
        "{warnings}"
    );
}

#[tokio::test]
async fn updates_guard_identity_but_not_metadata_edits() {
    let app = app(refs());
    let old = good("Function");
    let mut moved = old.clone();
    moved["spec"]["tenant"] = json!("other");
    let v = answer(
        &app,
        "/validate/function",
        &review("Function", "UPDATE", moved, Some(old.clone())),
    )
    .await;
    assert_eq!(v["allowed"], false);
    assert!(
        v["status"]["message"]
            .as_str()
            .unwrap()
            .contains("spec.tenant")
    );
    // A label change on an object whose Secret has since disappeared still goes through.
    let mut broken = old.clone();
    broken["spec"]["secretsMap"] = json!({"X": {"path": "gone", "key": "k"}});
    let mut relabelled = broken.clone();
    relabelled["metadata"]["labels"] = json!({"a": "b"});
    let v = answer(
        &app,
        "/validate/function",
        &review("Function", "UPDATE", relabelled, Some(broken.clone())),
    )
    .await;
    assert_eq!(v["allowed"], true, "{v}");
    // A spec edit is checked only for the references it introduces: the Secret missing
    // before does not block it, a newly named missing one does.
    let mut edited = broken.clone();
    edited["spec"]["replicas"] = json!(3);
    let v = answer(
        &app,
        "/validate/function",
        &review("Function", "UPDATE", edited.clone(), Some(broken.clone())),
    )
    .await;
    assert_eq!(v["allowed"], true, "{v}");
    edited["spec"]["secretsMap"]["Y"] = json!({"path": "also-gone", "key": "k"});
    let v = answer(
        &app,
        "/validate/function",
        &review("Function", "UPDATE", edited, Some(broken)),
    )
    .await;
    assert_eq!(v["allowed"], false, "{v}");
    let message = v["status"]["message"].as_str().unwrap();
    assert!(message.contains("also-gone"), "{message}");
    assert!(!message.contains("`gone`"), "{message}");
    // Deletion in progress: finalizer removal is never blocked.
    let mut deleting = good("Function");
    deleting["spec"]["replicas"] = json!(-1);
    deleting["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    let v = answer(
        &app,
        "/validate/function",
        &review("Function", "UPDATE", deleting, Some(old)),
    )
    .await;
    assert_eq!(v["allowed"], true);
}

#[tokio::test]
async fn hostile_input_gets_4xx_or_a_denial() {
    let app = app(refs());
    let (s, body) = post(&app, "/validate/function", "{not json").await;
    assert_eq!(s, 400, "{body}");
    let (s, _) = post(&app, "/validate/function", vec![b'x'; 8 * 1024 * 1024]).await;
    assert_eq!(s, 413);
    let deep = format!(
        "{{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{}{}}}",
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    let (s, body) = post(&app, "/validate/function", deep).await;
    assert_eq!(s, 400, "{body}");
    let mut old_version = review("Function", "CREATE", good("Function"), None);
    old_version["apiVersion"] = json!("admission.k8s.io/v1beta1");
    let (s, body) = post(&app, "/validate/function", old_version.to_string()).await;
    assert_eq!(s, 400);
    assert!(body.contains("only admission.k8s.io/v1"), "{body}");
    // A Sink sent to the Function endpoint, and a Pod: proper denials with a reason.
    let v = answer(
        &app,
        "/validate/function",
        &review("Sink", "CREATE", good("Sink"), None),
    )
    .await;
    assert_eq!(v["allowed"], false);
    assert!(
        v["status"]["message"]
            .as_str()
            .unwrap()
            .contains("admits compute.functionmesh.io Function")
    );
    let mut pod = review(
        "Function",
        "CREATE",
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}),
        None,
    );
    pod["request"]["kind"] = json!({"group": "", "version": "v1", "kind": "Pod"});
    let v = answer(&app, "/mutate/function", &pod).await;
    assert_eq!(v["allowed"], false);
    // A spec of the wrong shape is denied with the path.
    let wrong = cr("Function", "f", json!({"replicas": "many"}));
    let v = answer(
        &app,
        "/validate/function",
        &review("Function", "CREATE", wrong, None),
    )
    .await;
    assert_eq!(v["allowed"], false);
    assert!(
        v["status"]["message"]
            .as_str()
            .unwrap()
            .contains("spec.replicas"),
        "{v}"
    );
    // Unknown routes and methods.
    assert_eq!(post(&app, "/validate/pod", "{}").await.0, 404);
    let get = http::Request::get("/validate/function")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(app.handle(get, Listener::Tls).await.status().as_u16(), 405);
    let plain = http::Request::post("/validate/function")
        .body(Full::new(Bytes::new()))
        .unwrap();
    assert_eq!(
        app.handle(plain, Listener::Plain).await.status().as_u16(),
        404
    );
    let metrics = http::Request::get("/metrics")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let body = app
        .handle(metrics, Listener::Plain)
        .await
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("result=\"bad_request\""));
}

/// What the apiserver stores beside a `kubectl apply`'d object (skipped when decoding).
fn as_stored(mut doc: Value) -> Value {
    let applied = doc.to_string();
    let meta = &mut doc["metadata"];
    let annotations = meta["annotations"].as_object().cloned().unwrap_or_default();
    let mut annotations = Value::Object(annotations);
    annotations["kubectl.kubernetes.io/last-applied-configuration"] = json!(applied);
    meta["annotations"] = annotations;
    meta["managedFields"] = json!([{"manager": "kubectl-client-side-apply", "operation": "Update",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {".": {}, "f:replicas": {}}}}]);
    doc
}

#[tokio::test]
async fn answers_do_not_depend_on_managed_fields_or_the_last_applied_copy() {
    let app = app(refs());
    let mut bad = good("FunctionMesh");
    bad["spec"]["sinks"][0]["input"] = json!({"topics": ["not a topic//"]});
    let mut intent = good("Function");
    intent["metadata"]["annotations"] = json!({"fmesh.io/update-intent": "subscriptionName"});
    intent["spec"]["subscriptionName"] = json!("s2");
    let mut old = good("Function");
    old["spec"]["subscriptionName"] = json!("s1");
    let cases = [
        (
            "functionmesh",
            review("FunctionMesh", "CREATE", good("FunctionMesh"), None),
        ),
        ("functionmesh", review("FunctionMesh", "CREATE", bad, None)),
        (
            "function",
            review("Function", "UPDATE", intent.clone(), Some(old.clone())),
        ),
        (
            "function",
            review("Function", "UPDATE", good("Function"), Some(old.clone())),
        ),
    ];
    for (seg, plain) in cases {
        let mut stored = plain.clone();
        stored["request"]["object"] = as_stored(plain["request"]["object"].clone());
        if !plain["request"]["oldObject"].is_null() {
            stored["request"]["oldObject"] = as_stored(plain["request"]["oldObject"].clone());
        }
        for webhook in ["validate", "mutate"] {
            let path = format!("/{webhook}/{seg}");
            let a = answer(&app, &path, &plain).await;
            let b = answer(&app, &path, &stored).await;
            assert_eq!(a, b, "{path}: {plain}");
        }
    }
    // The cases mean something: a denial, an intent honoured, a guarded change refused.
    let deny = |r: &Value| r["allowed"] == false;
    let r = answer(
        &app,
        "/validate/functionmesh",
        &review(
            "FunctionMesh",
            "CREATE",
            {
                let mut b = good("FunctionMesh");
                b["spec"]["sinks"][0]["input"] = json!({"topics": ["not a topic//"]});
                as_stored(b)
            },
            None,
        ),
    )
    .await;
    assert!(deny(&r), "{r}");
    let r = answer(
        &app,
        "/validate/function",
        &review(
            "Function",
            "UPDATE",
            as_stored(intent),
            Some(as_stored(old.clone())),
        ),
    )
    .await;
    assert_eq!(r["allowed"], true, "{r}");
    let r = answer(
        &app,
        "/validate/function",
        &review(
            "Function",
            "UPDATE",
            as_stored(good("Function")),
            Some(as_stored(old)),
        ),
    )
    .await;
    assert!(deny(&r), "{r}");
}

/// References that never answer, or panic: the server must still answer the apiserver.
struct Stuck {
    panic: bool,
}

impl fmesh_webhook::References for Stuck {
    async fn secret(&self, _: &str, _: &str) -> fmesh_webhook::Lookup {
        self.stuck().await
    }
    async fn config_map(&self, _: &str, _: &str) -> fmesh_webhook::Lookup {
        self.stuck().await
    }
    async fn namespace_annotation(&self, _: &str, _: &str) -> Option<String> {
        None
    }
}

impl Stuck {
    async fn stuck(&self) -> fmesh_webhook::Lookup {
        if self.panic {
            panic!("lookup exploded");
        }
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_decision_past_the_deadline_or_a_panic_is_answered_with_a_denial() {
    for (panic, code, words) in [
        (false, 504, "could not decide within"),
        (true, 500, "failed to decide"),
    ] {
        let app = App {
            admission: Arc::new(Admission::new(
                Stuck { panic },
                // Lookups would wait longer than the server's deadline.
                Settings {
                    reference_checks: true,
                    lookup_budget: Duration::from_secs(60),
                },
            )),
            metrics: Arc::new(Metrics::new()),
            ready: Box::new(|| true),
            deadline: Duration::from_millis(300),
        };
        let r = review("Function", "CREATE", good("Function"), None);
        let req = http::Request::post("/validate/function")
            .body(Full::new(Bytes::from(r.to_string())))
            .unwrap();
        let resp = tokio::time::timeout(Duration::from_secs(20), app.handle(req, Listener::Tls))
            .await
            .expect("the server answers by its deadline");
        assert_eq!(resp.status().as_u16(), 200);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&body).unwrap();
        let response = &v["response"];
        assert_eq!(response["uid"], "uid-1");
        assert_eq!(response["allowed"], false, "{response}");
        assert_eq!(response["status"]["code"], code, "{response}");
        assert!(
            response["status"]["message"]
                .as_str()
                .unwrap()
                .contains(words),
            "{response}"
        );
    }
}
