//! Prometheus metrics under Pulsar Functions' names, so existing dashboards keep working,
//! and the liveness/metrics HTTP server the operator's probes call.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::error::RunnerError;

/// One instance's counters. Cheap to clone; `fmesh run` reads them for its live line.
#[derive(Clone)]
pub struct Metrics {
    /// Messages received from the inputs.
    pub received: Counter,
    /// Invocations that returned normally.
    pub processed: Counter,
    /// Invocations where the user's code failed (raised, trapped, out of fuel or memory).
    pub user_exceptions: Counter,
    /// Failures of the runner or runtime (child died, send failed, timeout).
    pub system_exceptions: Counter,
    /// Messages sent to the dead letter topic.
    pub dead_lettered: Counter,
    /// Messages written to the output topic (receipt received).
    pub produced: Counter,
    /// Runtime (re)starts, for exec children.
    pub runtime_restarts: Counter,
    /// Processing latency in milliseconds.
    pub latency_ms: Histogram,
    /// Unix time (ms) of the last invocation.
    pub last_invocation: Gauge<i64, AtomicI64>,
    /// 1 while subscribed to the inputs (a readiness signal), else 0.
    pub subscribed: Gauge<i64, AtomicI64>,
    user_metrics: Family<UserLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    registry: Arc<Mutex<Registry>>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct UserLabel {
    metric: String,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("received", &self.received.get())
            .field("processed", &self.processed.get())
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// Metrics labelled as Pulsar labels a function instance's.
    pub fn new(tenant: &str, namespace: &str, name: &str, instance_id: u32, cluster: &str) -> Self {
        let labels: Vec<(
            std::borrow::Cow<'static, str>,
            std::borrow::Cow<'static, str>,
        )> = vec![
            ("tenant".into(), tenant.to_string().into()),
            ("namespace".into(), format!("{tenant}/{namespace}").into()),
            ("name".into(), name.to_string().into()),
            ("instance_id".into(), instance_id.to_string().into()),
            ("cluster".into(), cluster.to_string().into()),
            ("fqfn".into(), format!("{tenant}/{namespace}/{name}").into()),
        ];
        let mut registry = Registry::with_labels(labels.into_iter());
        let m = Metrics {
            received: Counter::default(),
            processed: Counter::default(),
            user_exceptions: Counter::default(),
            system_exceptions: Counter::default(),
            dead_lettered: Counter::default(),
            produced: Counter::default(),
            runtime_restarts: Counter::default(),
            latency_ms: Histogram::new([
                0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 1000.0,
            ]),
            last_invocation: Gauge::default(),
            subscribed: Gauge::default(),
            user_metrics: Family::default(),
            registry: Arc::new(Mutex::new(Registry::default())),
        };
        let p = "pulsar_function_";
        registry.register(
            format!("{p}received"),
            "Messages received",
            m.received.clone(),
        );
        registry.register(
            format!("{p}processed_successfully"),
            "Messages processed successfully",
            m.processed.clone(),
        );
        registry.register(
            format!("{p}user_exceptions"),
            "User exceptions",
            m.user_exceptions.clone(),
        );
        registry.register(
            format!("{p}system_exceptions"),
            "System exceptions",
            m.system_exceptions.clone(),
        );
        registry.register(
            format!("{p}process_latency_ms"),
            "Process latency in milliseconds",
            m.latency_ms.clone(),
        );
        registry.register(
            format!("{p}last_invocation"),
            "Unix time in ms of the last invocation",
            m.last_invocation.clone(),
        );
        registry.register(
            format!("{p}user_metric"),
            "Values recorded by the function (record_metric)",
            m.user_metrics.clone(),
        );
        registry.register(
            "fmesh_runner_dead_lettered",
            "Messages sent to the DLQ",
            m.dead_lettered.clone(),
        );
        registry.register(
            "fmesh_runner_produced",
            "Output messages acknowledged by Pulsar",
            m.produced.clone(),
        );
        registry.register(
            "fmesh_runner_subscribed",
            "1 while subscribed to the inputs",
            m.subscribed.clone(),
        );
        registry.register(
            "fmesh_runner_runtime_restarts",
            "Restarts of the runtime (exec child)",
            m.runtime_restarts.clone(),
        );
        Metrics {
            registry: Arc::new(Mutex::new(registry)),
            ..m
        }
    }

    /// Records a `record_metric` call from the function.
    pub fn user_metric(&self, name: &str, value: f64) {
        self.user_metrics
            .get_or_create(&UserLabel {
                metric: name.to_string(),
            })
            .set(value);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }

    /// A one-line summary: counts so far (for `fmesh run`'s live line).
    pub fn snapshot(&self) -> HashMap<&'static str, u64> {
        HashMap::from([
            ("received", self.received.get()),
            ("processed", self.processed.get()),
            ("user_exceptions", self.user_exceptions.get()),
            ("system_exceptions", self.system_exceptions.get()),
            ("dead_lettered", self.dead_lettered.get()),
        ])
    }
}

/// Serves `GET /` (liveness, as Pulsar's instances answer) and `GET /metrics` until `stop`.
/// Returns the bound address (port 0 picks a free one).
pub async fn serve(
    addr: SocketAddr,
    metrics: Metrics,
    stop: CancellationToken,
) -> Result<SocketAddr, RunnerError> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = Router::new()
        .route("/", get(|| async { "ok\n" }))
        .route("/metrics", get(render))
        .with_state(metrics);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
        if let Err(error) = served {
            tracing::warn!(%error, "metrics server stopped");
        }
    });
    Ok(bound)
}

async fn render(State(m): State<Metrics>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.render(),
    )
}
