//! protovalidate's standard rules (`buf.validate.field` and friends),
//! checked natively: generated code describes each checked field once in
//! statics and walks a request with a [`Validator`], which collects every
//! violation with protovalidate's rule ids, messages, field paths and rule
//! paths, and turns them into `INVALID_ARGUMENT` with a packed
//! `buf.validate.Violations` detail. Custom rules (CEL) are evaluated by
//! the `cel` crate ([`cel`](mod@cel)).

mod cel;
mod checks;
mod formats;
pub mod proto;
mod rules;

use std::borrow::Cow;

pub use self::cel::{Cel, CelMessage, CelRule, ToCel, ToCelKey, prepare};
pub use ::cel::Value as CelValue;
pub use checks::Number;
pub use proto::{FieldPathElement, Subscript};
pub use rules::{
    AnyRules, BoolRules, BytesRules, DurationRules, EnumRules, MapRules, NumberKind, NumberRules, Pattern,
    RepeatedRules, StringRules, TimestampRules, WellKnownBytes, WellKnownString,
};

use crate::core::status::Status;

/// `google.protobuf.FieldDescriptorProto.Type`: the field types paths report.
pub use prost_types::field_descriptor_proto::Type as FieldType;

/// A field as generated code describes it, once, in a static. `kind` is
/// the element type of a repeated field and `Message` for a map, whose
/// `key` and `value` types are set.
#[derive(Debug)]
pub struct Field {
    pub number: i32,
    pub name: &'static str,
    pub kind: FieldType,
    pub key: Option<FieldType>,
    pub value: Option<FieldType>,
}

impl Field {
    /// A field that is not a map.
    pub const fn new(number: i32, name: &'static str, kind: FieldType) -> Field {
        Field { number, name, kind, key: None, value: None }
    }

    /// A map field.
    pub const fn map(number: i32, name: &'static str, key: FieldType, value: FieldType) -> Field {
        Field { number, name, kind: FieldType::Message, key: Some(key), value: Some(value) }
    }
}

/// A message's own rules; generated code implements it per message.
pub trait Validate {
    /// Checks this message's fields, reporting into `v`; messages without
    /// rules (at or below them) check nothing.
    fn validate_rules(&self, _v: &mut Validator) {}
}

impl<T: Validate + ?Sized> Validate for Box<T> {
    fn validate_rules(&self, v: &mut Validator) {
        (**self).validate_rules(v)
    }
}

macro_rules! no_rules {
    ($($t:ident),*) => { $(impl Validate for crate::core::wkt::$t {})* };
}

crate::core::wkt::every_message!(no_rules);

/// The violations a failed call reports in its `buf.validate.Violations`
/// details, as any client of any protocol receives them; empty when it
/// carries none.
pub fn violations(status: &Status) -> Vec<proto::Violation> {
    status
        .details()
        .iter()
        .filter(|d| d.type_url.rsplit('/').next() == Some("buf.validate.Violations"))
        .filter_map(|d| <proto::Violations as prost::Message>::decode(d.value.as_slice()).ok())
        .flat_map(|v| v.violations)
        .collect()
}

/// One broken rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Violation {
    /// Where the value is, from the message validated.
    pub field: Vec<FieldPathElement>,
    /// Where the rule is, inside `buf.validate.FieldRules`.
    pub rule: Vec<FieldPathElement>,
    pub rule_id: Cow<'static, str>,
    pub message: String,
    /// The violation is about a map key, not its value.
    pub for_key: bool,
}

impl Violation {
    /// The field path as protovalidate renders it: `a.b[0]`, `m["k"]`.
    pub fn field_path(&self) -> String {
        render(&self.field)
    }

    /// The rule path: `repeated.items.string.min_len`.
    pub fn rule_path(&self) -> String {
        render(&self.rule)
    }

    fn to_proto(&self) -> proto::Violation {
        let path = |elements: &[FieldPathElement]| {
            (!elements.is_empty()).then(|| proto::FieldPath { elements: elements.to_vec() })
        };
        proto::Violation {
            field: path(&self.field),
            rule: path(&self.rule),
            rule_id: Some(self.rule_id.to_string()),
            message: Some(self.message.clone()),
            for_key: self.for_key.then_some(true),
        }
    }
}

fn render(elements: &[FieldPathElement]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for e in elements {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(e.field_name.as_deref().unwrap_or_default());
        let _ = match &e.subscript {
            Some(Subscript::Index(i)) => write!(out, "[{i}]"),
            Some(Subscript::BoolKey(b)) => write!(out, "[{b}]"),
            Some(Subscript::IntKey(i)) => write!(out, "[{i}]"),
            Some(Subscript::UintKey(u)) => write!(out, "[{u}]"),
            Some(Subscript::StringKey(s)) => write!(out, "[{s:?}]"),
            None => Ok(()),
        };
    }
    out
}

/// A step of the field path being walked; materialized only on a violation.
#[derive(Debug)]
enum Step {
    Field { field: &'static Field, subscript: Option<Subscript> },
    Oneof(&'static str),
}

/// One step of a rule path: number, name and type in `FieldRules`.
pub(crate) type RuleStep = (i32, &'static str, FieldType);

const REPEATED_ITEMS: [RuleStep; 2] = [(18, "repeated", FieldType::Message), (4, "items", FieldType::Message)];
const MAP_KEYS: [RuleStep; 2] = [(19, "map", FieldType::Message), (4, "keys", FieldType::Message)];
const MAP_VALUES: [RuleStep; 2] = [(19, "map", FieldType::Message), (5, "values", FieldType::Message)];

/// Walks one request, collecting every violation (not fail-fast).
#[derive(Debug, Default)]
pub struct Validator {
    /// On the stack for any usual depth: a request that passes allocates nothing.
    path: smallvec::SmallVec<[Step; 8]>,
    /// Where the rules being applied sit inside `FieldRules` (`repeated.items`).
    rule: smallvec::SmallVec<[RuleStep; 4]>,
    for_key: bool,
    violations: Vec<Violation>,
    /// A custom rule that could not be evaluated: the request fails without violations.
    error: Option<String>,
}

/// A map key type: how it subscripts a field path.
pub trait MapKey {
    fn subscript(&self) -> Subscript;
}

impl MapKey for String {
    fn subscript(&self) -> Subscript {
        Subscript::StringKey(self.clone())
    }
}

impl MapKey for bool {
    fn subscript(&self) -> Subscript {
        Subscript::BoolKey(*self)
    }
}

macro_rules! map_keys {
    ($variant:ident: $($t:ty),*) => { $(impl MapKey for $t {
        fn subscript(&self) -> Subscript { Subscript::$variant((*self).into()) }
    })* };
}

map_keys!(IntKey: i32, i64);
map_keys!(UintKey: u32, u64);

impl Validator {
    pub fn new() -> Validator {
        Validator::default()
    }

    /// Checks under `field`: the checks `check` makes report it in their path.
    pub fn at(&mut self, field: &'static Field, check: impl FnOnce(&mut Validator)) {
        self.path.push(Step::Field { field, subscript: None });
        let rule = std::mem::take(&mut self.rule);
        let for_key = std::mem::replace(&mut self.for_key, false);
        check(self);
        self.rule = rule;
        self.for_key = for_key;
        self.path.pop();
    }

    /// `required`: the field must be set.
    pub fn required(&mut self, set: bool) {
        if !set {
            self.report("required", "value is required".into(), &[(25, "required", FieldType::Bool)]);
        }
    }

    /// Field-level repeated rules, then `item` for each element, under its index.
    pub fn repeated<T: PartialEq + 'static>(
        &mut self,
        values: &[T],
        rules: &'static RepeatedRules,
        mut item: impl FnMut(&mut Validator, &T),
    ) {
        self.repeated_rules(values, rules);
        let outer = self.rule.len();
        self.rule.extend(REPEATED_ITEMS);
        for (i, value) in values.iter().enumerate() {
            self.set_subscript(Some(Subscript::Index(i as u64)));
            item(self, value);
        }
        self.set_subscript(None);
        self.rule.truncate(outer);
    }

    /// Field-level map rules, then `key` and `value` for each entry, under its key.
    pub fn map<'a, K: MapKey + 'a, V: 'a>(
        &mut self,
        entries: impl IntoIterator<Item = (&'a K, &'a V)>,
        rules: &'static MapRules,
        mut key: impl FnMut(&mut Validator, &K),
        mut value: impl FnMut(&mut Validator, &V),
    ) {
        let entries = entries.into_iter();
        let mut count = 0u64;
        let outer = self.rule.len();
        let mut checked = Vec::new();
        // Map rules come first, as protovalidate reports them; the entries
        // are walked once, so their violations are set aside meanwhile.
        let before = std::mem::take(&mut self.violations);
        for (k, v) in entries {
            count += 1;
            self.set_subscript(Some(k.subscript()));
            self.rule.extend(MAP_KEYS);
            self.for_key = true;
            key(self, k);
            self.for_key = false;
            self.rule.truncate(outer);
            self.rule.extend(MAP_VALUES);
            value(self, v);
            self.rule.truncate(outer);
        }
        self.set_subscript(None);
        std::mem::swap(&mut self.violations, &mut checked);
        self.violations = before;
        self.map_rules(count, rules);
        self.violations.append(&mut checked);
    }

    /// A nested message's own rules, its path continuing from the current
    /// field; nothing for `None`.
    pub fn message<M: Validate + ?Sized>(&mut self, value: Option<&M>) {
        let Some(value) = value else { return };
        let rule = std::mem::take(&mut self.rule);
        let for_key = std::mem::replace(&mut self.for_key, false);
        value.validate_rules(self);
        self.rule = rule;
        self.for_key = for_key;
    }

    /// `(buf.validate.oneof).required`: one of the oneof's fields must be set.
    pub fn oneof_required(&mut self, oneof: &'static str, set: bool) {
        if !set {
            self.path.push(Step::Oneof(oneof));
            let rule = std::mem::take(&mut self.rule);
            self.report("required", "exactly one field is required in oneof".into(), &[]);
            self.rule = rule;
            self.path.pop();
        }
    }

    /// `(buf.validate.message).oneof`: at most one of `fields` set (exactly
    /// one if `required`); `set[i]` says whether `fields[i]` is set.
    pub fn message_oneof(&mut self, fields: &'static [&'static str], set: &[bool], required: bool) {
        let count = set.iter().filter(|s| **s).count();
        let message = if count > 1 {
            format!("only one of {} can be set", fields.join(", "))
        } else if count == 0 && required {
            format!("one of {} must be set", fields.join(", "))
        } else {
            return;
        };
        let rule = std::mem::take(&mut self.rule);
        self.report("message.oneof", message, &[]);
        self.rule = rule;
    }

    /// A field's custom rules (or its items', keys' or values'), each
    /// seeing `this`, made only when there are rules to run.
    pub fn cel(&mut self, rules: &'static Cel, this: impl FnOnce() -> CelValue) {
        self.custom(rules, this, [(29, "cel_expression", FieldType::String), (23, "cel", FieldType::Message)]);
    }

    /// A message's own custom rules: violations name the message's place
    /// and no rule path.
    pub fn message_cel(&mut self, rules: &'static Cel, this: impl FnOnce() -> CelValue) {
        let rule = std::mem::take(&mut self.rule);
        self.custom(rules, this, []);
        self.rule = rule;
    }

    fn custom<const N: usize>(&mut self, rules: &'static Cel, this: impl FnOnce() -> CelValue, steps: [RuleStep; N]) {
        if self.error.is_some() {
            return;
        }
        let mut found = Vec::new();
        if let Err(e) = rules.evaluate(this(), |b| found.push(b)) {
            self.error = Some(e);
        }
        for b in found {
            let step = steps.get(b.which as usize).map(|s| (*s, b.index as u64));
            self.report_at(b.id, b.message, &[], step);
        }
    }

    /// Whether no violation was found so far.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty() && self.error.is_none()
    }

    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// `Ok`, or `INVALID_ARGUMENT` listing the violations on one line, with
    /// a packed `buf.validate.Violations` as its one detail.
    pub fn finish(self) -> Result<(), Status> {
        if let Some(error) = self.error {
            // As protovalidate: a rule that cannot be evaluated is an error, not a violation.
            return Err(Status::invalid_argument(format!("validation error: {error}")));
        }
        if self.violations.is_empty() {
            return Ok(());
        }
        let mut text = String::from("validation error: ");
        for (i, v) in self.violations.iter().enumerate() {
            if i > 0 {
                text.push_str("; ");
            }
            let path = v.field_path();
            if !path.is_empty() {
                text.push_str(&path);
                text.push_str(": ");
            }
            text.push_str(&v.message);
            text.push_str(" [");
            text.push_str(&v.rule_id);
            text.push(']');
        }
        let detail = proto::Violations { violations: self.violations.iter().map(Violation::to_proto).collect() };
        Err(Status::invalid_argument(text).with_detail(crate::core::wkt::Any::pack("buf.validate.Violations", &detail)))
    }

    /// Sets the subscript of the innermost field.
    fn set_subscript(&mut self, to: Option<Subscript>) {
        if let Some(Step::Field { subscript, .. }) = self.path.last_mut() {
            *subscript = to;
        }
    }

    /// Records a violation of the rule at `rule` (below the current prefix).
    pub(crate) fn report(&mut self, id: impl Into<Cow<'static, str>>, message: String, rule: &[RuleStep]) {
        self.report_at(id, message, rule, None)
    }

    /// As `report`, the rule path ending at element `index` of a list rule.
    fn report_at(
        &mut self,
        id: impl Into<Cow<'static, str>>,
        message: String,
        rule: &[RuleStep],
        indexed: Option<(RuleStep, u64)>,
    ) {
        let element = |(number, name, ty): &RuleStep| FieldPathElement {
            field_number: Some(*number),
            field_name: Some((*name).to_owned()),
            field_type: Some(*ty as i32),
            ..Default::default()
        };
        let last = indexed.map(|(step, i)| FieldPathElement { subscript: Some(Subscript::Index(i)), ..element(&step) });
        let field = self
            .path
            .iter()
            .map(|step| match step {
                Step::Field { field, subscript } => {
                    let map = matches!(subscript, Some(s) if !matches!(s, Subscript::Index(_)));
                    FieldPathElement {
                        field_number: Some(field.number),
                        field_name: Some(field.name.to_owned()),
                        field_type: Some(field.kind as i32),
                        key_type: field.key.filter(|_| map).map(|t| t as i32),
                        value_type: field.value.filter(|_| map).map(|t| t as i32),
                        subscript: subscript.clone(),
                    }
                }
                Step::Oneof(name) => FieldPathElement { field_name: Some((*name).to_owned()), ..Default::default() },
            })
            .collect();
        self.violations.push(Violation {
            field,
            rule: self.rule.iter().chain(rule).map(element).chain(last).collect(),
            rule_id: id.into(),
            message,
            for_key: self.for_key,
        });
    }
}
