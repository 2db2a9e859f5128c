//! `postgres-cdc` source and `postgres` sink: their settings. The password is read from
//! `secretsMap.password` only.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `secretsMap` key holding the database password.
pub const PASSWORD: &str = "password";

fn default_port() -> u16 {
    5432
}

fn default_user() -> String {
    "postgres".into()
}

/// `sourceConfig` of the `postgres-cdc` source: logical decoding (`pgoutput`) of some tables'
/// changes into Debezium-shaped JSON events keyed by primary key, in commit order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostgresCdcConfig {
    /// Database host.
    pub host: String,
    /// Database port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Database name.
    pub database: String,
    /// User; needs the REPLICATION attribute (or superuser) and, to create the publication,
    /// ownership of the tables and CREATE on the database.
    #[serde(default = "default_user")]
    pub user: String,
    /// Tables whose changes are captured (`schema.table` or `table`); the publication is
    /// created for them when it does not exist.
    #[schemars(length(min = 1))]
    pub tables: Vec<String>,
    /// Publication name; default `fmesh_<source name>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publication: Option<String>,
    /// Replication slot name; default `fmesh_<source name>`. The slot keeps the position:
    /// it is advanced only after Pulsar stored the changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
    /// How often to look for new changes when there were none, in ms.
    #[serde(default = "default_poll_ms")]
    #[schemars(range(min = 1))]
    pub poll_interval_ms: u64,
    /// Changes read per round (whole transactions: one larger than this is read whole).
    #[serde(default = "default_max_changes")]
    #[schemars(range(min = 1))]
    pub max_changes_per_poll: u32,
    /// Debezium's `snapshot.mode`: `initial` reads the tables' existing rows (`op: "r"`)
    /// before streaming, on a start with no slot; `never` streams from the slot's creation.
    #[serde(default)]
    pub snapshot_mode: SnapshotMode,
}

/// When the `postgres-cdc` source reads the tables' existing rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotMode {
    /// On a start with no replication slot yet: every existing row as a read event, from the
    /// snapshot the slot was created at, then the changes after it.
    #[default]
    Initial,
    /// No snapshot: only changes made after the slot was created.
    Never,
}

fn default_poll_ms() -> u64 {
    200
}

fn default_max_changes() -> u32 {
    5000
}

/// How the `postgres` sink writes rows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WriteMode {
    /// Insert, or update the row with the same key: redelivery is harmless.
    #[default]
    Upsert,
    /// Plain inserts (no key; deletes are refused).
    Insert,
}

/// `sinkConfig` of the `postgres` sink: each message (a JSON object whose fields are columns,
/// or a Debezium change event) upserted or deleted by key, in batched transactions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PostgresSinkConfig {
    /// Database host.
    pub host: String,
    /// Database port.
    #[serde(default = "default_port")]
    pub port: u16,
    /// Database name.
    pub database: String,
    /// User (needs INSERT, UPDATE, DELETE on the table).
    #[serde(default = "default_user")]
    pub user: String,
    /// Target table (`schema.table` or `table`).
    #[schemars(length(min = 1))]
    pub table: String,
    /// Upsert by key (default) or plain insert.
    #[serde(default)]
    pub mode: WriteMode,
    /// Key columns for upserts and deletes; default: the table's primary key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_columns: Option<Vec<String>>,
    /// Rows per transaction at most.
    #[serde(default = "default_batch")]
    #[schemars(range(min = 1))]
    pub batch_size: usize,
    /// How long a partial batch waits for more rows before it is written, in ms.
    #[serde(default = "default_linger_ms")]
    pub linger_ms: u64,
}

fn default_batch() -> usize {
    500
}

fn default_linger_ms() -> u64 {
    10
}
