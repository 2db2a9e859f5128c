//! Helpers shared by the integration tests: brokers on free loopback ports
//! with their own temporary data directories.
#![allow(dead_code)]

pub mod http;
pub mod process;
pub mod py;
pub mod target;

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use fmesh_broker::{BrokerConfig, RunningBroker};
use futures::FutureExt;
use pulsar::{Pulsar, TokioExecutor};
use serde_json::Value;

use target::Target;

/// Every test step is bounded.
pub const STEP: Duration = Duration::from_secs(20);

/// Awaits `f` or fails the test after [`STEP`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out: {what}"),
    }
}

/// Starts an in-process broker on 127.0.0.1 with OS-chosen ports.
pub async fn broker(dir: &Path, tweak: impl FnOnce(&mut BrokerConfig)) -> RunningBroker {
    init_tracing();
    let mut cfg = BrokerConfig::for_tests(dir);
    tweak(&mut cfg);
    fmesh_broker::start(cfg).await.expect("broker starts")
}

/// Logs to the test's output, filtered by `RUST_LOG` (default `warn`).
fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A pulsar-rs client for a broker URL.
pub async fn client(url: &str) -> Pulsar<TokioExecutor> {
    within(
        "client connects",
        Pulsar::builder(url, TokioExecutor).build(),
    )
    .await
    .expect("client builds")
}

/// A pulsar-rs client that does not retry refused operations (it retries ConsumerBusy and
/// the like by default), so a test sees the broker's error at once.
pub async fn client_without_retries(url: &str) -> Pulsar<TokioExecutor> {
    within(
        "client connects",
        Pulsar::builder(url, TokioExecutor)
            .with_operation_retry_options(pulsar::OperationRetryOptions {
                max_retries: Some(0),
                ..Default::default()
            })
            .build(),
    )
    .await
    .expect("client builds")
}

/// Waits until subscription `sub`'s cursor file under `topic_dir` records `acked` as the
/// acknowledged batch indexes of entry `entry` (what must survive a restart).
pub async fn batch_index_acks_on_disk(topic_dir: &Path, sub: &str, entry: u64, acked: &[u64]) {
    let cursors = topic_dir.join("cursors");
    within("batch-index acks on disk", async {
        loop {
            let on_disk = fmesh_broker::storage::cursor::load_all(&cursors).unwrap();
            if on_disk
                .iter()
                .any(|(s, c, _)| s == sub && c.acked_indexes(entry) == Some(acked))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// Runs `scenario` on every target ([`target::targets`]: fmesh-broker, then Apache Pulsar when
/// the environment names one); a failure names the broker it happened on.
pub async fn on_every_target(scenario: impl AsyncFn(&Target)) {
    init_tracing();
    for target in target::targets().await {
        // Boxed: a scenario's state machine is large in debug builds, too large for the test
        // thread's stack.
        let run = std::panic::AssertUnwindSafe(Box::pin(scenario(&target))).catch_unwind();
        if let Err(panic) = run.await {
            let msg = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            panic!("on {}: {msg}", target.name());
        }
    }
}

/// The admin path of a topic's stats: `/admin/v2/persistent/{tenant}/{ns}/{topic}/stats`.
pub fn stats_path(topic: &str) -> String {
    format!("/admin/v2/{}/stats", topic.replacen("://", "/", 1))
}

/// Polls `path` on `target`'s admin API until `ok` holds for its JSON (both brokers apply
/// acknowledgements a moment after the client sent them) and returns it; on timeout the
/// failure shows the last answer.
pub async fn admin_until(target: &Target, path: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let mut last = String::new();
    let deadline = tokio::time::Instant::now() + STEP;
    while tokio::time::Instant::now() < deadline {
        let (status, body) = http::request(target.admin(), "GET", path, &[], b"").await;
        if status == 200
            && let Ok(v) = serde_json::from_slice::<Value>(&body)
            && ok(&v)
        {
            return v;
        }
        last = format!("{status} {}", String::from_utf8_lossy(&body));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting on GET {path}; last answer: {last}");
}

/// Polls `topic`'s stats until subscription `sub`'s backlog (`msgBacklog`) is `backlog`.
pub async fn sub_backlog(target: &Target, topic: &str, sub: &str, backlog: u64) -> Value {
    admin_until(target, &stats_path(topic), |st| {
        st["subscriptions"][sub]["msgBacklog"] == backlog
    })
    .await
}

/// A unique topic name per test.
pub fn topic(name: &str) -> String {
    format!("persistent://public/default/{name}")
}
