//! `fmesh-operator`: discovers what the API server serves, takes the leader Lease (unless told
//! not to), serves health and metrics, and runs the controllers until SIGTERM.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context as _;
use clap::Parser;
use fmesh_operator::http::{HttpState, serve};
use fmesh_operator::leader::Elector;
use fmesh_operator::metrics::Metrics;
use fmesh_operator::{Capabilities, OperatorConfig, controller};

/// The fmesh operator. Every flag can be set by its environment variable instead.
#[derive(Parser)]
#[command(name = "fmesh-operator", version)]
struct Cli {
    #[command(flatten)]
    cfg: OperatorConfig,
    /// Log format: `text` or `json`.
    #[arg(long, env = "FMESH_LOG_FORMAT", default_value = "text")]
    log_format: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    rustls::crypto::ring::default_provider()
        .install_default()
        .map_err(|_| anyhow::anyhow!("a crypto provider was already installed"))?;
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,kube=warn".into());
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if cli.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
    let cfg = cli.cfg;
    let metrics = Arc::new(Metrics::default());
    let config = kube::Config::infer()
        .await
        .context("no Kubernetes configuration (in-cluster or KUBECONFIG)")?;
    let client = fmesh_operator::client::counted(config, &metrics)?;
    let caps = Capabilities::discover(&client)
        .await
        .context("API discovery")?;
    tracing::info!(vpa = caps.vpa, "discovered");
    let state = Arc::new(HttpState {
        metrics: metrics.clone(),
        ready: false.into(),
    });
    let addr = cfg.http_addr;
    let http = tokio::spawn(serve(addr, state.clone()));
    let identity = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| format!("fmesh-operator-{}", std::process::id()));
    let elector = cfg.leader_elect.then(|| {
        let ns = cfg
            .lease_namespace
            .clone()
            .or_else(|| std::env::var("POD_NAMESPACE").ok())
            .unwrap_or_else(|| "default".into());
        Elector::new(client.clone(), &ns, &cfg.lease_name, &identity)
    });
    // Ready means able to work: the API answered discovery. A standby is ready too, or a
    // rolling upgrade (new replica Ready before an old one goes) could never proceed.
    state.ready.store(true, Ordering::Relaxed);
    if let Some(e) = &elector {
        tracing::info!(%identity, "waiting for the leader lease");
        tokio::select! {
            () = e.acquire() => tracing::info!(%identity, "leading"),
            _ = tokio::signal::ctrl_c() => return Ok(()),
            () = sigterm() => return Ok(()),
        }
    }
    let lost = async {
        match &elector {
            Some(e) => e.hold().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = controller::run(client, cfg, caps, metrics, Some(identity)) => {}
        _ = lost => anyhow::bail!("lost the leader lease"),
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
        _ = sigterm() => tracing::info!("terminating"),
        r = http => anyhow::bail!("health server stopped: {r:?}"),
    }
    if let Some(e) = &elector {
        e.release().await;
    }
    Ok(())
}

async fn sigterm() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut s) => {
            s.recv().await;
        }
        Err(_) => std::future::pending().await,
    }
}
