//! Decoding of the workload specs without serde's `flatten`.
//!
//! `FunctionSpec`, `SourceSpec` and `SinkSpec` flatten `WorkloadSpec` (which flattens
//! `Messaging` and `Runtime`) and `ConsumerSpec`, as Function Mesh's Go types embed them. The
//! derived `Deserialize` of a flattened struct buffers every key and value of the map into
//! serde's private `Content` tree and decodes each part from that copy, once per level: for a
//! 20-member mesh that was a tenth of an admission request's CPU. It also hides unknown fields
//! (the flattened parts claim every key) and the failing field's path. Here each key
//! goes straight to the struct that owns it. `Serialize` and `JsonSchema` stay derived (with
//! `flatten`), and a test checks that the names read here are the ones the schema publishes.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

/// A struct read one map key at a time, so a spec made of several reads its map once.
pub(crate) trait Fields: Default {
    /// Reads the value of `key` into its field; `false` (value not read) if no field has that name.
    fn read<'de, A: MapAccess<'de>>(&mut self, key: &str, map: &mut A) -> Result<bool, A::Error>;

    /// The JSON names read, flattened parts included.
    #[cfg(test)]
    fn names() -> Vec<&'static str>;
}

/// `impl Fields` for a struct: `field: "jsonName"` for each field, then the flattened ones.
macro_rules! fields {
    ($ty:ty { $($field:ident : $name:literal),* $(,)? } $(flatten { $($flat:ident : $flat_ty:ty),* $(,)? })?) => {
        impl $crate::decode::Fields for $ty {
            fn read<'de, A: serde::de::MapAccess<'de>>(
                &mut self,
                key: &str,
                map: &mut A,
            ) -> Result<bool, A::Error> {
                match key {
                    $($name => {
                        if self.$field.is_some() {
                            return Err(<A::Error as serde::de::Error>::duplicate_field($name));
                        }
                        self.$field = map.next_value()?;
                        Ok(true)
                    })*
                    _ => {
                        $($(if $crate::decode::Fields::read(&mut self.$flat, key, map)? {
                            return Ok(true);
                        })*)?
                        Ok(false)
                    }
                }
            }

            #[cfg(test)]
            fn names() -> Vec<&'static str> {
                #[allow(unused_mut)]
                let mut names = vec![$($name),*];
                $($(names.extend(<$flat_ty as $crate::decode::Fields>::names());)*)?
                names
            }
        }
    };
}
pub(crate) use fields;

/// `impl Deserialize` for a top-level spec that implements [`Fields`]; unknown keys are
/// skipped, as the derived impls do.
macro_rules! deserialize_by_fields {
    ($ty:ty, $expecting:literal) => {
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::decode::by_fields(d, $expecting)
            }
        }
    };
}
pub(crate) use deserialize_by_fields;

pub(crate) fn by_fields<'de, T: Fields, D: Deserializer<'de>>(
    d: D,
    expecting: &'static str,
) -> Result<T, D::Error> {
    d.deserialize_map(FieldsVisitor(expecting, PhantomData))
}

struct FieldsVisitor<T>(&'static str, PhantomData<T>);

impl<'de, T: Fields> Visitor<'de> for FieldsVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.0)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut out = T::default();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let known = match key.as_str() {
                Some(k) => out.read(k, &mut map)?,
                None => false,
            };
            if !known {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// A map key copied onto the stack: no allocation per key. No field name is longer than
/// [`Key::CAPACITY`]; a longer key is unknown by definition.
struct Key {
    len: usize,
    bytes: [u8; Key::CAPACITY],
}

impl Key {
    const CAPACITY: usize = 48;

    fn as_str(&self) -> Option<&str> {
        (self.len <= Self::CAPACITY)
            .then(|| std::str::from_utf8(&self.bytes[..self.len]).ok())
            .flatten()
    }
}

struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Key, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
        let mut key = Key {
            len: v.len(),
            bytes: [0; Key::CAPACITY],
        };
        if let Some(dst) = key.bytes.get_mut(..v.len()) {
            dst.copy_from_slice(v.as_bytes());
        } else {
            key.len = usize::MAX;
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use kube::CustomResourceExt;
    use serde_json::json;

    use super::Fields;
    use crate::{Function, FunctionSpec, Sink, SinkSpec, Source, SourceSpec};

    fn schema_names(
        crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    ) -> BTreeSet<String> {
        let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
        schema["openAPIV3Schema"]["properties"]["spec"]["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    fn read_names<T: Fields>() -> BTreeSet<String> {
        let names = T::names();
        let set: BTreeSet<String> = names.iter().map(|n| n.to_string()).collect();
        assert_eq!(set.len(), names.len(), "a name is read twice: {names:?}");
        set
    }

    #[test]
    fn every_published_field_is_read_and_nothing_else() {
        assert_eq!(read_names::<FunctionSpec>(), schema_names(&Function::crd()));
        assert_eq!(read_names::<SourceSpec>(), schema_names(&Source::crd()));
        assert_eq!(read_names::<SinkSpec>(), schema_names(&Sink::crd()));
    }

    #[test]
    fn a_spec_reads_back_what_it_wrote() {
        let doc = json!({
            "name": "f", "className": "C", "tenant": "t", "namespace": "n", "replicas": 2,
            "maxReplicas": 4, "imageHasGet": true, "statefulConfig": {"pulsar": {"serviceUrl": "bk://x"}},
            "pulsar": {"pulsarConfig": "cfg", "authSecret": "a"}, "wasm": {"module": "/m.wasm"},
            "java": {"jar": "x.jar"}, "input": {"topics": ["a"]}, "subscriptionName": "s",
            "processingGuarantee": "effectively_once", "deadLetterTopic": "dlq",
            "output": {"topic": "b"}, "funcConfig": {"k": [1, {"v": null}]},
            "secretsMap": {"K": {"path": "p", "key": "k"}}, "skipToLatest": false,
            "unknownField": {"ignored": true}
        });
        let spec: FunctionSpec = serde_json::from_value(doc.clone()).unwrap();
        let mut expected = doc;
        expected.as_object_mut().unwrap().remove("unknownField");
        assert_eq!(serde_json::to_value(&spec).unwrap(), expected);
        let sink: SinkSpec =
            serde_json::from_value(json!({"replicas": 1, "timeout": 5, "sinkType": "x"})).unwrap();
        assert_eq!(
            (
                sink.workload.replicas,
                sink.consumer.timeout,
                sink.sink_type.as_deref()
            ),
            (Some(1), Some(5), Some("x"))
        );
        let source: SourceSpec =
            serde_json::from_value(json!({"builtin": {"name": "datagen"}, "sourceType": "y"}))
                .unwrap();
        assert_eq!(source.source_type.as_deref(), Some("y"));
        assert!(source.workload.runtime.builtin.is_some());
    }

    #[test]
    fn errors_name_the_field_and_the_expected_type() {
        let err = serde_json::from_value::<FunctionSpec>(json!({"replicas": "two"})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid type: string \"two\", expected i32"
        );
        let err = serde_json::from_value::<FunctionSpec>(json!("a string")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid type: string \"a string\", expected struct FunctionSpec"
        );
        let err =
            serde_json::from_str::<FunctionSpec>(r#"{"replicas": 1, "replicas": 2}"#).unwrap_err();
        assert!(
            err.to_string().starts_with("duplicate field `replicas`"),
            "{err}"
        );
        // The path reaches the failing field through the flattened parts.
        let e = serde_path_to_error::deserialize::<_, FunctionSpec>(
            &json!({"pulsar": {"authSecret": 3}}),
        )
        .unwrap_err();
        assert_eq!(e.path().to_string(), "pulsar.authSecret");
        // A key longer than any field name is skipped like any unknown key.
        let long = "k".repeat(100);
        let spec: FunctionSpec = serde_json::from_value(json!({long: 1, "replicas": 3})).unwrap();
        assert_eq!(spec.workload.replicas, Some(3));
    }
}
