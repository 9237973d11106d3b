//! Reading an Admin API entity (a JSON object) in place, exactly as the loader reads the YAML tree
//! that `export::declarative` makes of it.
//!
//! [`Node`] is a serde `Deserializer` over `&serde_json::Value` that mirrors serde_yaml's
//! `Deserializer for &serde_yaml::Value` (serde_yaml 0.9, `src/value/de.rs`) applied to the
//! converted value, method by method: the same visitor calls and the same `serde_yaml::Error`s,
//! so a config reads the same and every problem is worded the same. The conversion it stands
//! for is `export::yaml`: null, bool, string, array and object become null, bool, string,
//! sequence and mapping (string keys, in the object's order); a number that fits `u64` is a
//! positive integer, one that fits `i64` an integer of its sign, anything else a float.
//!
//! Skipping that conversion (a YAML mapping built and hashed for every entity, then dropped) was
//! the largest single saving on an admin change with 10k routes: see `Store::modify`. The
//! loader tests (`tests/admin.rs`) compare both paths on valid and broken entities.

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeSeed, EnumAccess, Expected, MapAccess, SeqAccess, Unexpected, VariantAccess,
    Visitor,
};
use serde_json::{Map, Value};
use serde_yaml::Error;

/// A JSON value, a JSON object, or an object key (a string), read as its YAML counterpart.
#[derive(Debug, Clone, Copy)]
pub(super) enum Node<'a> {
    Value(&'a Value),
    Object(&'a Map<String, Value>),
    Key(&'a str),
}

/// What a node is in the YAML tree.
#[derive(Clone, Copy)]
enum Yaml<'a> {
    Null,
    Bool(bool),
    PosInt(u64),
    NegInt(i64),
    Float(f64),
    String(&'a str),
    Sequence(&'a [Value]),
    Mapping(&'a Map<String, Value>),
}

impl<'a> Node<'a> {
    fn yaml(self) -> Yaml<'a> {
        match self {
            Node::Key(key) => Yaml::String(key),
            Node::Object(map) => Yaml::Mapping(map),
            Node::Value(value) => match value {
                Value::Null => Yaml::Null,
                Value::Bool(b) => Yaml::Bool(*b),
                Value::Number(n) => {
                    // As `export::yaml`, then serde_yaml's `Number::from(i64)`, which keeps a
                    // non-negative integer positive.
                    if let Some(u) = n.as_u64() {
                        Yaml::PosInt(u)
                    } else if let Some(i) = n.as_i64() {
                        u64::try_from(i).map_or(Yaml::NegInt(i), Yaml::PosInt)
                    } else {
                        Yaml::Float(n.as_f64().unwrap_or(0.0))
                    }
                }
                Value::String(s) => Yaml::String(s),
                Value::Array(items) => Yaml::Sequence(items),
                Value::Object(map) => Yaml::Mapping(map),
            },
        }
    }

    /// serde_yaml's `Value::unexpected`.
    fn unexpected(self) -> Unexpected<'a> {
        match self.yaml() {
            Yaml::Null => Unexpected::Unit,
            Yaml::Bool(b) => Unexpected::Bool(b),
            Yaml::PosInt(u) => Unexpected::Unsigned(u),
            Yaml::NegInt(i) => Unexpected::Signed(i),
            Yaml::Float(f) => Unexpected::Float(f),
            Yaml::String(s) => Unexpected::Str(s),
            Yaml::Sequence(_) => Unexpected::Seq,
            Yaml::Mapping(_) => Unexpected::Map,
        }
    }

    fn invalid_type(self, exp: &dyn Expected) -> Error {
        de::Error::invalid_type(self.unexpected(), exp)
    }

    /// serde_yaml's `Value::deserialize_number` (and `Number::deserialize_any`).
    fn deserialize_number<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.yaml() {
            Yaml::PosInt(u) => visitor.visit_u64(u),
            Yaml::NegInt(i) => visitor.visit_i64(i),
            Yaml::Float(f) => visitor.visit_f64(f),
            _ => Err(self.invalid_type(&visitor)),
        }
    }
}

fn visit_sequence<'a, V: Visitor<'a>>(items: &'a [Value], visitor: V) -> Result<V::Value, Error> {
    let len = items.len();
    let mut deserializer = SeqRef { iter: items.iter() };
    let seq = visitor.visit_seq(&mut deserializer)?;
    if deserializer.iter.len() == 0 {
        Ok(seq)
    } else {
        Err(de::Error::invalid_length(
            len,
            &"fewer elements in sequence",
        ))
    }
}

fn visit_mapping<'a, V: Visitor<'a>>(
    map: &'a Map<String, Value>,
    visitor: V,
) -> Result<V::Value, Error> {
    let len = map.len();
    let mut deserializer = MapRef {
        iter: Some(map.iter()),
        value: None,
    };
    let map = visitor.visit_map(&mut deserializer)?;
    if deserializer.iter.map_or(0, |iter| iter.len()) == 0 {
        Ok(map)
    } else {
        Err(de::Error::invalid_length(len, &"fewer elements in map"))
    }
}

macro_rules! numbers {
    ($($method:ident)*) => {
        $(
            fn $method<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
                self.deserialize_number(visitor)
            }
        )*
    };
}

impl<'a> de::Deserializer<'a> for Node<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.yaml() {
            Yaml::Null => visitor.visit_unit(),
            Yaml::Bool(b) => visitor.visit_bool(b),
            Yaml::PosInt(u) => visitor.visit_u64(u),
            Yaml::NegInt(i) => visitor.visit_i64(i),
            Yaml::Float(f) => visitor.visit_f64(f),
            Yaml::String(s) => visitor.visit_borrowed_str(s),
            Yaml::Sequence(items) => visit_sequence(items, visitor),
            Yaml::Mapping(map) => visit_mapping(map, visitor),
        }
    }

    fn deserialize_bool<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.yaml() {
            Yaml::Bool(b) => visitor.visit_bool(b),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    numbers! {
        deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64
    }

    fn deserialize_char<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.yaml() {
            Yaml::String(s) => visitor.visit_borrowed_str(s),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_string<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.yaml() {
            Yaml::String(s) => visitor.visit_borrowed_str(s),
            Yaml::Sequence(items) => visit_sequence(items, visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_byte_buf<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.yaml() {
            Yaml::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_unit<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.yaml() {
            Yaml::Null => visitor.visit_unit(),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.yaml() {
            Yaml::Sequence(items) => visit_sequence(items, visitor),
            Yaml::Null => visit_sequence(&[], visitor),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'a>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.yaml() {
            Yaml::Mapping(map) => visit_mapping(map, visitor),
            Yaml::Null => visitor.visit_map(&mut MapRef {
                iter: None,
                value: None,
            }),
            _ => Err(self.invalid_type(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'a>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'a>>(
        self,
        _name: &str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.yaml() {
            // JSON has no tagged values: a variant is always a plain string.
            Yaml::String(tag) => visitor.visit_enum(EnumRef { tag }),
            _ => Err(de::Error::invalid_type(
                self.unexpected(),
                &"a Value::Tagged enum",
            )),
        }
    }

    fn deserialize_identifier<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'a>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }
}

struct SeqRef<'a> {
    iter: std::slice::Iter<'a, Value>,
}

impl<'a> SeqAccess<'a> for SeqRef<'a> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'a>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.iter.next() {
            Some(value) => seed.deserialize(Node::Value(value)).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        match self.iter.size_hint() {
            (lower, Some(upper)) if lower == upper => Some(upper),
            _ => None,
        }
    }
}

struct MapRef<'a> {
    iter: Option<serde_json::map::Iter<'a>>,
    value: Option<&'a Value>,
}

impl<'a> MapAccess<'a> for MapRef<'a> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'a>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.as_mut().and_then(Iterator::next) {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(Node::Key(key)).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<T: DeserializeSeed<'a>>(&mut self, seed: T) -> Result<T::Value, Error> {
        match self.value.take() {
            Some(value) => seed.deserialize(Node::Value(value)),
            // serde_yaml panics here; serde's contract makes it unreachable.
            None => Err(de::Error::custom("visit_value called before visit_key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        match self.iter.as_ref()?.size_hint() {
            (lower, Some(upper)) if lower == upper => Some(upper),
            _ => None,
        }
    }
}

struct EnumRef<'a> {
    tag: &'a str,
}

impl<'a> EnumAccess<'a> for EnumRef<'a> {
    type Error = Error;
    type Variant = UnitOnly;

    fn variant_seed<V: DeserializeSeed<'a>>(self, seed: V) -> Result<(V::Value, UnitOnly), Error> {
        let variant = seed.deserialize(BorrowedStrDeserializer::<Error>::new(self.tag))?;
        Ok((variant, UnitOnly))
    }
}

/// A variant named by a plain string: a unit variant, nothing else.
struct UnitOnly;

impl<'a> VariantAccess<'a> for UnitOnly {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'a>>(self, _seed: T) -> Result<T::Value, Error> {
        Err(de::Error::invalid_type(
            Unexpected::UnitVariant,
            &"newtype variant",
        ))
    }

    fn tuple_variant<V: Visitor<'a>>(self, _len: usize, _visitor: V) -> Result<V::Value, Error> {
        Err(de::Error::invalid_type(
            Unexpected::UnitVariant,
            &"tuple variant",
        ))
    }

    fn struct_variant<V: Visitor<'a>>(
        self,
        _fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Error> {
        Err(de::Error::invalid_type(
            Unexpected::UnitVariant,
            &"struct variant",
        ))
    }
}
