//! Defaulting as an RFC 6902 patch that only adds absent fields.
//!
//! The typed spec as sent and a defaulted copy of it are serialized, and the defaulted one is
//! walked against the sent one. Only keys absent from an object of the sent spec become `add`
//! operations: a value the user wrote, a field the typed API does not know (the apiserver
//! keeps it: the patch does not touch it) or an array element is never rewritten, so defaults
//! never overwrite what the user wrote and never shift an array. Applying the patch and
//! defaulting again yields no operation, so the webhook is idempotent under reinvocation.
//! Not a general JSON diff: a diff may `replace` or `remove`, and may add array elements.

use fmesh_crds::Resource;
use serde_json::{Value, json};

/// The `add` operations that default `res` (the typed object as sent), as a JSON array, or
/// `None` if nothing is defaulted (or the kind has no defaults).
pub fn defaults_patch(res: &Resource) -> Result<Option<Value>, PatchError> {
    let mut defaulted = res.clone();
    defaulted.apply_defaults();
    let (Some(sent), Some(after)) = (spec_json(res)?, spec_json(&defaulted)?) else {
        return Ok(None);
    };
    let mut ops = Vec::new();
    additions(&sent, &after, &mut String::from("/spec"), &mut ops);
    Ok((!ops.is_empty()).then_some(Value::Array(ops)))
}

/// The spec of `res` as JSON; `None` for a kind admission does not default.
fn spec_json(res: &Resource) -> Result<Option<Value>, PatchError> {
    Ok(Some(match res {
        Resource::Function(o) => serde_json::to_value(&o.spec)?,
        Resource::Source(o) => serde_json::to_value(&o.spec)?,
        Resource::Sink(o) => serde_json::to_value(&o.spec)?,
        Resource::FunctionMesh(o) => serde_json::to_value(&o.spec)?,
        Resource::BackendConfig(_) => return Ok(None),
    }))
}

/// Appends to `ops` an `add` for each key `after` has and `sent` lacks (null values are
/// nothing to add), below `pointer`; keys both have and array elements both have are walked.
fn additions(sent: &Value, after: &Value, pointer: &mut String, ops: &mut Vec<Value>) {
    let len = pointer.len();
    match (sent, after) {
        (Value::Object(sent), Value::Object(after)) => {
            for (key, value) in after {
                pointer.push('/');
                pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                match sent.get(key) {
                    Some(inner) => additions(inner, value, pointer, ops),
                    None if value.is_null() => {}
                    None => ops.push(json!({"op": "add", "path": &*pointer, "value": value})),
                }
                pointer.truncate(len);
            }
        }
        (Value::Array(sent), Value::Array(after)) => {
            for (i, (inner, value)) in sent.iter().zip(after).enumerate() {
                pointer.push('/');
                pointer.push_str(&i.to_string());
                additions(inner, value, pointer, ops);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// Why the defaults could not be written out (a type that does not serialize to JSON).
#[derive(Debug, thiserror::Error)]
#[error("the object does not serialize: {0}")]
pub struct PatchError(#[from] serde_json::Error);

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
    fn pointers_escape_keys_and_nulls_are_not_added() {
        let sent = json!({"a/b": {}, "list": [{"x": 1}, {}]});
        let after = json!({"a/b": {"c~d": 1}, "list": [{"x": 1, "y": 2}, {}, {"z": 3}],
            "unset": null});
        let mut ops = Vec::new();
        additions(&sent, &after, &mut String::from("/spec"), &mut ops);
        assert_eq!(
            ops,
            vec![
                json!({"op": "add", "path": "/spec/a~1b/c~0d", "value": 1}),
                json!({"op": "add", "path": "/spec/list/0/y", "value": 2}),
            ]
        );
    }

    #[test]
    fn every_repository_document_is_defaulted_once() {
        let mut seen = 0;
        for (path, doc) in crate::test_documents::documents() {
            let Parsed::Resource(res, _) = Resource::parse(&doc) else {
                continue;
            };
            if matches!(*res, Resource::BackendConfig(_)) {
                continue;
            }
            let Some(patch) = defaults_patch(&res).unwrap() else {
                panic!("{}: nothing to default?", path.display());
            };
            let out = apply(&doc, &patch);
            let again = parse(&out);
            assert_eq!(defaults_patch(&again).unwrap(), None, "{}", path.display());
            // The patched object is what defaulting the typed object gives.
            let mut defaulted = (*res).clone();
            defaulted.apply_defaults();
            assert_eq!(
                spec_json(&again).unwrap(),
                spec_json(&defaulted).unwrap(),
                "{}",
                path.display()
            );
            seen += 1;
        }
        assert!(seen >= 10, "{seen}");
    }
}
