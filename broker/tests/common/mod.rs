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
use pulsar::{Pulsar, TokioExecutor};

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
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
    let mut cfg = BrokerConfig::for_tests(dir);
    tweak(&mut cfg);
    fmesh_broker::start(cfg).await.expect("broker starts")
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

/// A unique topic name per test.
pub fn topic(name: &str) -> String {
    format!("persistent://public/default/{name}")
}
