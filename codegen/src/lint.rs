//! `apigen lint`: rules for schemas served over many protocols at once.
//! `buf lint` checks protobuf style; these check what the derived protocols
//! need: REST routes, names that stay stable in GraphQL and TypeScript,
//! streams that can resume, inputs with upper bounds.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{
    Api, Cardinality, Field, FieldBehavior, FieldType, HttpMethod, Message, Method, MethodKind, Protocol, Segment, Span,
};

/// A lint rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Its name, for `--allow`.
    pub name: &'static str,
    /// What it checks and why, for `--list-rules` and the README.
    pub summary: &'static str,
}

/// Every rule; all are on unless allowed.
pub const RULES: &[Rule] = &[
    Rule {
        name: "http-binding",
        summary: "A unary or server-streaming method has no google.api.http binding of its own: a unary one \
                  is served over REST only at its default binding (POST /package.Service/Method), a \
                  server-streaming one not over REST at all.",
    },
    Rule {
        name: "path-variable-required",
        summary: "A path variable binds a field that is neither REQUIRED nor IDENTIFIER: gRPC, Connect and \
                  GraphQL clients may leave it empty, and REST cannot route such a request.",
    },
    Rule {
        name: "route-overlap",
        summary: "Two bindings with the same HTTP method match some of the same paths, for example \
                  `/v1/{name=notes/*}` and `/v1/notes/latest`: the more specific one takes them, so the \
                  resource `notes/latest` cannot be reached through the other. (Bindings that match exactly \
                  the same paths are already an error.)",
    },
    Rule {
        name: "name-collision",
        summary: "Two packages define a message or enum of the same name, or two services a method of the \
                  same name: TypeScript and GraphQL prefix them with their package or service, names that \
                  change when the other one appears or goes.",
    },
    Rule {
        name: "get-idempotency",
        summary: "A unary method bound to HTTP GET lacks `idempotency_level = NO_SIDE_EFFECTS`: GET makes it \
                  a read (a GraphQL Query, a tRPC query), but Connect serves GET requests, which caches can \
                  keep, only to methods that promise NO_SIDE_EFFECTS.",
    },
    Rule {
        name: "stream-cursor",
        summary: "A server-streaming method's response has no cursor field (`sequence`, `cursor`, `offset`, \
                  `position`, `event_id` or `resume_token`): SSE and WebSocket clients that reconnect cannot \
                  resume where they stopped.",
    },
    Rule {
        name: "string-max-len",
        summary: "A string field in the request of a create method (its name starts with `Create`, or it is \
                  bound to POST), the created resource's fields included, has no protovalidate rule bounding \
                  its length (`max_len`, `len`, `max_bytes`, `len_bytes`, `const`, `in`, `pattern` or a \
                  well-known format): clients can store strings up to the request size limit.",
    },
    Rule {
        name: "batch-max-size",
        summary: "A batch loader (`(apigen.method).batch`) has no `max_batch_size`, or one larger than its \
                  keys field's `max_items`: one GraphQL query can then send any number of keys in one call, \
                  or batches that the loader's own validation refuses.",
    },
    Rule {
        name: "page-size-max",
        summary: "A request's integer `page_size` has no upper bound (`lte`, `lt`, `in` or `const`): a client \
                  can ask for every item at once.",
    },
];

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// `file:line:col`.
    pub location: String,
    /// The rule's name.
    pub rule: &'static str,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: String,
}

/// Runs every rule not in `allowed`; `display` maps import names to the
/// paths shown.
/// Findings are reported only in files `own` accepts (import names).
pub fn lint(
    api: &Api,
    allowed: &[String],
    display: &dyn Fn(&str) -> String,
    own: &dyn Fn(&str) -> bool,
) -> Vec<Finding> {
    let mut lint = Lint { findings: Vec::new(), allowed, display, own };
    let messages = api.messages_by_name();
    let services: Vec<_> = api.packages.iter().flat_map(|p| &p.services).collect();
    for service in &services {
        for method in &service.methods {
            let name = format!("{}/{}", service.full_name, method.name);
            let rest = !service.excluded.contains(&Protocol::Rest) && !method.excluded.contains(&Protocol::Rest);
            let bindable = matches!(method.kind, MethodKind::Unary | MethodKind::ServerStreaming);
            if rest && bindable && method.http.iter().all(|b| b.implicit) {
                let served = if method.http.is_empty() {
                    "it is not served over REST or SSE".to_owned()
                } else {
                    format!("REST serves it only at its default binding, POST /{}/{}", service.full_name, method.name)
                };
                lint.report(
                    "http-binding",
                    &method.span,
                    format!("`{name}` has no HTTP binding of its own: {served}"),
                    "add option (google.api.http) = {get: \"/v1/...\"} (or post with a body), or exclude REST \
                     with option (apigen.method) = {exclude: PROTOCOL_REST}",
                );
            }
            let input = messages.get(method.input.full_name.as_str());
            if let Some(batch) = &method.batch {
                let keys = input.and_then(|m| m.fields.iter().find(|f| f.name == batch.keys.name));
                let max_items = keys.and_then(|f| f.rules.as_ref()).and_then(|r| r.typed.as_ref());
                let max_items = max_items.filter(|t| t.kind == "repeated").and_then(|t| match t.get("max_items") {
                    Some(crate::model::RuleValue::Uint(n)) => Some(*n),
                    _ => None,
                });
                let max = u64::from(batch.max_batch_size);
                let problem = match max_items {
                    _ if max == 0 => Some("has no `max_batch_size`: a query can send any number of keys in one call"),
                    Some(items) if max > items => {
                        Some("takes more keys per call than its keys field's `max_items` allows")
                    }
                    _ => None,
                };
                if let Some(problem) = problem {
                    let help = match max_items {
                        Some(items) => format!(
                            "set `max_batch_size: {items}` (the keys field's `max_items`) in its `batch` option"
                        ),
                        None => format!(
                            "set `max_batch_size` in its `batch` option, and bound `{}` with `[(buf.validate.field).repeated.max_items = …]`",
                            batch.keys.name
                        ),
                    };
                    lint.report("batch-max-size", &method.span, format!("batch loader `{name}` {problem}"), help);
                }
            }
            for binding in method.http.iter().filter(|b| !b.implicit) {
                for variable in binding.path.variables() {
                    let field = input.and_then(|m| leaf_field(m, &variable.field_path, &messages));
                    let marked =
                        field.is_some_and(|f| f.has(FieldBehavior::Required) || f.has(FieldBehavior::Identifier));
                    if field.is_some() && !marked {
                        let path = variable.field_path.join(".");
                        lint.report(
                            "path-variable-required",
                            &binding.span,
                            format!("the path variable `{path}` of `{name}` binds a field that is not REQUIRED"),
                            format!("mark `{path}` with [(google.api.field_behavior) = REQUIRED]"),
                        );
                    }
                }
            }
            // A GET binding makes the method a read (a GraphQL Query, a tRPC query), but only
            // NO_SIDE_EFFECTS lets Connect serve it with GET, as the Connect protocol says.
            if method.kind == MethodKind::Unary
                && method.http.first().is_some_and(|b| b.method == crate::model::HttpMethod::Get)
                && method.idempotency != crate::model::Idempotency::NoSideEffects
            {
                lint.report(
                    "get-idempotency",
                    &method.span,
                    format!(
                        "`{name}` is bound to HTTP GET but not marked NO_SIDE_EFFECTS: it is a GraphQL Query and a \
                         tRPC query, yet Connect clients cannot call it with GET (nor cache it)"
                    ),
                    "add `option idempotency_level = NO_SIDE_EFFECTS;` to the method",
                );
            }
            if method.kind == MethodKind::ServerStreaming
                && let Some(output) = messages.get(method.output.full_name.as_str())
                && method.cursor_field(&messages).is_none()
            {
                lint.report(
                    "stream-cursor",
                    &method.span,
                    format!(
                        "`{name}` streams `{}`, which has no cursor field: reconnecting clients cannot resume",
                        output.full_name
                    ),
                    "add a field such as `uint64 sequence` and serve the stream with ResponseStream::resumable, so \
                     SSE's Last-Event-ID resumes it",
                );
            }
        }
    }
    lint.routes(&services);
    lint.names(api);
    lint.bounds(&services, &messages);
    lint.findings.sort();
    lint.findings.dedup();
    lint.findings
}

struct Lint<'a> {
    findings: Vec<Finding>,
    allowed: &'a [String],
    display: &'a dyn Fn(&str) -> String,
    own: &'a dyn Fn(&str) -> bool,
}

impl Lint<'_> {
    fn report(&mut self, rule: &'static str, span: &Span, message: String, help: impl Into<String>) {
        if self.allowed.iter().any(|a| a == rule) || !(self.own)(&span.file) {
            return;
        }
        let file = (self.display)(&span.file);
        let location = if span.line == 0 { file } else { format!("{file}:{}:{}", span.line, span.column) };
        self.findings.push(Finding { location, rule, message, help: help.into() });
    }

    fn routes(&mut self, services: &[&crate::model::Service]) {
        let mut all = Vec::new();
        for service in services {
            for method in &service.methods {
                for binding in &method.http {
                    let name = format!(
                        "{} {} of `{}/{}`",
                        binding.method.as_str(),
                        binding.path.raw,
                        service.full_name,
                        method.name
                    );
                    all.push((binding, shape(&binding.path.segments), name));
                }
            }
        }
        for (i, (a, a_shape, a_name)) in all.iter().enumerate() {
            for (b, b_shape, b_name) in &all[i + 1..] {
                if a.method != b.method
                    || a.path.verb != b.path.verb
                    || a_shape == b_shape
                    || !intersects(a_shape, b_shape)
                {
                    continue;
                }
                // The binding with fewer literal segments loses the shared paths.
                let literals = |shape: &[String]| shape.iter().filter(|t| *t != "*" && *t != "**").count();
                let (loser, winner, winner_name) =
                    if literals(a_shape) <= literals(b_shape) { (a, b, b_name) } else { (b, a, a_name) };
                let loser_name = if std::ptr::eq(*loser, *a) { a_name } else { b_name };
                self.report(
                    "route-overlap",
                    &loser.span,
                    format!(
                        "{loser_name} cannot reach the paths {winner_name} also matches: {} takes them",
                        winner.path.raw
                    ),
                    "give the two routes distinct literal segments, or a custom verb (`:latest`)",
                );
            }
        }
    }

    /// `string-max-len` and `page-size-max`: inputs without an upper bound.
    fn bounds(&mut self, services: &[&crate::model::Service], messages: &BTreeMap<&str, &Message>) {
        // A message several create methods take is reported once, for the first of them.
        let mut seen = BTreeSet::new();
        for service in services {
            for method in &service.methods {
                let name = format!("{}/{}", service.full_name, method.name);
                let Some(input) = messages.get(method.input.full_name.as_str()) else { continue };
                for field in input.fields.iter().filter(|f| f.name == "page_size") {
                    if let Some(kind) = integer_kind(&field.ty)
                        && matches!(field.cardinality, Cardinality::Singular | Cardinality::Optional)
                        && !has_rule(field, kind, &["lte", "lt", "in", "const"])
                    {
                        self.report(
                            "page-size-max",
                            &field.span,
                            format!(
                                "`{}.page_size` of `{name}` has no upper bound: a client can ask for every item at once",
                                input.full_name
                            ),
                            format!(
                                "add `[(buf.validate.field).{kind}.lte = …]` (the largest page the server serves; \
                                 `{kind} = {{gte: 0, lte: …}}` refuses negative sizes too)"
                            ),
                        );
                    }
                }
                if is_create(method) {
                    let why = if method.name.starts_with("Create") { "a create method" } else { "bound to POST" };
                    self.strings(input, &format!("`{name}` ({why})"), messages, &mut seen);
                }
            }
        }
    }

    /// Reports the unbounded string fields of `message` and of the messages in it.
    fn strings(
        &mut self,
        message: &Message,
        method: &str,
        messages: &BTreeMap<&str, &Message>,
        seen: &mut BTreeSet<String>,
    ) {
        if !seen.insert(message.full_name.clone()) {
            return;
        }
        for field in &message.fields {
            // OUTPUT_ONLY fields are cleared before the method sees them.
            if field.has(FieldBehavior::OutputOnly) {
                continue;
            }
            let bounded = |rules: Option<&crate::model::FieldRules>| rules.is_some_and(bounds_string);
            match (&field.ty, &field.cardinality) {
                // A map's strings are its keys and values, not bounded by `string` rules; its messages are.
                (_, Cardinality::Map(_, value)) => {
                    if let FieldType::Message(t) = value.as_ref() {
                        self.nested(&t.full_name, method, messages, seen);
                    }
                }
                (FieldType::String, Cardinality::Repeated) => {
                    let items = field.rules.as_ref().and_then(|r| r.typed.as_ref()).filter(|t| t.kind == "repeated");
                    if !bounded(items.and_then(|t| t.items.as_deref())) {
                        self.unbounded_string(message, field, method, "repeated.items.string.max_len");
                    }
                }
                (FieldType::String, _) if !bounded(field.rules.as_ref()) => {
                    self.unbounded_string(message, field, method, "string.max_len");
                }
                (FieldType::Message(t), _) => self.nested(&t.full_name, method, messages, seen),
                _ => {}
            }
        }
    }

    /// [`Lint::strings`] of a message field's type; the well-known types take no
    /// string rules (wrappers cannot be validated).
    fn nested(
        &mut self,
        full_name: &str,
        method: &str,
        messages: &BTreeMap<&str, &Message>,
        seen: &mut BTreeSet<String>,
    ) {
        if let Some(nested) = messages.get(full_name).filter(|_| !full_name.starts_with("google.protobuf.")) {
            self.strings(nested, method, messages, seen);
        }
    }

    fn unbounded_string(&mut self, message: &Message, field: &Field, method: &str, rule: &str) {
        let what = if field.cardinality == Cardinality::Repeated { "holds strings" } else { "is a string" };
        self.report(
            "string-max-len",
            &field.span,
            format!(
                "`{}.{}` {what} without a maximum length in the request of {method}: \
                 clients can store strings up to the request size limit",
                message.full_name, field.name
            ),
            format!(
                "add `[(buf.validate.field).{rule} = …]` (the longest value the API should store), importing \
                 \"buf/validate/validate.proto\""
            ),
        );
    }

    fn names(&mut self, api: &Api) {
        // The names TypeScript prefixes, from the list it prefixes them from.
        let mut types: BTreeMap<String, Vec<(&str, &Span)>> = BTreeMap::new();
        for t in crate::backend::ts::local_types(api) {
            types.entry(t.base).or_default().push((t.full_name, t.span));
        }
        // Lowering gives an imported type a package-prefixed GraphQL name when it collides.
        let graphql: BTreeMap<&str, &str> = api
            .packages
            .iter()
            .flat_map(|p| {
                let messages = p.messages.iter().map(|m| (m.full_name.as_str(), m.graphql_name.as_str()));
                messages.chain(p.enums.iter().map(|e| (e.full_name.as_str(), e.graphql_name.as_str())))
            })
            .collect();
        for (local, owners) in types.iter().filter(|(_, owners)| owners.len() > 1) {
            let all: Vec<&str> = owners.iter().map(|(full, _)| *full).collect();
            let renamed: Vec<String> = all
                .iter()
                .filter_map(|full| {
                    graphql.get(full).filter(|g| **g != local.as_str()).map(|g| format!("`{full}` is `{g}`"))
                })
                .collect();
            let graphql_note =
                if renamed.is_empty() { String::new() } else { format!(" (in GraphQL, {})", renamed.join(", ")) };
            for (full, span) in owners {
                self.report(
                    "name-collision",
                    span,
                    format!("`{full}` shares its name `{local}` with {}{graphql_note}", others(&all, full)),
                    "rename one, or set (apigen.message) = {graphql_name: \"...\"} on both",
                );
            }
        }
        let mut methods: BTreeMap<String, Vec<(String, &Span)>> = BTreeMap::new();
        for service in api.packages.iter().flat_map(|p| &p.services) {
            for method in service.methods.iter().filter(|m| m.graphql.is_some() && m.graphql_name.is_none()) {
                methods
                    .entry(method.name.clone())
                    .or_default()
                    .push((format!("{}/{}", service.full_name, method.name), &method.span));
            }
        }
        for (name, owners) in methods.iter().filter(|(_, owners)| owners.len() > 1) {
            let all: Vec<&str> = owners.iter().map(|(full, _)| full.as_str()).collect();
            for (full, span) in owners {
                self.report(
                    "name-collision",
                    span,
                    format!("`{full}` shares the GraphQL field name of `{name}` with {}", others(&all, full)),
                    "set (apigen.method) = {graphql: {name: \"...\"}} to choose a stable field name",
                );
            }
        }
    }
}

fn others(all: &[&str], this: &str) -> String {
    all.iter().filter(|o| **o != this).map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", ")
}

/// Whether some path matches both shapes (`*`: one segment, `**`: any number).
fn intersects(a: &[String], b: &[String]) -> bool {
    match (a.split_first(), b.split_first()) {
        (None, None) => true,
        (Some((x, rest)), _) if x == "**" => intersects(rest, b) || (!b.is_empty() && intersects(a, &b[1..])),
        (_, Some((y, rest))) if y == "**" => intersects(a, rest) || (!a.is_empty() && intersects(&a[1..], b)),
        (Some((x, a_rest)), Some((y, b_rest))) => (x == "*" || y == "*" || x == y) && intersects(a_rest, b_rest),
        _ => false,
    }
}

/// The paths a template matches, as a comparable shape.
fn shape(segments: &[Segment]) -> Vec<String> {
    let mut out = Vec::new();
    for segment in segments {
        match segment {
            Segment::Literal(text) => out.push(text.clone()),
            Segment::Wildcard => out.push("*".to_owned()),
            Segment::DeepWildcard => out.push("**".to_owned()),
            Segment::Variable(v) if v.pattern.is_empty() => out.push("*".to_owned()),
            Segment::Variable(v) => out.extend(shape(&v.pattern)),
        }
    }
    out
}

fn leaf_field<'a>(
    message: &'a Message,
    path: &[String],
    messages: &BTreeMap<&str, &'a Message>,
) -> Option<&'a crate::model::Field> {
    let (first, rest) = path.split_first()?;
    let field = message.fields.iter().find(|f| &f.name == first)?;
    if rest.is_empty() {
        return Some(field);
    }
    match &field.ty {
        FieldType::Message(t) => leaf_field(messages.get(t.full_name.as_str())?, rest, messages),
        _ => None,
    }
}

/// A create method, as AIP-133 names and binds them: `Create…`, or any POST binding.
fn is_create(method: &Method) -> bool {
    method.name.starts_with("Create") || method.http.iter().any(|b| b.method == HttpMethod::Post && !b.implicit)
}

/// The string rules that bound a value's length, besides the well-known formats.
const STRING_BOUNDS: &[&str] = &["max_len", "len", "max_bytes", "len_bytes", "const", "in", "pattern"];

/// Whether `rules` bound the length of a string.
fn bounds_string(rules: &crate::model::FieldRules) -> bool {
    rules.typed.as_ref().is_some_and(|t| {
        t.kind == "string"
            && t.rules.iter().any(|(name, value)| {
                let format = crate::model::WELL_KNOWN_STRINGS.iter().any(|(rule, _)| rule == name);
                (STRING_BOUNDS.contains(&name.as_str()) || format) && *value != crate::model::RuleValue::Bool(false)
            })
    })
}

/// Whether `field` has one of `names` among its `kind` rules.
fn has_rule(field: &Field, kind: &str, names: &[&str]) -> bool {
    let typed = field.rules.as_ref().and_then(|r| r.typed.as_ref()).filter(|t| t.kind == kind);
    typed.is_some_and(|t| names.iter().any(|n| t.get(n).is_some()))
}

/// The protovalidate rule kind of an integer type.
fn integer_kind(ty: &FieldType) -> Option<&'static str> {
    Some(match ty {
        FieldType::Int32 => "int32",
        FieldType::Int64 => "int64",
        FieldType::Uint32 => "uint32",
        FieldType::Uint64 => "uint64",
        FieldType::Sint32 => "sint32",
        FieldType::Sint64 => "sint64",
        FieldType::Fixed32 => "fixed32",
        FieldType::Fixed64 => "fixed64",
        FieldType::Sfixed32 => "sfixed32",
        FieldType::Sfixed64 => "sfixed64",
        _ => return None,
    })
}

/// The report: one finding per line with its help, then nothing else.
pub fn render(findings: &[Finding]) -> String {
    let mut out = String::new();
    for f in findings {
        out.push_str(&format!("{}: {} [{}]\n  help: {}\n", f.location, f.message, f.rule, f.help));
    }
    out
}

/// Compiles `files` as `generate` does and lints them; `allowed` names rules to skip.
pub fn lint_files(
    files: &[std::path::PathBuf],
    includes: &[std::path::PathBuf],
    allowed: &[String],
) -> Result<Vec<Finding>, crate::Error> {
    if let Some(unknown) = allowed.iter().find(|a| !RULES.iter().any(|r| r.name == a.as_str())) {
        let names: Vec<&str> = RULES.iter().map(|r| r.name).collect();
        return Err(crate::Error::Usage(format!(
            "there is no lint rule `{unknown}`; the rules are {}",
            names.join(", ")
        )));
    }
    let compiled = crate::frontend::compile(files, includes)?;
    let api = crate::lower::lower(&compiled)?;
    // Only what the named files define: imported packages are someone else's to lint.
    let roots: std::collections::BTreeSet<&str> = api.roots.iter().map(String::as_str).collect();
    let findings = lint(&api, allowed, &|file| compiled.sources.display_name(file), &|file| roots.contains(file));
    Ok(findings)
}
