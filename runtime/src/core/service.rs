//! Services as data: what generated code hands to the protocol adapters.

use std::sync::Arc;

use crate::core::call::{BoxFuture, Call, Output, Payload, Requests};
use crate::core::context::Context;
use crate::core::message::ApiMessage;
use crate::core::status::Status;

/// The four streaming kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MethodKind {
    Unary,
    ServerStreaming,
    ClientStreaming,
    BidiStreaming,
}

/// One method, as protocol adapters need to know it. Generated code builds
/// it with [`MethodInfo::new`] and the `const` setters, so that fields can be
/// added without breaking code generated before.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct MethodInfo {
    /// `GetBook`.
    pub name: &'static str,
    pub kind: MethodKind,
    /// The fully qualified request type, `bookstore.v1.GetBookRequest`.
    pub input: &'static str,
    /// The fully qualified response type.
    pub output: &'static str,
    /// `idempotency_level = NO_SIDE_EFFECTS`: safe to call with GET.
    pub no_side_effects: bool,
    /// Only reads (`NO_SIDE_EFFECTS`, or bound to HTTP GET): a tRPC query.
    pub reads: bool,
    /// The `google.api.http` bindings, the primary one first.
    pub http: &'static [crate::core::http_rule::HttpRule],
    /// The method's GraphQL field name; empty when it is not in the schema.
    pub graphql: &'static str,
    /// Protocols that do not serve this method (`apigen.method`/`apigen.service` `exclude`).
    pub excluded: &'static [crate::core::context::Protocol],
    /// How long caches may keep a read's response (`(apigen.method).cache`).
    pub cache: Option<CacheHint>,
    /// The scopes a caller's credential must grant (`(apigen.method).scopes`).
    pub scopes: &'static [&'static str],
    /// How often one caller may call it (`(apigen.method).rate_limit`).
    pub rate_limit: Option<crate::RateLimit>,
    /// The JSON name of a server stream's cursor field (`sequence`, …): its
    /// events carry their cursor as an id on every protocol, and tRPC types
    /// them as `tracked` events a client resumes after.
    pub cursor: Option<&'static str>,
}

/// A cache hint (`apigen.CacheHint`): how long, and by whom, a response may be kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheHint {
    /// Seconds a cache may serve the response without asking again.
    pub max_age: u32,
    /// Only the client's own cache may keep it, not shared ones (a proxy, a CDN).
    pub private: bool,
}

impl std::fmt::Debug for MethodInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MethodInfo").field("name", &self.name).field("kind", &self.kind).finish_non_exhaustive()
    }
}

/// One service: its fully qualified name and methods, in declaration order.
/// Generated code builds it with [`ServiceInfo::new`] and the `const` setters.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct ServiceInfo {
    /// `bookstore.v1.Bookstore`.
    pub name: &'static str,
    pub methods: &'static [MethodInfo],
    /// The encoded `FileDescriptorSet` of the service's file and its
    /// imports, for gRPC server reflection.
    pub file_descriptor_set: &'static [u8],
    /// The OpenAPI document of the generation run the service came from.
    pub openapi: &'static str,
    /// The developer portal's description of that generation run's
    /// services (`portal.json`); empty without one.
    pub portal: &'static str,
    /// That run's TypeScript files, by name (`index.ts`), for download.
    pub typescript: &'static [(&'static str, &'static str)],
    /// The GraphQL schema (SDL) of that generation run; empty without one.
    pub graphql: &'static str,
    /// `apigen.service` GraphQL limits: (max depth, max complexity); 0 keeps the server's.
    pub graphql_limits: (u32, u32),
    /// The GraphQL relations of that generation run.
    pub graphql_relations: &'static [Relation],
}

impl MethodInfo {
    /// A method with no HTTP binding, GraphQL field, exclusion or side-effect
    /// promise; the setters add them.
    pub const fn new(name: &'static str, kind: MethodKind, input: &'static str, output: &'static str) -> MethodInfo {
        MethodInfo {
            name,
            kind,
            input,
            output,
            no_side_effects: false,
            reads: false,
            http: &[],
            graphql: "",
            excluded: &[],
            cache: None,
            scopes: &[],
            rate_limit: None,
            cursor: None,
        }
    }

    /// Marks a server stream resumable, by its messages' cursor field (JSON name).
    pub const fn cursor(mut self, json_name: &'static str) -> MethodInfo {
        self.cursor = Some(json_name);
        self
    }

    /// Sets how often one caller may call it: `calls` per `period_seconds`,
    /// in bursts of up to `burst`.
    pub const fn rate_limit(mut self, calls: u32, period_seconds: u32, burst: u32) -> MethodInfo {
        self.rate_limit = Some(crate::RateLimit::new(calls, period_seconds).burst(burst));
        self
    }

    /// Sets the scopes a caller's credential must grant.
    pub const fn scopes(mut self, scopes: &'static [&'static str]) -> MethodInfo {
        self.scopes = scopes;
        self
    }

    /// Sets its cache hint.
    pub const fn cache(mut self, max_age: u32, private: bool) -> MethodInfo {
        self.cache = Some(CacheHint { max_age, private });
        self
    }

    /// Marks the method `NO_SIDE_EFFECTS`.
    pub const fn no_side_effects(mut self, no_side_effects: bool) -> MethodInfo {
        self.no_side_effects = no_side_effects;
        self
    }

    /// Marks the method as one that only reads (a tRPC query).
    pub const fn reads(mut self, reads: bool) -> MethodInfo {
        self.reads = reads;
        self
    }

    /// Sets its `google.api.http` bindings, the primary one first.
    pub const fn http(mut self, http: &'static [crate::core::http_rule::HttpRule]) -> MethodInfo {
        self.http = http;
        self
    }

    /// Sets its GraphQL field name.
    pub const fn graphql(mut self, field: &'static str) -> MethodInfo {
        self.graphql = field;
        self
    }

    /// Sets the protocols that do not serve it.
    pub const fn excluded(mut self, excluded: &'static [crate::core::context::Protocol]) -> MethodInfo {
        self.excluded = excluded;
        self
    }

    /// Whether `protocol` serves this method: the one rule that routing, the
    /// generated documents and the clients follow. A method is served unless
    /// its schema excludes the protocol or the protocol cannot carry its kind:
    /// REST serves methods with a `google.api.http` binding, unary ones as
    /// JSON and server-streaming ones as SSE on the binding's path (so only
    /// while SSE serves them too); SSE serves server-streaming methods;
    /// GraphQL the methods with a field in the schema; tRPC unary and
    /// server-streaming ones; gRPC, gRPC-Web, Connect and WebSocket every kind.
    pub fn serves(&self, protocol: crate::core::context::Protocol) -> bool {
        use crate::core::context::Protocol;
        if self.excluded.contains(&protocol) {
            return false;
        }
        match protocol {
            Protocol::Rest => match self.kind {
                MethodKind::Unary => !self.http.is_empty(),
                MethodKind::ServerStreaming => !self.http.is_empty() && self.serves(Protocol::Sse),
                MethodKind::ClientStreaming | MethodKind::BidiStreaming => false,
            },
            Protocol::Sse => self.kind == MethodKind::ServerStreaming,
            Protocol::Graphql => !self.graphql.is_empty(),
            Protocol::Trpc => matches!(self.kind, MethodKind::Unary | MethodKind::ServerStreaming),
            _ => true,
        }
    }
}

impl ServiceInfo {
    /// A service with its methods and descriptors, without OpenAPI document,
    /// GraphQL schema or limits; the setters add them.
    pub const fn new(
        name: &'static str,
        methods: &'static [MethodInfo],
        file_descriptor_set: &'static [u8],
    ) -> ServiceInfo {
        ServiceInfo {
            name,
            methods,
            file_descriptor_set,
            openapi: "",
            portal: "",
            typescript: &[],
            graphql: "",
            graphql_limits: (0, 0),
            graphql_relations: &[],
        }
    }

    /// Sets the OpenAPI document of the generation run.
    pub const fn openapi(mut self, document: &'static str) -> ServiceInfo {
        self.openapi = document;
        self
    }

    /// Sets the developer portal's description and the TypeScript files of the generation run.
    pub const fn portal(
        mut self,
        portal: &'static str,
        typescript: &'static [(&'static str, &'static str)],
    ) -> ServiceInfo {
        self.portal = portal;
        self.typescript = typescript;
        self
    }

    /// Sets the GraphQL schema (SDL) of the generation run.
    pub const fn graphql(mut self, sdl: &'static str) -> ServiceInfo {
        self.graphql = sdl;
        self
    }

    /// Sets the `apigen.service` GraphQL limits (max depth, max complexity; 0 keeps the server's).
    pub const fn graphql_limits(mut self, max_depth: u32, max_complexity: u32) -> ServiceInfo {
        self.graphql_limits = (max_depth, max_complexity);
        self
    }

    /// Sets the GraphQL relations of the generation run.
    pub const fn graphql_relations(mut self, relations: &'static [Relation]) -> ServiceInfo {
        self.graphql_relations = relations;
        self
    }

    /// The index of the method called `name`.
    pub fn method_index(&self, name: &str) -> Option<usize> {
        self.methods.iter().position(|m| m.name == name)
    }
}

/// A GraphQL relation (`(apigen.message).relations`): a field of an object
/// type that loads related messages through a batch loader, matched by key.
/// Names are JSON names. Generated code builds it with [`Relation::new`] and
/// the `const` setters.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Relation {
    /// The parent GraphQL type, `Shelf`.
    pub parent: &'static str,
    /// The field, `books`.
    pub field: &'static str,
    /// The loader, `bookstore.v1.Bookstore/ListBooksByShelves`.
    pub method: &'static str,
    pub kind: RelationKind,
    /// The parent's field that holds the key(s).
    pub key: &'static str,
    /// The loader request's repeated key field.
    pub keys: &'static str,
    /// The loader response's repeated result field.
    pub results: &'static str,
    /// The field of a result that holds its key.
    pub result_key: &'static str,
    /// The most keys per call; 0 for no limit.
    pub max_batch_size: u32,
    /// A key without a result is a field error.
    pub required: bool,
    /// The target message's cache hint (`(apigen.message).cache`).
    pub cache: Option<CacheHint>,
}

/// How a relation's results map to its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelationKind {
    /// One key, one result.
    One,
    /// A list of keys, one result per key in order.
    Many,
    /// One key, every result whose key field equals it.
    Group,
    /// Not a field: an Apollo Federation entity (`parent`, found by `key`)
    /// that `_entities` loads.
    Entity,
}

impl Relation {
    /// A relation without keys; [`Relation::key`] and [`Relation::loader`] add them.
    pub const fn new(parent: &'static str, field: &'static str, method: &'static str, kind: RelationKind) -> Relation {
        Relation {
            parent,
            field,
            method,
            kind,
            key: "",
            keys: "",
            results: "",
            result_key: "",
            max_batch_size: 0,
            required: false,
            cache: None,
        }
    }

    /// Sets the target's cache hint.
    pub const fn cache(mut self, max_age: u32, private: bool) -> Relation {
        self.cache = Some(CacheHint { max_age, private });
        self
    }

    /// Sets the parent's key field.
    pub const fn key(mut self, field: &'static str) -> Relation {
        self.key = field;
        self
    }

    /// Sets the loader's key, result and result-key fields.
    pub const fn loader(mut self, keys: &'static str, results: &'static str, result_key: &'static str) -> Relation {
        self.keys = keys;
        self.results = results;
        self.result_key = result_key;
        self
    }

    /// Sets the most keys per call.
    pub const fn max_batch_size(mut self, max: u32) -> Relation {
        self.max_batch_size = max;
        self
    }

    /// Makes a key without a result a field error.
    pub const fn required(mut self, required: bool) -> Relation {
        self.required = required;
        self
    }
}

/// The generated function that calls method `i` of an implementation.
pub type Dispatch<T> = fn(Arc<T>, usize, Call) -> BoxFuture<Result<Output, Status>>;

pub(crate) type Handler = dyn Fn(usize, Call) -> BoxFuture<Result<Output, Status>> + Send + Sync;

/// A service implementation, wrapped so that every protocol can call it
/// through one interface. Made by the generated `<service>_service` function.
#[derive(Clone)]
pub struct ServiceDef {
    pub(crate) info: &'static ServiceInfo,
    pub(crate) handler: Arc<Handler>,
}

impl std::fmt::Debug for ServiceDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceDef").field("name", &self.info.name).finish_non_exhaustive()
    }
}

impl ServiceDef {
    /// Wraps `service`; `dispatch` calls method `i` of it (generated).
    pub fn new<T: Send + Sync + 'static>(info: &'static ServiceInfo, service: T, dispatch: Dispatch<T>) -> ServiceDef {
        let service = Arc::new(service);
        ServiceDef { info, handler: Arc::new(move |method, call| dispatch(Arc::clone(&service), method, call)) }
    }

    /// The service's description.
    pub fn info(&self) -> &'static ServiceInfo {
        self.info
    }

    /// Calls method `method` (an index into `info().methods`).
    pub fn call(&self, method: usize, call: Call) -> BoxFuture<Result<Output, Status>> {
        (self.handler)(method, call)
    }

    /// Calls a unary method by name with a typed request, in process.
    pub async fn call_unary<Req, Resp>(&self, method: &str, ctx: Context, request: Req) -> Result<Resp, Status>
    where
        Req: ApiMessage + Send,
        Resp: ApiMessage,
    {
        let index = self
            .info
            .method_index(method)
            .ok_or_else(|| Status::unimplemented(format!("{} has no method {method}", self.info.name)))?;
        let input = Requests::Single(Payload::Message(Box::new(request)));
        match self.call(index, Call { ctx, input, json: Default::default() }).await? {
            Output::Single(message) => message
                .into_any()
                .downcast::<Resp>()
                .map(|b| *b)
                .map_err(|_| Status::internal(format!("{method} does not return the requested type"))),
            Output::Stream(_) => Err(Status::internal(format!("{method} is a streaming method"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::context::Protocol;

    static BINDING: [crate::core::http_rule::HttpRule; 1] = [crate::core::http_rule::HttpRule {
        method: "GET",
        template: "/v1/watch",
        segments: &[crate::core::http_rule::Segment::Literal("v1"), crate::core::http_rule::Segment::Literal("watch")],
        verb: None,
        body: "",
        response_body: "",
        status: 200,
    }];

    #[test]
    fn one_rule_says_which_protocols_serve_a_method() {
        let watch = MethodInfo::new("Watch", MethodKind::ServerStreaming, "a.M", "a.M").http(&BINDING);
        assert!(watch.serves(Protocol::Rest) && watch.serves(Protocol::Sse) && watch.serves(Protocol::Trpc));
        // SSE no longer hangs on Connect being served; REST's binding streams only while SSE serves it.
        let no_connect = watch.excluded(&[Protocol::Connect]);
        assert!(no_connect.serves(Protocol::Sse) && !no_connect.serves(Protocol::Connect));
        let no_sse = watch.excluded(&[Protocol::Sse]);
        assert!(!no_sse.serves(Protocol::Rest) && !no_sse.serves(Protocol::Sse) && no_sse.serves(Protocol::Grpc));
        let unbound = MethodInfo::new("Get", MethodKind::Unary, "a.M", "a.M");
        assert!(!unbound.serves(Protocol::Rest) && !unbound.serves(Protocol::Sse) && unbound.serves(Protocol::Connect));
        assert!(!unbound.serves(Protocol::Graphql), "no field in the schema");
        assert!(unbound.graphql("get").serves(Protocol::Graphql));
        let upload = MethodInfo::new("Upload", MethodKind::ClientStreaming, "a.M", "a.M");
        assert!(
            !upload.serves(Protocol::Trpc) && upload.serves(Protocol::WebSocket) && upload.serves(Protocol::Connect)
        );
    }
}
