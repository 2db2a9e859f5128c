//! The reviewed object, decoded without the two things admission never reads and the
//! apiserver adds to every object it stores: `metadata.managedFields` and the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation (a second copy of the whole
//! object, as one escaped string). Together they were about half the bytes of a review of a
//! `kubectl apply`'d mesh; every rule reads `spec`, the name and namespace, the deletion
//! timestamp or `fmesh.io/*` annotations, so decisions do not change.
//!
//! Skipped values are still scanned, so malformed JSON anywhere is still an error. Everything
//! else decodes exactly as a `serde_json::Value` does (a non-object stays what it was).

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The annotation `kubectl apply` (client-side) keeps the applied document in.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// An object as admission reads it (see the module documentation).
#[derive(Debug)]
pub struct Object(pub Value);

impl<'de> serde::Deserialize<'de> for Object {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Level::Object.deserialize(d).map(Object)
    }
}

/// Where in the object a value sits: only these levels have keys to skip.
#[derive(Clone, Copy)]
enum Level {
    Object,
    Metadata,
    Annotations,
}

impl Level {
    /// What to do with `key`'s value at this level: skip it, or decode it at which level.
    fn child(self, key: &str) -> Option<Option<Level>> {
        match (self, key) {
            (Level::Object, "metadata") => Some(Some(Level::Metadata)),
            (Level::Metadata, "managedFields") => None,
            (Level::Metadata, "annotations") => Some(Some(Level::Annotations)),
            (Level::Annotations, LAST_APPLIED) => None,
            _ => Some(None),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Level {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Level {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match self.child(&key) {
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
                Some(Some(level)) => {
                    out.insert(key, map.next_value_seed(level)?);
                }
                Some(None) => {
                    out.insert(key, map.next_value::<Value>()?);
                }
            }
        }
        Ok(Value::Object(out))
    }

    // Anything but an object: exactly what `Value` would decode.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn decode(v: &Value) -> Result<Value, serde_json::Error> {
        serde_json::from_str::<Object>(&v.to_string()).map(|o| o.0)
    }

    #[test]
    fn drops_only_managed_fields_and_the_last_applied_copy() {
        let stored = json!({
            "apiVersion": "compute.functionmesh.io/v1alpha1", "kind": "Function",
            "metadata": {"name": "f", "namespace": "ns", "generation": 2,
                "deletionTimestamp": "2026-11-27T10:00:00Z",
                "annotations": {LAST_APPLIED: "{\"kind\":\"Function\"}", "fmesh.io/update-intent": "subscriptionName"},
                "labels": {"managedFields": "a label, kept", "annotations": "kept"},
                "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]},
            "spec": {"replicas": 1, "metadata": {"managedFields": "kept: not the object's metadata"},
                     "annotations": {LAST_APPLIED: "kept: not the object's annotations"}},
            "status": {"replicas": 1}, "extra": [1, "two", null, 3.5, -4, true]
        });
        let mut expected = stored.clone();
        let meta = expected["metadata"].as_object_mut().unwrap();
        meta.remove("managedFields");
        meta["annotations"]
            .as_object_mut()
            .unwrap()
            .remove(LAST_APPLIED);
        assert_eq!(decode(&stored).unwrap(), expected);
        // Key order is kept (the unknown-field warnings list fields in the order written).
        let keys: Vec<_> = decode(&stored).unwrap()["metadata"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(
            keys,
            [
                "name",
                "namespace",
                "generation",
                "deletionTimestamp",
                "annotations",
                "labels"
            ]
        );
    }

    #[test]
    fn anything_else_decodes_as_a_value_does() {
        for v in [
            json!(null),
            json!("a string"),
            json!([{"metadata": {"managedFields": []}}]),
            json!(12),
            json!({"metadata": "not an object"}),
            json!({"metadata": {"annotations": ["not", "a", "map"]}}),
            json!({"metadata": {"annotations": null, "managedFields": null}}),
            json!({}),
        ] {
            let mut expected = v.clone();
            if let Some(m) = expected.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("managedFields");
            }
            assert_eq!(decode(&v).unwrap(), expected, "{v}");
        }
    }

    #[test]
    fn malformed_json_in_a_skipped_value_is_still_an_error() {
        let text = r#"{"metadata":{"managedFields":[{"a":1,,}],"name":"f"}}"#;
        let err = serde_json::from_str::<Object>(text).unwrap_err();
        assert!(err.to_string().contains("line 1"), "{err}");
        let text =
            format!(r#"{{"metadata":{{"annotations":{{"{LAST_APPLIED}":"unterminated}}}}}}"#);
        assert!(serde_json::from_str::<Object>(&text).is_err());
        // Deep nesting outside the skipped values meets serde_json's recursion limit.
        let deep = format!(r#"{{"spec":{}{}}}"#, "[".repeat(10_000), "]".repeat(10_000));
        assert!(serde_json::from_str::<Object>(&deep).is_err());
    }
}
