//! Which JSON keys a value serializes to, without the values: the "as sent" side of the
//! defaults patch only answers "is this key there?", and `serde_json::to_value` of a
//! 20-member mesh (a map allocated and hashed per object) cost as much as the rest of
//! mutation together.

use std::borrow::Cow;
use std::fmt;

use serde::ser::{self, Serialize};

/// The keys and elements of a serialized value; scalars (null included) are leaves.
#[derive(Debug, PartialEq)]
pub enum Shape {
    Leaf,
    Seq(Vec<Shape>),
    Map(Vec<(Cow<'static, str>, Shape)>),
}

impl Shape {
    /// The shape `value` serializes to, as `serde_json::to_value` would lay it out.
    pub fn of<T: Serialize + ?Sized>(value: &T) -> Result<Shape, Error> {
        value.serialize(Shaper)
    }

    /// The entry of a map shape.
    pub fn get(&self, key: &str) -> Option<&Shape> {
        match self {
            Shape::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
}

#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// A map key as serde_json writes it: a string (numbers and bools as their text).
pub fn map_key<T: Serialize + ?Sized>(key: &T) -> Result<String, Error> {
    Ok(
        match serde_json::to_value(key).map_err(ser::Error::custom)? {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        },
    )
}

struct Shaper;

/// The scalar methods of a `Serializer` whose every scalar (null and unit variants included)
/// serializes to `$leaf`.
macro_rules! scalars {
    ($leaf:expr) => {
        scalars!(@ $leaf; serialize_bool(bool), serialize_i8(i8), serialize_i16(i16),
            serialize_i32(i32), serialize_i64(i64), serialize_i128(i128), serialize_u8(u8),
            serialize_u16(u16), serialize_u32(u32), serialize_u64(u64), serialize_u128(u128),
            serialize_f32(f32), serialize_f64(f64), serialize_char(char), serialize_str(&str),
            serialize_bytes(&[u8]), serialize_unit_struct(&'static str));
        fn serialize_none(self) -> Result<Self::Ok, Self::Error> {
            Ok($leaf)
        }
        fn serialize_unit(self) -> Result<Self::Ok, Self::Error> {
            Ok($leaf)
        }
        fn serialize_unit_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
        ) -> Result<Self::Ok, Self::Error> {
            Ok($leaf)
        }
    };
    (@ $leaf:expr; $($method:ident($ty:ty)),*) => {
        $(fn $method(self, _: $ty) -> Result<Self::Ok, Self::Error> {
            Ok($leaf)
        })*
    };
}
pub(crate) use scalars;

/// `SerializeSeq`, `SerializeTuple` and `SerializeTupleStruct` for a type whose `push` takes
/// each element and `finish` ends the sequence.
macro_rules! sequences {
    ($ty:ty, $ok:ty) => {
        impl serde::ser::SerializeSeq for $ty {
            type Ok = $ok;
            type Error = $crate::shape::Error;
            fn serialize_element<T: serde::Serialize + ?Sized>(
                &mut self,
                value: &T,
            ) -> Result<(), Self::Error> {
                self.push(value)
            }
            fn end(self) -> Result<$ok, Self::Error> {
                self.finish()
            }
        }
        impl serde::ser::SerializeTuple for $ty {
            type Ok = $ok;
            type Error = $crate::shape::Error;
            fn serialize_element<T: serde::Serialize + ?Sized>(
                &mut self,
                value: &T,
            ) -> Result<(), Self::Error> {
                self.push(value)
            }
            fn end(self) -> Result<$ok, Self::Error> {
                self.finish()
            }
        }
        impl serde::ser::SerializeTupleStruct for $ty {
            type Ok = $ok;
            type Error = $crate::shape::Error;
            fn serialize_field<T: serde::Serialize + ?Sized>(
                &mut self,
                value: &T,
            ) -> Result<(), Self::Error> {
                self.push(value)
            }
            fn end(self) -> Result<$ok, Self::Error> {
                self.finish()
            }
        }
    };
}
pub(crate) use sequences;

impl ser::Serializer for Shaper {
    type Ok = Shape;
    type Error = Error;
    type SerializeSeq = SeqShaper;
    type SerializeTuple = SeqShaper;
    type SerializeTupleStruct = SeqShaper;
    type SerializeTupleVariant = Variant<SeqShaper>;
    type SerializeMap = MapShaper;
    type SerializeStruct = MapShaper;
    type SerializeStructVariant = Variant<MapShaper>;

    scalars!(Shape::Leaf);

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Shape, Error> {
        value.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<Shape, Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Shape, Error> {
        Ok(Shape::Map(vec![(variant.into(), value.serialize(self)?)]))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqShaper, Error> {
        Ok(SeqShaper(Vec::with_capacity(len.unwrap_or(0))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqShaper, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<SeqShaper, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Variant<SeqShaper>, Error> {
        Ok(Variant(variant, SeqShaper(Vec::with_capacity(len))))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<MapShaper, Error> {
        Ok(MapShaper {
            entries: Vec::with_capacity(len.unwrap_or(0)),
            key: None,
        })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<MapShaper, Error> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Variant<MapShaper>, Error> {
        Ok(Variant(variant, self.serialize_map(Some(len))?))
    }
}

struct SeqShaper(Vec<Shape>);

impl SeqShaper {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.0.push(value.serialize(Shaper)?);
        Ok(())
    }
    fn finish(self) -> Result<Shape, Error> {
        Ok(Shape::Seq(self.0))
    }
}

sequences!(SeqShaper, Shape);

struct MapShaper {
    entries: Vec<(Cow<'static, str>, Shape)>,
    key: Option<String>,
}

impl ser::SerializeMap for MapShaper {
    type Ok = Shape;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key = Some(map_key(key)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self
            .key
            .take()
            .ok_or_else(|| Error("value without a key".into()))?;
        self.entries.push((key.into(), value.serialize(Shaper)?));
        Ok(())
    }
    fn end(self) -> Result<Shape, Error> {
        Ok(Shape::Map(self.entries))
    }
}

impl ser::SerializeStruct for MapShaper {
    type Ok = Shape;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.entries.push((key.into(), value.serialize(Shaper)?));
        Ok(())
    }
    fn end(self) -> Result<Shape, Error> {
        Ok(Shape::Map(self.entries))
    }
}

/// A tuple or struct variant: `{"Variant": …}`, as serde_json writes it.
struct Variant<S>(&'static str, S);

impl ser::SerializeTupleVariant for Variant<SeqShaper> {
    type Ok = Shape;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.1.push(value)
    }
    fn end(self) -> Result<Shape, Error> {
        Ok(Shape::Map(vec![(self.0.into(), Shape::Seq(self.1.0))]))
    }
}

impl ser::SerializeStructVariant for Variant<MapShaper> {
    type Ok = Shape;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(&mut self.1, key, value)
    }
    fn end(self) -> Result<Shape, Error> {
        Ok(Shape::Map(vec![(
            self.0.into(),
            Shape::Map(self.1.entries),
        )]))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// The shape serde_json gives the same value.
    fn of_value(v: &Value) -> Shape {
        match v {
            Value::Object(m) => Shape::Map(
                m.iter()
                    .map(|(k, v)| (Cow::Owned(k.clone()), of_value(v)))
                    .collect(),
            ),
            Value::Array(a) => Shape::Seq(a.iter().map(of_value).collect()),
            _ => Shape::Leaf,
        }
    }

    #[test]
    fn lays_out_keys_as_serde_json_does() {
        let mut seen = 0;
        for (path, doc) in crate::test_documents::documents() {
            if let fmesh_crds::Parsed::Resource(res, _) = fmesh_crds::Resource::parse(&doc) {
                let mut res = *res;
                res.apply_defaults();
                let (typed, value) = match &res {
                    fmesh_crds::Resource::FunctionMesh(o) => (
                        Shape::of(&o.spec).unwrap(),
                        serde_json::to_value(&o.spec).unwrap(),
                    ),
                    fmesh_crds::Resource::Function(o) => (
                        Shape::of(&o.spec).unwrap(),
                        serde_json::to_value(&o.spec).unwrap(),
                    ),
                    fmesh_crds::Resource::Source(o) => (
                        Shape::of(&o.spec).unwrap(),
                        serde_json::to_value(&o.spec).unwrap(),
                    ),
                    fmesh_crds::Resource::Sink(o) => (
                        Shape::of(&o.spec).unwrap(),
                        serde_json::to_value(&o.spec).unwrap(),
                    ),
                    fmesh_crds::Resource::BackendConfig(_) => continue,
                };
                assert_eq!(typed, of_value(&value), "{}", path.display());
                seen += 1;
            }
        }
        assert!(seen >= 5, "{seen}");
        // Maps with non-string keys, enums and options, as serde_json lays them out.
        #[derive(serde::Serialize)]
        enum E {
            Unit,
            New(u8),
            Tuple(u8, u8),
            Struct { a: Option<u8> },
        }
        let odd = (
            std::collections::BTreeMap::from([(1, "x")]),
            vec![E::Unit, E::New(1), E::Tuple(1, 2), E::Struct { a: None }],
            (),
        );
        assert_eq!(
            Shape::of(&odd).unwrap(),
            of_value(&serde_json::to_value(&odd).unwrap())
        );
    }
}
