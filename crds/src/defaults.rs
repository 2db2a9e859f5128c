//! Defaults, as Function Mesh's admission applies them: a field is filled only where it is
//! absent, never rewritten, so applying the defaults twice changes nothing.

use crate::common::{
    InputConf, LogTopicAgent, OutputConf, ProcessingGuarantee, ProducerConfig, WindowConfig,
};
use crate::workload::{ConsumerSpec, WorkloadSpec};
use crate::{FunctionMeshSpec, FunctionSpec, SinkSpec, SourceSpec};

pub const DEFAULT_TENANT: &str = "public";
pub const DEFAULT_NAMESPACE: &str = "default";
pub const DEFAULT_CLUSTER: &str = "kubernetes";
/// Java's `byte[]`: Pulsar Functions' type for raw bytes.
pub const BYTES_TYPE_CLASS: &str = "[B";
/// Input types a Java instance consumes with Pulsar's AUTO_CONSUME schema: whatever the
/// topic's producers declare (Pulsar IO sinks such as the HTTP or JDBC sinks take these).
pub const AUTO_CONSUME_TYPE_CLASSES: [&str; 2] = [
    "org.apache.pulsar.client.api.schema.GenericObject",
    "org.apache.pulsar.client.api.schema.GenericRecord",
];
pub const DEFAULT_MAX_PENDING_ASYNC_REQUESTS: i32 = 1000;
pub const DEFAULT_MAX_PENDING_MESSAGES: i32 = 1000;
pub const DEFAULT_WATERMARK_EMIT_INTERVAL_MS: i64 = 1000;

/// Defaults for a Function; `name` is its object name (or member name in a mesh).
pub fn function(name: Option<&str>, spec: &mut FunctionSpec) {
    workload(name, &mut spec.workload, LogTopicAgent::Runtime);
    consumer(&spec.workload, &mut spec.consumer);
    spec.max_pending_async_requests
        .get_or_insert(DEFAULT_MAX_PENDING_ASYNC_REQUESTS);
    spec.forward_source_message_property.get_or_insert(true);
    spec.output
        .get_or_insert_with(OutputConf::default)
        .type_class_name
        .get_or_insert_with(|| BYTES_TYPE_CLASS.to_string());
    if let Some(window) = &mut spec.window_config {
        window_config(window);
    }
}

/// Defaults for a Source.
pub fn source(name: Option<&str>, spec: &mut SourceSpec) {
    workload(name, &mut spec.workload, LogTopicAgent::Sidecar);
    crate::connectors::java::fill(
        crate::connectors::ConnectorKind::Source,
        &mut spec.workload,
        spec.source_type.as_deref(),
    );
    spec.forward_source_message_property.get_or_insert(true);
    let output = spec.output.get_or_insert_with(OutputConf::default);
    output
        .type_class_name
        .get_or_insert_with(|| BYTES_TYPE_CLASS.to_string());
    output.producer_conf.get_or_insert_with(|| ProducerConfig {
        max_pending_messages: Some(DEFAULT_MAX_PENDING_MESSAGES),
        max_pending_messages_across_partitions: Some(DEFAULT_MAX_PENDING_MESSAGES),
        use_thread_local_producers: Some(true),
        ..ProducerConfig::default()
    });
}

/// Defaults for a Sink.
pub fn sink(name: Option<&str>, spec: &mut SinkSpec) {
    workload(name, &mut spec.workload, LogTopicAgent::Sidecar);
    crate::connectors::java::fill(
        crate::connectors::ConnectorKind::Sink,
        &mut spec.workload,
        spec.sink_type.as_deref(),
    );
    consumer(&spec.workload, &mut spec.consumer);
}

/// Defaults for every member of a mesh. A member's name is its own `name` (required, so a
/// member without one is left for validation to report).
pub fn mesh(spec: &mut FunctionMeshSpec) {
    for f in spec.functions.iter_mut().flatten() {
        let name = f.workload.name.clone();
        function(name.as_deref(), f);
    }
    for s in spec.sources.iter_mut().flatten() {
        let name = s.workload.name.clone();
        source(name.as_deref(), s);
    }
    for s in spec.sinks.iter_mut().flatten() {
        let name = s.workload.name.clone();
        sink(name.as_deref(), s);
    }
}

fn workload(name: Option<&str>, w: &mut WorkloadSpec, log_agent: LogTopicAgent) {
    // Replicas and minReplicas follow each other; both absent means one instance.
    match (w.replicas, w.min_replicas) {
        (Some(_), Some(_)) => {}
        (None, Some(min)) => w.replicas = Some(min),
        (Some(r), None) => w.min_replicas = Some(r),
        (None, None) => {
            w.replicas = Some(1);
            w.min_replicas = Some(1);
        }
    }
    if let Some(name) = name {
        w.name.get_or_insert_with(|| name.to_string());
    }
    w.cluster_name
        .get_or_insert_with(|| DEFAULT_CLUSTER.to_string());
    w.tenant.get_or_insert_with(|| DEFAULT_TENANT.to_string());
    w.namespace
        .get_or_insert_with(|| DEFAULT_NAMESPACE.to_string());
    w.processing_guarantee
        .get_or_insert(ProcessingGuarantee::AtleastOnce);
    if w.log_topic.is_some() {
        w.log_topic_agent.get_or_insert(log_agent);
    }
}

fn consumer(w: &WorkloadSpec, c: &mut ConsumerSpec) {
    c.auto_ack.get_or_insert(true);
    c.input
        .get_or_insert_with(InputConf::default)
        .type_class_name
        .get_or_insert_with(|| BYTES_TYPE_CLASS.to_string());
    // Pulsar subscribes as the fully qualified function name when none is given; writing it
    // down makes the subscription visible to graph checks and to the UPDATE rules.
    if let (Some(t), Some(ns), Some(n)) = (&w.tenant, &w.namespace, &w.name) {
        c.subscription_name
            .get_or_insert_with(|| format!("{t}/{ns}/{n}"));
    }
}

/// Pulsar's window defaults: a window without a sliding interval tumbles; event-time windows
/// get a zero lag and a one-second watermark.
fn window_config(w: &mut WindowConfig) {
    if let Some(len) = w.window_length_duration_ms {
        w.sliding_interval_duration_ms.get_or_insert(len);
    }
    if let Some(len) = w.window_length_count {
        w.sliding_interval_count.get_or_insert(len);
    }
    if w.timestamp_extractor_class_name.is_some() {
        w.max_lag_ms.get_or_insert(0);
        w.watermark_emit_interval_ms
            .get_or_insert(DEFAULT_WATERMARK_EMIT_INTERVAL_MS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defaulted_function(v: serde_json::Value) -> FunctionSpec {
        let mut spec: FunctionSpec = serde_json::from_value(v).unwrap();
        function(Some("fn1"), &mut spec);
        spec
    }

    #[test]
    fn fills_absent_fields_like_function_mesh() {
        let spec = defaulted_function(json!({"input": {"topics": ["in"]}}));
        assert_eq!(spec.workload.replicas, Some(1));
        assert_eq!(spec.workload.min_replicas, Some(1));
        assert_eq!(spec.workload.name.as_deref(), Some("fn1"));
        assert_eq!(spec.workload.tenant.as_deref(), Some("public"));
        assert_eq!(spec.workload.namespace.as_deref(), Some("default"));
        assert_eq!(spec.workload.cluster_name.as_deref(), Some("kubernetes"));
        assert_eq!(
            spec.workload.processing_guarantee,
            Some(ProcessingGuarantee::AtleastOnce)
        );
        assert_eq!(spec.consumer.auto_ack, Some(true));
        assert_eq!(
            spec.consumer.subscription_name.as_deref(),
            Some("public/default/fn1")
        );
        assert_eq!(spec.max_pending_async_requests, Some(1000));
        assert_eq!(spec.forward_source_message_property, Some(true));
        assert_eq!(spec.output.unwrap().type_class_name.as_deref(), Some("[B"));
        assert_eq!(
            spec.consumer.input.unwrap().type_class_name.as_deref(),
            Some("[B")
        );
    }

    #[test]
    fn replicas_and_min_replicas_follow_each_other() {
        let s = defaulted_function(json!({"minReplicas": 3}));
        assert_eq!(
            (s.workload.replicas, s.workload.min_replicas),
            (Some(3), Some(3))
        );
        let s = defaulted_function(json!({"replicas": 2}));
        assert_eq!(
            (s.workload.replicas, s.workload.min_replicas),
            (Some(2), Some(2))
        );
        let s = defaulted_function(json!({"replicas": 2, "minReplicas": 1}));
        assert_eq!(
            (s.workload.replicas, s.workload.min_replicas),
            (Some(2), Some(1))
        );
    }

    #[test]
    fn keeps_what_the_user_wrote_even_when_falsy() {
        let s = defaulted_function(json!({
            "autoAck": false, "tenant": "acme", "processingGuarantee": "manual",
            "forwardSourceMessageProperty": false, "subscriptionName": "mine"
        }));
        assert_eq!(s.consumer.auto_ack, Some(false));
        assert_eq!(s.workload.tenant.as_deref(), Some("acme"));
        assert_eq!(
            s.workload.processing_guarantee,
            Some(ProcessingGuarantee::Manual)
        );
        assert_eq!(s.forward_source_message_property, Some(false));
        assert_eq!(s.consumer.subscription_name.as_deref(), Some("mine"));
    }

    #[test]
    fn log_topic_agent_depends_on_kind() {
        let f = defaulted_function(json!({"logTopic": "logs"}));
        assert_eq!(f.workload.log_topic_agent, Some(LogTopicAgent::Runtime));
        let mut s: SinkSpec = serde_json::from_value(json!({"logTopic": "logs"})).unwrap();
        sink(Some("s"), &mut s);
        assert_eq!(s.workload.log_topic_agent, Some(LogTopicAgent::Sidecar));
        let f = defaulted_function(json!({}));
        assert_eq!(f.workload.log_topic_agent, None);
    }

    #[test]
    fn source_gets_producer_defaults() {
        let mut s: SourceSpec = serde_json::from_value(json!({"output": {"topic": "o"}})).unwrap();
        source(Some("src"), &mut s);
        let p = s.output.unwrap().producer_conf.unwrap();
        assert_eq!(p.max_pending_messages, Some(1000));
        assert_eq!(p.use_thread_local_producers, Some(true));
    }

    #[test]
    fn windows_tumble_by_default() {
        let f = defaulted_function(json!({"windowConfig": {"windowLengthCount": 10}}));
        let w = f.window_config.unwrap();
        assert_eq!(w.sliding_interval_count, Some(10));
        assert_eq!(w.max_lag_ms, None);
        let f = defaulted_function(json!({"windowConfig": {
            "windowLengthDurationMs": 500, "timestampExtractorClassName": "X"}}));
        let w = f.window_config.unwrap();
        assert_eq!(w.sliding_interval_duration_ms, Some(500));
        assert_eq!(
            (w.max_lag_ms, w.watermark_emit_interval_ms),
            (Some(0), Some(1000))
        );
    }

    #[test]
    fn mesh_members_default_under_their_own_name() {
        let mut m: FunctionMeshSpec = serde_json::from_value(json!({
            "functions": [{"name": "enrich"}, {}]
        }))
        .unwrap();
        mesh(&mut m);
        let fs = m.functions.unwrap();
        assert_eq!(
            fs[0].consumer.subscription_name.as_deref(),
            Some("public/default/enrich")
        );
        assert_eq!(
            fs[1].workload.name, None,
            "a nameless member is left for validation"
        );
        assert_eq!(fs[1].consumer.subscription_name, None);
    }
}
