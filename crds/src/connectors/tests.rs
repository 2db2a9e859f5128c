use serde_json::json;

use super::datagen::{Template, Vars};
use super::*;
use crate::diagnostic::Severity;

fn at() -> FieldPath {
    FieldPath::root("spec")
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().expect("object")
}

fn check(kind: ConnectorKind, name: &str, config: Value, secrets: &[&str]) -> Report {
    check_connector(
        kind,
        Some(name),
        java::JavaRef::default(),
        Some(&obj(config)),
        secrets,
        &at(),
    )
}

#[test]
fn every_schema_compiles_and_accepts_an_empty_or_minimal_config() {
    for c in native() {
        let schema = c.schema();
        assert!(
            jsonschema::validator_for(&schema).is_ok(),
            "{} {} schema",
            c.kind,
            c.name
        );
        assert_eq!(
            schema["additionalProperties"],
            json!(false),
            "{} rejects unknown keys",
            c.name
        );
    }
    assert!(check(ConnectorKind::Source, "datagen", json!({}), &[]).is_valid());
    assert!(check(ConnectorKind::Sink, "log", json!({}), &[]).is_valid());
}

#[test]
fn schema_errors_name_the_field_and_the_fix() {
    let r = check(
        ConnectorKind::Source,
        "datagen",
        json!({"rate": -1, "count": "ten"}),
        &[],
    );
    assert!(r.has(Severity::Error, "spec.sourceConfig.rate"), "{r:?}");
    assert!(r.has(Severity::Error, "spec.sourceConfig.count"), "{r:?}");
    let rate = r
        .errors()
        .find(|d| d.path == "spec.sourceConfig.rate")
        .unwrap();
    assert!(rate.message.starts_with("must be ≥ 0"), "{rate}");
    let r = check(ConnectorKind::Sink, "log", json!({"maxByte": 10}), &[]);
    let d = r.errors().next().expect("unknown key is an error");
    assert_eq!(d.path, "spec.sinkConfig.maxByte");
    assert!(
        d.hint
            .as_deref()
            .unwrap()
            .contains("did you mean `maxBytes`"),
        "{d}"
    );
    let r = check(ConnectorKind::Sink, "log", json!({"level": "loud"}), &[]);
    assert!(r.has(Severity::Error, "spec.sinkConfig.level"), "{r:?}");
}

#[test]
fn unknown_or_misplaced_connector_names_are_errors_with_the_choices() {
    let r = check(ConnectorKind::Sink, "datagen", json!({}), &[]);
    let d = r.errors().next().unwrap();
    assert_eq!(d.path, "spec.builtin.name");
    assert!(
        d.hint.as_deref().unwrap().contains("is a source connector"),
        "{d}"
    );
    let r = check(ConnectorKind::Source, "nope", json!({}), &[]);
    assert!(
        r.errors()
            .next()
            .unwrap()
            .hint
            .as_deref()
            .unwrap()
            .contains("datagen")
    );
}

#[test]
fn datagen_templates_are_checked() {
    let r = check(
        ConnectorKind::Source,
        "datagen",
        json!({"template": "{{seq}} {{rand 5 1}}", "key": "{{nope}}"}),
        &[],
    );
    assert!(
        r.has(Severity::Error, "spec.sourceConfig.template"),
        "{r:?}"
    );
    assert!(r.has(Severity::Error, "spec.sourceConfig.key"), "{r:?}");
    assert!(Template::parse("{{seq").is_err());
}

#[test]
fn templates_render_every_placeholder() {
    let t = Template::parse(r#"{"n": {{seq}}, "i": {{instance}}, "s": "{{name}}", "t": {{timestamp}}, "r": {{rand 3 5}}, "c": "{{pick a b}}", "u": "{{uuid}}"}"#).unwrap();
    let mut state = 7u64;
    let mut random = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1);
        state
    };
    for seq in 0..50 {
        let vars = Vars {
            seq,
            instance: 2,
            name: "gen",
            timestamp_ms: 1000 + seq,
        };
        let v: Value = serde_json::from_str(&t.render(&vars, &mut random)).expect("valid JSON");
        assert_eq!(v["n"], json!(seq));
        assert_eq!(v["i"], json!(2));
        assert_eq!(v["s"], json!("gen"));
        assert_eq!(v["t"], json!(1000 + seq));
        let r = v["r"].as_i64().unwrap();
        assert!((3..=5).contains(&r), "{r}");
        assert!(["a", "b"].contains(&v["c"].as_str().unwrap()));
        let u = v["u"].as_str().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4", "version 4: {u}");
    }
}

#[test]
fn credentials_in_plain_config_warn() {
    assert!(is_credential_key("password"));
    assert!(is_credential_key("database.password"));
    assert!(is_credential_key("apiKey"));
    assert!(is_credential_key("sslTruststorePassword"));
    assert!(!is_credential_key("passwordFile"));
    assert!(!is_credential_key("tokenUrl"));
    assert!(!is_credential_key("indexName"));
    let mut r = Report::default();
    credential_warnings(
        &mut r,
        &obj(json!({"database.password": "x", "user": "u"})),
        &at().field("sourceConfig"),
    );
    assert!(
        r.has(Severity::Warning, "spec.sourceConfig[database.password]"),
        "{r:?}"
    );
    assert!(r.is_valid());
}

#[test]
fn java_references_resolve_and_required_keys_are_checked() {
    let by_builtin = java::JavaRef {
        jar: Some("builtin://elastic_search"),
        ..Default::default()
    };
    let c = resolve_java(ConnectorKind::Sink, by_builtin).expect("resolves");
    assert_eq!(
        c.class_name,
        "org.apache.pulsar.io.elasticsearch.ElasticSearchSink"
    );
    assert_eq!(
        c.image(),
        format!("streamnative/pulsar-io-elastic-search:{}", java::IO_VERSION)
    );
    let by_jar = java::JavaRef {
        jar: Some("connectors/pulsar-io-debezium-postgres-3.2.2.1.nar"),
        ..Default::default()
    };
    assert_eq!(
        resolve_java(ConnectorKind::Source, by_jar).unwrap().name,
        "debezium-postgres"
    );
    let by_class = java::JavaRef {
        class_name: Some("org.apache.pulsar.io.kafka.KafkaBytesSource"),
        ..Default::default()
    };
    assert_eq!(
        resolve_java(ConnectorKind::Source, by_class).unwrap().name,
        "kafka"
    );
    assert!(
        resolve_java(ConnectorKind::Sink, by_class).is_none(),
        "a source class is not a sink"
    );

    let r = check_connector(
        ConnectorKind::Source,
        None,
        by_jar,
        Some(&obj(
            json!({"database.hostname": "pg", "database.password": "pw"}),
        )),
        &[],
        &at(),
    );
    for key in ["database.user", "database.dbname", "database.server.name"] {
        assert!(
            r.has(Severity::Error, &format!("spec.sourceConfig[{key}]")),
            "{key}: {r:?}"
        );
    }
    assert!(
        r.has(Severity::Warning, "spec.sourceConfig[database.password]"),
        "{r:?}"
    );
    // A required key may come from secretsMap.
    let r = check_connector(
        ConnectorKind::Sink,
        None,
        by_builtin,
        Some(&obj(json!({}))),
        &["elasticSearchUrl"],
        &at(),
    );
    assert!(r.is_valid(), "{r:?}");
    let bad = java::JavaRef {
        jar: Some("builtin://elastic"),
        ..Default::default()
    };
    let r = check_connector(ConnectorKind::Sink, None, bad, None, &[], &at());
    assert!(r.has(Severity::Error, "spec.java.jar"), "{r:?}");
    // A custom jar is not second-guessed.
    let custom = java::JavaRef {
        jar: Some("my-connector.nar"),
        class_name: Some("com.example.Sink"),
        ..Default::default()
    };
    assert!(
        check_connector(
            ConnectorKind::Sink,
            None,
            custom,
            Some(&obj(json!({"a": 1}))),
            &[],
            &at()
        )
        .0
        .is_empty()
    );
}

#[test]
fn every_java_entry_is_well_formed() {
    let mut seen = std::collections::BTreeSet::new();
    for c in java() {
        assert!(
            seen.insert((c.kind, c.name)),
            "duplicate {} {}",
            c.kind,
            c.name
        );
        assert!(
            c.class_name.starts_with("org.apache.pulsar.io."),
            "{}",
            c.class_name
        );
        assert!(!c.archive.contains(['_', ' ']), "{}", c.archive);
        for k in c.required {
            assert!(
                !c.secrets.contains(k),
                "{}: {k} both required config and secret",
                c.name
            );
        }
    }
}

#[test]
fn builtin_jars_resolve_to_the_archive_in_the_image() {
    assert_eq!(
        java::in_image_jar("builtin://kafka"),
        format!("connectors/pulsar-io-kafka-{}.nar", java::IO_VERSION)
    );
    assert_eq!(java::in_image_jar("connectors/x.nar"), "connectors/x.nar");
    assert_eq!(java::in_image_jar("builtin://nope"), "builtin://nope");
    let mut w = crate::WorkloadSpec::default();
    w.runtime.java = Some(Box::new(crate::common::JavaRuntime {
        jar: Some("builtin://elastic_search".into()),
        ..Default::default()
    }));
    java::fill(ConnectorKind::Sink, &mut w, None);
    assert_eq!(
        w.class_name.as_deref(),
        Some("org.apache.pulsar.io.elasticsearch.ElasticSearchSink")
    );
    assert!(
        w.image
            .as_deref()
            .unwrap()
            .starts_with("streamnative/pulsar-io-elastic-search:")
    );
    assert_eq!(
        w.runtime.java.as_ref().unwrap().jar.as_deref(),
        Some("builtin://elastic_search"),
        "defaults only add"
    );
    let before = w.clone();
    java::fill(ConnectorKind::Sink, &mut w, None);
    assert_eq!(w, before, "idempotent");
}

#[test]
fn sink_tls_settings_agree_with_the_url() {
    let es = |config: Value, secrets: &[&str]| {
        check(ConnectorKind::Sink, "elasticsearch", config, secrets)
    };
    let ok = es(
        json!({"url": "https://es:9200", "index": "i", "ssl": {"enabled": true, "caFile": "/etc/es/ca.crt", "hostnameVerification": false}}),
        &[],
    );
    assert!(ok.is_valid() && ok.warnings().count() == 0, "{ok:?}");
    let r = es(
        json!({"url": "http://es:9200", "index": "i", "ssl": {"enabled": true}}),
        &[],
    );
    assert!(
        r.has(Severity::Error, "spec.sinkConfig.ssl.enabled"),
        "{r:?}"
    );
    let r = es(
        json!({"url": "https://es:9200", "index": "i", "ssl": {"caFile": "/ca.pem"}}),
        &["caCert"],
    );
    assert!(
        r.has(Severity::Error, "spec.sinkConfig.ssl.caFile"),
        "{r:?}"
    );
    // A Pulsar truststore key is unknown, and the fix lists the PEM setting.
    let r = es(
        json!({"url": "https://es:9200", "index": "i", "ssl": {"truststorePath": "/ts.jks"}}),
        &[],
    );
    let d = r
        .errors()
        .find(|d| d.path == "spec.sinkConfig.ssl.truststorePath")
        .expect("error");
    assert!(d.hint.as_deref().unwrap_or("").contains("caFile"), "{d:?}");
    let r = check(
        ConnectorKind::Sink,
        "http",
        json!({"url": "https://hook", "ssl": {"disableCertificateValidation": true}}),
        &[],
    );
    assert!(
        r.is_valid()
            && r.has(
                Severity::Warning,
                "spec.sinkConfig.ssl.disableCertificateValidation"
            ),
        "{r:?}"
    );
    let r = check(
        ConnectorKind::Sink,
        "http",
        json!({"url": "ftp://hook"}),
        &[],
    );
    assert!(r.has(Severity::Error, "spec.sinkConfig.url"), "{r:?}");
    let r = check(
        ConnectorKind::Sink,
        "http",
        json!({"url": "http://hook"}),
        &["caCert"],
    );
    assert!(
        r.is_valid() && r.has(Severity::Warning, "spec.sinkConfig.url"),
        "{r:?}"
    );
}
