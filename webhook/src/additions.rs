//! The defaults patch's walk: the defaulted spec is serialized against the [`Shape`] of the
//! spec as sent, and only what the sent one lacks is written out, as an `add` operation in the
//! patch's JSON text ([`AddOps`]). Serializing the whole defaulted spec into a `Value` first and
//! walking that was most of mutation's cost for a large mesh; building each added value as a
//! `Value` and serializing the patch again was a third of what remained.
//!
//! The rules (see `crate::mutate`): a key of an object that the sent object lacks is added
//! unless its value is null; a key both have is walked into; array elements are walked
//! pairwise, never added; anything else is left alone. [`additions_of_value`] is the same
//! walk over a `Value`, for the rare tuple and struct enum variants.

use std::fmt::Write;

use serde::ser::{self, Serialize, SerializeStructVariant, SerializeTupleVariant};
use serde_json::Value;

use crate::shape::{Error, Shape, map_key, scalars, sequences};

/// `add` operations, written as the JSON text of an RFC 6902 patch as they are found.
#[derive(Debug, Default)]
pub struct AddOps {
    json: Vec<u8>,
}

impl AddOps {
    /// Appends `{"op":"add","path":path,"value":value}`, unless `value` serializes to `null`
    /// (an unset optional field: nothing to add).
    pub fn push<T: Serialize + ?Sized>(&mut self, path: &str, value: &T) -> Result<(), Error> {
        let start = self.json.len();
        self.json
            .push(if self.json.is_empty() { b'[' } else { b',' });
        self.json.extend_from_slice(br#"{"op":"add","path":"#);
        let written = serde_json::to_writer(&mut self.json, path).and_then(|()| {
            self.json.extend_from_slice(br#","value":"#);
            let value_start = self.json.len();
            serde_json::to_writer(&mut self.json, value)?;
            Ok(&self.json[value_start..] != b"null")
        });
        match written {
            Ok(true) => {
                self.json.push(b'}');
                Ok(())
            }
            Ok(false) => {
                self.json.truncate(start);
                Ok(())
            }
            Err(e) => {
                self.json.truncate(start);
                Err(ser::Error::custom(e))
            }
        }
    }

    /// The patch: a JSON array of the operations, or `None` if there are none.
    pub fn finish(mut self) -> Result<Option<String>, Error> {
        if self.json.is_empty() {
            return Ok(None);
        }
        self.json.push(b']');
        // Only serde_json's output and ASCII were written, so this does not fail.
        String::from_utf8(self.json)
            .map(Some)
            .map_err(ser::Error::custom)
    }
}

/// Appends to `ops` the `add` operations for what `after` has and `sent` lacks, at `pointer`.
pub fn additions<T: Serialize + ?Sized>(
    sent: &Shape,
    after: &T,
    pointer: &mut String,
    ops: &mut AddOps,
) -> Result<(), Error> {
    after.serialize(Walker { sent, pointer, ops })
}

/// [`additions`] of an `after` already serialized.
pub fn additions_of_value(
    sent: &Shape,
    after: &Value,
    pointer: &mut String,
    ops: &mut AddOps,
) -> Result<(), Error> {
    match (sent, after) {
        (Shape::Map(_), Value::Object(after)) => {
            for (key, value) in after {
                let len = pointer.len();
                pointer.push('/');
                push_escaped(pointer, key);
                match sent.get(key) {
                    None => ops.push(pointer, value)?,
                    Some(inner) => additions_of_value(inner, value, pointer, ops)?,
                }
                pointer.truncate(len);
            }
        }
        (Shape::Seq(sent), Value::Array(after)) => {
            for (i, (inner, value)) in sent.iter().zip(after).enumerate() {
                let len = pointer.len();
                // Writing to a String cannot fail.
                let _ = write!(pointer, "/{i}");
                additions_of_value(inner, value, pointer, ops)?;
                pointer.truncate(len);
            }
        }
        _ => {}
    }
    Ok(())
}

struct Walker<'a> {
    sent: &'a Shape,
    pointer: &'a mut String,
    ops: &'a mut AddOps,
}

impl<'a> Walker<'a> {
    /// One entry `key: value` of an object of `after` (`sent` is an object).
    fn entry<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Error> {
        let len = self.pointer.len();
        self.pointer.push('/');
        push_escaped(self.pointer, key);
        let result = match self.sent.get(key) {
            None => self.ops.push(self.pointer, value),
            Some(inner) => additions(inner, value, self.pointer, self.ops),
        };
        self.pointer.truncate(len);
        result
    }

    /// Element `i` of an array of `after`: walked only if the sent array has it.
    fn element<T: Serialize + ?Sized>(&mut self, i: usize, value: &T) -> Result<(), Error> {
        let Shape::Seq(sent) = self.sent else {
            return Ok(());
        };
        let Some(inner) = sent.get(i) else {
            return Ok(());
        };
        let len = self.pointer.len();
        // Writing to a String cannot fail.
        let _ = write!(self.pointer, "/{i}");
        let result = additions(inner, value, self.pointer, self.ops);
        self.pointer.truncate(len);
        result
    }

    /// A part of `after` already serialized.
    fn walk_value(self, value: &Value) -> Result<(), Error> {
        additions_of_value(self.sent, value, self.pointer, self.ops)
    }

    fn object(self) -> Entries<'a> {
        let walker = matches!(self.sent, Shape::Map(_)).then_some(self);
        Entries { walker, key: None }
    }

    fn array(self) -> Elements<'a> {
        let walker = matches!(self.sent, Shape::Seq(_)).then_some(self);
        Elements { walker, next: 0 }
    }
}

/// An object of `after`; `walker` is `None` where `sent` is not an object (nothing to add).
struct Entries<'a> {
    walker: Option<Walker<'a>>,
    key: Option<String>,
}

/// An array of `after`; `walker` is `None` where `sent` is not an array.
struct Elements<'a> {
    walker: Option<Walker<'a>>,
    next: usize,
}

impl Elements<'_> {
    fn finish(self) -> Result<(), Error> {
        Ok(())
    }

    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let i = self.next;
        self.next += 1;
        match &mut self.walker {
            Some(w) => w.element(i, value),
            None => Ok(()),
        }
    }
}

/// A tuple or struct variant, collected as serde_json would write it and walked as a `Value`.
struct Collected<'a, S> {
    walker: Walker<'a>,
    value: S,
}

impl<'a> ser::Serializer for Walker<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Elements<'a>;
    type SerializeTuple = Elements<'a>;
    type SerializeTupleStruct = Elements<'a>;
    type SerializeTupleVariant =
        Collected<'a, <serde_json::value::Serializer as ser::Serializer>::SerializeTupleVariant>;
    type SerializeMap = Entries<'a>;
    type SerializeStruct = Entries<'a>;
    type SerializeStructVariant =
        Collected<'a, <serde_json::value::Serializer as ser::Serializer>::SerializeStructVariant>;

    // Scalars: nothing under them to add.
    scalars!(());

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        // `{variant: value}`.
        match self.object().walker {
            Some(mut w) => w.entry(variant, value),
            None => Ok(()),
        }
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Elements<'a>, Error> {
        Ok(self.array())
    }
    fn serialize_tuple(self, _: usize) -> Result<Elements<'a>, Error> {
        Ok(self.array())
    }
    fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<Elements<'a>, Error> {
        Ok(self.array())
    }
    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        let value = ser::Serializer::serialize_tuple_variant(
            serde_json::value::Serializer,
            name,
            index,
            variant,
            len,
        )
        .map_err(ser::Error::custom)?;
        Ok(Collected {
            walker: self,
            value,
        })
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Entries<'a>, Error> {
        Ok(self.object())
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Entries<'a>, Error> {
        Ok(self.object())
    }
    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        let value = ser::Serializer::serialize_struct_variant(
            serde_json::value::Serializer,
            name,
            index,
            variant,
            len,
        )
        .map_err(ser::Error::custom)?;
        Ok(Collected {
            walker: self,
            value,
        })
    }
}

sequences!(Elements<'_>, ());

impl ser::SerializeMap for Entries<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        if self.walker.is_some() {
            self.key = Some(map_key(key)?);
        }
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let Some(w) = &mut self.walker else {
            return Ok(());
        };
        let key = self
            .key
            .take()
            .ok_or_else(|| <Error as ser::Error>::custom("a map value without a key"))?;
        w.entry(&key, value)
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl ser::SerializeStruct for Entries<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        match &mut self.walker {
            Some(w) => w.entry(key, value),
            None => Ok(()),
        }
    }
    fn end(self) -> Result<(), Error> {
        Ok(())
    }
}

impl<S: SerializeTupleVariant<Ok = Value, Error = serde_json::Error>> SerializeTupleVariant
    for Collected<'_, S>
{
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.value
            .serialize_field(value)
            .map_err(ser::Error::custom)
    }
    fn end(self) -> Result<(), Error> {
        let value = self.value.end().map_err(ser::Error::custom)?;
        self.walker.walk_value(&value)
    }
}

impl<S: SerializeStructVariant<Ok = Value, Error = serde_json::Error>> SerializeStructVariant
    for Collected<'_, S>
{
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.value
            .serialize_field(key, value)
            .map_err(ser::Error::custom)
    }
    fn end(self) -> Result<(), Error> {
        let value = self.value.end().map_err(ser::Error::custom)?;
        self.walker.walk_value(&value)
    }
}

/// Appends `key` as an RFC 6901 reference token (`~` → `~0`, `/` → `~1`).
pub fn push_escaped(pointer: &mut String, key: &str) {
    // Field names never need escaping; pushing them char by char was 40 % of the walk (and
    // `str::contains` with a set of chars walks chars too).
    if memchr::memchr2(b'~', b'/', key.as_bytes()).is_none() {
        pointer.push_str(key);
        return;
    }
    for c in key.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The operations written, as values (none: an empty list).
    fn ops(ops: AddOps) -> Vec<Value> {
        ops.finish()
            .unwrap()
            .map(|json| serde_json::from_str(&json).unwrap())
            .unwrap_or_default()
    }

    fn both(sent: &Value, after: &Value) -> (Vec<Value>, Vec<Value>) {
        let shape = Shape::of(sent).unwrap();
        let (mut walked, mut valued) = (AddOps::default(), AddOps::default());
        additions(&shape, after, &mut "/spec".to_string(), &mut walked).unwrap();
        additions_of_value(&shape, after, &mut "/spec".to_string(), &mut valued).unwrap();
        (ops(walked), ops(valued))
    }

    #[test]
    fn the_walk_adds_what_the_value_walk_adds() {
        #[derive(serde::Serialize)]
        enum E {
            Tuple(u8, Option<u8>),
            Struct { a: u8, b: Option<u8> },
            New(std::collections::BTreeMap<String, u8>),
        }
        let cases = [
            (json!({"a": 1}), json!({"a": 2, "b": {"c": [1]}, "n": null})),
            (json!({"a/b": {}}), json!({"a/b": {"c~d": 1}})),
            (
                json!({"l": [{}, {"x": 1}]}),
                json!({"l": [{"y": 2}, {"x": 1, "z": 3}, {"w": 4}]}),
            ),
            (
                json!({"l": 3, "m": [1]}),
                json!({"l": {"x": 1}, "m": {"y": 2}}),
            ),
            (json!({}), json!([1, 2])),
            // Paths and values with characters JSON escapes.
            (json!({}), json!({"q\"uo\\te": "line\nbreak"})),
        ];
        for (sent, after) in &cases {
            let (walked, valued) = both(sent, after);
            assert_eq!(walked, valued, "{sent} / {after}");
        }
        let (walked, _) = both(&cases[1].0, &cases[1].1);
        assert_eq!(
            walked,
            vec![json!({"op": "add", "path": "/spec/a~1b/c~0d", "value": 1})]
        );
        // Enum variants, against a sent value that has them in part.
        let after = vec![
            E::Tuple(1, Some(2)),
            E::Struct { a: 1, b: Some(2) },
            E::New([("k".to_string(), 1)].into()),
        ];
        let sent = json!([{"Tuple": [1]}, {"Struct": {"a": 1}}, {"New": {}}]);
        let shape = Shape::of(&sent).unwrap();
        let mut walked = AddOps::default();
        additions(&shape, &after, &mut String::new(), &mut walked).unwrap();
        let mut valued = AddOps::default();
        additions_of_value(
            &shape,
            &serde_json::to_value(&after).unwrap(),
            &mut String::new(),
            &mut valued,
        )
        .unwrap();
        let (walked, valued) = (ops(walked), ops(valued));
        assert_eq!(walked, valued);
        assert_eq!(
            walked,
            vec![
                json!({"op": "add", "path": "/1/Struct/b", "value": 2}),
                json!({"op": "add", "path": "/2/New/k", "value": 1}),
            ]
        );
    }
}
