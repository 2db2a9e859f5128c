//! Broker settings.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// When appended data is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fsync after every entry, before the next one is written.
    EveryEntry,
    /// One fsync for whatever was queued while the previous one ran (group commit).
    Grouped,
}

impl std::str::FromStr for FsyncPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "every" | "every-entry" | "entry" => Ok(FsyncPolicy::EveryEntry),
            "grouped" | "group" => Ok(FsyncPolicy::Grouped),
            other => Err(format!("unknown fsync policy {other:?} (every|grouped)")),
        }
    }
}

/// How clients must authenticate.
#[derive(Debug, Clone, Default)]
pub enum AuthConfig {
    /// Anyone may connect.
    #[default]
    None,
    /// `token` auth: a static token list (token → role) and/or an HS256 secret.
    Token {
        /// Accepted static tokens and the role each maps to.
        static_tokens: HashMap<String, String>,
        /// HS256 key for JWTs (the `sub` claim is the role).
        hs256_secret: Option<Vec<u8>>,
    },
}

/// TLS material for the binary protocol listener.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// PEM certificate chain.
    pub cert_pem: PathBuf,
    /// PEM private key.
    pub key_pem: PathBuf,
}

/// All broker settings (the binary fills this from flags and env).
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Where topics, cursors and packages live.
    pub data_dir: PathBuf,
    /// Binary protocol listener.
    pub listen: SocketAddr,
    /// Admin/metrics HTTP listener (None: no admin server).
    pub admin_listen: Option<SocketAddr>,
    /// URL clients are redirected to by lookups (defaults to `pulsar://<listen>`).
    pub advertised_url: Option<String>,
    /// Named listeners, as Pulsar's `advertisedListeners`: a lookup that names one (the
    /// client's `listenerName`) is answered with its URL instead of `advertised_url`.
    pub advertised_listeners: Vec<(String, String)>,
    /// When entries and acknowledgements become durable.
    pub fsync: FsyncPolicy,
    /// Create topics on first use.
    pub auto_create_topics: bool,
    /// Reject sends whose (producer name, sequence id) was already stored.
    pub deduplication: bool,
    /// Largest message payload accepted (reported to clients in Connected).
    pub max_message_size: usize,
    /// Segment files roll at this size.
    pub segment_bytes: u64,
    /// Fully acknowledged segments are kept at least this long.
    pub retention: Duration,
    /// A topic with no producer, consumer or request for this long is closed (its files too)
    /// and reopened from disk on next use; zero keeps topics open.
    pub topic_idle_close: Duration,
    /// Bytes of not-yet-durable publishes a connection may have in flight.
    pub max_pending_bytes_per_connection: usize,
    /// Same bound across all connections.
    pub max_pending_bytes_global: usize,
    /// Largest frame accepted before a connection's Connect succeeded
    /// (authentication), far below the data limit.
    pub max_frame_size_before_connect: usize,
    /// Open client connections at most; more are refused with an Error naming this setting.
    pub max_connections: usize,
    /// A connection that sends no frame for this long is closed (clients ping every 30 s).
    pub idle_timeout: Duration,
    /// A frame whose first bytes arrived must be complete within this (slow senders).
    pub frame_timeout: Duration,
    /// Reply bytes queued to a connection before the broker stops reading its requests.
    pub max_queued_reply_bytes: usize,
    /// Largest admin request body outside package uploads.
    pub admin_max_body_bytes: usize,
    /// Largest package upload through the admin API.
    pub admin_max_upload_bytes: usize,
    /// Admin requests must send their headers within this.
    pub admin_header_timeout: Duration,
    /// Authentication.
    pub auth: AuthConfig,
    /// TLS for the binary protocol, if any.
    pub tls: Option<TlsConfig>,
}

impl BrokerConfig {
    /// Defaults for a data directory, listening on loopback ports chosen by the OS.
    pub fn for_tests(data_dir: impl Into<PathBuf>) -> Self {
        BrokerConfig {
            data_dir: data_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            admin_listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            ..BrokerConfig::default()
        }
    }

    /// Frame limit: a maximal message plus room for its command and metadata.
    pub fn max_frame_size(&self) -> usize {
        self.max_message_size + 64 * 1024
    }
}

impl Default for BrokerConfig {
    fn default() -> Self {
        BrokerConfig {
            data_dir: PathBuf::from("data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 6650)),
            admin_listen: Some(SocketAddr::from(([127, 0, 0, 1], 8080))),
            advertised_url: None,
            advertised_listeners: Vec::new(),
            fsync: FsyncPolicy::Grouped,
            auto_create_topics: true,
            deduplication: true,
            max_message_size: 5 * 1024 * 1024,
            segment_bytes: 64 * 1024 * 1024,
            retention: Duration::from_secs(3600),
            topic_idle_close: Duration::from_secs(60),
            max_pending_bytes_per_connection: 64 * 1024 * 1024,
            max_pending_bytes_global: 512 * 1024 * 1024,
            max_frame_size_before_connect: 64 * 1024,
            max_connections: 4096,
            idle_timeout: Duration::from_secs(180),
            frame_timeout: Duration::from_secs(30),
            max_queued_reply_bytes: 4 * 1024 * 1024,
            admin_max_body_bytes: 1024 * 1024,
            admin_max_upload_bytes: 512 * 1024 * 1024,
            admin_header_timeout: Duration::from_secs(10),
            auth: AuthConfig::None,
            tls: None,
        }
    }
}
