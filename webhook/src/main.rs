//! `fmesh-webhook`: the admission server. Flags or environment (`FMESH_WEBHOOK_*`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use fmesh_certs::HotResolver;
use fmesh_certs::files::CertFiles;
use fmesh_certs::inject::Injector;
use fmesh_certs::rotation::{Policy, SelfManaged};
use fmesh_certs::store::SecretStore;
use fmesh_webhook::cache::ClusterReferences;
use fmesh_webhook::metrics::Metrics;
use fmesh_webhook::references::{NoReferences, References};
use fmesh_webhook::server::{self, App};
use fmesh_webhook::{Admission, Settings};

/// A review is decoded into thousands of small allocations, which glibc's malloc serves slowly
/// (`cargo bench -p fmesh-webhook --bench admission -- cpu` shows the difference).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum CertMode {
    /// CA and serving certificate in a Secret, caBundle injected, rotated (no cert-manager).
    SelfManaged,
    /// Serve mounted files (cert-manager) and reload them when they change.
    Files,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Parser)]
#[command(
    name = "fmesh-webhook",
    about = "fmesh admission webhook (validation, reference checks, defaults)"
)]
struct Args {
    /// HTTPS address for admission (and health/metrics).
    #[arg(long, env = "FMESH_WEBHOOK_LISTEN", default_value = "0.0.0.0:8443")]
    listen: SocketAddr,
    /// Optional plain-HTTP address serving only /healthz, /readyz and /metrics.
    #[arg(long, env = "FMESH_WEBHOOK_PROBE_LISTEN")]
    probe_listen: Option<SocketAddr>,
    #[arg(
        long,
        env = "FMESH_WEBHOOK_CERT_MODE",
        value_enum,
        default_value = "self-managed"
    )]
    cert_mode: CertMode,
    /// Directory with tls.crt and tls.key (files mode).
    #[arg(
        long,
        env = "FMESH_WEBHOOK_CERT_DIR",
        default_value = "/etc/fmesh-webhook/certs"
    )]
    cert_dir: PathBuf,
    /// Secret holding the CA and serving certificate (self-managed mode).
    #[arg(
        long,
        env = "FMESH_WEBHOOK_SECRET_NAME",
        default_value = "fmesh-webhook-certs"
    )]
    secret_name: String,
    /// Namespace of that Secret (the webhook's own).
    #[arg(long, env = "POD_NAMESPACE", default_value = "fmesh-system")]
    namespace: String,
    /// The webhook's Service name; the serving certificate covers its DNS names.
    #[arg(long, env = "FMESH_WEBHOOK_SERVICE", default_value = "fmesh-webhook")]
    service: String,
    /// Additional names or IPs for the serving certificate.
    #[arg(
        long = "extra-san",
        env = "FMESH_WEBHOOK_EXTRA_SANS",
        value_delimiter = ','
    )]
    extra_sans: Vec<String>,
    /// ValidatingWebhookConfigurations to inject the CA bundle into.
    #[arg(
        long,
        env = "FMESH_WEBHOOK_VALIDATING_CONFIGS",
        value_delimiter = ',',
        default_value = "fmesh-validating"
    )]
    validating_configs: Vec<String>,
    /// MutatingWebhookConfigurations to inject the CA bundle into.
    #[arg(
        long,
        env = "FMESH_WEBHOOK_MUTATING_CONFIGS",
        value_delimiter = ',',
        default_value = "fmesh-mutating"
    )]
    mutating_configs: Vec<String>,
    /// The configurations' timeoutSeconds; every answer is given within 90% of it.
    #[arg(long, env = "FMESH_WEBHOOK_TIMEOUT_SECONDS", default_value_t = 10)]
    timeout_seconds: u64,
    /// Check Secret/ConfigMap references against the cluster.
    #[arg(long, env = "FMESH_WEBHOOK_REFERENCE_CHECKS", default_value_t = true, action = clap::ArgAction::Set)]
    reference_checks: bool,
    /// How often certificates are re-read (rotations by other replicas) and renewal is checked.
    #[arg(long, env = "FMESH_WEBHOOK_CERT_CHECK_SECONDS", default_value_t = 60)]
    cert_check_seconds: u64,
    /// Lifetime of serving certificates made in self-managed mode.
    #[arg(
        long,
        env = "FMESH_WEBHOOK_SERVING_VALIDITY_HOURS",
        default_value_t = 8760
    )]
    serving_validity_hours: u64,
    /// After SIGTERM, how long to keep serving while reporting not ready, before draining:
    /// the time a Service needs to stop sending new connections here (endpoint removal
    /// reaching every node's proxy). Without it a rolling upgrade refuses admissions.
    #[arg(
        long,
        env = "FMESH_WEBHOOK_SHUTDOWN_DELAY_SECONDS",
        default_value_t = 0
    )]
    shutdown_delay_seconds: u64,
    #[arg(
        long,
        env = "FMESH_WEBHOOK_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // Before anything that builds a rustls config (kube's client does).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    init_tracing(args.log_format);
    let needs_client = matches!(args.cert_mode, CertMode::SelfManaged) || args.reference_checks;
    let client = if needs_client {
        Some(
            kube::Client::try_default()
                .await
                .context("connecting to the Kubernetes API")?,
        )
    } else {
        None
    };
    let resolver = HotResolver::new();
    start_certificates(&args, client.clone(), resolver.clone()).await?;
    let metrics = Arc::new(Metrics::new());
    match (args.reference_checks, client) {
        (true, Some(client)) => {
            let refs = ClusterReferences::start(client, metrics.clone());
            run(args, refs, metrics, resolver).await
        }
        _ => run(args, NoReferences, metrics, resolver).await,
    }
}

async fn start_certificates(
    args: &Args,
    client: Option<kube::Client>,
    resolver: Arc<HotResolver>,
) -> anyhow::Result<()> {
    match (args.cert_mode, client) {
        (CertMode::Files, _) => {
            let files = CertFiles::in_dir(&args.cert_dir);
            files.load(&resolver).with_context(|| {
                format!("loading the certificate from {}", args.cert_dir.display())
            })?;
            tokio::spawn(files.watch(resolver, Duration::from_secs(10)));
        }
        (CertMode::SelfManaged, Some(client)) => {
            let svc = &args.service;
            let ns = &args.namespace;
            let mut sans = vec![
                svc.clone(),
                format!("{svc}.{ns}"),
                format!("{svc}.{ns}.svc"),
                format!("{svc}.{ns}.svc.cluster.local"),
            ];
            sans.extend(args.extra_sans.iter().cloned());
            let mut policy = Policy::new(sans);
            policy.serving_validity = Duration::from_secs(args.serving_validity_hours * 3600);
            let manager = SelfManaged::new(
                SecretStore::new(client.clone(), ns, &args.secret_name),
                Some(Injector::new(
                    client,
                    args.validating_configs.clone(),
                    args.mutating_configs.clone(),
                )),
                resolver,
                policy,
            );
            manager
                .reconcile()
                .await
                .context("creating or loading the webhook certificates")?;
            tokio::spawn(manager.run(Duration::from_secs(args.cert_check_seconds)));
        }
        (CertMode::SelfManaged, None) => {
            anyhow::bail!("self-managed certificates need the Kubernetes API")
        }
    }
    Ok(())
}

async fn run<R: References + 'static>(
    args: Args,
    refs: R,
    metrics: Arc<Metrics>,
    resolver: Arc<HotResolver>,
) -> anyhow::Result<()> {
    let deadline = Duration::from_secs(args.timeout_seconds.max(1));
    let shutdown_delay = Duration::from_secs(args.shutdown_delay_seconds);
    fmesh_webhook::admit::warm_up();
    let stopping = Arc::new(AtomicBool::new(false));
    let (ready_resolver, ready_stopping) = (resolver.clone(), stopping.clone());
    let app = Arc::new(App {
        admission: Arc::new(Admission::new(
            refs,
            Settings {
                reference_checks: args.reference_checks,
                lookup_budget: deadline / 3,
            },
        )),
        metrics,
        ready: Box::new(move || {
            ready_resolver.is_loaded() && !ready_stopping.load(Ordering::Acquire)
        }),
        deadline,
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    if let Some(addr) = args.probe_listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        tokio::spawn(server::serve_plain(
            listener,
            app.clone(),
            stopped(stop_rx.clone()),
        ));
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    tracing::info!(listen = %args.listen, probe = ?args.probe_listen, reference_checks = args.reference_checks, "serving");
    let serving = tokio::spawn(server::serve_tls(
        listener,
        resolver.server_config(),
        app,
        stopped(stop_rx),
    ));
    shutdown_signal().await;
    stopping.store(true, Ordering::Release);
    tracing::info!(
        delay_seconds = shutdown_delay.as_secs(),
        "shutting down: not ready, serving until the delay ends, then draining"
    );
    tokio::time::sleep(shutdown_delay).await;
    let _ = stop_tx.send(true);
    serving.await.context("server task")?;
    Ok(())
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
