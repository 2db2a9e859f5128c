//! `Resource::references` and `Resource::members`: one walk over what a resource declares.

use fmesh_crds::{Parsed, RefKind, Resource};
use serde_json::json;

fn parse(doc: serde_json::Value) -> Resource {
    match Resource::parse(&doc) {
        Parsed::Resource(res, _) => *res,
        other => panic!("not parsed: {other:?}"),
    }
}

fn pulsar_with_everything() -> serde_json::Value {
    json!({
        "pulsarConfig": "cluster",
        "authSecret": "auth",
        "tlsSecret": "tls",
        "tlsConfig": {"enabled": true, "certSecretName": "ca", "certSecretKey": "ca.crt"},
        "authConfig": {"oauth2Config": {"audience": "a", "issuerUrl": "https://i", "keySecretName": "oauth", "keySecretKey": "key.json"}},
        "cleanupAuthConfig": {"oauth2Config": {"audience": "a", "issuerUrl": "https://i", "keySecretName": "cleanup", "keySecretKey": "c.json"}}
    })
}

#[test]
fn every_secret_and_config_map_a_member_reads_is_listed_at_its_field() {
    let mesh = parse(json!({
        "apiVersion": "compute.functionmesh.io/v1alpha1",
        "kind": "FunctionMesh",
        "metadata": {"name": "m", "namespace": "ns"},
        "spec": {
            "functions": [{
                "name": "f",
                "image": "i",
                "className": "C",
                "input": {"topics": ["persistent://public/default/in"],
                          "sourceSpecs": {"persistent://public/default/in": {"cryptoConfig": {
                              "cryptoKeyReaderClassName": "R",
                              "cryptoSecrets": [{"secretName": "in-keys", "secretKey": "private.pem", "asVolume": "/keys"}]}}}},
                "output": {"topic": "persistent://public/default/out",
                           "producerConf": {"cryptoConfig": {
                               "cryptoKeyReaderClassName": "R",
                               "encryptionKeys": ["k"],
                               "cryptoSecrets": [{"secretName": "out-keys", "secretKey": "public.pem", "asVolume": "/keys"}]}}},
                "secretsMap": {"PASSWORD": {"path": "db", "key": "password"}},
                "pulsar": pulsar_with_everything(),
                "pulsarPackageService": {"pulsarConfig": "packages", "authSecret": "packages-auth"}
            }],
            "sinks": [{
                "name": "s",
                "image": "i",
                "className": "C",
                "input": {"topics": ["persistent://public/default/out"]},
                "pulsar": {"pulsarConfig": "cluster", "tlsConfig": {"enabled": false, "certSecretName": "unused"}}
            }]
        }
    }));
    let refs: Vec<(RefKind, String, Vec<String>, String)> = mesh
        .references()
        .into_iter()
        .map(|r| (r.kind, r.name, r.keys, r.path))
        .collect();
    let f = "spec.functions[0]";
    let s = |v: &[&str]| v.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    let want = vec![
        (
            RefKind::Secret,
            "db".into(),
            s(&["password"]),
            format!("{f}.secretsMap[PASSWORD]"),
        ),
        (
            RefKind::ConfigMap,
            "cluster".into(),
            s(&["webServiceURL", "brokerServiceURL"]),
            format!("{f}.pulsar.pulsarConfig"),
        ),
        (
            RefKind::Secret,
            "auth".into(),
            s(&[
                "clientAuthenticationPlugin",
                "clientAuthenticationParameters",
            ]),
            format!("{f}.pulsar.authSecret"),
        ),
        (
            RefKind::Secret,
            "tls".into(),
            vec![],
            format!("{f}.pulsar.tlsSecret"),
        ),
        (
            RefKind::Secret,
            "ca".into(),
            s(&["ca.crt"]),
            format!("{f}.pulsar.tlsConfig.certSecretName"),
        ),
        (
            RefKind::Secret,
            "oauth".into(),
            s(&["key.json"]),
            format!("{f}.pulsar.authConfig.oauth2Config.keySecretName"),
        ),
        (
            RefKind::Secret,
            "cleanup".into(),
            s(&["c.json"]),
            format!("{f}.pulsar.cleanupAuthConfig.oauth2Config.keySecretName"),
        ),
        (
            RefKind::ConfigMap,
            "packages".into(),
            s(&["webServiceURL", "brokerServiceURL"]),
            format!("{f}.pulsarPackageService.pulsarConfig"),
        ),
        (
            RefKind::Secret,
            "packages-auth".into(),
            s(&[
                "clientAuthenticationPlugin",
                "clientAuthenticationParameters",
            ]),
            format!("{f}.pulsarPackageService.authSecret"),
        ),
        (
            RefKind::Secret,
            "in-keys".into(),
            s(&["private.pem"]),
            format!(
                "{f}.input.sourceSpecs[persistent://public/default/in].cryptoConfig.cryptoSecrets[0].secretName"
            ),
        ),
        (
            RefKind::Secret,
            "out-keys".into(),
            s(&["public.pem"]),
            format!("{f}.output.producerConf.cryptoConfig.cryptoSecrets[0].secretName"),
        ),
        // The sink's disabled TLS config names a Secret nothing mounts.
        (
            RefKind::ConfigMap,
            "cluster".into(),
            s(&["webServiceURL", "brokerServiceURL"]),
            "spec.sinks[0].pulsar.pulsarConfig".into(),
        ),
    ];
    assert_eq!(refs, want);
}

#[test]
fn members_walk_functions_sources_then_sinks_at_their_paths() {
    let mesh = parse(json!({
        "apiVersion": "compute.functionmesh.io/v1alpha1",
        "kind": "FunctionMesh",
        "metadata": {"name": "m"},
        "spec": {
            "sinks": [{"name": "k", "image": "i", "className": "C", "input": {"topics": ["persistent://public/default/b"]}}],
            "sources": [{"name": "s", "image": "i", "className": "C", "output": {"topic": "persistent://public/default/a"}}],
            "functions": [
                {"name": "f1", "image": "i", "className": "C", "input": {"topics": ["persistent://public/default/a"]}, "output": {"topic": "persistent://public/default/x"}},
                {"name": "f2", "image": "i", "className": "C", "input": {"topics": ["persistent://public/default/x"]}, "output": {"topic": "persistent://public/default/b"}}
            ]
        }
    }));
    let members: Vec<(String, String, Option<String>, bool, bool)> = mesh
        .members()
        .iter()
        .map(|m| {
            (
                m.kind.as_str().to_string(),
                m.path.to_string(),
                m.workload.name.clone(),
                m.consumer.is_some(),
                m.output.is_some(),
            )
        })
        .collect();
    let row =
        |k: &str, p: &str, n: &str, c, o| (k.to_string(), p.to_string(), Some(n.to_string()), c, o);
    assert_eq!(
        members,
        vec![
            row("Function", "spec.functions[0]", "f1", true, true),
            row("Function", "spec.functions[1]", "f2", true, true),
            row("Source", "spec.sources[0]", "s", false, true),
            row("Sink", "spec.sinks[0]", "k", true, false),
        ]
    );
    let function = parse(json!({
        "apiVersion": "compute.functionmesh.io/v1alpha1",
        "kind": "Function",
        "metadata": {"name": "f"},
        "spec": {"image": "i", "className": "C", "input": {"topics": ["persistent://public/default/a"]}}
    }));
    let one = function.members();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].path.to_string(), "spec");
}
