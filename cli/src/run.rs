//! `fmesh run`: the Functions, Sources, Sinks and FunctionMeshes of some files, run in this
//! process with the runner library against an embedded broker (or `--pulsar-url`), with a
//! live line per member, until Ctrl-C, `--duration` or `--messages`.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use fmesh_crds::diagnostic::Severity;
use fmesh_runner::{Connection, InstanceConfig, InstanceIdentity, Kind, Metrics, RunnerError};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::input::{self, InputPath};
use crate::run_members::{self, Member};
use crate::run_status::{self, Counts};
use crate::validate::{self, Finding};
use crate::{document, manifest};

/// How long a consumer may take to subscribe before the run gives up.
const SUBSCRIBE_TIMEOUT: Duration = Duration::from_secs(30);

/// `fmesh run`'s options.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Manifest files or directories (Function, Source, Sink, FunctionMesh).
    #[arg(required = true, value_name = "FILE|DIR|-")]
    pub paths: Vec<PathBuf>,
    /// Use this Pulsar instead of starting an embedded broker.
    #[arg(long, value_name = "URL")]
    pub pulsar_url: Option<String>,
    /// The embedded broker's data directory (kept); default: a temporary one (removed).
    #[arg(long, value_name = "DIR", conflicts_with = "pulsar_url")]
    pub data_dir: Option<PathBuf>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<u64>,
    /// Stop once every terminal member (sinks, and members whose output nothing here reads)
    /// has processed this many messages.
    #[arg(long, value_name = "N")]
    pub messages: Option<u64>,
    /// Milliseconds between live lines.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    pub status_interval_ms: u64,
    /// How long stopping may wait for each member's in-flight messages.
    #[arg(long, default_value_t = 20, value_name = "SECS")]
    pub drain_timeout_secs: u64,
}

/// SIGINT and SIGTERM, listened to from the start so none is missed between two waits.
struct Signals {
    interrupt: Signal,
    terminate: Signal,
}

/// One started instance: its counters, its stop handle, and its task.
struct Instance {
    metrics: Metrics,
    stop: CancellationToken,
    done: JoinHandle<Result<(), RunnerError>>,
}

/// Validates, plans, runs; the exit status.
pub fn run(args: &RunArgs) -> anyhow::Result<u8> {
    let (files, expand_errors) = input::expand(&args.paths);
    let outcome = validate::check_inputs(&files, expand_errors);
    validate::print(&outcome, false).context("writing findings")?;
    let code = outcome.exit_code(false);
    if code != 0 {
        eprintln!("{}", outcome.summary());
        eprintln!(
            "fmesh: error: not running: fix the errors above (`fmesh validate` shows the same)"
        );
        return Ok(code);
    }
    let (members, unrunnable) = load_members(&files)?;
    if !unrunnable.is_empty() {
        for f in &unrunnable {
            println!("{}", f.human());
        }
        eprintln!(
            "fmesh: error: not running: {} member(s) need a runtime fmesh run does not have",
            unrunnable.len()
        );
        return Ok(1);
    }
    if members.is_empty() {
        eprintln!("fmesh: error: no Function, Source, Sink or FunctionMesh to run");
        return Ok(1);
    }
    // One crypto provider before any TLS use (see the shared crate notes).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(execute(members, args))
}

/// Every member of every valid object, and a finding for each one the runner cannot run.
fn load_members(files: &[InputPath]) -> anyhow::Result<(Vec<Member>, Vec<Finding>)> {
    let env = |k: &str| std::env::var(k).ok();
    let (mut members, mut unrunnable) = (Vec::new(), Vec::new());
    for file in files {
        let source = input::read(file)?;
        let dir = match file {
            InputPath::File(p) => p.parent().map(Path::to_path_buf).unwrap_or_default(),
            InputPath::Stdin => std::env::current_dir().unwrap_or_default(),
        };
        let docs = document::parse_documents(&source.text).with_context(|| source.name.clone())?;
        for obj in docs.into_iter().flat_map(manifest::classify) {
            let manifest::Manifest::Fmesh(obj) = obj else {
                continue;
            };
            let Some(res) = obj.resource() else { continue };
            let mut res = res.clone();
            res.apply_defaults();
            let (ms, bad) = run_members::members(std::slice::from_ref(&res), &dir, &env);
            members.extend(ms);
            members.sort_by_key(|m| run_members::flow_rank(m.plan.kind));
            unrunnable.extend(bad.into_iter().map(|u| Finding {
                file: source.name.clone(),
                line: obj.doc.line_of_path(&u.path),
                kind: u.kind,
                name: u.name,
                severity: Severity::Error,
                path: u.path,
                message: u.reason,
                hint: Some("fmesh run cannot run this member locally; run it on a cluster".into()),
            }));
        }
    }
    Ok((members, unrunnable))
}

async fn execute(members: Vec<Member>, args: &RunArgs) -> anyhow::Result<u8> {
    let mut scratch = None;
    let broker = match &args.pulsar_url {
        Some(_) => None,
        None => {
            let dir = match &args.data_dir {
                Some(d) => d.clone(),
                None => scratch.insert(tempfile::tempdir()?).path().to_path_buf(),
            };
            let config = fmesh_broker::BrokerConfig {
                admin_listen: None,
                ..fmesh_broker::BrokerConfig::for_tests(&dir)
            };
            let broker = fmesh_broker::start(config)
                .await
                .context("starting the embedded broker")?;
            eprintln!(
                "fmesh run: embedded broker at {} (data in {})",
                broker.service_url(),
                dir.display()
            );
            Some(broker)
        }
    };
    let url = match (&args.pulsar_url, &broker) {
        (Some(u), _) => u.clone(),
        (None, Some(b)) => b.service_url(),
        (None, None) => unreachable!("a broker was started when no URL was given"),
    };
    let conn = Connection {
        url,
        ..Connection::default()
    };
    let mut signals = Signals {
        interrupt: signal(SignalKind::interrupt())?,
        terminate: signal(SignalKind::terminate())?,
    };
    let drain = Duration::from_secs(args.drain_timeout_secs);
    let mut instances: Vec<Vec<Instance>> = members.iter().map(|_| Vec::new()).collect();
    let started = start_all(&members, &conn, drain, &mut instances).await;
    let code = match started {
        Ok(()) => watch(&members, &instances, args, &mut signals).await,
        Err(e) => {
            eprintln!("fmesh: error: {e:#}");
            1
        }
    };
    let code = match stop_all(&members, instances, drain, &mut signals).await {
        Some(stopped) => {
            let counts: Vec<Counts> = stopped.iter().map(|s| s.0).collect();
            print_lines(&members, "final", &counts, None, false);
            if stopped.iter().any(|s| s.1) {
                code.max(1)
            } else {
                code
            }
        }
        None => 130,
    };
    if let Some(b) = broker {
        b.shutdown();
    }
    drop(scratch);
    Ok(code)
}

/// Starts every member's replicas, consumers first, waiting for each consumer to subscribe.
async fn start_all(
    members: &[Member],
    conn: &Connection,
    drain: Duration,
    instances: &mut [Vec<Instance>],
) -> anyhow::Result<()> {
    for i in run_members::start_order(members) {
        let m = &members[i];
        for r in 0..m.replicas {
            let running = fmesh_runner::start_instance(InstanceConfig {
                plan: m.plan.clone(),
                connection: conn.clone(),
                identity: InstanceIdentity {
                    instance_id: r,
                    instance_count: m.replicas,
                },
                metrics_addr: None,
                drain_timeout: drain,
            })
            .await
            .with_context(|| format!("{}: instance {r} did not start", m.label))?;
            let (metrics, stop) = (running.metrics.clone(), running.stop.clone());
            let done = tokio::spawn(running.wait());
            instances[i].push(Instance {
                metrics,
                stop,
                done,
            });
        }
        if m.plan.kind != Kind::Source {
            wait_subscribed(m, &instances[i]).await?;
        }
    }
    Ok(())
}

/// A source's first messages must find the subscriptions (`latest` by default) in place.
async fn wait_subscribed(m: &Member, instances: &[Instance]) -> anyhow::Result<()> {
    let deadline = Instant::now() + SUBSCRIBE_TIMEOUT;
    loop {
        if instances.iter().all(|x| x.metrics.subscribed.get() == 1) {
            return Ok(());
        }
        if let Some(x) = instances.iter().find(|x| x.done.is_finished()) {
            let _ = x;
            anyhow::bail!(
                "{}: an instance stopped before it subscribed (see the log above)",
                m.label
            );
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "{}: not subscribed to {:?} after {} s; is Pulsar reachable?",
                m.label,
                m.plan.inputs,
                SUBSCRIBE_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Prints live lines until a stop condition; 0 for a requested stop, 1 when an instance died.
async fn watch(
    members: &[Member],
    instances: &[Vec<Instance>],
    args: &RunArgs,
    signals: &mut Signals,
) -> u8 {
    let started = Instant::now();
    let deadline = args.duration.map(|s| started + Duration::from_secs(s));
    let terminal = run_members::terminal(members);
    let mut tick = tokio::time::interval(Duration::from_millis(args.status_interval_ms.max(50)));
    let mut before: Vec<Counts> = vec![Counts::default(); members.len()];
    let mut last = Instant::now();
    let mut drawn = 0;
    let tty = std::io::stdout().is_terminal();
    loop {
        let until_deadline = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = signals.interrupt.recv() => { eprintln!("fmesh run: interrupted; draining"); return 0 }
            _ = signals.terminate.recv() => { eprintln!("fmesh run: terminated; draining"); return 0 }
            () = until_deadline => { eprintln!("fmesh run: duration reached; draining"); return 0 }
            _ = tick.tick() => {}
        }
        let now: Vec<Counts> = instances
            .iter()
            .map(|x| Counts::of(x.iter().map(|i| &i.metrics)))
            .collect();
        let secs = last.elapsed().as_secs_f64();
        last = Instant::now();
        let stamp = format!("{}s", started.elapsed().as_secs());
        let rates: Vec<f64> = before
            .iter()
            .zip(&now)
            .map(|(b, n)| run_status::rate(*b, *n, secs))
            .collect();
        // On a terminal, redraw the block in place; in a pipe, append.
        if drawn > 0 && tty {
            print!("\x1b[{drawn}F");
        }
        drawn = print_lines(members, &stamp, &now, Some(&rates), tty);
        before = now;
        if let Some(n) = args.messages
            && terminal.iter().all(|&i| before[i].processed >= n)
        {
            eprintln!("fmesh run: {n} messages reached every terminal member; draining");
            return 0;
        }
        if let Some((i, _)) = instances
            .iter()
            .enumerate()
            .find(|(_, xs)| xs.iter().any(|x| x.done.is_finished()))
        {
            eprintln!(
                "fmesh: error: {}: an instance stopped on its own; stopping the run",
                members[i].label
            );
            return 1;
        }
    }
}

/// One line per member; the number of lines printed.
fn print_lines(
    members: &[Member],
    stamp: &str,
    counts: &[Counts],
    rates: Option<&[f64]>,
    tty: bool,
) -> usize {
    let width = members.iter().map(|m| m.label.len()).max().unwrap_or(0);
    let mut out = std::io::stdout().lock();
    for (i, m) in members.iter().enumerate() {
        let rate = rates.map_or(0.0, |r| r[i]);
        let text = run_status::line(
            stamp,
            &m.label,
            width,
            m.plan.kind,
            m.replicas,
            counts[i],
            rate,
        );
        // On a terminal, clear what a longer previous line left.
        let _ = writeln!(out, "{text}{}", if tty { "\x1b[K" } else { "" });
    }
    let _ = out.flush();
    members.len()
}

/// Stops sources, then functions, then sinks, each draining in-flight messages. Per member: its
/// final counts and whether an instance failed. None when a second Ctrl-C cut the drain short.
async fn stop_all(
    members: &[Member],
    mut instances: Vec<Vec<Instance>>,
    drain: Duration,
    signals: &mut Signals,
) -> Option<Vec<(Counts, bool)>> {
    let mut result = vec![(Counts::default(), false); members.len()];
    let mut order = run_members::start_order(members);
    order.reverse();
    for i in order {
        let group = std::mem::take(&mut instances[i]);
        for x in &group {
            x.stop.cancel();
        }
        let metrics: Vec<Metrics> = group.iter().map(|x| x.metrics.clone()).collect();
        let mut failed = false;
        for x in group {
            let waited = tokio::select! {
                r = tokio::time::timeout(drain + Duration::from_secs(5), x.done) => r,
                _ = signals.interrupt.recv() => {
                    eprintln!("fmesh run: interrupted again; exiting without draining");
                    return None;
                }
            };
            match waited {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => {
                    eprintln!("fmesh: error: {}: {e}", members[i].label);
                    failed = true;
                }
                Ok(Err(e)) => {
                    eprintln!(
                        "fmesh: error: {}: instance task failed: {e}",
                        members[i].label
                    );
                    failed = true;
                }
                Err(_) => {
                    eprintln!(
                        "fmesh: error: {}: did not stop within the drain timeout",
                        members[i].label
                    );
                    failed = true;
                }
            }
        }
        result[i] = (Counts::of(&metrics), failed);
    }
    Some(result)
}
