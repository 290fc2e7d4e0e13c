//! The intermediate model every backend reads. Plain data: no I/O, no
//! descriptors, no templates. Only `lower` builds it.

/// A whole API: every file that code is generated for.
#[derive(Debug, Clone, Default)]
pub struct Api {
    /// Packages in name order.
    pub packages: Vec<Package>,
    /// The import names of the files named by the user, for headers.
    pub roots: Vec<String>,
}

impl Api {
    /// Every message, by full name.
    pub fn messages_by_name(&self) -> std::collections::BTreeMap<&str, &Message> {
        self.packages.iter().flat_map(|p| &p.messages).map(|m| (m.full_name.as_str(), m)).collect()
    }

    /// Every enum, by full name.
    pub fn enums_by_name(&self) -> std::collections::BTreeMap<&str, &Enum> {
        self.packages.iter().flat_map(|p| &p.enums).map(|e| (e.full_name.as_str(), e)).collect()
    }

    /// Every GraphQL relation and federation entity, message by message, as
    /// the runtime's relation table lists them (an entity has no field).
    pub fn relation_table(&self) -> Vec<RelationEntry<'_>> {
        let messages = self.messages_by_name();
        let mut out = Vec::new();
        for m in self.packages.iter().flat_map(|p| &p.messages) {
            for r in &m.relations {
                out.push(RelationEntry {
                    parent: &m.graphql_name,
                    field: &r.name,
                    service: &r.service,
                    method: &r.method,
                    kind: r.kind,
                    key: &r.key,
                    batch: &r.batch,
                    required: r.required,
                    cache: messages.get(r.batch.result_type.as_str()).and_then(|t| t.cache),
                });
            }
            if let Some(e) = &m.entity {
                out.push(RelationEntry {
                    parent: &m.graphql_name,
                    field: "",
                    service: &e.service,
                    method: &e.method,
                    kind: RelationKind::Entity,
                    key: &e.key,
                    batch: &e.batch,
                    required: false,
                    cache: None,
                });
            }
        }
        out
    }
}

/// One entry of [`Api::relation_table`].
#[derive(Debug, Clone, Copy)]
pub struct RelationEntry<'a> {
    /// The parent's GraphQL type name.
    pub parent: &'a str,
    /// The relation's GraphQL field; empty for an entity.
    pub field: &'a str,
    pub service: &'a str,
    pub method: &'a str,
    pub kind: RelationKind,
    pub key: &'a FieldName,
    pub batch: &'a BatchLoader,
    pub required: bool,
    /// The cache hint of the message the loader returns.
    pub cache: Option<CacheHint>,
}

/// One protobuf package: the unit of a generated Rust module.
#[derive(Debug, Clone, Default)]
pub struct Package {
    /// `bookstore.v1`; empty for files without a package.
    pub name: String,
    /// The files of this package that code is generated for.
    pub files: Vec<String>,
    /// Services in declaration order.
    pub services: Vec<Service>,
    /// Every message of the package, nested ones included, in declaration order.
    pub messages: Vec<Message>,
    /// Every enum of the package, nested ones included.
    pub enums: Vec<Enum>,
}

/// Where something was declared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Span {
    /// The import name of the file.
    pub file: String,
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

/// A service.
#[derive(Debug, Clone)]
pub struct Service {
    /// `Bookstore`.
    pub name: String,
    /// `bookstore.v1.Bookstore`.
    pub full_name: String,
    /// The Rust name of the trait users implement.
    pub rust_name: String,
    /// The Rust name of the typed gRPC client.
    pub client_name: String,
    /// The Rust name of the typed REST client.
    pub rest_client_name: String,
    /// The Rust name of the typed GraphQL client.
    pub graphql_client_name: String,
    /// The Rust name of the typed Connect client.
    pub connect_client_name: String,
    /// Doc comment lines.
    pub docs: Vec<String>,
    pub span: Span,
    pub deprecated: bool,
    pub methods: Vec<Method>,
    /// Protocols that serve none of the methods.
    pub excluded: Vec<Protocol>,
    pub graphql_limits: GraphqlLimits,
}

/// A method of a service.
impl Service {
    /// Whether `protocol` serves `method` of this service: the rule the
    /// runtime's `MethodInfo::serves` applies when it routes, which the
    /// OpenAPI document, the TypeScript types and the typed clients follow
    /// too. Served unless excluded (on the method or the service) or the
    /// protocol cannot carry the method: REST needs a binding (server streams
    /// go out as SSE on it, so only while SSE serves them), SSE takes server
    /// streams, tRPC no request streams. GraphQL's fields are the GraphQL
    /// backend's to decide (`Method::graphql`).
    pub fn serves(&self, method: &Method, protocol: Protocol) -> bool {
        if self.excluded.contains(&protocol) || method.excluded.contains(&protocol) {
            return false;
        }
        match protocol {
            Protocol::Rest => match method.kind {
                MethodKind::Unary => !method.http.is_empty(),
                MethodKind::ServerStreaming => !method.http.is_empty() && self.serves(method, Protocol::Sse),
                MethodKind::ClientStreaming | MethodKind::BidiStreaming => false,
            },
            Protocol::Sse => method.kind == MethodKind::ServerStreaming,
            Protocol::Trpc => method.trpc_procedure().is_some(),
            _ => true,
        }
    }

    /// The service's key in the tRPC router (`/trpc/{key}.{method}`): its
    /// name in lowerCamelCase, as the runtime derives it too.
    pub fn trpc_key(&self) -> String {
        heck::ToLowerCamelCase::to_lower_camel_case(self.name.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Method {
    /// `GetBook`.
    pub name: String,
    /// The Rust name of the trait method, `get_book`.
    pub rust_name: String,
    pub kind: MethodKind,
    /// The request message.
    pub input: TypeRef,
    /// The response message.
    pub output: TypeRef,
    pub idempotency: Idempotency,
    /// A unary method that only reads: `NO_SIDE_EFFECTS`, or bound to HTTP
    /// GET (safe by HTTP's own rules), unless `(apigen.method).graphql`
    /// names the operation. A GraphQL Query and a tRPC query.
    pub reads: bool,
    /// The GraphQL operation, after applying the defaults; `None` when the
    /// method cannot be a GraphQL field (client streaming, bidi) or is excluded.
    pub graphql: Option<GraphqlOperation>,
    /// The GraphQL field name when the schema overrides it.
    pub graphql_name: Option<String>,
    /// The `google.api.http` bindings, the primary one first.
    pub http: Vec<HttpBinding>,
    /// The HTTP status of a successful REST response.
    pub success_status: u16,
    /// Protocols that do not serve this method.
    pub excluded: Vec<Protocol>,
    /// `(apigen.method).batch`: the method loads many results at once for relations.
    pub batch: Option<BatchLoader>,
    /// `(apigen.method).cache`: how long HTTP caches may keep a read's response.
    pub cache: Option<CacheHint>,
    /// `(apigen.method).scopes`: the scopes a caller's credential must grant.
    pub scopes: Vec<String>,
    /// `(apigen.method).rate_limit`: how often one caller may call it.
    pub rate_limit: Option<RateLimit>,
    pub docs: Vec<String>,
    pub span: Span,
    pub deprecated: bool,
}

/// A batch loader (`(apigen.method).batch`), checked against its request and
/// response: keys in, results out, each result carrying its key.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchLoader {
    /// The repeated scalar request field that carries the keys.
    pub keys: FieldName,
    /// The repeated message field of the response that carries the results.
    pub results: FieldName,
    /// The field of a result that holds its key.
    pub key: FieldName,
    /// The result message's full name.
    pub result_type: String,
    /// The keys' type (scalar or enum).
    pub key_type: FieldType,
    /// The most keys per call; 0 for no limit.
    pub max_batch_size: u32,
}

/// A cache hint (`apigen.CacheHint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheHint {
    pub max_age: u32,
    pub private: bool,
}

/// A rate limit (`apigen.RateLimit`): `calls` per `period_seconds`, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub calls: u32,
    pub period_seconds: u32,
    pub burst: u32,
}

impl RateLimit {
    /// The period's name: `second`, `minute` or `hour`.
    pub fn per(&self) -> &'static str {
        match self.period_seconds {
            1 => "second",
            60 => "minute",
            _ => "hour",
        }
    }

    /// `10 calls per minute per caller`, with the burst when it differs.
    pub fn describe(&self) -> String {
        let per = self.per();
        let burst =
            if self.burst == self.calls { String::new() } else { format!(", in bursts of up to {}", self.burst) };
        format!("{} calls per {per} per caller{burst}", self.calls)
    }
}

/// A field's protobuf and JSON names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldName {
    pub name: String,
    pub json_name: String,
}

/// A GraphQL-only field of a message that loads related messages through a
/// batch loader (`(apigen.message).relations`).
#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    /// The GraphQL field name.
    pub name: String,
    /// The loader's service (full name) and method.
    pub service: String,
    pub method: String,
    /// The loader's batch settings, copied from the method.
    pub batch: BatchLoader,
    /// The field of the parent message that holds the key(s).
    pub key: FieldName,
    pub kind: RelationKind,
    /// A key without a result is a field error.
    pub required: bool,
    pub docs: Vec<String>,
    pub span: Span,
}

/// An Apollo Federation entity: its key field and the loader that finds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    /// The key field (`@key(fields: …)`).
    pub key: FieldName,
    /// The loader's service (full name) and method.
    pub service: String,
    pub method: String,
    pub batch: BatchLoader,
    pub span: Span,
}

/// How a relation's results map to its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    /// One key, one result.
    One,
    /// A repeated key field: one result per key, in order.
    Many,
    /// Every result whose key field equals the parent's key.
    Group,
    /// Not a field: a federation entity that `_entities` loads by its key.
    Entity,
}

impl RelationKind {
    /// The name of the runtime's `RelationKind` variant.
    pub fn runtime_variant(self) -> &'static str {
        match self {
            RelationKind::One => "One",
            RelationKind::Many => "Many",
            RelationKind::Group => "Group",
            RelationKind::Entity => "Entity",
        }
    }
}

/// What a method is on the tRPC endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrpcProcedure {
    /// A unary method that only reads (`Method::reads`).
    Query,
    /// Any other unary method.
    Mutation,
    /// A server-streaming method (over SSE).
    Subscription,
}

impl Method {
    /// The sentence documents add about the scopes the method requires.
    pub fn scopes_sentence(&self) -> Option<String> {
        let (last, rest) = self.scopes.split_last()?;
        let quoted = |s: &String| format!("`{s}`");
        Some(if rest.is_empty() {
            format!("Requires the scope {} in the caller's credential.", quoted(last))
        } else {
            let rest: Vec<String> = rest.iter().map(quoted).collect();
            format!("Requires the scopes {} and {} in the caller's credential.", rest.join(", "), quoted(last))
        })
    }

    /// The sentence documents add about the method's rate limit.
    pub fn rate_limit_sentence(&self) -> Option<String> {
        self.rate_limit.map(|l| format!("Limited to {}; more fail with RESOURCE_EXHAUSTED (HTTP 429).", l.describe()))
    }

    /// The cursor field of a server stream's response (`messages` by full
    /// name): a singular scalar named as cursors are. Such a stream is
    /// resumable: its events carry the field's value as their id on every
    /// protocol that has one.
    pub fn cursor_field<'a>(&self, messages: &std::collections::BTreeMap<&str, &'a Message>) -> Option<&'a Field> {
        if self.kind != MethodKind::ServerStreaming {
            return None;
        }
        messages.get(self.output.full_name.as_str())?.fields.iter().find(|f| f.is_cursor())
    }

    /// How tRPC serves the method; `None` for request streams, which it cannot.
    pub fn trpc_procedure(&self) -> Option<TrpcProcedure> {
        match self.kind {
            MethodKind::Unary if self.reads => Some(TrpcProcedure::Query),
            MethodKind::Unary => Some(TrpcProcedure::Mutation),
            MethodKind::ServerStreaming => Some(TrpcProcedure::Subscription),
            MethodKind::ClientStreaming | MethodKind::BidiStreaming => None,
        }
    }
}

/// The four streaming kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MethodKind {
    Unary,
    ServerStreaming,
    ClientStreaming,
    BidiStreaming,
}

impl MethodKind {
    /// The kind in snake case (`server_streaming`): the runtime's dispatch
    /// function for it, and its name in `portal.json`.
    pub fn snake_name(self) -> &'static str {
        match self {
            MethodKind::Unary => "unary",
            MethodKind::ServerStreaming => "server_streaming",
            MethodKind::ClientStreaming => "client_streaming",
            MethodKind::BidiStreaming => "bidi_streaming",
        }
    }

    /// The name of the runtime's `MethodKind` variant.
    pub fn runtime_variant(self) -> &'static str {
        match self {
            MethodKind::Unary => "Unary",
            MethodKind::ServerStreaming => "ServerStreaming",
            MethodKind::ClientStreaming => "ClientStreaming",
            MethodKind::BidiStreaming => "BidiStreaming",
        }
    }
}

/// `idempotency_level` of a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Idempotency {
    #[default]
    Unknown,
    NoSideEffects,
    Idempotent,
}

/// A GraphQL root operation type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphqlOperation {
    Query,
    Mutation,
    Subscription,
}

/// A protocol, as named by `apigen.Protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Protocol {
    Grpc,
    GrpcWeb,
    Rest,
    Graphql,
    Connect,
    Trpc,
    WebSocket,
    Sse,
}

/// GraphQL limits; 0 keeps the server default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GraphqlLimits {
    pub max_depth: u32,
    pub max_complexity: u32,
}

/// A reference to a message or enum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeRef {
    /// The fully qualified protobuf name without the leading dot.
    pub full_name: String,
    /// The Rust path relative to the module of the package that refers to it.
    pub rust_path: String,
}

/// One HTTP binding of a method.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpBinding {
    pub method: HttpMethod,
    pub path: PathTemplate,
    pub body: Body,
    /// The response field sent as the body, as a field path.
    pub response_body: Option<Vec<String>>,
    pub span: Span,
    /// The default binding of a unary method the schema binds to nothing:
    /// `POST /{package}.{Service}/{Method}` with the request as the body (what
    /// grpc-gateway's unbound methods and Envoy's `auto_mapping` use), on the
    /// path Connect shares; a request without `Connect-Protocol-Version` is REST.
    pub implicit: bool,
}

impl HttpBinding {
    /// The default binding of a unary method of `service` (full name) called `method`.
    pub fn default_for(service: &str, method: &str, span: Span) -> HttpBinding {
        HttpBinding {
            method: HttpMethod::Post,
            path: PathTemplate {
                segments: vec![Segment::Literal(service.to_owned()), Segment::Literal(method.to_owned())],
                verb: None,
                raw: format!("/{service}/{method}"),
            },
            body: Body::All,
            response_body: None,
            span,
            implicit: true,
        }
    }
}

/// An HTTP method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Put,
    Post,
    Delete,
    Patch,
    /// Any other verb, upper-cased (`HEAD`, `OPTIONS`).
    Custom(String),
}

impl HttpMethod {
    /// The method as sent on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Put => "PUT",
            HttpMethod::Post => "POST",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Custom(s) => s,
        }
    }
}

/// What the request body of a binding carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// No body: fields not bound by the path come from the query string.
    None,
    /// `*`: every field not bound by the path.
    All,
    /// One field, given as a field path.
    Field(Vec<String>),
}

/// A parsed path template, `/v1/{name=shelves/*}:watch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    pub segments: Vec<Segment>,
    /// The custom verb after the last `:`.
    pub verb: Option<String>,
    /// The template as written.
    pub raw: String,
}

impl PathTemplate {
    /// The variables, in order.
    pub fn variables(&self) -> impl Iterator<Item = &Variable> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Variable(v) => Some(v),
            _ => None,
        })
    }
}

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    /// `*`: one segment.
    Wildcard,
    /// `**`: any number of segments (only last).
    DeepWildcard,
    Variable(Variable),
}

/// A `{field.path=pattern}` variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub field_path: Vec<String>,
    /// The pattern the variable matches; `[Wildcard]` when omitted.
    pub pattern: Vec<Segment>,
}

/// A message.
#[derive(Debug, Clone)]
pub struct Message {
    /// `Book`, or `ShelfEvent.Kind`'s parent for nested types.
    pub name: String,
    /// `bookstore.v1.Book`.
    pub full_name: String,
    /// The Rust path relative to the package module, `shelf_event::Detail`.
    pub rust_path: String,
    /// The GraphQL object type name (`…Input` for the input type).
    pub graphql_name: String,
    pub fields: Vec<Field>,
    /// Oneof names (real oneofs only, not proto3 `optional`).
    pub oneofs: Vec<Oneof>,
    /// A synthetic map entry message.
    pub is_map_entry: bool,
    /// `(buf.validate.message).oneof` groups.
    pub oneof_rules: Vec<MessageOneofRule>,
    /// `(buf.validate.message)` custom rules.
    pub custom_rules: CustomRules,
    /// GraphQL-only relation fields (`(apigen.message).relations`).
    pub relations: Vec<Relation>,
    /// `(apigen.message).entity`: an Apollo Federation entity, loaded by key.
    pub entity: Option<Entity>,
    /// `(apigen.message).cache`: the hint of relation fields that load it.
    pub cache: Option<CacheHint>,
    pub docs: Vec<String>,
    pub span: Span,
    pub deprecated: bool,
}

/// `(buf.validate.message).oneof`: at most one of `fields` (exactly one when
/// `required`) may be set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageOneofRule {
    /// Field names, as written.
    pub fields: Vec<String>,
    pub required: bool,
}

/// A oneof.
#[derive(Debug, Clone)]
pub struct Oneof {
    pub name: String,
    /// The Rust path of the generated enum, relative to the package module.
    pub rust_path: String,
    /// `(buf.validate.oneof).required`: one member must be set.
    pub required: bool,
}

/// A field.
#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    /// The name in the proto3 JSON mapping.
    pub json_name: String,
    /// The Rust field name.
    pub rust_name: String,
    pub number: u32,
    pub ty: FieldType,
    pub cardinality: Cardinality,
    /// Index into the message's `oneofs`.
    pub oneof: Option<usize>,
    pub behavior: Vec<FieldBehavior>,
    /// `(buf.validate.field)` rules, when any.
    pub rules: Option<FieldRules>,
    pub docs: Vec<String>,
    pub span: Span,
    pub deprecated: bool,
}

/// The names a cursor field goes by.
const CURSOR_FIELDS: &[&str] = &["sequence", "cursor", "offset", "position", "event_id", "resume_token"];

impl Field {
    /// Named as a cursor, singular, and a string or an integer.
    pub fn is_cursor(&self) -> bool {
        let scalar = matches!(
            self.ty,
            FieldType::String
                | FieldType::Int64
                | FieldType::Uint64
                | FieldType::Int32
                | FieldType::Uint32
                | FieldType::Fixed64
                | FieldType::Sint64
        );
        CURSOR_FIELDS.contains(&self.name.as_str())
            && scalar
            && !matches!(self.cardinality, Cardinality::Repeated | Cardinality::Map(..))
    }
}

/// A field's protovalidate rules, as `lower` accepted them: only rules the
/// runtime enforces get here (others are diagnostics).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldRules {
    pub required: bool,
    pub ignore: Ignore,
    /// The rules of the field's type, when any.
    pub typed: Option<TypedRules>,
    /// Custom rules (`cel_expression`, `cel`).
    pub custom: CustomRules,
}

/// protovalidate's custom rules at one place: CEL expressions, each
/// already checked to compile.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomRules {
    /// `cel_expression`: the expression is its own id.
    pub expressions: Vec<String>,
    /// `cel`: expressions with their id and message.
    pub rules: Vec<CelRule>,
}

impl CustomRules {
    pub fn is_empty(&self) -> bool {
        self.expressions.is_empty() && self.rules.is_empty()
    }

    /// Every rule as (id, message, expression), expressions first, as they are evaluated.
    pub fn all(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        let expressions = self.expressions.iter().map(|e| (e.as_str(), "", e.as_str()));
        expressions.chain(self.rules.iter().map(|r| (r.id.as_str(), r.message.as_str(), r.expression.as_str())))
    }
}

/// A `buf.validate.Rule`.
#[derive(Debug, Clone, PartialEq)]
pub struct CelRule {
    pub id: String,
    pub message: String,
    pub expression: String,
}

/// `buf.validate.Ignore`: when a field's rules are skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Ignore {
    /// Skipped only when a field with presence is unset.
    #[default]
    Unspecified,
    /// Also skipped at the zero value.
    IfZeroValue,
    /// Never checked.
    Always,
}

/// The rules of one `FieldRules.type` member.
#[derive(Debug, Clone, PartialEq)]
pub struct TypedRules {
    /// The member: `string`, `int32`, `repeated`, `timestamp`, …
    pub kind: String,
    /// Each rule that is set, by its name in the `*Rules` message, in field-number order.
    pub rules: Vec<(String, RuleValue)>,
    /// `repeated.items`, or `map.keys`.
    pub items: Option<Box<FieldRules>>,
    /// `map.values`.
    pub values: Option<Box<FieldRules>>,
}

impl TypedRules {
    /// The value of rule `name`, when set.
    pub fn get(&self, name: &str) -> Option<&RuleValue> {
        self.rules.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// The well-known string formats the runtime checks (`StringRules` flags),
/// with the name of each in `apigen_runtime::validate::WellKnownString`.
pub const WELL_KNOWN_STRINGS: &[(&str, &str)] = &[
    ("email", "Email"),
    ("hostname", "Hostname"),
    ("ip", "Ip"),
    ("ipv4", "Ipv4"),
    ("ipv6", "Ipv6"),
    ("uri", "Uri"),
    ("uri_ref", "UriRef"),
    ("address", "Address"),
    ("uuid", "Uuid"),
    ("tuuid", "Tuuid"),
    ("host_and_port", "HostAndPort"),
    ("ip_with_prefixlen", "IpWithPrefixlen"),
    ("ipv4_with_prefixlen", "Ipv4WithPrefixlen"),
    ("ipv6_with_prefixlen", "Ipv6WithPrefixlen"),
    ("ip_prefix", "IpPrefix"),
    ("ipv4_prefix", "Ipv4Prefix"),
    ("ipv6_prefix", "Ipv6Prefix"),
    ("ulid", "Ulid"),
    ("protobuf_fqn", "ProtobufFqn"),
    ("protobuf_dot_fqn", "ProtobufDotFqn"),
];

/// A rule's value.
#[derive(Debug, Clone, PartialEq)]
pub enum RuleValue {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    /// Seconds and nanoseconds of a Duration or a Timestamp.
    Time(i64, i32),
    List(Vec<RuleValue>),
}

impl Field {
    /// Whether `field_behavior` includes `b`.
    pub fn has(&self, b: FieldBehavior) -> bool {
        self.behavior.contains(&b)
    }
}

/// How many values a field holds and whether presence is tracked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cardinality {
    /// proto3 implicit presence, or a message field.
    Singular,
    /// proto3 `optional` or proto2 `optional`: presence is tracked.
    Optional,
    /// proto2 `required`.
    Required,
    Repeated,
    /// `map<K, V>`.
    Map(Box<FieldType>, Box<FieldType>),
}

/// The type of a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    Double,
    Float,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Bool,
    String,
    Bytes,
    Message(TypeRef),
    Enum(TypeRef),
}

/// `google.api.field_behavior` values apigen acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldBehavior {
    Optional,
    Required,
    OutputOnly,
    InputOnly,
    Immutable,
    UnorderedList,
    NonEmptyDefault,
    Identifier,
}

/// An enum.
#[derive(Debug, Clone)]
pub struct Enum {
    pub name: String,
    pub full_name: String,
    pub rust_path: String,
    /// The GraphQL enum type name.
    pub graphql_name: String,
    pub values: Vec<EnumValue>,
    pub docs: Vec<String>,
    pub span: Span,
    pub deprecated: bool,
}

/// One value of an enum.
#[derive(Debug, Clone)]
pub struct EnumValue {
    /// The protobuf name, which is also the JSON name.
    pub name: String,
    pub number: i32,
    pub docs: Vec<String>,
    pub deprecated: bool,
}
