//! The connector catalogue: fmesh's native connectors (run by `fmesh-runner` as `builtin`
//! Sources and Sinks), each with a JSON Schema of its config derived from the typed struct the
//! runner deserializes, and the well-known Pulsar IO Java connectors, so `builtin://name`
//! references resolve and their required keys are checked. Pure: no I/O.
//!
//! Adding a native connector: a config struct in a module here, an entry in [`native`], and its
//! implementation in `runner/src/connectors/` (runner/README.md, "Adding a connector").

pub mod datagen;
pub mod elasticsearch;
pub mod http;
pub mod java;
pub mod log;
pub mod postgres;
mod schema;
pub mod tls;

use std::fmt;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::diagnostic::{FieldPath, Report};

pub use java::{JavaConnector, java, resolve_java};

/// Whether a connector reads from outside into a topic or writes a topic to outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectorKind {
    /// Publishes to `output.topic` (a `Source` object).
    Source,
    /// Consumes `input` topics (a `Sink` object).
    Sink,
}

impl ConnectorKind {
    /// `source` / `sink`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorKind::Source => "source",
            ConnectorKind::Sink => "sink",
        }
    }
    /// The spec field holding the connector's settings.
    pub fn config_field(self) -> &'static str {
        match self {
            ConnectorKind::Source => "sourceConfig",
            ConnectorKind::Sink => "sinkConfig",
        }
    }
}

impl fmt::Display for ConnectorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A credential a connector reads from `secretsMap` (the runner gets it as an env var named
/// after the key), never from its config.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SecretKey {
    /// The `secretsMap` key.
    pub name: &'static str,
    /// Whether the connector cannot run without it (see also [`NativeConnector::check`]).
    pub required: bool,
    /// What it is for.
    pub description: &'static str,
}

/// Checks a JSON Schema cannot express (template syntax, secrets required by a setting).
pub type ExtraCheck =
    fn(config: &Map<String, Value>, secrets: &[&str], at: &Checked, r: &mut Report);

/// Where a config check reports: the config field and the spec root.
#[derive(Clone, Debug)]
pub struct Checked {
    /// `spec.sinkConfig` (or `spec.sinks[0].sinkConfig`).
    pub config: FieldPath,
    /// `spec` (or `spec.sinks[0]`), for `secretsMap` paths.
    pub spec: FieldPath,
}

/// A connector compiled into `fmesh-runner`, selected with `builtin: {name: …}`.
#[derive(Clone, Copy, Debug)]
pub struct NativeConnector {
    /// Catalogue name (`spec.builtin.name`).
    pub name: &'static str,
    /// Source or sink.
    pub kind: ConnectorKind,
    /// One line for `fmesh connectors`.
    pub description: &'static str,
    /// Credentials read from `secretsMap`.
    pub secrets: &'static [SecretKey],
    schema: fn() -> schemars::Schema,
    extra: Option<ExtraCheck>,
}

impl NativeConnector {
    /// The JSON Schema (draft 2020-12) of the connector's config.
    pub fn schema(&self) -> Value {
        (self.schema)().to_value()
    }

    /// Validates `config` (absent: `{}`) against the schema and the extra checks; `secrets` are
    /// the `secretsMap` keys the object sets.
    pub fn check(
        &self,
        config: Option<&Map<String, Value>>,
        secrets: &[&str],
        at: &Checked,
    ) -> Report {
        let empty = Map::new();
        let config = config.unwrap_or(&empty);
        let mut r = Report::default();
        let mut rest = config.clone();
        for key in config.keys() {
            let Some(secret) = self.secrets.iter().find(|s| s.name == key.as_str()) else {
                continue;
            };
            // The runner reads it from the Secret only: in config it would be ignored.
            rest.remove(key);
            r.error(
                &at.config.field(key),
                format!("the {} {} reads `{key}` only from secretsMap ({})", self.name, self.kind, secret.description),
                format!("put it in a Secret and reference it as secretsMap.{key}: {{path: <secret>, key: <key>}}"),
            );
        }
        credential_warnings(&mut r, &rest, &at.config);
        schema::check(self, &Value::Object(rest.clone()), &at.config, &mut r);
        for s in self.secrets.iter().filter(|s| s.required) {
            if !secrets.contains(&s.name) {
                r.error(
                    &at.spec.field("secretsMap").field(s.name),
                    format!(
                        "the {} {} needs `{}` ({})",
                        self.name, self.kind, s.name, s.description
                    ),
                    format!("add secretsMap.{}: {{path: <secret>, key: <key>}}", s.name),
                );
            }
        }
        if let Some(extra) = self.extra {
            extra(&rest, secrets, at, &mut r);
        }
        r
    }
}

fn schema_of<T: JsonSchema>() -> schemars::Schema {
    schemars::schema_for!(T)
}

/// Every native connector, sources first.
pub fn native() -> &'static [NativeConnector] {
    static NATIVE: &[NativeConnector] = &[
        NativeConnector {
            name: "datagen",
            kind: ConnectorKind::Source,
            description: "generates messages from a template at a fixed rate (demos, load tests)",
            secrets: &[],
            schema: schema_of::<datagen::DatagenConfig>,
            extra: Some(datagen::check),
        },
        NativeConnector {
            name: "postgres-cdc",
            kind: ConnectorKind::Source,
            description: "a table's inserts, updates and deletes as Debezium-shaped JSON events keyed by primary key, in commit order (logical decoding, pgoutput), resuming from the confirmed position",
            secrets: &[SecretKey {
                name: postgres::PASSWORD,
                required: false,
                description: "the database user's password (none: trust or peer authentication)",
            }],
            schema: schema_of::<postgres::PostgresCdcConfig>,
            extra: None,
        },
        NativeConnector {
            name: "http",
            kind: ConnectorKind::Source,
            description: "an ingest endpoint: POST a body or an NDJSON batch, answered after the broker's receipt",
            secrets: &[SecretKey {
                name: http::TOKEN,
                required: false,
                description: "bearer token clients must send (required unless allowAnonymous)",
            }],
            schema: schema_of::<http::HttpSourceConfig>,
            extra: Some(http::check_source),
        },
        NativeConnector {
            name: "log",
            kind: ConnectorKind::Sink,
            description: "writes each message to the runner's log (debugging)",
            secrets: &[],
            schema: schema_of::<log::LogConfig>,
            extra: None,
        },
        NativeConnector {
            name: "http",
            kind: ConnectorKind::Sink,
            description: "POSTs each message or an NDJSON batch, retrying with backoff, then dead-letters",
            secrets: &[
                SecretKey {
                    name: http::TOKEN,
                    required: false,
                    description: "sent as `Authorization: Bearer <token>`",
                },
                SecretKey {
                    name: tls::CA_CERT,
                    required: false,
                    description: "PEM CA certificates for an https:// url (instead of ssl.caFile)",
                },
            ],
            schema: schema_of::<http::HttpSinkConfig>,
            extra: Some(tls::check),
        },
        NativeConnector {
            name: "elasticsearch",
            kind: ConnectorKind::Sink,
            description: "indexes (or deletes, for an empty payload) documents by key through the _bulk API of Elasticsearch or OpenSearch",
            secrets: &[
                SecretKey {
                    name: elasticsearch::USERNAME,
                    required: false,
                    description: "basic-auth user (with password)",
                },
                SecretKey {
                    name: elasticsearch::PASSWORD,
                    required: false,
                    description: "basic-auth password (with username)",
                },
                SecretKey {
                    name: elasticsearch::API_KEY,
                    required: false,
                    description: "sent as `Authorization: ApiKey <apiKey>`",
                },
                SecretKey {
                    name: tls::CA_CERT,
                    required: false,
                    description: "PEM CA certificates for an https:// url (instead of ssl.caFile)",
                },
            ],
            schema: schema_of::<elasticsearch::ElasticsearchConfig>,
            extra: Some(elasticsearch::check),
        },
        NativeConnector {
            name: "postgres",
            kind: ConnectorKind::Sink,
            description: "upserts (or inserts, or deletes for Debezium delete events) rows by key into a table, in batched transactions; acked after commit",
            secrets: &[SecretKey {
                name: postgres::PASSWORD,
                required: false,
                description: "the database user's password (none: trust or peer authentication)",
            }],
            schema: schema_of::<postgres::PostgresSinkConfig>,
            extra: None,
        },
    ];
    NATIVE
}

/// The native connector `name` of `kind`.
pub fn lookup(kind: ConnectorKind, name: &str) -> Option<&'static NativeConnector> {
    native().iter().find(|c| c.kind == kind && c.name == name)
}

/// Names of the native connectors of `kind`, for hints.
pub fn names(kind: ConnectorKind) -> Vec<&'static str> {
    native()
        .iter()
        .filter(|c| c.kind == kind)
        .map(|c| c.name)
        .collect()
}

/// Whether a config key looks like it holds a credential (`password`, `apiKey`, `auth.token`),
/// as opposed to naming where one is (`passwordFile`, `tokenUrl`).
pub fn is_credential_key(key: &str) -> bool {
    const WORDS: &[&str] = &[
        "password",
        "passwd",
        "secret",
        "token",
        "apikey",
        "accesskey",
        "privatekey",
        "credential",
    ];
    const REFERENCES: &[&str] = &[
        "file", "path", "name", "ref", "env", "url", "header", "field", "enabled", "type",
    ];
    let k: String = key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    WORDS.iter().any(|w| k.contains(w)) && !REFERENCES.iter().any(|s| k.ends_with(s))
}

/// `config.key`, or `config[key]` when the key is not a plain identifier (`database.port`).
pub fn key_path(config: &FieldPath, key: &str) -> FieldPath {
    if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        config.field(key)
    } else {
        config.key(key)
    }
}

/// A warning for each credential-looking key with a plain value in a connector config.
pub fn credential_warnings(r: &mut Report, config: &Map<String, Value>, at: &FieldPath) {
    for (key, value) in config {
        let plain = matches!(value, Value::String(s) if !s.is_empty()) || value.is_number();
        if plain && is_credential_key(key) {
            r.warn(
                &key_path(at, key),
                "looks like a credential in plain config: anyone who can read the object can read it",
                format!("put it in a Secret and reference it as secretsMap.{key}: {{path: <secret>, key: <key>}}"),
            );
        }
    }
}

/// Validates a Source's or Sink's connector settings: the native connector's schema for
/// `builtin`, the Pulsar IO connector's required keys for `java`.
pub fn check_connector(
    kind: ConnectorKind,
    builtin: Option<&str>,
    java_ref: java::JavaRef<'_>,
    config: Option<&Map<String, Value>>,
    secrets: &[&str],
    at: &FieldPath,
) -> Report {
    let checked = Checked {
        config: at.field(kind.config_field()),
        spec: at.clone(),
    };
    let mut r = Report::default();
    if let Some(name) = builtin.filter(|n| !n.is_empty()) {
        match lookup(kind, name) {
            Some(c) => r.extend(c.check(config, secrets, &checked)),
            None => {
                let other = match kind {
                    ConnectorKind::Source => ConnectorKind::Sink,
                    ConnectorKind::Sink => ConnectorKind::Source,
                };
                let hint = if lookup(other, name).is_some() {
                    format!(
                        "`{name}` is a {other} connector; native {kind}s: {}",
                        names(kind).join(", ")
                    )
                } else {
                    format!(
                        "native {kind}s: {} (see `fmesh connectors`)",
                        names(kind).join(", ")
                    )
                };
                r.error(
                    &at.field("builtin").field("name"),
                    format!("unknown {kind} connector `{name}`"),
                    hint,
                );
            }
        }
        return r;
    }
    if java_ref.is_set() {
        r.extend(java::check(kind, java_ref, config, secrets, &checked));
    } else if let Some(config) = config {
        credential_warnings(&mut r, config, &checked.config);
    }
    r
}

#[cfg(test)]
mod tests;
