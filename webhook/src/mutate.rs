//! Defaulting as an RFC 6902 patch that only adds absent fields.
//!
//! The object is parsed into the typed API, defaulted by `fmesh_crds`, serialized, and walked
//! beside what was sent. Only keys absent from an object the user sent become `add`
//! operations: a value written differently (a number as `1.0`), a field the typed API does not
//! know, or an array element is never touched, so defaults never rewrite what the user wrote
//! and never shift an array. Applying the patch and defaulting again yields no operation, so
//! the webhook is idempotent under reinvocation. (A direct walk, not a general JSON diff: the
//! diff of a 20-member mesh cost more than everything else in the request together.)

use std::fmt::Write;

use fmesh_crds::Resource;
use serde_json::{Map, Value};

/// The `add` operations that default `original` (the review's `object`), as JSON.
pub fn defaults_patch(
    original: &Value,
    res: &Resource,
) -> Result<Option<Value>, serde_json::Error> {
    defaults_patch_owned(original, res.clone())
}

/// [`defaults_patch`] defaulting `res` itself (admission owns it: no copy of a large mesh).
pub fn defaults_patch_owned(
    original: &Value,
    mut defaulted: Resource,
) -> Result<Option<Value>, serde_json::Error> {
    defaulted.apply_defaults();
    let typed = match &defaulted {
        Resource::Function(o) => serde_json::to_value(&o.spec)?,
        Resource::Source(o) => serde_json::to_value(&o.spec)?,
        Resource::Sink(o) => serde_json::to_value(&o.spec)?,
        Resource::FunctionMesh(o) => serde_json::to_value(&o.spec)?,
        Resource::BackendConfig(_) => return Ok(None),
    };
    let mut ops = Vec::new();
    match original.get("spec") {
        Some(sent) if !sent.is_null() => {
            additions(sent, typed, &mut String::from("/spec"), &mut ops);
        }
        _ if original.is_object() => ops.push(add_op("/spec".into(), typed)),
        _ => {}
    }
    Ok((!ops.is_empty()).then(|| Value::Array(ops)))
}

/// Appends an `add` for every key of `after` missing from the matching object in `sent`.
fn additions(sent: &Value, after: Value, pointer: &mut String, ops: &mut Vec<Value>) {
    match (sent, after) {
        (Value::Object(sent), Value::Object(after)) => {
            for (key, value) in after {
                let len = pointer.len();
                pointer.push('/');
                push_escaped(pointer, &key);
                match sent.get(&key) {
                    None if !value.is_null() => ops.push(add_op(pointer.clone(), value)),
                    None => {}
                    Some(inner) => additions(inner, value, pointer, ops),
                }
                pointer.truncate(len);
            }
        }
        (Value::Array(sent), Value::Array(after)) => {
            for (i, (inner, value)) in sent.iter().zip(after).enumerate() {
                let len = pointer.len();
                pointer.push('/');
                // Writing to a String cannot fail.
                let _ = write!(pointer, "{i}");
                additions(inner, value, pointer, ops);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// Appends `key` as an RFC 6901 reference token (`~` → `~0`, `/` → `~1`).
fn push_escaped(pointer: &mut String, key: &str) {
    for c in key.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

fn add_op(path: String, value: Value) -> Value {
    let mut op = Map::new();
    op.insert("op".into(), Value::from("add"));
    op.insert("path".into(), Value::from(path));
    op.insert("value".into(), value);
    Value::Object(op)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fmesh_crds::Parsed;
    use serde_json::json;

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

    #[test]
    fn an_object_without_spec_gets_the_whole_defaulted_spec() {
        let doc = json!({"apiVersion": "compute.functionmesh.io/v1alpha1", "kind": "FunctionMesh",
            "metadata": {"name": "m"}});
        let Parsed::Resource(res, _) = Resource::parse(&doc) else {
            return;
        };
        if let Some(patch) = defaults_patch(&doc, &res).unwrap() {
            let ops = patch.as_array().unwrap();
            assert_eq!(ops.len(), 1, "{patch}");
            assert_eq!(ops[0]["path"], "/spec");
            let out = apply(&doc, &patch);
            assert_eq!(defaults_patch(&out, &parse(&out)).unwrap(), None);
        }
    }

    #[test]
    fn pointer_segments_are_escaped() {
        let mut ops = Vec::new();
        additions(
            &json!({"a/b": {}}),
            json!({"a/b": {"c~d": 1}}),
            &mut String::new(),
            &mut ops,
        );
        assert_eq!(
            ops,
            vec![json!({"op": "add", "path": "/a~1b/c~0d", "value": 1})]
        );
    }
}
