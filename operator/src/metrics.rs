//! Prometheus metrics: reconciles, failures by error variant, reconcile duration, and every
//! write the operator makes (so "a steady state makes zero writes" can be checked).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// `kind` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    pub kind: String,
}

/// `kind` and `error` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    pub kind: String,
    pub error: String,
}

/// `kind` of object written and `op` (`apply`, `delete`, `status`, `finalizer`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WriteLabels {
    pub kind: String,
    pub op: String,
}

/// HTTP method of an API request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabel {
    pub method: String,
}

type HistogramFamily = Family<KindLabel, Histogram, fn() -> Histogram>;

/// The operator's metrics and their registry.
pub struct Metrics {
    pub registry: Registry,
    pub reconciles: Family<KindLabel, Counter>,
    pub failures: Family<FailureLabels, Counter>,
    pub duration: HistogramFamily,
    pub writes: Family<WriteLabels, Counter>,
    pub api_requests: Family<MethodLabel, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("fmesh_operator");
        let reconciles = Family::<KindLabel, Counter>::default();
        let failures = Family::<FailureLabels, Counter>::default();
        let duration: HistogramFamily =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.001, 2.0, 14)));
        let writes = Family::<WriteLabels, Counter>::default();
        let api_requests = Family::<MethodLabel, Counter>::default();
        registry.register(
            "api_requests",
            "Requests sent to the API server (watches count once, when opened)",
            api_requests.clone(),
        );
        registry.register("reconciles", "Reconciles run", reconciles.clone());
        registry.register(
            "reconcile_failures",
            "Reconciles failed, by error",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Reconcile duration",
            duration.clone(),
        );
        registry.register(
            "writes",
            "Writes to the API server, by kind and operation",
            writes.clone(),
        );
        Metrics {
            registry,
            reconciles,
            failures,
            duration,
            writes,
            api_requests,
        }
    }
}

impl Metrics {
    /// Counts one write.
    pub fn write(&self, kind: &str, op: &str) {
        self.writes
            .get_or_create(&WriteLabels {
                kind: kind.into(),
                op: op.into(),
            })
            .inc();
    }

    /// Counts one API request.
    pub fn request(&self, method: &str) {
        self.api_requests
            .get_or_create(&MethodLabel {
                method: method.into(),
            })
            .inc();
    }

    /// Total writes so far (for tests and the benchmark).
    pub fn total_writes(&self) -> u64 {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("encoding to a String cannot fail");
        text.lines()
            .filter(|l| l.starts_with("fmesh_operator_writes_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>() as u64
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("encoding to a String cannot fail");
        text
    }
}
