//! The proto3 JSON mapping of each protobuf type, and the two halves every
//! generated message's serde implementation is made of: [`Writer`] (fields
//! out, defaults left out) and [`Fields`] (fields in, by JSON or proto name).
//!
//! Generated code is one line per field; what a type means in JSON lives
//! here once. Every codec is a zero-sized type, so serde's static dispatch
//! is kept and nothing is looked up at run time.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};

use std::cell::Cell;

thread_local! {
    /// The options of the JSON being read on this thread: serde's traits
    /// carry no context, and reading never awaits, so this is exact.
    static IGNORE_UNKNOWN: Cell<bool> = const { Cell::new(false) };
}

pub(crate) fn ignore_unknown() -> bool {
    IGNORE_UNKNOWN.with(Cell::get)
}

/// Runs `read` with `options` in force on this thread.
pub(crate) fn with_options<R>(ignore_unknown: bool, read: impl FnOnce() -> R) -> R {
    /// Puts the previous setting back, even if `read` unwinds.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            IGNORE_UNKNOWN.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(IGNORE_UNKNOWN.with(|c| c.replace(ignore_unknown)));
    read()
}

/// How one protobuf type is read and written in JSON.
pub trait Codec {
    /// The Rust type prost gives the field (`i32` for an enum).
    type Value;
    /// Whether JSON `null` is a value of the type (`google.protobuf.Value`,
    /// `NullValue`) rather than "not set".
    const NULL_IS_VALUE: bool = false;
    /// Whether an implicit-presence field holding `value` is left out.
    fn is_default(value: &Self::Value) -> bool;
    fn write<S: Serializer>(value: &Self::Value, serializer: S) -> Result<S::Ok, S::Error>;
    /// `None` is a value to leave out: an unknown enum name while unknown
    /// JSON is being ignored.
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Self::Value>, D::Error>;
}

/// A codec whose values can be map keys, which JSON writes as strings.
pub trait MapKey: Codec<Value: Ord + Hash> {
    fn write_key<S: Serializer>(value: &Self::Value, serializer: S) -> Result<S::Ok, S::Error>;
    fn parse_key(key: &str) -> Option<Self::Value>;
}

/// What generated code implements for each message: how to read one field.
pub trait JsonMessage: Default {
    /// The message's full protobuf name (`bookstore.v1.Book`).
    const NAME: &'static str;
    /// Reads the field `fields.key()` names (its JSON or its proto name);
    /// `Ok(false)` when the message has no such field.
    fn read_field<'de, A: MapAccess<'de>>(&mut self, fields: Fields<'_, 'de, A>) -> Result<bool, A::Error>;
}

/// What generated code implements for each enum: its names both ways.
pub trait JsonEnum {
    /// The enum's full protobuf name.
    const NAME: &'static str;
    /// The number of a value's name, aliases included.
    fn from_name(name: &str) -> Option<i32>;
    /// The name JSON writes for a number (the first name declared for it).
    fn name(value: i32) -> Option<&'static str>;
}

/// Reads a message from a JSON object, through its [`JsonMessage`] impl.
pub fn read_message<'de, M: JsonMessage, D: Deserializer<'de>>(deserializer: D) -> Result<M, D::Error> {
    struct MessageVisitor<M>(PhantomData<M>);
    impl<'de, M: JsonMessage> Visitor<'de> for MessageVisitor<M> {
        type Value = M;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a {} object", M::NAME)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<M, A::Error> {
            let mut message = M::default();
            let mut seen = Seen::default();
            while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                let fields = Fields { map: &mut map, seen: &mut seen, key: &key, de: PhantomData };
                if !message.read_field(fields)? {
                    if !ignore_unknown() {
                        return Err(de::Error::custom(format_args!(
                            "unknown field `{key}`: {} has no such field",
                            M::NAME
                        )));
                    }
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
            Ok(message)
        }
    }
    deserializer.deserialize_map(MessageVisitor(PhantomData))
}

/// An object key, borrowed from the input unless it had escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The fields of a message read so far, so that a field given twice (by
/// either of its names) is refused.
#[derive(Default)]
struct Seen {
    low: u128,
    high: Vec<u32>,
}

impl Seen {
    /// Marks field `index`; false when it was already marked.
    fn first(&mut self, index: u32) -> bool {
        if index < 128 {
            let bit = 1u128 << index;
            let fresh = self.low & bit == 0;
            self.low |= bit;
            fresh
        } else if self.high.contains(&index) {
            false
        } else {
            self.high.push(index);
            true
        }
    }
}

/// One field of a message being read: generated `read_field` matches its
/// key and calls the method for the field's shape with the field's index
/// (its position in the message) and the struct field to fill.
pub struct Fields<'a, 'de, A> {
    map: &'a mut A,
    seen: &'a mut Seen,
    key: &'a str,
    de: PhantomData<&'de ()>,
}

impl<'a, 'de, A: MapAccess<'de>> Fields<'a, 'de, A> {
    /// The key as the input wrote it.
    pub fn key(&self) -> &'a str {
        self.key
    }

    fn once(&mut self, index: u32) -> Result<(), A::Error> {
        if self.seen.first(index) {
            Ok(())
        } else {
            Err(de::Error::custom(format_args!("the field `{}` is given twice", self.key)))
        }
    }

    /// An implicit-presence field (proto3) or a proto2 `required` one:
    /// `null` is the default.
    pub fn scalar<C: Codec<Value: Default>>(mut self, index: u32, slot: &mut C::Value) -> Result<bool, A::Error> {
        self.once(index)?;
        if let Some(value) = self.map.next_value::<Nullable<C>>()?.0 {
            *slot = value;
        } else if !C::NULL_IS_VALUE {
            *slot = C::Value::default();
        }
        Ok(true)
    }

    /// A field with presence (`optional`, a message): `null` is unset.
    pub fn optional<C: Codec>(mut self, index: u32, slot: &mut Option<C::Value>) -> Result<bool, A::Error> {
        self.once(index)?;
        *slot = self.map.next_value::<Nullable<C>>()?.0;
        Ok(true)
    }

    /// A singular message field (`Option<M>` or `Option<Box<M>>`).
    pub fn message<T: DeserializeOwned>(mut self, index: u32, slot: &mut Option<T>) -> Result<bool, A::Error> {
        self.once(index)?;
        *slot = self.map.next_value::<Option<T>>()?;
        Ok(true)
    }

    /// A proto2 `required` message field.
    pub fn required_message<T: DeserializeOwned>(mut self, index: u32, slot: &mut T) -> Result<bool, A::Error> {
        self.once(index)?;
        *slot = self.map.next_value::<T>()?;
        Ok(true)
    }

    /// A repeated field: `null` is empty.
    pub fn repeated<C: Codec>(self, index: u32, slot: &mut Vec<C::Value>) -> Result<bool, A::Error> {
        self.scalar::<List<C>>(index, slot)
    }

    /// A repeated message field.
    pub fn messages<T: DeserializeOwned>(mut self, index: u32, slot: &mut Vec<T>) -> Result<bool, A::Error> {
        self.once(index)?;
        *slot = self.map.next_value::<Option<Vec<T>>>()?.unwrap_or_default();
        Ok(true)
    }

    /// A map field: `null` is empty.
    pub fn map<K: MapKey, V: Codec>(
        self,
        index: u32,
        slot: &mut HashMap<K::Value, V::Value>,
    ) -> Result<bool, A::Error> {
        self.scalar::<Map<K, V>>(index, slot)
    }

    /// A member of a oneof: `null` leaves the oneof as it is, and a second
    /// member with a value is refused.
    pub fn oneof<C: Codec, O>(
        mut self,
        index: u32,
        slot: &mut Option<O>,
        make: impl FnOnce(C::Value) -> O,
    ) -> Result<bool, A::Error> {
        self.once(index)?;
        if let Some(value) = self.map.next_value::<Nullable<C>>()?.0 {
            self.set_oneof(slot, make(value))?;
        }
        Ok(true)
    }

    /// A message member of a oneof (`M` or `Box<M>`).
    pub fn oneof_message<T: DeserializeOwned, O>(
        mut self,
        index: u32,
        slot: &mut Option<O>,
        make: impl FnOnce(T) -> O,
    ) -> Result<bool, A::Error> {
        self.once(index)?;
        if let Some(value) = self.map.next_value::<Option<T>>()? {
            self.set_oneof(slot, make(value))?;
        }
        Ok(true)
    }

    fn set_oneof<O>(&self, slot: &mut Option<O>, value: O) -> Result<(), A::Error> {
        if slot.is_some() {
            return Err(de::Error::custom(format_args!(
                "`{}` is a second member of a oneof that already has a value",
                self.key
            )));
        }
        *slot = Some(value);
        Ok(())
    }
}

/// A value that may be `null`: `None` for null, unless the type has a null
/// value of its own.
struct Nullable<C: Codec>(Option<C::Value>);

impl<'de, C: Codec> Deserialize<'de> for Nullable<C> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NullableVisitor<C>(PhantomData<C>);
        impl<'de, C: Codec> Visitor<'de> for NullableVisitor<C> {
            type Value = Nullable<C>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value or null")
            }
            fn visit_none<E: de::Error>(self) -> Result<Nullable<C>, E> {
                Ok(Nullable(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Nullable<C>, E> {
                Ok(Nullable(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Nullable<C>, D::Error> {
                C::read(deserializer).map(Nullable)
            }
        }
        if C::NULL_IS_VALUE {
            C::read(deserializer).map(Nullable)
        } else {
            deserializer.deserialize_option(NullableVisitor(PhantomData))
        }
    }
}

/// A value of codec `C` read as an element (null only if the type has one).
struct Element<C: Codec>(Option<C::Value>);

impl<'de, C: Codec> Deserialize<'de> for Element<C> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        C::read(deserializer).map(Element)
    }
}

/// A value of codec `C` to write.
struct Out<'a, C: Codec>(&'a C::Value);

impl<C: Codec> Serialize for Out<'_, C> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        C::write(self.0, serializer)
    }
}

/// A map key of codec `K` to write.
struct OutKey<'a, K: MapKey>(&'a K::Value);

impl<K: MapKey> Serialize for OutKey<'_, K> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        K::write_key(self.0, serializer)
    }
}

/// `repeated` values of codec `C`.
pub struct List<C>(PhantomData<C>);

impl<C: Codec> Codec for List<C> {
    type Value = Vec<C::Value>;
    fn is_default(value: &Self::Value) -> bool {
        value.is_empty()
    }
    fn write<S: Serializer>(value: &Self::Value, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(value.len()))?;
        for v in value {
            seq.serialize_element(&Out::<C>(v))?;
        }
        seq.end()
    }
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Self::Value>, D::Error> {
        struct ListVisitor<C>(PhantomData<C>);
        impl<'de, C: Codec> Visitor<'de> for ListVisitor<C> {
            type Value = Vec<C::Value>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
                while let Some(Element(value)) = seq.next_element::<Element<C>>()? {
                    out.extend(value);
                }
                Ok(out)
            }
        }
        deserializer.deserialize_seq(ListVisitor::<C>(PhantomData)).map(Some)
    }
}

/// `map<K, V>` values, written with their keys in order so that the same
/// message always gives the same bytes (HTTP caches and ETags rely on it).
pub struct Map<K, V>(PhantomData<(K, V)>);

impl<K: MapKey, V: Codec> Codec for Map<K, V> {
    type Value = HashMap<K::Value, V::Value>;
    fn is_default(value: &Self::Value) -> bool {
        value.is_empty()
    }
    fn write<S: Serializer>(value: &Self::Value, serializer: S) -> Result<S::Ok, S::Error> {
        let mut entries: Vec<_> = value.iter().collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut map = serializer.serialize_map(Some(entries.len()))?;
        for (k, v) in entries {
            map.serialize_entry(&OutKey::<K>(k), &Out::<V>(v))?;
        }
        map.end()
    }
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Self::Value>, D::Error> {
        struct MapVisitor<K, V>(PhantomData<(K, V)>);
        impl<'de, K: MapKey, V: Codec> Visitor<'de> for MapVisitor<K, V> {
            type Value = HashMap<K::Value, V::Value>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object (a map)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = HashMap::with_capacity(map.size_hint().unwrap_or(0).min(1024));
                while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                    let parsed = K::parse_key(&key)
                        .ok_or_else(|| de::Error::custom(format_args!("`{key}` is not a valid key for this map")))?;
                    let Element(value) = map.next_value::<Element<V>>()?;
                    if let Some(value) = value
                        && out.insert(parsed, value).is_some()
                    {
                        return Err(de::Error::custom(format_args!("the map key `{key}` is given twice")));
                    }
                }
                Ok(out)
            }
        }
        deserializer.deserialize_map(MapVisitor::<K, V>(PhantomData)).map(Some)
    }
}

/// A message type, through its own serde implementation.
pub struct Msg<M>(PhantomData<M>);

impl<M: Serialize + DeserializeOwned> Codec for Msg<M> {
    type Value = M;
    fn is_default(_: &M) -> bool {
        false
    }
    fn write<S: Serializer>(value: &M, serializer: S) -> Result<S::Ok, S::Error> {
        value.serialize(serializer)
    }
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<M>, D::Error> {
        M::deserialize(deserializer).map(Some)
    }
}

/// Writes a message's fields as a JSON object, leaving out what the mapping
/// leaves out (implicit-presence defaults, unset fields, empty lists).
pub struct Writer<S: Serializer> {
    map: S::SerializeMap,
}

impl<S: Serializer> Writer<S> {
    pub fn new(serializer: S) -> Result<Self, S::Error> {
        Ok(Writer { map: serializer.serialize_map(None)? })
    }

    /// An implicit-presence field, left out when it holds its default.
    pub fn scalar<C: Codec>(&mut self, key: &'static str, value: &C::Value) -> Result<(), S::Error> {
        if C::is_default(value) { Ok(()) } else { self.map.serialize_entry(key, &Out::<C>(value)) }
    }

    /// A field that is written whatever it holds (a set oneof member, a
    /// proto2 `required` field).
    pub fn value<C: Codec>(&mut self, key: &'static str, value: &C::Value) -> Result<(), S::Error> {
        self.map.serialize_entry(key, &Out::<C>(value))
    }

    /// A field with presence, written when set.
    pub fn optional<C: Codec>(&mut self, key: &'static str, value: &Option<C::Value>) -> Result<(), S::Error> {
        match value {
            Some(value) => self.map.serialize_entry(key, &Out::<C>(value)),
            None => Ok(()),
        }
    }

    /// A message (`M` or `Box<M>`), written when set.
    pub fn message<T: Serialize>(&mut self, key: &'static str, value: &Option<T>) -> Result<(), S::Error> {
        match value {
            Some(value) => self.map.serialize_entry(key, value),
            None => Ok(()),
        }
    }

    /// A message that is written whatever it holds.
    pub fn message_value<T: Serialize>(&mut self, key: &'static str, value: &T) -> Result<(), S::Error> {
        self.map.serialize_entry(key, value)
    }

    /// A repeated field, left out when empty.
    pub fn repeated<C: Codec>(&mut self, key: &'static str, value: &Vec<C::Value>) -> Result<(), S::Error> {
        self.scalar::<List<C>>(key, value)
    }

    /// A repeated message field, left out when empty.
    pub fn messages<T: Serialize>(&mut self, key: &'static str, value: &[T]) -> Result<(), S::Error> {
        if value.is_empty() { Ok(()) } else { self.map.serialize_entry(key, value) }
    }

    /// A map field, left out when empty.
    pub fn map<K: MapKey, V: Codec>(
        &mut self,
        key: &'static str,
        value: &HashMap<K::Value, V::Value>,
    ) -> Result<(), S::Error> {
        self.scalar::<Map<K, V>>(key, value)
    }

    pub fn end(self) -> Result<S::Ok, S::Error> {
        self.map.end()
    }
}
