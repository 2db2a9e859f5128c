//! The well-known Pulsar IO connectors (Java, run from StreamNative's connector images), so
//! that `java.jar: builtin://<name>` (Pulsar's `--archive builtin://…`) or
//! `sourceType`/`sinkType: <name>` resolve to a class, archive and image, and so that their
//! required config keys are checked at admission.
//!
//! Names and classes are those of each connector's `META-INF/services/pulsar-io.yaml` in the
//! Pulsar line of [`IO_VERSION`] (3.2); required and credential keys come from each connector's
//! config class and the 3.2 docs. [`java`] says how; each entry names the files it was checked
//! against, as `file@commit` in `apache/pulsar` (docs: `apache/pulsar-site`).

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
///
/// Each entry was checked against Pulsar's sources (`apache/pulsar`, file@commit) and the
/// 3.2.x docs (`apache/pulsar-site`). `required` holds the keys the connector cannot run
/// without: `@FieldDoc(required = true)` (or a `validate()` check), minus those whose Java
/// initializer supplies a usable default when the connector loads its config with a plain
/// `ObjectMapper`; `IOConfigUtils.loadWithSecrets` (Kafka, Elasticsearch, Kinesis in 3.2)
/// rejects any absent `required = true` key, so there none is dropped. `secrets` holds the
/// `sensitive = true` keys. A key is never in both: a required credential is noted instead.
pub fn java() -> &'static [JavaConnector] {
    static JAVA: &[JavaConnector] = &[
        // pulsar-io/debezium/postgres pulsar-io.yaml@7eb76b4; keys: version-3.2.x
        // io-debezium-source.md@223ef46. Pulsar's DebeziumSource defaults task.class, the
        // converters, database.history and both topics; Debezium 1.9's PostgresConnectorConfig
        // defaults database.port to 5432, so those are not required. database.password is
        // read from secretsMap too (DebeziumSource.tryLoadingConfigSecret).
        source(
            "debezium-postgres",
            "org.apache.pulsar.io.debezium.postgres.DebeziumPostgresSource",
            "debezium-postgres",
            &[
                "database.hostname",
                "database.user",
                "database.dbname",
                "database.server.name",
            ],
            &["database.password"],
        ),
        // pulsar-io/debezium/mysql pulsar-io.yaml@0e91a39; keys as debezium-postgres. The doc
        // marks database.port and database.server.id required, but Debezium 1.9's
        // MySqlConnectorConfig defaults them (3306; a random id in 5400..6400).
        source(
            "debezium-mysql",
            "org.apache.pulsar.io.debezium.mysql.DebeziumMysqlSource",
            "debezium-mysql",
            &["database.hostname", "database.user", "database.server.name"],
            &["database.password"],
        ),
        // pulsar-io/debezium/mongodb pulsar-io.yaml@718bcd7, DebeziumMongoDbSource.java@2e49c6e
        // (mongodb.user/password also read from secretsMap); io-debezium-source.md@223ef46.
        // mongodb.task.id: Pulsar runs the Debezium task without the Kafka Connect connector
        // that would assign it. mongodb.user/password: only with MongoDB authentication.
        source(
            "debezium-mongodb",
            "org.apache.pulsar.io.debezium.mongodb.DebeziumMongoDbSource",
            "debezium-mongodb",
            &["mongodb.hosts", "mongodb.name", "mongodb.task.id"],
            &["mongodb.password"],
        ),
        // pulsar-io/kafka pulsar-io.yaml@027e370, KafkaSourceConfig.java@12442e1;
        // version-3.3.x io-kafka-source.md@0692dad. sslTruststorePassword is sensitive since
        // apache/pulsar#21639 (3.2.0); saslJaasConfig is not, so Pulsar reads it only from config.
        source(
            "kafka",
            "org.apache.pulsar.io.kafka.KafkaBytesSource",
            "kafka",
            &["bootstrapServers", "groupId", "topic"],
            &["sslTruststorePassword"],
        ),
        // pulsar-io/rabbitmq pulsar-io.yaml@ac26291, RabbitMQAbstractConfig.java@6660110,
        // RabbitMQSourceConfig.java@83c4990; version-3.2.x io-rabbitmq-source.md@5919ec7. The
        // doc marks port and virtualHost required, but the config is read with a plain
        // ObjectMapper and they default to 5672 and "/".
        source(
            "rabbitmq",
            "org.apache.pulsar.io.rabbitmq.RabbitMQSource",
            "rabbitmq",
            &["connectionName", "host", "queueName"],
            &["username", "password"],
        ),
        // pulsar-io/file pulsar-io.yaml@2066343, FileSourceConfig.java@8a4e430 (validate()).
        source(
            "file",
            "org.apache.pulsar.io.file.FileSource",
            "file",
            &["inputDirectory"],
            &[],
        ),
        // pulsar-io/netty pulsar-io.yaml@c52c51d (NettySource; NettyTcpSource was the 2.2 name),
        // NettySourceConfig.java@085e7b8, NettySource.java@8bbc2a0: type, host, port and
        // numberOfThreads are required = true but default to tcp, 127.0.0.1, 10999 and 1.
        source(
            "netty",
            "org.apache.pulsar.io.netty.NettySource",
            "netty",
            &[],
            &[],
        ),
        // pulsar-io/data-generator pulsar-io.yaml@2066343, DataGeneratorSourceConfig.java@1710bfd
        // (sleepBetweenMessages defaults to 50; an empty config is allowed).
        source(
            "data-generator",
            "org.apache.pulsar.io.datagenerator.DataGeneratorSource",
            "data-generator",
            &[],
            &[],
        ),
        // pulsar-io/elastic-search pulsar-io.yaml@027e370; ElasticSearchConfig.java (3.x, loaded
        // with IOConfigUtils.loadWithSecrets); version-3.2.x io-elasticsearch-sink.md@414a189.
        // indexName is optional since 2.9 (defaults to the topic name).
        sink(
            "elastic_search",
            "org.apache.pulsar.io.elasticsearch.ElasticSearchSink",
            "elastic-search",
            &["elasticSearchUrl"],
            &["username", "password", "token", "apiKey"],
        ),
        // pulsar-io/kafka pulsar-io.yaml@027e370, KafkaSinkConfig.java@1bab22b (acks is
        // required = true with no default; the sink puts it into the producer's Properties);
        // pulsar-site docs/io-kafka-sink.md@b190bf6. Secrets as the Kafka source.
        sink(
            "kafka",
            "org.apache.pulsar.io.kafka.KafkaBytesSink",
            "kafka",
            &["bootstrapServers", "acks", "topic"],
            &["sslTruststorePassword"],
        ),
        // pulsar-io/jdbc/postgres pulsar-io.yaml@2cd18d8, jdbc/core JdbcSinkConfig.java@514cde7
        // (userName and password both sensitive); version-3.2.x io-jdbc-sink.md@44e1044.
        sink(
            "jdbc-postgres",
            "org.apache.pulsar.io.jdbc.PostgresJdbcAutoSchemaSink",
            "jdbc-postgres",
            &["jdbcUrl", "tableName"],
            &["userName", "password"],
        ),
        // pulsar-io/jdbc/clickhouse pulsar-io.yaml@27a2b9b: ClickHouseJdbcAutoSchemaSink
        // (ClickhouseJdbcAutoSchemaSink was the 2.5 name, @352eb71). Keys as jdbc-postgres.
        sink(
            "jdbc-clickhouse",
            "org.apache.pulsar.io.jdbc.ClickHouseJdbcAutoSchemaSink",
            "jdbc-clickhouse",
            &["jdbcUrl", "tableName"],
            &["userName", "password"],
        ),
        // pulsar-io/jdbc/mariadb pulsar-io.yaml@7db53c6 (named jdbc-mysql in 2.5, @352eb71),
        // pom.xml artifact pulsar-io-jdbc-mariadb. Keys as jdbc-postgres.
        sink(
            "jdbc-mariadb",
            "org.apache.pulsar.io.jdbc.MariadbJdbcAutoSchemaSink",
            "jdbc-mariadb",
            &["jdbcUrl", "tableName"],
            &["userName", "password"],
        ),
        // pulsar-io/cassandra pulsar-io.yaml@c52c51d, CassandraSinkConfig.java@2cd18d8: five
        // required keys and no credential fields at all.
        sink(
            "cassandra",
            "org.apache.pulsar.io.cassandra.CassandraStringSink",
            "cassandra",
            &["roots", "keyspace", "keyname", "columnFamily", "columnName"],
            &[],
        ),
        // pulsar-io/mongo pulsar-io.yaml@c2ef705, MongoAbstractConfig.java@3a15c65 (mongoUri),
        // MongoSinkConfig.java@0ba1071 (validate() requires database and collection). No field
        // is sensitive, mongoUri included, so Pulsar reads none of them from secretsMap.
        sink(
            "mongo",
            "org.apache.pulsar.io.mongodb.MongoSink",
            "mongo",
            &["mongoUri", "database", "collection"],
            &[],
        ),
        // pulsar-io/redis pulsar-io.yaml@b321c05, RedisAbstractConfig.java@fe9a5a8;
        // version-3.2.x io-redis-sink.md@44e1044. The doc marks redisDatabase required, but
        // the config is read with a plain ObjectMapper and it defaults to 0.
        sink(
            "redis",
            "org.apache.pulsar.io.redis.sink.RedisSink",
            "redis",
            &["redisHosts"],
            &["redisPassword"],
        ),
        // pulsar-io/rabbitmq as the RabbitMQ source, RabbitMQSinkConfig.java@8786d14
        // (exchangeName).
        sink(
            "rabbitmq",
            "org.apache.pulsar.io.rabbitmq.RabbitMQSink",
            "rabbitmq",
            &["connectionName", "host", "exchangeName"],
            &["username", "password"],
        ),
        // pulsar-io/influxdb pulsar-io.yaml@c52c51d, InfluxDBGenericRecordSink.java@1710bfd:
        // tries the v2 config (v2/InfluxDBSinkConfig.java@f07d0c0: influxdbUrl, token,
        // organization, bucket) and falls back to v1 (v1/InfluxDBSinkConfig.java@ea6b8ce:
        // influxdbUrl, database), so only influxdbUrl is required either way. Secrets are both
        // versions' sensitive keys.
        sink(
            "influxdb",
            "org.apache.pulsar.io.influxdb.InfluxDBGenericRecordSink",
            "influxdb",
            &["influxdbUrl"],
            &["username", "password", "token"],
        ),
        // pulsar-io/hdfs3 pulsar-io.yaml@701da83, AbstractHdfsConfig.java@3b39049 and
        // HdfsSinkConfig.java@b321c05 (validate(): also fileExtension or compression).
        sink(
            "hdfs3",
            "org.apache.pulsar.io.hdfs3.sink.text.HdfsStringSink",
            "hdfs3",
            &["hdfsConfigResources", "directory", "filenamePrefix"],
            &[],
        ),
        // pulsar-io/kinesis pulsar-io.yaml@160e6f8, BaseKinesisConfig.java@1d2acb4; KinesisSink
        // (loadWithSecrets) needs awsRegion or awsEndpoint, so neither alone is required, and
        // a non-blank awsCredentialPluginParam, a credential: listed under secrets.
        sink(
            "kinesis",
            "org.apache.pulsar.io.kinesis.KinesisSink",
            "kinesis",
            &["awsKinesisStreamName"],
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
