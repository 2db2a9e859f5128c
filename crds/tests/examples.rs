//! The examples shipped in `examples/` are valid; `examples/invalid/` shows the errors it should.

use std::path::PathBuf;

use fmesh_crds::{Parsed, Resource, diagnostic::Report};
use serde_json::Value;

fn reports(dir: &str) -> Vec<(String, Report)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.retain(|f| f.extension().is_some_and(|e| e == "yaml"));
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        for doc in serde_saphyr::from_multiple::<Value>(&text).unwrap() {
            match Resource::parse(&doc) {
                Parsed::Resource(res, mut r) => {
                    r.extend(res.validate());
                    out.push((name.clone(), r));
                }
                Parsed::Invalid(r) => out.push((name.clone(), r)),
                Parsed::Other { .. } => {}
            }
        }
    }
    out
}

#[test]
fn examples_are_valid() {
    let all = reports("examples");
    assert!(all.len() >= 4);
    for (file, r) in all {
        assert!(r.is_valid(), "{file}: {:?}", r.0);
    }
}

#[test]
fn the_misspelt_example_names_the_unknown_field() {
    let all = reports("examples/invalid");
    let (_, r) = all
        .iter()
        .find(|(f, _)| f == "misspelt-field.yaml")
        .expect("misspelt-field.yaml");
    let lines: Vec<String> = r.0.iter().map(ToString::to_string).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("spec.functions[0].maxReplica: unknown field")),
        "{lines:#?}"
    );
}

#[test]
fn the_broken_example_shows_each_kind_of_finding() {
    let all = reports("examples/invalid");
    let (_, r) = all
        .iter()
        .find(|(f, _)| f == "broken-mesh.yaml")
        .expect("broken-mesh.yaml");
    assert!(!r.is_valid());
    let lines: Vec<String> = r.0.iter().map(ToString::to_string).collect();
    for expected in [
        "spec.functions[0].maxMessageRetry: dead letter topic is set",
        "spec.sinks[0].input: nothing in the mesh produces persistent://public/default/orders-enriched-v2",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(expected)),
            "{expected} not in {lines:#?}"
        );
    }
}
