//! The Argo CD health check (`manifests/argocd/health/conditions.lua`) run by real Lua
//! interpreters — Lua 5.1 (the language of gopher-lua, which Argo CD embeds) and 5.4, both
//! installed by scripts/install-deps.sh — the way Argo CD runs it — `obj` a global,
//! the script's `hs` the answer — against statuses the operator's own code computes
//! (`fmesh_operator::status`, `fmesh_operator::conditions`). No cluster needed.

use std::io::Write;
use std::process::{Command, Stdio};

use fmesh_crds::diagnostic::{FieldPath, Report};
use fmesh_e2e::bundle;
use fmesh_e2e::install;
use fmesh_operator::conditions;
use fmesh_operator::status;
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use serde_json::{Value, json};

/// `value` as a Lua expression.
fn lua(value: &Value) -> String {
    match value {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let mut out = String::from("\"");
            for b in s.bytes() {
                match b {
                    b'"' | b'\\' => out.push_str(&format!("\\{}", b as char)),
                    0x20..=0x7e => out.push(b as char),
                    _ => out.push_str(&format!("\\{b:03}")),
                }
            }
            out.push('"');
            out
        }
        Value::Array(a) => format!("{{{}}}", a.iter().map(lua).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("[{}] = {}", lua(&json!(k)), lua(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// (hs.status, hs.message) of the health check on `obj`, the same from both interpreters.
fn health(obj: &Value) -> (String, String) {
    let answers: Vec<(String, String)> = ["lua5.1", "lua5.4"]
        .iter()
        .map(|lua| health_with(lua, obj))
        .collect();
    assert_eq!(answers[0], answers[1], "lua5.1 and lua5.4 disagree");
    answers[0].clone()
}

fn health_with(interpreter: &str, obj: &Value) -> (String, String) {
    let checks = bundle::read_health(&install::workspace()).expect("health checks");
    let script = &checks["conditions.lua"];
    let program = format!(
        "obj = {}\nlocal hs = (function()\n{script}\nend)()\nio.write(hs.status, \"\\n\", hs.message)\n",
        lua(obj)
    );
    let mut child = Command::new(interpreter)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{interpreter}: {e} (scripts/install-deps.sh installs it)"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(program.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "lua: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (s, m) = text.split_once('\n').expect("status and message");
    (s.into(), m.into())
}

fn now() -> Time {
    conditions::now()
}

fn sts(generation: i64, observed: i64, replicas: i32, ready: i32, updated: i32) -> StatefulSet {
    StatefulSet {
        metadata: ObjectMeta {
            generation: Some(generation),
            ..Default::default()
        },
        status: Some(StatefulSetStatus {
            observed_generation: Some(observed),
            replicas,
            ready_replicas: Some(ready),
            updated_replicas: Some(updated),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn object(kind: &str, generation: i64, spec: Value, status: Option<Value>) -> Value {
    let mut o = json!({
        "apiVersion": "compute.functionmesh.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "default", "generation": generation},
        "spec": spec,
    });
    if let Some(s) = status {
        o["status"] = s;
    }
    o
}

fn workload(generation: i64, desired: i32, s: &StatefulSet, apply_error: Option<&str>) -> Value {
    let st = status::workload(
        None,
        Some(generation),
        desired,
        "sel".into(),
        Some(s),
        apply_error,
        &now(),
    );
    serde_json::to_value(st).unwrap()
}

#[test]
fn all_replicas_ready_is_healthy() {
    let st = workload(3, 2, &sts(1, 1, 2, 2, 2), None);
    for kind in ["Function", "Source", "Sink"] {
        let (s, m) = health(&object(kind, 3, json!({"replicas": 2}), Some(st.clone())));
        assert_eq!(s, "Healthy", "{kind}: {m}");
        assert_eq!(m, "2/2 replicas ready");
    }
}

#[test]
fn rolling_out_is_progressing() {
    // The StatefulSet has not caught up with its spec, then replicas are not ready yet.
    for s in [sts(2, 1, 2, 2, 2), sts(1, 1, 2, 1, 2)] {
        let st = workload(1, 2, &s, None);
        let (h, m) = health(&object("Function", 1, json!({"replicas": 2}), Some(st)));
        assert_eq!(h, "Progressing", "{m}");
        assert!(m.starts_with("RollingOut: "), "{m}");
    }
}

#[test]
fn failed_child_write_is_degraded() {
    let st = workload(1, 1, &sts(1, 1, 1, 1, 1), Some("statefulsets is forbidden"));
    let (h, m) = health(&object("Sink", 1, json!({}), Some(st)));
    assert_eq!(h, "Degraded");
    assert_eq!(m, "ChildApplyFailed: statefulsets is forbidden");
}

#[test]
fn invalid_spec_is_degraded_with_every_error() {
    let mut report = Report::default();
    report.error(
        &FieldPath::root("spec").field("replicas"),
        "must be at least 0",
        "set 0 or more",
    );
    report.error(
        &FieldPath::root("spec").field("input"),
        "no topic",
        "set input.topics",
    );
    let st = status::invalid(None, Some(4), "sel".into(), &report, &now());
    let (h, m) = health(&object(
        "Source",
        4,
        json!({}),
        Some(serde_json::to_value(st).unwrap()),
    ));
    assert_eq!(h, "Degraded");
    assert!(m.starts_with("InvalidSpec: "), "{m}");
    assert!(
        m.contains("spec.replicas") && m.contains("spec.input"),
        "{m}"
    );
}

#[test]
fn stale_status_is_progressing_even_if_it_was_healthy_or_invalid() {
    let healthy = workload(1, 1, &sts(1, 1, 1, 1, 1), None);
    let (h, m) = health(&object("Function", 2, json!({}), Some(healthy)));
    assert_eq!(h, "Progressing");
    assert!(
        m.contains("generation 2") && m.contains("status is of 1"),
        "{m}"
    );

    let st = status::invalid(None, Some(1), "sel".into(), &Report::default(), &now());
    let (h, _) = health(&object(
        "Function",
        2,
        json!({}),
        Some(serde_json::to_value(st).unwrap()),
    ));
    assert_eq!(h, "Progressing", "a fix in generation 2 is not yet judged");
}

#[test]
fn no_status_is_progressing() {
    for status in [None, Some(json!({})), Some(json!({"conditions": []}))] {
        let (h, m) = health(&object("FunctionMesh", 1, json!({}), status));
        assert_eq!(h, "Progressing");
        assert!(m.contains("Waiting for the fmesh operator"), "{m}");
    }
}

#[test]
fn scaled_to_zero_is_suspended() {
    let st = workload(1, 0, &sts(1, 1, 0, 0, 0), None);
    let (h, m) = health(&object("Function", 1, json!({"replicas": 0}), Some(st)));
    assert_eq!(h, "Suspended", "{m}");
}

/// The mesh's status as the operator assembles it.
fn mesh_status(generation: i64, ready: bool, degraded: bool, detail: &str) -> Value {
    let wants = conditions::mesh_wants(ready, degraded, detail);
    json!({
        "conditions": conditions::merge(None, &wants, Some(generation), &now()),
        "observedGeneration": generation,
    })
}

#[test]
fn mesh_health_follows_its_members() {
    let (h, m) = health(&object(
        "FunctionMesh",
        1,
        json!({}),
        Some(mesh_status(1, true, false, "3/3 members running")),
    ));
    assert_eq!((h.as_str(), m.as_str()), ("Healthy", "3/3 members running"));

    let detail = "2/3 members running; not running: enrich Pending";
    let (h, m) = health(&object(
        "FunctionMesh",
        1,
        json!({}),
        Some(mesh_status(1, false, false, detail)),
    ));
    assert_eq!(h, "Progressing");
    assert_eq!(m, format!("MembersProgressing: {detail}"));

    let detail = "2/3 members running; not running: enrich Invalid";
    let (h, m) = health(&object(
        "FunctionMesh",
        1,
        json!({}),
        Some(mesh_status(1, false, true, detail)),
    ));
    assert_eq!(h, "Degraded");
    assert_eq!(m, format!("MemberDegraded: {detail}"));

    let (h, _) = health(&object(
        "FunctionMesh",
        2,
        json!({}),
        Some(mesh_status(1, true, false, "3/3 members running")),
    ));
    assert_eq!(h, "Progressing");
}

#[test]
fn argocd_cm_carries_the_check_for_every_kind() {
    let ws = install::workspace();
    let text = std::fs::read_to_string(ws.join("manifests/argocd/argocd-cm.yaml"))
        .expect("argocd-cm.yaml");
    let cm: Value = serde_saphyr::from_str(&text).expect("YAML");
    let lua = &bundle::read_health(&ws).unwrap()["conditions.lua"];
    for kind in ["Function", "Source", "Sink", "FunctionMesh"] {
        let key = format!("resource.customizations.health.compute.functionmesh.io_{kind}");
        assert_eq!(cm["data"][&key].as_str(), Some(lua.as_str()), "{key}");
    }
    let app: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(ws.join("manifests/argocd/application.yaml")).unwrap(),
    )
    .unwrap();
    assert_eq!(app["kind"], "Application");
    let path = app["spec"]["source"]["path"].as_str().unwrap();
    assert!(ws.join(path).join("kustomization.yaml").is_file(), "{path}");
}
