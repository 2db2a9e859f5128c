//! The runtimes an instance can run its code on, behind one `process` call.

pub mod builtin;
pub mod exec;
pub mod frame;
pub mod python;
pub mod wasm;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::error::{FunctionError, RunnerError};
use crate::metrics::Metrics;
use crate::record::{Counters, Effects, Record};
use crate::spec::{Kind, Plan, RuntimePlan};

/// Identity of the instance, as functions see it through their context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstanceIdentity {
    /// This instance's index (pod ordinal).
    pub instance_id: u32,
    /// How many instances run.
    pub instance_count: u32,
}

/// A started runtime.
pub enum Runtime {
    /// Compiled into the runner.
    Builtin(builtin::Builtin),
    /// A wasm module.
    Wasm(Box<wasm::WasmFunction>),
    /// A child process (exec and python).
    Exec(Box<exec::ExecFunction>),
    /// A builtin sink connector: the pipeline hands it records directly.
    Sink(Box<dyn crate::connectors::SinkConnector>),
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Runtime::Builtin(_) => "Runtime::Builtin",
            Runtime::Wasm(_) => "Runtime::Wasm",
            Runtime::Exec(_) => "Runtime::Exec",
            Runtime::Sink(_) => "Runtime::Sink",
        })
    }
}

impl Runtime {
    /// Loads or starts the runtime the plan names.
    pub async fn start(
        plan: &Plan,
        id: InstanceIdentity,
        counters: Counters,
        metrics: Metrics,
    ) -> Result<Runtime, RunnerError> {
        let timeout = plan.timeout_ms.map(Duration::from_millis);
        match &plan.runtime {
            RuntimePlan::Builtin(name) if plan.kind == Kind::Sink => {
                Ok(Runtime::Sink(crate::connectors::sink(plan, name)?))
            }
            RuntimePlan::Builtin(name) => builtin::Builtin::by_name(name)
                .map(Runtime::Builtin)
                .ok_or_else(|| {
                    RunnerError::spec(
                        "spec.builtin.name",
                        format!(
                            "`{name}` is a connector, not a function: use it in a Source or Sink"
                        ),
                    )
                }),
            RuntimePlan::Wasm {
                module,
                export,
                fuel_per_message,
                max_memory,
            } => {
                let limits = wasm::Limits {
                    fuel_per_message: *fuel_per_message,
                    time_per_message: timeout,
                    max_memory: *max_memory,
                };
                let env = wasm::Environment {
                    user_config: Arc::new(plan.user_config.clone()),
                    secrets: Arc::new(plan.secrets.clone()),
                    counters,
                };
                let (module, export) = (module.clone(), export.clone());
                // Compiling can take a while; keep it off the async workers.
                let f = tokio::task::spawn_blocking(move || {
                    wasm::WasmFunction::load(&module, &export, limits, env)
                })
                .await
                .map_err(|e| RunnerError::RuntimeStart(e.to_string()))??;
                Ok(Runtime::Wasm(Box::new(f)))
            }
            RuntimePlan::Exec { argv, working_dir } => {
                let spec = exec::ExecSpec {
                    argv: argv.clone(),
                    working_dir: working_dir.clone(),
                    env: Vec::new(),
                    init: init_header(plan, id),
                    timeout,
                };
                Ok(Runtime::Exec(Box::new(
                    exec::ExecFunction::start(spec, counters, metrics).await?,
                )))
            }
            RuntimePlan::Python { file, class_name } => {
                let spec = python::exec_spec(file, class_name, init_header(plan, id), timeout)?;
                Ok(Runtime::Exec(Box::new(
                    exec::ExecFunction::start(spec, counters, metrics).await?,
                )))
            }
        }
    }

    /// Whether `process` runs in this thread without awaiting anything (wasm, builtin).
    pub fn runs_inline(&self) -> bool {
        matches!(self, Runtime::Builtin(_) | Runtime::Wasm(_))
    }

    /// Runs the function on one record.
    pub async fn process(&mut self, record: &Record) -> Result<Effects, FunctionError> {
        match self {
            Runtime::Builtin(b) => b.process(record),
            Runtime::Wasm(w) => w.process(record),
            Runtime::Exec(e) => e.process(record).await,
            Runtime::Sink(_) => Err(FunctionError::System(
                "a sink connector is driven by the pipeline, not called as a function".into(),
            )),
        }
    }
}

/// The INIT frame's header: what a Pulsar Context answers without asking the runner.
fn init_header(plan: &Plan, id: InstanceIdentity) -> serde_json::Value {
    json!({
        "name": plan.name,
        "tenant": plan.tenant,
        "namespace": plan.namespace,
        "cluster": plan.cluster,
        "instance_id": id.instance_id,
        "instance_count": id.instance_count,
        "input_topics": plan.inputs,
        "output_topic": plan.output_topic,
        "log_topic": plan.log_topic,
        "user_config": plan.user_config,
        "secrets": plan.secrets,
    })
}
