//! Pulsar's `FunctionDetails` (the protobuf's JSON form) as the instance mains take it in
//! `--function_details`: the same fields Function Mesh fills from a CR.

use std::collections::BTreeMap;

use fmesh_crds::common::{
    InputConf, OutputConf, ProcessingGuarantee, RuntimeKind, SecretRef, SubscriptionPosition,
};
use fmesh_crds::workload::{ConsumerSpec, WorkloadSpec};
use fmesh_crds::{FunctionSpec, SinkSpec, SourceSpec};
use serde_json::{Map, Value, json};

/// The function a connector's instance runs between its source and sink: Pulsar's Java
/// instance loads the top-level `className` as a `Function`, so a connector class there fails
/// to start; the connector class goes under `source.className` / `sink.className`.
pub const IDENTITY_FUNCTION: &str = "org.apache.pulsar.functions.api.utils.IdentityFunction";

/// Pulsar's executor for window functions (`windowConfig`).
pub const WINDOW_FUNCTION_EXECUTOR: &str =
    "org.apache.pulsar.functions.windowing.WindowFunctionExecutor";
/// The user-config key under which the window executor finds its window config.
const WINDOW_CONFIG_KEY: &str = "__WINDOWCONFIGS__";
/// Pulsar's executor for batch sources (`batchSourceConfig`).
pub const BATCH_SOURCE_EXECUTOR: &str =
    "org.apache.pulsar.functions.source.batch.BatchSourceExecutor";
/// The source-config keys the batch executor reads: its config (a JSON string) and the
/// user's source class.
const BATCH_SOURCE_CONFIG_KEY: &str = "__BATCHSOURCECONFIGS__";
const BATCH_SOURCE_CLASS_NAME_KEY: &str = "__BATCHSOURCECLASSNAME__";

/// Details of a Function.
pub fn function(spec: &FunctionSpec) -> Value {
    let mut user_config = spec.func_config.as_ref().map(|c| c.0.clone());
    let class = match &spec.window_config {
        // Pulsar's window executor is the function; it loads the user's class from the window
        // config it finds in the user config.
        Some(window) => {
            let mut window = (**window).clone();
            window.actual_window_function_class_name = spec.workload.class_name.clone();
            user_config
                .get_or_insert_with(Map::new)
                .insert(WINDOW_CONFIG_KEY.into(), json!(window));
            Some(WINDOW_FUNCTION_EXECUTOR)
        }
        None => spec.workload.class_name.as_deref(),
    };
    let mut d = common(&spec.workload, "FUNCTION", class);
    if let Some(cfg) = &user_config {
        d.insert("userConfig".into(), json!(to_string(cfg)));
    }
    d.insert("source".into(), input(&spec.workload, &spec.consumer, None));
    d.insert(
        "sink".into(),
        output(spec.output.as_ref(), spec.forward_source_message_property),
    );
    consumer_fields(&mut d, &spec.consumer);
    Value::Object(d)
}

/// Details of a Source connector.
pub fn source(spec: &SourceSpec) -> Value {
    let mut d = common(&spec.workload, "SOURCE", Some(IDENTITY_FUNCTION));
    let mut src = Map::new();
    let mut configs = spec.source_config.as_ref().map(|c| c.0.clone());
    let class = match &spec.batch_source_config {
        // Pulsar's batch executor is the source; it loads the user's class and the discovery
        // triggerer from these two config keys.
        Some(batch) => {
            let configs = configs.get_or_insert_with(Map::new);
            let batch = serde_json::to_string(batch).expect("a batch config serializes");
            configs.insert(BATCH_SOURCE_CONFIG_KEY.into(), json!(batch));
            if let Some(c) = &spec.workload.class_name {
                configs.insert(BATCH_SOURCE_CLASS_NAME_KEY.into(), json!(c));
            }
            Some(BATCH_SOURCE_EXECUTOR)
        }
        None => spec.workload.class_name.as_deref(),
    };
    if let Some(c) = class {
        src.insert("className".into(), json!(c));
    }
    if let Some(cfg) = &configs {
        src.insert("configs".into(), json!(to_string(cfg)));
    }
    if let Some(t) = &spec.source_type {
        src.insert("builtin".into(), json!(t));
    }
    if let Some(t) = spec
        .output
        .as_ref()
        .and_then(|o| o.type_class_name.as_ref())
    {
        src.insert("typeClassName".into(), json!(t));
    }
    d.insert("source".into(), Value::Object(src));
    d.insert(
        "sink".into(),
        output(spec.output.as_ref(), spec.forward_source_message_property),
    );
    Value::Object(d)
}

/// Details of a Sink connector.
pub fn sink(spec: &SinkSpec) -> Value {
    let mut d = common(&spec.workload, "SINK", Some(IDENTITY_FUNCTION));
    d.insert(
        "source".into(),
        input(
            &spec.workload,
            &spec.consumer,
            spec.negative_ack_redelivery_delay_ms,
        ),
    );
    let mut snk = Map::new();
    if let Some(c) = &spec.workload.class_name {
        snk.insert("className".into(), json!(c));
    }
    if let Some(cfg) = &spec.sink_config {
        snk.insert("configs".into(), json!(to_string(&cfg.0)));
    }
    if let Some(t) = &spec.sink_type {
        snk.insert("builtin".into(), json!(t));
    }
    if let Some(t) = spec
        .consumer
        .input
        .as_ref()
        .and_then(|i| i.type_class_name.as_ref())
    {
        snk.insert("typeClassName".into(), json!(t));
    }
    d.insert("sink".into(), Value::Object(snk));
    consumer_fields(&mut d, &spec.consumer);
    Value::Object(d)
}

fn common(w: &WorkloadSpec, component: &str, class_name: Option<&str>) -> Map<String, Value> {
    let mut d = Map::new();
    d.insert("tenant".into(), json!(w.tenant));
    d.insert("namespace".into(), json!(w.namespace));
    d.insert("name".into(), json!(w.name));
    if let Some(c) = class_name {
        d.insert("className".into(), json!(c));
    }
    if let Some(t) = &w.log_topic {
        d.insert("logTopic".into(), json!(t));
    }
    let guarantee = match w
        .processing_guarantee
        .unwrap_or(ProcessingGuarantee::AtleastOnce)
    {
        ProcessingGuarantee::AtleastOnce => "ATLEAST_ONCE",
        ProcessingGuarantee::AtmostOnce => "ATMOST_ONCE",
        ProcessingGuarantee::EffectivelyOnce => "EFFECTIVELY_ONCE",
        ProcessingGuarantee::Manual => "MANUAL",
    };
    d.insert("processingGuarantees".into(), json!(guarantee));
    if let Some(secrets) = &w.secrets_map {
        d.insert("secretsMap".into(), json!(secrets_json(secrets)));
    }
    let runtime = match w.runtime.kind() {
        Some(RuntimeKind::Python) => "PYTHON",
        Some(RuntimeKind::Golang) => "GO",
        _ => "JAVA",
    };
    d.insert("runtime".into(), json!(runtime));
    d.insert("parallelism".into(), json!(parallelism(w)));
    if let Some(res) = resources(w) {
        d.insert("resources".into(), res);
    }
    if let Some(flags) = &w.runtime_flags {
        d.insert("runtimeFlags".into(), json!(flags));
    }
    d.insert("componentType".into(), json!(component));
    d
}

/// The parallelism an instance is told: 1, as Function Mesh sends unless
/// `showPreciseParallelism` asks for the replica count. The replica count would put every
/// scale step into the pods' command, so scaling would restart every pod.
pub fn parallelism(w: &WorkloadSpec) -> i32 {
    if w.show_precise_parallelism == Some(true) {
        w.replicas.unwrap_or(1)
    } else {
        1
    }
}

fn consumer_fields(d: &mut Map<String, Value>, c: &ConsumerSpec) {
    d.insert("autoAck".into(), json!(c.auto_ack.unwrap_or(true)));
    if let Some(r) = c.retain_ordering {
        d.insert("retainOrdering".into(), json!(r));
    }
    if let Some(r) = c.retain_key_ordering {
        d.insert("retainKeyOrdering".into(), json!(r));
    }
    if c.max_message_retry.is_some() || c.dead_letter_topic.is_some() {
        let mut retry = Map::new();
        if let Some(n) = c.max_message_retry {
            retry.insert("maxMessageRetries".into(), json!(n));
        }
        if let Some(t) = &c.dead_letter_topic {
            retry.insert("deadLetterTopic".into(), json!(t));
        }
        d.insert("retryDetails".into(), Value::Object(retry));
    }
}

fn input(w: &WorkloadSpec, c: &ConsumerSpec, negative_ack_delay: Option<i32>) -> Value {
    let mut s = Map::new();
    if let Some(sub) = &c.subscription_name {
        s.insert("subscriptionName".into(), json!(sub));
    }
    // Effectively-once needs one consumer per partition in order: a failover subscription.
    let effectively_once = w.processing_guarantee == Some(ProcessingGuarantee::EffectivelyOnce);
    let sub_type = if c.retain_ordering == Some(true) || effectively_once {
        "FAILOVER"
    } else if c.retain_key_ordering == Some(true) {
        "KEY_SHARED"
    } else {
        "SHARED"
    };
    s.insert("subscriptionType".into(), json!(sub_type));
    if let Some(input) = &c.input {
        s.insert("inputSpecs".into(), input_specs(input));
        if let Some(t) = &input.type_class_name {
            s.insert("typeClassName".into(), json!(t));
        }
    }
    if let Some(t) = c.timeout {
        s.insert("timeoutMs".into(), json!(t));
    }
    if let Some(delay) = negative_ack_delay {
        s.insert("negativeAckRedeliveryDelayMs".into(), json!(delay));
    }
    if let Some(cleanup) = c.cleanup_subscription {
        s.insert("cleanupSubscription".into(), json!(cleanup));
    }
    // Unset means EARLIEST, as Function Mesh sends it: the instance's own default (LATEST)
    // would skip what was published before the first pod started.
    let p = match c
        .subscription_position
        .unwrap_or(SubscriptionPosition::Earliest)
    {
        SubscriptionPosition::Latest => "LATEST",
        SubscriptionPosition::Earliest => "EARLIEST",
    };
    s.insert("subscriptionPosition".into(), json!(p));
    Value::Object(s)
}

fn input_specs(input: &InputConf) -> Value {
    let mut specs = Map::new();
    for t in input.topics.iter().flatten() {
        specs.insert(t.clone(), json!({}));
    }
    if let Some(p) = &input.topic_pattern {
        specs.insert(p.clone(), json!({"isRegexPattern": true}));
    }
    for (t, serde) in input.custom_serde_sources.iter().flatten() {
        specs.insert(t.clone(), json!({"serdeClassName": serde}));
    }
    for (t, schema) in input.custom_schema_sources.iter().flatten() {
        specs.insert(t.clone(), json!({"schemaType": schema}));
    }
    for (t, conf) in input.source_specs.iter().flatten() {
        let mut c = Map::new();
        if let Some(s) = &conf.schema_type {
            c.insert("schemaType".into(), json!(s));
        }
        if let Some(s) = &conf.serde_class_name {
            c.insert("serdeClassName".into(), json!(s));
        }
        if let Some(r) = conf.is_regex_pattern {
            c.insert("isRegexPattern".into(), json!(r));
        }
        if let Some(p) = &conf.schema_properties {
            c.insert("schemaProperties".into(), json!(p));
        }
        if let Some(p) = &conf.consumer_properties {
            c.insert("consumerProperties".into(), json!(p));
        }
        if let Some(q) = conf.receiver_queue_size {
            c.insert("receiverQueueSize".into(), json!({"value": q}));
        }
        specs.insert(t.clone(), Value::Object(c));
    }
    Value::Object(specs)
}

fn output(out: Option<&OutputConf>, forward: Option<bool>) -> Value {
    let mut s = Map::new();
    if let Some(o) = out {
        if let Some(t) = &o.topic {
            s.insert("topic".into(), json!(t));
        }
        if let Some(t) = &o.type_class_name {
            s.insert("typeClassName".into(), json!(t));
        }
        if let Some(t) = &o.sink_serde_class_name {
            s.insert("serDeClassName".into(), json!(t));
        }
        if let Some(t) = &o.sink_schema_type {
            s.insert("schemaType".into(), json!(t));
        }
        if let Some(p) = &o.producer_conf {
            let mut ps = Map::new();
            if let Some(n) = p.max_pending_messages {
                ps.insert("maxPendingMessages".into(), json!(n));
            }
            if let Some(n) = p.max_pending_messages_across_partitions {
                ps.insert("maxPendingMessagesAcrossPartitions".into(), json!(n));
            }
            if let Some(b) = p.use_thread_local_producers {
                ps.insert("useThreadLocalProducers".into(), json!(b));
            }
            if let Some(b) = &p.batch_builder {
                ps.insert("batchBuilder".into(), json!(b));
            }
            if let Some(c) = p.compression_type {
                ps.insert("compressionType".into(), json!(c.as_str()));
            }
            s.insert("producerSpec".into(), Value::Object(ps));
        }
    }
    if let Some(f) = forward {
        s.insert("forwardSourceMessageProperty".into(), json!(f));
    }
    Value::Object(s)
}

fn resources(w: &WorkloadSpec) -> Option<Value> {
    let req = w.resources.as_ref()?.requests.as_ref()?;
    let cpu = req
        .get("cpu")
        .and_then(|q| fmesh_crds::quantity::parse(&q.0));
    let ram = req
        .get("memory")
        .and_then(|q| fmesh_crds::quantity::parse(&q.0));
    let mut r = Map::new();
    if let Some(c) = cpu {
        r.insert("cpu".into(), json!(c));
    }
    if let Some(m) = ram {
        r.insert("ram".into(), json!(m as i64));
    }
    (!r.is_empty()).then_some(Value::Object(r))
}

/// `secretsMap` as the `EnvironmentBasedSecretsProvider` reads it: each key is an env var.
fn secrets_json(secrets: &BTreeMap<String, SecretRef>) -> String {
    let m: Map<String, Value> = secrets
        .iter()
        .map(|(k, r)| (k.clone(), json!({"path": r.path, "key": r.key})))
        .collect();
    to_string(&m)
}

fn to_string(m: &Map<String, Value>) -> String {
    serde_json::to_string(m).expect("a JSON map serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec<T: serde::de::DeserializeOwned>(v: Value) -> T {
        serde_json::from_value(v).expect("a valid spec")
    }

    #[test]
    fn connectors_run_the_identity_function_with_their_class_under_source_or_sink() {
        let src: SourceSpec = spec(json!({
            "className": "org.example.MySource",
            "output": {"topic": "out"},
            "pulsar": {"pulsarConfig": "p"}
        }));
        let d = source(&src);
        assert_eq!(d["className"], IDENTITY_FUNCTION);
        assert_eq!(d["source"]["className"], "org.example.MySource");

        let snk: SinkSpec = spec(json!({
            "className": "org.example.MySink",
            "input": {"topics": ["in"]},
            "pulsar": {"pulsarConfig": "p"}
        }));
        let d = sink(&snk);
        assert_eq!(d["className"], IDENTITY_FUNCTION);
        assert_eq!(d["sink"]["className"], "org.example.MySink");
    }

    #[test]
    fn a_window_function_runs_the_window_executor_with_its_class_in_the_window_config() {
        let f: FunctionSpec = spec(json!({
            "className": "org.example.Counter",
            "input": {"topics": ["in"]},
            "funcConfig": {"k": "v"},
            "windowConfig": {"windowLengthCount": 10},
            "pulsar": {"pulsarConfig": "p"}
        }));
        let d = function(&f);
        assert_eq!(d["className"], WINDOW_FUNCTION_EXECUTOR);
        let user: Value = serde_json::from_str(d["userConfig"].as_str().unwrap()).unwrap();
        assert_eq!(user["k"], "v");
        assert_eq!(
            user[WINDOW_CONFIG_KEY],
            json!({"actualWindowFunctionClassName": "org.example.Counter", "windowLengthCount": 10})
        );
    }

    #[test]
    fn a_batch_source_runs_the_batch_executor_with_its_class_and_config_in_the_configs() {
        let src: SourceSpec = spec(json!({
            "className": "org.example.Batch",
            "output": {"topic": "out"},
            "batchSourceConfig": {
                "discoveryTriggererClassName": "org.example.Cron",
                "discoveryTriggererConfig": {"cron": "* * * * *"}
            },
            "pulsar": {"pulsarConfig": "p"}
        }));
        let d = source(&src);
        assert_eq!(d["className"], IDENTITY_FUNCTION);
        assert_eq!(d["source"]["className"], BATCH_SOURCE_EXECUTOR);
        let configs: Value =
            serde_json::from_str(d["source"]["configs"].as_str().unwrap()).unwrap();
        assert_eq!(configs[BATCH_SOURCE_CLASS_NAME_KEY], "org.example.Batch");
        let batch: Value =
            serde_json::from_str(configs[BATCH_SOURCE_CONFIG_KEY].as_str().unwrap()).unwrap();
        assert_eq!(batch["discoveryTriggererClassName"], "org.example.Cron");
        assert_eq!(batch["discoveryTriggererConfig"]["cron"], "* * * * *");
    }

    #[test]
    fn a_new_subscription_starts_at_earliest_unless_told_otherwise() {
        let f: FunctionSpec = spec(json!({
            "className": "C", "input": {"topics": ["in"]}, "pulsar": {"pulsarConfig": "p"}
        }));
        assert_eq!(function(&f)["source"]["subscriptionPosition"], "EARLIEST");
        let f: FunctionSpec = spec(json!({
            "className": "C", "input": {"topics": ["in"]}, "pulsar": {"pulsarConfig": "p"},
            "subscriptionPosition": "latest"
        }));
        assert_eq!(function(&f)["source"]["subscriptionPosition"], "LATEST");
    }

    #[test]
    fn effectively_once_consumes_on_a_failover_subscription() {
        let f: FunctionSpec = spec(json!({
            "className": "C", "input": {"topics": ["in"]}, "pulsar": {"pulsarConfig": "p"},
            "processingGuarantee": "effectively_once"
        }));
        assert_eq!(function(&f)["source"]["subscriptionType"], "FAILOVER");
    }

    #[test]
    fn a_function_keeps_its_own_class() {
        let f: FunctionSpec = spec(json!({
            "className": "org.example.Exclaim",
            "input": {"topics": ["in"]},
            "pulsar": {"pulsarConfig": "p"}
        }));
        assert_eq!(function(&f)["className"], "org.example.Exclaim");
    }
}
