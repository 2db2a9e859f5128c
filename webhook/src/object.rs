//! The reviewed object, decoded without the two things admission never reads and the
//! apiserver adds to every object it stores: `metadata.managedFields` and the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation (a second copy of the whole
//! object, as one escaped string). Together they were about half the bytes of a review of a
//! `kubectl apply`'d mesh; every rule reads `spec`, the name and namespace, the deletion
//! timestamp or `fmesh.io/*` annotations, so decisions do not change.
//!
//! Two decoders, one result ([`Reviewed`]):
//! - [`Typed`], the fast one: the object straight from the body's bytes into the typed API of
//!   the kind the endpoint admits. It succeeds only where the whole-object decoding would give
//!   the very same answer: the served apiVersion and that kind, every value of the right type,
//!   and, where warnings are shown, no field the API does not know. Anything else fails it.
//! - [`Object`], the exact one: the object as a `serde_json::Value` (every value decoded as a
//!   `Value` does), then [`Resource::parse`], whose reports name paths and unknown fields.
//!   Used when the fast one fails (see `crate::review`).
//!
//! Skipped values are still scanned, so malformed JSON anywhere is still an error.

use std::fmt;
use std::marker::PhantomData;

use fmesh_crds::diagnostic::Report;
use fmesh_crds::{
    Function, FunctionMesh, FunctionMeshSpec, FunctionMeshStatus, FunctionSpec, GROUP, Parsed,
    Resource, Sink, SinkSpec, Source, SourceSpec, VERSION, WorkloadStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Deserialize;
use serde::de::{
    DeserializeOwned, DeserializeSeed, Deserializer, Error as _, IgnoredAny, MapAccess, SeqAccess,
    Visitor,
};
use serde_json::{Map, Value};

/// The object under review as the handlers read it, whichever decoder produced it.
#[derive(Debug)]
pub struct Reviewed {
    /// The typed object as sent (not defaulted), or why it is not one of the fmesh kinds.
    pub parsed: Parsed,
    /// `metadata` as sent, without managedFields and the last-applied copy (`Null` if absent).
    pub metadata: Value,
}

impl Reviewed {
    /// From an object decoded as a whole ([`Object`]); `None` if it is not a JSON object.
    pub fn from_value(mut doc: Value, warnings: bool) -> Option<Reviewed> {
        if !doc.is_object() {
            return None;
        }
        let parsed = if warnings {
            Resource::parse(&doc)
        } else {
            Resource::parse_without_warnings(&doc)
        };
        let metadata = doc.get_mut("metadata").map_or(Value::Null, Value::take);
        Some(Reviewed { parsed, metadata })
    }

    /// Being deleted (`metadata.deletionTimestamp` is there, even as null).
    pub fn deleting(&self) -> bool {
        self.metadata.get("deletionTimestamp").is_some()
    }

    /// A string field of `metadata` (`name`, `namespace`).
    pub fn meta_str(&self, field: &str) -> Option<&str> {
        self.metadata.get(field).and_then(Value::as_str)
    }

    /// An annotation's value, if it is a string.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata
            .get("annotations")
            .and_then(|a| a.get(key))
            .and_then(Value::as_str)
    }
}

/// A kind the fast decoder reads: its spec and status types and how to assemble it.
pub trait Root {
    const KIND: &'static str;
    type Spec: DeserializeOwned;
    type Status: DeserializeOwned;
    fn resource(metadata: ObjectMeta, spec: Self::Spec, status: Option<Self::Status>) -> Resource;
}

macro_rules! root {
    ($ty:ident, $spec:ty, $status:ty) => {
        impl Root for $ty {
            const KIND: &'static str = stringify!($ty);
            type Spec = $spec;
            type Status = $status;
            fn resource(metadata: ObjectMeta, spec: $spec, status: Option<$status>) -> Resource {
                Resource::$ty(Box::new($ty {
                    metadata,
                    spec,
                    status,
                }))
            }
        }
    };
}
root!(Function, FunctionSpec, WorkloadStatus);
root!(Source, SourceSpec, WorkloadStatus);
root!(Sink, SinkSpec, WorkloadStatus);
root!(FunctionMesh, FunctionMeshSpec, FunctionMeshStatus);

/// The fast decoder: an object of kind `T`, with (`WARN`) or without looking for unknown
/// fields. Fails, as a decoding error, wherever [`Object`] + [`Resource::parse`] could answer
/// differently; `null` is no object, as with [`Object`].
pub struct Typed<T, const WARN: bool>(pub Reviewed, PhantomData<T>);

impl<'de, T: Root, const WARN: bool> Deserialize<'de> for Typed<T, WARN> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(TypedVisitor::<T, WARN>(PhantomData))
            .map(|r| Typed(r, PhantomData))
    }
}

struct TypedVisitor<T, const WARN: bool>(PhantomData<T>);

impl<'de, T: Root, const WARN: bool> Visitor<'de> for TypedVisitor<T, WARN> {
    type Value = Reviewed;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a {} object", T::KIND)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Reviewed, A::Error> {
        let (mut api_version, mut kind, mut metadata, mut spec, mut status) =
            (None, None, None, None, None);
        let mut unknown = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "apiVersion" => api_version = Some(map.next_value::<String>()?),
                "kind" => kind = Some(map.next_value::<String>()?),
                "metadata" => {
                    metadata = Some(map.next_value_seed(Level::Metadata { marked: true })?)
                }
                "spec" => {
                    spec = Some(map.next_value_seed(Spec::<T::Spec> {
                        unknown: &mut unknown,
                        spec: PhantomData,
                    })?)
                }
                "status" => status = map.next_value::<Option<T::Status>>()?,
                _ => {
                    unknown = true;
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        let served =
            api_version.as_deref().and_then(|v| v.split_once('/')) == Some((GROUP, VERSION));
        if !served || kind.as_deref() != Some(T::KIND) || (WARN && unknown) {
            return Err(A::Error::custom("not for the fast decoder"));
        }
        let metadata = metadata.ok_or_else(|| A::Error::missing_field("metadata"))?;
        let spec = spec.ok_or_else(|| A::Error::missing_field("spec"))?;
        let meta = ObjectMeta::deserialize(&metadata).map_err(A::Error::custom)?;
        Ok(Reviewed {
            parsed: Parsed::Resource(Box::new(T::resource(meta, spec, status)), Report::default()),
            metadata,
        })
    }
}

/// A spec, noting in `unknown` whether it held a field the typed API skips (read only where
/// warnings are shown).
struct Spec<'a, T> {
    unknown: &'a mut bool,
    spec: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Spec<'_, T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        // Through the flagging wrapper even where the flag is not read: one copy of the spec's
        // decoding code then serves `object` and `oldObject`, the mutating and the validating
        // webhook, so what one decoding brought into the instruction caches serves the next.
        let unknown = std::cell::Cell::new(false);
        let spec = crate::unknown::deserialize(d, &unknown)?;
        *self.unknown |= unknown.get();
        Ok(spec)
    }
}

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

/// Where in the object a value sits: only these levels have keys to skip. `marked`: the text
/// may be a copy with the last-applied values cut out (`crate::elide`), whose markers are
/// noted where the value is dropped; the exact decoder reads the body as sent.
#[derive(Clone, Copy)]
enum Level {
    Object,
    Metadata { marked: bool },
    Annotations { marked: bool },
}

/// What becomes of a value at some key of a [`Level`].
enum Child {
    Skip,
    /// Skipped, but a marker is noted.
    Note,
    Decode(Level),
    Keep,
}

impl Level {
    fn child(self, key: &str) -> Child {
        match (self, key) {
            (Level::Object, "metadata") => Child::Decode(Level::Metadata { marked: false }),
            (Level::Metadata { .. }, "managedFields") => Child::Skip,
            (Level::Metadata { marked }, "annotations") => {
                Child::Decode(Level::Annotations { marked })
            }
            (Level::Annotations { marked: false }, LAST_APPLIED) => Child::Skip,
            (Level::Annotations { marked: true }, LAST_APPLIED) => Child::Note,
            _ => Child::Keep,
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
                Child::Skip => {
                    map.next_value::<IgnoredAny>()?;
                }
                Child::Note => map.next_value_seed(Dropped)?,
                Child::Decode(level) => {
                    out.insert(key, map.next_value_seed(level)?);
                }
                Child::Keep => {
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

/// The `visit_*` methods of a skipping visitor (`Value = ()`) other than `visit_map` and
/// `visit_borrowed_str`: anything is accepted, as `IgnoredAny` accepts it.
macro_rules! ignore_the_rest {
    () => {
        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
            IgnoredAny.visit_seq(seq).map(drop)
        }
        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }
        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }
        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }
        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }
        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }
        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }
    };
}

/// A dropped last-applied value: skipped like `IgnoredAny`, noting it if it is a marker.
struct Dropped;

impl<'de> DeserializeSeed<'de> for Dropped {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Dropped {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    // A marker has no escapes, so it comes borrowed from the text.
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        crate::elide::note(v);
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        IgnoredAny.visit_map(map).map(drop)
    }
    ignore_the_rest!();
}

/// `oldObject` for the mutating webhook: skipped as `IgnoredAny` skips it, except that the
/// markers of a copy with the last-applied values cut out are noted (see `crate::elide`).
pub struct Skimmed;

impl<'de> Deserialize<'de> for Skimmed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(Skim::Object).map(|()| Skimmed)
    }
}

/// The levels [`Skimmed`] walks into: `metadata`, then its `annotations`.
#[derive(Clone, Copy)]
enum Skim {
    Object,
    Metadata,
    Annotations,
}

impl<'de> DeserializeSeed<'de> for Skim {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skim {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<String>()? {
            match (self, key.as_str()) {
                (Skim::Object, "metadata") => map.next_value_seed(Skim::Metadata)?,
                (Skim::Metadata, "annotations") => map.next_value_seed(Skim::Annotations)?,
                (Skim::Annotations, LAST_APPLIED) => map.next_value_seed(Dropped)?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
    ignore_the_rest!();
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
    fn skimmed_accepts_any_value_and_notes_only_the_annotations_marker() {
        let marker = crate::elide::marker();
        let at_the_annotation = json!({"metadata": {"annotations": {LAST_APPLIED: marker},
            "labels": {LAST_APPLIED: marker}}, "spec": {LAST_APPLIED: marker}});
        for (value, markers) in [
            (at_the_annotation, 1),
            (json!({"metadata": {LAST_APPLIED: marker}}), 0),
            (
                json!({"metadata": {"annotations": {LAST_APPLIED: {"a": [marker]}}}}),
                0,
            ),
            (json!({"metadata": {"annotations": [marker]}}), 0),
            (json!({"metadata": "m"}), 0),
            (json!(null), 0),
            (json!([1, "two", {"metadata": {}}]), 0),
            (json!(-4.5), 0),
            (json!(true), 0),
        ] {
            let text = value.to_string();
            let (decoded, met) = crate::elide::counting(|| serde_json::from_str::<Skimmed>(&text));
            assert!(decoded.is_ok(), "{text}");
            assert_eq!(met, markers, "{text}");
        }
        assert!(
            serde_json::from_str::<Skimmed>(r#"{"metadata":{"annotations":{"a":[1,,]}}}"#).is_err()
        );
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
