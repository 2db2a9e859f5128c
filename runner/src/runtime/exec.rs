//! The `exec` runtime: a child program speaking runner/PROTOCOL.md on stdin/stdout.
//! A child that dies is restarted with exponential backoff and the message it held is tried
//! again on the new child, so nothing in flight is lost.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::Instant;

use super::frame::{self, FrameKind};
use crate::error::{FunctionError, RunnerError};
use crate::metrics::Metrics;
use crate::record::{Counters, Effects, Level, Publish, Record};

/// Attempts per message across child restarts before it counts as a system error.
const ATTEMPTS_PER_MESSAGE: u32 = 3;
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(10);
/// How long a child may take to answer INIT.
const INIT_TIMEOUT: Duration = Duration::from_secs(30);

/// How to start the child and what to tell it.
#[derive(Clone, Debug)]
pub struct ExecSpec {
    /// argv.
    pub argv: Vec<String>,
    /// Working directory.
    pub working_dir: Option<PathBuf>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
    /// The INIT header (identity, user config, secrets); counters are added at each start.
    pub init: Value,
    /// Per-message deadline; the child is killed and restarted when it passes.
    pub timeout: Option<Duration>,
}

struct Running {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

/// A supervised child process.
pub struct ExecFunction {
    spec: ExecSpec,
    counters: Counters,
    metrics: Metrics,
    running: Option<Running>,
    backoff: Duration,
    next_start: Instant,
}

impl ExecFunction {
    /// Starts the child and waits for READY.
    pub async fn start(
        spec: ExecSpec,
        counters: Counters,
        metrics: Metrics,
    ) -> Result<Self, RunnerError> {
        let mut f = ExecFunction {
            spec,
            counters,
            metrics,
            running: None,
            backoff: BACKOFF_START,
            next_start: Instant::now(),
        };
        f.running = Some(f.spawn().await.map_err(RunnerError::RuntimeStart)?);
        Ok(f)
    }

    async fn spawn(&self) -> Result<Running, String> {
        let (program, args) = self.spec.argv.split_first().ok_or("empty command")?;
        let mut cmd = Command::new(program);
        cmd.args(args)
            .envs(self.spec.env.iter().cloned())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(dir) = &self.spec.working_dir {
            cmd.current_dir(dir);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {program}: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("child has no stdio pipes".into());
        };
        let mut run = Running {
            child,
            stdin: BufWriter::new(stdin),
            stdout: BufReader::new(stdout),
        };
        let mut init = self.spec.init.clone();
        if let Some(obj) = init.as_object_mut() {
            obj.insert("counters".into(), json!(self.counters.snapshot()));
        }
        let handshake = async {
            frame::write(&mut run.stdin, FrameKind::Init, &init, &[]).await?;
            run.stdin.flush().await?;
            frame::read(&mut run.stdout).await
        };
        let ready = tokio::time::timeout(INIT_TIMEOUT, handshake)
            .await
            .map_err(|_| "child did not answer INIT in time".to_string())?
            .map_err(|e| format!("child failed during INIT: {e}"))?;
        if ready.kind != FrameKind::Ready {
            return Err(format!("expected READY, got {:?}", ready.kind));
        }
        if let Some(err) = ready.header.get("error").and_then(Value::as_str) {
            return Err(format!("child failed to initialise: {err}"));
        }
        tracing::info!(pid = run.child.id(), program = %program, "exec child ready");
        Ok(run)
    }

    /// (Re)starts the child if needed, waiting out the backoff after a crash.
    async fn ensure_running(&mut self) -> Result<(), FunctionError> {
        if self.running.is_some() {
            return Ok(());
        }
        tokio::time::sleep_until(self.next_start).await;
        self.metrics.runtime_restarts.inc();
        match self.spawn().await {
            Ok(run) => {
                self.running = Some(run);
                Ok(())
            }
            Err(e) => {
                self.crashed();
                Err(FunctionError::System(e))
            }
        }
    }

    fn crashed(&mut self) {
        if let Some(mut run) = self.running.take() {
            // The child is dead or unusable; make sure it is gone.
            let _ = run.child.start_kill();
        }
        self.next_start = Instant::now() + self.backoff;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
    }

    /// Runs one message, restarting the child and retrying if it dies.
    pub async fn process(&mut self, record: &Record) -> Result<Effects, FunctionError> {
        let mut last = FunctionError::System("not attempted".into());
        for attempt in 1..=ATTEMPTS_PER_MESSAGE {
            self.ensure_running().await?;
            match self.exchange(record).await {
                Ok(outcome) => {
                    self.backoff = BACKOFF_START;
                    return outcome;
                }
                Err(e) => {
                    tracing::warn!(attempt, error = %e, "exec child failed; restarting");
                    self.crashed();
                    last = e;
                    if matches!(last, FunctionError::Timeout(_)) {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }

    /// One MESSAGE → EFFECT* → RESULT exchange. The outer error means the child is unusable.
    async fn exchange(
        &mut self,
        record: &Record,
    ) -> Result<Result<Effects, FunctionError>, FunctionError> {
        let timeout = self.spec.timeout;
        let run = self
            .running
            .as_mut()
            .ok_or_else(|| FunctionError::System("child not running".into()))?;
        let talk = talk(run, record);
        match timeout {
            Some(t) => tokio::time::timeout(t, talk)
                .await
                .map_err(|_| FunctionError::Timeout(t.as_millis() as u64))?,
            None => talk.await,
        }
        .map(|outcome| {
            if let Ok(eff) = &outcome {
                for (key, amount) in &eff.counters {
                    self.counters.incr(key, *amount);
                }
            }
            outcome.map(|e| e.effects)
        })
    }
}

struct Collected {
    effects: Effects,
    counters: Vec<(String, i64)>,
}

async fn talk(
    run: &mut Running,
    record: &Record,
) -> Result<Result<Collected, FunctionError>, FunctionError> {
    let io = |e: std::io::Error| FunctionError::System(format!("child I/O: {e}"));
    let header = serde_json::to_value(record).map_err(|e| FunctionError::System(e.to_string()))?;
    frame::write(&mut run.stdin, FrameKind::Message, &header, &record.payload)
        .await
        .map_err(io)?;
    run.stdin.flush().await.map_err(io)?;
    let mut out = Collected {
        effects: Effects::default(),
        counters: Vec::new(),
    };
    loop {
        let f = frame::read(&mut run.stdout).await.map_err(io)?;
        match f.kind {
            FrameKind::Effect => effect(&mut out, &f.header, f.body),
            FrameKind::Result => {
                if f.header.get("ok").and_then(Value::as_bool) == Some(true) {
                    if f.header.get("output").and_then(Value::as_bool) == Some(true) {
                        out.effects.output = Some(f.body);
                    }
                    return Ok(Ok(out));
                }
                let msg = f
                    .header
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("function failed");
                return Ok(Err(FunctionError::User(msg.to_string())));
            }
            other => {
                return Err(FunctionError::System(format!("unexpected {other:?} frame")));
            }
        }
    }
}

fn effect(out: &mut Collected, h: &Value, body: Vec<u8>) {
    let s = |k: &str| h.get(k).and_then(Value::as_str).map(str::to_string);
    match h.get("op").and_then(Value::as_str) {
        Some("publish") => {
            let properties: BTreeMap<String, String> = h
                .get("properties")
                .and_then(|p| serde_json::from_value(p.clone()).ok())
                .unwrap_or_default();
            out.effects.publishes.push(Publish {
                topic: s("topic").unwrap_or_default(),
                payload: body,
                key: s("key"),
                properties,
            });
        }
        Some("log") => out.effects.logs.push((
            Level::parse(&s("level").unwrap_or_default()),
            s("msg").unwrap_or_default(),
        )),
        Some("counter") => out.counters.push((
            s("key").unwrap_or_default(),
            h.get("amount").and_then(Value::as_i64).unwrap_or(1),
        )),
        Some("metric") => out.effects.metrics.push((
            s("name").unwrap_or_default(),
            h.get("value").and_then(Value::as_f64).unwrap_or(0.0),
        )),
        Some("ack") => out.effects.acked = true,
        other => tracing::warn!(op = ?other, "unknown effect from exec child ignored"),
    }
}
