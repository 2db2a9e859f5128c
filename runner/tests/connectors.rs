//! The builtin connectors against real peers: the embedded broker on loopback, HTTP clients
//! and servers on loopback, and an Elasticsearch stand-in implementing `_bulk`'s documented
//! request and response format (per-item statuses included). Every test counts messages in
//! and out: nothing may be lost.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use common::*;
use fmesh_runner::connectors::http_client::HttpClient;
use fmesh_runner::{
    Connection, InstanceConfig, InstanceIdentity, RunnerError, RunningInstance, spec,
};
use http_body_util::Full;
use hyper::Request;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

/// Starts a runner for `spec_json` with `env` as its environment (secretsMap values).
async fn start_env(
    url: &str,
    spec_json: &str,
    env: &[(&str, &str)],
) -> Result<RunningInstance, RunnerError> {
    let env: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let plan = spec::parse(spec_json, &|k| env.get(k).cloned())?;
    let cfg = InstanceConfig {
        plan,
        connection: Connection {
            url: url.to_string(),
            ..Connection::default()
        },
        identity: InstanceIdentity {
            instance_id: 0,
            instance_count: 1,
        },
        metrics_addr: None,
        drain_timeout: Duration::from_secs(5),
    };
    within("runner starts", fmesh_runner::start_instance(cfg)).await
}

/// Publishes every message (waiting when the producer's queue is full) and awaits the receipts.
async fn publish(url: &str, topic: &str, msgs: &[Msg]) {
    let pulsar = client(url).await;
    let options = pulsar::producer::ProducerOptions {
        block_queue_if_full: true,
        ..Default::default()
    };
    let mut p = within(
        "producer",
        pulsar
            .producer()
            .with_topic(topic)
            .with_options(options)
            .build(),
    )
    .await
    .expect("producer");
    let mut receipts = Vec::new();
    for m in msgs {
        let msg = pulsar::producer::Message {
            payload: m.payload.clone(),
            partition_key: m.key.clone(),
            properties: m.properties.clone(),
            ..Default::default()
        };
        receipts.push(
            within("queue", p.send_non_blocking(msg))
                .await
                .expect("send"),
        );
    }
    for r in receipts {
        within("receipt", r).await.expect("receipt");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Serves `app` on a free loopback port.
async fn serve(app: Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    addr
}

async fn http(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Value) {
    let mut c = HttpClient::new(&format!("http://{addr}"), Duration::from_secs(20)).unwrap();
    let mut req = Request::post(path).header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = c
        .send(req.body(Full::new(Bytes::copy_from_slice(body))).unwrap())
        .await
        .expect("answer");
    (
        res.status.as_u16(),
        serde_json::from_slice(&res.body).unwrap_or(Value::Null),
    )
}

fn sink_spec(name: &str, input: &str, connector: &str, config: Value, extra: Value) -> String {
    let mut spec = json!({
        "kind": "Sink", "objectName": name, "input": {"topics": [input]},
        "subscriptionPosition": "earliest", "builtin": {"name": connector}, "sinkConfig": config,
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    spec.to_string()
}

// ---------------------------------------------------------------- datagen and log

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagen_publishes_every_templated_message_once() {
    for t in targets().await {
        eprintln!(
            "datagen_publishes_every_templated_message_once: against {}",
            t.name()
        );
        let url = t.service_url();
        let out = topic("gen-out");
        let spec = json!({
            "kind": "Source", "objectName": "gen", "output": {"topic": out}, "builtin": {"name": "datagen"},
            "sourceConfig": {"rate": 0, "count": 300, "template": "{\"n\": {{seq}}, \"v\": {{rand 1 6}}, \"s\": \"{{name}}\"}",
                              "key": "k{{seq}}", "properties": {"kind": "{{pick a b}}"}}
        });
        let mut c = subscribe(&url, &out, "check").await;
        let runner = start_env(&url, &spec.to_string(), &[])
            .await
            .expect("starts");
        let got = consume(&mut c, 300).await;
        let mut seen = BTreeSet::new();
        for m in &got {
            let v: Value = serde_json::from_slice(&m.payload).expect("JSON payload");
            let n = v["n"].as_u64().unwrap();
            assert!(seen.insert(n), "seq {n} twice");
            assert_eq!(m.key.as_deref(), Some(format!("k{n}").as_str()));
            assert!((1..=6).contains(&v["v"].as_i64().unwrap()));
            assert_eq!(v["s"], "gen");
            assert!(["a", "b"].contains(&m.properties["kind"].as_str()));
        }
        assert_eq!(seen, (0..300).collect(), "every seq exactly once");
        let m = runner.metrics.clone();
        until("all receipts", || m.processed.get() == 300).await;
        assert!(
            drain(&mut c, Duration::from_millis(300)).await.is_empty(),
            "count bounds the source"
        );
        stop(runner).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unbounded_datagen_counts_receipts_as_they_arrive() {
    for t in targets().await {
        eprintln!(
            "an_unbounded_datagen_counts_receipts_as_they_arrive: against {}",
            t.name()
        );
        let url = t.service_url();
        let out = topic("gen-endless");
        let spec = json!({
            "kind": "Source", "objectName": "gen", "output": {"topic": out}, "builtin": {"name": "datagen"},
            "sourceConfig": {"rate": 50, "template": "{{seq}}"}
        });
        let mut c = subscribe(&url, &out, "check").await;
        let runner = start_env(&url, &spec.to_string(), &[])
            .await
            .expect("starts");
        consume(&mut c, 20).await;
        // Far fewer than the 2000 receipts that may be outstanding: each is counted when it comes,
        // while the source keeps running.
        let m = runner.metrics.clone();
        until("receipts counted while running", || m.processed.get() >= 20).await;
        assert!(m.processed.get() <= m.received.get());
        stop(runner).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_connector_config_fails_the_start_with_the_field_path() {
    for t in targets().await {
        eprintln!(
            "bad_connector_config_fails_the_start_with_the_field_path: against {}",
            t.name()
        );
        let spec = json!({"kind": "Source", "objectName": "gen", "output": {"topic": "o"}, "builtin": {"name": "datagen"},
                          "sourceConfig": {"rate": -3}});
        let err = start_env(&t.service_url(), &spec.to_string(), &[])
            .await
            .unwrap_err();
        assert!(err.to_string().contains("spec.sourceConfig.rate"), "{err}");
        assert_eq!(err.exit_code(), 2);
        let spec = json!({"kind": "Sink", "objectName": "s", "input": {"topics": ["i"]}, "builtin": {"name": "elasticsearch"},
                          "sinkConfig": {"url": "http://es:9200", "index": "x", "batchSize": 0}});
        let err = start_env(&t.service_url(), &spec.to_string(), &[])
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("spec.sinkConfig.batchSize: must be ≥ 1"),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_sink_takes_and_acks_every_message() {
    for t in targets().await {
        eprintln!(
            "log_sink_takes_and_acks_every_message: against {}",
            t.name()
        );
        let url = t.service_url();
        let input = topic("log-in");
        let spec = sink_spec("logger", &input, "log", json!({"maxBytes": 8}), json!({}));
        let runner = start_env(&url, &spec, &[]).await.expect("starts");
        let msgs: Vec<Msg> = (0..40)
            .map(|i| Msg::text(&format!("line {i} with a long tail")))
            .collect();
        publish(&url, &input, &msgs).await;
        let m = runner.metrics.clone();
        until("all logged", || m.processed.get() == 40).await;
        stop(runner).await;
        let again = start_env(&url, &spec, &[]).await.expect("restarts");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(again.metrics.received.get(), 0, "all 40 were acked");
        stop(again).await;
    }
}

// ---------------------------------------------------------------- http source

fn http_source_spec(out: &str, port: u16, extra: Value) -> String {
    let mut config =
        json!({"host": "127.0.0.1", "port": port, "path": "/ingest", "keyField": "id"});
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    json!({"kind": "Source", "objectName": "ingest", "output": {"topic": out}, "builtin": {"name": "http"},
           "secretsMap": {"token": {"path": "ingest-secret", "key": "token"}}, "sourceConfig": config})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_source_publishes_bodies_and_ndjson_for_token_holders() {
    for t in targets().await {
        eprintln!(
            "http_source_publishes_bodies_and_ndjson_for_token_holders: against {}",
            t.name()
        );
        let url = t.service_url();
        let out = topic("http-in");
        let port = free_port();
        let err = start_env(&url, &http_source_spec(&out, port, json!({})), &[])
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("spec.secretsMap.token"),
            "no token, no start: {err}"
        );
        let runner = start_env(
            &url,
            &http_source_spec(&out, port, json!({})),
            &[("token", "s3cret")],
        )
        .await
        .expect("starts");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut c = subscribe(&url, &out, "check").await;
        let auth = ("authorization", "Bearer s3cret");

        let (status, _) = http(addr, "/ingest", &[], b"x").await;
        assert_eq!(status, 401, "no token");
        let (status, _) = http(addr, "/ingest", &[("authorization", "Bearer nope")], b"x").await;
        assert_eq!(status, 401, "wrong token");
        let (status, body) = http(
            addr,
            "/ingest",
            &[auth, ("x-pulsar-key", "k1")],
            b"plain body",
        )
        .await;
        assert_eq!((status, body), (200, json!({"accepted": 1})));
        let ndjson: &[(&str, &str)] = &[auth, ("content-type", "application/x-ndjson")];
        let (status, body) = http(
            addr,
            "/ingest",
            ndjson,
            b"{\"id\":7,\"v\":1}\n{\"id\":\"x\",\"v\":2}\n\n{\"v\":3}\n",
        )
        .await;
        assert_eq!((status, body), (200, json!({"accepted": 3})));
        let (status, body) = http(addr, "/ingest", ndjson, b"{\"v\":4}\nnot json\n").await;
        assert_eq!(status, 400, "{body}");
        let (status, _) = http(addr, "/ingest", &[auth], &vec![b'a'; 5 << 20]).await;
        assert_eq!(status, 413, "over maxBodyBytes");

        let got = consume(&mut c, 4).await;
        assert_eq!(got[0].as_str(), "plain body");
        assert_eq!(got[0].key.as_deref(), Some("k1"));
        assert_eq!(got[1].key.as_deref(), Some("7"));
        assert_eq!(got[2].key.as_deref(), Some("x"));
        assert_eq!(got[3].key, None);
        assert!(
            drain(&mut c, Duration::from_millis(300)).await.is_empty(),
            "the rejected batch published nothing"
        );
        assert_eq!(runner.metrics.processed.get(), 4);
        stop(runner).await;
    }
}

/// A TCP proxy in front of the broker whose broker→client direction can be held, so that
/// receipts are delayed at will.
struct Proxy {
    addr: SocketAddr,
    held: Arc<AtomicBool>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let held = Arc::new(AtomicBool::new(false));
        let h = held.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = l.accept().await {
                let server = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                tokio::spawn(async move { tokio::io::copy(&mut cr, &mut sw).await });
                let h = h.clone();
                tokio::spawn(async move {
                    use tokio::io::AsyncReadExt;
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match sr.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        while h.load(Ordering::SeqCst) {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        if cw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Proxy { addr, held }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_source_answers_after_the_receipt_and_429s_when_full() {
    let dir = tempfile::tempdir().unwrap();
    // The broker tells clients to connect to the proxy (lookups answer the advertised URL).
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let proxy = Proxy::start(listen).await;
    let mut cfg = fmesh_broker::BrokerConfig::for_tests(dir.path());
    cfg.listen = listen;
    cfg.advertised_url = Some(format!("pulsar://{}", proxy.addr));
    let b = fmesh_broker::start(cfg).await.expect("broker");
    let direct = b.service_url();
    let via_proxy = format!("pulsar://{}", proxy.addr);
    let out = topic("http-bp");
    let port = free_port();
    let spec = http_source_spec(&out, port, json!({"maxInFlight": 5}));
    let runner = start_env(&via_proxy, &spec, &[("token", "t")])
        .await
        .expect("starts");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let headers: &[(&str, &str)] = &[
        ("authorization", "Bearer t"),
        ("content-type", "application/x-ndjson"),
    ];
    // Warm up: the producer is connected and a request round-trips.
    assert_eq!(http(addr, "/ingest", headers, b"{\"w\":0}\n").await.0, 200);

    proxy.held.store(true, Ordering::SeqCst);
    let first = tokio::spawn(http(
        addr,
        "/ingest",
        headers,
        b"{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n{\"a\":4}\n",
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !first.is_finished(),
        "no answer before the broker's receipt"
    );
    let (status, _) = http(addr, "/ingest", headers, b"{\"b\":1}\n{\"b\":2}\n").await;
    assert_eq!(status, 429, "4 of 5 in flight: 2 more do not fit");
    let (status, _) = http(
        addr,
        "/ingest",
        headers,
        b"{\"c\":1}\n{\"c\":2}\n{\"c\":3}\n{\"c\":4}\n{\"c\":5}\n{\"c\":6}\n",
    )
    .await;
    assert_eq!(
        status, 413,
        "more than maxInFlight in one request can never fit"
    );
    proxy.held.store(false, Ordering::SeqCst);
    let (status, body) = within("first answer", first).await.unwrap();
    assert_eq!((status, body), (200, json!({"accepted": 4})));

    let mut c = subscribe(&direct, &out, "check").await;
    let got = consume(&mut c, 5).await;
    let payloads: Vec<String> = got.iter().map(Msg::as_str).collect();
    assert_eq!(
        payloads,
        [
            "{\"w\":0}",
            "{\"a\":1}",
            "{\"a\":2}",
            "{\"a\":3}",
            "{\"a\":4}"
        ]
    );
    assert!(
        drain(&mut c, Duration::from_millis(300)).await.is_empty(),
        "the 429'd batch was not published"
    );
    stop(runner).await;
}

// ---------------------------------------------------------------- http sink

/// One accepted request: headers of interest and the body.
type Accepted = (BTreeMap<String, String>, Vec<u8>);

#[derive(Default)]
struct Recorder {
    /// Bodies of accepted requests, with their headers of interest.
    accepted: Mutex<Vec<Accepted>>,
    /// Requests answered 503 so far / how many to answer so.
    failed: AtomicUsize,
    fail_first: usize,
}

async fn record(
    State(r): State<Arc<Recorder>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    if body.windows(6).any(|w| w == b"poison") {
        return (StatusCode::BAD_REQUEST, "poison refused");
    }
    if r.failed.fetch_add(1, Ordering::SeqCst) < r.fail_first {
        return (StatusCode::SERVICE_UNAVAILABLE, "busy");
    }
    let keep = ["authorization", "content-type", "x-pulsar-key", "x-static"];
    let h = headers
        .iter()
        .filter(|(k, _)| keep.contains(&k.as_str()))
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    r.accepted.lock().unwrap().push((h, body.to_vec()));
    (StatusCode::OK, "ok")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sink_posts_each_message_retries_and_dead_letters() {
    for t in targets().await {
        eprintln!(
            "http_sink_posts_each_message_retries_and_dead_letters: against {}",
            t.name()
        );
        let url = t.service_url();
        let rec = Arc::new(Recorder {
            fail_first: 3,
            ..Recorder::default()
        });
        let peer = serve(
            Router::new()
                .route("/hook", post(record))
                .with_state(rec.clone()),
        )
        .await;
        let (input, dlq) = (topic("hs-in"), topic("hs-dlq"));
        let spec = sink_spec(
            "hook",
            &input,
            "http",
            json!({"url": format!("http://{peer}/hook"), "headers": {"x-static": "yes"}, "maxRetries": 4, "retryBackoffMs": 5, "lingerMs": 1}),
            json!({"deadLetterTopic": dlq, "maxMessageRetry": 0, "secretsMap": {"token": {"path": "s", "key": "t"}}}),
        );
        let mut dead = subscribe(&url, &dlq, "check").await;
        let runner = start_env(&url, &spec, &[("token", "tk")])
            .await
            .expect("starts");
        let msgs: Vec<Msg> = (0..30)
            .map(|i| Msg {
                key: Some(format!("k{i}")),
                payload: if i % 10 == 5 {
                    format!("poison {i}")
                } else {
                    format!("m{i}")
                }
                .into_bytes(),
                ..Msg::default()
            })
            .collect();
        publish(&url, &input, &msgs).await;
        let dead_letters = consume(&mut dead, 3).await;
        let m = runner.metrics.clone();
        until("27 delivered", || m.processed.get() == 27).await;
        let accepted = rec.accepted.lock().unwrap().clone();
        let bodies: Vec<String> = accepted
            .iter()
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .collect();
        let want: Vec<String> = (0..30)
            .filter(|i| i % 10 != 5)
            .map(|i| format!("m{i}"))
            .collect();
        assert_eq!(
            bodies, want,
            "every good message once, in order, despite 3 503s"
        );
        let (h, _) = &accepted[0];
        assert_eq!(h["authorization"], "Bearer tk");
        assert_eq!(h["x-static"], "yes");
        assert_eq!(h["x-pulsar-key"], "k0");
        let dead: Vec<String> = dead_letters.iter().map(Msg::as_str).collect();
        assert_eq!(
            dead,
            ["poison 5", "poison 15", "poison 25"],
            "a 400 is not retried but dead-lettered"
        );
        assert_eq!(dead_letters[0].key.as_deref(), Some("k5"));
        assert_eq!(m.dead_lettered.get(), 3);
        stop(runner).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sink_batches_ndjson_without_losing_any() {
    for t in targets().await {
        eprintln!(
            "http_sink_batches_ndjson_without_losing_any: against {}",
            t.name()
        );
        let url = t.service_url();
        let rec = Arc::new(Recorder {
            fail_first: 1,
            ..Recorder::default()
        });
        let peer = serve(
            Router::new()
                .route("/bulk", post(record))
                .with_state(rec.clone()),
        )
        .await;
        let input = topic("hb-in");
        let spec = sink_spec(
            "batcher",
            &input,
            "http",
            json!({"url": format!("http://{peer}/bulk"), "batchSize": 50, "lingerMs": 20, "retryBackoffMs": 5}),
            json!({}),
        );
        let runner = start_env(&url, &spec, &[]).await.expect("starts");
        let msgs: Vec<Msg> = (0..500)
            .map(|i| Msg::text(&format!("{{\"i\":{i}}}")))
            .collect();
        publish(&url, &input, &msgs).await;
        let m = runner.metrics.clone();
        until("500 delivered", || m.processed.get() == 500).await;
        let accepted = rec.accepted.lock().unwrap().clone();
        let mut lines = Vec::new();
        for (h, body) in &accepted {
            assert_eq!(h["content-type"], "application/x-ndjson");
            let text = String::from_utf8(body.clone()).unwrap();
            assert!(text.ends_with('\n'));
            lines.extend(text.lines().map(str::to_string));
        }
        assert!(accepted.len() < 500, "batched: {} requests", accepted.len());
        let want: Vec<String> = msgs.iter().map(Msg::as_str).collect();
        assert_eq!(lines, want, "all 500, once each, in order");
        stop(runner).await;
    }
}

// ---------------------------------------------------------------- elasticsearch sink

/// Implements `POST /<base>/_bulk` as Elasticsearch documents it: NDJSON action/metadata lines
/// (`index` followed by a source line, `delete` alone), a JSON answer with `errors` and one
/// `items` entry per action, in order, each with its own `status` and, when it failed, an
/// `error` object with `type` and `reason`. Documents with `"reject": true` fail with 400
/// mapper_parsing_exception; with `"busy": true` they get 429 once.
#[derive(Default)]
struct FakeEs {
    docs: Mutex<BTreeMap<(String, String), Value>>,
    busy_seen: Mutex<BTreeSet<String>>,
    requests: AtomicUsize,
    auto_id: AtomicUsize,
}

async fn bulk(
    State(es): State<Arc<FakeEs>>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    es.requests.fetch_add(1, Ordering::SeqCst);
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/x-ndjson") {
        return (
            StatusCode::NOT_ACCEPTABLE,
            "content-type must be application/x-ndjson",
        )
            .into_response();
    }
    let text = String::from_utf8(body.to_vec()).unwrap();
    if !text.ends_with('\n') {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": {"type": "illegal_argument_exception", "reason": "The bulk request must be terminated by a newline [\\n]"}, "status": 400}))).into_response();
    }
    let mut lines = text.lines();
    let (mut items, mut errors) = (Vec::new(), false);
    while let Some(meta) = lines.next() {
        let meta: Value = serde_json::from_str(meta).unwrap();
        let (op, m) = meta.as_object().unwrap().iter().next().unwrap();
        let index = m["_index"].as_str().unwrap().to_string();
        let item = match op.as_str() {
            "index" => {
                let doc: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
                let id = m
                    .get("_id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| {
                        format!("auto-{}", es.auto_id.fetch_add(1, Ordering::SeqCst))
                    });
                if doc.get("reject") == Some(&json!(true)) {
                    json!({"_index": index, "_id": id, "status": 400,
                           "error": {"type": "mapper_parsing_exception", "reason": "failed to parse field [reject]"}})
                } else if doc.get("busy") == Some(&json!(true))
                    && es.busy_seen.lock().unwrap().insert(id.clone())
                {
                    json!({"_index": index, "_id": id, "status": 429,
                           "error": {"type": "es_rejected_execution_exception", "reason": "rejected execution of coordinating operation"}})
                } else {
                    let created = es
                        .docs
                        .lock()
                        .unwrap()
                        .insert((index.clone(), id.clone()), doc)
                        .is_none();
                    json!({"_index": index, "_id": id, "_version": 1, "result": if created {"created"} else {"updated"},
                           "status": if created {201} else {200}})
                }
            }
            "delete" => {
                let id = m["_id"].as_str().unwrap().to_string();
                let existed = es
                    .docs
                    .lock()
                    .unwrap()
                    .remove(&(index.clone(), id.clone()))
                    .is_some();
                json!({"_index": index, "_id": id, "result": if existed {"deleted"} else {"not_found"},
                       "status": if existed {200} else {404}})
            }
            other => panic!("unexpected action {other}"),
        };
        errors |= item.get("error").is_some();
        items.push(json!({op.clone(): item}));
    }
    axum::Json(json!({"took": 1, "errors": errors, "items": items})).into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn elasticsearch_sink_indexes_deletes_retries_and_dead_letters_per_item() {
    for t in targets().await {
        eprintln!(
            "elasticsearch_sink_indexes_deletes_retries_and_dead_letters_per_item: against {}",
            t.name()
        );
        let url = t.service_url();
        let es = Arc::new(FakeEs::default());
        let peer = serve(
            Router::new()
                .route("/_bulk", post(bulk))
                .with_state(es.clone()),
        )
        .await;
        let (input, dlq) = (topic("es-in"), topic("es-dlq"));
        let spec = sink_spec(
            "search",
            &input,
            "elasticsearch",
            json!({"url": format!("http://{peer}"), "index": "orders", "batchSize": 40, "lingerMs": 20, "retryBackoffMs": 5}),
            json!({"deadLetterTopic": dlq, "maxMessageRetry": 0}),
        );
        let mut dead = subscribe(&url, &dlq, "check").await;
        let runner = start_env(&url, &spec, &[]).await.expect("starts");
        // 200 documents keyed o0..o199; every 20th is rejected, every 15th is busy once, then the
        // first 30 keys are deleted by tombstones and one message is not JSON.
        let mut msgs: Vec<Msg> = (0..200)
            .map(|i| {
                let doc = json!({"order": i, "reject": i % 20 == 7, "busy": i % 15 == 3});
                Msg {
                    key: Some(format!("o{i}")),
                    payload: doc.to_string().into_bytes(),
                    ..Msg::default()
                }
            })
            .collect();
        msgs.extend((0..30).map(|i| Msg {
            key: Some(format!("o{i}")),
            ..Msg::default()
        }));
        msgs.push(Msg {
            key: Some("bad".into()),
            payload: b"not json".to_vec(),
            ..Msg::default()
        });
        publish(&url, &input, &msgs).await;

        let rejected: BTreeSet<u64> = (0..200).filter(|i| i % 20 == 7).collect();
        let dead_letters = consume(&mut dead, rejected.len() + 1).await;
        let m = runner.metrics.clone();
        let total = msgs.len() as u64;
        until("every message answered", || {
            m.processed.get() + m.dead_lettered.get() == total
        })
        .await;
        let mut dead_orders = BTreeSet::new();
        for d in &dead_letters {
            match serde_json::from_slice::<Value>(&d.payload) {
                Ok(v) => {
                    dead_orders.insert(v["order"].as_u64().unwrap());
                }
                Err(_) => assert_eq!(d.as_str(), "not json"),
            }
        }
        assert_eq!(
            dead_orders, rejected,
            "exactly the rejected documents are dead-lettered"
        );

        let docs = es.docs.lock().unwrap().clone();
        let want: BTreeSet<String> = (30..200)
            .filter(|i| !rejected.contains(i))
            .map(|i| format!("o{i}"))
            .collect();
        let have: BTreeSet<String> = docs
            .keys()
            .map(|(idx, id)| {
                assert_eq!(idx, "orders");
                id.clone()
            })
            .collect();
        assert_eq!(
            have, want,
            "indexed minus deleted minus rejected; busy ones retried in"
        );
        for i in (30..200).filter(|i| i % 15 == 3 && !rejected.contains(i)) {
            assert_eq!(
                docs[&("orders".to_string(), format!("o{i}"))]["order"],
                json!(i)
            );
        }
        assert_eq!(m.processed.get() + m.dead_lettered.get(), total, "in = out");
        assert!(
            es.requests.load(Ordering::SeqCst) < msgs.len(),
            "bulk requests carry batches"
        );
        stop(runner).await;
    }
}

// ---------------------------------------------------------------- https (both sinks)

/// A CA of its own (PEM) and a rustls server configuration whose certificate it signed,
/// naming `names` (IP literals become IP SANs).
fn tls_peer(names: &[&str]) -> (String, Arc<rustls::ServerConfig>) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "fmesh test CA");
    let ca_pem = ca.self_signed(&ca_key).unwrap().pem();
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let cert = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.der().clone()], key)
    .unwrap();
    (ca_pem, Arc::new(config))
}

/// Serves `app` over TLS on a free loopback port; refused handshakes count in `refused`.
async fn serve_tls(
    app: Router,
    config: Arc<rustls::ServerConfig>,
    refused: Arc<AtomicUsize>,
) -> SocketAddr {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = l.accept().await.unwrap();
            let (acceptor, app, refused) = (acceptor.clone(), app.clone(), refused.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    refused.fetch_add(1, Ordering::SeqCst);
                    return;
                };
                let svc = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });
    addr
}

fn ssl(config: Value) -> fmesh_crds::connectors::tls::SslConfig {
    serde_json::from_value(config).unwrap()
}

async fn get(client: &mut HttpClient) -> Result<u16, String> {
    let req = Request::post("/hook")
        .header("host", client.authority().to_string())
        .body(Full::new(Bytes::from_static(b"x")))
        .unwrap();
    client
        .send(req)
        .await
        .map(|r| r.status.as_u16())
        .map_err(|e| e.to_string())
}

/// The client against a real rustls server: the right CA passes; a wrong CA and a certificate
/// for another name are refused with the reason and the setting that fixes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_client_verifies_the_ca_and_the_host_name() {
    use fmesh_runner::connectors::tls::client_config;
    let (ca, server) = tls_peer(&["127.0.0.1", "localhost"]);
    let refused = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route("/hook", post(record))
        .with_state(Arc::new(Recorder::default()));
    let addr = serve_tls(app.clone(), server, refused.clone()).await;
    let url = format!("https://{addr}");
    let t = Duration::from_secs(10);
    let trusted = client_config(&ssl(json!({})), Some(ca.as_bytes())).unwrap();
    let mut ok = HttpClient::with_tls(&url, t, Some(trusted.clone())).unwrap();
    assert_eq!(get(&mut ok).await, Ok(200));
    assert_eq!(get(&mut ok).await, Ok(200), "kept alive");

    let (other_ca, _) = tls_peer(&["127.0.0.1"]);
    let wrong = client_config(&ssl(json!({})), Some(other_ca.as_bytes())).unwrap();
    let err = get(&mut HttpClient::with_tls(&url, t, Some(wrong)).unwrap())
        .await
        .unwrap_err();
    assert!(
        err.contains("TLS handshake")
            && err.contains("not signed by a trusted CA")
            && err.contains("ssl.caFile"),
        "{err}"
    );
    // Another CA of the same name fails on the signature; the Mozilla roots do not know it.
    let err = get(&mut HttpClient::new(&url, t).unwrap())
        .await
        .unwrap_err();
    assert!(err.contains("UnknownIssuer"), "{err}");

    // A certificate for another name: refused unless hostnameVerification is off.
    let (ca2, other_name) = tls_peer(&["es.internal"]);
    let addr2 = serve_tls(app, other_name, refused.clone()).await;
    let url2 = format!("https://{addr2}");
    let strict = client_config(&ssl(json!({})), Some(ca2.as_bytes())).unwrap();
    let err = get(&mut HttpClient::with_tls(&url2, t, Some(strict)).unwrap())
        .await
        .unwrap_err();
    assert!(err.contains("hostnameVerification"), "{err}");
    let lax = client_config(
        &ssl(json!({"hostnameVerification": false})),
        Some(ca2.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        get(&mut HttpClient::with_tls(&url2, t, Some(lax)).unwrap()).await,
        Ok(200)
    );
    // ...but with hostname checks off the chain is still checked.
    let lax_wrong = client_config(
        &ssl(json!({"hostnameVerification": false})),
        Some(ca.as_bytes()),
    )
    .unwrap();
    assert!(
        get(&mut HttpClient::with_tls(&url2, t, Some(lax_wrong)).unwrap())
            .await
            .is_err()
    );
    let any = client_config(&ssl(json!({"disableCertificateValidation": true})), None).unwrap();
    assert_eq!(
        get(&mut HttpClient::with_tls(&url2, t, Some(any)).unwrap()).await,
        Ok(200)
    );
    assert_eq!(
        refused.load(Ordering::SeqCst),
        4,
        "the server saw every refused handshake"
    );
}

/// Both sinks over https against TLS peers: the elasticsearch sink trusting `ssl.caFile`, the
/// http sink trusting `secretsMap.caCert`; a sink trusting another CA delivers nothing and
/// dead-letters after its retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sinks_deliver_over_https_and_refuse_a_wrong_ca() {
    for t in targets().await {
        eprintln!(
            "sinks_deliver_over_https_and_refuse_a_wrong_ca: against {}",
            t.name()
        );
        let dir = tempfile::tempdir().unwrap();
        let url = t.service_url();
        let (ca, server) = tls_peer(&["127.0.0.1"]);
        let ca_file = dir.path().join("ca.crt");
        std::fs::write(&ca_file, &ca).unwrap();
        let refused = Arc::new(AtomicUsize::new(0));
        let es = Arc::new(FakeEs::default());
        let rec = Arc::new(Recorder::default());
        let app = Router::new()
            .route("/_bulk", post(bulk))
            .with_state(es.clone())
            .merge(
                Router::new()
                    .route("/hook", post(record))
                    .with_state(rec.clone()),
            );
        let peer = serve_tls(app, server, refused.clone()).await;

        let es_in = topic("es-tls-in");
        let es_spec = sink_spec(
            "search-tls",
            &es_in,
            "elasticsearch",
            json!({"url": format!("https://{peer}"), "index": "orders", "batchSize": 20, "lingerMs": 10,
                   "ssl": {"enabled": true, "caFile": ca_file}}),
            json!({}),
        );
        let hook_in = topic("hook-tls-in");
        let hook_spec = sink_spec(
            "hook-tls",
            &hook_in,
            "http",
            json!({"url": format!("https://{peer}/hook"), "lingerMs": 1}),
            json!({"secretsMap": {"caCert": {"path": "es-ca", "key": "ca.crt"}}}),
        );
        let es_sink = start_env(&url, &es_spec, &[]).await.expect("starts");
        let hook = start_env(&url, &hook_spec, &[("caCert", &ca)])
            .await
            .expect("starts");
        let docs: Vec<Msg> = (0..100)
            .map(|i| Msg {
                key: Some(format!("d{i}")),
                payload: json!({"n": i}).to_string().into_bytes(),
                ..Msg::default()
            })
            .collect();
        publish(&url, &es_in, &docs).await;
        let hooks: Vec<Msg> = (0..10).map(|i| Msg::text(&format!("h{i}"))).collect();
        publish(&url, &hook_in, &hooks).await;
        let (me, mh) = (es_sink.metrics.clone(), hook.metrics.clone());
        until("all delivered over https", || {
            me.processed.get() == 100 && mh.processed.get() == 10
        })
        .await;
        assert_eq!(es.docs.lock().unwrap().len(), 100);
        let bodies: Vec<Vec<u8>> = rec
            .accepted
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| b.clone())
            .collect();
        assert_eq!(
            bodies,
            hooks.iter().map(|m| m.payload.clone()).collect::<Vec<_>>()
        );
        stop(es_sink).await;
        stop(hook).await;
        assert_eq!(refused.load(Ordering::SeqCst), 0);

        // Trusting another CA: every attempt's handshake is refused, nothing reaches _bulk.
        let (other_ca, _) = tls_peer(&["127.0.0.1"]);
        let other_file = dir.path().join("other.crt");
        std::fs::write(&other_file, &other_ca).unwrap();
        let (wrong_in, dlq) = (topic("es-wrong-in"), topic("es-wrong-dlq"));
        let wrong_spec = sink_spec(
            "search-wrong",
            &wrong_in,
            "elasticsearch",
            json!({"url": format!("https://{peer}"), "index": "orders", "lingerMs": 1, "maxRetries": 2,
                   "retryBackoffMs": 5, "ssl": {"caFile": other_file}}),
            json!({"deadLetterTopic": dlq, "maxMessageRetry": 0}),
        );
        let mut dead = subscribe(&url, &dlq, "check").await;
        let requests_before = es.requests.load(Ordering::SeqCst);
        let wrong = start_env(&url, &wrong_spec, &[]).await.expect("starts");
        publish(&url, &wrong_in, &[Msg::text("{\"n\": -1}")]).await;
        let dead = consume(&mut dead, 1).await;
        assert_eq!(dead[0].as_str(), "{\"n\": -1}");
        assert_eq!(wrong.metrics.processed.get(), 0);
        assert_eq!(
            es.requests.load(Ordering::SeqCst),
            requests_before,
            "no request got through"
        );
        assert_eq!(
            refused.load(Ordering::SeqCst),
            3,
            "first try and 2 retries, each refused"
        );
        stop(wrong).await;

        // A CA file that is not there stops the start, naming the field.
        let missing = sink_spec(
            "search-missing",
            &wrong_in,
            "elasticsearch",
            json!({"url": format!("https://{peer}"), "index": "orders", "ssl": {"caFile": "/nonexistent/ca.crt"}}),
            json!({}),
        );
        let Err(err) = start_env(&url, &missing, &[]).await else {
            panic!("a missing CA file must stop the start");
        };
        let err = err.to_string();
        assert!(
            err.contains("spec.sinkConfig.ssl.caFile") && err.contains("/nonexistent/ca.crt"),
            "{err}"
        );
    }
}
