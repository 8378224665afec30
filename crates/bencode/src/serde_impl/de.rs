//! A serde `Deserializer` over a decoded [`Value`].

use serde::de::{self, DeserializeSeed, Visitor};

use crate::document::{Dict, Items, Kind, Value};
use crate::{decode_with, DecodeOptions, Error};

/// Deserializes a `T` from bencoded `input` (lenient, default limits).
/// `&[u8]` and `&str` fields borrow from `input`.
///
/// # Errors
/// Any decoding [`Error`], or [`Error::Custom`] when the value does not fit `T`.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Msg<'a> {
///     msg_type: u8,
///     piece: u32,
///     #[serde(borrow)]
///     name: Option<&'a str>,
/// }
/// let m: Msg = seedbed_bencode::from_bytes(b"d8:msg_typei1e4:name2:ab5:piecei7ee").unwrap();
/// assert_eq!((m.msg_type, m.piece, m.name), (1, 7, Some("ab")));
/// ```
pub fn from_bytes<'a, T: de::Deserialize<'a>>(input: &'a [u8]) -> Result<T, Error> {
    from_bytes_with(input, &DecodeOptions::new())
}

/// [`from_bytes`] with decoder options.
///
/// # Errors
/// As [`from_bytes`].
pub fn from_bytes_with<'a, T: de::Deserialize<'a>>(
    input: &'a [u8],
    opts: &DecodeOptions,
) -> Result<T, Error> {
    let doc = decode_with(input, opts)?;
    from_value(doc.root())
}

/// Deserializes a `T` from an already decoded value.
///
/// # Errors
/// [`Error::Custom`] when the value does not fit `T`.
pub fn from_value<'a, T: de::Deserialize<'a>>(value: Value<'_, 'a>) -> Result<T, Error> {
    T::deserialize(ValueDe(value))
}

struct ValueDe<'d, 'a>(Value<'d, 'a>);

impl ValueDe<'_, '_> {
    fn invalid_type(&self, exp: &dyn de::Expected) -> Error {
        let unexp = match self.0.kind() {
            Kind::Int(i) => de::Unexpected::Signed(i),
            Kind::Bytes(b) => de::Unexpected::Bytes(b),
            Kind::List(_) => de::Unexpected::Seq,
            Kind::Dict(_) => de::Unexpected::Map,
        };
        de::Error::invalid_type(unexp, exp)
    }
}

impl<'de> de::Deserializer<'de> for ValueDe<'_, 'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.kind() {
            Kind::Int(i) => visitor.visit_i64(i),
            Kind::Bytes(b) => visitor.visit_borrowed_bytes(b),
            Kind::List(l) => visitor.visit_seq(SeqDe(l.iter())),
            Kind::Dict(d) => visitor.visit_map(MapDe::new(d)),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.kind() {
            Kind::Int(0) => visitor.visit_bool(false),
            Kind::Int(1) => visitor.visit_bool(true),
            _ => Err(self.invalid_type(&"0 or 1")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.kind() {
            Kind::Bytes(b) => match std::str::from_utf8(b) {
                Ok(s) => visitor.visit_borrowed_str(s),
                Err(_) => visitor.visit_borrowed_bytes(b),
            },
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0.kind() {
            Kind::Bytes(b) => visitor.visit_borrowed_bytes(b),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_some(self)
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0.kind() {
            Kind::Bytes(_) => visitor.visit_enum(EnumDe {
                variant: self.0,
                value: None,
            }),
            Kind::Dict(d) => {
                let mut it = d.iter();
                match (it.next(), it.next()) {
                    (Some((_, v)), None) => {
                        let key = d.as_value().at(d.as_value().index() + 1);
                        visitor.visit_enum(EnumDe {
                            variant: key,
                            value: Some(v),
                        })
                    }
                    _ => Err(de::Error::invalid_length(d.len(), &"a map with one entry")),
                }
            }
            _ => Err(self.invalid_type(&"a string or a map with one entry")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 seq tuple tuple_struct map struct
    }
}

struct SeqDe<'d, 'a>(Items<'d, 'a>);

impl<'de> de::SeqAccess<'de> for SeqDe<'_, 'de> {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0
            .next()
            .map(|v| seed.deserialize(ValueDe(v)))
            .transpose()
    }
}

struct MapDe<'d, 'a> {
    entries: crate::document::Entries<'d, 'a>,
    value: Option<Value<'d, 'a>>,
}

impl<'d, 'a> MapDe<'d, 'a> {
    fn new(d: Dict<'d, 'a>) -> Self {
        MapDe {
            entries: d.iter(),
            value: None,
        }
    }
}

impl<'de> de::MapAccess<'de> for MapDe<'_, 'de> {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(KeyDe(k)).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let v = self
            .value
            .take()
            .ok_or_else(|| Error::Custom("map value requested before its key".into()))?;
        seed.deserialize(ValueDe(v))
    }
}

/// A dictionary key: a byte string, offered as `&str` when it is UTF-8.
struct KeyDe<'a>(&'a [u8]);

impl<'de> de::Deserializer<'de> for KeyDe<'de> {
    type Error = Error;
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match std::str::from_utf8(self.0) {
            Ok(s) => visitor.visit_borrowed_str(s),
            Err(_) => visitor.visit_borrowed_bytes(self.0),
        }
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_borrowed_bytes(self.0)
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_borrowed_bytes(self.0)
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }
    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        option unit unit_struct seq tuple tuple_struct map struct enum identifier ignored_any
    }
}

struct EnumDe<'d, 'a> {
    variant: Value<'d, 'a>,
    value: Option<Value<'d, 'a>>,
}

impl<'de, 'd> de::EnumAccess<'de> for EnumDe<'d, 'de> {
    type Error = Error;
    type Variant = VariantDe<'d, 'de>;
    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), Error> {
        let name = self.variant.as_bytes().unwrap_or_default();
        let v = seed.deserialize(KeyDe(name))?;
        Ok((v, VariantDe(self.value)))
    }
}

struct VariantDe<'d, 'a>(Option<Value<'d, 'a>>);

impl<'de> de::VariantAccess<'de> for VariantDe<'_, 'de> {
    type Error = Error;
    fn unit_variant(self) -> Result<(), Error> {
        match self.0 {
            None => Ok(()),
            Some(v) => de::Deserialize::deserialize(ValueDe(v)),
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        match self.0 {
            Some(v) => seed.deserialize(ValueDe(v)),
            None => seed.deserialize(de::value::UnitDeserializer::<Error>::new()),
        }
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Some(v) => de::Deserializer::deserialize_seq(ValueDe(v), visitor),
            None => Err(de::Error::invalid_type(
                de::Unexpected::UnitVariant,
                &visitor,
            )),
        }
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Some(v) => de::Deserializer::deserialize_map(ValueDe(v), visitor),
            None => Err(de::Error::invalid_type(
                de::Unexpected::UnitVariant,
                &visitor,
            )),
        }
    }
}
