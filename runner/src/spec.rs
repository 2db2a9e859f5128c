//! The spec document the operator hands over (see docs/runner-contract.md), turned into a
//! [`Plan`]: everything one instance needs, checked once, with the JSON path of what is wrong.

use std::collections::BTreeMap;
use std::path::PathBuf;

use fmesh_crds::common::{ProcessingGuarantee, SubscriptionPosition};
use fmesh_crds::connectors::ConnectorKind;
use fmesh_crds::{FunctionSpec, SinkSpec, SourceSpec, WorkloadSpec, defaults};
use serde_json::{Map, Value};

use crate::connectors;
use crate::error::RunnerError;

/// Prefetch when the spec sets no `receiverQueueSize`. Pulsar's client default is 1000, but
/// pulsar-rs keeps every prefetched message as a whole decoded frame (~12 KiB for a small
/// one): 100 keeps the instance within its 30 MiB budget while a backlog drains, at some cost
/// in peak throughput (runner/README.md, "Memory and throughput"); a function that needs the
/// throughput sets its own.
pub const DEFAULT_RECEIVER_QUEUE: u32 = 100;

/// Most output sends kept awaiting their receipt, whatever `maxPendingAsyncRequests` and
/// `producerConf.maxPendingMessages` allow (both default to Pulsar's 1000): pulsar-rs holds
/// about 25 KiB per outstanding send (a spawned task embedding the producer's reconnect
/// path), so 1000 would cost some 25 MiB while a backlog drains; 200 still keeps the bench's
/// throughput (runner/README.md, "Memory and throughput").
pub const MAX_OUTSTANDING_SENDS: usize = 200;

/// Which kind of workload the spec describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Consumes inputs, runs user code, produces output.
    Function,
    /// Produces output from a connector.
    Source,
    /// Consumes inputs into a connector.
    Sink,
}

/// How the consumer subscribes, derived as Pulsar Functions does from the ordering flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionKind {
    /// Default: messages spread over instances.
    Shared,
    /// `retainOrdering`: one active instance per partition.
    Failover,
    /// `retainKeyOrdering`: one instance per key.
    KeyShared,
}

/// The code an instance runs.
#[derive(Clone, Debug, PartialEq)]
pub enum RuntimePlan {
    /// Compiled into the runner (`identity`, `log`, …).
    Builtin(String),
    /// A WebAssembly module speaking runner/ABI.md.
    Wasm {
        /// Module file (`.wasm` or `.wat`).
        module: PathBuf,
        /// Exported processing function.
        export: String,
        /// Fuel per message, if capped.
        fuel_per_message: Option<u64>,
        /// Linear-memory cap in bytes.
        max_memory: Option<u64>,
    },
    /// A child program speaking runner/PROTOCOL.md on stdin/stdout.
    Exec {
        /// argv (command then args).
        argv: Vec<String>,
        /// Working directory.
        working_dir: Option<PathBuf>,
    },
    /// A Pulsar-style Python function hosted by the shim in runner/python.
    Python {
        /// The `.py` file.
        file: PathBuf,
        /// `module.Class` or `module.function` (Pulsar's `--classname`); the file's stem alone
        /// means "the only Function subclass or `process` in it".
        class_name: String,
    },
}

/// Everything one instance needs to run, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// Function, Source or Sink.
    pub kind: Kind,
    /// Pulsar Functions name.
    pub name: String,
    /// Pulsar tenant.
    pub tenant: String,
    /// Pulsar namespace.
    pub namespace: String,
    /// Cluster name, for metric labels.
    pub cluster: String,
    /// Input topics.
    pub inputs: Vec<String>,
    /// Input topic regex.
    pub topic_pattern: Option<String>,
    /// Subscription name.
    pub subscription: String,
    /// Subscription type.
    pub subscription_kind: SubscriptionKind,
    /// Where a new subscription starts.
    pub position: SubscriptionPosition,
    /// Processing guarantee.
    pub guarantee: ProcessingGuarantee,
    /// Whether the runner acks (false: the function acks through its context).
    pub auto_ack: bool,
    /// Per-message processing deadline.
    pub timeout_ms: Option<u64>,
    /// Extra attempts after a failure before giving up on a message.
    pub max_message_retry: Option<u32>,
    /// Where given-up messages go (original payload and properties).
    pub dead_letter_topic: Option<String>,
    /// Main output topic.
    pub output_topic: Option<String>,
    /// Topic receiving the function's log lines.
    pub log_topic: Option<String>,
    /// Copy input properties onto the output message.
    pub forward_properties: bool,
    /// `funcConfig` / `sourceConfig` / `sinkConfig`.
    pub user_config: Map<String, Value>,
    /// `secretsMap` keys resolved from the environment.
    pub secrets: BTreeMap<String, String>,
    /// Bound on output sends awaiting their receipt.
    pub max_pending: usize,
    /// Messages the consumer may prefetch (Pulsar's `receiverQueueSize`: flow permits and
    /// the local queue): `input.sourceSpecs[*].receiverQueueSize`, else
    /// [`DEFAULT_RECEIVER_QUEUE`].
    pub receiver_queue_size: u32,
    /// The code to run.
    pub runtime: RuntimePlan,
}

impl Plan {
    /// `tenant/namespace/name`, Pulsar's fully qualified function name.
    pub fn fqfn(&self) -> String {
        format!("{}/{}/{}", self.tenant, self.namespace, self.name)
    }
}

/// Parses the contract's spec document (the CR spec plus `kind` and `objectName`).
pub fn parse(json: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Plan, RunnerError> {
    let mut doc: Map<String, Value> = serde_json::from_str(json)
        .map_err(|e| RunnerError::spec("spec", format!("not a JSON object: {e}")))?;
    let kind = match doc.remove("kind").as_ref().and_then(Value::as_str) {
        Some("Function") => Kind::Function,
        Some("Source") => Kind::Source,
        Some("Sink") => Kind::Sink,
        other => {
            return Err(RunnerError::spec(
                "kind",
                format!("expected Function, Source or Sink, got {other:?}"),
            ));
        }
    };
    let object_name = doc
        .remove("objectName")
        .and_then(|v| v.as_str().map(str::to_string));
    let value = Value::Object(doc);
    match kind {
        Kind::Function => {
            let mut spec: FunctionSpec = typed(value)?;
            defaults::function(object_name.as_deref(), &mut spec);
            function_plan(spec, env)
        }
        Kind::Source => {
            let mut spec: SourceSpec = typed(value)?;
            defaults::source(object_name.as_deref(), &mut spec);
            source_plan(spec, env)
        }
        Kind::Sink => {
            let mut spec: SinkSpec = typed(value)?;
            defaults::sink(object_name.as_deref(), &mut spec);
            sink_plan(spec, env)
        }
    }
}

/// A plan from a typed spec (a FunctionMesh member, say): what `fmesh run` calls per member.
pub fn plan_for<T: serde::Serialize>(
    kind: Kind,
    object_name: &str,
    spec: &T,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, RunnerError> {
    let mut value = serde_json::to_value(spec)
        .map_err(|e| RunnerError::spec("spec", format!("cannot serialise: {e}")))?;
    let obj = value
        .as_object_mut()
        .ok_or_else(|| RunnerError::spec("spec", "not an object"))?;
    let kind_name = match kind {
        Kind::Function => "Function",
        Kind::Source => "Source",
        Kind::Sink => "Sink",
    };
    obj.insert("kind".into(), Value::from(kind_name));
    obj.insert("objectName".into(), Value::from(object_name));
    parse(&value.to_string(), env)
}

fn typed<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, RunnerError> {
    serde_path_to_error::deserialize::<_, T>(value.clone()).map_err(|e| {
        let mut path = e.path().to_string();
        if path == "." {
            // `#[serde(flatten)]` hides the path: retry the flattened parts on their own.
            path = path_in::<WorkloadSpec>(&value)
                .or_else(|| path_in::<fmesh_crds::ConsumerSpec>(&value))
                .unwrap_or(path);
        }
        RunnerError::spec(format!("spec.{path}"), e.inner().to_string())
    })
}

fn path_in<T: serde::de::DeserializeOwned>(value: &Value) -> Option<String> {
    serde_path_to_error::deserialize::<_, T>(value.clone())
        .err()
        .map(|e| e.path().to_string())
        .filter(|p| p != ".")
}

fn function_plan(
    spec: FunctionSpec,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, RunnerError> {
    if spec.window_config.is_some() {
        return Err(RunnerError::spec(
            "spec.windowConfig",
            "window functions are not supported by fmesh-runner; use the java runtime",
        ));
    }
    if spec.workload.state_config.is_some() {
        return Err(RunnerError::spec(
            "spec.statefulConfig",
            "state storage is not supported by fmesh-runner (counters are kept in memory)",
        ));
    }
    let mut plan = base_plan(Kind::Function, &spec.workload, env)?;
    consumer_plan(&mut plan, &spec.consumer)?;
    plan.output_topic = spec.output.as_ref().and_then(|o| o.topic.clone());
    plan.forward_properties = spec.forward_source_message_property.unwrap_or(true);
    plan.user_config = spec.func_config.map(|f| f.0).unwrap_or_default();
    let producer_limit = spec
        .output
        .as_ref()
        .and_then(|o| o.producer_conf.as_ref())
        .and_then(|p| p.max_pending_messages);
    plan.max_pending = outstanding_sends(&[spec.max_pending_async_requests, producer_limit]);
    Ok(plan)
}

fn source_plan(
    spec: SourceSpec,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, RunnerError> {
    let mut plan = base_plan(Kind::Source, &spec.workload, env)?;
    plan.output_topic = spec.output.as_ref().and_then(|o| o.topic.clone());
    if plan.output_topic.is_none() {
        return Err(RunnerError::spec(
            "spec.output.topic",
            "a Source needs an output topic",
        ));
    }
    plan.user_config = spec.source_config.map(|f| f.0).unwrap_or_default();
    plan.forward_properties = spec.forward_source_message_property.unwrap_or(true);
    match &plan.runtime {
        RuntimePlan::Builtin(n) if connectors::has(ConnectorKind::Source, n) => Ok(plan),
        RuntimePlan::Builtin(n) => Err(RunnerError::spec(
            "spec.builtin.name",
            format!(
                "`{n}` is not a builtin source; fmesh-runner has {}",
                connector_names(ConnectorKind::Source)
            ),
        )),
        _ => Err(RunnerError::spec(
            "spec.builtin",
            format!(
                "fmesh-runner runs Sources with a builtin connector ({})",
                connector_names(ConnectorKind::Source)
            ),
        )),
    }
}

fn sink_plan(spec: SinkSpec, env: &dyn Fn(&str) -> Option<String>) -> Result<Plan, RunnerError> {
    let mut plan = base_plan(Kind::Sink, &spec.workload, env)?;
    consumer_plan(&mut plan, &spec.consumer)?;
    plan.user_config = spec.sink_config.map(|f| f.0).unwrap_or_default();
    if let RuntimePlan::Builtin(n) = &plan.runtime
        && !connectors::has(ConnectorKind::Sink, n)
    {
        return Err(RunnerError::spec(
            "spec.builtin.name",
            format!(
                "`{n}` is not a builtin sink; fmesh-runner has {}",
                connector_names(ConnectorKind::Sink)
            ),
        ));
    }
    Ok(plan)
}

fn connector_names(kind: ConnectorKind) -> String {
    let names: Vec<&str> = match kind {
        ConnectorKind::Source => connectors::SOURCES.iter().map(|(n, _)| *n).collect(),
        ConnectorKind::Sink => connectors::SINKS.iter().map(|(n, _)| *n).collect(),
    };
    names.join(", ")
}

fn base_plan(
    kind: Kind,
    w: &WorkloadSpec,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, RunnerError> {
    let name = w
        .name
        .clone()
        .ok_or_else(|| RunnerError::spec("spec.name", "no name and no objectName"))?;
    let mut secrets = BTreeMap::new();
    for key in w.secrets_map.iter().flat_map(|m| m.keys()) {
        // The operator maps each secretsMap key to an env var of the same name.
        if let Some(v) = env(key) {
            secrets.insert(key.clone(), v);
        }
    }
    Ok(Plan {
        kind,
        tenant: w.tenant.clone().unwrap_or_else(|| "public".into()),
        namespace: w.namespace.clone().unwrap_or_else(|| "default".into()),
        cluster: w
            .cluster_name
            .clone()
            .unwrap_or_else(|| "kubernetes".into()),
        subscription: String::new(),
        name,
        inputs: Vec::new(),
        topic_pattern: None,
        subscription_kind: SubscriptionKind::Shared,
        position: SubscriptionPosition::Latest,
        guarantee: w
            .processing_guarantee
            .unwrap_or(ProcessingGuarantee::AtleastOnce),
        auto_ack: true,
        timeout_ms: None,
        max_message_retry: None,
        dead_letter_topic: None,
        output_topic: None,
        log_topic: w.log_topic.clone(),
        forward_properties: false,
        user_config: Map::new(),
        secrets,
        max_pending: MAX_OUTSTANDING_SENDS,
        receiver_queue_size: DEFAULT_RECEIVER_QUEUE,
        runtime: runtime_plan(w)?,
    })
}

fn consumer_plan(plan: &mut Plan, c: &fmesh_crds::ConsumerSpec) -> Result<(), RunnerError> {
    let input = c.input.clone().unwrap_or_default();
    plan.inputs = input.topics.clone().unwrap_or_default();
    plan.receiver_queue_size = receiver_queue_size(&input)?;
    for (topic, conf) in input.source_specs.iter().flatten() {
        if conf.is_regex_pattern == Some(true) {
            plan.topic_pattern = Some(topic.clone());
        } else if !plan.inputs.contains(topic) {
            plan.inputs.push(topic.clone());
        }
    }
    if let Some(p) = &input.topic_pattern {
        plan.topic_pattern = Some(p.clone());
    }
    if let Some(p) = &plan.topic_pattern {
        regex::Regex::new(p).map_err(|e| {
            RunnerError::spec("spec.input.topicPattern", format!("not a regex: {e}"))
        })?;
        if !plan.inputs.is_empty() {
            return Err(RunnerError::spec(
                "spec.input.topicPattern",
                "fmesh-runner subscribes to either topics or one pattern, not both",
            ));
        }
    }
    if plan.inputs.is_empty() && plan.topic_pattern.is_none() {
        return Err(RunnerError::spec("spec.input.topics", "no input topic"));
    }
    plan.subscription = c.subscription_name.clone().unwrap_or_else(|| plan.fqfn());
    plan.subscription_kind = if c.retain_key_ordering == Some(true) {
        SubscriptionKind::KeyShared
    } else if c.retain_ordering == Some(true) {
        SubscriptionKind::Failover
    } else {
        SubscriptionKind::Shared
    };
    if plan.guarantee == ProcessingGuarantee::EffectivelyOnce {
        // As Pulsar Functions do: one consumer per partition keeps sequence ids increasing.
        plan.subscription_kind = SubscriptionKind::Failover;
    }
    plan.position = c
        .subscription_position
        .unwrap_or(SubscriptionPosition::Latest);
    plan.auto_ack = c.auto_ack.unwrap_or(true);
    plan.timeout_ms = c.timeout.filter(|t| *t > 0).map(|t| t as u64);
    plan.max_message_retry = c.max_message_retry.filter(|n| *n >= 0).map(|n| n as u32);
    plan.dead_letter_topic = c.dead_letter_topic.clone();
    if plan.dead_letter_topic.is_some() && plan.max_message_retry.is_none() {
        return Err(RunnerError::spec(
            "spec.deadLetterTopic",
            "a dead letter topic needs maxMessageRetry (how many retries before giving up)",
        ));
    }
    Ok(())
}

/// The bound on sends awaiting their receipt: the smallest limit the spec gives (values below
/// 1 count as 1), never above [`MAX_OUTSTANDING_SENDS`].
fn outstanding_sends(limits: &[Option<i32>]) -> usize {
    limits
        .iter()
        .flatten()
        .map(|n| usize::try_from(*n).unwrap_or(0).max(1))
        .min()
        .unwrap_or(MAX_OUTSTANDING_SENDS)
        .min(MAX_OUTSTANDING_SENDS)
}

/// The consumer's prefetch: one consumer serves every input topic here, so the smallest
/// `receiverQueueSize` given for any of them applies to all (the memory bound the user asked for).
fn receiver_queue_size(input: &fmesh_crds::common::InputConf) -> Result<u32, RunnerError> {
    let mut size = None;
    for (topic, conf) in input.source_specs.iter().flatten() {
        let Some(q) = conf.receiver_queue_size else {
            continue;
        };
        // Pulsar's 0 (a zero-queue consumer) is one permit at a time here.
        let q = u32::try_from(q).map(|q| q.max(1)).map_err(|_| {
            RunnerError::spec(
                format!("spec.input.sourceSpecs[{topic}].receiverQueueSize"),
                "must be 0 or more (messages the consumer may prefetch)",
            )
        })?;
        size = Some(size.map_or(q, |s: u32| s.min(q)));
    }
    Ok(size.unwrap_or(DEFAULT_RECEIVER_QUEUE))
}

fn runtime_plan(w: &WorkloadSpec) -> Result<RuntimePlan, RunnerError> {
    let r = &w.runtime;
    if r.kinds().len() != 1 {
        return Err(RunnerError::spec(
            "spec",
            "exactly one runtime (wasm, exec, python, builtin) must be set",
        ));
    }
    if let Some(b) = &r.builtin {
        let name = b.name.clone().unwrap_or_default();
        let known = crate::runtime::builtin::Builtin::by_name(&name).is_some()
            || connectors::has(ConnectorKind::Source, &name)
            || connectors::has(ConnectorKind::Sink, &name);
        if !known {
            return Err(RunnerError::spec(
                "spec.builtin.name",
                format!(
                    "unknown builtin {name:?}; fmesh-runner has the function identity, the sources {} and the sinks {}",
                    connector_names(ConnectorKind::Source),
                    connector_names(ConnectorKind::Sink)
                ),
            ));
        }
        return Ok(RuntimePlan::Builtin(name));
    }
    if let Some(wasm) = &r.wasm {
        let module = wasm.module.clone().ok_or_else(|| {
            RunnerError::spec(
                "spec.wasm.module",
                "the module's path in the pod is required",
            )
        })?;
        let max_memory = match &wasm.max_memory {
            Some(q) => Some(parse_quantity(&q.0).ok_or_else(|| {
                RunnerError::spec(
                    "spec.wasm.maxMemory",
                    format!("not a byte quantity: {}", q.0),
                )
            })?),
            None => None,
        };
        return Ok(RuntimePlan::Wasm {
            module: module.into(),
            export: wasm.export.clone().unwrap_or_else(|| "process".into()),
            fuel_per_message: wasm.fuel_per_message,
            max_memory,
        });
    }
    if let Some(exec) = &r.exec {
        let mut argv = exec.command.clone().unwrap_or_default();
        argv.extend(exec.args.clone().unwrap_or_default());
        if argv.is_empty() {
            return Err(RunnerError::spec("spec.exec.command", "no command"));
        }
        return Ok(RuntimePlan::Exec {
            argv,
            working_dir: exec.working_dir.clone().map(Into::into),
        });
    }
    if let Some(py) = &r.python {
        let file: PathBuf = py
            .py
            .clone()
            .ok_or_else(|| RunnerError::spec("spec.python.py", "the .py file is required"))?
            .into();
        let stem = file
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("function")
            .to_string();
        return Ok(RuntimePlan::Python {
            file,
            class_name: w.class_name.clone().unwrap_or(stem),
        });
    }
    let which = r.kind().map(|k| k.field()).unwrap_or("runtime");
    Err(RunnerError::spec(
        format!("spec.{which}"),
        "this runtime runs in Pulsar's instance images, not fmesh-runner",
    ))
}

/// A Kubernetes byte quantity (`64Mi`, `1G`, `1048576`).
pub fn parse_quantity(q: &str) -> Option<u64> {
    let q = q.trim();
    let split = q.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(q.len());
    let (num, unit) = q.split_at(split);
    let n: f64 = num.parse().ok()?;
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    (n >= 0.0).then_some((n * mult) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn function_defaults_and_ordering() {
        let plan = parse(
            r#"{"kind":"Function","objectName":"f","input":{"topics":["in"]},
                "output":{"topic":"out"},"retainKeyOrdering":true,
                "builtin":{"name":"identity"}}"#,
            &no_env,
        )
        .unwrap();
        assert_eq!(plan.name, "f");
        assert_eq!(plan.subscription, "public/default/f");
        assert_eq!(plan.subscription_kind, SubscriptionKind::KeyShared);
        assert_eq!(plan.guarantee, ProcessingGuarantee::AtleastOnce);
        assert_eq!(plan.output_topic.as_deref(), Some("out"));
        assert!(plan.auto_ack);
    }

    #[test]
    fn prefetch_and_outstanding_sends_follow_the_spec_within_the_runner_bounds() {
        let plan = |extra: &str| {
            parse(
                &format!(
                    r#"{{"kind":"Function","objectName":"f","input":{{"topics":["in"]{extra}}},
                        "output":{{"topic":"out","producerConf":{{"maxPendingMessages":50}}}},
                        "maxPendingAsyncRequests":1000,"builtin":{{"name":"identity"}}}}"#
                ),
                &no_env,
            )
        };
        let p = plan("").unwrap();
        assert_eq!(p.receiver_queue_size, DEFAULT_RECEIVER_QUEUE);
        assert_eq!(p.max_pending, 50);
        let p =
            plan(r#","sourceSpecs":{"in":{"receiverQueueSize":500},"b":{"receiverQueueSize":20}}"#)
                .unwrap();
        assert_eq!(p.receiver_queue_size, 20);
        assert_eq!(
            outstanding_sends(&[Some(1000), None]),
            MAX_OUTSTANDING_SENDS
        );
        assert_eq!(outstanding_sends(&[None, None]), MAX_OUTSTANDING_SENDS);
        assert_eq!(outstanding_sends(&[Some(0), Some(7)]), 1);
        let zero = plan(r#","sourceSpecs":{"in":{"receiverQueueSize":0}}"#).unwrap();
        assert_eq!(zero.receiver_queue_size, 1);
        let err = plan(r#","sourceSpecs":{"in":{"receiverQueueSize":-1}}"#).unwrap_err();
        assert!(
            err.to_string()
                .contains("spec.input.sourceSpecs[in].receiverQueueSize"),
            "{err}"
        );
    }

    #[test]
    fn bad_field_names_its_path() {
        let err = parse(
            r#"{"kind":"Function","objectName":"f","input":{"topics":"in"},"builtin":{}}"#,
            &no_env,
        )
        .unwrap_err();
        assert!(err.to_string().contains("spec.input.topics"), "{err}");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn java_is_refused_clearly() {
        let err = parse(
            r#"{"kind":"Function","objectName":"f","input":{"topics":["in"]},"java":{"jar":"x.jar"}}"#,
            &no_env,
        )
        .unwrap_err();
        assert!(err.to_string().contains("spec.java"), "{err}");
    }

    #[test]
    fn secrets_come_from_env() {
        let plan = parse(
            r#"{"kind":"Function","objectName":"f","input":{"topics":["in"]},
                "secretsMap":{"PASSWORD":{"path":"s","key":"k"}},"builtin":{"name":"identity"}}"#,
            &|k| (k == "PASSWORD").then(|| "hunter2".to_string()),
        )
        .unwrap();
        assert_eq!(
            plan.secrets.get("PASSWORD").map(String::as_str),
            Some("hunter2")
        );
    }

    #[test]
    fn typed_member_spec() {
        let mut spec = FunctionSpec::default();
        spec.consumer.input = Some(fmesh_crds::common::InputConf {
            topics: Some(vec!["in".into()]),
            ..Default::default()
        });
        spec.workload.runtime.builtin = Some(Box::new(fmesh_crds::common::BuiltinRuntime {
            name: Some("identity".into()),
        }));
        let plan = plan_for(Kind::Function, "member", &spec, &no_env).unwrap();
        assert_eq!(plan.fqfn(), "public/default/member");
        assert_eq!(plan.runtime, RuntimePlan::Builtin("identity".into()));
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("64Mi"), Some(64 << 20));
        assert_eq!(parse_quantity("1000"), Some(1000));
        assert_eq!(parse_quantity("1x"), None);
    }
}
