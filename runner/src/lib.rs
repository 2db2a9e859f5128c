//! fmesh-runner: runs one instance of a Function, Source or Sink on Pulsar.
//!
//! The operator starts the binary as docs/runner-contract.md describes; `fmesh run` uses
//! [`start_instance`] to run several instances in one process. Runtimes: `wasm`
//! (runner/ABI.md), `exec` (runner/PROTOCOL.md), `python` (Pulsar-style functions through the
//! shim in runner/python) and `builtin`.

pub mod connectors;
pub mod dedup;
pub mod error;
pub mod metrics;
pub mod pipeline;
mod receipt;
pub mod record;
pub mod runtime;
pub mod spec;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use pulsar::{Authentication, Pulsar, TokioExecutor};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use error::{FunctionError, RunnerError};
pub use metrics::Metrics;
pub use runtime::InstanceIdentity;
pub use spec::{Kind, Plan, RuntimePlan};

use crate::pipeline::{Exit, Pipeline};
use crate::record::Counters;
use crate::runtime::Runtime;

const RECONNECT_START: Duration = Duration::from_millis(200);
const RECONNECT_MAX: Duration = Duration::from_secs(30);

/// How to reach Pulsar.
#[derive(Clone, Debug, Default)]
pub struct Connection {
    /// `pulsar://host:6650` or `pulsar+ssl://…`.
    pub url: String,
    /// Token for `token` auth.
    pub token: Option<String>,
    /// PEM file with the CA that signed the broker's certificate.
    pub tls_trust_cert: Option<PathBuf>,
}

/// Everything needed to run one instance.
#[derive(Clone, Debug)]
pub struct InstanceConfig {
    /// The parsed spec.
    pub plan: Plan,
    /// Pulsar.
    pub connection: Connection,
    /// Instance id and count.
    pub identity: InstanceIdentity,
    /// Where to serve `/` and `/metrics` (None: not served, as `fmesh run` may prefer).
    pub metrics_addr: Option<SocketAddr>,
    /// How long a graceful stop may wait for outstanding receipts.
    pub drain_timeout: Duration,
}

/// A started instance: its metrics (live), the bound metrics address, and a stop handle.
#[derive(Debug)]
pub struct RunningInstance {
    /// Counters for a live status line.
    pub metrics: Metrics,
    /// Where `/` and `/metrics` are served, if they are.
    pub metrics_addr: Option<SocketAddr>,
    /// Cancel to stop gracefully (stop fetching, drain, ack, close).
    pub stop: CancellationToken,
    task: JoinHandle<Result<(), RunnerError>>,
}

impl RunningInstance {
    /// Waits for the instance to end (after `stop`, or on a fatal error).
    pub async fn wait(self) -> Result<(), RunnerError> {
        self.task
            .await
            .map_err(|e| RunnerError::RuntimeStart(format!("instance task failed: {e}")))?
    }
}

/// Starts the runtime, the metrics server and the pipeline; returns once the runtime is up
/// (so a broken module or program fails here, before anything is consumed).
pub async fn start_instance(config: InstanceConfig) -> Result<RunningInstance, RunnerError> {
    let plan = Arc::new(config.plan.clone());
    let metrics = Metrics::new(
        &plan.tenant,
        &plan.namespace,
        &plan.name,
        config.identity.instance_id,
        &plan.cluster,
    );
    let stop = CancellationToken::new();
    let metrics_addr = match config.metrics_addr {
        Some(addr) => Some(metrics::serve(addr, metrics.clone(), stop.child_token()).await?),
        None => None,
    };
    let task = if plan.kind == Kind::Source {
        let RuntimePlan::Builtin(name) = &plan.runtime else {
            return Err(RunnerError::spec(
                "spec.builtin",
                "a Source runs a builtin connector",
            ));
        };
        // Built here so a bad config fails the start, before anything is published.
        let connector = connectors::source(&plan, name)?;
        let (m, s, c, id) = (
            metrics.clone(),
            stop.clone(),
            config.connection.clone(),
            config.identity,
        );
        tokio::spawn(connectors::run_source(connector, plan, id, c, m, s))
    } else {
        let runtime =
            Runtime::start(&plan, config.identity, Counters::default(), metrics.clone()).await?;
        let pipeline = Pipeline::new(
            plan,
            runtime,
            metrics.clone(),
            config.identity.instance_id,
            config.drain_timeout,
        );
        let (s, c) = (stop.clone(), config.connection.clone());
        tokio::spawn(supervise(pipeline, c, s))
    };
    Ok(RunningInstance {
        metrics,
        metrics_addr,
        stop,
        task,
    })
}

/// Runs one instance until `stop` is cancelled.
pub async fn run_instance(
    config: InstanceConfig,
    stop: CancellationToken,
) -> Result<(), RunnerError> {
    let running = start_instance(config).await?;
    let inner = running.stop.clone();
    let forward = tokio::spawn(async move {
        stop.cancelled().await;
        inner.cancel();
    });
    let result = running.wait().await;
    forward.abort();
    result
}

/// Keeps the pipeline connected: reconnects with exponential backoff when Pulsar goes away.
async fn supervise(
    mut pipeline: Pipeline,
    conn: Connection,
    stop: CancellationToken,
) -> Result<(), RunnerError> {
    let mut backoff = RECONNECT_START;
    loop {
        let outcome = pipeline.run(&conn, &stop).await;
        let reason = match outcome {
            Ok(Exit::Stopped) => return Ok(()),
            Ok(Exit::Lost(reason)) => reason,
            Err(e @ RunnerError::InvalidSpec { .. }) => return Err(e),
            Err(e) => e.to_string(),
        };
        tracing::warn!(%reason, retry_in_ms = backoff.as_millis() as u64, "pulsar connection lost; reconnecting");
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(RECONNECT_MAX);
    }
}

/// A pulsar-rs client for `conn`.
pub async fn connect(conn: &Connection) -> Result<Pulsar<TokioExecutor>, RunnerError> {
    let mut builder = Pulsar::builder(&conn.url, TokioExecutor);
    if let Some(token) = &conn.token {
        builder = builder.with_auth(Authentication {
            name: "token".into(),
            data: token.clone().into_bytes(),
        });
    }
    if let Some(ca) = &conn.tls_trust_cert {
        builder = builder.with_certificate_chain_file(ca)?;
    }
    Ok(builder.build().await?)
}
