//! protovalidate rules: for every message, an `apigen_runtime::validate::Validate`
//! impl. Messages reachable from requests with rules at or below them get a
//! body: one `v.at(&FIELD, …)` line per checked field over static rule
//! tables, the checks themselves being the runtime's. Others get an empty
//! impl (the trait's default checks nothing).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use crate::model::{
    Api, Cardinality, CustomRules, Enum, Field, FieldRules, FieldType, Ignore, Message, Package, RuleValue, TypedRules,
};

/// Which messages (by full name) have rules to check, directly or below,
/// among those requests can reach; and which custom (CEL) rules see as
/// values.
pub struct Checked {
    messages: BTreeSet<String>,
    /// Messages a CEL rule sees, directly or inside another: they get `ToCel`.
    cel_values: BTreeSet<String>,
}

impl Checked {
    pub fn new(api: &Api) -> Checked {
        let messages = api.messages_by_name();
        let direct = messages.values().filter(|m| has_rules(m)).map(|m| m.full_name.clone()).collect();
        let messages_checked = super::input::reaching(&messages, direct, api);
        let cel_values = cel_values(&messages, &messages_checked);
        Checked { messages: messages_checked, cel_values }
    }
}

/// Whether `m` has rules of its own to check (not counting its fields' messages').
pub(super) fn has_rules(m: &Message) -> bool {
    !m.oneof_rules.is_empty()
        || !m.custom_rules.is_empty()
        || m.oneofs.iter().any(|o| o.required)
        || m.fields.iter().any(|f| f.rules.as_ref().is_some_and(|r| r.ignore != Ignore::Always))
}

/// The messages a custom rule of the `checked` messages sees as a value,
/// directly or inside another.
pub(super) fn cel_values(messages: &BTreeMap<&str, &Message>, checked: &BTreeSet<String>) -> BTreeSet<String> {
    let mut set: BTreeSet<String> = BTreeSet::new();
    for m in messages.values().filter(|m| checked.contains(&m.full_name)) {
        if !m.custom_rules.is_empty() {
            set.insert(m.full_name.clone());
        }
        for f in &m.fields {
            if f.rules.as_ref().is_some_and(has_custom)
                && let Some(t) = super::input::message_type(f)
            {
                set.insert(t.to_owned());
            }
        }
    }
    // What a message's value holds, CEL sees too.
    let mut todo: Vec<String> = set.iter().cloned().collect();
    while let Some(name) = todo.pop() {
        let Some(m) = messages.get(name.as_str()) else { continue };
        for t in m.fields.iter().filter_map(super::input::message_type) {
            if set.insert(t.to_owned()) {
                todo.push(t.to_owned());
            }
        }
    }
    set
}

/// Whether `rules`, or the rules of its items, keys or values, are custom.
pub(super) fn has_custom(rules: &FieldRules) -> bool {
    !rules.custom.is_empty()
        || rules
            .typed
            .as_ref()
            .is_some_and(|t| t.items.as_deref().is_some_and(has_custom) || t.values.as_deref().is_some_and(has_custom))
}

/// The `Validate` impls of one package, with the `ToCel` impls and
/// compiled-once statics of its custom rules.
pub fn generate(package: &Package, checked: &Checked, api: &Api) -> String {
    let enums = api.enums_by_name();
    let mut out = String::new();
    let mut cel = Vec::new();
    for m in &package.messages {
        let _ = write!(out, "impl ::apigen_runtime::validate::Validate for {} {{", m.rust_path);
        if checked.messages.contains(&m.full_name) {
            let body = Body { message: m, checked, enums: &enums, cel: RefCell::new(Vec::new()) };
            let text = body.render();
            cel.extend(body.cel.into_inner());
            // Every rule below was ignored: the trait's default checks nothing.
            if !text.is_empty() {
                let _ = write!(
                    out,
                    "fn validate_rules(&self, v: &mut ::apigen_runtime::validate::Validator) {{ {}{text} }}",
                    if text.contains("pv::") { "use ::apigen_runtime::validate as pv; " } else { "" }
                );
            }
        }
        out.push_str("}\n");
    }
    for m in package.messages.iter().filter(|m| checked.cel_values.contains(&m.full_name)) {
        to_cel(&mut out, m);
    }
    // The one test of whether `CEL_RULES` exists, which `prepare` asks too.
    if has_cel(package, checked) {
        for (name, rules) in &cel {
            let _ = writeln!(out, "static {name}: ::apigen_runtime::validate::Cel = {};", cel_static(rules));
        }
        out.push_str(
            "#[doc = \" The custom (CEL) rules of this package, which services compile as they are built.\"]\n",
        );
        out.push_str("pub static CEL_RULES: &[&::apigen_runtime::validate::Cel] = &[");
        for (name, _) in &cel {
            let _ = write!(out, "&{name}, ");
        }
        out.push_str("];\n");
    }
    out
}

/// Whether `package` declares `CEL_RULES`.
fn has_cel(package: &Package, checked: &Checked) -> bool {
    package.messages.iter().filter(|m| checked.messages.contains(&m.full_name)).any(|m| {
        !m.custom_rules.is_empty()
            || m.fields.iter().any(|f| f.rules.as_ref().is_some_and(|r| r.ignore != Ignore::Always && has_custom(r)))
    })
}

/// The lines a service of `package` runs as it is built: compiling every
/// custom rule of the schema.
pub fn prepare(package: &Package, checked: &Checked, api: &Api) -> String {
    let mut out = String::new();
    for other in api.packages.iter().filter(|p| has_cel(p, checked)) {
        let module = crate::lower::names::module_path(&other.name, &package.name);
        let _ = write!(out, "::apigen_runtime::validate::prepare({module}CEL_RULES);");
    }
    out
}

fn cel_static(rules: &CustomRules) -> String {
    let expressions: Vec<String> = rules.expressions.iter().map(|e| format!("{e:?}")).collect();
    let list: Vec<String> = rules
        .rules
        .iter()
        .map(|r| format!("::apigen_runtime::validate::CelRule::new({:?}, {:?}, {:?})", r.id, r.message, r.expression))
        .collect();
    format!("::apigen_runtime::validate::Cel::new(&[{}], &[{}])", expressions.join(", "), list.join(", "))
}

/// `ToCel` for a message a custom rule sees: a CEL map of its fields, those
/// with presence only when set.
fn to_cel(out: &mut String, m: &Message) {
    let _ = write!(
        out,
        "impl ::apigen_runtime::validate::ToCel for {} {{ fn to_cel(&self) -> ::apigen_runtime::validate::CelValue {{ ::apigen_runtime::validate::CelMessage::new()",
        m.rust_path
    );
    for f in &m.fields {
        let access = format!("self.{}", f.rust_name);
        let _ = match (super::input::oneof_variant(m, f), &f.cardinality, &f.ty) {
            (Some((field, path)), _, _) => write!(
                out,
                ".present({:?}, match &self.{field} {{ ::core::option::Option::Some({path}(x)) => ::core::option::Option::Some(x), _ => ::core::option::Option::None }})",
                f.name
            ),
            (None, Cardinality::Optional, _) | (None, Cardinality::Singular, FieldType::Message(_)) => {
                write!(out, ".present({:?}, {access}.as_ref())", f.name)
            }
            _ => write!(out, ".field({:?}, &{access})", f.name),
        };
    }
    out.push_str(".build() } }\n");
}

struct Body<'a> {
    message: &'a Message,
    checked: &'a Checked,
    enums: &'a BTreeMap<&'a str, &'a Enum>,
    /// The custom rule statics this body uses, by name.
    cel: RefCell<Vec<(String, CustomRules)>>,
}

impl Body<'_> {
    /// A module-level static for custom rules at `place` (of this message).
    fn cel_static(&self, place: &str, rules: &CustomRules) -> String {
        let message = crate::lower::names::to_snake(&self.message.rust_path.replace("::", "_")).to_uppercase();
        let name = format!("CEL_{message}{place}");
        self.cel.borrow_mut().push((name.clone(), rules.clone()));
        name
    }

    fn render(&self) -> String {
        let m = self.message;
        let mut out = String::new();
        if !m.custom_rules.is_empty() {
            let name = self.cel_static("", &m.custom_rules);
            let _ = write!(out, "v.message_cel(&{name}, || pv::ToCel::to_cel(self));");
        }
        for f in &m.fields {
            self.field(&mut out, f);
        }
        for o in m.oneofs.iter().filter(|o| o.required) {
            let field = crate::lower::names::to_snake(&o.name);
            let _ = write!(out, "v.oneof_required({:?}, self.{field}.is_some());", o.name);
        }
        for rule in &m.oneof_rules {
            let set: Vec<String> = rule
                .fields
                .iter()
                .filter_map(|name| m.fields.iter().find(|f| &f.name == name))
                .map(|f| self.set_expr(f))
                .collect();
            let _ = write!(out, "v.message_oneof(&{:?}, &[{}], {});", rule.fields, set.join(", "), rule.required);
        }
        out
    }

    /// Whether `f` is set: present, or for implicit presence not the zero value.
    fn set_expr(&self, f: &Field) -> String {
        let access = format!("self.{}", f.rust_name);
        if let Some((field, path)) = super::input::oneof_variant(self.message, f) {
            return format!("matches!(self.{field}, ::core::option::Option::Some({path}(_)))");
        }
        match (&f.cardinality, &f.ty) {
            (Cardinality::Repeated | Cardinality::Map(..), _) => format!("!{access}.is_empty()"),
            (Cardinality::Optional, _) | (_, FieldType::Message(_)) => format!("{access}.is_some()"),
            (_, FieldType::String | FieldType::Bytes) => format!("!{access}.is_empty()"),
            (_, FieldType::Bool) => access,
            (_, FieldType::Double | FieldType::Float) => format!("{access} != 0.0"),
            _ => format!("{access} != 0"),
        }
    }

    fn field(&self, out: &mut String, f: &Field) {
        let nested = super::input::message_type(f).is_some_and(|t| self.checked.messages.contains(t));
        let rules = f.rules.clone().unwrap_or_default();
        if rules.ignore == Ignore::Always || (f.rules.is_none() && !nested) {
            return;
        }
        let upper = f.name.to_uppercase();
        let _ = write!(out, "static F_{upper}: pv::Field = {};", field_static(f));
        let mut statics = String::new();
        let check = self.checks(&mut statics, &upper, f, &rules, nested);
        out.push_str(&statics);
        let presence = super::input::oneof_variant(self.message, f).is_some()
            || matches!(f.cardinality, Cardinality::Optional)
            || (matches!(f.ty, FieldType::Message(_)) && matches!(f.cardinality, Cardinality::Singular));
        // How the value is reached: bound by `if let` (to a reference) for
        // fields with presence, else the field itself.
        let bound = |pattern: String| (Some(pattern), "*x".to_owned(), "x".to_owned());
        let (bind, value, reference) = match (super::input::oneof_variant(self.message, f), presence) {
            (Some((field, path)), _) => bound(format!("::core::option::Option::Some({path}(x)) = &self.{field}")),
            (None, true) => bound(format!("::core::option::Option::Some(x) = &self.{}", f.rust_name)),
            (None, false) => (None, format!("self.{}", f.rust_name), format!("&self.{}", f.rust_name)),
        };
        // Borrowed, a value bound by reference (`*x`) is the reference itself.
        let check = check.replace("&{value}", &reference).replace("{value}", &value).replace("{ref}", &reference);
        let required = format!("v.at(&F_{upper}, |v| v.required(false));");
        let _ = match (bind, rules.required) {
            // Nothing to check on the value: only whether it is there.
            (Some(_), true) if check.is_empty() => {
                let set = self.set_expr(f);
                let unset = match set.strip_suffix(".is_some()") {
                    Some(value) => format!("{value}.is_none()"),
                    None => format!("!{set}"),
                };
                write!(out, "if {unset} {{ {required} }}")
            }
            (Some(bind), true) => write!(out, "if let {bind} {{ {check} }} else {{ {required} }}"),
            (Some(bind), false) if !check.is_empty() => write!(out, "if let {bind} {{ {check} }}"),
            (Some(_), false) => Ok(()),
            (None, true) => write!(out, "if {} {{ {check} }} else {{ {required} }}", self.set_expr(f)),
            (None, false) if rules.ignore == Ignore::IfZeroValue => {
                write!(out, "if {} {{ {check} }}", self.set_expr(f))
            }
            (None, false) => write!(out, "{check}"),
        };
    }

    /// The checks of a set field, with `{value}` where its value goes.
    fn checks(&self, statics: &mut String, upper: &str, f: &Field, rules: &FieldRules, nested: bool) -> String {
        let at = |inner: String| match inner.strip_suffix(';').filter(|one| !one.contains(';')) {
            Some(one) => format!("v.at(&F_{upper}, |v| {one});"),
            None => format!("v.at(&F_{upper}, |v| {{ {inner} }});"),
        };
        // Custom rules come first, as protovalidate reports them.
        let mut custom = String::new();
        if !rules.custom.is_empty() {
            let name = self.cel_static(&format!("__{upper}"), &rules.custom);
            custom = format!("v.cel(&{name}, || pv::ToCel::to_cel({{ref}}));");
        }
        match &f.cardinality {
            Cardinality::Repeated | Cardinality::Map(..) => {
                let collection = match &rules.typed {
                    Some(typed) => self.collection(statics, upper, f, Some(typed), nested),
                    None if nested => self.collection(statics, upper, f, None, nested),
                    None => String::new(),
                };
                let inner = custom + &collection;
                if inner.is_empty() { inner } else { at(inner) }
            }
            _ => {
                let mut inner = custom;
                if let Some(typed) = &rules.typed {
                    inner.push_str(&self.scalar(statics, &format!("R_{upper}"), &f.ty, typed, "{value}", false));
                }
                if nested {
                    inner.push_str("v.message(::core::option::Option::Some({ref}));");
                }
                if inner.is_empty() { inner } else { at(inner) }
            }
        }
    }

    /// A repeated field's or a map's checks.
    fn collection(
        &self,
        statics: &mut String,
        upper: &str,
        f: &Field,
        typed: Option<&TypedRules>,
        nested: bool,
    ) -> String {
        let element_rules = |which: Option<&Box<FieldRules>>| which.and_then(|r| r.typed.clone());
        let (items, values) = match typed {
            Some(t) => (element_rules(t.items.as_ref()), element_rules(t.values.as_ref())),
            None => (None, None),
        };
        // An element's custom rules, checked before its other rules.
        let element_custom = |which: Option<&Box<FieldRules>>, suffix: &str, var: &str| match which {
            Some(r) if !r.custom.is_empty() => {
                let name = self.cel_static(&format!("__{upper}_{suffix}"), &r.custom);
                format!("v.cel(&{name}, || pv::ToCel::to_cel({var}));")
            }
            _ => String::new(),
        };
        let (items_custom, values_custom) = match typed {
            Some(t) if matches!(f.cardinality, Cardinality::Map(..)) => {
                (element_custom(t.items.as_ref(), "KEYS", "k"), element_custom(t.values.as_ref(), "VALUES", "x"))
            }
            Some(t) => (element_custom(t.items.as_ref(), "ITEMS", "x"), String::new()),
            None => (String::new(), String::new()),
        };
        match &f.cardinality {
            Cardinality::Map(key, value) => {
                let name = format!("R_{upper}");
                statics.push_str(&rules_static(
                    &name,
                    "MapRules",
                    &fields(typed, &[("min_pairs", "min_pairs"), ("max_pairs", "max_pairs")]),
                ));
                let key_check = items_custom
                    + &items
                        .map(|t| self.scalar(statics, &format!("R_{upper}_KEYS"), key, &t, "k", true))
                        .unwrap_or_default();
                let mut value_check = values_custom
                    + &values
                        .map(|t| self.scalar(statics, &format!("R_{upper}_VALUES"), value, &t, "x", true))
                        .unwrap_or_default();
                if nested {
                    value_check.push_str("v.message(::core::option::Option::Some(x));");
                }
                let (keys_ignore, values_ignore) =
                    typed.map_or((None, None), |t| (ignore_of(&t.items), ignore_of(&t.values)));
                let key_check = ignoring(keys_ignore, key, "k", key_check);
                let value_check = ignoring(values_ignore, value, "x", value_check);
                format!(
                    "v.map({{value}}.iter(), &{name}, {}, {});",
                    closure("k", &key_check),
                    closure("x", &value_check)
                )
            }
            _ => {
                let name = format!("R_{upper}");
                statics.push_str(&rules_static(
                    &name,
                    "RepeatedRules",
                    &fields(typed, &[("min_items", "min_items"), ("max_items", "max_items"), ("unique", "unique")]),
                ));
                let mut item_check = items_custom
                    + &items
                        .map(|t| self.scalar(statics, &format!("R_{upper}_ITEMS"), &f.ty, &t, "x", true))
                        .unwrap_or_default();
                if nested {
                    item_check.push_str("v.message(::core::option::Option::Some(x));");
                }
                let item_check = ignoring(typed.and_then(|t| ignore_of(&t.items)), &f.ty, "x", item_check);
                format!("v.repeated(&{{value}}, &{name}, {});", closure("x", &item_check))
            }
        }
    }

    /// The check of one value of type `ty` (`value` is a reference when
    /// `by_ref`, else the field itself), declaring its rule static.
    fn scalar(
        &self,
        statics: &mut String,
        name: &str,
        ty: &FieldType,
        t: &TypedRules,
        value: &str,
        by_ref: bool,
    ) -> String {
        let copy = if by_ref { format!("*{value}") } else { value.to_owned() };
        let borrow = if by_ref { value.to_owned() } else { format!("&{value}") };
        match t.kind.as_str() {
            "string" => {
                statics.push_str(&rules_static(name, "StringRules", &string_rules(t)));
                format!("v.string({borrow}, &{name});")
            }
            "bytes" => {
                statics.push_str(&rules_static(name, "BytesRules", &bytes_rules(t)));
                format!("v.bytes({borrow}, &{name});")
            }
            "bool" => {
                let _ = write!(
                    statics,
                    "static {name}: pv::BoolRules = pv::BoolRules {{ {} }};",
                    match t.get("const") {
                        Some(RuleValue::Bool(b)) => format!("const_: ::core::option::Option::Some({b})"),
                        _ => "const_: ::core::option::Option::None".to_owned(),
                    }
                );
                format!("v.boolean({copy}, &{name});")
            }
            "enum" => {
                let defined = match ty {
                    FieldType::Enum(r) => self
                        .enums
                        .get(r.full_name.as_str())
                        .map(|e| e.values.iter().map(|v| v.number.to_string()).collect::<Vec<_>>().join(", "))
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                statics.push_str(&rules_static(
                    name,
                    "EnumRules",
                    &typed_fields(
                        t,
                        &[
                            ("const", "const_", "i32"),
                            ("defined_only", "defined_only", ""),
                            ("in", "in_", "i32"),
                            ("not_in", "not_in", "i32"),
                        ],
                    ),
                ));
                format!("v.enumeration({copy}, &{name}, &[{defined}]);")
            }
            "duration" | "timestamp" => {
                let ty_name = if t.kind == "duration" { "DurationRules" } else { "TimestampRules" };
                statics.push_str(&rules_static(name, ty_name, &time_rules(t)));
                format!("v.{}({borrow}, &{name});", t.kind)
            }
            "any" => {
                statics.push_str(&rules_static(
                    name,
                    "AnyRules",
                    &typed_fields(t, &[("in", "in_", "str"), ("not_in", "not_in", "str")]),
                ));
                format!("v.any({borrow}, &{name});")
            }
            number => {
                let rust = number_type(number);
                let kind = crate::lower::names::to_upper_camel(number);
                let _ = write!(
                    statics,
                    "static {name}: pv::NumberRules<{rust}> = pv::NumberRules {{ {} ..pv::NumberRules::none(pv::NumberKind::{kind}) }};",
                    typed_fields(
                        t,
                        &[
                            ("const", "const_", rust),
                            ("lt", "lt", rust),
                            ("lte", "lte", rust),
                            ("gt", "gt", rust),
                            ("gte", "gte", rust),
                            ("in", "in_", rust),
                            ("not_in", "not_in", rust),
                            ("finite", "finite", "")
                        ]
                    )
                );
                format!("v.number({copy}, &{name});")
            }
        }
    }
}

/// The `ignore` of an element's rules (`repeated.items`, `map.keys`, `map.values`).
fn ignore_of(rules: &Option<Box<FieldRules>>) -> Option<Ignore> {
    rules.as_ref().map(|r| r.ignore)
}

/// An element's checks under its `ignore`: none for `IGNORE_ALWAYS`, only
/// for a value other than its type's zero for `IGNORE_IF_ZERO_VALUE`
/// (elements have no presence), as protovalidate skips them.
fn ignoring(ignore: Option<Ignore>, ty: &FieldType, var: &str, check: String) -> String {
    match ignore {
        _ if check.is_empty() => check,
        Some(Ignore::Always) => String::new(),
        Some(Ignore::IfZeroValue) => {
            let set = match ty {
                FieldType::String | FieldType::Bytes => format!("!{var}.is_empty()"),
                FieldType::Bool => format!("*{var}"),
                FieldType::Double | FieldType::Float => format!("*{var} != 0.0"),
                FieldType::Message(_) => format!("*{var} != ::core::default::Default::default()"),
                _ => format!("*{var} != 0"),
            };
            format!("if {set} {{ {check} }}")
        }
        _ => check,
    }
}

/// A closure checking one element bound to `var`, or one that checks nothing.
fn closure(var: &str, body: &str) -> String {
    match body.strip_suffix(';').filter(|one| !one.contains(';')) {
        _ if body.is_empty() => "|_, _| {}".to_owned(),
        Some(one) => format!("|v, {var}| {one}"),
        None => format!("|v, {var}| {{ {body} }}"),
    }
}

/// The Rust type of a numeric rule kind's values.
fn number_type(kind: &str) -> &'static str {
    match kind {
        "float" => "f32",
        "double" => "f64",
        "int32" | "sint32" | "sfixed32" => "i32",
        "int64" | "sint64" | "sfixed64" => "i64",
        "uint32" | "fixed32" => "u32",
        _ => "u64",
    }
}

fn field_type_name(ty: &FieldType) -> &'static str {
    match ty {
        FieldType::Double => "Double",
        FieldType::Float => "Float",
        FieldType::Int32 => "Int32",
        FieldType::Int64 => "Int64",
        FieldType::Uint32 => "Uint32",
        FieldType::Uint64 => "Uint64",
        FieldType::Sint32 => "Sint32",
        FieldType::Sint64 => "Sint64",
        FieldType::Fixed32 => "Fixed32",
        FieldType::Fixed64 => "Fixed64",
        FieldType::Sfixed32 => "Sfixed32",
        FieldType::Sfixed64 => "Sfixed64",
        FieldType::Bool => "Bool",
        FieldType::String => "String",
        FieldType::Bytes => "Bytes",
        FieldType::Message(_) => "Message",
        FieldType::Enum(_) => "Enum",
    }
}

fn field_static(f: &Field) -> String {
    match &f.cardinality {
        Cardinality::Map(k, v) => format!(
            "pv::Field::map({}, {:?}, pv::FieldType::{}, pv::FieldType::{})",
            f.number,
            f.name,
            field_type_name(k),
            field_type_name(v)
        ),
        _ => format!("pv::Field::new({}, {:?}, pv::FieldType::{})", f.number, f.name, field_type_name(&f.ty)),
    }
}

/// `field: Some(value),` for each of `names` (rule name, Rust field) that is set, as a `u64` or `bool`.
fn fields(typed: Option<&TypedRules>, names: &[(&str, &str)]) -> String {
    let Some(t) = typed else { return String::new() };
    let mut out = String::new();
    for (rule, field) in names {
        let _ = match t.get(rule) {
            Some(RuleValue::Uint(n)) => write!(out, "{field}: ::core::option::Option::Some({n}),"),
            Some(RuleValue::Bool(b)) => write!(out, "{field}: {b},"),
            _ => Ok(()),
        };
    }
    out
}

/// Rust literal of a rule value of Rust type `rust` (`str`, `i32`, `f64`, …).
fn literal(v: &RuleValue, rust: &str) -> String {
    match v {
        RuleValue::Bool(b) => b.to_string(),
        RuleValue::Int(n) => format!("{n}{rust}"),
        RuleValue::Uint(n) => format!("{n}{rust}"),
        RuleValue::Float(x) if x.is_infinite() => {
            format!("{rust}::{}", if *x > 0.0 { "INFINITY" } else { "NEG_INFINITY" })
        }
        RuleValue::Float(x) if x.is_nan() => format!("{rust}::NAN"),
        // An f32 rule was widened to f64 when read: written back at f32 precision.
        RuleValue::Float(x) if rust == "f32" => format!("{:?}_f32", *x as f32),
        RuleValue::Float(x) => format!("{x:?}_{rust}"),
        RuleValue::Text(s) => format!("{s:?}"),
        RuleValue::Bytes(b) => format!("&{b:?}"),
        RuleValue::Time(s, n) => format!("::apigen_runtime::wkt::{rust} {{ seconds: {s}, nanos: {n} }}"),
        RuleValue::List(items) => {
            format!("&[{}]", items.iter().map(|i| literal(i, rust)).collect::<Vec<_>>().join(", "))
        }
    }
}

/// `field: value,` for each rule set among `names` (rule, Rust field, Rust type; "" for a bool flag).
fn typed_fields(t: &TypedRules, names: &[(&str, &str, &str)]) -> String {
    let mut out = String::new();
    for (rule, field, rust) in names {
        let Some(v) = t.get(rule) else { continue };
        let _ = match v {
            RuleValue::Bool(b) => write!(out, "{field}: {b},"),
            RuleValue::List(_) => write!(out, "{field}: {},", literal(v, rust)),
            other => write!(out, "{field}: ::core::option::Option::Some({}),", literal(other, rust)),
        };
    }
    out
}

fn string_rules(t: &TypedRules) -> String {
    let mut out = typed_fields(
        t,
        &[
            ("const", "const_", "str"),
            ("len", "len", "u64"),
            ("min_len", "min_len", "u64"),
            ("max_len", "max_len", "u64"),
            ("len_bytes", "len_bytes", "u64"),
            ("min_bytes", "min_bytes", "u64"),
            ("max_bytes", "max_bytes", "u64"),
            ("prefix", "prefix", "str"),
            ("suffix", "suffix", "str"),
            ("contains", "contains", "str"),
            ("not_contains", "not_contains", "str"),
            ("in", "in_", "str"),
            ("not_in", "not_in", "str"),
        ],
    );
    if let Some(RuleValue::Text(p)) = t.get("pattern") {
        let _ = write!(out, "pattern: ::core::option::Option::Some(pv::Pattern::new({p:?})),");
    }
    if let Some((_, variant)) =
        crate::model::WELL_KNOWN_STRINGS.iter().find(|(rule, _)| matches!(t.get(rule), Some(RuleValue::Bool(true))))
    {
        let _ = write!(out, "well_known: ::core::option::Option::Some(pv::WellKnownString::{variant}),");
    }
    out
}

fn bytes_rules(t: &TypedRules) -> String {
    let mut out = typed_fields(
        t,
        &[
            ("const", "const_", ""),
            ("len", "len", "u64"),
            ("min_len", "min_len", "u64"),
            ("max_len", "max_len", "u64"),
            ("prefix", "prefix", ""),
            ("suffix", "suffix", ""),
            ("contains", "contains", ""),
            ("in", "in_", ""),
            ("not_in", "not_in", ""),
        ],
    );
    if let Some(RuleValue::Text(p)) = t.get("pattern") {
        let _ = write!(out, "pattern: ::core::option::Option::Some(pv::Pattern::new({p:?})),");
    }
    for (rule, variant) in [("ip", "Ip"), ("ipv4", "Ipv4"), ("ipv6", "Ipv6"), ("uuid", "Uuid")] {
        if matches!(t.get(rule), Some(RuleValue::Bool(true))) {
            let _ = write!(out, "well_known: ::core::option::Option::Some(pv::WellKnownBytes::{variant}),");
        }
    }
    out
}

fn time_rules(t: &TypedRules) -> String {
    let names: &[(&str, &str, &str)] = &[
        ("const", "const_", "Duration"),
        ("lt", "lt", "Duration"),
        ("lte", "lte", "Duration"),
        ("gt", "gt", "Duration"),
        ("gte", "gte", "Duration"),
        ("in", "in_", "Duration"),
        ("not_in", "not_in", "Duration"),
        ("lt_now", "lt_now", ""),
        ("gt_now", "gt_now", ""),
        ("within", "within", "Duration"),
    ];
    let rust = if t.kind == "timestamp" { "Timestamp" } else { "Duration" };
    let names: Vec<(&str, &str, &str)> =
        names.iter().map(|(r, f, ty)| (*r, *f, if *ty == "Duration" && *r != "within" { rust } else { ty })).collect();
    typed_fields(t, &names)
}

/// `static NAME: pv::Ty = pv::Ty { fields ..pv::Ty::NONE };`, without the
/// `..NONE` when `fields` sets every field of the type (clippy's
/// `needless_update`).
fn rules_static(name: &str, ty: &str, fields: &str) -> String {
    let total = match ty {
        "MapRules" | "AnyRules" => 2,
        "RepeatedRules" => 3,
        "EnumRules" => 4,
        "DurationRules" => 7,
        "TimestampRules" => 8,
        _ => usize::MAX,
    };
    let rest = if entries(fields) < total { format!("..pv::{ty}::NONE") } else { String::new() };
    format!("static {name}: pv::{ty} = pv::{ty} {{ {fields} {rest} }};")
}

/// How many `field: value,` entries `fields` holds: its commas outside
/// brackets and string literals.
fn entries(fields: &str) -> usize {
    let (mut depth, mut quoted, mut escaped, mut count) = (0i32, false, false, 0);
    for c in fields.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            _ if quoted => {}
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => count += 1,
            _ => {}
        }
    }
    count
}
