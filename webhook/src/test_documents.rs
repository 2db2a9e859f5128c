//! The repository's fmesh documents, for tests that check a fast path against the exact one
//! on real input: the examples and the Function Mesh samples `fmesh_crds` is tested with.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Every document of every YAML file in `examples/` and the crds' Function Mesh fixtures.
pub fn documents() -> Vec<(PathBuf, Value)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut docs = Vec::new();
    for dir in ["examples", "crds/tests/fixtures/function-mesh"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let values: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
            docs.extend(values.into_iter().map(|v| (path.clone(), v)));
        }
    }
    assert!(docs.len() >= 10, "documents missing: {}", docs.len());
    docs
}
