//! On the real local cluster (fmesh-e2e): the apiserver calls this webhook,
//! served in-process on 127.0.0.1 over TLS with self-managed certificates (Secret + caBundle
//! injection), registered for one labelled test namespace only and removed at the end.
//!
//! Needs root and the local cluster (`Cluster::ensure()` starts it if it is down).
//! Run: `cargo test -p fmesh-webhook --test cluster -- --nocapture`.

use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fmesh_certs::inject::Injector;
use fmesh_certs::rotation::{Policy, SelfManaged};
use fmesh_certs::store::SecretStore;
use fmesh_certs::{HotResolver, pki};
use fmesh_e2e::{Cluster, NAMESPACE_LABEL};
use fmesh_webhook::cache::ClusterReferences;
use fmesh_webhook::metrics::Metrics;
use fmesh_webhook::registration::{self, Endpoint, Registration};
use fmesh_webhook::server::{self, App};
use fmesh_webhook::{Admission, Settings};
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

/// Deletes the webhook configurations when dropped (also on panic), so a dead test server
/// never blocks anyone's creates.
struct Configurations {
    kubectl: std::path::PathBuf,
    kubeconfig: std::path::PathBuf,
    validating: String,
    mutating: String,
}

impl Drop for Configurations {
    fn drop(&mut self) {
        for (kind, name) in [
            ("validatingwebhookconfiguration", &self.validating),
            ("mutatingwebhookconfiguration", &self.mutating),
        ] {
            let _ = std::process::Command::new(&self.kubectl)
                .arg("--kubeconfig")
                .arg(&self.kubeconfig)
                .args(["delete", kind, name, "--ignore-not-found"])
                .output();
        }
    }
}

struct Kubectl {
    program: std::path::PathBuf,
    kubeconfig: std::path::PathBuf,
    namespace: String,
}

impl Kubectl {
    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use tokio::io::AsyncWriteExt;
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("-n")
            .arg(&self.namespace)
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("kubectl runs");
        let mut pipe = child.stdin.take().expect("stdin");
        if let Some(input) = stdin {
            pipe.write_all(input.as_bytes()).await.expect("write stdin");
        }
        drop(pipe);
        child.wait_with_output().await.expect("kubectl output")
    }

    async fn apply(&self, doc: &Value) -> (bool, String) {
        let out = self
            .run(&["apply", "-f", "-"], Some(&doc.to_string()))
            .await;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    async fn get(&self, kind: &str, name: &str) -> Value {
        let out = self.run(&["get", kind, name, "-o", "json"], None).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("kubectl get json")
    }
}

fn cr(kind: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "compute.functionmesh.io/v1alpha1", "kind": kind,
           "metadata": {"name": name}, "spec": spec})
}

fn pulsar() -> Value {
    json!({"pulsarConfig": "pulsar"})
}

/// Applies the generated CRDs server-side. Workaround: `enum` lists of nullable fields carry a
/// `null` entry, which Kubernetes 1.20 rejected (the single-version schema then failed to hoist:
/// "per-version schemas may not all be set to identical values"), so those entries are dropped
/// from a temporary copy; `nullable: true` still admits null.
async fn apply_crds(k: &Kubectl) {
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../manifests/crds"));
    let out_dir = std::env::temp_dir().join(format!("fmesh-webhook-crds-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).expect("temp dir");
    for entry in std::fs::read_dir(dir).expect("manifests/crds") {
        let path = entry.expect("entry").path();
        // The directory is also a kustomize base (kustomization.yaml).
        if !path
            .to_string_lossy()
            .ends_with(".compute.functionmesh.io.yaml")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("CRD file");
        let kept: Vec<&str> = text.lines().filter(|l| l.trim() != "- null").collect();
        std::fs::write(
            out_dir.join(path.file_name().expect("name")),
            kept.join("\n"),
        )
        .expect("write CRD");
    }
    let out_dir_str = out_dir.to_string_lossy().to_string();
    let out = k
        .run(
            &[
                "apply",
                "--server-side",
                "--force-conflicts",
                "--field-manager=fmesh-webhook-test",
                "-f",
                &out_dir_str,
            ],
            None,
        )
        .await;
    assert!(
        out.status.success(),
        "CRDs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // `kubectl wait` fails outright while a new CRD has no status yet: retry it.
    let mut attempts = 0;
    loop {
        let out = k
            .run(
                &[
                    "wait",
                    "--for=condition=established",
                    "--timeout=30s",
                    "crd/functions.compute.functionmesh.io",
                    "crd/sources.compute.functionmesh.io",
                    "crd/sinks.compute.functionmesh.io",
                    "crd/functionmeshes.compute.functionmesh.io",
                ],
                None,
            )
            .await;
        attempts += 1;
        if out.status.success() {
            break;
        }
        assert!(
            attempts < 30,
            "CRDs established: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Deletes configurations left by an earlier run of this test whose namespace is gone (a run
/// killed, or the apiserver down when the guard ran), so they never match anything again.
async fn remove_stale_configurations(client: &kube::Client) {
    use k8s_openapi::api::core::v1::Namespace;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let validating: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let mutating: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let dp = kube::api::DeleteParams::default();
    let lp = kube::api::ListParams::default();
    let alive = |ns: String| {
        let namespaces = namespaces.clone();
        async move {
            matches!(namespaces.get_opt(&ns).await, Ok(Some(n)) if n.metadata.deletion_timestamp.is_none())
        }
    };
    for c in validating
        .list(&lp)
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        let name = c.metadata.name.unwrap_or_default();
        if let Some(ns) = name.strip_prefix("fmesh-validating-")
            && ns.starts_with("fmesh-webhook-")
            && !alive(ns.to_string()).await
        {
            let _ = validating.delete(&name, &dp).await;
        }
    }
    for c in mutating
        .list(&lp)
        .await
        .map(|l| l.items)
        .unwrap_or_default()
    {
        let name = c.metadata.name.unwrap_or_default();
        if let Some(ns) = name.strip_prefix("fmesh-mutating-")
            && ns.starts_with("fmesh-webhook-")
            && !alive(ns.to_string()).await
        {
            let _ = mutating.delete(&name, &dp).await;
        }
    }
}

/// Fingerprint of the certificate a fresh TLS connection to `port` is given, trusting `ca_pem`.
async fn presented_fingerprint(port: u16, ca_pem: &str) -> String {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for der in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(der.expect("CA PEM")).expect("CA");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let tls = connector
        .connect(name, tcp)
        .await
        .expect("TLS handshake with the CA bundle");
    let der = tls.get_ref().1.peer_certificates().expect("peer cert")[0].clone();
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64_encode(der.as_ref())
    );
    pki::fingerprint(&pem).expect("fingerprint")
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apiserver_admits_through_the_fmesh_webhook() {
    let cluster = Cluster::ensure().await.expect("cluster up");
    let ns = cluster.namespace("fmesh-webhook").await.expect("namespace");
    let ns_name = ns.name().to_string();
    let client = cluster.client();
    let k = Kubectl {
        program: cluster.local().binaries().program("kubectl"),
        kubeconfig: cluster.kubeconfig().to_path_buf(),
        namespace: ns_name.clone(),
    };
    apply_crds(&k).await;
    remove_stale_configurations(&client).await;

    // Server on an ephemeral port; configurations first (no caBundle), then certificates
    // (which injects the caBundle into exactly these configurations).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let reg = Registration {
        validating_name: format!("fmesh-validating-{ns_name}"),
        mutating_name: format!("fmesh-mutating-{ns_name}"),
        base: Endpoint::Url(format!("https://127.0.0.1:{port}")),
        namespace_selector: registration::only(NAMESPACE_LABEL, &ns_name),
        timeout_seconds: 10,
    };
    let _guard = Configurations {
        kubectl: k.program.clone(),
        kubeconfig: k.kubeconfig.clone(),
        validating: reg.validating_name.clone(),
        mutating: reg.mutating_name.clone(),
    };
    Api::<ValidatingWebhookConfiguration>::all(client.clone())
        .create(&PostParams::default(), &reg.validating())
        .await
        .expect("validating configuration");
    Api::<MutatingWebhookConfiguration>::all(client.clone())
        .create(&PostParams::default(), &reg.mutating())
        .await
        .expect("mutating configuration");

    let resolver = HotResolver::new();
    let manager = SelfManaged::new(
        SecretStore::new(client.clone(), &ns_name, "fmesh-webhook-certs"),
        Some(Injector::new(
            client.clone(),
            vec![reg.validating_name.clone()],
            vec![reg.mutating_name.clone()],
        )),
        resolver.clone(),
        Policy::new(vec!["127.0.0.1".into(), "localhost".into()]),
    );
    manager.reconcile().await.expect("certificates");
    fmesh_webhook::admit::warm_up();
    let metrics = Arc::new(Metrics::new());
    let ready_resolver = resolver.clone();
    let app = Arc::new(App {
        admission: Arc::new(Admission::new(
            ClusterReferences::start(client.clone(), metrics.clone()),
            Settings::default(),
        )),
        metrics: metrics.clone(),
        ready: Box::new(move || ready_resolver.is_loaded()),
        deadline: Duration::from_secs(10),
    });
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(server::serve_tls(
        listener,
        resolver.server_config(),
        app,
        async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        },
    ));

    // The cluster config every CR names.
    let (ok, out) = k
        .apply(&json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pulsar"},
            "data": {"webServiceURL": "http://broker:8080", "brokerServiceURL": "pulsar://broker:6650"}}))
        .await;
    assert!(ok, "{out}");

    // Wait until the apiserver uses the configurations (they are read through an informer).
    let bad_function = cr(
        "Function",
        "bad-fn",
        json!({
        "wasm": {"module": "/m.wasm"}, "input": {"topics": ["in"]}, "output": {"topic": "out"},
        "replicas": 5, "maxReplicas": 3, "maxPendingAsyncRequests": 0, "pulsar": pulsar()}),
    );
    let started = Instant::now();
    let denial = loop {
        let (ok, out) = k.apply(&bad_function).await;
        if !ok && out.contains("denied the request") {
            break out;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "webhook never took effect: {out}"
        );
        if ok {
            k.run(
                &["delete", "function", "bad-fn", "--ignore-not-found"],
                None,
            )
            .await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    println!("--- bad Function:\n{denial}");
    assert!(
        denial.contains(
            "spec.maxReplicas: maxReplicas (3) must be greater than or equal to replicas (5)"
        ),
        "{denial}"
    );
    assert!(
        denial.contains("spec.maxPendingAsyncRequests"),
        "every error in one answer: {denial}"
    );

    // A bad CR of each other kind fails with the path in kubectl's output.
    let bad = [
        (
            cr(
                "Source",
                "bad-src",
                json!({"builtin": {"name": "datagen"}, "pulsar": pulsar()}),
            ),
            "spec.output.topic",
        ),
        (
            cr(
                "Sink",
                "bad-sink",
                json!({"builtin": {"name": "log"}, "input": {"topics": ["t"]},
            "negativeAckRedeliveryDelayMs": -5, "pulsar": pulsar()}),
            ),
            "spec.negativeAckRedeliveryDelayMs",
        ),
        (
            cr(
                "FunctionMesh",
                "bad-mesh",
                json!({"functions": [{"name": "a", "wasm": {"module": "/m.wasm"},
            "input": {"topics": ["in"]}, "output": {"topic": "out"}, "replicas": 4, "maxReplicas": 2,
            "pulsar": pulsar()}]}),
            ),
            "spec.functions[0].maxReplicas",
        ),
    ];
    for (doc, path) in &bad {
        let (ok, out) = k.apply(doc).await;
        println!("--- bad {}:\n{out}", doc["kind"]);
        assert!(
            !ok && out.contains("denied the request") && out.contains(path),
            "{path}: {out}"
        );
    }

    // Good CRs come back defaulted.
    let good = [
        cr(
            "Function",
            "uppercase",
            json!({"wasm": {"module": "/m.wasm"},
            "input": {"topics": ["persistent://public/default/words"]},
            "output": {"topic": "persistent://public/default/words-upper"}, "pulsar": pulsar()}),
        ),
        cr(
            "Source",
            "orders-generator",
            json!({"builtin": {"name": "datagen"},
            "output": {"topic": "persistent://public/default/orders"}, "pulsar": pulsar()}),
        ),
        cr(
            "Sink",
            "orders-log",
            json!({"builtin": {"name": "log"},
            "input": {"topics": ["persistent://public/default/orders"]}, "pulsar": pulsar()}),
        ),
        cr(
            "FunctionMesh",
            "pipeline",
            json!({
            "sources": [{"name": "gen", "builtin": {"name": "datagen"},
                "output": {"topic": "persistent://public/default/p-raw"}, "pulsar": pulsar()}],
            "functions": [{"name": "enrich", "wasm": {"module": "/m.wasm"},
                "input": {"topics": ["persistent://public/default/p-raw"]},
                "output": {"topic": "persistent://public/default/p-enriched"}, "pulsar": pulsar()}],
            "sinks": [{"name": "log", "builtin": {"name": "log"},
                "input": {"topics": ["persistent://public/default/p-enriched"]}, "pulsar": pulsar()}]}),
        ),
    ];
    for doc in &good {
        let (ok, out) = k.apply(doc).await;
        assert!(ok, "good {}: {out}", doc["kind"]);
        let kind = doc["kind"].as_str().expect("kind").to_lowercase();
        let stored = k
            .get(&kind, doc["metadata"]["name"].as_str().expect("name"))
            .await;
        let spec = if kind == "functionmesh" {
            stored["spec"]["functions"][0].clone()
        } else {
            stored["spec"].clone()
        };
        assert_eq!(spec["tenant"], "public", "{kind} defaulted: {stored}");
        assert_eq!(spec["replicas"], 1, "{kind} defaulted: {stored}");
        assert_eq!(
            spec["processingGuarantee"], "atleast_once",
            "{kind}: {stored}"
        );
    }
    let f = k.get("function", "uppercase").await;
    assert_eq!(f["spec"]["subscriptionName"], "public/default/uppercase");
    println!("--- defaulted Function spec: {}", f["spec"]);

    // Applying the same files again changes nothing; kubectl diff shows nothing.
    // (For a mesh kubectl reports "configured": a JSON merge patch replaces whole lists, so it
    // re-sends the members without their defaults and the webhook adds them back; the stored
    // object, and so its generation, stays the same.)
    for doc in &good {
        let kind = doc["kind"].as_str().expect("kind").to_lowercase();
        let name = doc["metadata"]["name"].as_str().expect("name");
        let before = k.get(&kind, name).await;
        let (ok, out) = k.apply(doc).await;
        assert!(ok, "re-apply: {out}");
        let after = k.get(&kind, name).await;
        assert_eq!(
            before["metadata"]["generation"], after["metadata"]["generation"],
            "re-apply changed {kind}: {out}"
        );
        assert_eq!(before["spec"], after["spec"]);
        let diff = k.run(&["diff", "-f", "-"], Some(&doc.to_string())).await;
        assert!(
            diff.status.success() && diff.stdout.is_empty(),
            "kubectl diff of {}: {}{}",
            doc["kind"],
            String::from_utf8_lossy(&diff.stdout),
            String::from_utf8_lossy(&diff.stderr)
        );
    }

    // A mesh with a dangling input is admitted with a warning kubectl prints.
    let dangling = cr(
        "FunctionMesh",
        "dangling",
        json!({
        "functions": [{"name": "enrich", "wasm": {"module": "/m.wasm"},
            "input": {"topics": ["persistent://public/default/nobody-writes-this"]},
            "output": {"topic": "persistent://public/default/d-out"}, "pulsar": pulsar()}],
        "sinks": [{"name": "log", "builtin": {"name": "log"},
            "input": {"topics": ["persistent://public/default/d-out"]}, "pulsar": pulsar()}]}),
    );
    let (ok, out) = k.apply(&dangling).await;
    println!("--- dangling mesh:\n{out}");
    assert!(
        ok && out.contains("Warning:") && out.contains("nobody-writes-this"),
        "{out}"
    );

    // A CR naming a missing Secret is denied, and admitted once the Secret exists.
    let with_secret = cr(
        "Sink",
        "orders-index",
        json!({"builtin": {"name": "log"},
        "input": {"topics": ["persistent://public/default/orders"]},
        "secretsMap": {"password": {"path": "elasticsearch-credentials", "key": "password"}},
        "pulsar": pulsar()}),
    );
    let (ok, out) = k.apply(&with_secret).await;
    println!("--- missing Secret:\n{out}");
    assert!(
        !ok && out.contains(
            "spec.secretsMap[password]: Secret `elasticsearch-credentials` does not exist"
        ),
        "{out}"
    );
    let (ok, out) = k
        .apply(&json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "elasticsearch-credentials"},
            "stringData": {"username": "elastic"}}))
        .await;
    assert!(ok, "{out}");
    let (ok, out) = k.apply(&with_secret).await;
    assert!(
        !ok && out.contains("has no key `password`"),
        "a Secret without the key: {out}"
    );
    let (ok, out) = k
        .apply(&json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "elasticsearch-credentials"},
            "stringData": {"username": "elastic", "password": "s3cret"}}))
        .await;
    assert!(ok, "{out}");
    let (ok, out) = k.apply(&with_secret).await;
    assert!(ok, "admitted once the Secret has the key: {out}");

    // The opt-out annotation turns a missing reference into a warning.
    let mut late = cr(
        "Sink",
        "late-secret",
        json!({"builtin": {"name": "log"},
        "input": {"topics": ["persistent://public/default/orders"]},
        "secretsMap": {"token": {"path": "arrives-later", "key": "token"}}, "pulsar": pulsar()}),
    );
    late["metadata"]["annotations"] = json!({"fmesh.io/reference-checks": "warn"});
    let (ok, out) = k.apply(&late).await;
    assert!(
        ok && out.contains("Warning:") && out.contains("arrives-later"),
        "{out}"
    );

    // UPDATE: an in-place subscription change is refused without a recorded intent.
    let out = k
        .run(
            &[
                "patch",
                "function",
                "uppercase",
                "--type=merge",
                "-p",
                r#"{"spec":{"subscriptionName":"other"}}"#,
            ],
            None,
        )
        .await;
    let text = String::from_utf8_lossy(&out.stderr);
    println!("--- subscription change:\n{text}");
    assert!(
        !out.status.success() && text.contains("spec.subscriptionName"),
        "{text}"
    );
    let out = k
        .run(&["patch", "function", "uppercase", "--type=merge", "-p",
            r#"{"metadata":{"annotations":{"fmesh.io/update-intent":"subscriptionName"}},"spec":{"subscriptionName":"other"}}"#], None)
        .await;
    assert!(
        out.status.success(),
        "with intent: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The intent was spent by that update: left on the object, it allows no further change.
    let out = k
        .run(
            &[
                "patch",
                "function",
                "uppercase",
                "--type=merge",
                "-p",
                r#"{"spec":{"subscriptionName":"third"}}"#,
            ],
            None,
        )
        .await;
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && text.contains("spec.subscriptionName"),
        "a stale intent allowed a change: {text}"
    );

    // Certificate rotation while requests flow loses none.
    let functions: Api<fmesh_crds::Function> = Api::namespaced(client.clone(), &ns_name);
    let probe: fmesh_crds::Function = serde_json::from_value(cr(
        "Function",
        "probe",
        json!({
        "wasm": {"module": "/m.wasm"}, "input": {"topics": ["in"]}, "output": {"topic": "out"},
        "pulsar": pulsar()}),
    ))
    .expect("probe Function");
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (load_stop_tx, load_stop_rx) = tokio::sync::watch::channel(false);
    let mut load = Vec::new();
    for _ in 0..4 {
        let (functions, probe, sent, failed, stop) = (
            functions.clone(),
            probe.clone(),
            sent.clone(),
            failed.clone(),
            load_stop_rx.clone(),
        );
        load.push(tokio::spawn(async move {
            let pp = PostParams {
                dry_run: true,
                ..PostParams::default()
            };
            while !*stop.borrow() {
                sent.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = functions.create(&pp, &probe).await {
                    failed.fetch_add(1, Ordering::Relaxed);
                    eprintln!("request failed during rotation: {e}");
                }
            }
        }));
    }
    manager.reconcile().await.expect("reconcile");
    let mut fingerprints = vec![resolver.fingerprint().expect("loaded")];
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let bundle = manager.rotate_serving_now().await.expect("rotate");
        let now = resolver.fingerprint().expect("loaded");
        assert_eq!(now, pki::fingerprint(&bundle.serving.cert_pem).expect("fp"));
        assert_eq!(
            presented_fingerprint(port, &bundle.ca_bundle_pem()).await,
            now,
            "new handshakes get the new certificate"
        );
        fingerprints.push(now);
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let _ = load_stop_tx.send(true);
    for task in load {
        task.await.expect("load task");
    }
    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!(
        "--- rotation: {sent} dry-run creates through the webhook during 3 rotations, {failed} failed"
    );
    fingerprints.dedup();
    assert_eq!(fingerprints.len(), 4, "three rotations");
    assert!(sent > 20, "load flowed: {sent}");
    assert_eq!(failed, 0);

    // Several replicas starting at once agree on one Secret and serve the same certificate.
    let replicas: Vec<(SelfManaged, Arc<HotResolver>)> = (0..3)
        .map(|_| {
            let r = HotResolver::new();
            let m = SelfManaged::new(
                SecretStore::new(client.clone(), &ns_name, "replicas-agree"),
                None,
                r.clone(),
                Policy::new(vec!["127.0.0.1".into()]),
            );
            (m, r)
        })
        .collect();
    let results = futures::future::join_all(replicas.iter().map(|(m, _)| m.reconcile())).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let served: Vec<Option<String>> = replicas.iter().map(|(_, r)| r.fingerprint()).collect();
    assert!(
        served[0].is_some() && served.iter().all(|f| f == &served[0]),
        "replicas disagree: {served:?}"
    );

    let text = metrics.render();
    assert!(
        text.contains("fmesh_webhook_admission_requests_total"),
        "{text}"
    );
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(20), server).await;
    drop(_guard);
    drop(ns);
}
