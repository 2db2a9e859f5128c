//! Function Mesh users' YAML (fixtures in the shape of every sample Function Mesh documents)
//! must parse without unknown-field warnings, validate without errors, and round-trip
//! through the typed API unchanged.

use std::path::PathBuf;

use fmesh_crds::{Parsed, Resource};
use serde_json::Value;

fn fixtures() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/function-mesh");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let values: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        docs.extend(values.into_iter().map(|v| (name.clone(), v)));
    }
    assert!(docs.len() >= 6, "fixtures missing: {}", docs.len());
    docs
}

fn to_value(res: &Resource) -> Value {
    match res {
        Resource::Function(o) => serde_json::to_value(o),
        Resource::Source(o) => serde_json::to_value(o),
        Resource::Sink(o) => serde_json::to_value(o),
        Resource::FunctionMesh(o) => serde_json::to_value(o),
        Resource::BackendConfig(o) => serde_json::to_value(o),
    }
    .unwrap()
}

#[test]
fn function_mesh_samples_validate_unchanged() {
    let mut kinds = Vec::new();
    for (file, doc) in fixtures() {
        match Resource::parse(&doc) {
            Parsed::Resource(res, warnings) => {
                assert!(warnings.0.is_empty(), "{file}: {:?}", warnings.0);
                let report = res.validate();
                assert!(report.is_valid(), "{file}: {:?}", report.0);
                assert_eq!(
                    to_value(&res),
                    doc,
                    "{file}: the typed round-trip changed the object"
                );
                kinds.push(res.kind());
            }
            Parsed::Other { kind, .. } => assert_eq!(kind, "ConfigMap", "{file}"),
            Parsed::Invalid(r) => panic!("{file}: {:?}", r.0),
        }
    }
    for k in ["Function", "Source", "Sink", "FunctionMesh"] {
        assert!(kinds.contains(&k), "no {k} fixture");
    }
}

#[test]
fn defaults_do_not_change_what_users_wrote() {
    for (file, doc) in fixtures() {
        if let Parsed::Resource(mut res, _) = Resource::parse(&doc) {
            res.apply_defaults();
            let defaulted = to_value(&res);
            assert_subset(&doc, &defaulted, &file, "");
        }
    }
}

/// Every leaf in `small` is present and equal in `big`.
pub fn assert_subset(small: &Value, big: &Value, file: &str, at: &str) {
    match (small, big) {
        (Value::Object(s), Value::Object(b)) => {
            for (k, v) in s {
                let b = b
                    .get(k)
                    .unwrap_or_else(|| panic!("{file}: {at}.{k} was removed"));
                assert_subset(v, b, file, &format!("{at}.{k}"));
            }
        }
        (Value::Array(s), Value::Array(b)) => {
            assert_eq!(s.len(), b.len(), "{file}: {at} changed length");
            for (i, (s, b)) in s.iter().zip(b).enumerate() {
                assert_subset(s, b, file, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(small, big, "{file}: {at} was rewritten"),
    }
}
