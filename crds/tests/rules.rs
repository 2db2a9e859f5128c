//! Every validation rule, one failing and one passing case each: a valid base object is
//! patched (RFC 7386 merge patch) and the diagnostic must appear exactly at the rule's path,
//! and must not appear for the passing patch.

use fmesh_crds::diagnostic::{Report, Severity};
use fmesh_crds::{Parsed, Resource};
use serde_json::{Value, json};

fn base(kind: &str) -> Value {
    let spec = match kind {
        "Function" => json!({
            "className": "org.example.Enrich", "java": {"jar": "enrich.jar"},
            "input": {"topics": ["in"]}, "output": {"topic": "out"},
            "pulsar": {"pulsarConfig": "pulsar"}
        }),
        "Source" => json!({
            "className": "org.example.Cdc", "java": {"jar": "cdc.jar"},
            "output": {"topic": "out"}, "sourceConfig": {"db": "orders"},
            "pulsar": {"pulsarConfig": "pulsar"}
        }),
        "Sink" => json!({
            "className": "org.example.Index", "java": {"jar": "index.jar"},
            "input": {"topics": ["in"]}, "sinkConfig": {"url": "http://es:9200"},
            "pulsar": {"pulsarConfig": "pulsar"}
        }),
        "FunctionMesh" => json!({
            "sources": [{"name": "cdc", "className": "C", "java": {"jar": "c.jar"},
                         "output": {"topic": "raw"}, "sourceConfig": {}, "pulsar": {"pulsarConfig": "p"}}],
            "functions": [{"name": "enrich", "className": "E", "java": {"jar": "e.jar"},
                           "input": {"topics": ["raw"]}, "output": {"topic": "enriched"},
                           "pulsar": {"pulsarConfig": "p"}}],
            "sinks": [{"name": "index", "className": "I", "java": {"jar": "i.jar"},
                       "input": {"topics": ["enriched"]}, "sinkConfig": {}, "pulsar": {"pulsarConfig": "p"}}]
        }),
        other => panic!("no base for {other}"),
    };
    json!({"apiVersion": "compute.functionmesh.io/v1alpha1", "kind": kind,
           "metadata": {"name": "obj1", "namespace": "default"}, "spec": spec})
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

fn report(kind: &str, patch: Value) -> Report {
    let mut doc = base(kind);
    merge(&mut doc, &patch);
    match Resource::parse(&doc) {
        Parsed::Resource(res, mut warnings) => {
            warnings.extend(res.validate());
            warnings
        }
        Parsed::Invalid(r) => r,
        Parsed::Other { .. } => panic!("not an fmesh object"),
    }
}

/// One rule: a patch that breaks it, one that satisfies it, and where the finding lands.
struct Rule {
    kind: &'static str,
    bad: Value,
    good: Value,
    severity: Severity,
    path: &'static str,
}

fn err(kind: &'static str, path: &'static str, bad: Value, good: Value) -> Rule {
    Rule {
        kind,
        bad,
        good,
        severity: Severity::Error,
        path,
    }
}

fn warn(kind: &'static str, path: &'static str, bad: Value, good: Value) -> Rule {
    Rule {
        kind,
        bad,
        good,
        severity: Severity::Warning,
        path,
    }
}

fn check(rules: Vec<Rule>) {
    let mut failures = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let bad = report(rule.kind, rule.bad.clone());
        if !bad.has(rule.severity, rule.path) {
            failures.push(format!(
                "#{i} {} {:?}: expected {:?} at {} for {}, got {:?}",
                rule.kind, rule.bad, rule.severity, rule.path, rule.bad, bad.0
            ));
        }
        let good = report(rule.kind, rule.good.clone());
        if good.0.iter().any(|d| d.path == rule.path) || !good.is_valid() {
            failures.push(format!(
                "#{i} {} good {:?}: unexpected {:?}",
                rule.kind, rule.good, good.0
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_bases_are_valid_without_warnings() {
    for kind in ["Function", "Source", "Sink"] {
        let r = report(kind, json!({}));
        assert!(r.0.is_empty(), "{kind}: {:?}", r.0);
    }
    let r = report("FunctionMesh", json!({}));
    assert!(r.0.is_empty(), "{:?}", r.0);
}

#[test]
fn names() {
    check(vec![
        err(
            "Function",
            "metadata.name",
            json!({"metadata": {"name": "a-very-long-function-name-that-is-over-the-limit"}}),
            json!({"metadata": {"name": "short"}}),
        ),
        err(
            "Function",
            "metadata.name",
            json!({"metadata": {"name": "Upper_Case"}}),
            json!({"metadata": {"name": "lower-case"}}),
        ),
        err(
            "Sink",
            "metadata.name",
            json!({"metadata": {"name": "-x"}}),
            json!({"metadata": {"name": "x"}}),
        ),
    ]);
}

#[test]
fn runtimes() {
    check(vec![
        err(
            "Function",
            "spec",
            json!({"spec": {"java": null}}),
            json!({}),
        ),
        err(
            "Function",
            "spec",
            json!({"spec": {"python": {"py": "f.py"}}}),
            json!({}),
        ),
        err(
            "Source",
            "spec.python",
            json!({"spec": {"java": null, "python": {"py": "s.py"}}}),
            json!({"spec": {"java": null, "sourceConfig": null, "builtin": {"name": "datagen"}}}),
        ),
        err(
            "Function",
            "spec.className",
            json!({"spec": {"className": null}}),
            json!({"spec": {"className": "x.Y"}}),
        ),
        err(
            "Function",
            "spec.java.jar",
            json!({"spec": {"java": {"jar": ""}}}),
            json!({"spec": {"java": {"jar": "a.jar"}}}),
        ),
        err(
            "Function",
            "spec.java.jarLocation",
            json!({"spec": {"java": {"jarLocation": "ftp://x/a.jar"}}}),
            json!({"spec": {"java": {"jarLocation": "function://public/default/enrich@1.0"}}}),
        ),
        err(
            "Function",
            "spec.java.jarLocation",
            json!({"spec": {"java": {"jarLocation": "function://public/enrich"}}}),
            json!({"spec": {"java": {"jarLocation": "https://example.com/a.jar"}}}),
        ),
        err(
            "Function",
            "spec.python.py",
            json!({"spec": {"java": null, "python": {"pyLocation": "function://a/b/c"}}}),
            json!({"spec": {"java": null, "python": {"py": "f.py"}}}),
        ),
        err(
            "Function",
            "spec.python.pyLocation",
            json!({"spec": {"java": null, "python": {"py": "f.py", "pyLocation": "f.py"}}}),
            json!({"spec": {"java": null, "python": {"py": "f.py", "pyLocation": "http://h/f.py"}}}),
        ),
        err(
            "Function",
            "spec.golang.go",
            json!({"spec": {"java": null, "golang": {}}}),
            json!({"spec": {"java": null, "golang": {"go": "fn"}}}),
        ),
        err(
            "Function",
            "spec.golang.goLocation",
            json!({"spec": {"java": null, "golang": {"go": "fn", "goLocation": "s3://b/fn"}}}),
            json!({"spec": {"java": null, "golang": {"go": "fn", "goLocation": "function://p/d/fn@2"}}}),
        ),
        err(
            "Function",
            "spec.genericRuntime.functionFile",
            json!({"spec": {"java": null, "genericRuntime": {"language": "nodejs"}}}),
            json!({"spec": {"java": null, "genericRuntime": {"language": "nodejs", "functionFile": "f.js"}}}),
        ),
        err(
            "Function",
            "spec.genericRuntime.language",
            json!({"spec": {"java": null, "genericRuntime": {"functionFile": "f.js"}}}),
            json!({"spec": {"java": null, "genericRuntime": {"language": "nodejs", "functionFile": "f.js"}}}),
        ),
        err(
            "Function",
            "spec.wasm.module",
            json!({"spec": {"java": null, "wasm": {}}}),
            json!({"spec": {"java": null, "wasm": {"module": "/fn/enrich.wasm"}}}),
        ),
        err(
            "Function",
            "spec.wasm.fuelPerMessage",
            json!({"spec": {"java": null, "wasm": {"module": "m.wasm", "fuelPerMessage": 0}}}),
            json!({"spec": {"java": null, "wasm": {"module": "m.wasm", "fuelPerMessage": 1000000}}}),
        ),
        err(
            "Function",
            "spec.wasm.maxMemory",
            json!({"spec": {"java": null, "wasm": {"module": "m.wasm", "maxMemory": "lots"}}}),
            json!({"spec": {"java": null, "wasm": {"module": "m.wasm", "maxMemory": "64Mi"}}}),
        ),
        err(
            "Function",
            "spec.wasm.moduleLocation",
            json!({"spec": {"java": null, "wasm": {"moduleLocation": "m.wasm"}}}),
            json!({"spec": {"java": null, "wasm": {"moduleLocation": "function://public/default/m@1"}}}),
        ),
        err(
            "Function",
            "spec.exec.command",
            json!({"spec": {"java": null, "exec": {"command": []}}}),
            json!({"spec": {"java": null, "exec": {"command": ["/bin/enrich"]}}}),
        ),
        err(
            "Sink",
            "spec.builtin.name",
            json!({"spec": {"java": null, "builtin": {}}}),
            json!({"spec": {"java": null, "sinkConfig": null, "builtin": {"name": "log"}}}),
        ),
    ]);
}

#[test]
fn replicas_and_autoscaling() {
    check(vec![
        err(
            "Function",
            "spec.replicas",
            json!({"spec": {"replicas": -1, "minReplicas": 1}}),
            json!({"spec": {"replicas": 3}}),
        ),
        err(
            "Function",
            "spec.maxReplicas",
            json!({"spec": {"replicas": 5, "maxReplicas": 3}}),
            json!({"spec": {"replicas": 2, "maxReplicas": 3}}),
        ),
        err(
            "Function",
            "spec.replicas",
            json!({"spec": {"replicas": 0, "minReplicas": 1, "maxReplicas": 3}}),
            json!({"spec": {"replicas": 1, "maxReplicas": 3}}),
        ),
        err(
            "Source",
            "spec.minReplicas",
            json!({"spec": {"minReplicas": 0, "replicas": 1}}),
            json!({"spec": {"minReplicas": 1}}),
        ),
        err(
            "Sink",
            "spec.minReplicas",
            json!({"spec": {"minReplicas": 3, "replicas": 2}}),
            json!({"spec": {"minReplicas": 2, "replicas": 3}}),
        ),
        err(
            "Function",
            "spec.minReplicas",
            json!({"spec": {"minReplicas": 7, "replicas": 7, "maxReplicas": 6}}),
            json!({"spec": {"minReplicas": 4, "replicas": 5, "maxReplicas": 6}}),
        ),
        err(
            "Function",
            "spec.pod.vpa",
            json!({"spec": {"maxReplicas": 3, "pod": {"vpa": {}}}}),
            json!({"spec": {"pod": {"vpa": {}}}}),
        ),
        err(
            "Function",
            "spec.pod.vpa.resourcePolicy.containerPolicies[0].containerName",
            json!({"spec": {"pod": {"vpa": {"resourcePolicy": {"containerPolicies": [{"mode": "Auto"}]}}}}}),
            json!({"spec": {"pod": {"vpa": {"resourcePolicy": {"containerPolicies": [{"containerName": "*"}]}}}}}),
        ),
        err(
            "Function",
            "spec.pod.builtinAutoscaler[1]",
            json!({"spec": {"maxReplicas": 3, "pod": {"builtinAutoscaler": ["AverageUtilizationCPUPercent80", "AverageUtilizationCPUPercent50"]}}}),
            json!({"spec": {"maxReplicas": 3, "pod": {"builtinAutoscaler": ["AverageUtilizationCPUPercent80", "AverageUtilizationMemoryPercent50"]}}}),
        ),
        warn(
            "Function",
            "spec.pod.builtinAutoscaler",
            json!({"spec": {"pod": {"builtinAutoscaler": ["AverageUtilizationCPUPercent80"]}}}),
            json!({"spec": {"maxReplicas": 2, "pod": {"builtinAutoscaler": ["AverageUtilizationCPUPercent80"]}}}),
        ),
        err(
            "Function",
            "spec.pod.terminationGracePeriodSeconds",
            json!({"spec": {"pod": {"terminationGracePeriodSeconds": -5}}}),
            json!({"spec": {"pod": {"terminationGracePeriodSeconds": 30}}}),
        ),
    ]);
}

#[test]
fn resources() {
    check(vec![
        err(
            "Function",
            "spec.resources.requests.cpu",
            json!({"spec": {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}}),
            json!({"spec": {"resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "1"}}}}),
        ),
        err(
            "Function",
            "spec.resources.requests.memory",
            json!({"spec": {"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1G"}}}}),
            json!({"spec": {"resources": {"requests": {"memory": "512Mi"}, "limits": {"memory": "1G"}}}}),
        ),
        err(
            "Sink",
            "spec.resources.limits.memory",
            json!({"spec": {"resources": {"limits": {"memory": "1GB"}}}}),
            json!({"spec": {"resources": {"limits": {"memory": "1Gi"}}}}),
        ),
        err(
            "Source",
            "spec.resources.requests.cpu",
            json!({"spec": {"resources": {"requests": {"cpu": "-1"}}}}),
            json!({"spec": {"resources": {"requests": {"cpu": "1"}}}}),
        ),
    ]);
}

#[test]
fn references_and_messaging() {
    check(vec![
        err(
            "Function",
            "spec.secretsMap[password].path",
            json!({"spec": {"secretsMap": {"password": {"key": "pw"}}}}),
            json!({"spec": {"secretsMap": {"password": {"path": "db", "key": "pw"}}}}),
        ),
        err(
            "Function",
            "spec.secretsMap[password].key",
            json!({"spec": {"secretsMap": {"password": {"path": "db"}}}}),
            json!({"spec": {"secretsMap": {"password": {"path": "db", "key": "pw"}}}}),
        ),
        err(
            "Function",
            "spec.pulsar.pulsarConfig",
            json!({"spec": {"pulsar": null}}),
            json!({"spec": {"pulsar": {"pulsarConfig": "other"}}}),
        ),
        err(
            "Sink",
            "spec.pulsarPackageService.pulsarConfig",
            json!({"spec": {"pulsarPackageService": {"authSecret": "a"}}}),
            json!({"spec": {"pulsarPackageService": {"pulsarConfig": "pkg"}}}),
        ),
        warn(
            "Function",
            "spec.pulsar.tlsConfig",
            json!({"spec": {"pulsar": {"tlsConfig": {"enabled": true, "certSecretName": "ca"}}}}),
            json!({"spec": {"pulsar": {"tlsConfig": {"enabled": true, "certSecretName": "ca", "certSecretKey": "ca.crt"}}}}),
        ),
        err(
            "Function",
            "spec.pulsar.authConfig.oauth2Config.issuerUrl",
            json!({"spec": {"pulsar": {"authConfig": {"oauth2Config": {"audience": "a", "keySecretName": "k", "keySecretKey": "f"}}}}}),
            json!({"spec": {"pulsar": {"authConfig": {"oauth2Config": {"audience": "a", "issuerUrl": "https://i", "keySecretName": "k", "keySecretKey": "f"}}}}}),
        ),
        err(
            "Function",
            "spec.pulsar.authConfig",
            json!({"spec": {"pulsar": {"authConfig": {"oauth2Config": {"audience": "a", "issuerUrl": "https://i", "keySecretName": "k", "keySecretKey": "f"}, "genericAuth": {"clientAuthenticationPlugin": "p", "clientAuthenticationParameters": "x"}}}}}),
            json!({"spec": {"pulsar": {"authConfig": {"genericAuth": {"clientAuthenticationPlugin": "p", "clientAuthenticationParameters": "x"}}}}}),
        ),
        err(
            "Function",
            "spec.pulsar.authConfig.genericAuth.clientAuthenticationParameters",
            json!({"spec": {"pulsar": {"authConfig": {"genericAuth": {"clientAuthenticationPlugin": "p"}}}}}),
            json!({"spec": {"pulsar": {"authConfig": {"genericAuth": {"clientAuthenticationPlugin": "p", "clientAuthenticationParameters": "x"}}}}}),
        ),
        err(
            "Function",
            "spec.statefulConfig.pulsar.serviceUrl",
            json!({"spec": {"statefulConfig": {"pulsar": {}}}}),
            json!({"spec": {"statefulConfig": {"pulsar": {"serviceUrl": "bk://bk:4181"}}}}),
        ),
        err(
            "Function",
            "spec.statefulConfig.pulsar",
            json!({"spec": {"java": null, "golang": {"go": "g"}, "statefulConfig": {"pulsar": {"serviceUrl": "bk://bk:4181"}}}}),
            json!({"spec": {"java": null, "golang": {"go": "g"}}}),
        ),
        err(
            "Function",
            "spec.imagePullPolicy",
            json!({"spec": {"imagePullPolicy": "Sometimes"}}),
            json!({"spec": {"imagePullPolicy": "IfNotPresent"}}),
        ),
        err(
            "Function",
            "spec.logTopic",
            json!({"spec": {"logTopic": "a/b"}}),
            json!({"spec": {"logTopic": "logs"}}),
        ),
    ]);
}

#[test]
fn processing_semantics() {
    check(vec![
        err(
            "Function",
            "spec.timeout",
            json!({"spec": {"processingGuarantee": "effectively_once", "timeout": 100}}),
            json!({"spec": {"timeout": 100}}),
        ),
        err(
            "Sink",
            "spec.timeout",
            json!({"spec": {"timeout": -1}}),
            json!({"spec": {"timeout": 0}}),
        ),
        err(
            "Function",
            "spec.maxMessageRetry",
            json!({"spec": {"processingGuarantee": "effectively_once", "maxMessageRetry": 3}}),
            json!({"spec": {"processingGuarantee": "effectively_once"}}),
        ),
        err(
            "Sink",
            "spec.maxMessageRetry",
            json!({"spec": {"deadLetterTopic": "dlq"}}),
            json!({"spec": {"deadLetterTopic": "dlq", "maxMessageRetry": 3}}),
        ),
        err(
            "Function",
            "spec.deadLetterTopic",
            json!({"spec": {"deadLetterTopic": "bad://x/y/z", "maxMessageRetry": 3}}),
            json!({"spec": {"deadLetterTopic": "persistent://public/default/dlq", "maxMessageRetry": 3}}),
        ),
        err(
            "Function",
            "spec.retainKeyOrdering",
            json!({"spec": {"processingGuarantee": "effectively_once", "retainKeyOrdering": true}}),
            json!({"spec": {"retainKeyOrdering": true}}),
        ),
        err(
            "Function",
            "spec.retainOrdering",
            json!({"spec": {"retainOrdering": true, "retainKeyOrdering": true}}),
            json!({"spec": {"retainOrdering": true}}),
        ),
        err(
            "Sink",
            "spec.subscriptionName",
            json!({"spec": {"subscriptionName": ""}}),
            json!({"spec": {"subscriptionName": "index-sub"}}),
        ),
        err(
            "Function",
            "spec.maxPendingAsyncRequests",
            json!({"spec": {"maxPendingAsyncRequests": 0}}),
            json!({"spec": {"maxPendingAsyncRequests": 10}}),
        ),
    ]);
}

#[test]
fn topics() {
    check(vec![
        err(
            "Function",
            "spec.input",
            json!({"spec": {"input": {"topics": []}}}),
            json!({"spec": {"input": {"topicPattern": "persistent://public/default/in-.*"}}}),
        ),
        err(
            "Sink",
            "spec.input",
            json!({"spec": {"input": null}}),
            json!({"spec": {"input": {"topics": ["a"]}}}),
        ),
        err(
            "Function",
            "spec.input.topics[1]",
            json!({"spec": {"input": {"topics": ["ok", "a/b"]}}}),
            json!({"spec": {"input": {"topics": ["ok", "t/ns/b"]}}}),
        ),
        err(
            "Function",
            "spec.input.topicPattern",
            json!({"spec": {"input": {"topics": null, "topicPattern": "in-("}}}),
            json!({"spec": {"input": {"topics": null, "topicPattern": "in-.*"}}}),
        ),
        err(
            "Function",
            "spec.input.topics[0]",
            json!({"spec": {"input": {"topics": ["persistent://public/default/out"]}}}),
            json!({"spec": {"input": {"topics": ["persistent://public/default/in"]}}}),
        ),
        err(
            "Function",
            "spec.input.sourceSpecs[in].receiverQueueSize",
            json!({"spec": {"input": {"sourceSpecs": {"in": {"receiverQueueSize": -1}}}}}),
            json!({"spec": {"input": {"sourceSpecs": {"in": {"receiverQueueSize": 100}}}}}),
        ),
        err(
            "Function",
            "spec.input.sourceSpecs[in].cryptoConfig.cryptoKeyReaderClassName",
            json!({"spec": {"input": {"sourceSpecs": {"in": {"cryptoConfig": {}}}}}}),
            json!({"spec": {"input": {"sourceSpecs": {"in": {"cryptoConfig": {"cryptoKeyReaderClassName": "R"}}}}}}),
        ),
        err(
            "Function",
            "spec.output.topic",
            json!({"spec": {"output": {"topic": "x://y"}}}),
            json!({"spec": {"output": {"topic": "acme/prod/out"}}}),
        ),
        err(
            "Function",
            "spec.output.producerConf.cryptoConfig.encryptionKeys",
            json!({"spec": {"output": {"producerConf": {"cryptoConfig": {"cryptoKeyReaderClassName": "R"}}}}}),
            json!({"spec": {"output": {"producerConf": {"cryptoConfig": {"cryptoKeyReaderClassName": "R", "encryptionKeys": ["k"]}}}}}),
        ),
        err(
            "Source",
            "spec.output.producerConf.maxPendingMessages",
            json!({"spec": {"output": {"producerConf": {"maxPendingMessages": -1}}}}),
            json!({"spec": {"output": {"producerConf": {"maxPendingMessages": 10}}}}),
        ),
        err(
            "Source",
            "spec.output.topic",
            json!({"spec": {"output": null}}),
            json!({"spec": {"output": {"topic": "o"}}}),
        ),
    ]);
}

#[test]
fn function_windows() {
    check(vec![
        err(
            "Function",
            "spec.windowConfig",
            json!({"spec": {"windowConfig": {"actualWindowFunctionClassName": "W"}}}),
            json!({"spec": {"windowConfig": {"windowLengthCount": 10}}}),
        ),
        err(
            "Function",
            "spec.windowConfig",
            json!({"spec": {"windowConfig": {"windowLengthCount": 10, "windowLengthDurationMs": 10}}}),
            json!({"spec": {"windowConfig": {"windowLengthDurationMs": 10}}}),
        ),
        err(
            "Function",
            "spec.windowConfig.windowLengthCount",
            json!({"spec": {"windowConfig": {"windowLengthCount": 0}}}),
            json!({"spec": {"windowConfig": {"windowLengthCount": 1}}}),
        ),
        err(
            "Function",
            "spec.windowConfig.slidingIntervalDurationMs",
            json!({"spec": {"windowConfig": {"windowLengthDurationMs": 10, "slidingIntervalDurationMs": -1}}}),
            json!({"spec": {"windowConfig": {"windowLengthDurationMs": 10, "slidingIntervalDurationMs": 5}}}),
        ),
        err(
            "Function",
            "spec.windowConfig.maxLagMs",
            json!({"spec": {"windowConfig": {"windowLengthCount": 5, "timestampExtractorClassName": "T", "maxLagMs": -1}}}),
            json!({"spec": {"windowConfig": {"windowLengthCount": 5, "timestampExtractorClassName": "T"}}}),
        ),
        err(
            "Function",
            "spec.windowConfig.watermarkEmitIntervalMs",
            json!({"spec": {"windowConfig": {"windowLengthCount": 5, "timestampExtractorClassName": "T", "watermarkEmitIntervalMs": 0}}}),
            json!({"spec": {"windowConfig": {"windowLengthCount": 5, "timestampExtractorClassName": "T", "watermarkEmitIntervalMs": 10}}}),
        ),
        err(
            "Function",
            "spec.windowConfig.lateDataTopic",
            json!({"spec": {"windowConfig": {"windowLengthCount": 5, "lateDataTopic": "a/b"}}}),
            json!({"spec": {"windowConfig": {"windowLengthCount": 5, "lateDataTopic": "late"}}}),
        ),
    ]);
}

#[test]
fn connectors() {
    check(vec![
        err(
            "Source",
            "spec.sourceConfig",
            json!({"spec": {"sourceConfig": null}}),
            json!({"spec": {"java": null, "sourceConfig": null, "builtin": {"name": "datagen"}}}),
        ),
        err(
            "Sink",
            "spec.sinkConfig",
            json!({"spec": {"sinkConfig": null}}),
            json!({"spec": {"sinkConfig": {"k": "v"}}}),
        ),
        err(
            "Source",
            "spec.batchSourceConfig.discoveryTriggererClassName",
            json!({"spec": {"batchSourceConfig": {}}}),
            json!({"spec": {"batchSourceConfig": {"discoveryTriggererClassName": "D"}}}),
        ),
        err(
            "Sink",
            "spec.negativeAckRedeliveryDelayMs",
            json!({"spec": {"negativeAckRedeliveryDelayMs": -1}}),
            json!({"spec": {"negativeAckRedeliveryDelayMs": 100}}),
        ),
        err(
            "Function",
            "spec.input",
            json!({"spec": {"input": null}}),
            json!({"spec": {"input": null, "sourceConfig": {"sourceType": "kafka"}}}),
        ),
    ]);
}

#[test]
fn mesh_graph() {
    let f = |name: &str, input: Value, output: Value| {
        json!({
            "name": name, "className": "C", "java": {"jar": "j.jar"}, "input": input,
            "output": output, "pulsar": {"pulsarConfig": "p"}
        })
    };
    check(vec![
        err(
            "FunctionMesh",
            "spec",
            json!({"spec": {"sources": null, "functions": null, "sinks": null}}),
            json!({}),
        ),
        err(
            "FunctionMesh",
            "spec.functions[0].name",
            json!({"spec": {"functions": [f("", json!({"topics": ["raw"]}), json!({"topic": "enriched"}))]}}),
            json!({}),
        ),
        err(
            "FunctionMesh",
            "spec.functions[1].name",
            json!({"spec": {"functions": [
            f("enrich", json!({"topics": ["raw"]}), json!({"topic": "enriched"})),
            f("enrich", json!({"topics": ["raw"]}), json!({"topic": "other"}))]}}),
            json!({"spec": {"functions": [
            f("enrich", json!({"topics": ["raw"]}), json!({"topic": "enriched"})),
            f("audit", json!({"topics": ["enriched"]}), json!({"topic": "raw-audit"}))]}}),
        ),
        err(
            "FunctionMesh",
            "spec.functions[0].name",
            json!({"spec": {"functions": [f("enrichment-with-a-name-this-long-and-more", json!({"topics": ["raw"]}), json!({"topic": "enriched"}))]}}),
            json!({}),
        ),
        err(
            "FunctionMesh",
            "spec.functions[0].input",
            json!({"spec": {"functions": [f("enrich", json!({"topics": ["raw"], "topicPattern": "enr.*"}), json!({"topic": "enriched"}))]}}),
            json!({}),
        ),
        err(
            "FunctionMesh",
            "spec.functions[1].subscriptionName",
            json!({"spec": {"functions": [
            {"name": "enrich", "className": "E", "java": {"jar": "e.jar"}, "input": {"topics": ["raw"]}, "output": {"topic": "enriched"}, "pulsar": {"pulsarConfig": "p"}, "subscriptionName": "s"},
            {"name": "audit", "className": "E", "java": {"jar": "e.jar"}, "input": {"topics": ["raw"]}, "output": {"topic": "enriched"}, "pulsar": {"pulsarConfig": "p"}, "subscriptionName": "s"}]}}),
            json!({"spec": {"functions": [
            {"name": "enrich", "className": "E", "java": {"jar": "e.jar"}, "input": {"topics": ["raw"]}, "output": {"topic": "enriched"}, "pulsar": {"pulsarConfig": "p"}, "subscriptionName": "s"},
            {"name": "audit", "className": "E", "java": {"jar": "e.jar"}, "input": {"topics": ["raw"]}, "output": {"topic": "enriched"}, "pulsar": {"pulsarConfig": "p"}, "subscriptionName": "t"}]}}),
        ),
        err(
            "FunctionMesh",
            "spec.functions[0].input",
            json!({"spec": {"sources": [{"name": "cdc", "className": "C", "java": {"jar": "c.jar"}, "output": {"topic": "raw", "sinkSchemaType": "JSON"}, "sourceConfig": {}, "pulsar": {"pulsarConfig": "p"}}],
            "functions": [f("enrich", json!({"topics": ["raw"], "customSchemaSources": {"raw": "AVRO"}}), json!({"topic": "enriched"}))]}}),
            json!({"spec": {"sources": [{"name": "cdc", "className": "C", "java": {"jar": "c.jar"}, "output": {"topic": "raw", "sinkSchemaType": "JSON"}, "sourceConfig": {}, "pulsar": {"pulsarConfig": "p"}}],
            "functions": [f("enrich", json!({"topics": ["raw"], "customSchemaSources": {"raw": "json"}}), json!({"topic": "enriched"}))]}}),
        ),
        err(
            "FunctionMesh",
            "spec.functions[0].input.typeClassName",
            json!({"spec": {"sources": [{"name": "cdc", "className": "C", "java": {"jar": "c.jar"}, "output": {"topic": "raw", "typeClassName": "java.lang.String"}, "sourceConfig": {}, "pulsar": {"pulsarConfig": "p"}}],
            "functions": [f("enrich", json!({"topics": ["raw"], "typeClassName": "java.lang.Integer"}), json!({"topic": "enriched"}))]}}),
            json!({"spec": {"sources": [{"name": "cdc", "className": "C", "java": {"jar": "c.jar"}, "output": {"topic": "raw", "typeClassName": "java.lang.String"}, "sourceConfig": {}, "pulsar": {"pulsarConfig": "p"}}],
            "functions": [f("enrich", json!({"topics": ["raw"], "typeClassName": "java.lang.String"}), json!({"topic": "enriched"}))]}}),
        ),
        warn(
            "FunctionMesh",
            "spec.sinks[0].input",
            json!({"spec": {"sinks": [{"name": "index", "className": "I", "java": {"jar": "i.jar"}, "input": {"topics": ["enriched", "misspelt"]}, "sinkConfig": {}, "pulsar": {"pulsarConfig": "p"}}]}}),
            json!({}),
        ),
        warn(
            "FunctionMesh",
            "spec.functions[0].output.topic",
            json!({"spec": {"functions": [f("enrich", json!({"topics": ["raw"]}), json!({"topic": "elsewhere"}))]}}),
            json!({}),
        ),
    ]);
}

#[test]
fn generic_consumers_accept_any_producer_type() {
    // Pulsar IO sinks typed GenericObject/GenericRecord consume with AUTO_CONSUME: a source's
    // POJO output is theirs to read (the data-generator source into the HTTP sink).
    for generic in [
        "org.apache.pulsar.client.api.schema.GenericObject",
        "org.apache.pulsar.client.api.schema.GenericRecord",
    ] {
        let r = report(
            "FunctionMesh",
            json!({"spec": {
                "sources": [{"name": "people", "className": "S", "java": {"jar": "s.nar"},
                    "output": {"topic": "people", "typeClassName": "org.example.Person"},
                    "sourceConfig": {}, "pulsar": {"pulsarConfig": "p"}}],
                "sinks": [{"name": "hook", "className": "H", "java": {"jar": "h.nar"},
                    "input": {"topics": ["people"], "typeClassName": generic},
                    "sinkConfig": {}, "pulsar": {"pulsarConfig": "p"}}]}}),
        );
        assert!(r.is_valid(), "{generic}: {:?}", r.0);
    }
}

#[test]
fn mesh_cycles_are_warnings() {
    let f = |name: &str, input: &str, output: &str| {
        json!({
            "name": name, "className": "C", "java": {"jar": "j.jar"}, "input": {"topics": [input]},
            "output": {"topic": output}, "pulsar": {"pulsarConfig": "p"}
        })
    };
    let r = report(
        "FunctionMesh",
        json!({"spec": {"sources": null, "sinks": null, "functions": [
        f("a", "t1", "t2"), f("b", "t2", "t1")]}}),
    );
    assert!(r.is_valid(), "{:?}", r.0);
    assert!(
        r.warnings().any(|d| d.message.contains("form a cycle")),
        "{:?}",
        r.0
    );
    let acyclic = report("FunctionMesh", json!({}));
    assert!(!acyclic.0.iter().any(|d| d.message.contains("cycle")));
}

#[test]
fn parsing() {
    check(vec![
        warn(
            "Function",
            "spec.maxReplica",
            json!({"spec": {"maxReplica": 3}}),
            json!({"spec": {"maxReplicas": 3}}),
        ),
        warn(
            "Function",
            "spec.input.topic",
            json!({"spec": {"input": {"topic": "in"}}}),
            json!({}),
        ),
        warn(
            "Function",
            "spec.pod.nodeSelectr",
            json!({"spec": {"pod": {"nodeSelectr": {"a": "b"}}}}),
            json!({"spec": {"pod": {"nodeSelector": {"a": "b"}}}}),
        ),
        err(
            "Function",
            "spec.replicas",
            json!({"spec": {"replicas": "two"}}),
            json!({"spec": {"replicas": 2}}),
        ),
        err(
            "Function",
            "spec.processingGuarantee",
            json!({"spec": {"processingGuarantee": "exactly_once"}}),
            json!({"spec": {"processingGuarantee": "effectively_once"}}),
        ),
        err("Function", "kind", json!({"kind": "Functoin"}), json!({})),
        err(
            "Function",
            "apiVersion",
            json!({"apiVersion": "compute.functionmesh.io/v1"}),
            json!({}),
        ),
    ]);
    let r = report("Function", json!({"spec": {"maxReplica": 3}}));
    let d = r.warnings().next().expect("a warning");
    assert_eq!(d.hint.as_deref(), Some("did you mean `maxReplicas`?"));
    // Free-form configs keep any key without warnings.
    let r = report(
        "Function",
        json!({"spec": {"funcConfig": {"anything": {"deep": [1]}}}}),
    );
    assert!(r.0.is_empty(), "{:?}", r.0);
}

#[test]
fn every_error_is_reported_at_once() {
    let r = report(
        "Function",
        json!({"spec": {
            "replicas": 5, "maxReplicas": 3, "deadLetterTopic": "dlq", "logTopic": "a/b", "pulsar": null
        }}),
    );
    let paths: Vec<&str> = r.errors().map(|d| d.path.as_str()).collect();
    for p in [
        "spec.maxReplicas",
        "spec.maxMessageRetry",
        "spec.logTopic",
        "spec.pulsar.pulsarConfig",
    ] {
        assert!(paths.contains(&p), "{p} missing from {paths:?}");
    }
    let d = r.errors().find(|d| d.path == "spec.maxReplicas").unwrap();
    assert!(
        d.to_string()
            .starts_with("spec.maxReplicas: maxReplicas (3) must be greater"),
        "{d}"
    );
    assert!(d.hint.is_some());
}
