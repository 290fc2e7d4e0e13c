//! Input rules: for every message, an `apigen_runtime::Input` impl that
//! checks `REQUIRED` fields and clears `OUTPUT_ONLY` ones, recursing only into
//! fields whose message types have rules of their own. Messages without rules
//! get an empty impl (the trait's defaults do nothing).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use heck::ToUpperCamelCase;

use crate::model::{Api, Cardinality, Field, FieldBehavior, FieldType, Message, Package};

/// Which messages (by full name) have rules to check or clear, directly or below.
pub struct Rules {
    validate: BTreeSet<String>,
    clear: BTreeSet<String>,
}

impl Rules {
    /// Computes the rules over every package, following message fields to a fixed point.
    pub fn new(api: &Api) -> Rules {
        let messages: BTreeMap<&str, &Message> = api.messages_by_name();
        let direct = |b: FieldBehavior| -> BTreeSet<String> {
            messages.values().filter(|m| m.fields.iter().any(|f| f.has(b))).map(|m| m.full_name.clone()).collect()
        };
        Rules {
            validate: reaching(&messages, direct(FieldBehavior::Required), api),
            clear: reaching(&messages, direct(FieldBehavior::OutputOnly), api),
        }
    }
}

/// `direct` and every message holding one of them (to a fixed point), among
/// the messages requests reach: only requests are ever checked.
pub(super) fn reaching(messages: &BTreeMap<&str, &Message>, direct: BTreeSet<String>, api: &Api) -> BTreeSet<String> {
    let mut inputs: BTreeSet<String> = api
        .packages
        .iter()
        .flat_map(|p| &p.services)
        .flat_map(|s| &s.methods)
        .map(|m| m.input.full_name.clone())
        .collect();
    loop {
        let before = inputs.len();
        let inside: Vec<String> = inputs
            .iter()
            .filter_map(|n| messages.get(n.as_str()))
            .flat_map(|m| m.fields.iter().filter_map(message_type).map(str::to_owned))
            .collect();
        inputs.extend(inside);
        if inputs.len() == before {
            break;
        }
    }
    closure(messages, direct).into_iter().filter(|n| inputs.contains(n)).collect()
}

fn closure(messages: &BTreeMap<&str, &Message>, mut set: BTreeSet<String>) -> BTreeSet<String> {
    loop {
        let before = set.len();
        for m in messages.values() {
            if !set.contains(&m.full_name) && m.fields.iter().any(|f| message_type(f).is_some_and(|t| set.contains(t)))
            {
                set.insert(m.full_name.clone());
            }
        }
        if set.len() == before {
            return set;
        }
    }
}

/// The message type a field holds (map values included).
pub(super) fn message_type(f: &Field) -> Option<&str> {
    let ty = match &f.cardinality {
        Cardinality::Map(_, value) => value.as_ref(),
        _ => &f.ty,
    };
    match ty {
        FieldType::Message(t) => Some(&t.full_name),
        _ => None,
    }
}

/// The `Input` impls of one package.
pub fn generate(package: &Package, rules: &Rules) -> String {
    let mut out = String::new();
    for m in &package.messages {
        let validate = rules.validate.contains(&m.full_name).then(|| validate_body(m, rules));
        let clear = rules.clear.contains(&m.full_name).then(|| clear_body(m, rules));
        let _ = write!(out, "impl ::apigen_runtime::Input for {} {{", m.rust_path);
        if let Some(body) = validate {
            let _ = write!(
                out,
                "fn validate(&self, path: &mut ::apigen_runtime::FieldPath) -> ::apigen_runtime::Result<()> {{ {body} ::core::result::Result::Ok(()) }}"
            );
        }
        if let Some(body) = clear {
            let _ = write!(out, "fn clear_output_only(&mut self) {{ {body} }}");
        }
        out.push_str("}\n");
    }
    out
}

/// How a oneof member is reached: the oneof's struct field and the variant
/// prost names after the member (`availability`, `book::Availability::InStock`);
/// `None` for a field of its own.
pub(super) fn oneof_variant(m: &Message, f: &Field) -> Option<(String, String)> {
    let oneof = &m.oneofs[f.oneof?];
    let field = crate::lower::names::to_snake(&oneof.name);
    Some((field, format!("{}::{}", oneof.rust_path, crate::lower::names::sanitize(&f.name.to_upper_camel_case()))))
}

fn validate_body(m: &Message, rules: &Rules) -> String {
    let mut out = String::new();
    // An update request's field mask limits which REQUIRED fields of the
    // resource must be set.
    let mask = m.fields.iter().find(|f| {
        f.cardinality == Cardinality::Singular
            && matches!(&f.ty, FieldType::Message(t) if t.full_name == "google.protobuf.FieldMask")
    });
    for f in &m.fields {
        let name = &f.name;
        let access = format!("self.{}", f.rust_name);
        if f.has(FieldBehavior::Required) {
            let set = match oneof_variant(m, f) {
                Some((field, path)) => format!("matches!(self.{field}, ::core::option::Option::Some({path}(_)))"),
                None => match (&f.cardinality, &f.ty) {
                    (Cardinality::Repeated | Cardinality::Map(..), _) => format!("!{access}.is_empty()"),
                    (Cardinality::Optional, _) | (_, FieldType::Message(_)) => format!("{access}.is_some()"),
                    (_, FieldType::String | FieldType::Bytes) => format!("!{access}.is_empty()"),
                    // A bool cannot tell "unset" from false.
                    (_, FieldType::Bool) => "true".to_owned(),
                    (_, FieldType::Double | FieldType::Float) => format!("{access} != 0.0"),
                    _ => format!("{access} != 0"),
                },
            };
            if set != "true" {
                let _ = write!(out, "path.require({name:?}, {set})?;");
            }
        }
        if message_type(f).is_some_and(|t| rules.validate.contains(t)) {
            let _ = match (oneof_variant(m, f), &f.cardinality) {
                (Some((field, path)), _) => {
                    write!(
                        out,
                        "if let ::core::option::Option::Some({path}(v)) = &self.{field} {{ path.nested({name:?}, v)?; }}"
                    )
                }
                (None, Cardinality::Repeated) => write!(out, "path.each({name:?}, &{access})?;"),
                (None, Cardinality::Map(..)) => {
                    write!(out, "for (k, v) in &{access} {{ path.nested(&::std::format!(\"{name}[{{k}}]\"), v)?; }}")
                }
                (None, _) => match mask {
                    Some(mask) => write!(
                        out,
                        "if let ::core::option::Option::Some(v) = &{access} {{ path.nested_masked({name:?}, v, self.{}.as_ref())?; }}",
                        mask.rust_name
                    ),
                    None => {
                        write!(
                            out,
                            "if let ::core::option::Option::Some(v) = &{access} {{ path.nested({name:?}, v)?; }}"
                        )
                    }
                },
            };
        }
    }
    out
}

fn clear_body(m: &Message, rules: &Rules) -> String {
    let mut out = String::new();
    for f in &m.fields {
        let access = format!("self.{}", f.rust_name);
        if f.has(FieldBehavior::OutputOnly) {
            let _ = match oneof_variant(m, f) {
                Some((field, path)) => {
                    write!(
                        out,
                        "if matches!(self.{field}, ::core::option::Option::Some({path}(_))) {{ self.{field} = ::core::option::Option::None; }}"
                    )
                }
                None => write!(out, "{access} = ::core::default::Default::default();"),
            };
            continue;
        }
        if message_type(f).is_some_and(|t| rules.clear.contains(t)) {
            let _ = match (oneof_variant(m, f), &f.cardinality) {
                (Some((field, path)), _) => {
                    write!(
                        out,
                        "if let ::core::option::Option::Some({path}(v)) = &mut self.{field} {{ v.clear_output_only(); }}"
                    )
                }
                (None, Cardinality::Repeated) => write!(out, "for v in &mut {access} {{ v.clear_output_only(); }}"),
                (None, Cardinality::Map(..)) => {
                    write!(out, "for v in {access}.values_mut() {{ v.clear_output_only(); }}")
                }
                (None, _) => {
                    write!(out, "if let ::core::option::Option::Some(v) = &mut {access} {{ v.clear_output_only(); }}")
                }
            };
        }
    }
    out
}
