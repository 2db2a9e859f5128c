//! Defaulting as an RFC 6902 patch that only adds absent fields.
//!
//! The typed object as sent is serialized, defaulted by `fmesh_crds`, serialized again, and the
//! two are walked side by side. Only keys absent from an object in the first become `add`
//! operations: a value the user wrote, a field the typed API does not know (the apiserver
//! keeps it: the patch does not touch it) or an array element is never rewritten, so defaults
//! never overwrite what the user wrote and never shift an array. Applying the patch and
//! defaulting again yields no operation, so the webhook is idempotent under reinvocation.
//! (A direct walk, not a general JSON diff: the diff of a 20-member mesh cost more than
//! everything else in the request together.)

use std::fmt::Write;

use fmesh_crds::Resource;
use serde_json::{Map, Value};

use crate::shape::Shape;

/// The `add` operations that default `res` (the typed object as sent), as JSON.
pub fn defaults_patch(res: &Resource) -> Result<Option<Value>, PatchError> {
    // Only the keys of what was sent are read: its shape, not a `Value`.
    let sent = match res {
        Resource::Function(o) => Shape::of(&o.spec)?,
        Resource::Source(o) => Shape::of(&o.spec)?,
        Resource::Sink(o) => Shape::of(&o.spec)?,
        Resource::FunctionMesh(o) => Shape::of(&o.spec)?,
        Resource::BackendConfig(_) => return Ok(None),
    };
    let mut defaulted = res.clone();
    defaulted.apply_defaults();
    let after = match &defaulted {
        Resource::Function(o) => serde_json::to_value(&o.spec)?,
        Resource::Source(o) => serde_json::to_value(&o.spec)?,
        Resource::Sink(o) => serde_json::to_value(&o.spec)?,
        Resource::FunctionMesh(o) => serde_json::to_value(&o.spec)?,
        Resource::BackendConfig(_) => return Ok(None),
    };
    let mut ops = Vec::new();
    additions(&sent, after, &mut String::from("/spec"), &mut ops);
    Ok((!ops.is_empty()).then(|| Value::Array(ops)))
}

/// Why the defaults could not be written out (a type that does not serialize to JSON).
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    #[error("the object as sent does not serialize: {0}")]
    Sent(#[from] crate::shape::Error),
    #[error("the defaulted object does not serialize: {0}")]
    Defaulted(#[from] serde_json::Error),
}

/// Appends an `add` for every key of `after` missing from the matching object in `sent`.
fn additions(sent: &Shape, after: Value, pointer: &mut String, ops: &mut Vec<Value>) {
    match (sent, after) {
        (Shape::Map(_), Value::Object(after)) => {
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
        (Shape::Seq(sent), Value::Array(after)) => {
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
        let patch = defaults_patch(&parse(&doc)).unwrap().unwrap();
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
        assert_eq!(defaults_patch(&parse(&out)).unwrap(), None);
    }

    #[test]
    fn never_rewrites_what_the_user_wrote() {
        // Fields the typed API does not know stay as sent; set values are not replaced;
        // arrays keep their elements and order.
        let doc = json!({"apiVersion": "compute.functionmesh.io/v1alpha1", "kind": "FunctionMesh",
            "metadata": {"name": "m"},
            "spec": {"extra": {"kept": true}, "functions": [
                {"name": "a", "tenant": "acme", "replicas": 3, "future": [1, 2]},
                {"name": "b", "input": {"topics": ["x", "y"]}}]}});
        let patch = defaults_patch(&parse(&doc)).unwrap().unwrap();
        for op in patch.as_array().unwrap() {
            assert_eq!(op["op"], "add");
            let path = op["path"].as_str().unwrap();
            for written in [
                "/spec/extra",
                "/spec/functions/0/tenant",
                "/spec/functions/0/replicas",
                "/spec/functions/0/future",
                "/spec/functions/1/input/topics",
            ] {
                assert!(!path.starts_with(written), "{path} rewrites {written}");
            }
        }
        let out = apply(&doc, &patch);
        assert_eq!(out["spec"]["extra"], json!({"kept": true}));
        assert_eq!(out["spec"]["functions"][0]["future"], json!([1, 2]));
        assert_eq!(out["spec"]["functions"][0]["tenant"], "acme");
        assert_eq!(out["spec"]["functions"][1]["tenant"], "public");
        assert_eq!(
            out["spec"]["functions"][1]["input"]["topics"],
            json!(["x", "y"])
        );
        assert_eq!(out["spec"]["functions"].as_array().unwrap().len(), 2);
        assert_eq!(defaults_patch(&parse(&out)).unwrap(), None);
    }

    #[test]
    fn pointer_segments_are_escaped() {
        let mut ops = Vec::new();
        additions(
            &Shape::of(&json!({"a/b": {}})).unwrap(),
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
