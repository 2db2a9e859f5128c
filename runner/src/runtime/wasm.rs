//! The `wasm` runtime: a module exporting the ABI in runner/ABI.md, run by wasmtime with a
//! fuel or time budget per message and a linear-memory cap.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Map, Value};
use wasmtime::{
    Caller, Config, Engine, Extern, Instance, InstancePre, Linker, Memory, Module, Store,
    StoreLimits, StoreLimitsBuilder, Trap, TypedFunc,
};

use crate::error::{FunctionError, RunnerError};
use crate::record::{Counters, Effects, Level, Publish, Record};

/// How often the epoch advances; the per-message time budget is counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Time budget per message when the spec sets neither fuel nor a timeout.
const DEFAULT_BUDGET: Duration = Duration::from_secs(10);
/// The ABI's import module name.
const ABI_MODULE: &str = "fmesh";

/// What the module's host functions can read: the instance's identity and configuration.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    /// `funcConfig`.
    pub user_config: Arc<Map<String, Value>>,
    /// Secrets by `secretsMap` key.
    pub secrets: Arc<BTreeMap<String, String>>,
    /// Counters shared with the metrics.
    pub counters: Counters,
}

/// Limits applied to every invocation.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Fuel per message (roughly one unit per instruction), if capped.
    pub fuel_per_message: Option<u64>,
    /// Wall-clock budget per message (epoch interruption).
    pub time_per_message: Option<Duration>,
    /// Linear-memory cap in bytes.
    pub max_memory: Option<u64>,
}

struct HostState {
    limits: StoreLimits,
    env: Environment,
    record: Record,
    effects: Effects,
    error: Option<String>,
}

struct Live {
    store: Store<HostState>,
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    process: TypedFunc<(i32, i32, i32), i32>,
}

/// A loaded module, ready to process messages one at a time.
pub struct WasmFunction {
    engine: Engine,
    pre: InstancePre<HostState>,
    export: String,
    limits: Limits,
    env: Environment,
    live: Option<Live>,
    ticker_stop: Arc<AtomicBool>,
}

impl Drop for WasmFunction {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}

impl WasmFunction {
    /// Compiles the module (`.wasm` or `.wat`) and instantiates it once.
    pub fn load(
        path: &Path,
        export: &str,
        limits: Limits,
        env: Environment,
    ) -> Result<Self, RunnerError> {
        let fuel = limits.fuel_per_message.is_some();
        let engine = engine(fuel)?;
        let module = match COMPILER.get() {
            Some(exe) => compile_in_child(exe, &engine, path, fuel)?,
            None => Module::from_file(&engine, path)
                .map_err(|e| RunnerError::RuntimeStart(format!("{}: {e:#}", path.display())))?,
        };
        let mut linker = Linker::new(&engine);
        define_host(&mut linker).map_err(start_err)?;
        let pre = linker.instantiate_pre(&module).map_err(start_err)?;
        let ticker_stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.clone(), ticker_stop.clone());
        let mut f = WasmFunction {
            engine,
            pre,
            export: export.to_string(),
            limits,
            env,
            live: None,
            ticker_stop,
        };
        f.live = Some(f.instantiate()?);
        Ok(f)
    }

    fn instantiate(&self) -> Result<Live, RunnerError> {
        let mut limits = StoreLimitsBuilder::new().trap_on_grow_failure(true);
        if let Some(max) = self.limits.max_memory {
            limits = limits.memory_size(usize::try_from(max).unwrap_or(usize::MAX));
        }
        let state = HostState {
            limits: limits.build(),
            env: self.env.clone(),
            record: Record::default(),
            effects: Effects::default(),
            error: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.limits);
        self.arm(&mut store)?;
        let instance: Instance = self.pre.instantiate(&mut store).map_err(start_err)?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| RunnerError::RuntimeStart("module exports no `memory`".into()))?;
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut store, "alloc")
            .map_err(|e| RunnerError::RuntimeStart(format!("export `alloc(i32) -> i32`: {e}")))?;
        let process = instance
            .get_typed_func::<(i32, i32, i32), i32>(&mut store, &self.export)
            .map_err(|e| {
                RunnerError::RuntimeStart(format!(
                    "export `{}(i32, i32, i32) -> i32`: {e}",
                    self.export
                ))
            })?;
        if let Ok(init) = instance.get_typed_func::<i32, i32>(&mut store, "init") {
            let rc = init.call(&mut store, 1).map_err(start_err)?;
            if rc != 0 {
                return Err(RunnerError::RuntimeStart(format!("init returned {rc}")));
            }
        }
        Ok(Live {
            store,
            memory,
            alloc,
            process,
        })
    }

    /// Refills the fuel and the time budget before a call.
    fn arm(&self, store: &mut Store<HostState>) -> Result<(), RunnerError> {
        if let Some(fuel) = self.limits.fuel_per_message {
            store.set_fuel(fuel).map_err(start_err)?;
        }
        let budget = self.limits.time_per_message.unwrap_or(DEFAULT_BUDGET);
        let ticks = (budget.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
        store.set_epoch_deadline(ticks);
        Ok(())
    }

    /// Runs the function on one record.
    pub fn process(&mut self, record: &Record) -> Result<Effects, FunctionError> {
        if self.live.is_none() {
            self.live = Some(
                self.instantiate()
                    .map_err(|e| FunctionError::System(e.to_string()))?,
            );
        }
        let outcome = self.call(record);
        if matches!(outcome, Err(FunctionError::User(_))) {
            // A trap can leave the guest's memory inconsistent: start the next call afresh.
            self.live = None;
        }
        outcome
    }

    fn call(&mut self, record: &Record) -> Result<Effects, FunctionError> {
        let mut live = self
            .live
            .take()
            .ok_or_else(|| FunctionError::System("no instance".into()))?;
        let armed = self.arm(&mut live.store);
        let result = armed
            .map_err(|e| FunctionError::System(e.to_string()))
            .and_then(|()| invoke(&mut live, record));
        self.live = Some(live);
        result
    }
}

fn invoke(live: &mut Live, record: &Record) -> Result<Effects, FunctionError> {
    {
        let state = live.store.data_mut();
        // The host functions read the message's facts, never its payload (that is written
        // into the guest's memory below): copy the rest, reusing the previous allocations.
        let r = &mut state.record;
        r.topic.clone_from(&record.topic);
        r.message_id.clone_from(&record.message_id);
        r.key.clone_from(&record.key);
        r.properties.clone_from(&record.properties);
        r.event_time = record.event_time;
        r.publish_time = record.publish_time;
        state.effects = Effects::default();
        state.error = None;
    }
    let len = i32::try_from(record.payload.len())
        .map_err(|_| FunctionError::User("message larger than 2 GiB".into()))?;
    let ptr = live.alloc.call(&mut live.store, len).map_err(trap)?;
    live.memory
        .write(&mut live.store, ptr as u32 as usize, &record.payload)
        .map_err(|_| FunctionError::User(format!("alloc returned {ptr}, outside memory")))?;
    let rc = live
        .process
        .call(&mut live.store, (ptr, len, 1))
        .map_err(trap)?;
    let state = live.store.data_mut();
    if rc != 0 {
        let msg = state
            .error
            .take()
            .unwrap_or_else(|| format!("process returned {rc}"));
        return Err(FunctionError::User(msg));
    }
    Ok(std::mem::take(&mut state.effects))
}

/// The engine settings; a module compiled by [`compile_file`] must be loaded by an engine
/// with the same ones.
fn engine(fuel: bool) -> Result<Engine, RunnerError> {
    let mut config = Config::new();
    config.consume_fuel(fuel);
    config.epoch_interruption(true);
    Engine::new(&config).map_err(start_err)
}

/// The program that compiles modules out of process (see [`compile_out_of_process`]).
static COMPILER: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Makes [`WasmFunction::load`] compile modules in a child process, `exe --compile-wasm IN
/// OUT [--fuel]` (a binary whose `main` calls [`compile_file`] for that), and load the
/// result. Cranelift then never runs in the instance: its compile heap and its code pages
/// never enter the resident memory of the long-lived instance (runner/README.md, "Memory and
/// throughput").
pub fn compile_out_of_process(exe: std::path::PathBuf) {
    let _ = COMPILER.set(exe);
}

/// Compiles `input` (`.wasm` or `.wat`) with the instance's engine settings into `output`,
/// a file [`WasmFunction::load`] can load without compiling.
pub fn compile_file(input: &Path, output: &Path, fuel: bool) -> Result<(), RunnerError> {
    let engine = engine(fuel)?;
    // Text or binary: wasmtime parses the text format itself.
    let bytes = std::fs::read(input)
        .map_err(|e| RunnerError::RuntimeStart(format!("{}: {e}", input.display())))?;
    let compiled = engine
        .precompile_module(&bytes)
        .map_err(|e| RunnerError::RuntimeStart(format!("{}: {e:#}", input.display())))?;
    std::fs::write(output, compiled)?;
    Ok(())
}

fn compile_in_child(
    exe: &Path,
    engine: &Engine,
    path: &Path,
    fuel: bool,
) -> Result<Module, RunnerError> {
    // A private directory: the compiled file is loaded as trusted code.
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("module.cwasm");
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--compile-wasm").arg(path).arg(&out);
    if fuel {
        cmd.arg("--fuel");
    }
    let done = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|e| RunnerError::RuntimeStart(format!("cannot start the wasm compiler: {e}")))?;
    if !done.status.success() {
        let why = String::from_utf8_lossy(&done.stderr);
        return Err(RunnerError::RuntimeStart(why.trim().to_string()));
    }
    // SAFETY: the file was just written, in a directory only this user can write, by this
    // same binary with the same engine settings; wasmtime checks the settings again.
    unsafe { Module::deserialize_file(engine, &out) }
        .map_err(|e| RunnerError::RuntimeStart(format!("loading the compiled module: {e:#}")))
}

fn trap(e: wasmtime::Error) -> FunctionError {
    let what = match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => "fuel exhausted: the function ran too long".to_string(),
        Some(Trap::Interrupt) => "time budget exhausted: the function ran too long".to_string(),
        Some(t) => format!("trap: {t}"),
        None => format!("{e:#}"),
    };
    FunctionError::User(what)
}

fn start_err(e: wasmtime::Error) -> RunnerError {
    RunnerError::RuntimeStart(format!("{e:#}"))
}

fn spawn_ticker(engine: Engine, stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(EPOCH_TICK);
            engine.increment_epoch();
        }
    });
}

type Ctx<'a> = Caller<'a, HostState>;

fn memory(caller: &mut Ctx<'_>) -> wasmtime::Result<Memory> {
    match caller.get_export("memory") {
        Some(Extern::Memory(m)) => Ok(m),
        _ => Err(wasmtime::Error::msg("module exports no memory")),
    }
}

fn read(caller: &mut Ctx<'_>, ptr: i32, len: i32) -> wasmtime::Result<Vec<u8>> {
    let mem = memory(caller)?;
    let (start, len) = (ptr as u32 as usize, len as u32 as usize);
    mem.data(&caller)
        .get(start..start.saturating_add(len))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| wasmtime::Error::msg("pointer outside memory"))
}

fn read_str(caller: &mut Ctx<'_>, ptr: i32, len: i32) -> wasmtime::Result<String> {
    String::from_utf8(read(caller, ptr, len)?).map_err(|_| wasmtime::Error::msg("not UTF-8"))
}

/// Copies `value` into the guest's buffer (as much as fits) and returns its full length, or
/// -1 when absent, so the guest can retry with a larger buffer.
fn give(caller: &mut Ctx<'_>, value: Option<Vec<u8>>, buf: i32, cap: i32) -> wasmtime::Result<i32> {
    let Some(value) = value else { return Ok(-1) };
    let mem = memory(caller)?;
    let n = value.len().min(cap.max(0) as usize);
    mem.write(&mut *caller, buf as u32 as usize, &value[..n])
        .map_err(|_| wasmtime::Error::msg("buffer outside memory"))?;
    i32::try_from(value.len()).map_err(|_| wasmtime::Error::msg("value too large"))
}

fn config_value(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.clone().into_bytes(),
        other => other.to_string().into_bytes(),
    }
}

fn define_host(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    let m = ABI_MODULE;
    linker.func_wrap(m, "output", |mut c: Ctx<'_>, _ctx: i32, p: i32, l: i32| {
        let bytes = read(&mut c, p, l)?;
        c.data_mut().effects.output = Some(bytes);
        Ok(())
    })?;
    linker.func_wrap(m, "error", |mut c: Ctx<'_>, _ctx: i32, p: i32, l: i32| {
        let msg = read_str(&mut c, p, l)?;
        c.data_mut().error = Some(msg);
        Ok(())
    })?;
    linker.func_wrap(
        m,
        "publish",
        |mut c: Ctx<'_>, _ctx: i32, tp: i32, tl: i32, p: i32, l: i32| -> wasmtime::Result<i32> {
            let topic = read_str(&mut c, tp, tl)?;
            let payload = read(&mut c, p, l)?;
            c.data_mut().effects.publishes.push(Publish {
                topic,
                payload,
                ..Publish::default()
            });
            Ok(0)
        },
    )?;
    linker.func_wrap(
        m,
        "log",
        |mut c: Ctx<'_>, _ctx: i32, level: i32, p: i32, l: i32| {
            let msg = read_str(&mut c, p, l)?;
            let level = match level {
                0 => Level::Debug,
                1 => Level::Info,
                2 => Level::Warn,
                _ => Level::Error,
            };
            c.data_mut().effects.logs.push((level, msg));
            Ok(())
        },
    )?;
    linker.func_wrap(
        m,
        "incr_counter",
        |mut c: Ctx<'_>, _ctx: i32, p: i32, l: i32, amount: i64| -> wasmtime::Result<i64> {
            let key = read_str(&mut c, p, l)?;
            Ok(c.data().env.counters.incr(&key, amount))
        },
    )?;
    linker.func_wrap(
        m,
        "get_counter",
        |mut c: Ctx<'_>, _ctx: i32, p: i32, l: i32| {
            let key = read_str(&mut c, p, l)?;
            Ok(c.data().env.counters.get(&key))
        },
    )?;
    linker.func_wrap(
        m,
        "record_metric",
        |mut c: Ctx<'_>, _ctx: i32, p: i32, l: i32, value: f64| {
            let name = read_str(&mut c, p, l)?;
            c.data_mut().effects.metrics.push((name, value));
            Ok(())
        },
    )?;
    linker.func_wrap(m, "ack", |mut c: Ctx<'_>, _ctx: i32| {
        c.data_mut().effects.acked = true;
    })?;
    linker.func_wrap(m, "event_time", |c: Ctx<'_>, _ctx: i32| {
        c.data().record.event_time.map(|t| t as i64).unwrap_or(-1)
    })?;
    // Lookups by key: (ctx, key_ptr, key_len, buf_ptr, buf_cap) -> full length | -1.
    type Lookup = fn(&HostState, &str) -> Option<Vec<u8>>;
    let lookups: [(&str, Lookup); 3] = [
        ("user_config", |s, k| {
            s.env.user_config.get(k).map(config_value)
        }),
        ("secret", |s, k| {
            s.env.secrets.get(k).map(|v| v.clone().into_bytes())
        }),
        ("property", |s, k| {
            s.record.properties.get(k).map(|v| v.clone().into_bytes())
        }),
    ];
    for (name, f) in lookups {
        linker.func_wrap(
            m,
            name,
            move |mut c: Ctx<'_>, _ctx: i32, kp: i32, kl: i32, buf: i32, cap: i32| {
                let key = read_str(&mut c, kp, kl)?;
                let value = f(c.data(), &key);
                give(&mut c, value, buf, cap)
            },
        )?;
    }
    // Message facts: (ctx, buf_ptr, buf_cap) -> full length | -1.
    type Fact = fn(&HostState) -> Option<Vec<u8>>;
    let facts: [(&str, Fact); 4] = [
        ("key", |s| s.record.key.clone().map(String::into_bytes)),
        ("topic", |s| Some(s.record.topic.clone().into_bytes())),
        ("message_id", |s| {
            Some(s.record.message_id.clone().into_bytes())
        }),
        ("properties", |s| {
            serde_json::to_vec(&s.record.properties).ok()
        }),
    ];
    for (name, f) in facts {
        linker.func_wrap(
            m,
            name,
            move |mut c: Ctx<'_>, _ctx: i32, buf: i32, cap: i32| {
                let value = f(c.data());
                give(&mut c, value, buf, cap)
            },
        )?;
    }
    Ok(())
}
