//! Sources run by the runner: the builtin `datagen` connector.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::error::RunnerError;
use crate::metrics::Metrics;
use crate::spec::Plan;
use crate::{Connection, connect};

/// `datagen`: publishes `{"seq": n, "instance": …}` at `rate` per second (`sourceConfig.rate`,
/// default 1), `count` messages in all (`sourceConfig.count`, default unbounded).
pub async fn run(
    plan: Arc<Plan>,
    conn: Connection,
    metrics: Metrics,
    stop: CancellationToken,
) -> Result<(), RunnerError> {
    let topic = plan
        .output_topic
        .clone()
        .ok_or_else(|| RunnerError::spec("spec.output.topic", "required"))?;
    let rate = plan
        .user_config
        .get("rate")
        .and_then(Value::as_f64)
        .unwrap_or(1.0)
        .max(0.001);
    let count = plan.user_config.get("count").and_then(Value::as_u64);
    let pulsar = connect(&conn).await?;
    let mut producer = pulsar.producer().with_topic(&topic).build().await?;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    let mut seq = 0u64;
    while count.is_none_or(|c| seq < c) {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        let body = serde_json::json!({"seq": seq, "source": plan.name}).to_string();
        producer.send_non_blocking(body.into_bytes()).await?.await?;
        metrics.processed.inc();
        seq += 1;
    }
    if count.is_some() {
        // A bounded source waits for the stop signal like any other instance.
        stop.cancelled().await;
    }
    Ok(())
}
