//! Helpers shared by the integration tests: brokers on free loopback ports
//! with their own temporary data directories.
#![allow(dead_code)]

pub mod http;

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

/// A unique topic name per test.
pub fn topic(name: &str) -> String {
    format!("persistent://public/default/{name}")
}
