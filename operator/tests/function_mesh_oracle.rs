//! fmesh's builders against Function Mesh's own (`tools/function-mesh-oracle`): every example,
//! fixture and Function Mesh sample CR is rendered by both and compared field by field. The
//! only differences allowed are listed in [`ALLOWED`], each tied to an entry of
//! `docs/function-mesh.md`. The oracle is built on first use (Go required: the test fails,
//! never skips, without it). `FMESH_ORACLE_REPORT=1` prints each file's differences.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fmesh_crds::{Parsed, Resource};
use fmesh_operator::render::render_with;
use fmesh_operator::{Capabilities, OperatorConfig};
use serde_json::{Map, Value};

/// A difference fmesh keeps on purpose: a path pattern (`*` matches one segment, a trailing
/// `**` any rest) and the `docs/function-mesh.md` entry that explains it.
struct Allowed {
    path: &'static str,
    doc: &'static str,
}

const ALLOWED: &[Allowed] = &[
    Allowed {
        path: "*/metadata/labels/**",
        doc: "labels",
    },
    Allowed {
        path: "StatefulSet/spec/selector/**",
        doc: "labels",
    },
    Allowed {
        path: "StatefulSet/spec/template/metadata/labels/**",
        doc: "labels",
    },
    Allowed {
        path: "Service/spec/selector/**",
        doc: "labels",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/affinity/**",
        doc: "labels",
    },
    Allowed {
        path: "*/metadata/annotations",
        doc: "annotations",
    },
    Allowed {
        path: "*/metadata/annotations/**",
        doc: "annotations",
    },
    Allowed {
        path: "StatefulSet/spec/template/metadata/annotations/**",
        doc: "annotations",
    },
    Allowed {
        path: "StatefulSet/spec/updateStrategy",
        doc: "rollout",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/securityContext/**",
        doc: "security-context",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/securityContext",
        doc: "security-context",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/securityContext/**",
        doc: "security-context",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/command/prefix",
        doc: "command",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/command/flags/**",
        doc: "command",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/command/functionDetails",
        doc: "containers",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/command/functionDetails/processingGuarantees",
        doc: "function-details",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/command/functionDetails/runtime",
        doc: "function-details",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/command/functionDetails/resources/**",
        doc: "function-details",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/command/functionDetails/autoAck",
        doc: "function-details",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/command/functionDetails/userConfig",
        doc: "function-details",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/command/functionDetails/source/subscriptionName",
        doc: "function-details",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/command/functionDetails/source/inputSpecs",
        doc: "function-details",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/command/functionDetails/source/subscriptionType",
        doc: "open-findings",
    },
    Allowed {
        path: "Service/spec/publishNotReadyAddresses",
        doc: "service",
    },
    Allowed {
        path: "Service/spec/ports/*/protocol",
        doc: "service",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/resources",
        doc: "container",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/resources/**",
        doc: "container",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/imagePullPolicy",
        doc: "container",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/envFrom",
        doc: "container",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/env",
        doc: "container",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/env/**",
        doc: "container",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/name",
        doc: "containers",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/image",
        doc: "containers",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/ports",
        doc: "containers",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/volumeMounts",
        doc: "downloads",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/containers/*/volumeMounts/**",
        doc: "downloads",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/volumes",
        doc: "downloads",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/volumes/**",
        doc: "downloads",
    },
    Allowed {
        path: "StatefulSet/spec/template/spec/initContainers",
        doc: "downloads",
    },
    Allowed {
        path: "HorizontalPodAutoscaler/spec/metrics",
        doc: "hpa",
    },
    Allowed {
        path: "HorizontalPodAutoscaler/spec/metrics/**",
        doc: "hpa",
    },
];

/// CRs Function Mesh's validating webhook refuses and fmesh accepts on purpose: a message
/// fragment and the `docs/function-mesh.md` entry.
const ACCEPTED_REJECTIONS: &[(&str, &str)] = &[
    ("resource requirement is invalid", "validation"),
    ("runtime cannot be empty", "validation"),
    ("must have java runtime specified", "validation"),
    ("sink config is not provided", "validation"),
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the operator crate sits in the repository")
        .to_path_buf()
}

fn oracle() -> PathBuf {
    let script = repo().join("tools/function-mesh-oracle/build.sh");
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "building the Function Mesh oracle failed (Go 1.25+ must be on PATH):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// Every CR file the repository holds, as (file, documents).
fn inputs() -> Vec<(String, Vec<Value>)> {
    let root = repo();
    let mut files = Vec::new();
    for dir in [
        "examples",
        "operator/tests/fixtures",
        "crds/tests/fixtures/function-mesh",
        "tools/function-mesh-oracle/third_party/function-mesh/config/samples",
    ] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        found.sort();
        files.extend(found);
    }
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
            let docs = docs.into_iter().filter(is_cr).map(with_namespace).collect();
            (rel(&root, &f), docs)
        })
        .filter(|(_, docs): &(String, Vec<Value>)| !docs.is_empty())
        .collect()
}

fn rel(root: &Path, f: &Path) -> String {
    f.strip_prefix(root).unwrap().display().to_string()
}

fn is_cr(d: &Value) -> bool {
    d["apiVersion"].as_str() == Some("compute.functionmesh.io/v1alpha1")
        && matches!(
            d["kind"].as_str(),
            Some("Function" | "Source" | "Sink" | "FunctionMesh")
        )
}

/// The namespace the API server gives a CR applied without one.
fn with_namespace(mut d: Value) -> Value {
    if d["metadata"]["namespace"].is_null() {
        d["metadata"]["namespace"] = "default".into();
    }
    d
}

fn fmesh_objects(doc: &Value) -> Result<Vec<Value>, String> {
    let res = match Resource::parse(doc) {
        Parsed::Resource(r, _) => *r,
        other => return Err(format!("fmesh does not parse it: {other:?}")),
    };
    let report = res.validate();
    if !report.is_valid() {
        let errors: Vec<String> = report.errors().map(|d| d.to_string()).collect();
        return Err(format!("fmesh rejects it: {}", errors.join("; ")));
    }
    let mut res = res;
    res.apply_defaults();
    Ok(render_with(
        &res,
        &OperatorConfig::default(),
        &Capabilities { vpa: true },
    )
    .into_iter()
    .filter(|o| {
        o["apiVersion"].as_str() != Some("compute.functionmesh.io/v1alpha1")
            && o["kind"] != "PodDisruptionBudget"
    })
    .collect())
}

fn oracle_objects(bin: &Path, docs: &[Value]) -> Vec<Value> {
    let mut child = Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = String::new();
    for d in docs {
        input.push_str("---\n");
        input.push_str(&serde_json::to_string(d).unwrap());
        input.push('\n');
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Normalises what is arbitrary: keys with null/empty values (Go's zero values serialize as
/// empty, Rust omits them), the `--function_details` JSON inside the command (compared as a
/// structure, not as a string), env and volume lists (compared by name).
fn normalise(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let n = match (k.as_str(), v) {
                    ("env" | "volumes" | "volumeMounts" | "ports", Value::Array(items)) => {
                        by_name(items)
                    }
                    ("command" | "args", Value::Array(items)) => command(items),
                    _ => normalise(v),
                };
                if !is_empty(&n) {
                    out.insert(k.clone(), n);
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
        other => other.clone(),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn by_name(items: &[Value]) -> Value {
    let mut m = Map::new();
    for (i, it) in items.iter().enumerate() {
        let key = it["name"]
            .as_str()
            .map(str::to_string)
            .or_else(|| it["mountPath"].as_str().map(str::to_string))
            .unwrap_or_else(|| i.to_string());
        m.insert(key, normalise(it));
    }
    Value::Object(m)
}

/// A `bash -c` command: its function details as JSON, its `--flag value` pairs as a map, the
/// rest (download steps) as the text before the instance's main.
fn command(items: &[Value]) -> Value {
    let Some(script) = items.iter().filter_map(Value::as_str).next_back() else {
        return Value::Array(items.to_vec());
    };
    let mut out = Map::new();
    let mut rest = script.to_string();
    if let Some(start) = script.find("--function_details '") {
        let body = &script[start + "--function_details '".len()..];
        if let Some(end) = body.find("' ") {
            if let Ok(d) = serde_json::from_str::<Value>(&body[..end]) {
                out.insert("functionDetails".into(), details(&d));
            }
            rest = format!("{}{}", &script[..start], &body[end + 1..]);
        }
    }
    let mut flags = BTreeMap::new();
    let tokens: Vec<&str> = rest.split_whitespace().collect();
    let mut prefix = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        if let Some(flag) = t.strip_prefix("--").filter(|_| !flags.is_empty() || i > 0) {
            let value = tokens
                .get(i + 1)
                .filter(|v| !v.starts_with("--"))
                .map(|v| v.trim_matches('"').to_string());
            i += 1 + usize::from(value.is_some());
            flags.insert(flag.to_string(), Value::from(value.unwrap_or_default()));
        } else {
            if flags.is_empty() {
                prefix.push(t);
            }
            i += 1;
        }
    }
    out.insert("flags".into(), Value::Object(flags.into_iter().collect()));
    out.insert("prefix".into(), Value::from(prefix.join(" ")));
    Value::Object(out)
}

/// Function details with their nested JSON strings parsed, and proto3 defaults (0, false,
/// "") dropped: the instance reads an absent field as its default.
fn details(d: &Value) -> Value {
    match d {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let v = match v {
                    Value::String(s) if s.starts_with('{') => {
                        serde_json::from_str(s).unwrap_or(v.clone())
                    }
                    _ => v.clone(),
                };
                let v = details(&v);
                let default = matches!(&v, Value::Bool(false) | Value::Null)
                    || v.as_str() == Some("")
                    || v.as_f64() == Some(0.0)
                    || is_empty(&v);
                if !default {
                    out.insert(k.clone(), v);
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn diff(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = format!("{path}/{k}");
                match (x.get(k), y.get(k)) {
                    (Some(a), Some(b)) => diff(&p, a, b, out),
                    _ => out.push(p),
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (a, b)) in x.iter().zip(y).enumerate() {
                diff(&format!("{path}/{i}"), a, b, out);
            }
        }
        _ if a == b => {}
        _ => out.push(path.to_string()),
    }
}

fn matches(pattern: &str, path: &str) -> bool {
    let pat: Vec<&str> = pattern.split('/').collect();
    let segs: Vec<&str> = path.split('/').collect();
    for (i, p) in pat.iter().enumerate() {
        if *p == "**" {
            return true;
        }
        match segs.get(i) {
            Some(s) if p == s || *p == "*" => {}
            _ => return false,
        }
    }
    pat.len() == segs.len()
}

fn key(o: &Value) -> String {
    format!(
        "{} {}",
        o["kind"].as_str().unwrap_or("?"),
        o["metadata"]["name"].as_str().unwrap_or("?")
    )
}

/// Differences of one CR: paths `<kind> <name>/<json path>` where the two disagree.
fn compare(fmesh: &[Value], oracle: &[Value]) -> Vec<String> {
    let ours: BTreeMap<String, Value> = fmesh.iter().map(|o| (key(o), normalise(o))).collect();
    let theirs: BTreeMap<String, Value> = oracle.iter().map(|o| (key(o), normalise(o))).collect();
    let mut out = Vec::new();
    for k in ours
        .keys()
        .chain(theirs.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        match (ours.get(k), theirs.get(k)) {
            (Some(a), Some(b)) => diff(k, a, b, &mut out),
            (Some(_), None) => out.push(format!("{k} (only fmesh)")),
            (None, Some(_)) => out.push(format!("{k} (only Function Mesh)")),
            (None, None) => {}
        }
    }
    out
}

/// The path without its `<kind> <name>` head, with the kind kept: `StatefulSet/spec/...`.
fn shape(path: &str) -> String {
    let (head, rest) = path.split_once('/').unwrap_or((path, ""));
    let kind = head.split(' ').next().unwrap_or(head);
    if rest.is_empty() {
        head.to_string()
    } else {
        format!("{kind}/{rest}")
    }
}

#[test]
fn fmesh_builds_what_function_mesh_builds() {
    let bin = oracle();
    let report = std::env::var_os("FMESH_ORACLE_REPORT").is_some();
    let mut unexplained = Vec::new();
    let mut compared = 0;
    for (file, docs) in inputs() {
        let theirs = oracle_objects(&bin, &docs);
        assert_eq!(theirs.len(), docs.len(), "{file}: one oracle line per CR");
        for (doc, theirs) in docs.iter().zip(&theirs) {
            let name = format!(
                "{file} {}/{}",
                doc["kind"].as_str().unwrap(),
                doc["metadata"]["name"].as_str().unwrap_or("?")
            );
            let ours = fmesh_objects(doc);
            let theirs = match (theirs, &ours) {
                (Value::Array(objects), Ok(_)) => objects,
                (Value::Array(_), Err(e)) => {
                    unexplained.push(format!("{name}: Function Mesh accepts it, {e}"));
                    continue;
                }
                (rejected, Err(_)) => {
                    if report {
                        eprintln!("| {name} | both reject | {} |", rejected["rejected"]);
                    }
                    continue;
                }
                (rejected, Ok(_)) => {
                    let why = rejected["rejected"].as_str().unwrap_or_default();
                    if !ACCEPTED_REJECTIONS.iter().any(|(m, _)| why.contains(m)) {
                        unexplained.push(format!("{name}: Function Mesh rejects it: {why}"));
                    }
                    continue;
                }
            };
            let ours = ours.expect("matched Ok above");
            compared += 1;
            let diffs: Vec<String> = compare(&ours, theirs).iter().map(|p| shape(p)).collect();
            let left: Vec<&String> = diffs
                .iter()
                .filter(|p| !ALLOWED.iter().any(|a| matches(a.path, p)))
                .collect();
            if report {
                let allowed: std::collections::BTreeSet<&str> = diffs
                    .iter()
                    .filter_map(|p| ALLOWED.iter().find(|a| matches(a.path, p)))
                    .map(|a| a.doc)
                    .collect();
                eprintln!("| {name} | {} | {:?} |", left.len(), allowed);
            }
            unexplained.extend(left.into_iter().map(|p| format!("{name}: {p}")));
        }
    }
    assert!(compared >= 10, "only {compared} CRs compared");
    assert!(
        unexplained.is_empty(),
        "{} differences from Function Mesh not explained in docs/function-mesh.md:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
}

#[test]
fn patterns_match_segments() {
    assert!(matches(
        "StatefulSet/metadata/labels/*",
        "StatefulSet/metadata/labels/app"
    ));
    assert!(!matches(
        "StatefulSet/metadata/labels/*",
        "StatefulSet/metadata/labels"
    ));
    assert!(matches("StatefulSet/spec/**", "StatefulSet/spec/a/b"));
    assert!(!matches("Service/spec/**", "StatefulSet/spec/a"));
}
