//! The codecs of protobuf's scalar types: integers (quoted when 64-bit),
//! floats (with `NaN` and the infinities as strings), `bool`, `string`,
//! `bytes` (base64), enums (by name) and `NullValue`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use super::codec::{Codec, JsonEnum, MapKey, ignore_unknown};

/// Integers: a number (`1`, `1e5`, `1.0`) or a string holding one (`"1"`,
/// `"1e5"`), refused when not whole or out of the type's range.
macro_rules! integer {
    ($codec:ident, $ty:ty, $doc:literal, quoted: $quoted:literal) => {
        #[doc = $doc]
        pub struct $codec;

        impl Codec for $codec {
            type Value = $ty;
            fn is_default(value: &$ty) -> bool {
                *value == 0
            }
            fn write<S: Serializer>(value: &$ty, serializer: S) -> Result<S::Ok, S::Error> {
                if $quoted {
                    serializer.serialize_str(itoa::Buffer::new().format(*value))
                } else {
                    value.serialize(serializer)
                }
            }
            fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<$ty>, D::Error> {
                deserializer.deserialize_any(IntegerVisitor::<$ty>(PhantomData)).map(Some)
            }
        }

        impl MapKey for $codec {
            fn write_key<S: Serializer>(value: &$ty, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(itoa::Buffer::new().format(*value))
            }
            fn parse_key(key: &str) -> Option<$ty> {
                key.parse().ok()
            }
        }
    };
}

integer!(I32, i32, "`int32`, `sint32`, `sfixed32`: a JSON number.", quoted: false);
integer!(U32, u32, "`uint32`, `fixed32`: a JSON number.", quoted: false);
integer!(I64, i64, "`int64`, `sint64`, `sfixed64`: a JSON string (a number is accepted).", quoted: true);
integer!(U64, u64, "`uint64`, `fixed64`: a JSON string (a number is accepted).", quoted: true);

struct IntegerVisitor<T>(PhantomData<T>);

impl<'de, T> Visitor<'de> for IntegerVisitor<T>
where
    T: TryFrom<i64> + TryFrom<u64> + std::str::FromStr + Integer,
{
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an {} (a whole number, or a string holding one)", T::NAME)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        T::try_from(v).map_err(|_| out_of_range::<T, E>(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        T::try_from(v).map_err(|_| out_of_range::<T, E>(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        whole::<T, E>(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        if let Ok(n) = v.parse::<T>() {
            return Ok(n);
        }
        match number_text(v) {
            Some(f) => whole::<T, E>(f),
            None => Err(E::custom(format_args!("invalid {} `{v}`: not a whole number", T::NAME))),
        }
    }
}

/// The integer types JSON reads.
pub trait Integer: Sized {
    const NAME: &'static str;
}
impl Integer for i32 {
    const NAME: &'static str = "int32";
}
impl Integer for u32 {
    const NAME: &'static str = "uint32";
}
impl Integer for i64 {
    const NAME: &'static str = "int64";
}
impl Integer for u64 {
    const NAME: &'static str = "uint64";
}

fn out_of_range<T: Integer, E: de::Error>(v: impl fmt::Display) -> E {
    E::custom(format_args!("{v} is out of range for {}", T::NAME))
}

/// A float that holds a whole number in `T`'s range, as `T`.
fn whole<T: TryFrom<i64> + TryFrom<u64> + Integer, E: de::Error>(v: f64) -> Result<T, E> {
    // 2^63 and 2^64 are exact in f64; every whole f64 below them fits the 64-bit types.
    if v.fract() != 0.0 || !v.is_finite() {
        return Err(E::custom(format_args!("invalid {} {v}: not a whole number", T::NAME)));
    }
    // -2^63 itself is refused: an integer JSON number below it rounds to it.
    let n = if v < 0.0 {
        (v > -9_223_372_036_854_775_808.0).then(|| T::try_from(v as i64).ok()).flatten()
    } else {
        (v < 18_446_744_073_709_551_616.0).then(|| T::try_from(v as u64).ok()).flatten()
    };
    n.ok_or_else(|| out_of_range::<T, E>(v))
}

/// The value of a string that is written as a JSON number (`1e5`, `-2.5`),
/// nothing else Rust would parse (`inf`, `+1`, ` 1`).
fn number_text(v: &str) -> Option<f64> {
    let digits = v.strip_prefix('-').unwrap_or(v);
    if !digits.starts_with(|c: char| c.is_ascii_digit())
        || !v.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E'))
    {
        return None;
    }
    v.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// `float` and `double`: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`
/// (which JSON numbers cannot be), or a string holding a number.
macro_rules! float {
    ($codec:ident, $ty:ty, $doc:literal, $serialize:ident) => {
        #[doc = $doc]
        pub struct $codec;

        impl Codec for $codec {
            type Value = $ty;
            fn is_default(value: &$ty) -> bool {
                *value == 0.0
            }
            fn write<S: Serializer>(value: &$ty, serializer: S) -> Result<S::Ok, S::Error> {
                if value.is_nan() {
                    serializer.serialize_str("NaN")
                } else if value.is_infinite() {
                    serializer.serialize_str(if *value > 0.0 { "Infinity" } else { "-Infinity" })
                } else if let Some(whole) = whole_number(f64::from(*value)) {
                    serializer.serialize_i64(whole)
                } else {
                    serializer.$serialize(*value)
                }
            }
            fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<$ty>, D::Error> {
                deserializer.deserialize_any(FloatVisitor::<$ty>(PhantomData)).map(Some)
            }
        }
    };
}

float!(F64, f64, "`double`.", serialize_f64);
float!(F32, f32, "`float`, refused outside its range rather than made infinite.", serialize_f32);

/// A float as the integer it is, when it is a moderate whole number: JSON
/// writes `10`, as JavaScript and protobuf's own runtimes do, not `10.0`.
pub(crate) fn whole_number(v: f64) -> Option<i64> {
    (v.fract() == 0.0 && v.abs() < 1e15 && (v != 0.0 || v.is_sign_positive())).then_some(v as i64)
}

/// The float types JSON reads.
pub trait Float: Sized {
    const NAME: &'static str;
    fn from_f64(v: f64) -> Option<Self>;
}
impl Float for f64 {
    const NAME: &'static str = "double";
    fn from_f64(v: f64) -> Option<f64> {
        Some(v)
    }
}
impl Float for f32 {
    const NAME: &'static str = "float";
    fn from_f64(v: f64) -> Option<f32> {
        // What rounds to f32::MAX (its shortest text, 3.4028235e38, is above it) fits.
        let f = v as f32;
        (f.is_finite() || !v.is_finite()).then_some(f)
    }
}

struct FloatVisitor<T>(PhantomData<T>);

impl<T: Float> FloatVisitor<T> {
    fn finite<E: de::Error>(v: f64) -> Result<T, E> {
        T::from_f64(v).ok_or_else(|| E::custom(format_args!("{v} is out of range for {}", T::NAME)))
    }
}

impl<'de, T: Float> Visitor<'de> for FloatVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} (a number, \"NaN\", \"Infinity\" or \"-Infinity\")", T::NAME)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        Self::finite(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        Self::finite(v as f64)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        Self::finite(v)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        let special = match v {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        };
        match special.or_else(|| number_text(v)) {
            Some(f) => Self::finite(f),
            None => Err(E::custom(format_args!("invalid {} `{v}`: not a number", T::NAME))),
        }
    }
}

/// `bool`: `true` or `false`.
pub struct Bool;

impl Codec for Bool {
    type Value = bool;
    fn is_default(value: &bool) -> bool {
        !*value
    }
    fn write<S: Serializer>(value: &bool, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bool(*value)
    }
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<bool>, D::Error> {
        bool::deserialize(deserializer).map(Some)
    }
}

impl MapKey for Bool {
    fn write_key<S: Serializer>(value: &bool, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(if *value { "true" } else { "false" })
    }
    fn parse_key(key: &str) -> Option<bool> {
        match key {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
}

/// `string`.
pub struct Str;

impl Codec for Str {
    type Value = String;
    fn is_default(value: &String) -> bool {
        value.is_empty()
    }
    fn write<S: Serializer>(value: &String, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value)
    }
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
        String::deserialize(deserializer).map(Some)
    }
}

impl MapKey for Str {
    fn write_key<S: Serializer>(value: &String, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(value)
    }
    fn parse_key(key: &str) -> Option<String> {
        Some(key.to_owned())
    }
}

/// `bytes`: base64, written with the standard alphabet and padding; read in
/// the standard or the URL-safe alphabet, padded or not.
pub struct Bytes;

impl Codec for Bytes {
    type Value = Vec<u8>;
    fn is_default(value: &Vec<u8>) -> bool {
        value.is_empty()
    }
    fn write<S: Serializer>(value: &Vec<u8>, serializer: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(value))
    }
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Vec<u8>>, D::Error> {
        struct BytesVisitor;
        impl Visitor<'_> for BytesVisitor {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes in base64")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
                decode_base64(v).ok_or_else(|| E::custom("the value is not valid base64"))
            }
        }
        deserializer.deserialize_str(BytesVisitor).map(Some)
    }
}

/// Standard or URL-safe base64, with or without padding.
pub(crate) fn decode_base64(v: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    // Other runtimes also accept bits past the last byte that are not zero.
    const LENIENT: GeneralPurposeConfig = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    const STANDARD: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::STANDARD, LENIENT);
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&base64::alphabet::URL_SAFE, LENIENT);
    if v.contains(['-', '_']) { URL_SAFE.decode(v).ok() } else { STANDARD.decode(v).ok() }
}

/// An enum field (`i32` in prost): the value's name, or its number when the
/// schema has no name for it (a newer peer's value, kept as is).
pub struct Enum<E>(PhantomData<E>);

impl<E: JsonEnum> Codec for Enum<E> {
    type Value = i32;
    fn is_default(value: &i32) -> bool {
        *value == 0
    }
    fn write<S: Serializer>(value: &i32, serializer: S) -> Result<S::Ok, S::Error> {
        match E::name(*value) {
            Some(name) => serializer.serialize_str(name),
            None => serializer.serialize_i32(*value),
        }
    }
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i32>, D::Error> {
        struct EnumVisitor<E>(PhantomData<E>);
        impl<'de, E: JsonEnum> Visitor<'de> for EnumVisitor<E> {
            type Value = Option<i32>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a value of {} (its name or number)", E::NAME)
            }
            fn visit_str<Er: de::Error>(self, v: &str) -> Result<Option<i32>, Er> {
                match E::from_name(v) {
                    Some(n) => Ok(Some(n)),
                    None if ignore_unknown() => Ok(None),
                    None => Err(Er::custom(format_args!("unknown value `{v}` for enum {}", E::NAME))),
                }
            }
            fn visit_i64<Er: de::Error>(self, v: i64) -> Result<Option<i32>, Er> {
                i32::try_from(v).map(Some).map_err(|_| out_of_range::<i32, Er>(v))
            }
            fn visit_u64<Er: de::Error>(self, v: u64) -> Result<Option<i32>, Er> {
                i32::try_from(v).map(Some).map_err(|_| out_of_range::<i32, Er>(v))
            }
        }
        deserializer.deserialize_any(EnumVisitor::<E>(PhantomData))
    }
}

/// `google.protobuf.NullValue`: JSON `null` (its name is accepted too).
pub struct Null;

impl Codec for Null {
    type Value = i32;
    const NULL_IS_VALUE: bool = true;
    fn is_default(value: &i32) -> bool {
        *value == 0
    }
    fn write<S: Serializer>(_: &i32, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i32>, D::Error> {
        struct NullVisitor;
        impl Visitor<'_> for NullVisitor {
            type Value = i32;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("null")
            }
            fn visit_unit<E: de::Error>(self) -> Result<i32, E> {
                Ok(0)
            }
            fn visit_none<E: de::Error>(self) -> Result<i32, E> {
                Ok(0)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<i32, E> {
                match v {
                    "NULL_VALUE" => Ok(0),
                    _ => Err(E::custom(format_args!("`{v}` is not a value of google.protobuf.NullValue"))),
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<i32, E> {
                i32::try_from(v).map_err(|_| out_of_range::<i32, E>(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<i32, E> {
                i32::try_from(v).map_err(|_| out_of_range::<i32, E>(v))
            }
        }
        deserializer.deserialize_any(NullVisitor).map(Some)
    }
}
