//! Connectors compiled into the runner: builtin Sources and Sinks, each declared in the
//! catalogue (`fmesh_crds::connectors`), whose typed config they deserialize.
//!
//! A source gets an [`Output`] and runs until stopped; a sink gets each consumed [`Record`]
//! through [`SinkConnector::write`] and answers, per record, when it is written or given up —
//! the pipeline acks, dead-letters or nacks on that answer. Adding one: runner/README.md.

pub mod batch;
pub mod datagen;
pub mod elasticsearch;
pub mod http_client;
pub mod http_sink;
pub mod http_source;
pub mod log;
pub mod postgres;
pub mod postgres_cdc;
pub mod postgres_pgoutput;
pub mod postgres_sink;
pub mod postgres_walsender;
pub mod tls;

use std::collections::BTreeMap;
use std::sync::Arc;

use fmesh_crds::connectors::{ConnectorKind, lookup};
use futures::future::BoxFuture;
use pulsar::{Producer, TokioExecutor, producer};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::error::RunnerError;
use crate::metrics::Metrics;
use crate::record::Record;
use crate::runtime::InstanceIdentity;
use crate::spec::Plan;

/// Resolves when Pulsar has stored a message (or refused it).
pub type Receipt = BoxFuture<'static, Result<(), String>>;

/// Resolves when a sink has written a record (`Ok`) or given up on it (`Err(reason)`).
pub type Written = BoxFuture<'static, Result<(), String>>;

/// A message a source publishes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutMessage {
    /// The bytes.
    pub payload: Vec<u8>,
    /// Partition key.
    pub key: Option<String>,
    /// Properties.
    pub properties: BTreeMap<String, String>,
    /// Event time, ms since the epoch.
    pub event_time: Option<u64>,
}

/// Where a source publishes: the output topic's producer, shared by the source's tasks.
#[derive(Clone)]
pub struct Output {
    producer: Arc<Mutex<Producer<TokioExecutor>>>,
    metrics: Metrics,
}

impl Output {
    /// Queues `msg` (waiting while pulsar-rs's queue is full) and returns its receipt.
    /// Counts `received` now and `processed` (or a system exception) on the receipt.
    pub async fn send(&self, msg: OutMessage) -> Result<Receipt, RunnerError> {
        self.metrics.received.inc();
        let out = producer::Message {
            payload: msg.payload,
            partition_key: msg.key,
            properties: msg.properties.into_iter().collect(),
            event_time: msg.event_time,
            ..Default::default()
        };
        let fut = self.producer.lock().await.send_non_blocking(out).await?;
        let metrics = self.metrics.clone();
        Ok(Box::pin(async move {
            match fut.await {
                Ok(_) => {
                    metrics.processed.inc();
                    metrics.produced.inc();
                    Ok(())
                }
                Err(e) => {
                    metrics.system_exceptions.inc();
                    Err(e.to_string())
                }
            }
        }))
    }
}

/// What a running source is given.
pub struct SourceContext {
    /// The spec.
    pub plan: Arc<Plan>,
    /// Instance index and count.
    pub identity: InstanceIdentity,
    /// Where to publish.
    pub output: Output,
    /// Cancelled on shutdown: stop reading, let outstanding receipts land, return.
    pub stop: CancellationToken,
}

/// A builtin source.
pub trait SourceConnector: Send + 'static {
    /// Runs until `ctx.stop` (or, for a bounded source, until done).
    fn run(self: Box<Self>, ctx: SourceContext) -> BoxFuture<'static, Result<(), RunnerError>>;
}

/// A builtin sink.
pub trait SinkConnector: Send + Sync + 'static {
    /// Takes one record. The outer future returns once the sink has room (back-pressure);
    /// the [`Written`] it yields resolves when the record is durably written or given up.
    fn write(&mut self, record: Record) -> BoxFuture<'_, Written>;
}

/// How to build a source from its plan (config already in `plan.user_config`).
pub type BuildSource = fn(&Plan) -> Result<Box<dyn SourceConnector>, RunnerError>;
/// How to build a sink from its plan; called on the runtime, so it may spawn tasks.
pub type BuildSink = fn(&Plan) -> Result<Box<dyn SinkConnector>, RunnerError>;

/// The runner's sources, by catalogue name.
pub const SOURCES: &[(&str, BuildSource)] = &[
    ("datagen", datagen::build),
    ("http", http_source::build),
    ("postgres-cdc", postgres_cdc::build),
];

/// The runner's sinks, by catalogue name.
pub const SINKS: &[(&str, BuildSink)] = &[
    ("log", log::build),
    ("http", http_sink::build),
    ("elasticsearch", elasticsearch::build),
    ("postgres", postgres_sink::build),
];

/// Whether `name` is a builtin connector of `kind` this runner can run.
pub fn has(kind: ConnectorKind, name: &str) -> bool {
    match kind {
        ConnectorKind::Source => SOURCES.iter().any(|(n, _)| *n == name),
        ConnectorKind::Sink => SINKS.iter().any(|(n, _)| *n == name),
    }
}

/// Builds the source the plan names.
pub fn source(plan: &Plan, name: &str) -> Result<Box<dyn SourceConnector>, RunnerError> {
    let (_, build) = SOURCES
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| unknown(ConnectorKind::Source, name))?;
    build(plan)
}

/// Builds the sink the plan names.
pub fn sink(plan: &Plan, name: &str) -> Result<Box<dyn SinkConnector>, RunnerError> {
    let (_, build) = SINKS
        .iter()
        .find(|(n, _)| *n == name)
        .ok_or_else(|| unknown(ConnectorKind::Sink, name))?;
    build(plan)
}

fn unknown(kind: ConnectorKind, name: &str) -> RunnerError {
    let names: Vec<&str> = match kind {
        ConnectorKind::Source => SOURCES.iter().map(|(n, _)| *n).collect(),
        ConnectorKind::Sink => SINKS.iter().map(|(n, _)| *n).collect(),
    };
    RunnerError::spec(
        "spec.builtin.name",
        format!(
            "no builtin {kind} `{name}`; this runner has {}",
            names.join(", ")
        ),
    )
}

/// The connector's typed config from `plan.user_config`, checked against the catalogue's
/// schema first (the same check admission runs), errors at `spec.sourceConfig.<field>`.
pub fn config<T: DeserializeOwned>(
    plan: &Plan,
    kind: ConnectorKind,
    name: &str,
) -> Result<T, RunnerError> {
    let root = fmesh_crds::diagnostic::FieldPath::root("spec");
    if let Some(c) = lookup(kind, name) {
        let secrets: Vec<&str> = plan.secrets.keys().map(String::as_str).collect();
        let at = fmesh_crds::connectors::Checked {
            config: root.field(kind.config_field()),
            spec: root.clone(),
        };
        // Secrets are checked by admission against secretsMap; here only the config counts,
        // since a secretsMap entry whose Secret key is missing simply has no env var.
        let report = c.check(Some(&plan.user_config), &secrets, &at);
        if let Some(d) = report.errors().find(|d| !d.path.contains("secretsMap")) {
            let message = match &d.hint {
                Some(h) => format!("{} ({h})", d.message),
                None => d.message.clone(),
            };
            return Err(RunnerError::spec(d.path.clone(), message));
        }
    }
    let value = Value::Object(plan.user_config.clone());
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        RunnerError::spec(
            format!("spec.{}.{}", kind.config_field(), e.path()),
            e.inner().to_string(),
        )
    })
}

/// Runs a builtin source: connects, builds the output producer, runs the connector; a bounded
/// source that finishes waits for the stop signal like any other instance.
pub(crate) async fn run_source(
    connector: Box<dyn SourceConnector>,
    plan: Arc<Plan>,
    identity: InstanceIdentity,
    conn: crate::Connection,
    metrics: Metrics,
    stop: CancellationToken,
) -> Result<(), RunnerError> {
    let topic = plan
        .output_topic
        .clone()
        .ok_or_else(|| RunnerError::spec("spec.output.topic", "required"))?;
    let pulsar = crate::connect(&conn).await?;
    let producer = pulsar
        .producer()
        .with_topic(&topic)
        .with_options(producer::ProducerOptions {
            block_queue_if_full: true,
            ..Default::default()
        })
        .build()
        .await?;
    let output = Output {
        producer: Arc::new(Mutex::new(producer)),
        metrics,
    };
    let ctx = SourceContext {
        plan,
        identity,
        output,
        stop: stop.clone(),
    };
    connector.run(ctx).await?;
    stop.cancelled().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use fmesh_crds::connectors::native;

    use super::*;

    #[test]
    fn catalogue_and_runner_agree() {
        for c in native() {
            assert!(
                has(c.kind, c.name),
                "catalogue lists {} {} but the runner has none",
                c.kind,
                c.name
            );
        }
        for (name, _) in SOURCES {
            assert!(
                lookup(ConnectorKind::Source, name).is_some(),
                "source {name} missing from the catalogue"
            );
        }
        for (name, _) in SINKS {
            assert!(
                lookup(ConnectorKind::Sink, name).is_some(),
                "sink {name} missing from the catalogue"
            );
        }
    }
}
