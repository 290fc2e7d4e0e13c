//! The standard rules of `buf.validate.FieldRules` as plain statics that
//! generated code builds once per checked field (`..StringRules::NONE`).

use std::sync::OnceLock;

use crate::core::wkt::{Duration, Timestamp};

/// A regular expression compiled once, on first use. Written with RE2
/// syntax, as protovalidate's `matches` reads it.
pub struct Pattern {
    source: &'static str,
    compiled: OnceLock<Option<regex::Regex>>,
}

impl Pattern {
    pub const fn new(source: &'static str) -> Pattern {
        Pattern { source, compiled: OnceLock::new() }
    }

    /// The pattern as written in the schema.
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Whether `text` has a match. A pattern the regex crate cannot compile
    /// matches nothing, so that a bad schema fails closed.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.compiled
            .get_or_init(|| regex::Regex::new(&re2_to_rust(self.source)).ok())
            .as_ref()
            .is_some_and(|r| r.is_match(text))
    }
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Pattern").field(&self.source).finish()
    }
}

/// RE2's Perl classes are ASCII-only, the regex crate's are Unicode: each
/// is spelt out in ASCII. Inside a class (`[\d_]`) only the ranges fit.
pub(crate) fn re2_to_rust(source: &str) -> String {
    let mut out = String::with_capacity(source.len() + 16);
    let mut chars = source.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(next) = chars.next() else {
                    out.push('\\');
                    break;
                };
                let spelt = match (next, in_class) {
                    ('d', false) => "[0-9]",
                    ('D', false) => "[^0-9]",
                    ('w', false) => "[0-9A-Za-z_]",
                    ('W', false) => "[^0-9A-Za-z_]",
                    ('s', false) => "[\\t\\n\\f\\r ]",
                    ('S', false) => "[^\\t\\n\\f\\r ]",
                    ('b', false) => "(?-u:\\b)",
                    ('d', true) => "0-9",
                    ('w', true) => "0-9A-Za-z_",
                    ('s', true) => "\\t\\n\\f\\r ",
                    _ => {
                        out.push('\\');
                        out.push(next);
                        continue;
                    }
                };
                out.push_str(spelt);
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` right after `[` or `[^` is a literal.
                let rest = chars.as_str();
                let skip = if rest.starts_with("^]") {
                    2
                } else if rest.starts_with(']') {
                    1
                } else {
                    0
                };
                out.push_str(&rest[..skip]);
                chars = rest[skip..].chars();
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// `buf.validate.StringRules`.
#[derive(Debug)]
pub struct StringRules {
    pub const_: Option<&'static str>,
    pub len: Option<u64>,
    pub min_len: Option<u64>,
    pub max_len: Option<u64>,
    pub len_bytes: Option<u64>,
    pub min_bytes: Option<u64>,
    pub max_bytes: Option<u64>,
    pub pattern: Option<Pattern>,
    pub prefix: Option<&'static str>,
    pub suffix: Option<&'static str>,
    pub contains: Option<&'static str>,
    pub not_contains: Option<&'static str>,
    pub in_: &'static [&'static str],
    pub not_in: &'static [&'static str],
    pub well_known: Option<WellKnownString>,
}

impl StringRules {
    pub const NONE: StringRules = StringRules {
        const_: None,
        len: None,
        min_len: None,
        max_len: None,
        len_bytes: None,
        min_bytes: None,
        max_bytes: None,
        pattern: None,
        prefix: None,
        suffix: None,
        contains: None,
        not_contains: None,
        in_: &[],
        not_in: &[],
        well_known: None,
    };
}

/// The `well_known` formats of `StringRules`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WellKnownString {
    Email,
    Hostname,
    Ip,
    Ipv4,
    Ipv6,
    Uri,
    UriRef,
    Address,
    Uuid,
    Tuuid,
    HostAndPort,
    IpWithPrefixlen,
    Ipv4WithPrefixlen,
    Ipv6WithPrefixlen,
    IpPrefix,
    Ipv4Prefix,
    Ipv6Prefix,
    Ulid,
    ProtobufFqn,
    ProtobufDotFqn,
}

impl WellKnownString {
    /// The rule's name and number in `StringRules`, and what the message
    /// calls a value of the format.
    pub(crate) fn rule(self) -> (&'static str, i32, &'static str, &'static str) {
        use WellKnownString::*;
        match self {
            Email => ("email", 12, "must be a valid email address", "a valid email address"),
            Hostname => ("hostname", 13, "must be a valid hostname", "a valid hostname"),
            Ip => ("ip", 14, "must be a valid IP address", "a valid IP address"),
            Ipv4 => ("ipv4", 15, "must be a valid IPv4 address", "a valid IPv4 address"),
            Ipv6 => ("ipv6", 16, "must be a valid IPv6 address", "a valid IPv6 address"),
            Uri => ("uri", 17, "must be a valid URI", "a valid URI"),
            UriRef => ("uri_ref", 18, "must be a valid URI Reference", ""),
            Address => ("address", 21, "must be a valid hostname, or ip address", "a valid hostname, or ip address"),
            Uuid => ("uuid", 22, "must be a valid UUID", "a valid UUID"),
            Tuuid => ("tuuid", 33, "must be a valid trimmed UUID", "a valid trimmed UUID"),
            IpWithPrefixlen => ("ip_with_prefixlen", 26, "must be a valid IP prefix", "a valid IP prefix"),
            Ipv4WithPrefixlen => (
                "ipv4_with_prefixlen",
                27,
                "must be a valid IPv4 address with prefix length",
                "a valid IPv4 address with prefix length",
            ),
            Ipv6WithPrefixlen => (
                "ipv6_with_prefixlen",
                28,
                "must be a valid IPv6 address with prefix length",
                "a valid IPv6 address with prefix length",
            ),
            IpPrefix => ("ip_prefix", 29, "must be a valid IP prefix", "a valid IP prefix"),
            Ipv4Prefix => ("ipv4_prefix", 30, "must be a valid IPv4 prefix", "a valid IPv4 prefix"),
            Ipv6Prefix => ("ipv6_prefix", 31, "must be a valid IPv6 prefix", "a valid IPv6 prefix"),
            HostAndPort => (
                "host_and_port",
                32,
                "must be a valid host (hostname or IP address) and port pair",
                "a valid host and port pair",
            ),
            Ulid => ("ulid", 35, "must be a valid ULID", "a valid ULID"),
            ProtobufFqn => (
                "protobuf_fqn",
                37,
                "must be a valid fully-qualified Protobuf name",
                "a valid fully-qualified Protobuf name",
            ),
            ProtobufDotFqn => (
                "protobuf_dot_fqn",
                38,
                "must be a valid fully-qualified Protobuf name with a leading dot",
                "a valid fully-qualified Protobuf name with a leading dot",
            ),
        }
    }
}

/// `buf.validate.BytesRules`.
#[derive(Debug)]
pub struct BytesRules {
    pub const_: Option<&'static [u8]>,
    pub len: Option<u64>,
    pub min_len: Option<u64>,
    pub max_len: Option<u64>,
    pub pattern: Option<Pattern>,
    pub prefix: Option<&'static [u8]>,
    pub suffix: Option<&'static [u8]>,
    pub contains: Option<&'static [u8]>,
    pub in_: &'static [&'static [u8]],
    pub not_in: &'static [&'static [u8]],
    pub well_known: Option<WellKnownBytes>,
}

impl BytesRules {
    pub const NONE: BytesRules = BytesRules {
        const_: None,
        len: None,
        min_len: None,
        max_len: None,
        pattern: None,
        prefix: None,
        suffix: None,
        contains: None,
        in_: &[],
        not_in: &[],
        well_known: None,
    };
}

/// The `well_known` formats of `BytesRules`: lengths of addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WellKnownBytes {
    Ip,
    Ipv4,
    Ipv6,
    Uuid,
}

/// Which numeric `*Rules` message: its rule-id prefix, its field in
/// `FieldRules` and the field type of its rule values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumberKind {
    Float,
    Double,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
}

impl NumberKind {
    pub(crate) fn rule(self) -> (&'static str, i32, super::FieldType) {
        use super::FieldType as T;
        match self {
            NumberKind::Float => ("float", 1, T::Float),
            NumberKind::Double => ("double", 2, T::Double),
            NumberKind::Int32 => ("int32", 3, T::Int32),
            NumberKind::Int64 => ("int64", 4, T::Int64),
            NumberKind::Uint32 => ("uint32", 5, T::Uint32),
            NumberKind::Uint64 => ("uint64", 6, T::Uint64),
            NumberKind::Sint32 => ("sint32", 7, T::Sint32),
            NumberKind::Sint64 => ("sint64", 8, T::Sint64),
            NumberKind::Fixed32 => ("fixed32", 9, T::Fixed32),
            NumberKind::Fixed64 => ("fixed64", 10, T::Fixed64),
            NumberKind::Sfixed32 => ("sfixed32", 11, T::Sfixed32),
            NumberKind::Sfixed64 => ("sfixed64", 12, T::Sfixed64),
        }
    }
}

/// The rules of every numeric type (`Int32Rules`, `FloatRules`, …).
#[derive(Debug)]
pub struct NumberRules<T: 'static> {
    pub kind: NumberKind,
    pub const_: Option<T>,
    pub lt: Option<T>,
    pub lte: Option<T>,
    pub gt: Option<T>,
    pub gte: Option<T>,
    pub in_: &'static [T],
    pub not_in: &'static [T],
    /// Floats only: NaN and infinities are refused.
    pub finite: bool,
}

impl<T> NumberRules<T> {
    pub const fn none(kind: NumberKind) -> Self {
        NumberRules {
            kind,
            const_: None,
            lt: None,
            lte: None,
            gt: None,
            gte: None,
            in_: &[],
            not_in: &[],
            finite: false,
        }
    }
}

/// `buf.validate.BoolRules`.
#[derive(Debug)]
pub struct BoolRules {
    pub const_: Option<bool>,
}

impl BoolRules {
    pub const NONE: BoolRules = BoolRules { const_: None };
}

/// `buf.validate.EnumRules`.
#[derive(Debug)]
pub struct EnumRules {
    pub const_: Option<i32>,
    pub defined_only: bool,
    pub in_: &'static [i32],
    pub not_in: &'static [i32],
}

impl EnumRules {
    pub const NONE: EnumRules = EnumRules { const_: None, defined_only: false, in_: &[], not_in: &[] };
}

/// `buf.validate.RepeatedRules` (the `items` rules are the item closure).
#[derive(Debug)]
pub struct RepeatedRules {
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub unique: bool,
}

impl RepeatedRules {
    pub const NONE: RepeatedRules = RepeatedRules { min_items: None, max_items: None, unique: false };
}

/// `buf.validate.MapRules` (the `keys` and `values` rules are closures).
#[derive(Debug)]
pub struct MapRules {
    pub min_pairs: Option<u64>,
    pub max_pairs: Option<u64>,
}

impl MapRules {
    pub const NONE: MapRules = MapRules { min_pairs: None, max_pairs: None };
}

/// `buf.validate.DurationRules`.
#[derive(Debug)]
pub struct DurationRules {
    pub const_: Option<Duration>,
    pub lt: Option<Duration>,
    pub lte: Option<Duration>,
    pub gt: Option<Duration>,
    pub gte: Option<Duration>,
    pub in_: &'static [Duration],
    pub not_in: &'static [Duration],
}

impl DurationRules {
    pub const NONE: DurationRules =
        DurationRules { const_: None, lt: None, lte: None, gt: None, gte: None, in_: &[], not_in: &[] };
}

/// `buf.validate.TimestampRules`.
#[derive(Debug)]
pub struct TimestampRules {
    pub const_: Option<Timestamp>,
    pub lt: Option<Timestamp>,
    pub lte: Option<Timestamp>,
    pub gt: Option<Timestamp>,
    pub gte: Option<Timestamp>,
    pub lt_now: bool,
    pub gt_now: bool,
    pub within: Option<Duration>,
}

impl TimestampRules {
    pub const NONE: TimestampRules = TimestampRules {
        const_: None,
        lt: None,
        lte: None,
        gt: None,
        gte: None,
        lt_now: false,
        gt_now: false,
        within: None,
    };
}

/// `buf.validate.AnyRules`: allowed and refused type URLs.
#[derive(Debug)]
pub struct AnyRules {
    pub in_: &'static [&'static str],
    pub not_in: &'static [&'static str],
}

impl AnyRules {
    pub const NONE: AnyRules = AnyRules { in_: &[], not_in: &[] };
}
