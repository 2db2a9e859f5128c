//! `fmesh-broker`: run the embedded Pulsar-protocol broker.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use fmesh_broker::config::{AuthConfig, BrokerConfig, FsyncPolicy, TlsConfig};

/// Embedded Apache Pulsar-protocol broker for local runs, CI, demos and the edge.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Where topics, cursors, schemas and packages are stored.
    #[arg(
        long,
        env = "FMESH_BROKER_DATA_DIR",
        default_value = "./fmesh-broker-data"
    )]
    data_dir: PathBuf,
    /// Binary protocol address (loopback unless you ask otherwise).
    #[arg(long, env = "FMESH_BROKER_LISTEN", default_value = "127.0.0.1:6650")]
    listen: SocketAddr,
    /// Admin REST and /metrics address.
    #[arg(
        long,
        env = "FMESH_BROKER_ADMIN_LISTEN",
        default_value = "127.0.0.1:8080"
    )]
    admin_listen: SocketAddr,
    /// URL handed out by lookups (default: pulsar://<listen>).
    #[arg(long, env = "FMESH_BROKER_ADVERTISED_URL")]
    advertised_url: Option<String>,
    /// Named listeners `name:url` (comma separated), as Pulsar's `advertisedListeners`: a
    /// client setting `listenerName` gets that URL in lookups.
    #[arg(
        long,
        env = "FMESH_BROKER_ADVERTISED_LISTENERS",
        value_delimiter = ',',
        value_parser = parse_listener
    )]
    advertised_listeners: Vec<(String, String)>,
    /// fsync policy: `every` entry or `grouped` (group commit).
    #[arg(long, env = "FMESH_BROKER_FSYNC", default_value = "grouped")]
    fsync: FsyncPolicy,
    /// Create topics on first use.
    #[arg(long, env = "FMESH_BROKER_AUTO_CREATE_TOPICS", default_value_t = true, action = clap::ArgAction::Set)]
    auto_create_topics: bool,
    /// Drop sends whose producer name and sequence id were already stored.
    #[arg(long, env = "FMESH_BROKER_DEDUPLICATION", default_value_t = true, action = clap::ArgAction::Set)]
    deduplication: bool,
    /// Largest message accepted, in bytes.
    #[arg(long, env = "FMESH_BROKER_MAX_MESSAGE_SIZE", default_value_t = 5 * 1024 * 1024)]
    max_message_size: usize,
    /// Segment file size before rolling, in bytes.
    #[arg(long, env = "FMESH_BROKER_SEGMENT_BYTES", default_value_t = 64 * 1024 * 1024)]
    segment_bytes: u64,
    /// Keep fully acknowledged segments at least this many seconds.
    #[arg(long, env = "FMESH_BROKER_RETENTION_SECS", default_value_t = 3600)]
    retention_secs: u64,
    /// Close a topic (and its files) unused for this long; it reopens on next use. 0: never.
    #[arg(long, env = "FMESH_BROKER_TOPIC_IDLE_CLOSE_SECS", default_value_t = 60)]
    topic_idle_close_secs: u64,
    /// Accepted static tokens, `token=role` (comma separated); enables token auth.
    #[arg(long, env = "FMESH_BROKER_AUTH_TOKENS", value_delimiter = ',')]
    auth_tokens: Vec<String>,
    /// HS256 secret file for JWT tokens; enables token auth.
    #[arg(long, env = "FMESH_BROKER_AUTH_JWT_SECRET_FILE")]
    auth_jwt_secret_file: Option<PathBuf>,
    /// PEM certificate chain: serve TLS on --listen.
    #[arg(long, env = "FMESH_BROKER_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "FMESH_BROKER_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Largest frame before a connection authenticated (Connect), in bytes.
    #[arg(long, env = "FMESH_BROKER_MAX_FRAME_SIZE_BEFORE_CONNECT", default_value_t = 64 * 1024)]
    max_frame_size_before_connect: usize,
    /// Open client connections at most.
    #[arg(long, env = "FMESH_BROKER_MAX_CONNECTIONS", default_value_t = 4096)]
    max_connections: usize,
    /// Close a connection that sent no frame for this many seconds.
    #[arg(long, env = "FMESH_BROKER_IDLE_TIMEOUT_SECS", default_value_t = 180)]
    idle_timeout_secs: u64,
    /// A started frame (or TLS handshake) must complete within this many seconds.
    #[arg(long, env = "FMESH_BROKER_FRAME_TIMEOUT_SECS", default_value_t = 30)]
    frame_timeout_secs: u64,
    /// Memory of unread replies per connection before its requests stop being read.
    #[arg(long, env = "FMESH_BROKER_MAX_QUEUED_REPLY_BYTES", default_value_t = 4 * 1024 * 1024)]
    max_queued_reply_bytes: usize,
    /// Largest admin request body (other than package uploads), in bytes.
    #[arg(long, env = "FMESH_BROKER_ADMIN_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    admin_max_body_bytes: usize,
    /// Largest package upload, in bytes.
    #[arg(long, env = "FMESH_BROKER_ADMIN_MAX_UPLOAD_BYTES", default_value_t = 512 * 1024 * 1024)]
    admin_max_upload_bytes: usize,
    /// Admin requests must send their headers within this many seconds.
    #[arg(
        long,
        env = "FMESH_BROKER_ADMIN_HEADER_TIMEOUT_SECS",
        default_value_t = 10
    )]
    admin_header_timeout_secs: u64,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "FMESH_BROKER_LOG_JSON")]
    log_json: bool,
}

fn parse_listener(text: &str) -> Result<(String, String), String> {
    match text.split_once(':') {
        Some((name, url)) if !name.is_empty() && url.starts_with("pulsar") => {
            Ok((name.to_owned(), url.to_owned()))
        }
        _ => Err(format!(
            "`{text}`: expected NAME:URL, e.g. external:pulsar://10.0.0.1:30650"
        )),
    }
}

fn auth(args: &Args) -> anyhow::Result<AuthConfig> {
    if args.auth_tokens.is_empty() && args.auth_jwt_secret_file.is_none() {
        return Ok(AuthConfig::None);
    }
    let mut static_tokens = HashMap::new();
    for t in &args.auth_tokens {
        let (token, role) = t.split_once('=').unwrap_or((t.as_str(), "client"));
        static_tokens.insert(token.to_string(), role.to_string());
    }
    let hs256_secret = match &args.auth_jwt_secret_file {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
        None => None,
    };
    Ok(AuthConfig::Token {
        static_tokens,
        hs256_secret,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // One crypto provider for the whole process, before anything builds a TLS config.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if args.log_json {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let config = BrokerConfig {
        data_dir: args.data_dir.clone(),
        listen: args.listen,
        admin_listen: Some(args.admin_listen),
        advertised_url: args.advertised_url.clone(),
        advertised_listeners: args.advertised_listeners.clone(),
        fsync: args.fsync,
        auto_create_topics: args.auto_create_topics,
        deduplication: args.deduplication,
        max_message_size: args.max_message_size,
        segment_bytes: args.segment_bytes,
        retention: Duration::from_secs(args.retention_secs),
        topic_idle_close: Duration::from_secs(args.topic_idle_close_secs),
        max_frame_size_before_connect: args.max_frame_size_before_connect,
        max_connections: args.max_connections,
        idle_timeout: Duration::from_secs(args.idle_timeout_secs),
        frame_timeout: Duration::from_secs(args.frame_timeout_secs),
        max_queued_reply_bytes: args.max_queued_reply_bytes,
        admin_max_body_bytes: args.admin_max_body_bytes,
        admin_max_upload_bytes: args.admin_max_upload_bytes,
        admin_header_timeout: Duration::from_secs(args.admin_header_timeout_secs),
        auth: auth(&args)?,
        tls: match (&args.tls_cert, &args.tls_key) {
            (Some(c), Some(k)) => Some(TlsConfig {
                cert_pem: c.clone(),
                key_pem: k.clone(),
            }),
            _ => None,
        },
        ..BrokerConfig::default()
    };
    let running = fmesh_broker::start(config)
        .await
        .context("starting the broker")?;
    println!(
        "fmesh-broker ready: {} admin {}",
        running.service_url(),
        running.admin_url().unwrap_or_default()
    );
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    tracing::info!("shutting down");
    running.shutdown();
    Ok(())
}
