//! `http` source (an ingest endpoint) and `http` sink (POST to a URL).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Checked;
use super::tls::SslConfig;
use crate::diagnostic::Report;

/// The `secretsMap` key holding the bearer token (source: expected from clients; sink: sent).
pub const TOKEN: &str = "token";

/// `sourceConfig` of the `http` source.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpSourceConfig {
    /// Address to listen on.
    #[serde(default = "default_host")]
    pub host: String,
    /// Port to listen on (0: any free port, for tests).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Path that accepts `POST`s.
    #[serde(default = "default_path")]
    #[schemars(regex(pattern = r"^/"))]
    pub path: String,
    /// Largest request body accepted (bytes); larger ones get 413.
    #[serde(default = "default_max_body")]
    #[schemars(range(min = 1))]
    pub max_body_bytes: usize,
    /// Messages awaiting the broker's receipt before new requests get 429.
    #[serde(default = "default_max_in_flight")]
    #[schemars(range(min = 1))]
    pub max_in_flight: usize,
    /// For JSON bodies: the top-level field whose value becomes the message key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_field: Option<String>,
    /// Accept requests without a bearer token (otherwise `secretsMap.token` is required).
    #[serde(default)]
    pub allow_anonymous: bool,
}

fn default_host() -> String {
    "0.0.0.0".into()
}
fn default_port() -> u16 {
    8080
}
fn default_path() -> String {
    "/".into()
}
fn default_max_body() -> usize {
    4 << 20
}
fn default_max_in_flight() -> usize {
    1000
}

/// `sinkConfig` of the `http` sink.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpSinkConfig {
    /// Where to send: `http://host:port/path` or `https://…`.
    #[schemars(regex(pattern = r"^https?://[^/\s]+"))]
    pub url: String,
    /// How an `https://` server is verified.
    #[serde(default, skip_serializing_if = "SslConfig::is_default")]
    pub ssl: SslConfig,
    /// HTTP method.
    #[serde(default)]
    pub method: HttpMethod,
    /// Extra request headers (no credentials: the token comes from `secretsMap.token`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Messages per request: 1 sends the payload as the body; more sends NDJSON, one line each.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 10000))]
    pub batch_size: usize,
    /// How long a partial batch waits for more messages (ms).
    #[serde(default = "default_linger")]
    pub linger_ms: u64,
    /// Retries after the first failed attempt (5xx, 408, 429, connection errors).
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// First backoff (ms), doubled per retry up to `maxBackoffMs`.
    #[serde(default = "default_backoff")]
    #[schemars(range(min = 1))]
    pub retry_backoff_ms: u64,
    /// Backoff ceiling (ms).
    #[serde(default = "default_max_backoff")]
    #[schemars(range(min = 1))]
    pub max_backoff_ms: u64,
    /// Per-request timeout (ms).
    #[serde(default = "default_timeout")]
    #[schemars(range(min = 1))]
    pub timeout_ms: u64,
}

/// Methods the http sink can use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    #[default]
    Post,
    Put,
}

pub(crate) fn one() -> usize {
    1
}
fn default_linger() -> u64 {
    10
}
pub(crate) fn default_retries() -> u32 {
    5
}
pub(crate) fn default_backoff() -> u64 {
    200
}
pub(crate) fn default_max_backoff() -> u64 {
    10_000
}
pub(crate) fn default_timeout() -> u64 {
    10_000
}

/// The source needs a token unless it is explicitly open.
pub(super) fn check_source(
    config: &Map<String, Value>,
    secrets: &[&str],
    at: &Checked,
    r: &mut Report,
) {
    let anonymous = config
        .get("allowAnonymous")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if !anonymous && !secrets.contains(&TOKEN) {
        r.error(
            &at.spec.field("secretsMap").field(TOKEN),
            "the http source needs the bearer token clients must send",
            "add secretsMap.token: {path: <secret>, key: <key>}, or set sourceConfig.allowAnonymous: true",
        );
    }
}
