//! The GraphQL schema (SDL) of the API, following DESIGN.md's "One data
//! shape": field names are JSON names, int64 and uint64 are the string
//! scalars `Int64` and `UInt64`, bytes `Bytes`, Timestamp `DateTime`, maps
//! `{key, value}` entry lists, `Empty` results `Boolean`. Unary methods are
//! Query or Mutation fields, server-streaming ones Subscription fields, with
//! the request's fields as arguments. Checked with apollo-compiler.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use heck::ToLowerCamelCase;

use crate::diagnostics::Error;
use crate::model::*;

/// The SDL, or `None` when no method is in the GraphQL schema.
pub fn generate(api: &Api) -> Result<Option<String>, Error> {
    let mut b = Builder::new(api);
    let Some(sdl) = b.schema() else { return Ok(None) };
    if !b.collisions.is_empty() {
        return Err(Error::Schema(b.collisions));
    }
    if let Err(errors) = apollo_compiler::Schema::parse_and_validate(sdl.clone(), "schema.graphql") {
        return Err(Error::Internal(format!("the generated GraphQL schema is invalid: {}", errors.errors)));
    }
    Ok(Some(sdl))
}

/// The directive that marks entities, declared so that the file is a valid
/// schema on its own; the server adds Federation's `_entities` and `_service`.
const FEDERATION: &str = "\"An Apollo Federation entity: a gateway finds it by these fields through `_entities`.\"\n\
directive @key(fields: String!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE\n\n";

/// The scalars apigen adds, with what they carry.
const SCALARS: &[(&str, &str)] = &[
    ("Int64", "A 64-bit signed integer, as a string (numbers are accepted)."),
    ("UInt64", "A 64-bit unsigned integer, as a string (numbers are accepted)."),
    ("Bytes", "Bytes, base64-encoded."),
    ("DateTime", "A point in time, RFC 3339 (google.protobuf.Timestamp)."),
    ("Duration", "A duration in seconds with an `s` suffix, for example `1.5s` (google.protobuf.Duration)."),
    ("FieldMask", "Comma-separated lowerCamelCase field paths (google.protobuf.FieldMask)."),
    ("JSON", "Any JSON value (google.protobuf.Struct, Value, ListValue, Any)."),
];

struct Builder<'a> {
    api: &'a Api,
    messages: BTreeMap<&'a str, &'a Message>,
    enums: BTreeMap<&'a str, &'a Enum>,
    /// Object and input types still to write, by (full name, input?).
    wanted: BTreeSet<(String, bool)>,
    /// Map entry types: name → (key type, value type, input?).
    entries: BTreeMap<String, (String, String, bool)>,
    used_enums: BTreeSet<String>,
    /// GraphQL type name → the protobuf type that took it.
    claimed: BTreeMap<String, String>,
    collisions: Vec<crate::diagnostics::Diagnostic>,
}

fn description(out: &mut String, docs: &[String], indent: &str) {
    let text = docs.join("\n").trim().replace("\"\"\"", "\\\"\"\"");
    if !text.is_empty() {
        let _ = writeln!(
            out,
            "{indent}\"\"\"\n{}\n{indent}\"\"\"",
            text.lines().map(|l| format!("{indent}{l}").trim_end().to_owned()).collect::<Vec<_>>().join("\n")
        );
    }
}

fn deprecated(yes: bool) -> &'static str {
    if yes { " @deprecated" } else { "" }
}

impl<'a> Builder<'a> {
    fn new(api: &'a Api) -> Builder<'a> {
        Builder {
            api,
            messages: api.messages_by_name(),
            enums: api.enums_by_name(),
            wanted: BTreeSet::new(),
            entries: BTreeMap::new(),
            used_enums: BTreeSet::new(),
            claimed: SCALARS.iter().map(|(n, _)| (n.to_string(), format!("the built-in {n}"))).collect(),
            collisions: Vec::new(),
        }
    }

    /// Records that `full_name` is the GraphQL type `name`; two protobuf
    /// types with one GraphQL name are a schema error.
    fn claim(&mut self, name: &str, full_name: &str, span: &Span) {
        match self.claimed.get(name) {
            Some(owner)
                if owner != full_name
                    && !self.collisions.iter().any(|d| d.message.contains(&format!("`{full_name}`"))) =>
            {
                let message = format!(
                    "`{full_name}` and {} would both be the GraphQL type `{name}`",
                    if owner.starts_with("the built-in") { owner.clone() } else { format!("`{owner}`") }
                );
                let help = "give one a distinct name: `option (apigen.message) = {graphql_name: \"OtherName\"};` (or `apigen.enum` for an enum)";
                self.collisions.push(crate::diagnostics::Diagnostic::at(span, message, help));
            }
            Some(_) => {}
            None => {
                self.claimed.insert(name.to_owned(), full_name.to_owned());
            }
        }
    }

    /// The GraphQL type of a scalar or message, without list or non-null.
    fn named_type(&mut self, ty: &FieldType, input: bool) -> String {
        match ty {
            FieldType::Double | FieldType::Float => "Float".into(),
            FieldType::Int32 | FieldType::Sint32 | FieldType::Sfixed32 => "Int".into(),
            // uint32 can exceed GraphQL's 32-bit Int.
            FieldType::Uint32 | FieldType::Fixed32 => "Float".into(),
            FieldType::Int64 | FieldType::Sint64 | FieldType::Sfixed64 => "Int64".into(),
            FieldType::Uint64 | FieldType::Fixed64 => "UInt64".into(),
            FieldType::Bool => "Boolean".into(),
            FieldType::String => "String".into(),
            FieldType::Bytes => "Bytes".into(),
            FieldType::Enum(t) => match self.enums.get(t.full_name.as_str()).copied() {
                Some(e) => {
                    self.used_enums.insert(e.full_name.clone());
                    self.claim(&e.graphql_name, &e.full_name, &e.span);
                    e.graphql_name.clone()
                }
                None => "Int".into(),
            },
            FieldType::Message(t) => self.message_type(&t.full_name, input),
        }
    }

    fn message_type(&mut self, full_name: &str, input: bool) -> String {
        if let Some(wkt) = wkt_type(full_name) {
            return wkt.to_owned();
        }
        match self.messages.get(full_name).copied() {
            Some(m) => {
                self.wanted.insert((full_name.to_owned(), input));
                let name = if input { format!("{}Input", m.graphql_name) } else { m.graphql_name.clone() };
                self.claim(&name, &m.full_name, &m.span);
                name
            }
            None => "JSON".into(),
        }
    }

    /// The full GraphQL type of a field.
    fn field_type(&mut self, owner: &Message, field: &Field, input: bool) -> String {
        let bang = if non_null(field, input) { "!" } else { "" };
        match &field.cardinality {
            Cardinality::Repeated => {
                let item = self.named_type(&field.ty, input);
                format!("[{item}!]{bang}")
            }
            Cardinality::Map(key, value) => {
                let key = self.named_type(key, input);
                let value = self.named_type(value, input);
                let name = format!(
                    "{}_{}Entry{}",
                    owner.graphql_name,
                    upper_camel(&field.name),
                    if input { "Input" } else { "" }
                );
                self.claim(&name, &format!("{}.{}", owner.full_name, field.name), &field.span);
                self.entries.insert(name.clone(), (key, value, input));
                format!("[{name}!]{bang}")
            }
            _ => format!("{}{bang}", self.named_type(&field.ty, input)),
        }
    }

    fn object(&mut self, message: &Message, input: bool) -> String {
        let mut out = String::new();
        let mut docs = message.docs.clone();
        if input && let Some(rules) = super::rules_doc::message_sentence(message) {
            if !docs.is_empty() {
                docs.push(String::new());
            }
            docs.push(rules);
        }
        description(&mut out, &docs, "");
        let (keyword, name) = if input {
            ("input", format!("{}Input", message.graphql_name))
        } else {
            ("type", message.graphql_name.clone())
        };
        let key = message.entity.as_ref().filter(|_| !input).map(|e| format!(" @key(fields: \"{}\")", e.key.json_name));
        let _ = writeln!(out, "{keyword} {name}{} {{", key.unwrap_or_default());
        let mut any = false;
        for field in &message.fields {
            if input && field.has(FieldBehavior::OutputOnly) {
                continue;
            }
            if !input && field.has(FieldBehavior::InputOnly) {
                continue;
            }
            any = true;
            let ty = self.field_type(message, field, input);
            let mut docs = field.docs.clone();
            if let Some(i) = field.oneof {
                let members: Vec<&str> =
                    message.fields.iter().filter(|f| f.oneof == Some(i)).map(|f| f.json_name.as_str()).collect();
                docs.push(format!(
                    "Part of oneof `{}`: at most one of {} is set.",
                    message.oneofs[i].name,
                    members.join(", ")
                ));
            }
            docs.extend(field.rules.as_ref().and_then(super::rules_doc::sentence));
            description(&mut out, &docs, "  ");
            // Input fields cannot be deprecated in every GraphQL server; outputs can.
            let dep = if input { "" } else { deprecated(field.deprecated) };
            let _ = writeln!(out, "  {}: {ty}{dep}", field.json_name);
        }
        if !input {
            for relation in &message.relations {
                any = true;
                let target = self.message_type(&relation.batch.result_type, false);
                // Nullable, even when required: a failed load is null with its
                // error at exactly this field (async-graphql's dynamic schema
                // would drop a failed non-null field instead of nulling its parent).
                let ty = match relation.kind {
                    RelationKind::One | RelationKind::Entity => target,
                    RelationKind::Many | RelationKind::Group => format!("[{target}!]"),
                };
                let mut docs = relation.docs.clone();
                if !docs.is_empty() {
                    docs.push(String::new());
                }
                docs.push(relation_sentence(relation));
                description(&mut out, &docs, "  ");
                let _ = writeln!(out, "  {}: {ty}", relation.name);
            }
        }
        if !any {
            // GraphQL types need a field; an empty message has none.
            let _ = writeln!(out, "  \"Always null: the message has no fields.\"\n  _: Boolean");
        }
        out.push_str("}\n");
        out
    }

    fn arguments(&mut self, input: &str) -> String {
        let Some(message) = self.messages.get(input).copied() else { return String::new() };
        let mut args = Vec::new();
        for field in &message.fields {
            if field.has(FieldBehavior::OutputOnly) {
                continue;
            }
            let ty = self.field_type(message, field, true);
            args.push(format!("{}: {ty}", field.json_name));
        }
        if args.is_empty() { String::new() } else { format!("({})", args.join(", ")) }
    }

    fn operations(&mut self) -> [(GraphqlOperation, Vec<String>); 3] {
        let mut by_name: BTreeMap<String, usize> = BTreeMap::new();
        let services: Vec<&Service> = self.api.packages.iter().flat_map(|p| &p.services).collect();
        for s in services.iter().filter(|s| !s.excluded.contains(&Protocol::Graphql)) {
            for m in s.methods.iter().filter(|m| m.graphql.is_some()) {
                *by_name.entry(m.name.to_lower_camel_case()).or_default() += 1;
            }
        }
        let mut ops = [
            (GraphqlOperation::Query, Vec::new()),
            (GraphqlOperation::Mutation, Vec::new()),
            (GraphqlOperation::Subscription, Vec::new()),
        ];
        let mut fields: BTreeMap<(String, &str), String> = BTreeMap::new();
        for s in services.iter().filter(|s| !s.excluded.contains(&Protocol::Graphql)) {
            for m in &s.methods {
                let Some(kind) = m.graphql else { continue };
                let name = graphql_field_name(s, m, &by_name);
                let full = format!("{}.{}", s.full_name, m.name);
                let root = match kind {
                    GraphqlOperation::Query => "Query",
                    GraphqlOperation::Mutation => "Mutation",
                    GraphqlOperation::Subscription => "Subscription",
                };
                if let Some(first) = fields.insert((name.clone(), root), full.clone()) {
                    let message = format!("`{full}` and `{first}` would both be the GraphQL field `{root}.{name}`");
                    let help = "give one its own field name: `option (apigen.method) = {graphql: {name: \"otherName\"}};`, or exclude it from GraphQL";
                    self.collisions.push(crate::diagnostics::Diagnostic::at(&m.span, message, help));
                    continue;
                }
                let args = self.arguments(&m.input.full_name);
                // Root fields are nullable so that one failing field is null
                // with its error while the others still answer.
                let ty = if m.output.full_name == "google.protobuf.Empty" {
                    "Boolean".to_owned()
                } else if kind == GraphqlOperation::Subscription {
                    format!("{}!", self.message_type(&m.output.full_name, false))
                } else {
                    self.message_type(&m.output.full_name, false)
                };
                let mut field = String::new();
                // The request's own rules, since its fields are the arguments.
                let mut docs = m.docs.clone();
                let input = self.messages.get(m.input.full_name.as_str()).copied();
                if let Some(rules) = input.and_then(super::rules_doc::message_sentence) {
                    if !docs.is_empty() {
                        docs.push(String::new());
                    }
                    docs.push(rules);
                }
                for sentence in [m.scopes_sentence(), m.rate_limit_sentence()].into_iter().flatten() {
                    if !docs.is_empty() {
                        docs.push(String::new());
                    }
                    docs.push(sentence);
                }
                description(&mut field, &docs, "  ");
                let _ = write!(field, "  {name}{args}: {ty}{}", deprecated(m.deprecated || s.deprecated));
                if let Some((_, fields)) = ops.iter_mut().find(|(k, _)| *k == kind) {
                    fields.push(field);
                }
            }
        }
        ops
    }

    fn schema(&mut self) -> Option<String> {
        let ops = self.operations();
        if ops.iter().all(|(_, f)| f.is_empty()) {
            return None;
        }
        let mut out = format!(
            "# @generated by apigen {} from {}. Do not edit.\n\n",
            env!("CARGO_PKG_VERSION"),
            self.api.roots.join(", ")
        );
        // Root types are `Query`, `Mutation` and `Subscription` unless a
        // message already has the name (pubsub's Subscription); then `…Root`.
        let mut roots = Vec::new();
        let mut root_text = String::new();
        for (kind, fields) in &ops {
            let (field, base) = match kind {
                GraphqlOperation::Query => ("query", "Query"),
                GraphqlOperation::Mutation => ("mutation", "Mutation"),
                GraphqlOperation::Subscription => ("subscription", "Subscription"),
            };
            let taken = self.messages.values().any(|m| m.graphql_name == base)
                || self.enums.values().any(|e| e.graphql_name == base);
            let name = if taken { format!("{base}Root") } else { base.to_owned() };
            if fields.is_empty() {
                if *kind == GraphqlOperation::Query {
                    // A schema needs a Query type.
                    let _ = writeln!(
                        root_text,
                        "type {name} {{\n  \"Always true: this API has no query methods.\"\n  _ping: Boolean!\n}}\n"
                    );
                    roots.push((field, name));
                }
                continue;
            }
            let _ = writeln!(root_text, "type {name} {{\n{}\n}}\n", fields.join("\n"));
            roots.push((field, name));
        }
        // Declare the roots whenever a type takes a root's name, so that a
        // message called `Subscription` is never read as the subscription root.
        let taken = ["Query", "Mutation", "Subscription"].iter().any(|r| {
            self.messages.values().any(|m| m.graphql_name == *r) || self.enums.values().any(|e| e.graphql_name == *r)
        });
        if taken {
            let entries: Vec<String> = roots.iter().map(|(f, n)| format!("  {f}: {n}")).collect();
            let _ = writeln!(out, "schema {{\n{}\n}}\n", entries.join("\n"));
        }
        out.push_str(&root_text);
        // Entities are reachable through `_entities`, whether or not a method returns them.
        let entities: Vec<String> =
            self.messages.values().filter(|m| m.entity.is_some()).map(|m| m.full_name.clone()).collect();
        if !entities.is_empty() {
            out.push_str(FEDERATION);
        }
        for full_name in entities {
            self.message_type(&full_name, false);
        }
        let mut types = BTreeMap::new();
        while let Some((full_name, input)) = self.wanted.pop_first() {
            let Some(m) = self.messages.get(full_name.as_str()).copied() else { continue };
            let key = if input { format!("{}Input", m.graphql_name) } else { m.graphql_name.clone() };
            if let std::collections::btree_map::Entry::Vacant(slot) = types.entry(key) {
                slot.insert(self.object(m, input));
            }
        }
        for (name, (key, value, input)) in std::mem::take(&mut self.entries) {
            let keyword = if input { "input" } else { "type" };
            types.insert(
                name.clone(),
                format!("\"A map entry.\"\n{keyword} {name} {{\n  key: {key}!\n  value: {value}!\n}}\n"),
            );
        }
        for full_name in std::mem::take(&mut self.used_enums) {
            let Some(e) = self.enums.get(full_name.as_str()).copied() else { continue };
            let mut text = String::new();
            description(&mut text, &e.docs, "");
            let _ = writeln!(text, "enum {} {{", e.graphql_name);
            let mut seen = BTreeSet::new();
            for v in e.values.iter().filter(|v| seen.insert(v.number)) {
                description(&mut text, &v.docs, "  ");
                let _ = writeln!(text, "  {}{}", v.name, deprecated(v.deprecated));
            }
            text.push_str("}\n");
            types.insert(e.graphql_name.clone(), text);
        }
        for text in types.values() {
            out.push_str(text);
            out.push('\n');
        }
        for (name, doc) in SCALARS {
            let _ = writeln!(out, "\"{doc}\"\nscalar {name}\n");
        }
        Some(out.trim_end().to_owned() + "\n")
    }
}

/// The API's relations and entities as the runtime's `Relation` table (a
/// Rust expression for `mod.rs`); `None` when no message has either.
pub fn relations_table(api: &Api) -> Option<String> {
    let items: Vec<String> = api
        .relation_table()
        .iter()
        .map(|e| {
            let b = e.batch;
            let mut item = format!(
                "::apigen_runtime::Relation::new({:?}, {:?}, \"{}/{}\", ::apigen_runtime::RelationKind::{})\n.key({:?})\n.loader({:?}, {:?}, {:?})",
                e.parent,
                e.field,
                e.service,
                e.method,
                e.kind.runtime_variant(),
                e.key.json_name,
                b.keys.json_name,
                b.results.json_name,
                b.key.json_name
            );
            if b.max_batch_size > 0 {
                let _ = write!(item, "\n.max_batch_size({})", b.max_batch_size);
            }
            if e.required {
                item.push_str("\n.required(true)");
            }
            if let Some(hint) = e.cache {
                let _ = write!(item, "\n.cache({}, {})", hint.max_age, hint.private);
            }
            item
        })
        .collect();
    (!items.is_empty()).then(|| format!("&[{}]", items.join(",\n")))
}

/// What a relation field's description says about how it loads.
fn relation_sentence(r: &Relation) -> String {
    let by = format!("`{}.{}`", r.service, r.method);
    match r.kind {
        RelationKind::One if r.required => {
            format!("Loaded by `{}` through {by}, in batches; a key without a result is an error.", r.key.json_name)
        }
        RelationKind::One | RelationKind::Entity => {
            format!("Loaded by `{}` through {by}, in batches.", r.key.json_name)
        }
        RelationKind::Many if r.required => format!(
            "One per key of `{}`, in order, loaded through {by} in batches; a key without a result is an error.",
            r.key.json_name
        ),
        RelationKind::Many => {
            format!("One per key of `{}` that has one, in order, loaded through {by} in batches.", r.key.json_name)
        }
        RelationKind::Group => format!(
            "The results of {by} whose `{}` is this `{}`, loaded in batches.",
            r.batch.key.json_name, r.key.json_name
        ),
    }
}

/// Whether a field's GraphQL type is non-null. Lists and maps: on output
/// (an empty list, not null). Others, outside oneofs: REQUIRED fields, and on
/// output a proto3 scalar without presence, which always has a value (its default).
pub fn non_null(field: &Field, input: bool) -> bool {
    match field.cardinality {
        Cardinality::Repeated | Cardinality::Map(..) => !input,
        Cardinality::Singular | Cardinality::Optional | Cardinality::Required => {
            let always =
                !input && field.cardinality == Cardinality::Singular && !matches!(field.ty, FieldType::Message(_));
            field.oneof.is_none() && (field.has(FieldBehavior::Required) || always)
        }
    }
}

/// The GraphQL field name of every method in the schema, by (service, method).
pub fn field_names(api: &Api) -> BTreeMap<(String, String), String> {
    let services: Vec<&Service> =
        api.packages.iter().flat_map(|p| &p.services).filter(|s| !s.excluded.contains(&Protocol::Graphql)).collect();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for m in services.iter().flat_map(|s| &s.methods).filter(|m| m.graphql.is_some()) {
        *counts.entry(m.name.to_lower_camel_case()).or_default() += 1;
    }
    services
        .iter()
        .flat_map(|s| s.methods.iter().filter(|m| m.graphql.is_some()).map(move |m| (*s, m)))
        .map(|(s, m)| ((s.full_name.clone(), m.name.clone()), graphql_field_name(s, m, &counts)))
        .collect()
}

/// The field name of a method: the `graphql.name` option, else its
/// lowerCamelCase name, prefixed with its service's when two services share it.
pub fn graphql_field_name(s: &Service, m: &Method, counts: &BTreeMap<String, usize>) -> String {
    if let Some(name) = &m.graphql_name {
        return name.clone();
    }
    let plain = m.name.to_lower_camel_case();
    if counts.get(&plain).copied().unwrap_or(0) > 1 {
        format!("{}{}", s.name.to_lower_camel_case(), upper_camel(&m.name))
    } else {
        plain
    }
}

fn upper_camel(s: &str) -> String {
    heck::ToUpperCamelCase::to_upper_camel_case(s)
}

fn wkt_type(full_name: &str) -> Option<&'static str> {
    Some(match full_name.strip_prefix("google.protobuf.")? {
        "Timestamp" => "DateTime",
        "Duration" => "Duration",
        "FieldMask" => "FieldMask",
        "Struct" | "Value" | "ListValue" | "Any" => "JSON",
        "Empty" => "Boolean",
        "StringValue" => "String",
        "BytesValue" => "Bytes",
        "BoolValue" => "Boolean",
        "DoubleValue" | "FloatValue" | "UInt32Value" => "Float",
        "Int32Value" => "Int",
        "Int64Value" => "Int64",
        "UInt64Value" => "UInt64",
        _ => return None,
    })
}
