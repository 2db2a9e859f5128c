//! Side-by-side figures on fmesh-broker (in this process) and, when `--pulsar-url` names one,
//! Apache Pulsar, in one run: (a) a bare pulsar-rs consume→produce loop (the floor),
//! (b) fmesh-runner with an identity wasm function, (c) with the Rust exec identity,
//! (d) with a Python identity through the shim, (e) with the builtin identity. Throughput at
//! 100 B and 1 KiB, p50/p99 latency at a fixed rate, peak RSS, and time from process start to
//! first output, each runtime as a share of the floor on the same broker.
//!
//! Build with `--release`; the runner binaries are taken from next to this one.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use futures::StreamExt;
use pulsar::consumer::{ConsumerOptions, InitialPosition};
use pulsar::{Consumer, Pulsar, SubType, TokioExecutor};
use tokio::process::Child;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Parser)]
#[command(name = "runner-bench")]
struct Args {
    /// Messages per throughput run.
    #[arg(long, default_value_t = 20_000)]
    messages: usize,
    /// Messages per second for the latency runs.
    #[arg(long, default_value_t = 500)]
    rate: u64,
    /// Seconds per latency run.
    #[arg(long, default_value_t = 5)]
    latency_secs: u64,
    /// Python interpreter for (d).
    #[arg(long, env = "FMESH_PYTHON", default_value = "python3")]
    python: String,
    /// Only these scenarios (floor, wasm, exec, python, builtin).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Extra members of the runners' spec, a JSON object's inside (e.g.
    /// `"maxPendingAsyncRequests":100`), to compare settings.
    #[arg(long, default_value = "")]
    spec_extra: String,
    /// The runners' `receiverQueueSize` (default: the runner's own).
    #[arg(long)]
    receiver_queue: Option<u32>,
    /// Apache Pulsar to measure beside fmesh-broker (`fmesh-e2e pulsar up` prints it).
    #[arg(long, env = "FMESH_PULSAR_URL")]
    pulsar_url: Option<String>,
    /// Only these brokers (fmesh, pulsar).
    #[arg(long, value_delimiter = ',')]
    brokers: Vec<String>,
    /// Leave Nagle's algorithm on (no `TCP_NODELAY`, as upstream pulsar-rs does) in the floor's
    /// client, to see what it costs; the runners always set `TCP_NODELAY`.
    #[arg(long)]
    nagle: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scenario {
    Floor,
    Wasm,
    Exec,
    Python,
    Builtin,
}

const SCENARIOS: [Scenario; 5] = [
    Scenario::Floor,
    Scenario::Wasm,
    Scenario::Exec,
    Scenario::Python,
    Scenario::Builtin,
];

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Floor => "floor",
            Scenario::Wasm => "wasm",
            Scenario::Exec => "exec",
            Scenario::Python => "python",
            Scenario::Builtin => "builtin",
        }
    }
}

#[derive(Debug, Default)]
struct Row {
    tput: Vec<(usize, f64)>,
    p50_ms: f64,
    p99_ms: f64,
    rss_kib: Option<u64>,
    startup_ms: Option<f64>,
}

struct Ctx {
    /// `fmesh` or `pulsar`, for the table.
    broker: &'static str,
    url: String,
    /// Unique to this run: Apache Pulsar keeps topics and subscriptions between runs.
    run: String,
    dir: PathBuf,
    bin_dir: PathBuf,
    python: String,
    spec_extra: String,
    receiver_queue: Option<u32>,
    pulsar: Pulsar<TokioExecutor>,
    /// The floor loop's own client (Nagle on with `--nagle`).
    floor_client: Pulsar<TokioExecutor>,
}

enum Processor {
    Floor(CancellationToken, tokio::task::JoinHandle<()>),
    Runner(Child),
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .init();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir()?;
    let broker = fmesh_broker::start(fmesh_broker::BrokerConfig::for_tests(
        scratch.path().join("broker"),
    ))
    .await
    .context("broker")?;
    let bin_dir = std::env::current_exe()?
        .parent()
        .map(Path::to_path_buf)
        .context("exe dir")?;
    let run = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    let wanted = |b: &str| args.brokers.is_empty() || args.brokers.iter().any(|w| w == b);
    let mut brokers = Vec::new();
    if wanted("fmesh") {
        brokers.push(("fmesh", broker.service_url()));
    }
    match &args.pulsar_url {
        Some(url) if wanted("pulsar") => brokers.push(("pulsar", url.clone())),
        Some(_) => {}
        None => eprintln!("no --pulsar-url / FMESH_PULSAR_URL: fmesh-broker only"),
    }
    let mut rows = Vec::new();
    for (name, url) in brokers {
        let ctx = Ctx {
            broker: name,
            pulsar: Pulsar::builder(&url, TokioExecutor)
                .build()
                .await
                .with_context(|| format!("connect to {name} at {url}"))?,
            floor_client: Pulsar::builder(&url, TokioExecutor)
                .with_tcp_nodelay(!args.nagle)
                .build()
                .await?,
            url,
            run: run.clone(),
            dir: scratch.path().to_path_buf(),
            bin_dir: bin_dir.clone(),
            python: args.python.clone(),
            spec_extra: args.spec_extra.clone(),
            receiver_queue: args.receiver_queue,
        };
        write_guests(&ctx)?;
        for s in SCENARIOS {
            if !args.only.is_empty() && !args.only.iter().any(|o| o == s.name()) {
                continue;
            }
            rows.push((name, s, measure(&ctx, s, &args).await?));
        }
    }
    print_table(&rows, &args);
    broker.shutdown();
    Ok(())
}

async fn measure(ctx: &Ctx, s: Scenario, args: &Args) -> anyhow::Result<Row> {
    let mut row = Row::default();
    let who = format!("{:>6} {:>7}", ctx.broker, s.name());
    if s == Scenario::Floor && args.nagle {
        eprintln!("{who}: Nagle on in the floor's client (--nagle)");
    }
    for size in [100usize, 1024] {
        let (tput, startup, rss) = throughput(ctx, s, size, args.messages).await?;
        eprintln!("{who} {size:>5} B: {tput:>9.0} msg/s");
        row.tput.push((size, tput));
        if size == 100 {
            row.startup_ms = startup;
            row.rss_kib = rss;
        }
    }
    let (p50, p99) = latency(ctx, s, args.rate, args.latency_secs).await?;
    eprintln!("{who} latency p50 {p50:.2} ms p99 {p99:.2} ms");
    row.p50_ms = p50;
    row.p99_ms = p99;
    Ok(row)
}

fn write_guests(ctx: &Ctx) -> anyhow::Result<()> {
    std::fs::write(
        ctx.dir.join("identity.wat"),
        r#"(module
  (import "fmesh" "output" (func $output (param i32 i32 i32)))
  (memory (export "memory") 1)
  (func (export "alloc") (param $len i32) (result i32)
    (block $done (loop $grow
      (br_if $done (i32.le_u (i32.add (i32.const 1024) (local.get $len))
                             (i32.mul (memory.size) (i32.const 65536))))
      (drop (memory.grow (i32.const 1))) (br $grow)))
    (i32.const 1024))
  (func (export "process") (param $p i32) (param $l i32) (param $ctx i32) (result i32)
    (call $output (local.get $ctx) (local.get $p) (local.get $l)) (i32.const 0)))"#,
    )?;
    std::fs::write(
        ctx.dir.join("identity.py"),
        "def process(input):\n    return input\n",
    )?;
    Ok(())
}

fn spec(ctx: &Ctx, s: Scenario, name: &str, input: &str, output: &str) -> String {
    let runtime = match s {
        Scenario::Wasm => format!(
            r#""wasm":{{"module":"{}"}}"#,
            ctx.dir.join("identity.wat").display()
        ),
        Scenario::Exec => format!(
            r#""exec":{{"command":["{}"]}}"#,
            ctx.bin_dir.join("fmesh-exec-identity").display()
        ),
        Scenario::Builtin => r#""builtin":{"name":"identity"}"#.to_string(),
        Scenario::Python | Scenario::Floor => format!(
            r#""python":{{"py":"{}"}},"className":"identity.process""#,
            ctx.dir.join("identity.py").display()
        ),
    };
    let extra = match ctx.spec_extra.trim() {
        "" => String::new(),
        e => format!(",{e}"),
    };
    let queue = ctx.receiver_queue.map_or(String::new(), |q| {
        format!(r#","sourceSpecs":{{"{input}":{{"receiverQueueSize":{q}}}}}"#)
    });
    format!(
        r#"{{"kind":"Function","objectName":"{name}","input":{{"topics":["{input}"]{queue}}},
            "output":{{"topic":"{output}"}},"subscriptionPosition":"earliest",{runtime}{extra}}}"#
    )
}

async fn start(
    ctx: &Ctx,
    s: Scenario,
    name: &str,
    input: &str,
    output: &str,
) -> anyhow::Result<Processor> {
    if s == Scenario::Floor {
        let stop = CancellationToken::new();
        let (c, p) = (
            consumer(&ctx.floor_client, input, "floor", SubType::Shared).await?,
            ctx.floor_client.clone(),
        );
        let out = output.to_string();
        let st = stop.clone();
        return Ok(Processor::Floor(
            stop,
            tokio::spawn(async move {
                if let Err(e) = floor(c, p, out, st).await {
                    eprintln!("floor loop: {e}");
                }
            }),
        ));
    }
    let spec_path = ctx.dir.join(format!("{name}.json"));
    std::fs::write(&spec_path, spec(ctx, s, name, input, output))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = tokio::process::Command::new(ctx.bin_dir.join("fmesh-runner"))
        .arg("--spec-file")
        .arg(&spec_path)
        .args(["--pulsar-url", &ctx.url, "--metrics-bind", "127.0.0.1"])
        .args(["--metrics-port", &port.to_string()])
        .env("FMESH_PYTHON", &ctx.python)
        .env("RUST_LOG", "error")
        .kill_on_drop(true)
        .spawn()
        .context("start fmesh-runner (build it with --release next to the bench)")?;
    Ok(Processor::Runner(child))
}

/// Stops the processor; returns the runner's peak RSS in KiB.
async fn stop(p: Processor) -> Option<u64> {
    match p {
        Processor::Floor(stop, task) => {
            stop.cancel();
            let _ = task.await;
            None
        }
        Processor::Runner(mut child) => {
            let pid = child.id()?;
            let rss = peak_rss(pid);
            // The exec/python child, reported on its own.
            let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default();
            for c in children
                .split_whitespace()
                .filter_map(|c| c.parse::<u32>().ok())
            {
                if let Some(k) = peak_rss(c) {
                    eprintln!("    child {c} peak RSS {:.1} MiB", k as f64 / 1024.0);
                }
            }
            // SAFETY: signalling our own child.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
            let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
            rss
        }
    }
}

/// Producers wait for queue room instead of failing with SlowDown.
fn blocking() -> pulsar::producer::ProducerOptions {
    pulsar::producer::ProducerOptions {
        block_queue_if_full: true,
        ..Default::default()
    }
}

fn peak_rss(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
}

async fn consumer(
    p: &Pulsar<TokioExecutor>,
    topic: &str,
    sub: &str,
    kind: SubType,
) -> anyhow::Result<Consumer<Vec<u8>, TokioExecutor>> {
    Ok(p.consumer()
        .with_topic(topic)
        .with_subscription(sub)
        .with_subscription_type(kind)
        .with_options(ConsumerOptions::default().with_initial_position(InitialPosition::Earliest))
        .build()
        .await?)
}

/// (a): consume, produce, ack after the receipt: the runner's atleast_once without a function.
async fn floor(
    mut c: Consumer<Vec<u8>, TokioExecutor>,
    pulsar: Pulsar<TokioExecutor>,
    output: String,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut producer = pulsar
        .producer()
        .with_topic(&output)
        .with_options(blocking())
        .build()
        .await?;
    let mut inflight = VecDeque::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            m = c.next() => {
                let Some(m) = m else { return Ok(()) };
                let m = m?;
                let fut = producer.send_non_blocking(m.payload.data.clone()).await?;
                inflight.push_back((fut, m.topic.clone(), m.message_id.id.clone()));
                // Ack whatever has its receipt, in order.
                while inflight.len() > 500 {
                    let Some((f, t, id)) = inflight.pop_front() else { break };
                    f.await?;
                    c.ack_with_id(&t, id).await?;
                }
            }
            () = tokio::time::sleep(Duration::from_millis(1)), if !inflight.is_empty() => {
                while let Some((f, t, id)) = inflight.pop_front() {
                    f.await?;
                    c.ack_with_id(&t, id).await?;
                }
            }
        }
    }
}

async fn fill(p: &Pulsar<TokioExecutor>, topic: &str, n: usize, size: usize) -> anyhow::Result<()> {
    let mut prod = p
        .producer()
        .with_topic(topic)
        .with_options(blocking())
        .build()
        .await?;
    let body = vec![b'x'; size];
    let mut pending = VecDeque::new();
    for _ in 0..n {
        pending.push_back(prod.send_non_blocking(body.clone()).await?);
        if pending.len() > 1000
            && let Some(f) = pending.pop_front()
        {
            f.await?;
        }
    }
    for f in pending {
        f.await?;
    }
    Ok(())
}

/// Pre-fills the input, starts the processor, and times the output. Returns (msg/s measured
/// from the first output to the last, ms from start to the first output, peak RSS KiB).
async fn throughput(
    ctx: &Ctx,
    s: Scenario,
    size: usize,
    n: usize,
) -> anyhow::Result<(f64, Option<f64>, Option<u64>)> {
    let name = format!("t-{}-{size}-{}", s.name(), ctx.run);
    let (input, output) = (format!("{name}-in"), format!("{name}-out"));
    fill(&ctx.pulsar, &input, n, size).await?;
    let mut out = consumer(&ctx.pulsar, &output, "count", SubType::Exclusive).await?;
    let started = Instant::now();
    let proc_ = start(ctx, s, &name, &input, &output).await?;
    let mut first = None;
    let mut got = 0;
    while got < n {
        let m = tokio::time::timeout(Duration::from_secs(120), out.next())
            .await
            .context("output stalled")?
            .context("output closed")??;
        first.get_or_insert_with(Instant::now);
        out.ack(&m).await?;
        got += 1;
    }
    let first = first.context("no output")?;
    let tput = (n - 1) as f64 / first.elapsed().as_secs_f64().max(1e-9);
    let startup = (s != Scenario::Floor).then(|| (first - started).as_secs_f64() * 1000.0);
    let rss = stop(proc_).await;
    Ok((tput, startup, rss))
}

/// Sends at a fixed rate (payload = send time) and measures send→output latency.
async fn latency(ctx: &Ctx, s: Scenario, rate: u64, secs: u64) -> anyhow::Result<(f64, f64)> {
    let name = format!("l-{}-{}", s.name(), ctx.run);
    let (input, output) = (format!("{name}-in"), format!("{name}-out"));
    let mut out = consumer(&ctx.pulsar, &output, "lat", SubType::Exclusive).await?;
    let proc_ = start(ctx, s, &name, &input, &output).await?;
    let mut prod = ctx
        .pulsar
        .producer()
        .with_topic(&input)
        .with_options(blocking())
        .build()
        .await?;
    let origin = Instant::now();
    let stamp = |origin: Instant| format!("{:020}-{}", origin.elapsed().as_nanos(), "x".repeat(78));
    // Warm up: wait until the processor answers.
    prod.send_non_blocking(stamp(origin).into_bytes())
        .await?
        .await?;
    let m = tokio::time::timeout(Duration::from_secs(60), out.next())
        .await
        .context("no warm-up output")?
        .context("closed")??;
    out.ack(&m).await?;
    let total = (rate * secs) as usize;
    let reader = tokio::spawn(async move {
        let mut lat = Vec::with_capacity(total);
        while lat.len() < total {
            let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(30), out.next()).await
            else {
                break;
            };
            let sent: u128 = std::str::from_utf8(&m.payload.data[..20])
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            lat.push((origin.elapsed().as_nanos() - sent) as f64 / 1e6);
            let _ = out.ack(&m).await;
        }
        lat
    });
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate.max(1)));
    let mut receipts = VecDeque::new();
    for _ in 0..total {
        tick.tick().await;
        receipts.push_back(prod.send_non_blocking(stamp(origin).into_bytes()).await?);
        while receipts.len() > 100 {
            if let Some(r) = receipts.pop_front() {
                r.await?;
            }
        }
    }
    let mut lat = reader.await?;
    stop(proc_).await;
    if lat.len() < total {
        bail!(
            "{}: only {} of {total} latency samples",
            s.name(),
            lat.len()
        );
    }
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| lat[((lat.len() as f64 - 1.0) * p) as usize];
    Ok((pct(0.50), pct(0.99)))
}

fn print_table(rows: &[(&str, Scenario, Row)], args: &Args) {
    println!(
        "\nrunner-bench: {} msgs per throughput run, latency at {} msg/s for {} s (100 B); fmesh = fmesh-broker in-process, pulsar = Apache Pulsar at its URL",
        args.messages, args.rate, args.latency_secs
    );
    println!(
        "{:<7} {:<8} {:>12} {:>7} {:>12} {:>7} {:>9} {:>9} {:>9} {:>10}",
        "broker",
        "",
        "100B msg/s",
        "%floor",
        "1KiB msg/s",
        "%floor",
        "p50 ms",
        "p99 ms",
        "RSS MiB",
        "start ms"
    );
    for (broker, s, r) in rows {
        let floor: Vec<f64> = rows
            .iter()
            .find(|(b, s, _)| b == broker && *s == Scenario::Floor)
            .map(|(_, _, r)| r.tput.iter().map(|t| t.1).collect())
            .unwrap_or_default();
        let pct = |i: usize| {
            floor
                .get(i)
                .map(|f| format!("{:.0}%", 100.0 * r.tput[i].1 / f))
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "{:<7} {:<8} {:>12.0} {:>7} {:>12.0} {:>7} {:>9.2} {:>9.2} {:>9} {:>10}",
            broker,
            s.name(),
            r.tput[0].1,
            pct(0),
            r.tput[1].1,
            pct(1),
            r.p50_ms,
            r.p99_ms,
            r.rss_kib
                .map_or("in-proc".into(), |k| format!("{:.1}", k as f64 / 1024.0)),
            r.startup_ms.map_or("-".into(), |m| format!("{m:.0}")),
        );
    }
    println!(
        "RSS: peak (VmHWM) of the runner process alone; exec/python children are printed above."
    );
}
