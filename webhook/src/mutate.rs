//! Defaulting as an RFC 6902 patch that only adds absent fields.
//!
//! The object is parsed into the typed API, defaulted by `fmesh_crds`, serialized, and diffed
//! against what was sent. Only `add` operations whose parent already exists as an object are
//! kept: anything else (a number written as `1.0`, a field the typed API does not know) would
//! rewrite what the user wrote, and defaults never do that. Applying the patch and defaulting
//! again yields no operation, so the webhook is idempotent under reinvocation.

use fmesh_crds::Resource;
use json_patch::PatchOperation;
use serde_json::{Value, json};

/// The `add` operations that default `original` (the review's `object`), as JSON.
pub fn defaults_patch(
    original: &Value,
    res: &Resource,
) -> Result<Option<Value>, serde_json::Error> {
    let mut defaulted = res.clone();
    defaulted.apply_defaults();
    let typed = match &defaulted {
        Resource::Function(o) => serde_json::to_value(&o.spec)?,
        Resource::Source(o) => serde_json::to_value(&o.spec)?,
        Resource::Sink(o) => serde_json::to_value(&o.spec)?,
        Resource::FunctionMesh(o) => serde_json::to_value(&o.spec)?,
        Resource::BackendConfig(_) => return Ok(None),
    };
    let before = json!({ "spec": original.get("spec").cloned().unwrap_or(Value::Null) });
    let before = if before["spec"].is_null() {
        json!({})
    } else {
        before
    };
    let after = json!({ "spec": typed });
    let ops: Vec<PatchOperation> = json_patch::diff(&before, &after)
        .0
        .into_iter()
        .filter(|op| match op {
            PatchOperation::Add(add) => parent_is_object(&before, add.path.as_str()),
            _ => false,
        })
        .collect();
    if ops.is_empty() {
        return Ok(None);
    }
    serde_json::to_value(ops).map(Some)
}

/// Whether the JSON pointer's parent resolves to an object in `doc` (so `add` inserts a key
/// and never shifts an array).
fn parent_is_object(doc: &Value, pointer: &str) -> bool {
    let parent = pointer.rsplit_once('/').map_or("", |(p, _)| p);
    doc.pointer(parent).is_some_and(Value::is_object)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fmesh_crds::Parsed;

    fn parse(doc: &Value) -> Resource {
        match Resource::parse(doc) {
            Parsed::Resource(r, _) => *r,
            other => panic!("{other:?}"),
        }
    }

    fn apply(doc: &Value, patch: &Value) -> Value {
        let mut out = doc.clone();
        let p: json_patch::Patch = serde_json::from_value(patch.clone()).unwrap();
        json_patch::patch(&mut out, &p).unwrap();
        out
    }

    #[test]
    fn adds_defaults_only_and_is_idempotent() {
        let doc = json!({"apiVersion": "compute.functionmesh.io/v1alpha1", "kind": "Function",
            "metadata": {"name": "f"},
            "spec": {"input": {"topics": ["in"]}, "autoAck": false, "replicas": 2,
                     "java": {"jar": "f.jar"}, "className": "C"}});
        let patch = defaults_patch(&doc, &parse(&doc)).unwrap().unwrap();
        assert!(
            patch.as_array().unwrap().iter().all(|op| op["op"] == "add"),
            "{patch}"
        );
        let out = apply(&doc, &patch);
        assert_eq!(out["spec"]["autoAck"], false);
        assert_eq!(out["spec"]["replicas"], 2);
        assert_eq!(out["spec"]["minReplicas"], 2);
        assert_eq!(out["spec"]["tenant"], "public");
        assert_eq!(out["spec"]["input"]["topics"], json!(["in"]));
        assert_eq!(out["spec"]["input"]["typeClassName"], "[B");
        assert_eq!(defaults_patch(&out, &parse(&out)).unwrap(), None);
    }

    #[test]
    fn never_rewrites_what_the_user_wrote() {
        // `1.0` is not how the typed API writes an integer; the patch must leave it alone.
        let doc = json!({"apiVersion": "compute.functionmesh.io/v1alpha1", "kind": "FunctionMesh",
            "metadata": {"name": "m"},
            "spec": {"functions": [{"name": "a", "replicas": 1.0}, {"name": "b"}]}});
        let Parsed::Resource(res, _) = Resource::parse(&doc) else {
            // A float replica count does not parse: then nothing is patched at all.
            return;
        };
        let patch = defaults_patch(&doc, &res).unwrap().unwrap();
        for op in patch.as_array().unwrap() {
            assert_eq!(op["op"], "add");
            assert_ne!(op["path"], "/spec/functions/0/replicas");
        }
        let out = apply(&doc, &patch);
        assert_eq!(out["spec"]["functions"][1]["tenant"], "public");
        assert_eq!(out["spec"]["functions"].as_array().unwrap().len(), 2);
    }
}
