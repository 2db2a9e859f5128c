//! Prometheus metrics: admission requests by kind, operation and result, and their latency.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// The webhook's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Family<Labels, Histogram>,
    lookups: Family<Labels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("fmesh_webhook");
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "admission_requests",
            "Admission requests by kind, operation, webhook (validate/mutate) and result",
            requests.clone(),
        );
        let latency = Family::<Labels, Histogram>::new_with_constructor(|| {
            // 100 µs … ~6.5 s
            Histogram::new(exponential_buckets(0.0001, 2.0, 17))
        });
        registry.register(
            "admission_duration_seconds",
            "Time from the request's first byte read to the answer, by kind and webhook",
            latency.clone(),
        );
        let lookups = Family::<Labels, Counter>::default();
        registry.register(
            "reference_lookups",
            "Secret/ConfigMap lookups by source (cache, direct) and outcome",
            lookups.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            lookups,
        }
    }

    /// Counts one admission answer and its latency.
    pub fn admission(
        &self,
        kind: &str,
        operation: &str,
        webhook: &str,
        result: &str,
        seconds: f64,
    ) {
        self.requests
            .get_or_create(&vec![
                ("kind", kind.to_string()),
                ("operation", operation.to_string()),
                ("webhook", webhook.to_string()),
                ("result", result.to_string()),
            ])
            .inc();
        self.latency
            .get_or_create(&vec![
                ("kind", kind.to_string()),
                ("webhook", webhook.to_string()),
            ])
            .observe(seconds);
    }

    /// Counts one reference lookup.
    pub fn lookup(&self, source: &str, outcome: &str) {
        self.lookups
            .get_or_create(&vec![
                ("source", source.to_string()),
                ("outcome", outcome.to_string()),
            ])
            .inc();
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_counters_and_histograms() {
        let m = super::Metrics::new();
        m.admission("Function", "CREATE", "validate", "denied", 0.0012);
        let text = m.render();
        assert!(text.contains("fmesh_webhook_admission_requests_total{kind=\"Function\",operation=\"CREATE\",webhook=\"validate\",result=\"denied\"} 1"), "{text}");
        assert!(text.contains("fmesh_webhook_admission_duration_seconds_bucket"));
    }
}
