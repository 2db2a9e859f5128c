//! `elasticsearch` sink: the `_bulk` API of Elasticsearch and OpenSearch.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Checked;
use super::http::{default_backoff, default_max_backoff, default_retries, default_timeout};
use super::tls::{self, SslConfig};
use crate::diagnostic::Report;

/// `secretsMap` key of the basic-auth user.
pub const USERNAME: &str = "username";
/// `secretsMap` key of the basic-auth password.
pub const PASSWORD: &str = "password";
/// `secretsMap` key of an API key.
pub const API_KEY: &str = "apiKey";

/// `sinkConfig` of the `elasticsearch` sink.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ElasticsearchConfig {
    /// The cluster: `http://host:9200` or `https://…`.
    #[schemars(regex(pattern = r"^https?://[^/\s]+"))]
    pub url: String,
    /// How an `https://` cluster is verified (Pulsar's sink: `ssl`).
    #[serde(default, skip_serializing_if = "SslConfig::is_default")]
    pub ssl: SslConfig,
    /// Index the documents go to.
    #[schemars(length(min = 1), regex(pattern = r"^[^A-Z\s,/*?<>|#]+$"))]
    pub index: String,
    /// Actions per `_bulk` request.
    #[serde(default = "default_batch")]
    #[schemars(range(min = 1, max = 10000))]
    pub batch_size: usize,
    /// How long a partial batch waits for more messages (ms).
    #[serde(default = "default_linger")]
    pub linger_ms: u64,
    /// What an empty payload means: delete the document with the message's key, or skip it.
    #[serde(default)]
    pub empty_payload: EmptyPayload,
    /// Retries of a failed request or item (429, 5xx) before it is dead-lettered.
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
    /// `refresh` parameter of `_bulk`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<Refresh>,
}

fn default_batch() -> usize {
    500
}
fn default_linger() -> u64 {
    100
}

/// Meaning of an empty payload.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum EmptyPayload {
    /// A tombstone: delete the document whose `_id` is the key.
    #[default]
    Delete,
    /// Acknowledge and skip.
    Ignore,
}

/// `_bulk`'s `refresh` parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Refresh {
    True,
    False,
    WaitFor,
}

impl Refresh {
    /// The query-parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Refresh::True => "true",
            Refresh::False => "false",
            Refresh::WaitFor => "wait_for",
        }
    }
}

/// Basic auth needs both halves; TLS settings agree with the url.
pub(super) fn check(config: &Map<String, Value>, secrets: &[&str], at: &Checked, r: &mut Report) {
    tls::check(config, secrets, at, r);
    let (user, pass) = (secrets.contains(&USERNAME), secrets.contains(&PASSWORD));
    if user != pass {
        let missing = if user { PASSWORD } else { USERNAME };
        r.error(
            &at.spec.field("secretsMap").field(missing),
            "basic auth needs both username and password",
            format!("add secretsMap.{missing}, or remove the other half"),
        );
    }
}
