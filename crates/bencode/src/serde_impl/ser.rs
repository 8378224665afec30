//! A serde `Serializer` that builds an [`OwnedValue`], then encodes it
//! canonically.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes};
use serde::ser::{self, Serialize};

use crate::{Encode, Error, OwnedValue};

/// Serializes `value` to canonical bencode: dictionary keys sorted as raw
/// bytes, `None` fields and unit values left out.
///
/// # Errors
/// [`Error::Custom`] for floats, integers outside `i64`, `None` or unit
/// inside a list, and map keys that are not strings or bytes.
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Announce<'a> { port: u16, event: Option<&'a str>, left: u64 }
/// let b = seedbed_bencode::to_bytes(&Announce { port: 6881, event: None, left: 0 }).unwrap();
/// assert_eq!(b, b"d4:lefti0e4:porti6881ee");
/// ```
pub fn to_bytes<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Error> {
    Ok(to_value(value)?.to_bencode())
}

/// Serializes `value` into `buf` (see [`to_bytes`]).
///
/// # Errors
/// As [`to_bytes`]; nothing is written on error.
pub fn to_writer<T: Serialize + ?Sized, B: BufMut + ?Sized>(
    value: &T,
    buf: &mut B,
) -> Result<(), Error> {
    to_value(value)?.encode(buf);
    Ok(())
}

/// Serializes `value` into an [`OwnedValue`].
///
/// # Errors
/// As [`to_bytes`]; also when the value as a whole is `None` or unit.
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<OwnedValue, Error> {
    value
        .serialize(ValueSer)?
        .ok_or_else(|| Error::Custom("nothing to serialize: the value is None or unit".into()))
}

/// Serializes into `Some(value)`, or `None` for values bencode leaves out.
struct ValueSer;

fn custom(msg: &str) -> Error {
    Error::Custom(msg.to_owned())
}

fn int<T: TryInto<i64>>(v: T) -> Result<Option<OwnedValue>, Error> {
    v.try_into()
        .map(|i| Some(OwnedValue::Int(i)))
        .map_err(|_| custom("integer out of i64 range"))
}

fn required(v: Option<OwnedValue>) -> Result<OwnedValue, Error> {
    v.ok_or_else(|| custom("None or unit cannot be a list item"))
}

impl ser::Serializer for ValueSer {
    type Ok = Option<OwnedValue>;
    type Error = Error;
    type SerializeSeq = SeqSer;
    type SerializeTuple = SeqSer;
    type SerializeTupleStruct = SeqSer;
    type SerializeTupleVariant = VariantSer<SeqSer>;
    type SerializeMap = MapSer;
    type SerializeStruct = MapSer;
    type SerializeStructVariant = VariantSer<MapSer>;

    fn serialize_bool(self, v: bool) -> Result<Self::Ok, Error> {
        int(i64::from(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Self::Ok, Error> {
        int(v)
    }
    fn serialize_i16(self, v: i16) -> Result<Self::Ok, Error> {
        int(v)
    }
    fn serialize_i32(self, v: i32) -> Result<Self::Ok, Error> {
        int(v)
    }
    fn serialize_i64(self, v: i64) -> Result<Self::Ok, Error> {
        int(v)
    }
    fn serialize_i128(self, v: i128) -> Result<Self::Ok, Error> {
        int(v)
    }
    fn serialize_u8(self, v: u8) -> Result<Self::Ok, Error> {
        int(v)
    }
    fn serialize_u16(self, v: u16) -> Result<Self::Ok, Error> {
        int(v)
    }
    fn serialize_u32(self, v: u32) -> Result<Self::Ok, Error> {
        int(v)
    }
    fn serialize_u64(self, v: u64) -> Result<Self::Ok, Error> {
        int(v)
    }
    fn serialize_u128(self, v: u128) -> Result<Self::Ok, Error> {
        int(v)
    }
    fn serialize_f32(self, _v: f32) -> Result<Self::Ok, Error> {
        Err(custom("bencode has no floating point numbers"))
    }
    fn serialize_f64(self, _v: f64) -> Result<Self::Ok, Error> {
        Err(custom("bencode has no floating point numbers"))
    }
    fn serialize_char(self, v: char) -> Result<Self::Ok, Error> {
        let mut b = [0u8; 4];
        Ok(Some(OwnedValue::from(&*v.encode_utf8(&mut b))))
    }
    fn serialize_str(self, v: &str) -> Result<Self::Ok, Error> {
        Ok(Some(OwnedValue::from(v)))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Self::Ok, Error> {
        Ok(Some(OwnedValue::from(v)))
    }
    fn serialize_none(self) -> Result<Self::Ok, Error> {
        Ok(None)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Self::Ok, Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Self::Ok, Error> {
        Ok(None)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Self::Ok, Error> {
        Ok(None)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Self::Ok, Error> {
        Ok(Some(OwnedValue::from(variant)))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Self::Ok, Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Self::Ok, Error> {
        let mut d = BTreeMap::new();
        if let Some(v) = value.serialize(ValueSer)? {
            d.insert(Bytes::from_static(variant.as_bytes()), v);
        }
        Ok(Some(OwnedValue::Dict(d)))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqSer, Error> {
        // `len` comes from our caller's data, not from the wire; cap it anyway.
        Ok(SeqSer(Vec::with_capacity(len.unwrap_or(0).min(4096))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqSer, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<SeqSer, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantSer<SeqSer>, Error> {
        Ok(VariantSer {
            variant,
            inner: self.serialize_seq(Some(len))?,
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapSer, Error> {
        Ok(MapSer {
            map: BTreeMap::new(),
            key: None,
        })
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<MapSer, Error> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantSer<MapSer>, Error> {
        Ok(VariantSer {
            variant,
            inner: self.serialize_map(Some(len))?,
        })
    }
}

#[derive(Debug)]
struct SeqSer(Vec<OwnedValue>);

impl ser::SerializeSeq for SeqSer {
    type Ok = Option<OwnedValue>;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.0.push(required(value.serialize(ValueSer)?)?);
        Ok(())
    }
    fn end(self) -> Result<Self::Ok, Error> {
        Ok(Some(OwnedValue::List(self.0)))
    }
}

impl ser::SerializeTuple for SeqSer {
    type Ok = Option<OwnedValue>;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Self::Ok, Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqSer {
    type Ok = Option<OwnedValue>;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Self::Ok, Error> {
        ser::SerializeSeq::end(self)
    }
}

#[derive(Debug)]
struct MapSer {
    map: BTreeMap<Bytes, OwnedValue>,
    key: Option<Bytes>,
}

impl MapSer {
    fn put(&mut self, key: Bytes, value: Option<OwnedValue>) {
        if let Some(v) = value {
            self.map.insert(key, v);
        }
    }
}

impl ser::SerializeMap for MapSer {
    type Ok = Option<OwnedValue>;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        match key.serialize(ValueSer)? {
            Some(OwnedValue::Bytes(b)) => {
                self.key = Some(b);
                Ok(())
            }
            _ => Err(custom("dictionary keys must be strings or bytes")),
        }
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        let key = self
            .key
            .take()
            .ok_or_else(|| custom("map value serialized before its key"))?;
        let v = value.serialize(ValueSer)?;
        self.put(key, v);
        Ok(())
    }
    fn end(self) -> Result<Self::Ok, Error> {
        Ok(Some(OwnedValue::Dict(self.map)))
    }
}

impl ser::SerializeStruct for MapSer {
    type Ok = Option<OwnedValue>;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        let v = value.serialize(ValueSer)?;
        self.put(Bytes::from_static(key.as_bytes()), v);
        Ok(())
    }
    fn end(self) -> Result<Self::Ok, Error> {
        ser::SerializeMap::end(self)
    }
}

#[derive(Debug)]
struct VariantSer<S> {
    variant: &'static str,
    inner: S,
}

impl<S> VariantSer<S> {
    fn wrap(variant: &'static str, v: Option<OwnedValue>) -> Option<OwnedValue> {
        let mut d = BTreeMap::new();
        if let Some(v) = v {
            d.insert(Bytes::from_static(variant.as_bytes()), v);
        }
        Some(OwnedValue::Dict(d))
    }
}

impl ser::SerializeTupleVariant for VariantSer<SeqSer> {
    type Ok = Option<OwnedValue>;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(&mut self.inner, value)
    }
    fn end(self) -> Result<Self::Ok, Error> {
        let v = ser::SerializeSeq::end(self.inner)?;
        Ok(Self::wrap(self.variant, v))
    }
}

impl ser::SerializeStructVariant for VariantSer<MapSer> {
    type Ok = Option<OwnedValue>;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        ser::SerializeStruct::serialize_field(&mut self.inner, key, value)
    }
    fn end(self) -> Result<Self::Ok, Error> {
        let v = ser::SerializeMap::end(self.inner)?;
        Ok(Self::wrap(self.variant, v))
    }
}
