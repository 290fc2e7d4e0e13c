//! protovalidate's custom rules (`cel` and `cel_expression` on fields and
//! messages), evaluated with the `cel` crate. Generated code holds each
//! place's rules in a [`Cel`] static, compiled when the service is built
//! (never per request), and turns the value a rule sees (`this`) into a CEL
//! value with [`ToCel`]; protovalidate's functions (`isEmail`, `isIp`,
//! `unique`, ...) are the same checks the standard rules use.
//!
//! A message becomes a CEL map of its proto field names: fields without
//! presence always (zero values included), fields with presence (messages,
//! `optional`, oneof members) only when set, so `has(this.f)` answers as
//! protovalidate's does. One difference: reading an unset message field
//! (without `has`) is an evaluation error here, where protovalidate reads
//! the default message.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock, OnceLock};

use cel::objects::{Key, Map};
use cel::{Context, Env, ExecutionError, Program, Value};

use super::formats;
use crate::core::wkt;

/// A `cel` rule: an expression with the id and message a violation reports.
#[derive(Debug)]
pub struct CelRule {
    pub id: &'static str,
    pub message: &'static str,
    pub expression: &'static str,
}

impl CelRule {
    pub const fn new(id: &'static str, message: &'static str, expression: &'static str) -> CelRule {
        CelRule { id, message, expression }
    }
}

/// The custom rules at one place (a message, a field, a list's items):
/// its `cel_expression` list and its `cel` list, as the schema orders them.
pub struct Cel {
    expressions: &'static [&'static str],
    rules: &'static [CelRule],
    programs: OnceLock<Compiled>,
}

/// A place's rules compiled: each program (or why it does not compile),
/// and whether any reads `now`.
struct Compiled {
    programs: Vec<Result<Program, String>>,
    now: bool,
}

impl std::fmt::Debug for Cel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cel").field("expressions", &self.expressions).field("rules", &self.rules).finish()
    }
}

/// Which list of the rules a rule is in: where its violations point.
#[derive(Clone, Copy)]
pub(crate) enum Which {
    Expression = 0,
    Rule = 1,
}

/// What a violation of one rule carries.
pub(crate) struct Broken {
    pub which: Which,
    pub index: usize,
    pub id: &'static str,
    pub message: String,
}

impl Cel {
    pub const fn new(expressions: &'static [&'static str], rules: &'static [CelRule]) -> Cel {
        Cel { expressions, rules, programs: OnceLock::new() }
    }

    /// Compiles the rules (once); a server compiles every rule set of its
    /// schema when its services are built.
    pub fn compile(&self) {
        self.programs();
    }

    fn programs(&self) -> &Compiled {
        self.programs.get_or_init(|| {
            let compile = |source: &str| ENV.compile(source).map_err(|e| e.to_string());
            let programs: Vec<_> = self
                .expressions
                .iter()
                .map(|e| compile(e))
                .chain(self.rules.iter().map(|r| compile(r.expression)))
                .collect();
            let now = programs.iter().any(|p| p.as_ref().is_ok_and(|p| p.references().has_variable("now")));
            Compiled { programs, now }
        })
    }

    /// Evaluates every rule with `this`; `Err` names a rule that could not
    /// be evaluated.
    pub(crate) fn evaluate(&self, this: Value, mut broken: impl FnMut(Broken)) -> Result<(), String> {
        let Compiled { programs, now } = self.programs();
        ROOT.with(|root| {
            let mut scope = root.new_inner_scope();
            scope.add_variable_from_value("this", this);
            // The clock is read only for rules that ask for it.
            if *now {
                scope.add_variable_from_value("now", Value::Timestamp(chrono::Utc::now().fixed_offset()));
            }
            for (i, program) in programs.iter().enumerate() {
                let (which, index, id, message, expression) = match i.checked_sub(self.expressions.len()) {
                    None => (Which::Expression, i, self.expressions[i], "", self.expressions[i]),
                    Some(j) => {
                        let r = &self.rules[j];
                        (Which::Rule, j, r.id, r.message, r.expression)
                    }
                };
                let program = program.as_ref().map_err(|e| format!("rule `{id}` does not compile: {e}"))?;
                let text = match program.execute(&scope) {
                    Ok(Value::Bool(true)) => continue,
                    Ok(Value::Bool(false)) if message.is_empty() => format!("{expression:?} returned false"),
                    Ok(Value::Bool(false)) => message.to_owned(),
                    Ok(Value::String(s)) if s.is_empty() => continue,
                    Ok(Value::String(s)) => s.to_string(),
                    Ok(other) => {
                        return Err(format!("rule `{id}` gave {other:?}, where a bool or a string was expected"));
                    }
                    Err(e) => return Err(format!("rule `{id}` could not be evaluated: {e}")),
                };
                broken(Broken { which, index, id, message: text });
            }
            Ok(())
        })
    }
}

/// Compiles `rule_sets` now, as the services that use them are built.
pub fn prepare(rule_sets: &[&Cel]) {
    for set in rule_sets {
        set.compile();
    }
}

/// CEL's standard library and its strings extension, as protovalidate has them.
static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    // Only fails on a name declared twice, which cannot happen on a fresh stdlib.
    let _ = env.add_extension(cel::extensions::strings);
    Arc::new(env)
});

thread_local! {
    /// protovalidate's functions over the environment; each evaluation adds
    /// `this` and `now` in a scope of its own.
    static ROOT: Context<'static, 'static> = root();
}

fn root() -> Context<'static, 'static> {
    use cel::extractors::{Arguments, This};
    let mut ctx = Context::with_env(ENV.clone());
    let flag = |args: &[Value], i: usize| match args.get(i) {
        Some(Value::Int(n)) => Ok(*n),
        Some(Value::UInt(n)) => {
            i64::try_from(*n).map_err(|_| ExecutionError::function_error("isIp", "version out of range"))
        }
        None => Ok(0),
        Some(other) => Err(ExecutionError::function_error("isIp", format!("unexpected argument {other:?}"))),
    };
    let version = move |args: &[Value], i: usize| -> Result<Option<u8>, ExecutionError> {
        Ok(match flag(args, i)? {
            0 => Some(0),
            4 => Some(4),
            6 => Some(6),
            _ => None,
        })
    };
    let declared = [
        ctx.add_function("isEmail", |This(s): This<Arc<String>>| formats::email(&s)),
        ctx.add_function("isHostname", |This(s): This<Arc<String>>| formats::hostname(&s)),
        ctx.add_function("isUri", |This(s): This<Arc<String>>| formats::uri(&s, false)),
        ctx.add_function("isUriRef", |This(s): This<Arc<String>>| formats::uri(&s, true)),
        ctx.add_function("isIp", move |This(s): This<Arc<String>>, Arguments(args): Arguments| {
            version(&args, 0).map(|v| v.is_some_and(|v| formats::ip(&s, v)))
        }),
        ctx.add_function("isIpPrefix", move |This(s): This<Arc<String>>, Arguments(args): Arguments| {
            // isIpPrefix(), isIpPrefix(version), isIpPrefix(strict), isIpPrefix(version, strict)
            let (v, strict) = match (args.first(), args.get(1)) {
                (Some(Value::Bool(strict)), None) => (Some(0), *strict),
                (_, Some(Value::Bool(strict))) => (version(&args, 0)?, *strict),
                _ => (version(&args, 0)?, false),
            };
            Ok::<_, ExecutionError>(v.is_some_and(|v| formats::ip_prefix(&s, v, strict)))
        }),
        ctx.add_function("isHostAndPort", |This(s): This<Arc<String>>, required: bool| {
            formats::host_and_port(&s) || (!required && formats::host_or_ip(&s))
        }),
        ctx.add_function("isNan", |This(f): This<f64>| f.is_nan()),
        ctx.add_function("isInf", |This(f): This<f64>, Arguments(args): Arguments| {
            let sign = match args.first() {
                Some(Value::Int(n)) => *n,
                _ => 0,
            };
            f.is_infinite() && (sign == 0 || (sign > 0) == (f > 0.0))
        }),
        ctx.add_function("unique", |This(list): This<Arc<Vec<Value>>>| {
            list.iter().enumerate().all(|(i, a)| list[..i].iter().all(|b| a != b))
        }),
    ];
    debug_assert!(declared.iter().all(Result::is_ok), "{declared:?}");
    ctx
}

/// A value as a CEL rule sees it.
pub trait ToCel {
    fn to_cel(&self) -> Value;
}

macro_rules! to_cel {
    ($($t:ty => $v:ident as $u:ty),*) => { $(impl ToCel for $t {
        fn to_cel(&self) -> Value { Value::$v(<$u>::from(*self)) }
    })* };
}

to_cel!(bool => Bool as bool, i32 => Int as i64, i64 => Int as i64, u32 => UInt as u64, u64 => UInt as u64,
    f32 => Float as f64, f64 => Float as f64);

impl ToCel for String {
    fn to_cel(&self) -> Value {
        Value::String(Arc::new(self.clone()))
    }
}

impl ToCel for Vec<u8> {
    fn to_cel(&self) -> Value {
        Value::Bytes(Arc::new(self.clone()))
    }
}

impl ToCel for bytes::Bytes {
    fn to_cel(&self) -> Value {
        Value::Bytes(Arc::new(self.to_vec()))
    }
}

impl<T: ToCel> ToCel for Box<T> {
    fn to_cel(&self) -> Value {
        (**self).to_cel()
    }
}

impl<T: ToCel> ToCel for Vec<T> {
    fn to_cel(&self) -> Value {
        Value::List(Arc::new(self.iter().map(ToCel::to_cel).collect()))
    }
}

/// A map key type as CEL keys it.
pub trait ToCelKey {
    fn to_cel_key(&self) -> Key;
}

impl ToCelKey for String {
    fn to_cel_key(&self) -> Key {
        Key::String(Arc::new(self.clone()))
    }
}

impl ToCelKey for bool {
    fn to_cel_key(&self) -> Key {
        Key::Bool(*self)
    }
}

macro_rules! keys {
    ($($t:ty => $v:ident as $u:ty),*) => { $(impl ToCelKey for $t {
        fn to_cel_key(&self) -> Key { Key::$v(<$u>::from(*self)) }
    })* };
}

keys!(i32 => Int as i64, i64 => Int as i64, u32 => Uint as u64, u64 => Uint as u64);

impl<K: ToCelKey, V: ToCel, S> ToCel for HashMap<K, V, S> {
    fn to_cel(&self) -> Value {
        map(self.iter().map(|(k, v)| (k.to_cel_key(), v.to_cel())))
    }
}

impl<K: ToCelKey, V: ToCel> ToCel for BTreeMap<K, V> {
    fn to_cel(&self) -> Value {
        map(self.iter().map(|(k, v)| (k.to_cel_key(), v.to_cel())))
    }
}

fn map(entries: impl Iterator<Item = (Key, Value)>) -> Value {
    Value::Map(Map { map: Arc::new(entries.collect()) })
}

/// A message's fields as a CEL map, built one field at a time by generated code.
#[derive(Default)]
pub struct CelMessage(HashMap<Key, Value>);

impl CelMessage {
    pub fn new() -> CelMessage {
        CelMessage::default()
    }

    /// A field without presence: always there.
    pub fn field(mut self, name: &'static str, value: &impl ToCel) -> CelMessage {
        self.0.insert(Key::String(Arc::new(name.to_owned())), value.to_cel());
        self
    }

    /// A field with presence: there only when set.
    pub fn present<T: ToCel + ?Sized>(mut self, name: &'static str, value: Option<&T>) -> CelMessage {
        if let Some(value) = value {
            self.0.insert(Key::String(Arc::new(name.to_owned())), value.to_cel());
        }
        self
    }

    pub fn build(self) -> Value {
        Value::Map(Map { map: Arc::new(self.0) })
    }
}

impl ToCel for wkt::Timestamp {
    fn to_cel(&self) -> Value {
        let nanos = u32::try_from(self.nanos).unwrap_or(0);
        match chrono::DateTime::from_timestamp(self.seconds, nanos) {
            Some(at) => Value::Timestamp(at.fixed_offset()),
            None => Value::Null,
        }
    }
}

impl ToCel for wkt::Duration {
    fn to_cel(&self) -> Value {
        let d = chrono::Duration::try_seconds(self.seconds)
            .and_then(|s| s.checked_add(&chrono::Duration::nanoseconds(i64::from(self.nanos))));
        d.map_or(Value::Null, Value::Duration)
    }
}

macro_rules! wrappers {
    ($($t:ident),*) => { $(impl ToCel for wkt::$t {
        fn to_cel(&self) -> Value { self.value.to_cel() }
    })* };
}

wrappers!(
    BoolValue,
    BytesValue,
    DoubleValue,
    FloatValue,
    Int32Value,
    Int64Value,
    StringValue,
    UInt32Value,
    UInt64Value
);

impl ToCel for wkt::Empty {
    fn to_cel(&self) -> Value {
        CelMessage::new().build()
    }
}

impl ToCel for wkt::FieldMask {
    fn to_cel(&self) -> Value {
        CelMessage::new().field("paths", &self.paths).build()
    }
}

impl ToCel for wkt::Any {
    fn to_cel(&self) -> Value {
        CelMessage::new().field("type_url", &self.type_url).field("value", &self.value).build()
    }
}

/// `google.protobuf.Value` and its kin are JSON in CEL.
impl ToCel for wkt::Value {
    fn to_cel(&self) -> Value {
        use wkt::value::Kind;
        match &self.kind {
            None | Some(Kind::NullValue(_)) => Value::Null,
            Some(Kind::NumberValue(n)) => Value::Float(*n),
            Some(Kind::StringValue(s)) => s.to_cel(),
            Some(Kind::BoolValue(b)) => Value::Bool(*b),
            Some(Kind::StructValue(s)) => s.to_cel(),
            Some(Kind::ListValue(l)) => l.to_cel(),
        }
    }
}

impl ToCel for wkt::Struct {
    fn to_cel(&self) -> Value {
        self.fields.to_cel()
    }
}

impl ToCel for wkt::ListValue {
    fn to_cel(&self) -> Value {
        self.values.to_cel()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(expression: &'static str, this: Value) -> Result<Vec<String>, String> {
        let rules: &'static Cel = Box::leak(Box::new(Cel::new(Box::leak(vec![expression].into_boxed_slice()), &[])));
        let mut out = Vec::new();
        rules.evaluate(this, |b| out.push(b.message))?;
        Ok(out)
    }

    #[test]
    fn protovalidate_functions_are_declared() {
        let s = |v: &str| Value::String(Arc::new(v.to_owned()));
        for (expression, this, ok) in [
            ("this.isEmail()", s("a@b.example"), true),
            ("this.isEmail()", s("a@"), false),
            ("this.isHostname()", s("example.com"), true),
            ("this.isIp()", s("::1"), true),
            ("this.isIp(4)", s("::1"), false),
            ("this.isIp(6)", s("::1"), true),
            ("this.isIp(5)", s("::1"), false),
            ("this.isIpPrefix()", s("10.0.0.1/8"), true),
            ("this.isIpPrefix(true)", s("10.0.0.1/8"), false),
            ("this.isIpPrefix(4, true)", s("10.0.0.0/8"), true),
            ("this.isUri()", s("https://example.com/a"), true),
            ("this.isUriRef()", s("/a"), true),
            ("this.isHostAndPort(true)", s("example.com"), false),
            ("this.isHostAndPort(false)", s("example.com"), true),
            ("this.isHostAndPort(false)", s("[::1]:80"), true),
            ("this.isNan()", Value::Float(f64::NAN), true),
            ("this.isInf()", Value::Float(f64::NEG_INFINITY), true),
            ("this.isInf(1)", Value::Float(f64::NEG_INFINITY), false),
            ("this.unique()", Value::List(Arc::new(vec![Value::Int(1), Value::Int(1)])), false),
            ("this.unique()", Value::List(Arc::new(vec![Value::Int(1), Value::Int(2)])), true),
            ("this.lowerAscii() == 'ab'", s("AB"), true),
            ("now > timestamp('2020-01-01T00:00:00Z')", Value::Null, true),
        ] {
            let found = run(expression, this).unwrap_or_else(|e| panic!("{expression}: {e}"));
            assert_eq!(found.is_empty(), ok, "{expression}");
        }
    }

    #[test]
    fn a_rule_that_cannot_be_evaluated_is_an_error_not_a_violation() {
        assert!(run("this / 0 > 1", Value::Int(3)).unwrap_err().contains("could not be evaluated"));
        assert!(run("this + 1", Value::Int(3)).unwrap_err().contains("where a bool or a string"));
        assert!(run("this >", Value::Int(3)).unwrap_err().contains("does not compile"));
    }

    #[test]
    fn messages_have_their_set_fields() {
        let m = CelMessage::new().field("count", &0i32).present("inner", Some(&7u64)).present::<i32>("unset", None);
        let this = m.field("tags", &vec!["a".to_owned()]).build();
        for expression in ["this.count == 0", "has(this.inner)", "!has(this.unset)", "this.tags == ['a']"] {
            assert_eq!(run(expression, this.clone()), Ok(vec![]), "{expression}");
        }
    }
}
