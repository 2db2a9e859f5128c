//! Helpers for the runner's integration tests: the brokers each test runs against ([`targets`]),
//! pulsar-rs and official-Python-client producers/consumers, and runner starters.
#![allow(dead_code)]

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use fmesh_runner::{Connection, InstanceConfig, InstanceIdentity, RunningInstance, spec};
use futures::StreamExt;
use pulsar::consumer::{ConsumerOptions, InitialPosition};
use pulsar::{Consumer, Pulsar, SubType, TokioExecutor, producer};

/// Every wait in a test is bounded by this.
pub const STEP: Duration = Duration::from_secs(30);

/// Awaits `f` or fails after [`STEP`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

// Not every test file names `Target`.
#[allow(unused_imports)]
pub use fmesh_broker::testing::{Target, targets};

/// Test logs at `RUST_LOG` (default warn), once per process.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A pulsar-rs client.
pub async fn client(url: &str) -> Pulsar<TokioExecutor> {
    within("client", Pulsar::builder(url, TokioExecutor).build())
        .await
        .expect("client")
}

/// A fully qualified topic unique to this run: Apache Pulsar keeps topics and subscriptions
/// between runs.
pub fn topic(name: &str) -> String {
    format!(
        "persistent://public/default/{}",
        fmesh_broker::testing::unique(name)
    )
}

/// A message as the tests see it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Msg {
    pub key: Option<String>,
    pub payload: Vec<u8>,
    pub properties: HashMap<String, String>,
}

impl Msg {
    pub fn text(s: &str) -> Msg {
        Msg {
            payload: s.as_bytes().to_vec(),
            ..Msg::default()
        }
    }
    pub fn as_str(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

/// Publishes every message and waits for all receipts.
pub async fn produce(url: &str, topic: &str, msgs: &[Msg]) {
    let pulsar = client(url).await;
    let mut p = within("producer", pulsar.producer().with_topic(topic).build())
        .await
        .expect("producer");
    let mut receipts = Vec::new();
    for m in msgs {
        let msg = producer::Message {
            payload: m.payload.clone(),
            partition_key: m.key.clone(),
            properties: m.properties.clone(),
            ..Default::default()
        };
        receipts.push(p.send_non_blocking(msg).await.expect("send"));
    }
    for r in receipts {
        within("receipt", r).await.expect("receipt");
    }
}

/// A consumer from the earliest message.
pub async fn subscribe(url: &str, topic: &str, sub: &str) -> Consumer<Vec<u8>, TokioExecutor> {
    let pulsar = client(url).await;
    within(
        "subscribe",
        pulsar
            .consumer()
            .with_topic(topic)
            .with_subscription(sub)
            .with_subscription_type(SubType::Exclusive)
            .with_options(
                ConsumerOptions::default().with_initial_position(InitialPosition::Earliest),
            )
            .build(),
    )
    .await
    .expect("consumer")
}

/// Receives exactly `n` messages (acking them), failing after [`STEP`].
pub async fn consume(c: &mut Consumer<Vec<u8>, TokioExecutor>, n: usize) -> Vec<Msg> {
    let mut out = Vec::new();
    while out.len() < n {
        let m = within(&format!("message {} of {n}", out.len() + 1), c.next())
            .await
            .expect("stream open")
            .expect("message");
        c.ack(&m).await.expect("ack");
        out.push(Msg {
            key: m.payload.metadata.partition_key.clone(),
            payload: m.payload.data.clone(),
            properties: m
                .payload
                .metadata
                .properties
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.clone()))
                .collect(),
        });
    }
    out
}

/// Receives whatever arrives until `quiet` passes with nothing new.
pub async fn drain(c: &mut Consumer<Vec<u8>, TokioExecutor>, quiet: Duration) -> Vec<Msg> {
    let mut out = Vec::new();
    while let Ok(Some(Ok(m))) = tokio::time::timeout(quiet, c.next()).await {
        c.ack(&m).await.expect("ack");
        out.push(Msg {
            key: m.payload.metadata.partition_key.clone(),
            payload: m.payload.data.clone(),
            properties: m
                .payload
                .metadata
                .properties
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.clone()))
                .collect(),
        });
    }
    out
}

/// Starts a runner in-process for `spec_json` (metrics on a free loopback port).
pub async fn start(url: &str, spec_json: &str, instance_id: u32, count: u32) -> RunningInstance {
    init_tracing();
    let plan = spec::parse(spec_json, &|k| std::env::var(k).ok()).expect("spec parses");
    let cfg = InstanceConfig {
        plan,
        connection: Connection {
            url: url.to_string(),
            ..Connection::default()
        },
        identity: InstanceIdentity {
            instance_id,
            instance_count: count,
        },
        metrics_addr: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
        drain_timeout: Duration::from_secs(5),
    };
    within("runner starts", fmesh_runner::start_instance(cfg))
        .await
        .expect("runner starts")
}

/// Stops a runner gracefully and checks it ended cleanly.
pub async fn stop(r: RunningInstance) {
    r.stop.cancel();
    within("runner stops", r.wait()).await.expect("clean stop");
}

/// Waits until `cond` holds, polling.
pub async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    within(what, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// The fmesh-runner binary built for these tests.
pub fn runner_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fmesh-runner"))
}

/// A test guest or helper file under tests/.
pub fn asset(rel: &str) -> String {
    format!("{}/tests/{rel}", env!("CARGO_MANIFEST_DIR"))
}

/// The venv python with the official client (created by broker/tests/py/setup-venv.sh).
pub fn python() -> &'static PathBuf {
    static PY: OnceLock<PathBuf> = OnceLock::new();
    PY.get_or_init(|| {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../broker/tests/py/setup-venv.sh"
        );
        let out = Command::new("bash")
            .arg(script)
            .output()
            .expect("run setup-venv.sh");
        assert!(
            out.status.success(),
            "venv setup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim().to_string())
    })
}

/// Runs tests/py/client.py with `args` under the official client; returns stdout lines.
pub async fn py_client(args: &[&str]) -> Vec<String> {
    let mut cmd = tokio::process::Command::new(python());
    cmd.arg(asset("py/client.py")).args(args).kill_on_drop(true);
    let out = within("python client", cmd.output())
        .await
        .expect("python runs");
    assert!(
        out.status.success(),
        "python client {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        // The C++ core logs to stdout too; our lines are JSON.
        .filter(|l| l.starts_with('{'))
        .map(str::to_string)
        .collect()
}

/// A minimal HTTP GET (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = within("http connect", tokio::net::TcpStream::connect(addr))
        .await
        .expect("connect");
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut raw = Vec::new();
    within("http read", s.read_to_end(&mut raw))
        .await
        .expect("read");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
