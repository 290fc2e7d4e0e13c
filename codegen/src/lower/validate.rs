//! protovalidate's `buf.validate` options, read into the model's rules. Every
//! rule the runtime enforces is accepted; any other rule, and a rule that
//! does not fit its field's type, is a diagnostic at the field: a rule is
//! never silently ignored.

use prost_reflect::{DynamicMessage, FieldDescriptor, MessageDescriptor, OneofDescriptor, ReflectMessage, Value};

use super::{Lowerer, Pos};
use crate::model::{
    Cardinality, CelRule, CustomRules, FieldRules, FieldType, Ignore, MessageOneofRule, RuleValue, TypedRules,
    WELL_KNOWN_STRINGS,
};

/// The numeric rule kinds and the field types each fits.
const NUMBERS: &[(&str, FieldType)] = &[
    ("float", FieldType::Float),
    ("double", FieldType::Double),
    ("int32", FieldType::Int32),
    ("int64", FieldType::Int64),
    ("uint32", FieldType::Uint32),
    ("uint64", FieldType::Uint64),
    ("sint32", FieldType::Sint32),
    ("sint64", FieldType::Sint64),
    ("fixed32", FieldType::Fixed32),
    ("fixed64", FieldType::Fixed64),
    ("sfixed32", FieldType::Sfixed32),
    ("sfixed64", FieldType::Sfixed64),
];

/// The rules apigen enforces, per `FieldRules.type` member (with the string
/// formats of `WELL_KNOWN_STRINGS`). `example` values are documentation and
/// are accepted everywhere.
fn supported(kind: &str) -> &'static [&'static str] {
    match kind {
        "float" | "double" => &["const", "lt", "lte", "gt", "gte", "in", "not_in", "finite", "example"],
        k if NUMBERS.iter().any(|(n, _)| *n == k) => &["const", "lt", "lte", "gt", "gte", "in", "not_in", "example"],
        "bool" => &["const", "example"],
        "string" => &[
            "const",
            "len",
            "min_len",
            "max_len",
            "len_bytes",
            "min_bytes",
            "max_bytes",
            "pattern",
            "prefix",
            "suffix",
            "contains",
            "not_contains",
            "in",
            "not_in",
            "example",
        ],
        "bytes" => &[
            "const", "len", "min_len", "max_len", "pattern", "prefix", "suffix", "contains", "in", "not_in", "ip",
            "ipv4", "ipv6", "uuid", "example",
        ],
        "enum" => &["const", "defined_only", "in", "not_in", "example"],
        "repeated" => &["min_items", "max_items", "unique", "items"],
        "map" => &["min_pairs", "max_pairs", "keys", "values"],
        "duration" => &["const", "lt", "lte", "gt", "gte", "in", "not_in", "example"],
        "timestamp" => &["const", "lt", "lte", "gt", "gte", "lt_now", "gt_now", "within", "example"],
        "any" => &["in", "not_in"],
        _ => &[],
    }
}

impl Lowerer<'_> {
    /// A field's `(buf.validate.field)` rules; `None` without any.
    pub(super) fn field_rules(
        &mut self,
        f: &FieldDescriptor,
        ty: &FieldType,
        card: &Cardinality,
    ) -> Option<FieldRules> {
        let ext = self.ext_validate_field.clone()?;
        let options = f.options();
        if !options.has_extension(&ext) {
            return None;
        }
        let value = options.get_extension(&ext);
        let rules = value.as_message()?.clone();
        let at = Site { field: f.clone(), path: [f.path(), &[8]].concat() };
        self.rules_for(&at, &rules, ty, card, "")
    }

    /// `rules` (a `buf.validate.FieldRules`) for a value of type `ty` with
    /// cardinality `card`; `prefix` names the enclosing rule (`repeated.items.`).
    fn rules_for(
        &mut self,
        at: &Site,
        rules: &DynamicMessage,
        ty: &FieldType,
        card: &Cardinality,
        prefix: &str,
    ) -> Option<FieldRules> {
        let pos = self.pos(at.field.parent_file().name(), &at.path);
        let custom = self.custom(&pos, rules, &format!("field `{}`", at.field.name()));
        let required = rules.get_field_by_name("required").and_then(|v| v.as_bool()).unwrap_or(false);
        let ignore = match rules.get_field_by_name("ignore").and_then(|v| v.as_enum_number()) {
            Some(1) => Ignore::IfZeroValue,
            Some(3) => Ignore::Always,
            _ => Ignore::Unspecified,
        };
        let member = rules
            .descriptor()
            .oneofs()
            .find(|o| o.name() == "type")
            .and_then(|o| o.fields().find(|m| rules.has_field(m)));
        let typed = match member {
            Some(member) => {
                let inner = rules.get_field(&member).as_message()?.clone();
                self.typed(at, member.name(), &inner, ty, card, prefix)
            }
            None => None,
        };
        Some(FieldRules { required, ignore, typed, custom })
    }

    fn typed(
        &mut self,
        at: &Site,
        kind: &str,
        rules: &DynamicMessage,
        ty: &FieldType,
        card: &Cardinality,
        prefix: &str,
    ) -> Option<TypedRules> {
        if !fits(kind, ty, card) {
            let pos = self.pos(at.field.parent_file().name(), &at.path);
            self.error(
                &pos,
                None,
                format!(
                    "`{prefix}{kind}` rules do not fit field `{}`, a {}",
                    at.field.name(),
                    describe(ty, card)
                ),
                "use the rules of the field's type (for a repeated field `repeated`, with `items` for its elements; for a map `map`)",
            );
            return None;
        }
        if rules.extensions().next().is_some() {
            self.unsupported(at, &format!("{prefix}{kind}"), "predefined rule extensions are not supported yet");
        }
        let known = supported(kind);
        let mut set = Vec::new();
        let (mut items, mut values) = (None, None);
        for (field, value) in rules.fields() {
            let name = field.name();
            let rule = format!("{prefix}{kind}.{name}");
            let format = kind == "string" && WELL_KNOWN_STRINGS.iter().any(|(rule, _)| *rule == name);
            if !known.contains(&name) && !format {
                self.unsupported(at, &rule, "apigen does not enforce this rule yet");
                continue;
            }
            match (kind, name) {
                // As protovalidate: comparing messages pairwise would be quadratic in the request.
                ("repeated", "unique") if matches!(ty, FieldType::Message(_)) => {
                    let pos = self.pos(at.field.parent_file().name(), &at.path);
                    self.error(
                        &pos,
                        None,
                        format!("`{rule}` cannot apply to field `{}`, a repeated message", at.field.name()),
                        "`unique` compares scalars, strings, bytes and enums; check messages in the method",
                    );
                }
                ("repeated", "items") | ("map", "keys") | ("map", "values") => {
                    let Some(inner) = value.as_message() else { continue };
                    let inner_ty = element(ty, card, name);
                    let nested = self.rules_for(at, inner, &inner_ty, &Cardinality::Singular, &format!("{rule}."));
                    if name == "values" {
                        values = nested.map(Box::new);
                    } else {
                        items = nested.map(Box::new);
                    }
                }
                (_, "example") => {}
                _ => match rule_value(value) {
                    Some(v) => set.push((name.to_owned(), v)),
                    None => self.unsupported(at, &rule, "its value has a form apigen cannot read"),
                },
            }
        }
        if kind == "string"
            && let Some(RuleValue::Text(pattern)) = set.iter().find(|(n, _)| n == "pattern").map(|(_, v)| v)
            && let Err(e) = regex::Regex::new(pattern)
        {
            let pos = self.pos(at.field.parent_file().name(), &at.path);
            self.error(
                &pos,
                None,
                format!(
                    "`{prefix}string.pattern` of field `{}` is not a valid regular expression: {e}",
                    at.field.name()
                ),
                "write the pattern in RE2 syntax (no look-around or backreferences)",
            );
        }
        Some(TypedRules { kind: kind.to_owned(), rules: set, items, values })
    }

    fn unsupported(&mut self, at: &Site, rule: &str, why: &str) {
        let pos = self.pos(at.field.parent_file().name(), &at.path);
        self.error(
            &pos,
            None,
            format!("rule `{rule}` on field `{}` is not enforced by apigen: {why}", at.field.name()),
            "remove the rule, or check it in the method's implementation; README's Validation section lists the supported rules",
        );
    }

    /// `(buf.validate.oneof).required` of a oneof.
    pub(super) fn oneof_required(&mut self, o: &OneofDescriptor) -> bool {
        let Some(ext) = self.ext_validate_oneof.clone() else { return false };
        let options = o.options();
        if !options.has_extension(&ext) {
            return false;
        }
        let value = options.get_extension(&ext);
        value.as_message().and_then(|m| m.get_field_by_name("required")).and_then(|v| v.as_bool()).unwrap_or(false)
    }

    /// `(buf.validate.message)` rules of a message: its oneof groups and
    /// custom rules.
    pub(super) fn message_rules(&mut self, m: &MessageDescriptor) -> (Vec<MessageOneofRule>, CustomRules) {
        let Some(ext) = self.ext_validate_message.clone() else { return Default::default() };
        let options = m.options();
        if !options.has_extension(&ext) {
            return Default::default();
        }
        let value = options.get_extension(&ext);
        let Some(rules) = value.as_message() else { return Default::default() };
        let pos = self.pos(m.parent_file().name(), m.path());
        let custom = self.custom(&pos, rules, &format!("message `{}`", m.name()));
        let groups =
            rules.get_field_by_name("oneof").and_then(|v| v.as_list().map(<[Value]>::to_vec)).unwrap_or_default();
        let mut out = Vec::new();
        for group in groups.iter().filter_map(Value::as_message) {
            let fields: Vec<String> = group
                .get_field_by_name("fields")
                .and_then(|v| v.as_list().map(|l| l.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect()))
                .unwrap_or_default();
            let unknown: Vec<&String> = fields.iter().filter(|f| m.get_field_by_name(f).is_none()).collect();
            if fields.is_empty() || !unknown.is_empty() {
                self.error(
                    &pos,
                    None,
                    format!(
                        "a `(buf.validate.message).oneof` rule of message `{}` names {}",
                        m.name(),
                        if fields.is_empty() { "no field".to_owned() } else { format!("unknown fields {unknown:?}") }
                    ),
                    "list the names of fields of this message in `fields`",
                );
                continue;
            }
            let required = group.get_field_by_name("required").and_then(|v| v.as_bool()).unwrap_or(false);
            out.push(MessageOneofRule { fields, required });
        }
        (out, custom)
    }

    /// The `cel_expression` and `cel` rules in `rules` (field or message
    /// rules) of `subject`, each checked to compile.
    fn custom(&mut self, pos: &Pos, rules: &DynamicMessage, subject: &str) -> CustomRules {
        let list = |name: &str| {
            rules.get_field_by_name(name).and_then(|v| v.as_list().map(<[Value]>::to_vec)).unwrap_or_default()
        };
        let mut custom = CustomRules {
            expressions: list("cel_expression").iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            ..Default::default()
        };
        for rule in list("cel").iter().filter_map(Value::as_message) {
            let text = |name: &str| {
                rule.get_field_by_name(name).and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
            };
            let (id, message, expression) = (text("id"), text("message"), text("expression"));
            if id.is_empty() {
                self.error(
                    pos,
                    None,
                    format!("a `cel` rule of {subject} has no `id`"),
                    "give it an id, for example `id: \"range.order\"`: violations report it to clients",
                );
            }
            custom.rules.push(CelRule { id, message, expression });
        }
        let expressions: Vec<String> = custom.all().map(|(_, _, e)| e.to_owned()).collect();
        for expression in expressions {
            match ENV.compile(&expression) {
                Err(e) => self.error(
                    pos,
                    None,
                    format!("the CEL rule `{expression}` of {subject} does not compile: {}", e.to_string().trim()),
                    "fix the expression; the value checked is `this` (and `now` is the current time)",
                ),
                Ok(program) if ["rule", "rules"].iter().any(|n| program.references().has_variable(n)) => self.error(
                    pos,
                    None,
                    format!("the CEL rule `{expression}` of {subject} uses `rule` or `rules`, which only predefined rules have"),
                    "write the value into the expression; predefined rule extensions are not supported yet",
                ),
                Ok(_) => {}
            }
        }
        custom
    }
}

/// Where a field's rules are written, for diagnostics.
struct Site {
    field: FieldDescriptor,
    /// The field's source path plus its options.
    path: Vec<i32>,
}

/// Whether `kind` rules fit a value of type `ty` with cardinality `card`.
fn fits(kind: &str, ty: &FieldType, card: &Cardinality) -> bool {
    match card {
        Cardinality::Repeated => return kind == "repeated",
        Cardinality::Map(..) => return kind == "map",
        _ => {}
    }
    let wkt = |name: &str| matches!(ty, FieldType::Message(t) if t.full_name == name);
    match kind {
        "bool" => *ty == FieldType::Bool,
        "string" => *ty == FieldType::String,
        "bytes" => *ty == FieldType::Bytes,
        "enum" => matches!(ty, FieldType::Enum(_)),
        "duration" => wkt("google.protobuf.Duration"),
        "timestamp" => wkt("google.protobuf.Timestamp"),
        "any" => wkt("google.protobuf.Any"),
        k => NUMBERS.iter().any(|(n, t)| *n == k && t == ty),
    }
}

/// The type of a repeated field's elements, or of a map's keys or values.
fn element(ty: &FieldType, card: &Cardinality, which: &str) -> FieldType {
    match (card, which) {
        (Cardinality::Map(key, _), "keys") => (**key).clone(),
        (Cardinality::Map(_, value), _) => (**value).clone(),
        _ => ty.clone(),
    }
}

fn describe(ty: &FieldType, card: &Cardinality) -> String {
    let name = |t: &FieldType| match t {
        FieldType::Message(r) | FieldType::Enum(r) => r.full_name.clone(),
        other => format!("{other:?}").to_lowercase(),
    };
    match card {
        Cardinality::Repeated => format!("repeated {}", name(ty)),
        Cardinality::Map(k, v) => format!("map<{}, {}>", name(k), name(v)),
        _ => name(ty),
    }
}

/// A rule's value in the model's form; `None` for a form no rule has.
fn rule_value(value: &Value) -> Option<RuleValue> {
    Some(match value {
        Value::Bool(b) => RuleValue::Bool(*b),
        Value::I32(n) | Value::EnumNumber(n) => RuleValue::Int(i64::from(*n)),
        Value::I64(n) => RuleValue::Int(*n),
        Value::U32(n) => RuleValue::Uint(u64::from(*n)),
        Value::U64(n) => RuleValue::Uint(*n),
        Value::F32(n) => RuleValue::Float(f64::from(*n)),
        Value::F64(n) => RuleValue::Float(*n),
        Value::String(s) => RuleValue::Text(s.clone()),
        Value::Bytes(b) => RuleValue::Bytes(b.to_vec()),
        Value::List(items) => RuleValue::List(items.iter().map(rule_value).collect::<Option<_>>()?),
        Value::Message(m)
            if matches!(m.descriptor().full_name(), "google.protobuf.Duration" | "google.protobuf.Timestamp") =>
        {
            let seconds = m.get_field_by_name("seconds").and_then(|v| v.as_i64()).unwrap_or(0);
            let nanos = m.get_field_by_name("nanos").and_then(|v| v.as_i32()).unwrap_or(0);
            RuleValue::Time(seconds, nanos)
        }
        _ => return None,
    })
}

/// The environment rules are evaluated in (the runtime's `validate::cel`):
/// CEL's standard library with its strings extension.
static ENV: std::sync::LazyLock<cel::Env> = std::sync::LazyLock::new(|| {
    let mut env = cel::Env::stdlib();
    let _ = env.add_extension(cel::extensions::strings);
    env
});
