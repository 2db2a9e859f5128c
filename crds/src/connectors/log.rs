//! `log` sink: each message to the runner's log.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `sinkConfig` of the `log` sink.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogConfig {
    /// Log level of the lines.
    #[serde(default)]
    pub level: LogLevel,
    /// Payload bytes shown per message (the rest is cut, with its length noted).
    #[serde(default = "default_max_bytes")]
    #[schemars(range(min = 1))]
    pub max_bytes: usize,
}

fn default_max_bytes() -> usize {
    4096
}

/// Log levels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    #[default]
    Info,
    Warn,
    Error,
}
