//! The well-known Pulsar IO connectors (Java, run from StreamNative's connector images), so
//! that `java.jar: builtin://<name>` (Pulsar's `--archive builtin://…`) or
//! `sourceType`/`sinkType: <name>` resolve to a class, archive and image, and so that their
//! required config keys are checked at admission.
//!
//! Names and classes are those of each connector's `META-INF/services/pulsar-io.yaml`; required
//! keys are those the Pulsar IO documentation marks `Required: true`.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{Checked, ConnectorKind, credential_warnings};
use crate::diagnostic::Report;

/// The connector image tag fmesh fills in when a `builtin://` reference names no image.
pub const IO_VERSION: &str = "3.2.2.1";

/// Prefix of an archive reference to a connector bundled with Pulsar.
pub const BUILTIN_SCHEME: &str = "builtin://";

/// One Pulsar IO connector.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JavaConnector {
    /// Pulsar's builtin name (`--source-type`, `builtin://name`).
    pub name: &'static str,
    /// Source or sink.
    pub kind: ConnectorKind,
    /// The class Pulsar instantiates.
    pub class_name: &'static str,
    /// The archive's stem: `pulsar-io-<archive>-<version>.nar`, image `streamnative/pulsar-io-<archive>`.
    pub archive: &'static str,
    /// Config keys that must be set (in config, or as a `secretsMap` entry).
    pub required: &'static [&'static str],
    /// Config keys holding credentials: they belong in `secretsMap`.
    pub secrets: &'static [&'static str],
}

impl JavaConnector {
    /// `streamnative/pulsar-io-<archive>`.
    pub fn image_repository(&self) -> String {
        format!("streamnative/pulsar-io-{}", self.archive)
    }
    /// The image with fmesh's default tag.
    pub fn image(&self) -> String {
        format!("{}:{IO_VERSION}", self.image_repository())
    }
    /// The archive's path inside that image.
    pub fn jar(&self) -> String {
        format!("connectors/pulsar-io-{}-{IO_VERSION}.nar", self.archive)
    }
}

const fn source(
    name: &'static str,
    class_name: &'static str,
    archive: &'static str,
    required: &'static [&'static str],
    secrets: &'static [&'static str],
) -> JavaConnector {
    JavaConnector {
        name,
        kind: ConnectorKind::Source,
        class_name,
        archive,
        required,
        secrets,
    }
}

const fn sink(
    name: &'static str,
    class_name: &'static str,
    archive: &'static str,
    required: &'static [&'static str],
    secrets: &'static [&'static str],
) -> JavaConnector {
    JavaConnector {
        name,
        kind: ConnectorKind::Sink,
        class_name,
        archive,
        required,
        secrets,
    }
}

/// Every Pulsar IO connector in the catalogue.
pub fn java() -> &'static [JavaConnector] {
    static JAVA: &[JavaConnector] = &[
        source(
            "debezium-postgres",
            "org.apache.pulsar.io.debezium.postgres.DebeziumPostgresSource",
            "debezium-postgres",
            &[
                "database.hostname",
                "database.port",
                "database.user",
                "database.dbname",
                "database.server.name",
            ],
            &["database.password"],
        ),
        source(
            "debezium-mysql",
            "org.apache.pulsar.io.debezium.mysql.DebeziumMysqlSource",
            "debezium-mysql",
            &[
                "database.hostname",
                "database.port",
                "database.user",
                "database.server.id",
                "database.server.name",
            ],
            &["database.password"],
        ),
        source(
            "debezium-mongodb",
            "org.apache.pulsar.io.debezium.mongodb.DebeziumMongoDbSource",
            "debezium-mongodb",
            &["mongodb.hosts", "mongodb.name"],
            &["mongodb.password"],
        ),
        source(
            "kafka",
            "org.apache.pulsar.io.kafka.KafkaBytesSource",
            "kafka",
            &["bootstrapServers", "groupId", "topic"],
            &["sslTruststorePassword", "saslJaasConfig"],
        ),
        source(
            "rabbitmq",
            "org.apache.pulsar.io.rabbitmq.RabbitMQSource",
            "rabbitmq",
            &["connectionName", "host", "port", "virtualHost", "queueName"],
            &["password"],
        ),
        source(
            "file",
            "org.apache.pulsar.io.file.FileSource",
            "file",
            &["inputDirectory"],
            &[],
        ),
        source(
            "netty",
            "org.apache.pulsar.io.netty.NettySource",
            "netty",
            &["type", "host", "port"],
            &[],
        ),
        source(
            "data-generator",
            "org.apache.pulsar.io.datagenerator.DataGeneratorSource",
            "data-generator",
            &[],
            &[],
        ),
        sink(
            "elastic_search",
            "org.apache.pulsar.io.elasticsearch.ElasticSearchSink",
            "elastic-search",
            &["elasticSearchUrl"],
            &["password", "token", "apiKey"],
        ),
        sink(
            "kafka",
            "org.apache.pulsar.io.kafka.KafkaBytesSink",
            "kafka",
            &["bootstrapServers", "topic"],
            &["sslTruststorePassword", "saslJaasConfig"],
        ),
        sink(
            "jdbc-postgres",
            "org.apache.pulsar.io.jdbc.PostgresJdbcAutoSchemaSink",
            "jdbc-postgres",
            &["jdbcUrl", "tableName"],
            &["password"],
        ),
        sink(
            "jdbc-clickhouse",
            "org.apache.pulsar.io.jdbc.ClickHouseJdbcAutoSchemaSink",
            "jdbc-clickhouse",
            &["jdbcUrl", "tableName"],
            &["password"],
        ),
        sink(
            "jdbc-mariadb",
            "org.apache.pulsar.io.jdbc.MariadbJdbcAutoSchemaSink",
            "jdbc-mariadb",
            &["jdbcUrl", "tableName"],
            &["password"],
        ),
        sink(
            "cassandra",
            "org.apache.pulsar.io.cassandra.CassandraStringSink",
            "cassandra",
            &["roots", "keyspace", "keyname", "columnFamily", "columnName"],
            &["password"],
        ),
        sink(
            "mongo",
            "org.apache.pulsar.io.mongodb.MongoSink",
            "mongo",
            &["mongoUri", "database", "collection"],
            &[],
        ),
        sink(
            "redis",
            "org.apache.pulsar.io.redis.sink.RedisSink",
            "redis",
            &["redisHosts", "redisDatabase"],
            &["redisPassword"],
        ),
        sink(
            "rabbitmq",
            "org.apache.pulsar.io.rabbitmq.RabbitMQSink",
            "rabbitmq",
            &[
                "connectionName",
                "host",
                "port",
                "virtualHost",
                "exchangeName",
            ],
            &["password"],
        ),
        sink(
            "influxdb",
            "org.apache.pulsar.io.influxdb.InfluxDBGenericRecordSink",
            "influxdb",
            &["influxdbUrl"],
            &["password", "token"],
        ),
        sink(
            "hdfs3",
            "org.apache.pulsar.io.hdfs3.sink.text.HdfsStringSink",
            "hdfs3",
            &["hdfsConfigResources", "directory"],
            &[],
        ),
        sink(
            "kinesis",
            "org.apache.pulsar.io.kinesis.KinesisSink",
            "kinesis",
            &["awsRegion", "awsKinesisStreamName"],
            &["awsCredentialPluginParam"],
        ),
    ];
    JAVA
}

/// What a Java Source or Sink says about its connector.
#[derive(Clone, Copy, Debug, Default)]
pub struct JavaRef<'a> {
    /// `java.jar` (may be `builtin://name`).
    pub jar: Option<&'a str>,
    /// `className`.
    pub class_name: Option<&'a str>,
    /// `sourceType` / `sinkType`.
    pub connector_type: Option<&'a str>,
}

impl JavaRef<'_> {
    /// Whether anything names a connector.
    pub fn is_set(&self) -> bool {
        self.jar.is_some() || self.class_name.is_some() || self.connector_type.is_some()
    }
    /// The name after `builtin://`, if the jar is such a reference.
    pub fn builtin_name(&self) -> Option<&str> {
        self.jar.and_then(|j| j.strip_prefix(BUILTIN_SCHEME))
    }
}

/// The connector a reference names: `builtin://name`, then `sourceType`/`sinkType`, then the
/// class name, then an archive file `…/pulsar-io-<archive>-<version>.nar`.
pub fn resolve_java(kind: ConnectorKind, r: JavaRef<'_>) -> Option<&'static JavaConnector> {
    let of_kind = || java().iter().filter(move |c| c.kind == kind);
    if let Some(name) = r.builtin_name().or(r.connector_type) {
        return of_kind().find(|c| c.name == name);
    }
    if let Some(class) = r.class_name.filter(|c| !c.is_empty()) {
        return of_kind().find(|c| c.class_name == class);
    }
    let file = r.jar?.rsplit('/').next()?;
    of_kind().find(|c| {
        file.strip_prefix("pulsar-io-")
            .and_then(|rest| rest.strip_prefix(c.archive))
            .is_some_and(|rest| {
                rest.starts_with('-')
                    && rest.ends_with(".nar")
                    && rest[1..].starts_with(|ch: char| ch.is_ascii_digit())
            })
    })
}

/// Required keys of a resolved connector, credentials in plain config, unresolvable references.
pub(super) fn check(
    kind: ConnectorKind,
    r: JavaRef<'_>,
    config: Option<&Map<String, Value>>,
    secrets: &[&str],
    at: &Checked,
) -> Report {
    let mut report = Report::default();
    let empty = Map::new();
    let config = config.unwrap_or(&empty);
    let names = || {
        java()
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let Some(c) = resolve_java(kind, r) else {
        if let Some(name) = r.builtin_name() {
            report.error(
                &at.spec.field("java").field("jar"),
                format!("no Pulsar IO {kind} named `{name}` in fmesh's catalogue"),
                format!("use one of {}, or a jar path in the image", names()),
            );
        } else if let Some(name) = r.connector_type {
            let field = match kind {
                ConnectorKind::Source => "sourceType",
                ConnectorKind::Sink => "sinkType",
            };
            report.error(
                &at.spec.field(field),
                format!("no Pulsar IO {kind} named `{name}` in fmesh's catalogue"),
                format!(
                    "use one of {}, or remove it and name the jar and className",
                    names()
                ),
            );
        }
        // A custom connector: nothing more is known about its config.
        credential_warnings(&mut report, config, &at.config);
        return report;
    };
    if let Some(class) = r
        .class_name
        .filter(|cl| !cl.is_empty() && *cl != c.class_name)
        && (r.builtin_name().is_some() || r.connector_type.is_some())
    {
        report.error(
            &at.spec.field("className"),
            format!(
                "`{class}` is not the class of the {} {kind} ({})",
                c.name, c.class_name
            ),
            format!("remove className or set it to {}", c.class_name),
        );
    }
    for key in c.required {
        let set =
            config.get(*key).is_some_and(|v| !v.is_null() && v != "") || secrets.contains(key);
        if !set {
            report.error(
                &super::key_path(&at.config, key),
                format!("the Pulsar IO {} {kind} requires `{key}`", c.name),
                format!("set {}.{key}", kind.config_field()),
            );
        }
    }
    credential_warnings(&mut report, config, &at.config);
    for key in c.secrets {
        if config.get(*key).is_some_and(|v| !v.is_null() && v != "")
            && !super::is_credential_key(key)
        {
            report.warn(
                &super::key_path(&at.config, key),
                "holds a credential in plain config: anyone who can read the object can read it",
                format!("put it in a Secret and reference it as secretsMap.{key}"),
            );
        }
    }
    report
}

/// Defaults for a Java Source or Sink that names a catalogue connector by `builtin://name` or
/// `sourceType`/`sinkType`: className and image where absent (defaults only add; the jar is
/// resolved when the instance's command is built, see [`in_image_jar`]). Idempotent.
pub fn fill(kind: ConnectorKind, w: &mut crate::WorkloadSpec, connector_type: Option<&str>) {
    let Some(java) = &w.runtime.java else { return };
    let r = JavaRef {
        jar: java.jar.as_deref(),
        class_name: w.class_name.as_deref(),
        connector_type,
    };
    if r.builtin_name().is_none() && connector_type.is_none() {
        return;
    }
    let Some(c) = resolve_java(kind, r) else {
        return;
    };
    if w.class_name.as_deref().unwrap_or("").is_empty() {
        w.class_name = Some(c.class_name.to_string());
    }
    if w.image.as_deref().unwrap_or("").is_empty() {
        w.image = Some(c.image());
    }
}

/// The archive's path inside the connector image for a `builtin://name` jar; any other jar as
/// written. What the instance's `--jar` gets.
pub fn in_image_jar(jar: &str) -> String {
    let Some(name) = jar.strip_prefix(BUILTIN_SCHEME) else {
        return jar.to_string();
    };
    java()
        .iter()
        .find(|c| c.name == name)
        .map_or_else(|| jar.to_string(), JavaConnector::jar)
}
