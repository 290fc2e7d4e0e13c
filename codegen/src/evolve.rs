//! `apigen breaking`: the changes between two versions of a schema that
//! break existing clients, in each protocol apigen derives from it.
//!
//! `buf breaking` knows the protobuf wire and JSON; the other protocols are
//! derived here the way the backends derive them: REST routes from
//! `google.api.http`, GraphQL nullability from field behaviour, tRPC
//! procedure types from idempotency, streaming kinds. Each finding points at
//! the new schema (the nearest element that still exists).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

mod rules;

use crate::Error;
use crate::model::{
    Api, Body, Cardinality, Enum, Field, FieldBehavior, FieldType, GraphqlOperation, HttpBinding, Idempotency, Message,
    Method, MethodKind, Protocol, Relation, RelationKind, Service, Span, TrpcProcedure,
};

/// The clients a breaking change breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Category {
    /// Protobuf binary: gRPC, gRPC-Web, Connect's binary form, stored data.
    Wire,
    /// The proto3 JSON mapping: REST, Connect JSON, tRPC, WebSocket, SSE bodies.
    Json,
    /// REST routes: paths, verbs, path variables, bodies, query parameters.
    Rest,
    /// The GraphQL schema.
    Graphql,
    /// Connect and tRPC procedures and the generated TypeScript types.
    Rpc,
    /// A method's streaming kind.
    Streaming,
    /// protovalidate rules on requests, which every protocol enforces.
    Validation,
}

impl Category {
    /// The heading the text report groups findings under.
    pub fn title(self) -> &'static str {
        match self {
            Category::Wire => "protobuf wire",
            Category::Json => "proto3 JSON",
            Category::Rest => "REST",
            Category::Graphql => "GraphQL",
            Category::Rpc => "Connect / tRPC / TypeScript",
            Category::Streaming => "streaming",
            Category::Validation => "validation",
        }
    }

    /// The name used in `--format json`.
    pub fn key(self) -> &'static str {
        match self {
            Category::Wire => "wire",
            Category::Json => "json",
            Category::Rest => "rest",
            Category::Graphql => "graphql",
            Category::Rpc => "rpc",
            Category::Streaming => "streaming",
            Category::Validation => "validation",
        }
    }
}

/// One change that breaks existing clients.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// Which clients break.
    pub category: Category,
    /// `file:line:col` in the new schema.
    pub location: String,
    /// A stable identifier of the kind of change, for example `field-removed`.
    pub rule: &'static str,
    /// What changed.
    pub message: String,
}

/// Reserved numbers (`start..end`, end exclusive) and names, by message or enum full name.
type Reservations = BTreeMap<String, (Vec<(i32, i32)>, Vec<String>)>;

/// One version of a schema, as `breaking` compares it.
#[derive(Debug, Clone)]
pub struct Schema {
    api: Api,
    reserved: Reservations,
    /// Import name → path as the user wrote it, for locations.
    display: BTreeMap<String, String>,
    /// GraphQL root field names by (service, method), as the backend names them.
    graphql_fields: BTreeMap<(String, String), String>,
}

impl Schema {
    /// Compiles and lowers `files` as `generate` does.
    pub fn load(files: &[PathBuf], includes: &[PathBuf]) -> Result<Schema, Error> {
        Schema::load_with_flag(files, includes, "-I")
    }

    /// [`Schema::load`]; `flag` is how the user adds an include path.
    fn load_with_flag(files: &[PathBuf], includes: &[PathBuf], flag: &str) -> Result<Schema, Error> {
        let compiled = crate::frontend::compile_with_flag(files, includes, flag)?;
        let api = crate::lower::lower(&compiled)?;
        let mut reserved = BTreeMap::new();
        let mut display = BTreeMap::new();
        for file in &compiled.files.file {
            let name = file.name().to_owned();
            display.insert(name.clone(), compiled.sources.display_name(&name));
            let package = file.package();
            let prefix = if package.is_empty() { String::new() } else { format!("{package}.") };
            for message in &file.message_type {
                reserved_of_message(&format!("{prefix}{}", message.name()), message, &mut reserved);
            }
            for e in &file.enum_type {
                reserved_of_enum(&format!("{prefix}{}", e.name()), e, &mut reserved);
            }
        }
        let graphql_fields = crate::backend::graphql::field_names(&api);
        Ok(Schema { api, reserved, display, graphql_fields })
    }

    fn is_reserved(&self, owner: &str, number: i32, name: &str) -> bool {
        self.reserved.get(owner).is_some_and(|(numbers, names)| {
            numbers.iter().any(|&(start, end)| number >= start && number < end) || names.iter().any(|n| n == name)
        })
    }

    fn location(&self, span: &Span) -> String {
        let file = self.display.get(&span.file).cloned().unwrap_or_else(|| span.file.clone());
        if span.line == 0 { format!("{file}:1:1") } else { format!("{file}:{}:{}", span.line, span.column) }
    }
}

fn reserved_of_message(full: &str, message: &prost_types::DescriptorProto, out: &mut Reservations) {
    let numbers = message.reserved_range.iter().map(|r| (r.start(), r.end())).collect();
    out.insert(full.to_owned(), (numbers, message.reserved_name.clone()));
    for nested in &message.nested_type {
        reserved_of_message(&format!("{full}.{}", nested.name()), nested, out);
    }
    for e in &message.enum_type {
        reserved_of_enum(&format!("{full}.{}", e.name()), e, out);
    }
}

fn reserved_of_enum(full: &str, e: &prost_types::EnumDescriptorProto, out: &mut Reservations) {
    // Enum reserved ranges are inclusive at both ends.
    let numbers = e.reserved_range.iter().map(|r| (r.start(), r.end().saturating_add(1))).collect();
    out.insert(full.to_owned(), (numbers, e.reserved_name.clone()));
}

/// Every change from `old` to `new` that breaks an existing client, sorted
/// by category, then location.
pub fn breaking(old: &Schema, new: &Schema) -> Vec<Finding> {
    let mut diff = Diff { old, new, findings: BTreeSet::new() };
    diff.messages();
    diff.enums();
    diff.services();
    diff.findings.into_iter().collect()
}

struct Diff<'a> {
    old: &'a Schema,
    new: &'a Schema,
    findings: BTreeSet<Finding>,
}

impl Diff<'_> {
    fn report(&mut self, category: Category, span: &Span, rule: &'static str, message: String) {
        let location = self.new.location(span);
        self.findings.insert(Finding { category, location, rule, message });
    }

    /// Where to point for something the new schema no longer has: its
    /// package's first file, else the first root file.
    fn package_span(&self, full_name: &str) -> Span {
        let package = self
            .new
            .api
            .packages
            .iter()
            .filter(|p| full_name.starts_with(&format!("{}.", p.name)) || p.name.is_empty())
            .max_by_key(|p| p.name.len());
        let file =
            package.and_then(|p| p.files.first()).or_else(|| self.new.api.roots.first()).cloned().unwrap_or_default();
        Span { file, line: 0, column: 0 }
    }

    fn messages(&mut self) {
        let (old, new) = (self.old.api.messages_by_name(), self.new.api.messages_by_name());
        let inputs = reachable(&self.new.api, true);
        let outputs = reachable(&self.new.api, false);
        for (name, before) in &old {
            if before.is_map_entry {
                continue;
            }
            let Some(after) = new.get(name) else {
                let span = self.package_span(name);
                self.report(Category::Wire, &span, "message-removed", format!("message `{name}` was removed"));
                continue;
            };
            let usage = Usage { input: inputs.contains(*name), output: outputs.contains(*name) };
            self.fields(before, after, usage);
            self.relations(before, after);
            if usage.input {
                for message in rules::oneofs(before, after) {
                    self.report(Category::Validation, &after.span, "input-rule-tightened", message);
                }
            }
        }
    }

    fn fields(&mut self, before: &Message, after: &Message, usage: Usage) {
        let owner = &after.full_name;
        for old in &before.fields {
            let by_number = after.fields.iter().find(|f| f.number == old.number);
            let by_name = after.fields.iter().find(|f| f.name == old.name);
            if let Some(moved) = by_name.filter(|f| f.number != old.number) {
                self.report(
                    Category::Wire,
                    &moved.span,
                    "field-number-changed",
                    format!(
                        "field `{}` of `{owner}` changed its number from {} to {}",
                        old.name, old.number, moved.number
                    ),
                );
            }
            let Some(new) = by_number else {
                let number = i32::try_from(old.number).unwrap_or(i32::MAX);
                if by_name.is_none() && !self.new.is_reserved(owner, number, &old.name) {
                    self.report(
                        Category::Wire,
                        &after.span,
                        "field-removed-unreserved",
                        format!(
                            "field {} `{}` of `{owner}` was removed without reserving its number; add `reserved {};` so it is never reused",
                            old.number, old.name, old.number
                        ),
                    );
                }
                if by_name.is_none() {
                    self.removed_field(after, old);
                }
                continue;
            };
            if by_name.is_some_and(|f| f.number != old.number) {
                continue; // reported as a renumbering
            }
            self.changed_field(after, old, new, usage);
        }
        if usage.input {
            let added =
                after.fields.iter().filter(|f| !before.fields.iter().any(|o| o.number == f.number || o.name == f.name));
            for new in added {
                for message in rules::added_field(new.rules.as_ref(), &format!("{owner}.{}", new.name)) {
                    self.report(Category::Validation, &new.span, "input-rule-tightened", message);
                }
            }
        }
    }

    /// GraphQL relations: fields of the output type only, which a query may select;
    /// and the entity a federation gateway finds by its key.
    fn relations(&mut self, before: &Message, after: &Message) {
        let owner = &after.full_name;
        if let Some(old) = &before.entity {
            match &after.entity {
                None => {
                    let message = format!("`{owner}` is no longer a federation entity: gateways cannot find it");
                    self.report(Category::Graphql, &after.span, "entity-removed", message);
                }
                Some(new) if new.key.json_name != old.key.json_name => {
                    let message = format!(
                        "the federation key of `{owner}` is `{}` now, was `{}`",
                        new.key.json_name, old.key.json_name
                    );
                    self.report(Category::Graphql, &new.span, "entity-key-changed", message);
                }
                Some(_) => {}
            }
        }
        for old in &before.relations {
            let Some(new) = after.relations.iter().find(|r| r.name == old.name) else {
                let message = format!("relation `{}` of `{owner}` was removed", old.name);
                self.report(Category::Graphql, &after.span, "relation-removed", message);
                continue;
            };
            let list = |r: &Relation| r.kind != RelationKind::One;
            if list(old) != list(new) || old.batch.result_type != new.batch.result_type {
                let shape = |r: &Relation| {
                    let target = r.batch.result_type.rsplit('.').next().unwrap_or_default().to_owned();
                    if list(r) { format!("[{target}!]") } else { target }
                };
                let message = format!("relation `{}` of `{owner}` is {} now, was {}", old.name, shape(new), shape(old));
                self.report(Category::Graphql, &new.span, "relation-type-changed", message);
            } else if new.required && !old.required {
                let message = format!(
                    "relation `{}` of `{owner}` is required now: a key without a result is an error where it was null",
                    old.name
                );
                self.report(Category::Graphql, &new.span, "relation-made-required", message);
            }
        }
    }

    fn removed_field(&mut self, after: &Message, old: &Field) {
        let owner = &after.full_name;
        let what = format!("field `{}` (`{}` in JSON) of `{owner}` was removed", old.name, old.json_name);
        self.report(Category::Json, &after.span, "field-removed", what.clone());
        self.report(Category::Graphql, &after.span, "field-removed", what.clone());
        self.report(Category::Rpc, &after.span, "field-removed", what);
    }

    fn changed_field(&mut self, after: &Message, old: &Field, new: &Field, usage: Usage) {
        let owner = &after.full_name;
        let span = &new.span;
        let this = format!("field {} of `{owner}`", new.number);
        if old.name != new.name {
            self.report(
                Category::Graphql,
                span,
                "field-renamed",
                format!("{this} was renamed from `{}` to `{}`", old.name, new.name),
            );
        }
        if old.json_name != new.json_name {
            let message = format!("{this} is `{}` in JSON, was `{}`", new.json_name, old.json_name);
            self.report(Category::Json, span, "json-name-changed", message.clone());
            self.report(Category::Rpc, span, "json-name-changed", message);
        }
        let (old_shape, new_shape) = (shape(old), shape(new));
        if old_shape != new_shape {
            if !wire_compatible(old, new) {
                self.report(
                    Category::Wire,
                    span,
                    "field-type-changed",
                    format!("{this} `{}` changed from {old_shape} to {new_shape}", new.name),
                );
            }
            let message = format!("{this} `{}` changed from {old_shape} to {new_shape}", new.name);
            if json_form(old) != json_form(new) {
                self.report(Category::Json, span, "field-type-changed", message.clone());
                self.report(Category::Rpc, span, "field-type-changed", message.clone());
            }
            self.report(Category::Graphql, span, "field-type-changed", message);
        }
        if old.oneof.is_some() != new.oneof.is_some() {
            let moved = if new.oneof.is_some() { "moved into a oneof" } else { "moved out of its oneof" };
            self.report(Category::Wire, span, "field-oneof-changed", format!("{this} `{}` {moved}", new.name));
        }
        // GraphQL nullability as the GraphQL backend derives it.
        use crate::backend::graphql::non_null;
        let message = format!(
            "{this} `{}` became REQUIRED: requests without it are refused (and it is non-null in GraphQL inputs)",
            new.name
        );
        if usage.input && new.has(FieldBehavior::Required) && !old.has(FieldBehavior::Required) {
            self.report(Category::Json, span, "field-now-required", message.clone());
        }
        if usage.input && non_null(new, true) && !non_null(old, true) {
            self.report(Category::Graphql, span, "input-nullability-tightened", message);
        }
        if usage.input {
            let name = format!("{owner}.{}", new.name);
            for message in rules::field(old.rules.as_ref(), new.rules.as_ref(), &name) {
                self.report(Category::Validation, span, "input-rule-tightened", message);
            }
        }
        if usage.output && non_null(old, false) && !non_null(new, false) && old_shape == new_shape {
            self.report(
                Category::Graphql,
                span,
                "output-nullability-loosened",
                format!("{this} `{}` may now be null in GraphQL outputs", new.name),
            );
        }
    }

    fn enums(&mut self) {
        let (old, new) = (self.old.api.enums_by_name(), self.new.api.enums_by_name());
        for (name, before) in &old {
            let Some(after) = new.get(name) else {
                let span = self.package_span(name);
                self.report(Category::Wire, &span, "enum-removed", format!("enum `{name}` was removed"));
                continue;
            };
            self.enum_values(before, after);
        }
    }

    fn enum_values(&mut self, before: &Enum, after: &Enum) {
        let owner = &after.full_name;
        let span = &after.span;
        for old in &before.values {
            let by_number = after.values.iter().find(|v| v.number == old.number);
            let by_name = after.values.iter().find(|v| v.name == old.name);
            match (by_number, by_name) {
                (Some(new), _) if new.name != old.name => {
                    let message =
                        format!("value {} of `{owner}` was renamed from `{}` to `{}`", old.number, old.name, new.name);
                    self.report(Category::Json, span, "enum-value-renamed", message.clone());
                    self.report(Category::Graphql, span, "enum-value-renamed", message.clone());
                    self.report(Category::Rpc, span, "enum-value-renamed", message);
                }
                (None, Some(moved)) => self.report(
                    Category::Wire,
                    span,
                    "enum-value-number-changed",
                    format!("`{}` of `{owner}` changed its number from {} to {}", old.name, old.number, moved.number),
                ),
                (None, None) => {
                    if !self.new.is_reserved(owner, old.number, &old.name) {
                        self.report(
                            Category::Wire,
                            span,
                            "enum-value-removed-unreserved",
                            format!(
                                "value {} `{}` of `{owner}` was removed without reserving its number",
                                old.number, old.name
                            ),
                        );
                    }
                    let message = format!("value `{}` of `{owner}` was removed", old.name);
                    self.report(Category::Json, span, "enum-value-removed", message.clone());
                    self.report(Category::Graphql, span, "enum-value-removed", message.clone());
                    self.report(Category::Rpc, span, "enum-value-removed", message);
                }
                _ => {}
            }
        }
    }

    fn services(&mut self) {
        let new_services: BTreeMap<&str, &Service> =
            self.new.api.packages.iter().flat_map(|p| &p.services).map(|s| (s.full_name.as_str(), s)).collect();
        let old_services: Vec<&Service> = self.old.api.packages.iter().flat_map(|p| &p.services).collect();
        for before in old_services {
            let Some(after) = new_services.get(before.full_name.as_str()) else {
                let span = self.package_span(&before.full_name);
                for method in &before.methods {
                    self.removed_method(before, method, &span);
                }
                continue;
            };
            for method in &before.methods {
                match after.methods.iter().find(|m| m.name == method.name) {
                    Some(new) => self.changed_method(before, after, method, new),
                    None => self.removed_method(before, method, &after.span),
                }
            }
        }
    }

    fn removed_method(&mut self, service: &Service, method: &Method, span: &Span) {
        let name = format!("{}/{}", service.full_name, method.name);
        let served = |p: Protocol| !service.excluded.contains(&p) && !method.excluded.contains(&p);
        self.report(Category::Wire, span, "method-removed", format!("method `{name}` was removed"));
        if served(Protocol::Connect) || served(Protocol::Trpc) {
            self.report(Category::Rpc, span, "procedure-removed", format!("procedure `{name}` was removed"));
        }
        if served(Protocol::Rest) {
            for binding in &method.http {
                self.report(
                    Category::Rest,
                    span,
                    "route-removed",
                    format!("{} of `{name}` was removed", route(binding)),
                );
            }
        }
        if let Some(field) = self.old.graphql_fields.get(&(service.full_name.clone(), method.name.clone())) {
            self.report(
                Category::Graphql,
                span,
                "operation-removed",
                format!("the GraphQL field `{field}` (`{name}`) was removed"),
            );
        }
    }

    fn changed_method(&mut self, service: &Service, after: &Service, old: &Method, new: &Method) {
        let name = format!("{}/{}", after.full_name, new.name);
        let span = &new.span;
        if old.input.full_name != new.input.full_name || old.output.full_name != new.output.full_name {
            self.report(
                Category::Wire,
                span,
                "method-types-changed",
                format!(
                    "`{name}` now takes `{}` and returns `{}` (was `{}` → `{}`)",
                    new.input.full_name, new.output.full_name, old.input.full_name, old.output.full_name
                ),
            );
        }
        if old.kind != new.kind {
            self.report(
                Category::Streaming,
                span,
                "streaming-kind-changed",
                format!("`{name}` is {} now, was {}", kind(new.kind), kind(old.kind)),
            );
        }
        let was = |p: Protocol| !service.excluded.contains(&p) && !old.excluded.contains(&p);
        let is = |p: Protocol| !after.excluded.contains(&p) && !new.excluded.contains(&p);
        for protocol in [
            Protocol::Grpc,
            Protocol::GrpcWeb,
            Protocol::Rest,
            Protocol::Graphql,
            Protocol::Connect,
            Protocol::Trpc,
            Protocol::WebSocket,
            Protocol::Sse,
        ] {
            if was(protocol) && !is(protocol) {
                let category = match protocol {
                    Protocol::Grpc | Protocol::GrpcWeb => Category::Wire,
                    Protocol::Rest | Protocol::Sse => Category::Rest,
                    Protocol::Graphql => Category::Graphql,
                    Protocol::Connect | Protocol::Trpc => Category::Rpc,
                    Protocol::WebSocket => Category::Streaming,
                };
                self.report(
                    category,
                    span,
                    "protocol-excluded",
                    format!("`{name}` is no longer served over {protocol:?}"),
                );
            }
        }
        if was(Protocol::Trpc) && is(Protocol::Trpc) && procedure(old) != procedure(new) {
            self.report(
                Category::Rpc,
                span,
                "procedure-type-changed",
                format!("the tRPC procedure `{name}` is a {} now, was a {}", procedure(new), procedure(old)),
            );
        }
        if was(Protocol::Connect)
            && is(Protocol::Connect)
            && old.idempotency == Idempotency::NoSideEffects
            && new.idempotency != Idempotency::NoSideEffects
        {
            self.report(
                Category::Rpc,
                span,
                "connect-get-removed",
                format!("`{name}` lost NO_SIDE_EFFECTS: Connect GET requests to it now fail"),
            );
        }
        if was(Protocol::Graphql) && is(Protocol::Graphql) && old.graphql.is_some() && old.graphql != new.graphql {
            let what = |op: Option<GraphqlOperation>| match op {
                Some(GraphqlOperation::Query) => "a Query field",
                Some(GraphqlOperation::Mutation) => "a Mutation field",
                Some(GraphqlOperation::Subscription) => "a Subscription field",
                None => "not in the schema",
            };
            self.report(
                Category::Graphql,
                span,
                "operation-changed",
                format!("`{name}` is {} now, was {}", what(new.graphql), what(old.graphql)),
            );
        }
        let key = |s: &Service, m: &Method| (s.full_name.clone(), m.name.clone());
        let fields = (self.old.graphql_fields.get(&key(service, old)), self.new.graphql_fields.get(&key(after, new)));
        if let (Some(before), Some(now)) = fields
            && before != now
        {
            self.report(
                Category::Graphql,
                span,
                "operation-renamed",
                format!("the GraphQL field of `{name}` is `{now}` now, was `{before}`"),
            );
        }
        if was(Protocol::Rest) && is(Protocol::Rest) {
            self.routes(&name, old, new);
        }
    }

    fn routes(&mut self, name: &str, old: &Method, new: &Method) {
        let old_messages = self.old.api.messages_by_name();
        let new_messages = self.new.api.messages_by_name();
        // A default binding that gives way to one of the method's own is no break: its path still
        // answers the same request (as a Connect call, whose successes are the same JSON).
        for binding in old.http.iter().filter(|b| !(b.implicit && new.http.iter().any(|n| !n.implicit))) {
            let same = new.http.iter().find(|b| b.method == binding.method && b.path.raw == binding.path.raw);
            let Some(now) = same else {
                let span = new.http.first().map_or(&new.span, |b| &b.span);
                self.report(
                    Category::Rest,
                    span,
                    "route-removed",
                    format!("{} of `{name}` was removed or changed", route(binding)),
                );
                continue;
            };
            if now.body != binding.body {
                self.report(
                    Category::Rest,
                    &now.span,
                    "body-changed",
                    format!("the body of {} is {} now, was {}", route(binding), body(&now.body), body(&binding.body)),
                );
            }
            if now.response_body != binding.response_body {
                self.report(
                    Category::Rest,
                    &now.span,
                    "response-body-changed",
                    format!("the response body of {} changed", route(binding)),
                );
            }
            let before = query_parameters(binding, old_messages.get(old.input.full_name.as_str()), &old_messages);
            let after = query_parameters(now, new_messages.get(new.input.full_name.as_str()), &new_messages);
            for gone in before.difference(&after) {
                self.report(
                    Category::Rest,
                    &now.span,
                    "query-parameter-removed",
                    format!("{} no longer takes the query parameter `{gone}`", route(binding)),
                );
            }
        }
    }
}

#[derive(Clone, Copy)]
struct Usage {
    input: bool,
    output: bool,
}

/// Messages reachable from the methods' inputs (or outputs).
fn reachable(api: &Api, inputs: bool) -> BTreeSet<String> {
    let messages = api.messages_by_name();
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = api
        .packages
        .iter()
        .flat_map(|p| &p.services)
        .flat_map(|s| &s.methods)
        .map(|m| if inputs { m.input.full_name.clone() } else { m.output.full_name.clone() })
        .collect();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(message) = messages.get(name.as_str()) {
            for field in &message.fields {
                let mut types = vec![&field.ty];
                if let Cardinality::Map(k, v) = &field.cardinality {
                    types.extend([k.as_ref(), v.as_ref()]);
                }
                for ty in types {
                    if let FieldType::Message(t) = ty {
                        todo.push(t.full_name.clone());
                    }
                }
            }
        }
    }
    seen
}

fn is_list(f: &Field) -> bool {
    matches!(f.cardinality, Cardinality::Repeated | Cardinality::Map(..))
}

fn type_name(ty: &FieldType) -> String {
    match ty {
        FieldType::Message(t) | FieldType::Enum(t) => t.full_name.clone(),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// A field's type with its cardinality, as the report names it.
fn shape(f: &Field) -> String {
    match &f.cardinality {
        Cardinality::Repeated => format!("repeated {}", type_name(&f.ty)),
        Cardinality::Map(k, v) => format!("map<{}, {}>", type_name(k), type_name(v)),
        _ => type_name(&f.ty),
    }
}

/// Scalar types that share an encoding, so a reader of one reads the other.
fn wire_group(ty: &FieldType) -> Option<u8> {
    match ty {
        FieldType::Int32 | FieldType::Int64 | FieldType::Uint32 | FieldType::Uint64 | FieldType::Bool => Some(0),
        FieldType::Sint32 | FieldType::Sint64 => Some(1),
        FieldType::Fixed32 | FieldType::Sfixed32 => Some(2),
        FieldType::Fixed64 | FieldType::Sfixed64 => Some(3),
        FieldType::String | FieldType::Bytes => Some(4),
        _ => None,
    }
}

fn wire_compatible(old: &Field, new: &Field) -> bool {
    let same_cardinality = is_list(old) == is_list(new) && !matches!(old.cardinality, Cardinality::Map(..));
    same_cardinality && wire_group(&old.ty).is_some() && wire_group(&old.ty) == wire_group(&new.ty)
}

/// How a field looks in the proto3 JSON mapping.
fn json_form(f: &Field) -> String {
    let scalar = |ty: &FieldType| match ty {
        FieldType::Int32 | FieldType::Uint32 | FieldType::Sint32 | FieldType::Fixed32 | FieldType::Sfixed32 => {
            "number".to_owned()
        }
        FieldType::Double | FieldType::Float => "float".to_owned(),
        FieldType::Int64 | FieldType::Uint64 | FieldType::Sint64 | FieldType::Fixed64 | FieldType::Sfixed64 => {
            "int64 string".to_owned()
        }
        other => type_name(other),
    };
    match &f.cardinality {
        Cardinality::Repeated => format!("[{}]", scalar(&f.ty)),
        Cardinality::Map(k, v) => format!("{{{}: {}}}", scalar(k), scalar(v)),
        _ => scalar(&f.ty),
    }
}

fn kind(k: MethodKind) -> &'static str {
    match k {
        MethodKind::Unary => "unary",
        MethodKind::ServerStreaming => "server-streaming",
        MethodKind::ClientStreaming => "client-streaming",
        MethodKind::BidiStreaming => "bidi-streaming",
    }
}

/// The tRPC procedure type the method is served as.
fn procedure(m: &Method) -> &'static str {
    match m.trpc_procedure() {
        Some(TrpcProcedure::Query) => "query",
        Some(TrpcProcedure::Mutation) => "mutation",
        Some(TrpcProcedure::Subscription) => "subscription",
        None => "procedure of a streaming kind tRPC does not serve",
    }
}

fn route(b: &HttpBinding) -> String {
    format!("{} {}", b.method.as_str(), b.path.raw)
}

fn body(b: &Body) -> String {
    match b {
        Body::None => "empty".to_owned(),
        Body::All => "`*`".to_owned(),
        Body::Field(path) => format!("`{}`", path.join(".")),
    }
}

/// The query parameters a binding takes: the request's fields that neither
/// the path nor the body binds, nested messages' fields as `a.b`.
fn query_parameters(
    binding: &HttpBinding,
    input: Option<&&Message>,
    messages: &BTreeMap<&str, &Message>,
) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let (Some(input), false) = (input, binding.body == Body::All) else { return out };
    let mut bound: BTreeSet<String> = binding.path.variables().map(|v| v.field_path.join(".")).collect();
    if let Body::Field(path) = &binding.body {
        bound.insert(path.join("."));
    }
    fn walk(
        message: &Message,
        prefix: &str,
        depth: usize,
        bound: &BTreeSet<String>,
        messages: &BTreeMap<&str, &Message>,
        out: &mut BTreeSet<String>,
    ) {
        for field in &message.fields {
            let path = format!("{prefix}{}", field.name);
            if bound.contains(&path) || matches!(field.cardinality, Cardinality::Map(..)) {
                continue;
            }
            match &field.ty {
                FieldType::Message(t) if !is_list(field) => {
                    if let Some(nested) = messages.get(t.full_name.as_str()).filter(|_| depth < 3) {
                        walk(nested, &format!("{path}."), depth + 1, bound, messages, out);
                    }
                }
                _ => {
                    out.insert(path);
                }
            }
        }
    }
    walk(input, "", 0, &bound, messages, &mut out);
    out
}

/// The text report: findings grouped by category, then a summary line.
pub fn render_text(findings: &[Finding]) -> String {
    let mut out = String::new();
    let mut current = None;
    for f in findings {
        if current != Some(f.category) {
            out.push_str(&format!("{}\n", f.category.title()));
            current = Some(f.category);
        }
        out.push_str(&format!("  {}: {} [{}]\n", f.location, f.message, f.rule));
    }
    out
}

/// `--format json`: an array of `{category, rule, location, message}`.
pub fn render_json(findings: &[Finding]) -> String {
    let items: Vec<serde_json::Value> = findings
        .iter()
        .map(|f| {
            serde_json::json!({
                "category": f.category.key(),
                "rule": f.rule,
                "location": f.location,
                "message": f.message,
            })
        })
        .collect();
    let mut text = serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".to_owned());
    text.push('\n');
    text
}

/// The old schema of `apigen breaking`, `new` being the new one (`files`
/// with `includes`). The old files resolve against their own include paths,
/// never the new side's: there, a file of the same import name would stand
/// in for the old one. `against` is one of:
///
/// - `git:REV`: the same `files` at that revision of their repository,
///   with the same `includes` as they were there;
/// - one directory: the old copy of the schema, each of `new`'s root files
///   at the path it has under its include path (as `buf breaking --against`
///   takes one); `against_includes` adds include paths;
/// - `.proto` files: resolved against `against_includes`, or without any
///   against each file's own directory.
pub fn load_against(
    against: &[String],
    against_includes: &[PathBuf],
    new: &Schema,
    files: &[PathBuf],
    includes: &[PathBuf],
) -> Result<Schema, Error> {
    match against {
        [one] if one.starts_with("git:") => {
            if !against_includes.is_empty() {
                return Err(Error::Usage(
                    "--against-include is for --against FILE or DIR; with --against git:REV the -I paths are \
                     read at that revision, so leave it out"
                        .to_owned(),
                ));
            }
            at_revision(&one["git:".len()..], files, includes)
        }
        _ if against.iter().any(|a| a.starts_with("git:")) => {
            Err(Error::Usage("--against git:REV cannot be combined with other --against values".to_owned()))
        }
        [one] if Path::new(one).is_dir() => in_directory(Path::new(one), against_includes, new),
        _ => {
            if let Some(dir) = against.iter().find(|a| Path::new(a).is_dir()) {
                return Err(Error::Usage(format!(
                    "--against {dir} is a directory: pass either one directory holding the old schema or its \
                     .proto files, not both"
                )));
            }
            let old_files: Vec<PathBuf> = against.iter().map(PathBuf::from).collect();
            Schema::load_with_flag(&old_files, against_includes, "--against-include")
        }
    }
}

/// The old schema in `dir`: each root file of `new` at its import name.
/// Root files `dir` lacks are new (an addition breaks nothing); if it has
/// none of them, it is not the old schema.
fn in_directory(dir: &Path, against_includes: &[PathBuf], new: &Schema) -> Result<Schema, Error> {
    let expected: Vec<PathBuf> = new.api.roots.iter().map(|name| dir.join(name)).collect();
    let old_files: Vec<PathBuf> = expected.iter().filter(|p| p.is_file()).cloned().collect();
    if old_files.is_empty() {
        let listed: Vec<String> = expected.iter().map(|p| p.display().to_string()).collect();
        let missing = match listed.as_slice() {
            [one] => format!("{one} does not exist"),
            _ => format!("none of {} exists", listed.join(", ")),
        };
        return Err(Error::Usage(format!(
            "--against {}: {missing}; the directory must hold the old files at the paths the new ones have \
             under their include paths (-I)",
            dir.display()
        )));
    }
    let includes: Vec<PathBuf> = std::iter::once(dir.to_owned()).chain(against_includes.iter().cloned()).collect();
    Schema::load_with_flag(&old_files, &includes, "--against-include")
}

fn at_revision(revision: &str, files: &[PathBuf], includes: &[PathBuf]) -> Result<Schema, Error> {
    if revision.is_empty() || revision.starts_with('-') {
        return Err(Error::Usage(format!("`git:{revision}` names no revision; write for example --against git:main")));
    }
    let git = |args: &[&str], dir: &std::path::Path| -> Result<Vec<u8>, Error> {
        let output =
            std::process::Command::new("git").args(args).current_dir(dir).output().map_err(|e| {
                Error::Usage(format!("--against git:{revision} needs git, which could not be run: {e}"))
            })?;
        if !output.status.success() {
            return Err(Error::Usage(format!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(output.stdout)
    };
    let first = files.first().ok_or_else(|| Error::Usage("name the .proto files to compare".to_owned()))?;
    let canonical = |p: &PathBuf| {
        std::fs::canonicalize(p).map_err(|e| Error::Io { context: format!("cannot find {}", p.display()), source: e })
    };
    let anchor = canonical(first)?;
    let anchor_dir = anchor.parent().unwrap_or(&anchor).to_owned();
    let top = String::from_utf8_lossy(&git(&["rev-parse", "--show-toplevel"], &anchor_dir)?).trim().to_owned();
    let top =
        std::fs::canonicalize(&top).map_err(|e| Error::Io { context: format!("cannot open {top}"), source: e })?;
    let scratch = Scratch::new()?;
    let archive = git(&["archive", "--format=tar", revision], &top)?;
    unpack_tar(&archive, &scratch.0)?;
    let map = |p: &PathBuf| -> Result<PathBuf, Error> {
        let abs = canonical(p)?;
        let rel = abs
            .strip_prefix(&top)
            .map_err(|_| Error::Usage(format!("{} is outside the git repository at {}", p.display(), top.display())))?;
        Ok(scratch.0.join(rel))
    };
    let old_files = files.iter().map(map).collect::<Result<Vec<_>, _>>()?;
    let old_includes = includes.iter().map(map).collect::<Result<Vec<_>, _>>()?;
    for (old, new) in old_files.iter().zip(files) {
        if !old.is_file() {
            return Err(Error::Usage(format!("{} does not exist at git revision {revision}", new.display())));
        }
    }
    let mut schema = Schema::load(&old_files, &old_includes)?;
    let prefix = scratch.0.display().to_string();
    for shown in schema.display.values_mut() {
        if let Some(rest) = shown.strip_prefix(&prefix) {
            *shown = format!("git:{revision}:{}", rest.trim_start_matches('/'));
        }
    }
    Ok(schema)
}

/// A temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, Error> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("apigen-breaking-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::Io { context: format!("cannot create {}", dir.display()), source: e })?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Extracts what `git archive` wrote.
fn unpack_tar(bytes: &[u8], into: &std::path::Path) -> Result<(), Error> {
    tar::Archive::new(bytes).unpack(into).map_err(|e| Error::Io {
        context: format!("cannot unpack the old revision into {}", into.display()),
        source: e,
    })
}
