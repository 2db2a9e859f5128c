//! Prometheus metrics of the broker.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Broker-wide metrics; topic-level figures are computed at scrape time.
#[derive(Debug)]
pub struct Metrics {
    /// Open client connections.
    pub connections: Gauge,
    /// Topic partitions open (with their files); idle ones close.
    pub open_topics: Gauge,
    /// Connected producers.
    pub producers: Gauge,
    /// Connected consumers.
    pub consumers: Gauge,
    /// Messages stored.
    pub messages_in: Counter,
    /// Payload bytes stored.
    pub bytes_in: Counter,
    /// Messages dispatched to consumers.
    pub messages_out: Counter,
    /// Payload bytes dispatched.
    pub bytes_out: Counter,
    /// Unacknowledged messages over all subscriptions (refreshed at scrape).
    pub backlog: Gauge,
    /// Bytes of segment files (refreshed at scrape).
    pub storage_bytes: Gauge,
    /// fsync latency.
    pub fsync_seconds: Histogram,
    /// Frames refused as malformed.
    pub protocol_errors: Counter,
    /// Entries found lost to damage when logs were recovered.
    pub storage_lost_entries: Counter,
    /// Damaged bytes skipped or cut when segment and cursor files were recovered.
    pub storage_damaged_bytes: Counter,
    /// Segment or cursor writes that failed (a full disk, an I/O error).
    pub storage_write_errors: Counter,
    /// Connections refused or closed by a limit, by limit name.
    pub limit_hits: prometheus_client::metrics::family::Family<LimitLabel, Counter>,
}

/// Label of [`Metrics::limit_hits`]: the setting that was hit.
#[derive(Debug, Clone, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct LimitLabel {
    /// Setting name (as the flag, without dashes).
    pub limit: &'static str,
}

impl Metrics {
    /// Counts one hit of the limit named `limit`.
    pub fn limit_hit(&self, limit: &'static str) {
        self.limit_hits.get_or_create(&LimitLabel { limit }).inc();
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            connections: Gauge::default(),
            open_topics: Gauge::default(),
            producers: Gauge::default(),
            consumers: Gauge::default(),
            messages_in: Counter::default(),
            bytes_in: Counter::default(),
            messages_out: Counter::default(),
            bytes_out: Counter::default(),
            backlog: Gauge::default(),
            storage_bytes: Gauge::default(),
            fsync_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            protocol_errors: Counter::default(),
            storage_lost_entries: Counter::default(),
            storage_damaged_bytes: Counter::default(),
            storage_write_errors: Counter::default(),
            limit_hits: Default::default(),
        }
    }
}

impl Metrics {
    /// Registers every metric under the `fmesh_broker` prefix.
    pub fn register(&self, reg: &mut Registry) {
        let r = reg.sub_registry_with_prefix("fmesh_broker");
        r.register(
            "connections",
            "Open client connections",
            self.connections.clone(),
        );
        r.register(
            "open_topics",
            "Topic partitions open with their files",
            self.open_topics.clone(),
        );
        r.register("producers", "Connected producers", self.producers.clone());
        r.register("consumers", "Connected consumers", self.consumers.clone());
        r.register("messages_in", "Messages stored", self.messages_in.clone());
        r.register("bytes_in", "Payload bytes stored", self.bytes_in.clone());
        r.register(
            "messages_out",
            "Messages dispatched",
            self.messages_out.clone(),
        );
        r.register(
            "bytes_out",
            "Payload bytes dispatched",
            self.bytes_out.clone(),
        );
        r.register(
            "backlog_messages",
            "Unacknowledged entries over all subscriptions",
            self.backlog.clone(),
        );
        r.register(
            "storage_bytes",
            "Bytes in segment files",
            self.storage_bytes.clone(),
        );
        r.register("fsync_seconds", "fsync latency", self.fsync_seconds.clone());
        r.register(
            "protocol_errors",
            "Frames refused as malformed",
            self.protocol_errors.clone(),
        );
        r.register(
            "storage_lost_entries",
            "Entries found lost to damage at recovery",
            self.storage_lost_entries.clone(),
        );
        r.register(
            "storage_damaged_bytes",
            "Damaged bytes skipped or cut at recovery",
            self.storage_damaged_bytes.clone(),
        );
        r.register(
            "storage_write_errors",
            "Segment or cursor writes that failed",
            self.storage_write_errors.clone(),
        );
        r.register(
            "limit_hits",
            "Connections or requests refused by a limit",
            self.limit_hits.clone(),
        );
    }
}
