//! `fmesh-runner`: one instance of a Function, Source or Sink (docs/runner-contract.md).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use fmesh_runner::runtime::wasm;
use fmesh_runner::{Connection, InstanceConfig, InstanceIdentity, RunnerError, spec};

/// Runs one instance of a Function, Source or Sink on Pulsar.
#[derive(Debug, Parser)]
#[command(name = "fmesh-runner", version)]
struct Args {
    /// The spec JSON file (the CR spec after defaults, plus `kind` and `objectName`).
    #[arg(long)]
    spec_file: Option<PathBuf>,
    /// The spec JSON itself (when no --spec-file).
    #[arg(long = "spec", env = "FMESH_SPEC", hide_env_values = true)]
    spec_json: Option<String>,
    /// Pulsar service URL.
    #[arg(long, env = "FMESH_PULSAR_URL")]
    pulsar_url: String,
    /// Pulsar admin URL (accepted for the contract; unused so far).
    #[arg(long, env = "FMESH_PULSAR_WEB_URL")]
    pulsar_web_url: Option<String>,
    /// This instance's index; default: the ordinal suffix of POD_NAME.
    #[arg(long, env = "FMESH_INSTANCE_ID")]
    instance_id: Option<u32>,
    /// Number of instances.
    #[arg(long, env = "FMESH_INSTANCE_COUNT", default_value_t = 1)]
    instance_count: u32,
    /// Port for `GET /` (liveness) and `GET /metrics`.
    #[arg(long, env = "FMESH_METRICS_PORT", default_value_t = 9094)]
    metrics_port: u16,
    /// Address the metrics port binds.
    #[arg(long, env = "FMESH_METRICS_BIND", default_value = "0.0.0.0")]
    metrics_bind: std::net::IpAddr,
    /// File holding a Pulsar auth token.
    #[arg(long, env = "FMESH_AUTH_TOKEN_FILE")]
    auth_token_file: Option<PathBuf>,
    /// CA certificate (PEM) for pulsar+ssl.
    #[arg(long, env = "FMESH_TLS_TRUST_CERT")]
    tls_trust_cert: Option<PathBuf>,
    /// How long SIGTERM may wait for in-flight sends (keep under terminationGracePeriod).
    #[arg(long, env = "FMESH_DRAIN_TIMEOUT_SECS", default_value_t = 20)]
    drain_timeout_secs: u64,
    /// Log format: text or json.
    #[arg(long, env = "FMESH_LOG_FORMAT", default_value = "text")]
    log_format: String,
}

fn main() -> ExitCode {
    // The wasm runtime's compiler child (see `wasm::compile_out_of_process`): argv is
    // `--compile-wasm IN OUT [--fuel]`, written by the runner itself.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "--compile-wasm") {
        return compile_wasm(&argv[2..]);
    }
    let args = Args::parse();
    init_tracing(&args.log_format);
    // One crypto provider, chosen before any TLS use (see shared notes).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fmesh-runner: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e
                .downcast_ref::<RunnerError>()
                .map_or(1, RunnerError::exit_code);
            tracing::error!(error = %format!("{e:#}"), "fmesh-runner failed");
            eprintln!("fmesh-runner: {e:#}");
            ExitCode::from(code as u8)
        }
    }
}

fn compile_wasm(args: &[std::ffi::OsString]) -> ExitCode {
    let (Some(input), Some(output)) = (args.first(), args.get(1)) else {
        eprintln!("usage: fmesh-runner --compile-wasm IN OUT [--fuel]");
        return ExitCode::from(2);
    };
    let fuel = args.get(2).is_some_and(|a| a == "--fuel");
    match wasm::compile_file(input.as_ref(), output.as_ref(), fuel) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    // Cranelift runs in a short-lived child, never in this long-lived instance.
    if let Ok(exe) = std::env::current_exe() {
        wasm::compile_out_of_process(exe);
    }
    let json = match (&args.spec_file, &args.spec_json) {
        (Some(path), _) => std::fs::read_to_string(path)
            .map_err(|e| RunnerError::spec("--spec-file", format!("{}: {e}", path.display())))?,
        (None, Some(json)) => json.clone(),
        (None, None) => Err(RunnerError::spec(
            "--spec-file",
            "give --spec-file or FMESH_SPEC",
        ))?,
    };
    let plan = spec::parse(&json, &|k| std::env::var(k).ok())?;
    let instance_id = args
        .instance_id
        .or_else(|| {
            std::env::var("POD_NAME")
                .ok()
                .and_then(|p| p.rsplit('-').next().and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0);
    let token = match &args.auth_token_file {
        Some(p) => Some(
            std::fs::read_to_string(p)
                .with_context(|| format!("reading {}", p.display()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let config = InstanceConfig {
        plan,
        connection: Connection {
            url: args.pulsar_url.clone(),
            token,
            tls_trust_cert: args.tls_trust_cert.clone(),
        },
        identity: InstanceIdentity {
            instance_id,
            instance_count: args.instance_count,
        },
        metrics_addr: Some(SocketAddr::new(args.metrics_bind, args.metrics_port)),
        drain_timeout: Duration::from_secs(args.drain_timeout_secs),
    };
    tracing::info!(
        function = %config.plan.fqfn(),
        instance_id,
        instance_count = args.instance_count,
        pulsar = %args.pulsar_url,
        "starting"
    );
    let running = fmesh_runner::start_instance(config).await?;
    if let Some(addr) = running.metrics_addr {
        tracing::info!(%addr, "metrics and health served");
    }
    let stop = running.stop.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("signal received; draining");
        stop.cancel();
    });
    running.wait().await?;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            // Without signal handlers the process can only be killed, never drained.
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,pulsar=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}
