//! The service backend: for every service, the trait users implement, its
//! `ServiceInfo` table and the function that wraps an implementation for the
//! server. Per-method logic stays in the runtime's dispatch functions.

use askama::Template;
use heck::{ToShoutySnakeCase, ToSnakeCase};

use super::doc_attrs;
use crate::diagnostics::Error;
use crate::model::{Body, HttpBinding, Idempotency, Method, MethodKind, Package, Protocol, Segment};

#[derive(Template)]
#[template(path = "service/services.rs", escape = "none")]
struct ServicesTemplate {
    services: Vec<ServiceView>,
}

struct ServiceView {
    /// Compiles the schema's custom validation rules (empty without any).
    prepare_rules: String,
    docs: String,
    rust_name: String,
    full_name: String,
    info_name: String,
    fn_name: String,
    client_name: String,
    rest_client_name: String,
    connect_client_name: String,
    openapi: String,
    /// The paths of `PORTAL_JSON` and `TYPESCRIPT`.
    portal: String,
    typescript: String,
    graphql: String,
    /// The path of the run's relation table; empty without relations.
    relations: String,
    /// Whether the run has a GraphQL schema (`graphql` names it).
    has_sdl: bool,
    /// Empty when no method of the service is a query or mutation.
    graphql_client_name: String,
    max_depth: u32,
    max_complexity: u32,
    methods: Vec<MethodView>,
}

struct MethodView {
    docs: String,
    name: String,
    rust_name: String,
    param: String,
    ret: String,
    kind: &'static str,
    dispatch: &'static str,
    input: String,
    input_rust: String,
    output: String,
    no_side_effects: bool,
    /// A read: a tRPC query.
    reads: bool,
    client_param: String,
    client_arg: &'static str,
    http: String,
    excluded: String,
    /// Whether the REST client has this method.
    rest: bool,
    /// The GraphQL field name; empty when not in the schema.
    graphql: String,
    /// Whether the GraphQL client has this method (a query or mutation).
    graphql_call: bool,
    /// `max_age, private` of the method's cache hint; empty without one.
    cache: String,
    /// The scopes a caller needs, as a Rust slice; empty without any.
    scopes: String,
    /// `calls, period_seconds, burst` of its rate limit; empty without one.
    rate_limit: String,
    /// The JSON name of a resumable stream's cursor field; empty otherwise.
    cursor: String,
    /// Whether the Connect client has this method (unary or server
    /// streaming, served over Connect).
    connect: bool,
    /// The method's name in each client: its Rust name, with `_rpc` added
    /// where it would clash with the client's own functions.
    grpc_client_fn: String,
    rest_client_fn: String,
    graphql_client_fn: String,
    connect_client_fn: String,
    /// The name is one clippy expects to take no `self` or `self` by value
    /// (`new`, `from_*`, `into_*`), but trait methods take `&self`.
    self_convention: bool,
}

/// `name`, or `name_rpc` when a client already has a function called `name`.
fn client_fn(name: &str, reserved: &[&str]) -> String {
    if reserved.contains(&name) { format!("{name}_rpc") } else { name.to_owned() }
}

/// The protocols that do not serve a method, as `apigen_runtime::Protocol`s.
fn excluded(service: &[Protocol], method: &[Protocol]) -> String {
    let mut all: Vec<Protocol> = service.iter().chain(method).copied().collect();
    all.sort();
    all.dedup();
    let items: Vec<String> = all
        .iter()
        .map(|p| {
            let name = match p {
                Protocol::Grpc => "Grpc",
                Protocol::GrpcWeb => "GrpcWeb",
                Protocol::Rest => "Rest",
                Protocol::Graphql => "Graphql",
                Protocol::Connect => "Connect",
                Protocol::Trpc => "Trpc",
                Protocol::WebSocket => "WebSocket",
                Protocol::Sse => "Sse",
            };
            format!("::apigen_runtime::Protocol::{name}")
        })
        .collect();
    format!("&[{}]", items.join(", "))
}

/// Every message of the API by full name, to turn field paths into JSON names.
pub type Messages<'a> = std::collections::BTreeMap<&'a str, &'a crate::model::Message>;

/// A proto field path as JSON names (`book.update_time` → `book.updateTime`),
/// the form the REST client reads from a request's JSON.
fn json_path(messages: &Messages, message: &str, path: &[String]) -> String {
    let mut current = message.to_owned();
    let mut out = Vec::new();
    for name in path {
        let field = messages.get(current.as_str()).and_then(|m| m.fields.iter().find(|f| &f.name == name));
        out.push(field.map_or_else(|| name.clone(), |f| f.json_name.clone()));
        if let Some(crate::model::FieldType::Message(t)) = field.map(|f| &f.ty) {
            current = t.full_name.clone();
        }
    }
    out.join(".")
}

/// The text of the default value of the field at `path`, which the JSON
/// mapping omits but a URL path still needs (`0`, `false`, `GENRE_UNSPECIFIED`).
fn default_text(messages: &Messages, message: &str, path: &[String]) -> String {
    use crate::model::FieldType as T;
    let mut current = message.to_owned();
    for (i, name) in path.iter().enumerate() {
        let Some(field) = messages.get(current.as_str()).and_then(|m| m.fields.iter().find(|f| &f.name == name)) else {
            return String::new();
        };
        if i + 1 < path.len() {
            match &field.ty {
                T::Message(t) => current = t.full_name.clone(),
                _ => return String::new(),
            }
            continue;
        }
        if field.cardinality != crate::model::Cardinality::Singular {
            return String::new();
        }
        return match &field.ty {
            T::Bool => "false".into(),
            T::String | T::Bytes | T::Message(_) => String::new(),
            T::Enum(_) => "0".into(),
            T::Double | T::Float => "0".into(),
            _ => "0".into(),
        };
    }
    String::new()
}

/// A binding as the runtime's `HttpRule` holds it: field paths as JSON names,
/// a path variable's default value as text. Generated code prints it
/// (`http_rules`); the gateway builds it as values.
pub(crate) struct Rule {
    pub method: String,
    pub template: String,
    pub segments: Vec<RuleSegment>,
    pub verb: Option<String>,
    pub body: String,
    pub response_body: String,
    pub status: u16,
}

/// A segment of a [`Rule`]'s template: the runtime's `Segment`.
pub(crate) enum RuleSegment {
    Literal(String),
    Any,
    Rest,
    Var { field: String, pattern: Vec<RuleSegment>, default: String },
}

/// `binding` of `method` as the runtime holds it.
pub(crate) fn rule(method: &Method, binding: &HttpBinding, messages: &Messages) -> Rule {
    let input = method.input.full_name.as_str();
    fn segments(template: &[Segment], messages: &Messages, input: &str) -> Vec<RuleSegment> {
        template
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => RuleSegment::Literal(l.clone()),
                Segment::Wildcard => RuleSegment::Any,
                Segment::DeepWildcard => RuleSegment::Rest,
                Segment::Variable(v) => RuleSegment::Var {
                    field: json_path(messages, input, &v.field_path),
                    pattern: segments(&v.pattern, messages, input),
                    default: default_text(messages, input, &v.field_path),
                },
            })
            .collect()
    }
    Rule {
        method: binding.method.as_str().to_owned(),
        template: binding.path.raw.clone(),
        segments: segments(&binding.path.segments, messages, input),
        verb: binding.path.verb.clone(),
        body: match &binding.body {
            Body::None => String::new(),
            Body::All => "*".to_owned(),
            Body::Field(path) => json_path(messages, input, path),
        },
        response_body: binding
            .response_body
            .as_ref()
            .map(|p| json_path(messages, &method.output.full_name, p))
            .unwrap_or_default(),
        status: method.success_status,
    }
}

/// The method's bindings as the runtime's `HttpRule`s, in Rust.
fn http_rules(method: &Method, messages: &Messages) -> String {
    fn render(segments: &[RuleSegment]) -> String {
        let items: Vec<String> = segments
            .iter()
            .map(|s| match s {
                RuleSegment::Literal(l) => format!("::apigen_runtime::__private::Segment::Literal({l:?})"),
                RuleSegment::Any => "::apigen_runtime::__private::Segment::Any".to_owned(),
                RuleSegment::Rest => "::apigen_runtime::__private::Segment::Rest".to_owned(),
                RuleSegment::Var { field, pattern, default } => format!(
                    "::apigen_runtime::__private::Segment::Var {{ field: {field:?}, pattern: {}, default: {default:?} }}",
                    render(pattern)
                ),
            })
            .collect();
        format!("&[{}]", items.join(", "))
    }
    let rules: Vec<String> = method
        .http
        .iter()
        .map(|b| {
            let r = rule(method, b, messages);
            format!(
                "::apigen_runtime::__private::HttpRule {{ method: {:?}, template: {:?}, segments: {}, verb: {}, body: {:?}, response_body: {:?}, status: {} }}",
                r.method,
                r.template,
                render(&r.segments),
                r.verb.as_ref().map_or("None".to_owned(), |v| format!("Some({v:?})")),
                r.body,
                r.response_body,
                r.status,
            )
        })
        .collect();
    format!("&[{}]", rules.join(", "))
}

/// The service code of one package; empty when it has no services.
pub fn generate(
    package: &Package,
    messages: &Messages,
    graphql_names: &std::collections::BTreeMap<(String, String), String>,
    prepare_rules: &str,
) -> Result<String, Error> {
    if package.services.is_empty() {
        return Ok(String::new());
    }
    let services = package
        .services
        .iter()
        .map(|s| {
            let mut docs = s.docs.clone();
            if s.deprecated {
                docs.push(String::new());
                docs.push("Deprecated.".to_owned());
            }
            ServiceView {
                prepare_rules: prepare_rules.to_owned(),
                docs: doc_attrs(&docs),
                rust_name: s.rust_name.clone(),
                full_name: s.full_name.clone(),
                info_name: format!("{}_INFO", s.name.to_shouty_snake_case()),
                fn_name: format!("{}_service", s.name.to_snake_case()),
                client_name: s.client_name.clone(),
                rest_client_name: s.rest_client_name.clone(),
                connect_client_name: s.connect_client_name.clone(),
                // The document sits at the root of the generated module tree.
                openapi: format!("{}OPENAPI_JSON", "super::".repeat(crate::lower::names::package_module(&package.name).len())),
                portal: format!("{}PORTAL_JSON", "super::".repeat(crate::lower::names::package_module(&package.name).len())),
                typescript: format!("{}TYPESCRIPT", "super::".repeat(crate::lower::names::package_module(&package.name).len())),
                max_depth: s.graphql_limits.max_depth,
                max_complexity: s.graphql_limits.max_complexity,
                graphql_client_name: if s.methods.iter().any(|m| matches!(m.kind, MethodKind::Unary | MethodKind::ServerStreaming) && graphql_names.contains_key(&(s.full_name.clone(), m.name.clone()))) {
                    s.graphql_client_name.clone()
                } else {
                    String::new()
                },
                has_sdl: !graphql_names.is_empty(),
                // The table `relations_table` writes: relations and federation entities.
                relations: if !graphql_names.is_empty()
                    && messages.values().any(|m| !m.relations.is_empty() || m.entity.is_some())
                {
                    format!("{}GRAPHQL_RELATIONS", "super::".repeat(crate::lower::names::package_module(&package.name).len()))
                } else {
                    String::new()
                },
                graphql: if graphql_names.is_empty() {
                    "\"\"".to_owned()
                } else {
                    format!("{}GRAPHQL_SDL", "super::".repeat(crate::lower::names::package_module(&package.name).len()))
                },
                methods: s
                    .methods
                    .iter()
                    .map(|m| {
                        let (input, output) = (&m.input.rust_path, &m.output.rust_path);
                        let streams_in = matches!(m.kind, MethodKind::ClientStreaming | MethodKind::BidiStreaming);
                        let streams_out = matches!(m.kind, MethodKind::ServerStreaming | MethodKind::BidiStreaming);
                        MethodView {
                            docs: doc_attrs(&m.docs),
                            name: m.name.clone(),
                            rust_name: m.rust_name.clone(),
                            param: if streams_in {
                                format!("requests: ::apigen_runtime::RequestStream<{input}>")
                            } else {
                                format!("request: {input}")
                            },
                            ret: if streams_out {
                                format!("::apigen_runtime::ResponseStream<{output}>")
                            } else {
                                output.clone()
                            },
                            kind: m.kind.runtime_variant(),
                            dispatch: m.kind.snake_name(),
                            input: m.input.full_name.clone(),
                            input_rust: input.clone(),
                            client_param: if streams_in {
                                format!(
                                    "requests: impl ::apigen_runtime::futures::Stream<Item = {input}> + ::core::marker::Send + 'static"
                                )
                            } else {
                                format!("request: {input}")
                            },
                            client_arg: if streams_in { "requests" } else { "request" },
                            http: http_rules(m, messages),
                            graphql: graphql_names.get(&(s.full_name.clone(), m.name.clone())).cloned().unwrap_or_default(),
                            self_convention: m.rust_name == "new"
                                || m.rust_name.starts_with("from_")
                                || m.rust_name.starts_with("into_"),
                            grpc_client_fn: client_fn(&m.rust_name, &["new", "connect", "metadata_mut"]),
                            rest_client_fn: client_fn(&m.rust_name, &["new", "headers_mut"]),
                            graphql_client_fn: client_fn(&m.rust_name, &["new", "headers_mut", "raw", "with_relations"]),
                            connect_client_fn: client_fn(&m.rust_name, &["new", "headers_mut", "with_timeout"]),
                            connect: matches!(m.kind, MethodKind::Unary | MethodKind::ServerStreaming)
                                && s.serves(m, Protocol::Connect),
                            graphql_call: matches!(m.kind, MethodKind::Unary | MethodKind::ServerStreaming)
                                && graphql_names.contains_key(&(s.full_name.clone(), m.name.clone())),
                            excluded: excluded(&s.excluded, &m.excluded),
                            rest: m.kind == MethodKind::Unary && s.serves(m, Protocol::Rest),
                            output: m.output.full_name.clone(),
                            no_side_effects: m.idempotency == Idempotency::NoSideEffects,
                            reads: m.reads,
                            cache: m.cache.map(|c| format!("{}, {}", c.max_age, c.private)).unwrap_or_default(),
                            rate_limit: m
                                .rate_limit
                                .map(|l| format!("{}, {}, {}", l.calls, l.period_seconds, l.burst))
                                .unwrap_or_default(),
                            cursor: m.cursor_field(messages).map(|f| f.json_name.clone()).unwrap_or_default(),
                            scopes: if m.scopes.is_empty() {
                                String::new()
                            } else {
                                format!("&[{}]", m.scopes.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", "))
                            },
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    ServicesTemplate { services }.render().map_err(|e| Error::Internal(format!("service template: {e}")))
}
