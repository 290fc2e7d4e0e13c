//! The checks of each rule family, with protovalidate's ids and messages
//! (the `(predefined).cel` options of `buf/validate/validate.proto`).

use std::fmt::Write;

use super::formats;
use super::rules::*;
use super::{FieldType, RuleStep, Validator};
use crate::core::wkt::{Any, Duration, Timestamp};

/// A numeric field type: compared as CEL compares it, written as CEL's
/// `format` writes it.
pub trait Number: Copy + PartialOrd + 'static {
    /// `%s` of the value; floats as the shortest decimal of the double, never
    /// with an exponent, as Go's `FormatFloat(f, 'f', -1, 64)`.
    fn text(self) -> String;
    fn is_nan(self) -> bool {
        false
    }
    fn is_infinite(self) -> bool {
        false
    }
}

macro_rules! integers {
    ($($t:ty),*) => { $(impl Number for $t { fn text(self) -> String { self.to_string() } })* };
}

integers!(i32, i64, u32, u64);

fn float_text(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    f.to_string()
}

impl Number for f64 {
    fn text(self) -> String {
        float_text(self)
    }
    fn is_nan(self) -> bool {
        f64::is_nan(self)
    }
    fn is_infinite(self) -> bool {
        f64::is_infinite(self)
    }
}

impl Number for f32 {
    /// CEL has doubles only: a float rule is its double value.
    fn text(self) -> String {
        float_text(f64::from(self))
    }
    fn is_nan(self) -> bool {
        f32::is_nan(self)
    }
    fn is_infinite(self) -> bool {
        f32::is_infinite(self)
    }
}

/// `[a, b]`, as CEL formats a list with `%s`.
fn list<T>(items: &[T], text: impl Fn(&T) -> String) -> String {
    let mut out = String::from("[");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&text(item));
    }
    out.push(']');
    out
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// protovalidate's range rules (`lt`, `gte`, `gt_lt`, `gt_lt_exclusive`, …)
/// for any ordered type. A NaN fails every bound, as `this.isNan()` says.
struct Range<T> {
    /// The rules message's field in `FieldRules` (`int32`, 3).
    outer: (i32, &'static str),
    /// The type of the bounds in the rules message.
    ty: FieldType,
    lt: Option<T>,
    lte: Option<T>,
    gt: Option<T>,
    gte: Option<T>,
    /// Field numbers of lt, lte, gt, gte in the rules message.
    numbers: [i32; 4],
}

impl<T: PartialOrd> Range<T> {
    fn check(&self, v: &mut Validator, value: &T, text: impl Fn(&T) -> String) {
        let n = self.numbers;
        let upper = match (&self.lt, &self.lte) {
            (Some(lt), _) => Some((lt, "lt", "less than", n[0], value < lt)),
            (None, Some(lte)) => Some((lte, "lte", "less than or equal to", n[1], value <= lte)),
            _ => None,
        };
        let lower = match (&self.gt, &self.gte) {
            (Some(gt), _) => Some((gt, "gt", "greater than", n[2], value > gt)),
            (None, Some(gte)) => Some((gte, "gte", "greater than or equal to", n[3], value >= gte)),
            _ => None,
        };
        let (id, message, step) = match (lower, upper) {
            (None, None) => return,
            (Some((bound, name, words, number, ok)), None) | (None, Some((bound, name, words, number, ok))) => {
                if ok {
                    return;
                }
                (name.to_owned(), format!("must be {words} {}", text(bound)), (number, name))
            }
            (Some((low, lname, lwords, number, lok)), Some((high, hname, hwords, _, hok))) => {
                // Bounds in order ask for a value between them; reversed, for
                // a value outside them.
                let inside = high >= low;
                let ok = if inside { lok && hok } else { lok || hok };
                if ok {
                    return;
                }
                let (id, joiner) = if inside {
                    (format!("{lname}_{hname}"), "and")
                } else {
                    (format!("{lname}_{hname}_exclusive"), "or")
                };
                (id, format!("must be {lwords} {} {joiner} {hwords} {}", text(low), text(high)), (number, lname))
            }
        };
        let steps = [(self.outer.0, self.outer.1, FieldType::Message), (step.0, step.1, self.ty)];
        v.report(format!("{}.{id}", self.outer.1), message, &steps);
    }
}

/// A duration or timestamp as an ordered pair; both are normalized, so
/// seconds then nanos order them.
fn key_d(d: &Duration) -> (i64, i32) {
    (d.seconds, d.nanos)
}

fn key_t(t: &Timestamp) -> (i64, i32) {
    (t.seconds, t.nanos)
}

/// `%s` of a duration in CEL: seconds with the fraction's zeros trimmed.
pub(crate) fn duration_text(d: &Duration) -> String {
    let negative = d.seconds < 0 || d.nanos < 0;
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    let _ = write!(out, "{}", d.seconds.unsigned_abs());
    let nanos = d.nanos.unsigned_abs();
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('s');
    out
}

/// `%s` of a timestamp in CEL: RFC 3339 in UTC, the fraction's zeros trimmed.
pub(crate) fn timestamp_text(t: &Timestamp) -> String {
    let nanos = u32::try_from(t.nanos).unwrap_or(0).min(999_999_999);
    let Some(at) = chrono::DateTime::from_timestamp(t.seconds, nanos) else {
        return format!("{}s", t.seconds);
    };
    let mut out = at.format("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push('Z');
    out
}

impl Validator {
    fn rule(&mut self, outer: (i32, &'static str), id: &'static str, message: String, step: RuleStep) {
        self.report(id, message, &[(outer.0, outer.1, FieldType::Message), step]);
    }

    pub fn string(&mut self, value: &str, rules: &'static StringRules) {
        const S: (i32, &str) = (14, "string");
        use FieldType::{Bool, String as Str, Uint64};
        if let Some(c) = rules.const_
            && value != c
        {
            self.rule(S, "string.const", format!("must equal `{c}`"), (1, "const", Str));
        }
        let chars = || value.chars().count() as u64;
        if let Some(n) = rules.len
            && chars() != n
        {
            self.rule(S, "string.len", format!("must be {n} characters"), (19, "len", Uint64));
        }
        if let Some(n) = rules.min_len
            && chars() < n
        {
            self.rule(S, "string.min_len", format!("must be at least {n} characters"), (2, "min_len", Uint64));
        }
        // A string of at most n bytes has at most n characters: most need no count.
        if let Some(n) = rules.max_len
            && value.len() as u64 > n
            && chars() > n
        {
            self.rule(S, "string.max_len", format!("must be at most {n} characters"), (3, "max_len", Uint64));
        }
        let bytes = value.len() as u64;
        if let Some(n) = rules.len_bytes
            && bytes != n
        {
            self.rule(S, "string.len_bytes", format!("must be {n} bytes"), (20, "len_bytes", Uint64));
        }
        if let Some(n) = rules.min_bytes
            && bytes < n
        {
            self.rule(S, "string.min_bytes", format!("must be at least {n} bytes"), (4, "min_bytes", Uint64));
        }
        if let Some(n) = rules.max_bytes
            && bytes > n
        {
            self.rule(S, "string.max_bytes", format!("must be at most {n} bytes"), (5, "max_bytes", Uint64));
        }
        if let Some(p) = &rules.pattern
            && !p.is_match(value)
        {
            let message = format!("does not match regex pattern `{}`", p.source());
            self.rule(S, "string.pattern", message, (6, "pattern", Str));
        }
        if let Some(p) = rules.prefix
            && !value.starts_with(p)
        {
            self.rule(S, "string.prefix", format!("does not have prefix `{p}`"), (7, "prefix", Str));
        }
        if let Some(p) = rules.suffix
            && !value.ends_with(p)
        {
            self.rule(S, "string.suffix", format!("does not have suffix `{p}`"), (8, "suffix", Str));
        }
        if let Some(p) = rules.contains
            && !value.contains(p)
        {
            self.rule(S, "string.contains", format!("does not contain substring `{p}`"), (9, "contains", Str));
        }
        if let Some(p) = rules.not_contains
            && value.contains(p)
        {
            self.rule(S, "string.not_contains", format!("contains substring `{p}`"), (23, "not_contains", Str));
        }
        if !rules.in_.is_empty() && !rules.in_.contains(&value) {
            let message = format!("must be in list {}", list(rules.in_, |s| s.to_string()));
            self.rule(S, "string.in", message, (10, "in", Str));
        }
        if rules.not_in.contains(&value) {
            let message = format!("must not be in list {}", list(rules.not_in, |s| s.to_string()));
            self.rule(S, "string.not_in", message, (11, "not_in", Str));
        }
        if let Some(format) = rules.well_known {
            let (name, number, invalid, what) = format.rule();
            let step = [(14, "string", FieldType::Message), (number, name, Bool)];
            if value.is_empty() && format != WellKnownString::UriRef {
                self.report(format!("string.{name}_empty"), format!("value is empty, which is not {what}"), &step);
            } else if !formats::check(format, value) {
                self.report(format!("string.{name}"), invalid.to_owned(), &step);
            }
        }
    }

    pub fn bytes(&mut self, value: &[u8], rules: &'static BytesRules) {
        const B: (i32, &str) = (15, "bytes");
        use FieldType::{Bool, Bytes, String as Str, Uint64};
        if let Some(c) = rules.const_
            && value != c
        {
            self.rule(B, "bytes.const", format!("must be {}", hex(c)), (1, "const", Bytes));
        }
        let len = value.len() as u64;
        if let Some(n) = rules.len
            && len != n
        {
            self.rule(B, "bytes.len", format!("must be {n} bytes"), (13, "len", Uint64));
        }
        if let Some(n) = rules.min_len
            && len < n
        {
            self.rule(B, "bytes.min_len", format!("must be at least {n} bytes"), (2, "min_len", Uint64));
        }
        if let Some(n) = rules.max_len
            && len > n
        {
            self.rule(B, "bytes.max_len", format!("must be at most {n} bytes"), (3, "max_len", Uint64));
        }
        if let Some(p) = &rules.pattern
            && !std::str::from_utf8(value).is_ok_and(|s| p.is_match(s))
        {
            let message = format!("must match regex pattern `{}`", p.source());
            self.rule(B, "bytes.pattern", message, (4, "pattern", Str));
        }
        if let Some(p) = rules.prefix
            && !value.starts_with(p)
        {
            self.rule(B, "bytes.prefix", format!("does not have prefix {}", hex(p)), (5, "prefix", Bytes));
        }
        if let Some(p) = rules.suffix
            && !value.ends_with(p)
        {
            self.rule(B, "bytes.suffix", format!("does not have suffix {}", hex(p)), (6, "suffix", Bytes));
        }
        if let Some(p) = rules.contains
            && !(p.is_empty() || value.windows(p.len()).any(|w| w == p))
        {
            self.rule(B, "bytes.contains", format!("does not contain {}", hex(p)), (7, "contains", Bytes));
        }
        let text = |b: &&[u8]| String::from_utf8_lossy(b).into_owned();
        if !rules.in_.is_empty() && !rules.in_.contains(&value) {
            self.rule(B, "bytes.in", format!("must be in list {}", list(rules.in_, text)), (8, "in", Bytes));
        }
        if rules.not_in.contains(&value) {
            let message = format!("must not be in list {}", list(rules.not_in, text));
            self.rule(B, "bytes.not_in", message, (9, "not_in", Bytes));
        }
        if let Some(format) = rules.well_known {
            let (name, number, sizes, what): (_, _, &[usize], _) = match format {
                WellKnownBytes::Ip => ("ip", 10, &[4, 16], "IP address"),
                WellKnownBytes::Ipv4 => ("ipv4", 11, &[4], "IPv4 address"),
                WellKnownBytes::Ipv6 => ("ipv6", 12, &[16], "IPv6 address"),
                WellKnownBytes::Uuid => ("uuid", 15, &[16], "UUID"),
            };
            let step = [(15, "bytes", FieldType::Message), (number, name, Bool)];
            if value.is_empty() {
                self.report(
                    format!("bytes.{name}_empty"),
                    format!("value is empty, which is not a valid {what}"),
                    &step,
                );
            } else if !sizes.contains(&value.len()) {
                self.report(format!("bytes.{name}"), format!("must be a valid {what}"), &step);
            }
        }
    }

    pub fn number<T: Number>(&mut self, value: T, rules: &'static NumberRules<T>) {
        let (prefix, number, ty) = rules.kind.rule();
        let outer = (number, FieldType::Message);
        let step = |n: i32, name: &'static str, t: FieldType| [(outer.0, prefix, outer.1), (n, name, t)];
        if let Some(c) = rules.const_
            && value != c
        {
            self.report(format!("{prefix}.const"), format!("must equal {}", c.text()), &step(1, "const", ty));
        }
        let range = Range {
            outer: (number, prefix),
            ty,
            lt: rules.lt,
            lte: rules.lte,
            gt: rules.gt,
            gte: rules.gte,
            numbers: [2, 3, 4, 5],
        };
        range.check(self, &value, |n| n.text());
        if !rules.in_.is_empty() && !rules.in_.contains(&value) {
            let message = format!("must be in list {}", list(rules.in_, |n| n.text()));
            self.report(format!("{prefix}.in"), message, &step(6, "in", ty));
        }
        if rules.not_in.contains(&value) {
            let message = format!("must not be in list {}", list(rules.not_in, |n| n.text()));
            self.report(format!("{prefix}.not_in"), message, &step(7, "not_in", ty));
        }
        if rules.finite && (value.is_nan() || value.is_infinite()) {
            self.report(format!("{prefix}.finite"), "must be finite".into(), &step(8, "finite", FieldType::Bool));
        }
    }

    pub fn boolean(&mut self, value: bool, rules: &'static BoolRules) {
        if let Some(c) = rules.const_
            && value != c
        {
            self.rule((13, "bool"), "bool.const", format!("must equal {c}"), (1, "const", FieldType::Bool));
        }
    }

    /// Enum rules; `defined` lists the enum's numbers.
    pub fn enumeration(&mut self, value: i32, rules: &'static EnumRules, defined: &'static [i32]) {
        const E: (i32, &str) = (16, "enum");
        if let Some(c) = rules.const_
            && value != c
        {
            self.rule(E, "enum.const", format!("must equal {c}"), (1, "const", FieldType::Int32));
        }
        if rules.defined_only && !defined.contains(&value) {
            let message = "value must be one of the defined enum values".to_owned();
            self.rule(E, "enum.defined_only", message, (2, "defined_only", FieldType::Bool));
        }
        if !rules.in_.is_empty() && !rules.in_.contains(&value) {
            let message = format!("must be in list {}", list(rules.in_, |n| n.to_string()));
            self.rule(E, "enum.in", message, (3, "in", FieldType::Int32));
        }
        if rules.not_in.contains(&value) {
            let message = format!("must not be in list {}", list(rules.not_in, |n| n.to_string()));
            self.rule(E, "enum.not_in", message, (4, "not_in", FieldType::Int32));
        }
    }

    pub fn duration(&mut self, value: &Duration, rules: &'static DurationRules) {
        const D: (i32, &str) = (21, "duration");
        if let Some(c) = &rules.const_
            && key_d(value) != key_d(c)
        {
            self.rule(
                D,
                "duration.const",
                format!("must equal {}", duration_text(c)),
                (2, "const", FieldType::Message),
            );
        }
        let range = Range {
            outer: D,
            ty: FieldType::Message,
            lt: rules.lt.as_ref().map(key_d),
            lte: rules.lte.as_ref().map(key_d),
            gt: rules.gt.as_ref().map(key_d),
            gte: rules.gte.as_ref().map(key_d),
            numbers: [3, 4, 5, 6],
        };
        let text = |k: &(i64, i32)| duration_text(&Duration { seconds: k.0, nanos: k.1 });
        range.check(self, &key_d(value), text);
        let listed = |list: &[Duration]| list.iter().any(|d| key_d(d) == key_d(value));
        if !rules.in_.is_empty() && !listed(rules.in_) {
            let message = format!("must be in list {}", list(rules.in_, duration_text));
            self.rule(D, "duration.in", message, (7, "in", FieldType::Message));
        }
        if listed(rules.not_in) {
            let message = format!("must not be in list {}", list(rules.not_in, duration_text));
            self.rule(D, "duration.not_in", message, (8, "not_in", FieldType::Message));
        }
    }

    pub fn timestamp(&mut self, value: &Timestamp, rules: &'static TimestampRules) {
        const T: (i32, &str) = (22, "timestamp");
        if let Some(c) = &rules.const_
            && key_t(value) != key_t(c)
        {
            let message = format!("must equal {}", timestamp_text(c));
            self.rule(T, "timestamp.const", message, (2, "const", FieldType::Message));
        }
        let range = Range {
            outer: T,
            ty: FieldType::Message,
            lt: rules.lt.as_ref().map(key_t),
            lte: rules.lte.as_ref().map(key_t),
            gt: rules.gt.as_ref().map(key_t),
            gte: rules.gte.as_ref().map(key_t),
            numbers: [3, 4, 5, 6],
        };
        let text = |k: &(i64, i32)| timestamp_text(&Timestamp { seconds: k.0, nanos: k.1 });
        range.check(self, &key_t(value), text);
        if !(rules.lt_now || rules.gt_now || rules.within.is_some()) {
            return;
        }
        let now = key_t(&Timestamp::now());
        if rules.lt_now && key_t(value) > now {
            self.rule(T, "timestamp.lt_now", "must be less than now".into(), (7, "lt_now", FieldType::Bool));
        }
        if rules.gt_now && key_t(value) < now {
            self.rule(T, "timestamp.gt_now", "must be greater than now".into(), (8, "gt_now", FieldType::Bool));
        }
        if let Some(within) = &rules.within {
            let shift = |sign: i128| {
                let nanos = |k: (i64, i32)| i128::from(k.0) * 1_000_000_000 + i128::from(k.1);
                nanos(now) + sign * nanos(key_d(within))
            };
            let at = i128::from(value.seconds) * 1_000_000_000 + i128::from(value.nanos);
            if at < shift(-1) || at > shift(1) {
                let message = format!("must be within {} of now", duration_text(within));
                self.rule(T, "timestamp.within", message, (9, "within", FieldType::Message));
            }
        }
    }

    pub fn any(&mut self, value: &Any, rules: &'static AnyRules) {
        const A: (i32, &str) = (20, "any");
        let url = value.type_url.as_str();
        if !rules.in_.is_empty() && !rules.in_.contains(&url) {
            let message = "type URL must be in the allow list".to_owned();
            self.rule(A, "any.in", message, (2, "in", FieldType::String));
        }
        if rules.not_in.contains(&url) {
            let message = "type URL must not be in the block list".to_owned();
            self.rule(A, "any.not_in", message, (3, "not_in", FieldType::String));
        }
    }

    pub(super) fn repeated_rules<T: PartialEq + 'static>(&mut self, values: &[T], rules: &'static RepeatedRules) {
        const R: (i32, &str) = (18, "repeated");
        let len = values.len() as u64;
        if let Some(n) = rules.min_items
            && len < n
        {
            let message = format!("must contain at least {n} item(s)");
            self.rule(R, "repeated.min_items", message, (1, "min_items", FieldType::Uint64));
        }
        if let Some(n) = rules.max_items
            && len > n
        {
            let message = format!("must contain no more than {n} item(s)");
            self.rule(R, "repeated.max_items", message, (2, "max_items", FieldType::Uint64));
        }
        if rules.unique && !unique::all_unique(values) {
            let message = "repeated value must contain unique items".to_owned();
            self.rule(R, "repeated.unique", message, (3, "unique", FieldType::Bool));
        }
    }

    pub(super) fn map_rules(&mut self, len: u64, rules: &'static MapRules) {
        const M: (i32, &str) = (19, "map");
        if let Some(n) = rules.min_pairs
            && len < n
        {
            let message = format!("map must be at least {n} entries");
            self.rule(M, "map.min_pairs", message, (1, "min_pairs", FieldType::Uint64));
        }
        if let Some(n) = rules.max_pairs
            && len > n
        {
            let message = format!("map must be at most {n} entries");
            self.rule(M, "map.max_pairs", message, (2, "max_pairs", FieldType::Uint64));
        }
    }
}

/// `repeated.unique` in linear time for the item types it allows (scalars,
/// strings, bytes), quadratic only for anything else.
mod unique {
    use std::any::{Any, TypeId};
    use std::collections::HashSet;
    use std::hash::Hash;

    fn hashed<T: Eq + Hash + 'static, U: 'static>(values: &[U]) -> Option<bool> {
        if TypeId::of::<T>() != TypeId::of::<U>() {
            return None;
        }
        let mut seen = HashSet::with_capacity(values.len());
        Some(values.iter().filter_map(|v| (v as &dyn Any).downcast_ref::<T>()).all(|v| seen.insert(v)))
    }

    /// Floats as CEL compares them: NaN equals nothing, -0 equals 0.
    fn floats<U: 'static>(values: &[U]) -> Option<bool> {
        let as_f64 = |v: &U| {
            let v = v as &dyn Any;
            v.downcast_ref::<f64>().copied().or_else(|| v.downcast_ref::<f32>().map(|f| f64::from(*f)))
        };
        if TypeId::of::<U>() != TypeId::of::<f64>() && TypeId::of::<U>() != TypeId::of::<f32>() {
            return None;
        }
        let mut seen = HashSet::with_capacity(values.len());
        let bits = values.iter().filter_map(as_f64).filter(|f| !f.is_nan()).map(|f| (f + 0.0).to_bits());
        Some(bits.collect::<Vec<_>>().into_iter().all(|b| seen.insert(b)))
    }

    pub(super) fn all_unique<T: PartialEq + 'static>(values: &[T]) -> bool {
        if let Some(result) = hashed::<String, T>(values)
            .or_else(|| hashed::<Vec<u8>, T>(values))
            .or_else(|| hashed::<bytes::Bytes, T>(values))
            .or_else(|| hashed::<i32, T>(values))
            .or_else(|| hashed::<i64, T>(values))
            .or_else(|| hashed::<u32, T>(values))
            .or_else(|| hashed::<u64, T>(values))
            .or_else(|| hashed::<bool, T>(values))
            .or_else(|| floats(values))
        {
            return result;
        }
        values.iter().enumerate().all(|(i, a)| values[..i].iter().all(|b| a != b))
    }
}
