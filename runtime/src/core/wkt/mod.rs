//! The well-known types (`google.protobuf.*`) that generated code uses.
//!
//! Those with a JSON form of their own are defined here, to the proto3 JSON
//! mapping: `Any` (the embedded message's JSON with `"@type"`), `Struct`,
//! `Value`, `ListValue` and `NullValue` (any JSON, `null` included), the
//! wrappers (the bare scalar, through the same codecs as message fields),
//! `FieldMask` (a comma-separated string of lowerCamelCase paths),
//! `Timestamp` and `Duration` (in the mapping's form and range both ways).
//! The rest (`Empty`, `Api`, `Type`, the descriptor types…) are
//! pbjson-types' types.

pub(crate) mod any;
mod json_value;
mod retry;

pub use any::Any;
pub use json_value::{ListValue, NullValue, Struct, Value, ValueCodec, value};
pub use pbjson_types::*;
pub(crate) use retry::RetryInfo;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

use crate::core::json::any::AnyType;
use crate::core::json::codec::Codec;
use crate::core::json::scalar as codec;

/// `google.protobuf.FieldMask`: `{"updateMask": "title,publisher.name"}` in JSON.
#[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
pub struct FieldMask {
    /// The field paths, in proto (snake_case) form.
    #[prost(string, repeated, tag = "1")]
    pub paths: Vec<String>,
}

/// `snake_case` → `lowerCamelCase`, as the proto3 JSON mapping names fields.
pub(crate) fn lower_camel(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut upper = false;
    for c in path.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn snake(path: &str) -> String {
    let mut out = String::with_capacity(path.len() + 4);
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

impl Serialize for FieldMask {
    /// Fails for a path that would not come back the same from its JSON
    /// name (`foo__bar`, `foo_3_bar`, `fooBar`), as the mapping requires.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut joined = Vec::with_capacity(self.paths.len());
        for path in &self.paths {
            let camel = lower_camel(path);
            if snake(&camel) != *path {
                return Err(serde::ser::Error::custom(format!(
                    "the FieldMask path `{path}` has no lowerCamelCase form that reads back the same"
                )));
            }
            joined.push(camel);
        }
        serializer.serialize_str(&joined.join(","))
    }
}

impl<'de> Deserialize<'de> for FieldMask {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FieldMask;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a FieldMask as a comma-separated string of field paths")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldMask, E> {
                let paths: Vec<&str> = v.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
                // JSON paths are lowerCamelCase: an underscore (or anything else) has no proto name.
                if let Some(bad) = paths.iter().find(|p| !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')) {
                    return Err(E::custom(format!(
                        "the FieldMask path `{bad}` is not lowerCamelCase field names joined by dots"
                    )));
                }
                Ok(FieldMask { paths: paths.into_iter().map(snake).collect() })
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// `google.protobuf.Timestamp`: RFC 3339 in JSON, written in UTC with `Z`
/// and 0, 3, 6 or 9 fractional digits; any offset is accepted on input.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds within the second, 0 to 999,999,999.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// The current time.
    pub fn now() -> Timestamp {
        Timestamp::from(std::time::SystemTime::now())
    }
}

impl From<std::time::SystemTime> for Timestamp {
    fn from(t: std::time::SystemTime) -> Timestamp {
        let dt: chrono::DateTime<chrono::Utc> = t.into();
        Timestamp { seconds: dt.timestamp(), nanos: dt.timestamp_subsec_nanos() as i32 }
    }
}

/// The range the proto3 JSON mapping gives Timestamp: 0001-01-01T00:00:00Z
/// to 9999-12-31T23:59:59.999999999Z, in seconds since the epoch.
const TIMESTAMP_SECONDS: std::ops::RangeInclusive<i64> = -62_135_596_800..=253_402_300_799;

impl Timestamp {
    /// The timestamp as a date and time, when it is in the mapping's range.
    fn datetime(&self) -> std::option::Option<chrono::DateTime<chrono::Utc>> {
        let nanos = u32::try_from(self.nanos).ok().filter(|n| *n < 1_000_000_000)?;
        TIMESTAMP_SECONDS.contains(&self.seconds).then(|| chrono::DateTime::from_timestamp(self.seconds, nanos))?
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut text = [0; 30];
        let len = self.rfc3339(&mut text).ok_or_else(|| {
            serde::ser::Error::custom("the Timestamp is outside 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z")
        })?;
        // Digits and ASCII punctuation only.
        serializer.serialize_str(std::str::from_utf8(&text[..len]).map_err(serde::ser::Error::custom)?)
    }
}

impl Timestamp {
    /// Writes the timestamp as `2024-01-02T03:04:05.123Z` into `out` (0, 3,
    /// 6 or 9 fractional digits, as few as hold it) and returns its length;
    /// `None` outside the mapping's range. Every response with a timestamp
    /// writes one, so it is written straight into a buffer on the stack.
    fn rfc3339(&self, out: &mut [u8; 30]) -> std::option::Option<usize> {
        let nanos = u32::try_from(self.nanos).ok().filter(|n| *n < 1_000_000_000)?;
        if !TIMESTAMP_SECONDS.contains(&self.seconds) {
            return None;
        }
        let (days, secs) = (self.seconds.div_euclid(86_400), self.seconds.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        let mut put = |at: usize, value: u64, digits: usize| {
            let mut v = value;
            for i in (at..at + digits).rev() {
                out[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        // The range keeps the year within 1..=9999.
        put(0, year as u64, 4);
        put(5, month.into(), 2);
        put(8, day.into(), 2);
        put(11, (secs / 3600) as u64, 2);
        put(14, (secs / 60 % 60) as u64, 2);
        put(17, (secs % 60) as u64, 2);
        let fraction = match nanos {
            0 => 0,
            n if n % 1_000_000 == 0 => 3,
            n if n % 1_000 == 0 => 6,
            _ => 9,
        };
        if fraction > 0 {
            put(20, u64::from(nanos / 10u32.pow(9 - fraction as u32)), fraction);
        }
        for (at, sign) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
            out[at] = sign;
        }
        let mut len = 19;
        if fraction > 0 {
            out[19] = b'.';
            len = 20 + fraction;
        }
        out[len] = b'Z';
        Some(len + 1)
    }
}

/// The proleptic Gregorian date `days` after 1970-01-01: the era-based
/// day count of the civil calendar (400-year eras of 146,097 days, years
/// starting on March 1st so that the leap day ends them).
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * march_month + 2) / 5 + 1) as u8;
    let month = if march_month < 10 { march_month + 3 } else { march_month - 9 } as u8;
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timestamp;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an RFC 3339 timestamp such as \"2024-01-02T03:04:05Z\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
                // RFC 3339 allows `t`, `z` and a space for `T`; the proto3 mapping does not.
                if v.as_bytes().get(10) != Some(&b'T') || v.contains(['t', 'z']) {
                    return Err(E::custom(format!(
                        "`{v}` is not a timestamp like \"2024-01-02T03:04:05Z\" (upper-case T and Z)"
                    )));
                }
                let dt = chrono::DateTime::parse_from_rfc3339(v)
                    .map_err(|e| E::custom(format!("`{v}` is not an RFC 3339 timestamp: {e}")))?;
                let t = Timestamp { seconds: dt.timestamp(), nanos: dt.timestamp_subsec_nanos() as i32 };
                match t.datetime() {
                    Some(_) => Ok(t),
                    None => Err(E::custom(format!(
                        "`{v}` is outside 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999999Z"
                    ))),
                }
            }
        }
        deserializer.deserialize_str(V)
    }
}

/// `google.protobuf.Duration`: `"1.5s"` in JSON (0, 3, 6 or 9 fractional
/// digits), within ±315,576,000,000 s (10,000 years) both ways, as the
/// mapping requires; pbjson-types' form, with the range checked.
#[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
pub struct Duration {
    /// Whole seconds, -315,576,000,000 to 315,576,000,000.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds, -999,999,999 to 999,999,999, with the sign of `seconds`.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Duration {
    /// Whether the duration is one the mapping can write.
    fn in_range(&self) -> bool {
        const MAX_SECONDS: i64 = 315_576_000_000;
        let signs_agree = self.seconds == 0 || self.nanos == 0 || (self.seconds < 0) == (self.nanos < 0);
        self.seconds.abs() <= MAX_SECONDS && self.nanos.abs() <= 999_999_999 && signs_agree
    }
}

impl From<std::time::Duration> for Duration {
    fn from(d: std::time::Duration) -> Duration {
        Duration { seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX), nanos: d.subsec_nanos() as i32 }
    }
}

impl TryFrom<Duration> for std::time::Duration {
    type Error = std::num::TryFromIntError;

    /// Negative durations have no `std::time::Duration`.
    fn try_from(d: Duration) -> std::result::Result<std::time::Duration, Self::Error> {
        Ok(std::time::Duration::new(d.seconds.try_into()?, d.nanos.try_into()?))
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        if !self.in_range() {
            return Err(serde::ser::Error::custom("the Duration is outside ±315,576,000,000 s or its signs disagree"));
        }
        pbjson_types::Duration { seconds: self.seconds, nanos: self.nanos }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let d = pbjson_types::Duration::deserialize(deserializer)?;
        let d = Duration { seconds: d.seconds, nanos: d.nanos };
        if !d.in_range() {
            return Err(de::Error::custom("the Duration is outside ±315,576,000,000 s"));
        }
        Ok(d)
    }
}

/// The wrapper types: a scalar with presence, written as the bare scalar.
macro_rules! wrapper {
    ($name:ident, $ty:ty, [$($proto:tt)*], $codec:ident, $doc:literal, $($derive:ident),*) => {
        #[doc = $doc]
        #[derive(Clone, PartialEq, $($derive,)* prost::Message)]
        pub struct $name {
            /// The wrapped value.
            #[prost($($proto)*, tag = "1")]
            pub value: $ty,
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                <codec::$codec as Codec>::write(&self.value, serializer)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                match <codec::$codec as Codec>::read(deserializer)? {
                    Some(value) => Ok($name { value }),
                    None => Err(de::Error::custom("not a value of this type")),
                }
            }
        }
    };
}

wrapper!(
    DoubleValue,
    f64,
    [double],
    F64,
    "`google.protobuf.DoubleValue`: a number (or `\"NaN\"`, `\"Infinity\"`).",
    Copy
);
wrapper!(FloatValue, f32, [float], F32, "`google.protobuf.FloatValue`: a number (or `\"NaN\"`, `\"Infinity\"`).", Copy);
wrapper!(
    Int64Value,
    i64,
    [int64],
    I64,
    "`google.protobuf.Int64Value`: a string in JSON (a number is accepted).",
    Copy,
    Eq,
    Hash
);
wrapper!(
    UInt64Value,
    u64,
    [uint64],
    U64,
    "`google.protobuf.UInt64Value`: a string in JSON (a number is accepted).",
    Copy,
    Eq,
    Hash
);
wrapper!(Int32Value, i32, [int32], I32, "`google.protobuf.Int32Value`: a number.", Copy, Eq, Hash);
wrapper!(UInt32Value, u32, [uint32], U32, "`google.protobuf.UInt32Value`: a number.", Copy, Eq, Hash);
wrapper!(BoolValue, bool, [bool], Bool, "`google.protobuf.BoolValue`: `true` or `false`.", Copy, Eq, Hash);
wrapper!(StringValue, String, [string], Str, "`google.protobuf.StringValue`: a string.", Eq, Hash);
wrapper!(BytesValue, Vec<u8>, [bytes = "vec"], Bytes, "`google.protobuf.BytesValue`: base64.", Eq, Hash);

/// The well-known types a `google.protobuf.Any` can hold in JSON without
/// being registered.
pub(crate) const JSON_TYPES: &[AnyType] = &[
    AnyType::of::<Any>("google.protobuf.Any"),
    AnyType::of::<Duration>("google.protobuf.Duration"),
    AnyType::of::<Timestamp>("google.protobuf.Timestamp"),
    AnyType::of::<FieldMask>("google.protobuf.FieldMask"),
    AnyType::of::<Struct>("google.protobuf.Struct"),
    AnyType::of::<Value>("google.protobuf.Value"),
    AnyType::of::<ListValue>("google.protobuf.ListValue"),
    AnyType::of::<DoubleValue>("google.protobuf.DoubleValue"),
    AnyType::of::<FloatValue>("google.protobuf.FloatValue"),
    AnyType::of::<Int64Value>("google.protobuf.Int64Value"),
    AnyType::of::<UInt64Value>("google.protobuf.UInt64Value"),
    AnyType::of::<Int32Value>("google.protobuf.Int32Value"),
    AnyType::of::<UInt32Value>("google.protobuf.UInt32Value"),
    AnyType::of::<BoolValue>("google.protobuf.BoolValue"),
    AnyType::of::<StringValue>("google.protobuf.StringValue"),
    AnyType::of::<BytesValue>("google.protobuf.BytesValue"),
    AnyType::of::<Empty>("google.protobuf.Empty"),
    // protovalidate's error detail, which the runtime itself sends.
    AnyType::of::<crate::core::validate::proto::Violations>("buf.validate.Violations"),
    // The retry advice of refusals (rate limits, an upstream that is down).
    AnyType::of::<RetryInfo>(RetryInfo::NAME),
];

/// Calls `$m!` with every well-known message type, for traits every one of
/// them implements alike (no request rules, no validation rules).
macro_rules! every_message {
    ($m:ident) => {
        $m!(
            Any,
            BoolValue,
            BytesValue,
            DoubleValue,
            Duration,
            Empty,
            FieldMask,
            FloatValue,
            Int32Value,
            Int64Value,
            ListValue,
            StringValue,
            Struct,
            Timestamp,
            UInt32Value,
            UInt64Value,
            Value
        );
    };
}
pub(crate) use every_message;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_masks_are_camel_case_strings() {
        let mask = FieldMask { paths: vec!["title".into(), "publisher.country_code".into()] };
        let json = serde_json::to_value(&mask).unwrap();
        assert_eq!(json, "title,publisher.countryCode");
        assert_eq!(serde_json::from_value::<FieldMask>(json).unwrap(), mask);
        assert_eq!(serde_json::from_str::<FieldMask>("\"\"").unwrap().paths, Vec::<String>::new());
    }

    /// The written form agrees with chrono's RFC 3339 (as few of 0, 3, 6 or
    /// 9 fractional digits as hold the value) across the whole range:
    /// both ends, leap days, century years and every digit count.
    #[test]
    fn timestamps_are_written_as_chrono_writes_them() {
        let (first, last) = (*TIMESTAMP_SECONDS.start(), *TIMESTAMP_SECONDS.end());
        let mut seconds: Vec<i64> =
            vec![first, first + 86_399, -1, 0, 1, 951_782_400, 4_107_542_399, last - 86_400, last];
        // A spread over the range that lands on every time of day.
        let step = (last - first) / 20_011;
        seconds.extend((0..20_011).map(|i| first + i * step + i * 7_919 % 86_400));
        for (i, s) in seconds.into_iter().enumerate() {
            let nanos = [0, 5_000_000, 120_000, 7, 999_999_999][i % 5];
            let t = Timestamp { seconds: s, nanos };
            let expected = chrono::DateTime::from_timestamp(s, nanos as u32)
                .expect("in range")
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            let mut out = [0; 30];
            let len = t.rfc3339(&mut out).expect("in range");
            assert_eq!(std::str::from_utf8(&out[..len]).unwrap(), expected, "{s} s {nanos} ns");
        }
        let mut out = [0; 30];
        assert_eq!(Timestamp { seconds: last + 1, nanos: 0 }.rfc3339(&mut out), None);
        assert_eq!(Timestamp { seconds: first - 1, nanos: 0 }.rfc3339(&mut out), None);
        assert_eq!(Timestamp { seconds: 0, nanos: -1 }.rfc3339(&mut out), None);
        assert_eq!(Timestamp { seconds: 0, nanos: 1_000_000_000 }.rfc3339(&mut out), None);
    }

    #[test]
    fn timestamps_are_z_normalized() {
        let t: Timestamp = serde_json::from_str("\"2024-01-02T04:04:05.5+01:00\"").unwrap();
        assert_eq!(serde_json::to_value(t).unwrap(), "2024-01-02T03:04:05.500Z");
        let t = Timestamp { seconds: 0, nanos: 0 };
        assert_eq!(serde_json::to_value(t).unwrap(), "1970-01-01T00:00:00Z");
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
        // The mapping's form and range, stricter than RFC 3339 (protobuf's conformance suite).
        for bad in ["2024-01-02t03:04:05Z", "2024-01-02T03:04:05z", "2024-01-02 03:04:05Z", "0000-12-31T23:59:59Z"] {
            assert!(serde_json::from_str::<Timestamp>(&format!("\"{bad}\"")).is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<Timestamp>("\"0001-01-01T00:00:00Z\"").is_ok());
        for t in [Timestamp { seconds: 253_402_300_800, nanos: 0 }, Timestamp { seconds: -62_135_596_801, nanos: 0 }] {
            assert!(serde_json::to_value(t).is_err(), "{t:?}");
        }
    }

    #[test]
    fn durations_keep_to_the_mapping_range() {
        assert_eq!(serde_json::to_value(Duration { seconds: 1, nanos: 500_000_000 }).unwrap(), "1.500s");
        assert_eq!(
            serde_json::from_str::<Duration>("\"-0.5s\"").unwrap(),
            Duration { seconds: 0, nanos: -500_000_000 }
        );
        assert!(serde_json::from_str::<Duration>("\"315576000001s\"").is_err());
        for d in [
            Duration { seconds: 315_576_000_001, nanos: 0 },
            Duration { seconds: 1, nanos: -1 },
            Duration { seconds: 0, nanos: 1_000_000_000 },
        ] {
            assert!(serde_json::to_value(d).is_err(), "{d:?}");
        }
    }

    #[test]
    fn field_mask_paths_must_round_trip() {
        for path in ["foo__bar", "foo_3_bar", "fooBar"] {
            assert!(serde_json::to_value(FieldMask { paths: vec![path.into()] }).is_err(), "{path}");
        }
        assert!(serde_json::from_str::<FieldMask>("\"foo,bar_bar\"").is_err());
        assert_eq!(serde_json::from_str::<FieldMask>("\"fooBar.baz3\"").unwrap().paths, ["foo_bar.baz3"]);
    }

    #[test]
    fn wide_wrappers_are_strings_and_accept_numbers() {
        assert_eq!(serde_json::to_value(Int64Value { value: -5 }).unwrap(), "-5");
        assert_eq!(serde_json::from_str::<Int64Value>("\"-5\"").unwrap().value, -5);
        assert_eq!(serde_json::from_str::<UInt64Value>("7").unwrap().value, 7);
    }
}
