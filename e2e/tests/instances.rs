//! Pulsar's real instances on the local cluster: Function Mesh–shaped CRs run on the Java
//! runner images `fmesh-e2e images` builds (e2e/src/runners.rs) against Apache Pulsar, and
//! process messages. An in-process operator scoped to the test's namespace makes the pods, as in
//! operator/tests/cluster.rs.
//!
//! Needs the cluster and Apache Pulsar advertised on the node IP (e2e/ci.sh):
//!   fmesh-e2e pulsar up --advertise 10.244.0.1   # FMESH_PULSAR_URL / FMESH_PULSAR_ADMIN_URL
//!   cargo test -p fmesh-e2e --test instances -- --ignored --nocapture
//! Skips, saying so, when FMESH_PULSAR_URL is unset (fails instead with FMESH_PULSAR_REQUIRED=1).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fmesh_e2e::probe::http_get;
use fmesh_e2e::{Cluster, TestNamespace, runners, wait};
use fmesh_operator::metrics::Metrics;
use fmesh_operator::{Capabilities, OperatorConfig, controller};
use futures::TryStreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use pulsar::consumer::InitialPosition;
use pulsar::{Consumer, ConsumerOptions, Pulsar, TokioExecutor};
use serde_json::{Value, json};

/// A JVM pod on a loaded 2-core node: image unpack, JVM start, instance start.
const READY: Duration = Duration::from_secs(300);
const FLOW: Duration = Duration::from_secs(180);

struct Env {
    cluster: Cluster,
    ns: TestNamespace,
    client: Client,
    pulsar: Pulsar<TokioExecutor>,
    admin: String,
    operator: tokio::task::JoinHandle<()>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.operator.abort();
    }
}

/// Apache Pulsar's binary and admin URLs, as `fmesh-e2e pulsar up` printed them.
fn apache_pulsar() -> Option<(String, String)> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (Some(url), Some(admin)) = (var("FMESH_PULSAR_URL"), var("FMESH_PULSAR_ADMIN_URL")) else {
        assert!(
            var("FMESH_PULSAR_REQUIRED").as_deref() != Some("1"),
            "FMESH_PULSAR_REQUIRED=1 but FMESH_PULSAR_URL/FMESH_PULSAR_ADMIN_URL are unset"
        );
        eprintln!(
            "SKIPPED: the real-instance scenarios need Apache Pulsar; FMESH_PULSAR_URL is unset"
        );
        return None;
    };
    Some((url, admin))
}

impl Env {
    async fn new(prefix: &str) -> Option<Env> {
        let (url, admin) = apache_pulsar()?;
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(
                std::env::var("RUST_LOG").unwrap_or_else(|_| "fmesh_operator=info".into()),
            )
            .try_init();
        let cluster = Cluster::ensure().await.expect("cluster up");
        let t = Instant::now();
        let built = runners::build(cluster.local().layout(), &fmesh_e2e::layout::cache_root())
            .expect("runner images");
        eprintln!(
            "runner images {built:?} in {:.1}s",
            t.elapsed().as_secs_f64()
        );
        install_crds(&cluster).await;
        let ns = cluster.namespace(prefix).await.expect("namespace");
        let client = cluster.client();
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "pulsar"},
            "data": {"webServiceURL": admin, "brokerServiceURL": url},
        }))
        .expect("ConfigMap");
        Api::<ConfigMap>::namespaced(client.clone(), ns.name())
            .create(&PostParams::default(), &cm)
            .await
            .expect("pulsar ConfigMap");
        let cfg = OperatorConfig {
            java_image: runners::JAVA_RUNNER.into(),
            image_pull_policy: Some("IfNotPresent".into()),
            watch_namespace: Some(ns.name().into()),
            leader_elect: false,
            ..OperatorConfig::default()
        };
        let caps = Capabilities::discover(&client).await.expect("discovery");
        let operator = tokio::spawn(controller::run(
            client.clone(),
            cfg,
            caps,
            Arc::new(Metrics::default()),
            None,
        ));
        let pulsar = Pulsar::builder(url.as_str(), TokioExecutor)
            .build()
            .await
            .expect("connect to Apache Pulsar");
        let admin = admin
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        Some(Env {
            cluster,
            ns,
            client,
            pulsar,
            admin,
            operator,
        })
    }

    fn ns(&self) -> &str {
        self.ns.name()
    }

    /// A topic of this test's own (namespaces are unique, topics on Pulsar are not).
    fn topic(&self, name: &str) -> String {
        format!("persistent://public/default/{}-{name}", self.ns())
    }

    fn kubectl(&self, args: &[&str]) -> String {
        let out = std::process::Command::new(self.cluster.local().binaries().program("kubectl"))
            .arg("--kubeconfig")
            .arg(self.cluster.kubeconfig())
            .args(["-n", self.ns()])
            .args(args)
            .output()
            .expect("kubectl runs");
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn apply(&self, doc: Value) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("cr.json");
        std::fs::write(&path, doc.to_string()).expect("write CR");
        self.kubectl(&["apply", "-f", &path.display().to_string()]);
    }

    /// Waits until `n` pods with this instance label run, and returns them by name.
    async fn running_pods(&self, selector: &str, n: usize) -> BTreeMap<String, Pod> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), self.ns());
        let lp = ListParams::default().labels(selector);
        let found = wait::until(&format!("{n} running pods {selector}"), READY, || {
            let (pods, lp) = (&pods, &lp);
            async move {
                let list = pods.list(lp).await?;
                let running: BTreeMap<String, Pod> = list
                    .items
                    .into_iter()
                    .filter(|p| wait::phase(Some(p)).as_deref() == Some("Running"))
                    .map(|p| (p.name_any(), p))
                    .collect();
                Ok((running.len() == n).then_some(running))
            }
        })
        .await;
        match found {
            Ok(p) => p,
            Err(e) => panic!("{e}\n{}", self.cluster.pods_report(self.ns(), 40).await),
        }
    }

    /// Waits until the StatefulSet has `replicas` ready pods, all of its latest revision (a
    /// rolling update has finished, not merely begun).
    async fn settled(&self, sts: &str, replicas: i32) {
        let api: Api<StatefulSet> = Api::namespaced(self.client.clone(), self.ns());
        let res = wait::until(&format!("{sts} settled at {replicas}"), READY, || {
            let api = &api;
            async move {
                let s = api.get(sts).await?;
                let generation = s.metadata.generation.unwrap_or_default();
                let Some(st) = s.status else { return Ok(None) };
                let done = st.observed_generation.unwrap_or_default() >= generation
                    && st.replicas == replicas
                    && st.ready_replicas == Some(replicas)
                    && st.updated_replicas == Some(replicas)
                    && st.current_revision.is_some()
                    && st.current_revision == st.update_revision;
                Ok(done.then_some(()))
            }
        })
        .await;
        if let Err(e) = res {
            panic!("{e}\n{}", self.cluster.pods_report(self.ns(), 40).await);
        }
    }

    /// Waits until the topic has the subscription (the instance consumes from LATEST).
    async fn subscribed(&self, topic: &str, subscription: &str) {
        let path = format!(
            "/admin/v2/{}/subscriptions",
            topic.replace("persistent://", "persistent/")
        );
        let res = wait::until(&format!("{subscription} on {topic}"), READY, || {
            let path = &path;
            async move {
                let body = http_get(&self.admin, path, Duration::from_secs(5))
                    .await
                    .unwrap_or_default();
                Ok(body.contains(&format!("\"{subscription}\"")).then_some(()))
            }
        })
        .await;
        if let Err(e) = res {
            panic!("{e}\n{}", self.cluster.pods_report(self.ns(), 60).await);
        }
    }

    async fn consumer(&self, topic: &str) -> Consumer<Vec<u8>, TokioExecutor> {
        self.pulsar
            .consumer()
            .with_topic(topic)
            .with_subscription("fmesh-e2e")
            .with_options(
                ConsumerOptions::default().with_initial_position(InitialPosition::Earliest),
            )
            .build()
            .await
            .expect("consumer")
    }

    async fn produce(&self, topic: &str, values: impl IntoIterator<Item = String>) {
        let mut producer = self
            .pulsar
            .producer()
            .with_topic(topic)
            .build()
            .await
            .expect("producer");
        for v in values {
            producer
                .send_non_blocking(v.into_bytes())
                .await
                .expect("send")
                .await
                .expect("receipt");
        }
    }
}

/// Receives exactly `n` messages (acknowledging each), or fails naming how many came.
async fn receive(consumer: &mut Consumer<Vec<u8>, TokioExecutor>, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    let deadline = Instant::now() + FLOW;
    while got.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = tokio::time::timeout(left, consumer.try_next())
            .await
            .unwrap_or_else(|_| panic!("{} of {n} messages within {FLOW:?}", got.len()))
            .expect("receive")
            .expect("stream open");
        consumer.ack(&msg).await.expect("ack");
        got.push(String::from_utf8_lossy(&msg.payload.data).into_owned());
    }
    got
}

fn function(name: &str, class: &str, input: &str, output: &str, extra: Value) -> Value {
    let mut doc = json!({
        "apiVersion": "compute.functionmesh.io/v1alpha1",
        "kind": "Function",
        "metadata": {"name": name},
        "spec": {
            "className": class,
            "image": runners::JAVA_SAMPLE,
            "replicas": 1,
            "input": {"topics": [input], "typeClassName": "java.lang.String"},
            "output": {"topic": output, "typeClassName": "java.lang.String"},
            "pulsar": {"pulsarConfig": "pulsar"},
            "java": {"jar": runners::EXAMPLES_JAR},
            "clusterName": "standalone",
            "resources": {"requests": {"cpu": "50m", "memory": "256Mi"}},
        },
    });
    merge(&mut doc["spec"], extra);
    doc
}

fn merge(base: &mut Value, extra: Value) {
    if let (Value::Object(b), Value::Object(e)) = (base, extra) {
        for (k, v) in e {
            b.insert(k, v);
        }
    }
}

#[tokio::test]
#[ignore = "needs the local cluster and Apache Pulsar on the node IP (e2e/ci.sh)"]
async fn java_function_processes_messages_and_scales_without_restarts() {
    let Some(env) = Env::new("java-fn").await else {
        return;
    };
    let (input, output) = (env.topic("in"), env.topic("out"));
    let mut out = env.consumer(&output).await;
    let t = Instant::now();
    env.apply(function(
        "exclaim",
        "org.apache.pulsar.functions.api.examples.ExclamationFunction",
        &input,
        &output,
        json!({"subscriptionName": "exclaim"}),
    ));
    let selector = "compute.functionmesh.io/name=exclaim";
    env.running_pods(selector, 1).await;
    env.subscribed(&input, "exclaim").await;
    eprintln!(
        "Java function: applied to subscribed in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    let n = 100;
    let sent: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    env.produce(&input, sent.clone()).await;
    let mut got = receive(&mut out, n).await;
    got.sort();
    let mut want: Vec<String> = sent.iter().map(|s| format!("{s}!")).collect();
    want.sort();
    assert_eq!(got, want, "each message out once, exclaimed");
    eprintln!(
        "Java function: {n} messages through in {:.1}s",
        t.elapsed().as_secs_f64()
    );

    // kubectl scale: one more pod, the first keeps running (same UID, no restart).
    let before = env.running_pods(selector, 1).await;
    env.kubectl(&["scale", "function", "exclaim", "--replicas=2"]);
    env.settled("exclaim-function", 2).await;
    let after = env.running_pods(selector, 2).await;
    for (name, pod) in &before {
        let now = after
            .get(name)
            .unwrap_or_else(|| panic!("{name} gone after scale"));
        assert_eq!(now.uid(), pod.uid(), "{name} was replaced by the scale");
        let restarts = |p: &Pod| {
            p.status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .map(|c| c.iter().map(|c| c.restart_count).sum::<i32>())
                .unwrap_or_default()
        };
        assert_eq!(
            restarts(now),
            restarts(pod),
            "{name} restarted by the scale"
        );
    }
    // Both instances consume (Shared subscription): all of a second batch comes out.
    let sent: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
    env.produce(&input, sent.clone()).await;
    let got = receive(&mut out, n).await;
    assert_eq!(got.len(), n);
    assert!(got.iter().all(|g| g.ends_with('!')));
}

/// Applies the CRDs once (server-side: they are large); `null` dropped from `enum` lists as in
/// operator/tests/cluster.rs.
async fn install_crds(cluster: &Cluster) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../manifests/crds");
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
    let pp = PatchParams::apply("fmesh-e2e-instances").force();
    for entry in std::fs::read_dir(&dir).expect("manifests/crds") {
        let path = entry.expect("dir entry").path();
        if !path
            .to_string_lossy()
            .ends_with(".compute.functionmesh.io.yaml")
        {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read CRD");
        let mut doc: Value = serde_saphyr::from_str(&text).expect("CRD YAML");
        drop_null_enum_values(&mut doc);
        let name = doc["metadata"]["name"].as_str().expect("name").to_string();
        crds.patch(&name, &pp, &Patch::Apply(&doc))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    for name in ["functions", "sources", "sinks", "functionmeshes"] {
        let full = format!("{name}.compute.functionmesh.io");
        wait::until(&format!("CRD {full} established"), READY, || async {
            let c = crds.get(&full).await?;
            let ok = c
                .status
                .and_then(|s| s.conditions)
                .into_iter()
                .flatten()
                .any(|c| c.type_ == "Established" && c.status == "True");
            Ok(ok.then_some(()))
        })
        .await
        .expect("CRD established");
    }
}

fn drop_null_enum_values(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::Array(e)) = m.get_mut("enum") {
                e.retain(|x| !x.is_null());
            }
            m.values_mut().for_each(drop_null_enum_values);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_null_enum_values),
        _ => {}
    }
}

#[tokio::test]
#[ignore = "needs the local cluster and Apache Pulsar on the node IP (e2e/ci.sh)"]
async fn windowed_java_function_sums_tumbling_windows() {
    let Some(env) = Env::new("java-window").await else {
        return;
    };
    let (input, output) = (env.topic("in"), env.topic("out"));
    let mut out = env.consumer(&output).await;
    let mut doc = function(
        "sum",
        "org.apache.pulsar.functions.api.examples.AddWindowFunction",
        &input,
        &output,
        json!({
            "subscriptionName": "sum",
            "windowConfig": {"windowLengthCount": 10, "slidingIntervalCount": 10},
        }),
    );
    doc["spec"]["input"]["typeClassName"] = json!("java.lang.Integer");
    doc["spec"]["output"]["typeClassName"] = json!("java.lang.Integer");
    env.apply(doc);
    env.running_pods("compute.functionmesh.io/name=sum", 1)
        .await;
    env.subscribed(&input, "sum").await;
    // With no schemaType the instance gives java.lang.Integer Pulsar's JSON schema (its
    // default for classes other than String, byte[] and protobuf): numbers as JSON text.
    env.produce(&input, (1..=100).map(|i: i32| i.to_string()))
        .await;
    let sums: Vec<i32> = receive(&mut out, 10)
        .await
        .iter()
        .map(|s| s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}")))
        .collect();
    // Window k (0-based) holds 10k+1 ..= 10k+10.
    let want: Vec<i32> = (0..10)
        .map(|k| (1..=10).map(|j| 10 * k + j).sum())
        .collect();
    assert_eq!(sums, want, "one sum per tumbling window of 10");
}

#[tokio::test]
#[ignore = "needs the local cluster and Apache Pulsar on the node IP (e2e/ci.sh)"]
async fn java_source_feeds_java_sink() {
    let Some(env) = Env::new("java-io").await else {
        return;
    };
    let topic = env.topic("people");
    let mut seen = env.consumer(&topic).await;
    let (addr, posts) = http_receiver().await;
    env.apply(json!({
        "apiVersion": "compute.functionmesh.io/v1alpha1",
        "kind": "Source",
        "metadata": {"name": "people"},
        "spec": {
            "className": "org.apache.pulsar.io.datagenerator.DataGeneratorSource",
            "image": runners::JAVA_SAMPLE,
            "replicas": 1,
            "output": {"topic": topic, "typeClassName": "org.apache.pulsar.io.datagenerator.Person"},
            "sourceConfig": {"sleepBetweenMessages": "50"},
            "pulsar": {"pulsarConfig": "pulsar"},
            "java": {"jar": "connectors/pulsar-io-data-generator.nar"},
            "clusterName": "standalone",
            "resources": {"requests": {"cpu": "50m", "memory": "256Mi"}},
        },
    }));
    env.apply(json!({
        "apiVersion": "compute.functionmesh.io/v1alpha1",
        "kind": "Sink",
        "metadata": {"name": "webhook"},
        "spec": {
            "className": "org.apache.pulsar.io.http.HttpSink",
            "image": runners::JAVA_SAMPLE,
            "replicas": 1,
            "input": {
                "topics": [topic],
                "typeClassName": "org.apache.pulsar.client.api.schema.GenericObject",
            },
            "subscriptionName": "webhook",
            "sinkConfig": {"url": format!("http://{addr}/people")},
            "pulsar": {"pulsarConfig": "pulsar"},
            "java": {"jar": "connectors/pulsar-io-http.nar"},
            "clusterName": "standalone",
            "resources": {"requests": {"cpu": "50m", "memory": "256Mi"}},
        },
    }));
    let n = 50;
    let people = receive(&mut seen, n).await;
    assert!(
        people.iter().all(|p| p.contains("firstName")),
        "{:?}",
        &people[..3]
    );
    let res = wait::until(&format!("{n} POSTs at the HTTP sink's URL"), FLOW, || {
        let posts = posts.clone();
        async move {
            let got = posts.lock().expect("lock").len();
            Ok((got >= n).then_some(()))
        }
    })
    .await;
    if let Err(e) = res {
        panic!("{e}\n{}", env.cluster.pods_report(env.ns(), 60).await);
    }
    let bodies = posts.lock().expect("lock").clone();
    assert!(
        bodies.iter().all(|b| b.contains("firstName")),
        "{:?}",
        &bodies[..3]
    );
    eprintln!("Java source → Java sink: {} records posted", bodies.len());
}

type Posts = Arc<std::sync::Mutex<Vec<String>>>;

/// An HTTP server on the node IP (where pods reach the host) that keeps every request body.
async fn http_receiver() -> (std::net::SocketAddr, Posts) {
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("10.244.0.1:0")
        .await
        .expect("bind on the node IP");
    let addr = listener.local_addr().expect("addr");
    let posts: Posts = Arc::default();
    let kept = posts.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let kept = kept.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let kept = kept.clone();
                        async move {
                            let body = req.into_body().collect().await?.to_bytes();
                            kept.lock()
                                .expect("lock")
                                .push(String::from_utf8_lossy(&body).into_owned());
                            Ok::<_, hyper::Error>(hyper::Response::new(http_body_util::Empty::<
                                hyper::body::Bytes,
                            >::new(
                            )))
                        }
                    },
                );
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    (addr, posts)
}

#[tokio::test]
#[ignore = "needs the local cluster and Apache Pulsar on the node IP (e2e/ci.sh)"]
async fn function_mesh_of_java_source_functions_and_sink() {
    let Some(env) = Env::new("java-mesh").await else {
        return;
    };
    let (input, mid, output, people) = (
        env.topic("in"),
        env.topic("mid"),
        env.topic("out"),
        env.topic("people"),
    );
    let mut out = env.consumer(&output).await;
    let (addr, posts) = http_receiver().await;
    let member = |name: &str, class: &str, from: &str, to: &str| {
        let mut m =
            function(name, class, from, to, json!({"subscriptionName": name}))["spec"].clone();
        m["name"] = json!(name);
        m
    };
    let exclaim = "org.apache.pulsar.functions.api.examples.ExclamationFunction";
    let common = |extra: Value| {
        let mut m = json!({
            "image": runners::JAVA_SAMPLE,
            "replicas": 1,
            "pulsar": {"pulsarConfig": "pulsar"},
            "clusterName": "standalone",
            "resources": {"requests": {"cpu": "50m", "memory": "256Mi"}},
        });
        merge(&mut m, extra);
        m
    };
    env.apply(json!({
        "apiVersion": "compute.functionmesh.io/v1alpha1",
        "kind": "FunctionMesh",
        "metadata": {"name": "mesh"},
        "spec": {
            "sources": [common(json!({
                "name": "people",
                "className": "org.apache.pulsar.io.datagenerator.DataGeneratorSource",
                "output": {"topic": people, "typeClassName": "org.apache.pulsar.io.datagenerator.Person"},
                "sourceConfig": {"sleepBetweenMessages": "100"},
                "java": {"jar": "connectors/pulsar-io-data-generator.nar"},
            }))],
            "functions": [
                member("first", exclaim, &input, &mid),
                member("second", exclaim, &mid, &output),
            ],
            "sinks": [common(json!({
                "name": "webhook",
                "className": "org.apache.pulsar.io.http.HttpSink",
                "input": {
                    "topics": [people],
                    "typeClassName": "org.apache.pulsar.client.api.schema.GenericObject",
                },
                "subscriptionName": "webhook",
                "sinkConfig": {"url": format!("http://{addr}/people")},
                "java": {"jar": "connectors/pulsar-io-http.nar"},
            }))],
        },
    }));
    for name in ["mesh-people", "mesh-first", "mesh-second", "mesh-webhook"] {
        env.running_pods(&format!("compute.functionmesh.io/name={name}"), 1)
            .await;
    }
    env.subscribed(&input, "first").await;
    env.subscribed(&mid, "second").await;
    let n = 100;
    env.produce(&input, (0..n).map(|i| format!("m{i}"))).await;
    let mut got = receive(&mut out, n).await;
    got.sort();
    let mut want: Vec<String> = (0..n).map(|i| format!("m{i}!!")).collect();
    want.sort();
    assert_eq!(got, want, "each message through both functions once");
    let res = wait::until("20 POSTs from the mesh's sink", FLOW, || {
        let posts = posts.clone();
        async move { Ok((posts.lock().expect("lock").len() >= 20).then_some(())) }
    })
    .await;
    if let Err(e) = res {
        panic!("{e}\n{}", env.cluster.pods_report(env.ns(), 60).await);
    }
    eprintln!(
        "mesh: {n} messages through two functions, {} records source → sink",
        posts.lock().expect("lock").len()
    );
}
