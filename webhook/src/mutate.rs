//! Defaulting as an RFC 6902 patch that only adds absent fields.
//!
//! The typed object as sent is defaulted by `fmesh_crds`, and the defaulted one is walked
//! against the keys of the one sent (`crate::additions`). Only keys absent from an object in the first become `add`
//! operations: a value the user wrote, a field the typed API does not know (the apiserver
//! keeps it: the patch does not touch it) or an array element is never rewritten, so defaults
//! never overwrite what the user wrote and never shift an array. Applying the patch and
//! defaulting again yields no operation, so the webhook is idempotent under reinvocation.
//! (A direct walk, not a general JSON diff: the diff of a 20-member mesh cost more than
//! everything else in the request together.)

use fmesh_crds::Resource;

use crate::additions::{AddOps, additions};
use crate::admit::same_spec;
use crate::shape::Shape;

/// The `add` operations that default `res` (the typed object as sent): the JSON text of the
/// patch, or `None` if nothing is defaulted. `res` is left as sent: defaulted on a copy, which
/// pays when defaulting usually changes nothing (an UPDATE of a stored object, a
/// reinvocation): equal specs serialize to the same keys, so the walk is skipped.
pub fn defaults_patch(res: &Resource) -> Result<Option<String>, PatchError> {
    let mut defaulted = res.clone();
    defaulted.apply_defaults();
    if same_spec(res, &defaulted) {
        return Ok(None);
    }
    let Some(sent) = shape_of(res)? else {
        return Ok(None);
    };
    walk(&sent, &defaulted)
}

/// [`defaults_patch`] for an object that usually gets defaults (a CREATE): `res` is defaulted
/// in place, with no copy to compare (the copy, its comparison and its drop were half of the
/// patch's cost for a new 20-member mesh). A `res` already defaulted still gets `None`, from
/// a walk that finds nothing to add.
pub fn defaults_patch_in_place(res: &mut Resource) -> Result<Option<String>, PatchError> {
    let Some(sent) = shape_of(res)? else {
        return Ok(None);
    };
    res.apply_defaults();
    walk(&sent, res)
}

/// The keys of the spec as sent: its shape, not a `Value`. `None` for a kind never defaulted.
fn shape_of(res: &Resource) -> Result<Option<Shape>, PatchError> {
    Ok(Some(match res {
        Resource::Function(o) => Shape::of(&o.spec)?,
        Resource::Source(o) => Shape::of(&o.spec)?,
        Resource::Sink(o) => Shape::of(&o.spec)?,
        Resource::FunctionMesh(o) => Shape::of(&o.spec)?,
        Resource::BackendConfig(_) => return Ok(None),
    }))
}

/// The `add` operations for what `defaulted` has and the `sent` shape lacks.
fn walk(sent: &Shape, defaulted: &Resource) -> Result<Option<String>, PatchError> {
    let mut ops = AddOps::default();
    let mut pointer = String::from("/spec");
    match defaulted {
        Resource::Function(o) => additions(sent, &o.spec, &mut pointer, &mut ops)?,
        Resource::Source(o) => additions(sent, &o.spec, &mut pointer, &mut ops)?,
        Resource::Sink(o) => additions(sent, &o.spec, &mut pointer, &mut ops)?,
        Resource::FunctionMesh(o) => additions(sent, &o.spec, &mut pointer, &mut ops)?,
        Resource::BackendConfig(_) => return Ok(None),
    }
    Ok(ops.finish()?)
}

/// Why the defaults could not be written out (a type that does not serialize to JSON).
#[derive(Debug, thiserror::Error)]
#[error("the object does not serialize: {0}")]
pub struct PatchError(#[from] crate::shape::Error);

#[cfg(test)]
mod tests {
    use super::*;
    use fmesh_crds::Parsed;
    use serde_json::{Value, json};

    fn parse(doc: &Value) -> Resource {
        match Resource::parse(doc) {
            Parsed::Resource(r, _) => *r,
            other => panic!("{other:?}"),
        }
    }

    /// The patch `res` gets, as a value.
    fn patch_of(res: &Resource) -> Option<Value> {
        defaults_patch(res)
            .unwrap()
            .map(|json| serde_json::from_str(&json).unwrap())
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
        let patch = patch_of(&parse(&doc)).unwrap();
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
        let patch = patch_of(&parse(&doc)).unwrap();
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

    /// The patch a walk of the serialized defaulted spec gives (the reference).
    fn reference_patch(res: &Resource) -> Option<Value> {
        let mut defaulted = res.clone();
        defaulted.apply_defaults();
        let (sent, after) = match (res, &defaulted) {
            (Resource::Function(a), Resource::Function(b)) => {
                (Shape::of(&a.spec), serde_json::to_value(&b.spec))
            }
            (Resource::Source(a), Resource::Source(b)) => {
                (Shape::of(&a.spec), serde_json::to_value(&b.spec))
            }
            (Resource::Sink(a), Resource::Sink(b)) => {
                (Shape::of(&a.spec), serde_json::to_value(&b.spec))
            }
            (Resource::FunctionMesh(a), Resource::FunctionMesh(b)) => {
                (Shape::of(&a.spec), serde_json::to_value(&b.spec))
            }
            _ => return None,
        };
        let mut expected = AddOps::default();
        crate::additions::additions_of_value(
            &sent.unwrap(),
            &after.unwrap(),
            &mut "/spec".to_string(),
            &mut expected,
        )
        .unwrap();
        expected
            .finish()
            .unwrap()
            .map(|json| serde_json::from_str(&json).unwrap())
    }

    #[test]
    fn the_walk_adds_what_a_walk_of_the_serialized_spec_adds() {
        let mut seen = 0;
        for (path, doc) in crate::test_documents::documents() {
            let Parsed::Resource(res, _) = Resource::parse(&doc) else {
                continue;
            };
            if matches!(*res, Resource::BackendConfig(_)) {
                continue;
            }
            let patch = patch_of(&res);
            assert_eq!(patch, reference_patch(&res), "{}", path.display());
            let Some(patch) = patch else {
                panic!("{}: nothing to default?", path.display());
            };
            // Defaulted already (what an UPDATE sends): the shortcut for unchanged specs answers
            // as the walk does.
            let again = parse(&apply(&doc, &patch));
            assert_eq!(defaults_patch(&again).unwrap(), None, "{}", path.display());
            assert_eq!(reference_patch(&again), None, "{}", path.display());
            // In place: the same patch, the object left as the patch makes it, and nothing
            // added to an object already defaulted.
            let mut in_place = (*res).clone();
            let json = defaults_patch_in_place(&mut in_place).unwrap();
            let in_place_patch = json.map(|j| serde_json::from_str::<Value>(&j).unwrap());
            assert_eq!(in_place_patch.as_ref(), Some(&patch), "{}", path.display());
            assert!(same_spec(&in_place, &again), "{}", path.display());
            let mut defaulted = again;
            assert_eq!(
                defaults_patch_in_place(&mut defaulted).unwrap(),
                None,
                "{}",
                path.display()
            );
            seen += 1;
        }
        assert!(seen >= 10, "{seen}");
    }
}
