//! Replays the cases `validate_cases/make.py` recorded from protovalidate
//! itself (`validate_cases/cases.json`) against `apigen_runtime::validate`:
//! the same rules, built with this crate's API, must give the same
//! violations (rule id, message, field path, rule path, for_key).

use std::collections::BTreeMap;

use apigen_runtime::validate::*;
use apigen_runtime::wkt::{Any, Duration, Timestamp};
use base64::Engine;
use serde_json::{Value, json};

fn leak<T>(t: T) -> &'static T {
    Box::leak(Box::new(t))
}

fn strs(v: &Value) -> &'static [&'static str] {
    let list: Vec<&'static str> =
        v.as_array().map(|a| a.iter().map(|s| &*s.as_str().unwrap().to_owned().leak()).collect()).unwrap_or_default();
    list.leak()
}

fn b64(v: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap()).unwrap()
}

fn u(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn field_type(kind: &str) -> FieldType {
    use FieldType::*;
    match kind {
        "double" => Double,
        "float" => Float,
        "int64" => Int64,
        "uint64" => Uint64,
        "int32" => Int32,
        "fixed64" => Fixed64,
        "fixed32" => Fixed32,
        "bool" => Bool,
        "string" => String,
        "bytes" => Bytes,
        "uint32" => Uint32,
        "enum" => Enum,
        "sfixed32" => Sfixed32,
        "sfixed64" => Sfixed64,
        "sint32" => Sint32,
        "sint64" => Sint64,
        _ => Message,
    }
}

/// A field value of any kind the cases use.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    S(String),
    B(Vec<u8>),
    I(i64),
    U(u64),
    F(f64),
    Bool(bool),
    Dur(Duration),
    Ts(Timestamp),
    Any(Any),
    Msg(Inner),
}

#[derive(Clone, Debug, PartialEq)]
struct Inner {
    name: String,
}

static NAME: Field = Field { number: 1, name: "name", kind: FieldType::String, key: None, value: None };
static MIN2: StringRules = StringRules { min_len: Some(2), ..StringRules::NONE };

impl Validate for Inner {
    fn validate_rules(&self, v: &mut Validator) {
        v.at(&NAME, |v| v.string(&self.name, &MIN2));
    }
}

fn inner(v: &Value) -> Inner {
    Inner { name: v.get("name").and_then(Value::as_str).unwrap_or_default().to_owned() }
}

fn val(kind: &str, v: &Value) -> Val {
    let float = |v: &Value| {
        v.as_f64().unwrap_or_else(|| match v.as_str().unwrap() {
            "NaN" => f64::NAN,
            "Infinity" => f64::INFINITY,
            "-Infinity" => f64::NEG_INFINITY,
            s => s.parse().unwrap(),
        })
    };
    let wkt = |v: &Value| serde_json::to_vec(v).unwrap();
    match kind {
        "string" => Val::S(v.as_str().unwrap().to_owned()),
        "bytes" => Val::B(b64(v)),
        "bool" => Val::Bool(v.as_bool().unwrap_or_else(|| v.as_str() == Some("true"))),
        "float" => Val::F(f64::from(float(v) as f32)),
        "double" => Val::F(float(v)),
        "uint32" | "uint64" | "fixed32" | "fixed64" => Val::U(u(v).unwrap()),
        "duration" => Val::Dur(apigen_runtime::json::from_slice(&wkt(v)).unwrap()),
        "timestamp" => Val::Ts(apigen_runtime::json::from_slice(&wkt(v)).unwrap()),
        "any" => Val::Any(apigen_runtime::json::from_slice(&wkt(v)).unwrap()),
        "message" => Val::Msg(inner(v)),
        _ => Val::I(v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).unwrap()),
    }
}

fn kind_of(k: &str) -> NumberKind {
    use NumberKind::*;
    match k {
        "float" => Float,
        "double" => Double,
        "int32" => Int32,
        "int64" => Int64,
        "uint32" => Uint32,
        "uint64" => Uint64,
        "sint32" => Sint32,
        "sint64" => Sint64,
        "fixed32" => Fixed32,
        "fixed64" => Fixed64,
        "sfixed32" => Sfixed32,
        _ => Sfixed64,
    }
}

fn number_rules<T: Copy>(kind: &str, r: &Value, conv: impl Fn(&Value) -> T) -> &'static NumberRules<T> {
    let get = |k: &str| r.get(k).map(&conv);
    let list = |k: &str| -> &'static [T] {
        r.get(k).map(|a| a.as_array().unwrap().iter().map(&conv).collect::<Vec<_>>().leak() as &_).unwrap_or(&[])
    };
    leak(NumberRules {
        const_: get("const"),
        lt: get("lt"),
        lte: get("lte"),
        gt: get("gt"),
        gte: get("gte"),
        in_: list("in"),
        not_in: list("not_in"),
        finite: r.get("finite").is_some(),
        ..NumberRules::none(kind_of(kind))
    })
}

fn string_rules(r: &Value) -> &'static StringRules {
    use WellKnownString::*;
    let s = |k: &str| r.get(k).map(|v| &*v.as_str().unwrap().to_owned().leak());
    let formats = [
        ("email", Email),
        ("hostname", Hostname),
        ("ip", Ip),
        ("ipv4", Ipv4),
        ("ipv6", Ipv6),
        ("uri", Uri),
        ("uri_ref", UriRef),
        ("address", Address),
        ("uuid", Uuid),
        ("tuuid", Tuuid),
        ("host_and_port", HostAndPort),
        ("ip_with_prefixlen", IpWithPrefixlen),
        ("ipv4_with_prefixlen", Ipv4WithPrefixlen),
        ("ipv6_with_prefixlen", Ipv6WithPrefixlen),
        ("ip_prefix", IpPrefix),
        ("ipv4_prefix", Ipv4Prefix),
        ("ipv6_prefix", Ipv6Prefix),
        ("ulid", Ulid),
        ("protobuf_fqn", ProtobufFqn),
        ("protobuf_dot_fqn", ProtobufDotFqn),
    ];
    leak(StringRules {
        const_: s("const"),
        len: r.get("len").and_then(u),
        min_len: r.get("min_len").and_then(u),
        max_len: r.get("max_len").and_then(u),
        len_bytes: r.get("len_bytes").and_then(u),
        min_bytes: r.get("min_bytes").and_then(u),
        max_bytes: r.get("max_bytes").and_then(u),
        pattern: s("pattern").map(Pattern::new),
        prefix: s("prefix"),
        suffix: s("suffix"),
        contains: s("contains"),
        not_contains: s("not_contains"),
        in_: strs(r.get("in").unwrap_or(&Value::Null)),
        not_in: strs(r.get("not_in").unwrap_or(&Value::Null)),
        well_known: formats.iter().find(|(k, _)| r.get(*k).is_some()).map(|(_, f)| *f),
    })
}

fn bytes_rules(r: &Value) -> &'static BytesRules {
    let b = |k: &str| r.get(k).map(|v| &*b64(v).leak());
    let list = |k: &str| -> &'static [&'static [u8]] {
        r.get(k)
            .map(|a| a.as_array().unwrap().iter().map(|v| &*b64(v).leak()).collect::<Vec<_>>().leak() as &_)
            .unwrap_or(&[])
    };
    let formats = [
        ("ip", WellKnownBytes::Ip),
        ("ipv4", WellKnownBytes::Ipv4),
        ("ipv6", WellKnownBytes::Ipv6),
        ("uuid", WellKnownBytes::Uuid),
    ];
    leak(BytesRules {
        const_: b("const"),
        len: r.get("len").and_then(u),
        min_len: r.get("min_len").and_then(u),
        max_len: r.get("max_len").and_then(u),
        pattern: r.get("pattern").map(|p| Pattern::new(p.as_str().unwrap().to_owned().leak())),
        prefix: b("prefix"),
        suffix: b("suffix"),
        contains: b("contains"),
        in_: list("in"),
        not_in: list("not_in"),
        well_known: formats.iter().find(|(k, _)| r.get(*k).is_some()).map(|(_, f)| *f),
    })
}

fn durations(r: &Value, k: &str) -> &'static [Duration] {
    r.get(k).map(|a| a.as_array().unwrap().iter().map(dur).collect::<Vec<_>>().leak() as &_).unwrap_or(&[])
}

fn dur(v: &Value) -> Duration {
    apigen_runtime::json::from_slice(&serde_json::to_vec(v).unwrap()).unwrap()
}

fn ts(v: &Value) -> Timestamp {
    apigen_runtime::json::from_slice(&serde_json::to_vec(v).unwrap()).unwrap()
}

/// Applies scalar FieldRules `r` to one value, as generated code would.
/// The custom rules in `r` (`cel`, `cel_expression`), as generated code holds them.
fn cel_rules(r: &Value) -> Option<&'static Cel> {
    let expressions = strs(r.get("cel_expression").unwrap_or(&Value::Null));
    let rules: Vec<CelRule> = r
        .get("cel")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|c| {
                    let text = |k: &str| &*c.get(k).and_then(Value::as_str).unwrap_or_default().to_owned().leak();
                    CelRule::new(text("id"), text("message"), text("expression"))
                })
                .collect()
        })
        .unwrap_or_default();
    (!expressions.is_empty() || !rules.is_empty()).then(|| leak(Cel::new(expressions, rules.leak())))
}

/// Custom rules of `r` over `this`, before its standard rules, as protovalidate orders them.
fn custom(v: &mut Validator, r: &Value, this: impl FnOnce() -> CelValue) {
    if let Some(rules) = cel_rules(r) {
        v.cel(rules, this);
    }
}

fn apply(v: &mut Validator, r: &Value, value: &Val) {
    custom(v, r, || value.to_cel());
    let standard = |k: &String| !matches!(k.as_str(), "required" | "cel" | "cel_expression");
    let Some((family, rules)) = r.as_object().and_then(|o| o.iter().find(|(k, _)| standard(k))) else { return };
    match (family.as_str(), value) {
        ("string", Val::S(s)) => v.string(s, string_rules(rules)),
        ("bytes", Val::B(b)) => v.bytes(b, bytes_rules(rules)),
        ("bool", Val::Bool(b)) => {
            v.boolean(*b, leak(BoolRules { const_: rules.get("const").and_then(Value::as_bool) }))
        }
        ("float", Val::F(f)) => v.number(*f as f32, number_rules(family, rules, |x| val("float", x).f() as f32)),
        ("double", Val::F(f)) => v.number(*f, number_rules(family, rules, |x| val("double", x).f())),
        ("int32" | "sint32" | "sfixed32", Val::I(i)) => {
            v.number(*i as i32, number_rules(family, rules, |x| val("int64", x).i() as i32))
        }
        ("int64" | "sint64" | "sfixed64", Val::I(i)) => {
            v.number(*i, number_rules(family, rules, |x| val("int64", x).i()))
        }
        ("uint32" | "fixed32", Val::U(n)) => v.number(*n as u32, number_rules(family, rules, |x| u(x).unwrap() as u32)),
        ("uint64" | "fixed64", Val::U(n)) => v.number(*n, number_rules(family, rules, |x| u(x).unwrap())),
        ("enum", Val::I(i)) => {
            let list = |k: &str| -> &'static [i32] {
                rules
                    .get(k)
                    .map(|a| {
                        a.as_array().unwrap().iter().map(|n| n.as_i64().unwrap() as i32).collect::<Vec<_>>().leak()
                            as &_
                    })
                    .unwrap_or(&[])
            };
            let r = leak(EnumRules {
                const_: rules.get("const").map(|n| n.as_i64().unwrap() as i32),
                defined_only: rules.get("defined_only").is_some(),
                in_: list("in"),
                not_in: list("not_in"),
            });
            v.enumeration(*i as i32, r, &[0, 1, 2, 3]);
        }
        ("duration", Val::Dur(d)) => v.duration(
            d,
            leak(DurationRules {
                const_: rules.get("const").map(dur),
                lt: rules.get("lt").map(dur),
                lte: rules.get("lte").map(dur),
                gt: rules.get("gt").map(dur),
                gte: rules.get("gte").map(dur),
                in_: durations(rules, "in"),
                not_in: durations(rules, "not_in"),
            }),
        ),
        ("timestamp", Val::Ts(t)) => v.timestamp(
            t,
            leak(TimestampRules {
                const_: rules.get("const").map(ts),
                lt: rules.get("lt").map(ts),
                lte: rules.get("lte").map(ts),
                gt: rules.get("gt").map(ts),
                gte: rules.get("gte").map(ts),
                lt_now: rules.get("lt_now").is_some(),
                gt_now: rules.get("gt_now").is_some(),
                within: rules.get("within").map(dur),
            }),
        ),
        ("any", Val::Any(a)) => v.any(a, leak(AnyRules { in_: strs(&rules["in"]), not_in: strs(&rules["not_in"]) })),
        (family, value) => panic!("no {family} rules for {value:?}"),
    }
}

impl ToCel for Val {
    fn to_cel(&self) -> CelValue {
        match self {
            Val::S(s) => s.to_cel(),
            Val::B(b) => b.to_cel(),
            Val::I(i) => i.to_cel(),
            Val::U(u) => u.to_cel(),
            Val::F(f) => f.to_cel(),
            Val::Bool(b) => b.to_cel(),
            Val::Dur(d) => d.to_cel(),
            Val::Ts(t) => t.to_cel(),
            Val::Any(a) => a.to_cel(),
            Val::Msg(m) => m.to_cel(),
        }
    }
}

impl ToCel for Inner {
    fn to_cel(&self) -> CelValue {
        CelMessage::new().field("name", &self.name).build()
    }
}

/// The zero value of a field without presence, which protovalidate checks when unset.
fn zero(kind: &str) -> Option<Val> {
    Some(match kind {
        "string" => Val::S(String::new()),
        "bytes" => Val::B(Vec::new()),
        "bool" => Val::Bool(false),
        "float" | "double" => Val::F(0.0),
        "uint32" | "uint64" | "fixed32" | "fixed64" => Val::U(0),
        "message" | "duration" | "timestamp" | "any" => return None,
        _ => Val::I(0),
    })
}

impl Val {
    fn f(&self) -> f64 {
        match self {
            Val::F(f) => *f,
            _ => unreachable!(),
        }
    }
    fn i(&self) -> i64 {
        match self {
            Val::I(i) => *i,
            _ => unreachable!(),
        }
    }
    /// Whether a proto3 field without presence holding this is set.
    fn is_set(&self) -> bool {
        match self {
            Val::S(s) => !s.is_empty(),
            Val::B(b) => !b.is_empty(),
            Val::I(i) => *i != 0,
            Val::U(n) => *n != 0,
            Val::F(f) => *f != 0.0,
            Val::Bool(b) => *b,
            _ => true,
        }
    }
    /// A single value checked as generated code checks a singular field.
    fn check(&self, v: &mut Validator, r: &Value) {
        if let Val::Msg(m) = self {
            custom(v, r, || m.to_cel());
            v.message(Some(m));
        } else {
            apply(v, r, self);
        }
    }
}

fn run_case(case: &Value) -> Vec<Violation> {
    let kind = case["kind"].as_str().unwrap_or_default();
    let rules = &case["rules"];
    let required = rules.get("required").is_some();
    let mut v = Validator::new();
    if let Some(map) = case.get("map") {
        let (kt, vt) = (map[0].as_str().unwrap(), map[1].as_str().unwrap());
        let field = leak(Field {
            number: 1,
            name: "f",
            kind: FieldType::Message,
            key: Some(field_type(kt)),
            value: Some(field_type(vt)),
        });
        let entries = case["value"].as_object().cloned().unwrap_or_default();
        let m = &rules["map"];
        let map_rules =
            leak(MapRules { min_pairs: m.get("min_pairs").and_then(u), max_pairs: m.get("max_pairs").and_then(u) });
        let values: Vec<(Value, Val)> = entries.iter().map(|(k, x)| (Value::String(k.clone()), val(vt, x))).collect();
        let check_value = |v: &mut Validator, x: &Val| x.check(v, &m["values"]);
        v.at(field, |v| {
            if required {
                v.required(!values.is_empty());
            }
            let key_rules = &m["keys"];
            macro_rules! keyed {
                ($t:ty, $conv:expr) => {{
                    let typed: BTreeMap<$t, Val> = values.iter().map(|(k, x)| ($conv(k), x.clone())).collect();
                    custom(v, rules, || typed.to_cel());
                    v.map(
                        typed.iter(),
                        map_rules,
                        |v, k| apply(v, key_rules, &val(kt, &json!(k.to_string()))),
                        check_value,
                    )
                }};
            }
            match kt {
                "string" => keyed!(String, |k: &Value| k.as_str().unwrap().to_owned()),
                "bool" => keyed!(bool, |k: &Value| k.as_str() == Some("true")),
                "int32" | "sint32" | "sfixed32" => keyed!(i32, |k: &Value| k.as_str().unwrap().parse().unwrap()),
                "uint32" | "fixed32" => keyed!(u32, |k: &Value| k.as_str().unwrap().parse().unwrap()),
                "uint64" | "fixed64" => keyed!(u64, |k: &Value| k.as_str().unwrap().parse().unwrap()),
                _ => keyed!(i64, |k: &Value| k.as_str().unwrap().parse().unwrap()),
            }
        });
    } else if case.get("label").and_then(Value::as_str) == Some("repeated") {
        let field = leak(Field { number: 1, name: "f", kind: field_type(kind), key: None, value: None });
        let r = &rules["repeated"];
        let rep = leak(RepeatedRules {
            min_items: r.get("min_items").and_then(u),
            max_items: r.get("max_items").and_then(u),
            unique: r.get("unique").is_some(),
        });
        let items: Vec<Val> = case["value"].as_array().unwrap().iter().map(|x| val(kind, x)).collect();
        let item_rules = &r["items"];
        v.at(field, |v| {
            if required {
                v.required(!items.is_empty());
            }
            custom(v, rules, || items.to_cel());
            // Typed vectors where generated code has them, for the fast unique path.
            match kind {
                "string" => {
                    let typed: Vec<String> =
                        items.iter().map(|x| if let Val::S(s) = x { s.clone() } else { unreachable!() }).collect();
                    v.repeated(&typed, rep, |v, s| apply(v, item_rules, &Val::S(s.clone())))
                }
                "double" => {
                    let typed: Vec<f64> = items.iter().map(Val::f).collect();
                    v.repeated(&typed, rep, |v, f| apply(v, item_rules, &Val::F(*f)))
                }
                "float" => {
                    let typed: Vec<f32> = items.iter().map(|x| x.f() as f32).collect();
                    v.repeated(&typed, rep, |v, f| apply(v, item_rules, &Val::F(f64::from(*f))))
                }
                _ => v.repeated(&items, rep, |v, x| x.check(v, item_rules)),
            }
        });
    } else {
        let field = leak(Field { number: 1, name: "f", kind: field_type(kind), key: None, value: None });
        let unset = case.get("unset").is_some();
        let optional = case.get("label").and_then(Value::as_str) == Some("optional");
        let value = if unset { zero(kind).filter(|_| !optional) } else { Some(val(kind, &case["value"])) };
        v.at(field, |v| {
            // Message-typed and optional fields have presence; others are set when not zero.
            let has_presence = optional || matches!(kind, "message" | "duration" | "timestamp" | "any");
            let set = match &value {
                None => false,
                Some(x) => has_presence || x.is_set(),
            };
            if required && !set {
                v.required(false);
                return;
            }
            if let Some(x) = &value {
                x.check(v, rules);
            }
        });
    }
    v.violations().to_vec()
}

// The fixed shapes of make.py.

static INNER: Field = Field { number: 1, name: "inner", kind: FieldType::Message, key: None, value: None };
static ITEMS: Field = Field { number: 2, name: "items", kind: FieldType::Message, key: None, value: None };
static BY_NAME: Field = Field {
    number: 3,
    name: "by_name",
    kind: FieldType::Message,
    key: Some(FieldType::String),
    value: Some(FieldType::Message),
};
static DEEP: Field = Field {
    number: 4,
    name: "deep",
    kind: FieldType::Message,
    key: Some(FieldType::Int32),
    value: Some(FieldType::Message),
};
static MAX2: RepeatedRules = RepeatedRules { max_items: Some(2), ..RepeatedRules::NONE };
static A: Field = Field { number: 1, name: "a", kind: FieldType::String, key: None, value: None };
static MIN3: StringRules = StringRules { min_len: Some(3), ..StringRules::NONE };

struct Outer {
    inner: Option<Inner>,
    items: Vec<Inner>,
    by_name: BTreeMap<String, Inner>,
    deep: BTreeMap<i32, Inner>,
}

impl Validate for Outer {
    fn validate_rules(&self, v: &mut Validator) {
        v.at(&INNER, |v| v.message(self.inner.as_ref()));
        v.at(&ITEMS, |v| v.repeated(&self.items, &MAX2, |v, x| v.message(Some(x))));
        v.at(&BY_NAME, |v| v.map(&self.by_name, &MapRules::NONE, |v, k| v.string(k, &MIN2), |v, x| v.message(Some(x))));
        v.at(&DEEP, |v| v.map(&self.deep, &MapRules::NONE, |_, _| {}, |v, x| v.message(Some(x))));
    }
}

struct Choice {
    a: Option<String>,
    b: Option<i32>,
    x: String,
    y: i32,
}

impl Validate for Choice {
    fn validate_rules(&self, v: &mut Validator) {
        v.oneof_required("kind", self.a.is_some() || self.b.is_some());
        if let Some(a) = &self.a {
            v.at(&A, |v| v.string(a, &MIN3));
        }
        v.message_oneof(&["x", "y"], &[!self.x.is_empty(), self.y != 0], true);
    }
}

static LO: Field = Field { number: 1, name: "lo", kind: FieldType::Int32, key: None, value: None };
static RANGE_INNER: Field = Field { number: 3, name: "inner", kind: FieldType::Message, key: None, value: None };
static GTE0: NumberRules<i32> = NumberRules { gte: Some(0), ..NumberRules::none(NumberKind::Int32) };
static RANGE_RULES: Cel = Cel::new(
    &["this.hi > 100 || has(this.inner)"],
    &[
        CelRule::new("range.order", "lo must be at most hi", "this.lo <= this.hi"),
        CelRule::new(
            "range.str",
            "",
            "has(this.note) || size(this.tags) > 0 ? '' : 'a note or tags, please; hi=' + string(this.hi)",
        ),
    ],
);
static INNER_NAMED: Cel = Cel::new(&[], &[CelRule::new("inner.named", "", "this.name != 'bad'")]);

/// A message with custom rules of its own, written as generated code writes it.
struct Range {
    lo: i32,
    hi: i32,
    inner: Option<Inner>,
    tags: Vec<String>,
    note: Option<String>,
}

impl ToCel for Range {
    fn to_cel(&self) -> CelValue {
        CelMessage::new()
            .field("lo", &self.lo)
            .field("hi", &self.hi)
            .present("inner", self.inner.as_ref())
            .field("tags", &self.tags)
            .present("note", self.note.as_ref())
            .build()
    }
}

impl Validate for Range {
    fn validate_rules(&self, v: &mut Validator) {
        v.message_cel(&RANGE_RULES, || self.to_cel());
        v.at(&LO, |v| v.number(self.lo, &GTE0));
        if let Some(x) = &self.inner {
            v.at(&RANGE_INNER, |v| {
                v.cel(&INNER_NAMED, || x.to_cel());
                v.message(Some(x));
            });
        }
    }
}

fn run_shape(case: &Value) -> Vec<Violation> {
    let value = &case["value"];
    let mut v = Validator::new();
    match case["shape"].as_str().unwrap() {
        "Outer" => {
            let map = |k: &str| value.get(k).and_then(Value::as_object).cloned().unwrap_or_default();
            let outer = Outer {
                inner: value.get("inner").map(inner),
                items: value
                    .get("items")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(inner).collect())
                    .unwrap_or_default(),
                by_name: map("byName").iter().map(|(k, x)| (k.clone(), inner(x))).collect(),
                deep: map("deep").iter().map(|(k, x)| (k.parse().unwrap(), inner(x))).collect(),
            };
            v.message(Some(&outer));
        }
        "Range" => {
            let int = |k: &str| value.get(k).and_then(Value::as_i64).unwrap_or_default() as i32;
            let range = Range {
                lo: int("lo"),
                hi: int("hi"),
                inner: value.get("inner").map(inner),
                tags: value
                    .get("tags")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(|t| t.as_str().unwrap().to_owned()).collect())
                    .unwrap_or_default(),
                note: value.get("note").and_then(Value::as_str).map(str::to_owned),
            };
            v.message(Some(&range));
        }
        _ => {
            let choice = Choice {
                a: value.get("a").and_then(Value::as_str).map(str::to_owned),
                b: value.get("b").and_then(Value::as_i64).map(|b| b as i32),
                x: value.get("x").and_then(Value::as_str).unwrap_or_default().to_owned(),
                y: value.get("y").and_then(Value::as_i64).unwrap_or_default() as i32,
            };
            v.message(Some(&choice));
        }
    }
    v.violations().to_vec()
}

fn element(e: &FieldPathElement) -> Value {
    let mut out = serde_json::Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            out.insert(k.into(), v);
        }
    };
    put("field_number", e.field_number.map(Into::into));
    put("field_name", e.field_name.clone().map(Into::into));
    put("field_type", e.field_type.map(Into::into));
    put("key_type", e.key_type.map(Into::into));
    put("value_type", e.value_type.map(Into::into));
    match &e.subscript {
        Some(Subscript::Index(i)) => put("index", Some((*i).into())),
        Some(Subscript::BoolKey(b)) => put("bool_key", Some((*b).into())),
        Some(Subscript::IntKey(i)) => put("int_key", Some((*i).into())),
        Some(Subscript::UintKey(i)) => put("uint_key", Some((*i).into())),
        Some(Subscript::StringKey(s)) => put("string_key", Some(s.clone().into())),
        None => {}
    }
    Value::Object(out)
}

fn as_json(v: &Violation) -> Value {
    json!({
        "rule_id": v.rule_id,
        "message": v.message,
        "for_key": v.for_key,
        "field": v.field.iter().map(element).collect::<Vec<_>>(),
        "rule": v.rule.iter().map(element).collect::<Vec<_>>(),
    })
}

/// As protovalidate's conformance harness compares them: in any order.
fn sorted(mut list: Vec<Value>) -> Vec<Value> {
    list.sort_by_key(|v| v.to_string());
    list
}

#[test]
fn every_case_gives_protovalidates_violations() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/validate_cases/cases.json")).unwrap();
    let cases: Vec<Value> = serde_json::from_str(&text).unwrap();
    assert!(cases.len() > 500, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let found = if case.get("shape").is_some() { run_shape(case) } else { run_case(case) };
        let found = sorted(found.iter().map(as_json).collect());
        let expected = sorted(case["violations"].as_array().unwrap().clone());
        if found != expected {
            failures.push(format!(
                "{} {} value {}:\n  expected {}\n  found    {}",
                case["name"],
                case["rules"],
                case["value"],
                Value::from(expected),
                Value::from(found)
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

#[test]
fn finish_reports_one_line_and_the_violations_detail() {
    static TITLE: Field = Field { number: 2, name: "title", kind: FieldType::String, key: None, value: None };
    static AUTHORS: Field = Field { number: 3, name: "authors", kind: FieldType::String, key: None, value: None };
    static MIN1: StringRules = StringRules { min_len: Some(1), ..StringRules::NONE };
    let mut v = Validator::new();
    v.at(&TITLE, |v| v.string("", &MIN1));
    v.at(&AUTHORS, |v| v.repeated(&["".to_owned()], &RepeatedRules::NONE, |v, a| v.string(a, &MIN1)));
    assert!(!v.is_ok());
    let status = v.finish().unwrap_err();
    assert_eq!(status.code(), apigen_runtime::Code::InvalidArgument);
    assert_eq!(
        status.message(),
        "validation error: title: must be at least 1 characters [string.min_len]; \
         authors[0]: must be at least 1 characters [repeated.items.string.min_len]"
            .replace("[repeated.items.string.min_len]", "[string.min_len]")
    );
    let json = serde_json::to_value(&status.details()[0]).unwrap();
    assert_eq!(json["@type"], "type.googleapis.com/buf.validate.Violations");
    assert_eq!(json["violations"][1]["ruleId"], "string.min_len");
    assert_eq!(
        json["violations"][1]["field"]["elements"][0],
        json!({"fieldNumber": 3, "fieldName": "authors", "fieldType": "TYPE_STRING", "index": "0"})
    );
    assert_eq!(
        json["violations"][1]["rule"]["elements"][1],
        json!({"fieldNumber": 4, "fieldName": "items", "fieldType": "TYPE_MESSAGE"})
    );
    assert!(Validator::new().finish().is_ok());
}

#[test]
fn patterns_use_re2_classes() {
    static DIGITS: StringRules = StringRules { pattern: Some(Pattern::new(r"^\d+$")), ..StringRules::NONE };
    static BAD: StringRules = StringRules { pattern: Some(Pattern::new(r"^(unclosed$")), ..StringRules::NONE };
    let mut v = Validator::new();
    v.string("١٢", &DIGITS);
    v.string("12", &DIGITS);
    v.string("x", &BAD);
    assert_eq!(v.violations().len(), 2, "{:?}", v.violations());
    assert_eq!(v.violations()[0].rule_path(), "string.pattern");
}
