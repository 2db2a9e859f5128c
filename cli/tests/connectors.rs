//! `fmesh connectors` and `fmesh validate` on connector settings: the catalogue's schema
//! errors carry the field path and the fix; credentials in plain config warn.

use std::process::Command;

use serde_json::Value;

fn fmesh(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fmesh"))
        .args(args)
        .output()
        .expect("fmesh runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.code().expect("exit code"), stdout, stderr)
}

#[test]
fn connectors_prints_the_catalogue_and_its_schemas() {
    let (code, text, _) = fmesh(&["connectors"]);
    assert_eq!(code, 0);
    for needle in [
        "datagen",
        "elasticsearch",
        "org.apache.pulsar.io.debezium.postgres.DebeziumPostgresSource",
        "streamnative/pulsar-io-elastic-search:",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    let (code, json, _) = fmesh(&["connectors", "-o", "json"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&json).expect("JSON");
    let es = v["native"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "elasticsearch")
        .expect("es");
    assert_eq!(es["schema"]["properties"]["batchSize"]["minimum"], 1);
    assert_eq!(
        es["schema"]["required"],
        serde_json::json!(["url", "index"])
    );
}

const SINK: &str = "\
apiVersion: compute.functionmesh.io/v1alpha1
kind: Sink
metadata:
  name: search
spec:
  builtin: {name: elasticsearch}
  input: {topics: [orders]}
  sinkConfig:
    url: http://es:9200
    index: orders
    batchSize: 0
    batchsize: 10
    password: hunter2
---
apiVersion: compute.functionmesh.io/v1alpha1
kind: Source
metadata:
  name: cdc
spec:
  className: org.apache.pulsar.io.debezium.postgres.DebeziumPostgresSource
  image: streamnative/pulsar-io-debezium-postgres:3.2.2.1
  java: {jar: builtin://debezium-postgres}
  output: {topic: changes}
  sourceConfig:
    database.hostname: pg
    database.password: hunter2
";

#[test]
fn validate_reports_connector_settings_at_their_paths() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    std::fs::write(&file, SINK).unwrap();
    let (code, out, _) = fmesh(&["validate", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}");
    let has = |s: &str| out.lines().any(|l| l.contains(s));
    assert!(
        has("Sink/search: spec.sinkConfig.batchSize: must be ≥ 1, got 0 (use 1 or more)"),
        "{out}"
    );
    assert!(
        has(
            "spec.sinkConfig.batchsize: unknown setting for the elasticsearch sink (did you mean `batchSize`?"
        ),
        "{out}"
    );
    assert!(
        has(
            "spec.sinkConfig.password: the elasticsearch sink reads `password` only from secretsMap"
        ),
        "{out}"
    );
    assert!(
        has(
            "Source/cdc: spec.sourceConfig[database.user]: the Pulsar IO debezium-postgres source requires `database.user`"
        ),
        "{out}"
    );
    assert!(
        has(
            "warning: Source/cdc: spec.sourceConfig[database.password]: looks like a credential in plain config"
        ),
        "{out}"
    );
}
