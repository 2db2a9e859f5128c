//! Whether a value held a field its type does not know, without saying where.
//!
//! A type's `Deserialize` skips an unknown field by asking for its value as
//! [`IgnoredAny`](serde::de::IgnoredAny), i.e. by calling `deserialize_ignored_any`; that call is
//! the signal `serde_ignored` reports with the field's path. The fast decoder only needs to
//! know whether it happened (it then hands the review to the exact decoder, which names the
//! paths), and building a path allocated a string per key of the spec, unknown or not. This
//! wrapper forwards every call and only sets a flag.

use std::cell::Cell;
use std::fmt;

use serde::de::{
    self, Deserialize, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

/// `T` from `d`, setting `unknown` if any nested value was skipped as an unknown field.
pub fn deserialize<'de, T, D>(d: D, unknown: &Cell<bool>) -> Result<T, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    T::deserialize(Flagging { inner: d, unknown })
}

struct Flagging<'f, D> {
    inner: D,
    unknown: &'f Cell<bool>,
}

/// Wraps what a call hands on (a visitor, a seed, an access) so the flag follows the value down.
struct Wrap<'f, X> {
    inner: X,
    unknown: &'f Cell<bool>,
}

impl<'f, X> Wrap<'f, X> {
    fn new(inner: X, unknown: &'f Cell<bool>) -> Self {
        Wrap { inner, unknown }
    }
}

macro_rules! forward_deserialize {
    ($($method:ident),* $(,)?) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
                self.inner.$method(Wrap::new(visitor, self.unknown))
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Flagging<'_, D> {
    type Error = D::Error;

    forward_deserialize!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier,
    );

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.unknown.set(true);
        self.inner.deserialize_ignored_any(visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner
            .deserialize_unit_struct(name, Wrap::new(visitor, self.unknown))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner
            .deserialize_newtype_struct(name, Wrap::new(visitor, self.unknown))
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner
            .deserialize_tuple(len, Wrap::new(visitor, self.unknown))
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner
            .deserialize_tuple_struct(name, len, Wrap::new(visitor, self.unknown))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner
            .deserialize_struct(name, fields, Wrap::new(visitor, self.unknown))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.inner
            .deserialize_enum(name, variants, Wrap::new(visitor, self.unknown))
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! forward_visit {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(
            fn $method<E: de::Error>(self, v: $ty) -> Result<V::Value, E> {
                self.inner.$method(v)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Wrap<'_, V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.expecting(f)
    }

    forward_visit!(
        visit_bool(bool),
        visit_i8(i8),
        visit_i16(i16),
        visit_i32(i32),
        visit_i64(i64),
        visit_i128(i128),
        visit_u8(u8),
        visit_u16(u16),
        visit_u32(u32),
        visit_u64(u64),
        visit_u128(u128),
        visit_f32(f32),
        visit_f64(f64),
        visit_char(char),
        visit_str(&str),
        visit_borrowed_str(&'de str),
        visit_string(String),
        visit_bytes(&[u8]),
        visit_borrowed_bytes(&'de [u8]),
        visit_byte_buf(Vec<u8>),
    );

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_none()
    }

    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.inner.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_some(Flagging {
            inner: d,
            unknown: self.unknown,
        })
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        self.inner.visit_newtype_struct(Flagging {
            inner: d,
            unknown: self.unknown,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<V::Value, A::Error> {
        self.inner.visit_seq(Wrap::new(seq, self.unknown))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.inner.visit_map(Wrap::new(map, self.unknown))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<V::Value, A::Error> {
        self.inner.visit_enum(Wrap::new(data, self.unknown))
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Wrap<'_, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        self.inner.deserialize(Flagging {
            inner: d,
            unknown: self.unknown,
        })
    }
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for Wrap<'_, A> {
    type Error = A::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, A::Error> {
        self.inner.next_element_seed(Wrap::new(seed, self.unknown))
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

// Keys are read as they are: a type skips an unknown field's value, not its key.
impl<'de, A: MapAccess<'de>> MapAccess<'de> for Wrap<'_, A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        self.inner.next_key_seed(seed)
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, A::Error> {
        self.inner.next_value_seed(Wrap::new(seed, self.unknown))
    }

    fn size_hint(&self) -> Option<usize> {
        self.inner.size_hint()
    }
}

impl<'de, 'f, A: EnumAccess<'de>> EnumAccess<'de> for Wrap<'f, A> {
    type Error = A::Error;
    type Variant = Wrap<'f, A::Variant>;

    fn variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<(T::Value, Self::Variant), A::Error> {
        let unknown = self.unknown;
        let (value, variant) = self.inner.variant_seed(seed)?;
        Ok((value, Wrap::new(variant, unknown)))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Wrap<'_, A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.inner.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.inner
            .newtype_variant_seed(Wrap::new(seed, self.unknown))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.inner
            .tuple_variant(len, Wrap::new(visitor, self.unknown))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.inner
            .struct_variant(fields, Wrap::new(visitor, self.unknown))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "camelCase")]
    struct Outer {
        name: String,
        inner: Option<Inner>,
        list: Vec<Inner>,
        choice: Option<Choice>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Inner {
        a: u32,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "camelCase")]
    enum Choice {
        Plain(Inner),
        Shaped { b: u32 },
    }

    fn flagged(json: &str) -> (Outer, bool) {
        let unknown = Cell::new(false);
        let mut d = serde_json::Deserializer::from_str(json);
        let v = deserialize(&mut d, &unknown).unwrap();
        (v, unknown.get())
    }

    /// An unknown field at every depth and through every kind of nesting is noticed, and the
    /// value decoded is the one plain decoding gives; a document without one is not flagged.
    #[test]
    fn unknown_fields_at_any_depth_are_flagged() {
        let clean = r#"{"name": "n", "inner": {"a": 1}, "list": [{"a": 2}],
                        "choice": {"shaped": {"b": 3}}}"#;
        let (v, unknown) = flagged(clean);
        assert!(!unknown);
        assert_eq!(v, serde_json::from_str::<Outer>(clean).unwrap());
        for doc in [
            r#"{"name": "n", "list": [], "x": 1}"#,
            r#"{"name": "n", "inner": {"a": 1, "x": {}}, "list": []}"#,
            r#"{"name": "n", "list": [{"a": 2}, {"a": 3, "x": [1]}]}"#,
            r#"{"name": "n", "list": [], "choice": {"plain": {"a": 1, "x": null}}}"#,
            r#"{"name": "n", "list": [], "choice": {"shaped": {"b": 1, "x": "y"}}}"#,
        ] {
            let (v, unknown) = flagged(doc);
            assert!(unknown, "{doc}");
            assert_eq!(v, serde_json::from_str::<Outer>(doc).unwrap(), "{doc}");
        }
    }
}
