//! Gateway mode (`apigen gateway`, feature `gateway`): every protocol in
//! front of an existing gRPC server, from its schema read at start-up. The
//! schema goes through the same frontend and lowering as `apigen generate`;
//! instead of printing the service tables as Rust, this builds them as
//! values, and `apigen_runtime::proxy` puts an upstream call where a
//! generated server calls the trait method.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let schema = apigen::gateway::Schema::from_files(&["proto/orders.proto".into()], &["proto".into()])?;
//! let upstream = apigen_runtime::proxy::Upstream::new("http://127.0.0.1:50051")?;
//! let mut server = apigen_runtime::Server::builder();
//! for service in schema.services(&upstream)? {
//!     server = server.add_service(service);
//! }
//! // Services implemented in Rust can be added to the same server.
//! # Ok(()) }
//! ```
//!
//! The tables live as long as the process (they are leaked once, as a
//! generated server's are `static`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use apigen_runtime::__private::{HttpRule, Segment as RtSegment};
use apigen_runtime::{MethodInfo, Protocol as RtProtocol, Relation, RelationKind as RtRelationKind, ServiceInfo};
use prost::Message as _;

use crate::backend::service::{Messages, RuleSegment, rule};
use crate::diagnostics::Error;
use crate::frontend::{Compiled, Sources};
use crate::model::{Api, Method, MethodKind, Protocol, RelationKind, Service};

/// A schema loaded for the gateway: the services it serves and the
/// descriptors their messages are read and written with.
pub struct Schema {
    services: Vec<&'static ServiceInfo>,
    pool: prost_reflect::DescriptorPool,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema").field("services", &self.service_names()).finish_non_exhaustive()
    }
}

impl Schema {
    /// Compiles `.proto` files, as `apigen generate` does (`includes` as
    /// import roots; without any, each file's directory).
    pub fn from_files(files: &[PathBuf], includes: &[PathBuf]) -> Result<Schema, Error> {
        Schema::from_compiled(&crate::frontend::compile(files, includes)?)
    }

    /// Reads an encoded `FileDescriptorSet` with every import included
    /// (`protoc --include_imports --descriptor_set_out`, `buf build -o`,
    /// `apigen descriptor-set`). Every service in it is served, except
    /// protobuf's and gRPC's own.
    pub fn from_descriptor_set(bytes: &[u8]) -> Result<Schema, Error> {
        let invalid = |e: &dyn std::fmt::Display| {
            Error::Usage(format!(
                "the descriptor set is not valid: {e}; write one with every import included \
                 (protoc --include_imports --descriptor_set_out=FILE, buf build -o FILE, or apigen descriptor-set)"
            ))
        };
        let files = prost_types::FileDescriptorSet::decode(bytes).map_err(|e| invalid(&e))?;
        let pool = prost_reflect::DescriptorPool::decode(bytes).map_err(|e| invalid(&e))?;
        let roots: Vec<String> = files
            .file
            .iter()
            .filter(|f| !f.service.is_empty() && !own_file(f.name()))
            .map(|f| f.name().to_owned())
            .collect();
        if roots.is_empty() {
            return Err(Error::Usage("the descriptor set defines no service to serve".to_owned()));
        }
        Schema::from_compiled(&Compiled { pool, files, roots, sources: Sources::default() })
    }

    fn from_compiled(compiled: &Compiled) -> Result<Schema, Error> {
        let api = crate::lower::lower(compiled)?;
        let openapi = crate::backend::openapi::generate(&api)?.map(|(json, _)| leak_str(json)).unwrap_or("");
        let sdl = crate::backend::graphql::generate(&api)?.map(leak_str).unwrap_or("");
        let graphql_names = crate::backend::graphql::field_names(&api);
        let portal = leak_str(crate::backend::portal::generate(&api));
        let mut typescript = vec![
            ("index.ts", leak_str(crate::backend::ts::generate(&api, &api.roots))),
            ("ws.ts", leak_str(crate::backend::ts::websocket_client(&api.roots))),
        ];
        if let Some(validate) = crate::backend::ts_validate::generate(&api, &api.roots) {
            typescript.push(("validate.ts", leak_str(validate)));
        }
        let typescript = leak(typescript);
        let relations = leak(relations(&api));
        let descriptors = leak(crate::backend::descriptor::encode_set(compiled, |_| true, false));
        let messages: Messages = api.messages_by_name();
        let mut services = Vec::new();
        for service in api.packages.iter().flat_map(|p| &p.services) {
            let methods = service.methods.iter().map(|m| method_info(service, m, &messages, &graphql_names)).collect();
            let info = ServiceInfo::new(leak_str(service.full_name.clone()), leak(methods), descriptors)
                .openapi(openapi)
                .portal(portal, typescript)
                .graphql(sdl)
                .graphql_limits(service.graphql_limits.max_depth, service.graphql_limits.max_complexity)
                .graphql_relations(relations);
            services.push(&*Box::leak(Box::new(info)));
        }
        if services.is_empty() {
            return Err(Error::Usage("the schema defines no service to serve".to_owned()));
        }
        // An Any in a message or an error's details may hold any type of the
        // schema, or one of google.rpc's error details.
        apigen_runtime::json::register_descriptors(&compiled.pool);
        let details = crate::frontend::compile_memory(&[(
            "apigen/gateway/details.proto",
            "syntax = \"proto3\";\nimport \"google/rpc/error_details.proto\";\nimport \"google/rpc/status.proto\";\n",
        )])?;
        apigen_runtime::json::register_descriptors(&details.pool);
        Ok(Schema { services, pool: compiled.pool.clone() })
    }

    /// The full names of the services, `bookstore.v1.Bookstore`.
    pub fn service_names(&self) -> Vec<&'static str> {
        self.services.iter().map(|s| s.name).collect()
    }

    /// Every service, each forwarding its calls to `upstream`.
    pub fn services(
        &self,
        upstream: &apigen_runtime::proxy::Upstream,
    ) -> Result<Vec<apigen_runtime::ServiceDef>, Error> {
        self.check_fan_out(upstream)?;
        self.services.iter().map(|info| self.proxy(info, upstream)).collect()
    }

    /// Every method the upstream shares (`--fan-out`) is a server-streaming
    /// method of the schema.
    fn check_fan_out(&self, upstream: &apigen_runtime::proxy::Upstream) -> Result<(), Error> {
        use apigen_runtime::MethodKind;
        let streams: Vec<String> = self
            .services
            .iter()
            .flat_map(|s| s.methods.iter().filter(|m| m.kind == MethodKind::ServerStreaming).map(|m| (s.name, m.name)))
            .map(|(service, method)| format!("{service}/{method}"))
            .collect();
        for path in upstream.shared_methods() {
            let name = path.trim_start_matches('/');
            if !streams.iter().any(|s| s == name) {
                let known = if streams.is_empty() { "none".to_owned() } else { streams.join(", ") };
                return Err(Error::Usage(format!(
                    "--fan-out {name}: the schema has no server-streaming method by that name (only those \
                     can be shared); its server-streaming methods: {known}"
                )));
            }
        }
        Ok(())
    }

    /// The service called `name` (its full name), forwarding to `upstream`:
    /// for a server that proxies some services and implements others.
    pub fn service(
        &self,
        name: &str,
        upstream: &apigen_runtime::proxy::Upstream,
    ) -> Result<apigen_runtime::ServiceDef, Error> {
        let info = self.services.iter().find(|s| s.name == name).ok_or_else(|| {
            Error::Usage(format!("the schema has no service {name}; it has {}", self.service_names().join(", ")))
        })?;
        self.proxy(info, upstream)
    }

    fn proxy(
        &self,
        info: &'static ServiceInfo,
        upstream: &apigen_runtime::proxy::Upstream,
    ) -> Result<apigen_runtime::ServiceDef, Error> {
        apigen_runtime::proxy::service(info, &self.pool, upstream.clone()).map_err(Error::Internal)
    }
}

/// Files whose services the gateway leaves out: protobuf's own and gRPC's
/// (health and reflection, which the server serves itself).
fn own_file(name: &str) -> bool {
    name.starts_with("google/protobuf/") || name.starts_with("grpc/")
}

fn leak<T>(items: Vec<T>) -> &'static [T] {
    Box::leak(items.into_boxed_slice())
}

fn leak_str(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

fn method_info(
    service: &Service,
    m: &Method,
    messages: &Messages,
    graphql_names: &BTreeMap<(String, String), String>,
) -> MethodInfo {
    let kind = match m.kind {
        MethodKind::Unary => apigen_runtime::MethodKind::Unary,
        MethodKind::ServerStreaming => apigen_runtime::MethodKind::ServerStreaming,
        MethodKind::ClientStreaming => apigen_runtime::MethodKind::ClientStreaming,
        MethodKind::BidiStreaming => apigen_runtime::MethodKind::BidiStreaming,
    };
    let mut excluded: Vec<RtProtocol> = service.excluded.iter().chain(&m.excluded).map(|p| protocol(*p)).collect();
    excluded.sort_by_key(|p| *p as u8);
    excluded.dedup();
    let graphql = graphql_names.get(&(service.full_name.clone(), m.name.clone())).cloned().unwrap_or_default();
    let mut info = MethodInfo::new(
        leak_str(m.name.clone()),
        kind,
        leak_str(m.input.full_name.clone()),
        leak_str(m.output.full_name.clone()),
    )
    .no_side_effects(m.idempotency == crate::model::Idempotency::NoSideEffects)
    .reads(m.reads)
    .http(leak(m.http.iter().map(|b| http_rule(m, b, messages)).collect()))
    .graphql(leak_str(graphql))
    .excluded(leak(excluded))
    .scopes(leak(m.scopes.iter().map(|s| leak_str(s.clone())).collect()));
    if let Some(l) = m.rate_limit {
        info = info.rate_limit(l.calls, l.period_seconds, l.burst);
    }
    if let Some(cursor) = m.cursor_field(messages) {
        info = info.cursor(leak_str(cursor.json_name.clone()));
    }
    match m.cache {
        Some(hint) => info.cache(hint.max_age, hint.private),
        None => info,
    }
}

fn protocol(p: Protocol) -> RtProtocol {
    match p {
        Protocol::Grpc => RtProtocol::Grpc,
        Protocol::GrpcWeb => RtProtocol::GrpcWeb,
        Protocol::Rest => RtProtocol::Rest,
        Protocol::Graphql => RtProtocol::Graphql,
        Protocol::Connect => RtProtocol::Connect,
        Protocol::Trpc => RtProtocol::Trpc,
        Protocol::WebSocket => RtProtocol::WebSocket,
        Protocol::Sse => RtProtocol::Sse,
    }
}

/// A binding as the runtime's `HttpRule`: the service backend's [`rule`],
/// leaked instead of printed.
fn http_rule(m: &Method, b: &crate::model::HttpBinding, messages: &Messages) -> HttpRule {
    fn segments(parts: Vec<RuleSegment>) -> &'static [RtSegment] {
        leak(
            parts
                .into_iter()
                .map(|s| match s {
                    RuleSegment::Literal(l) => RtSegment::Literal(leak_str(l)),
                    RuleSegment::Any => RtSegment::Any,
                    RuleSegment::Rest => RtSegment::Rest,
                    RuleSegment::Var { field, pattern, default } => RtSegment::Var {
                        field: leak_str(field),
                        pattern: segments(pattern),
                        default: leak_str(default),
                    },
                })
                .collect(),
        )
    }
    let r = rule(m, b, messages);
    HttpRule {
        method: leak_str(r.method),
        template: leak_str(r.template),
        segments: segments(r.segments),
        verb: r.verb.map(leak_str),
        body: leak_str(r.body),
        response_body: leak_str(r.response_body),
        status: r.status,
    }
}

/// The relations and federation entities, as `relations_table` prints them.
fn relations(api: &Api) -> Vec<Relation> {
    api.relation_table()
        .iter()
        .map(|e| {
            let kind = match e.kind {
                RelationKind::One => RtRelationKind::One,
                RelationKind::Many => RtRelationKind::Many,
                RelationKind::Group => RtRelationKind::Group,
                RelationKind::Entity => RtRelationKind::Entity,
            };
            let b = e.batch;
            let relation = Relation::new(
                leak_str(e.parent.to_owned()),
                leak_str(e.field.to_owned()),
                leak_str(format!("{}/{}", e.service, e.method)),
                kind,
            )
            .key(leak_str(e.key.json_name.clone()))
            .loader(
                leak_str(b.keys.json_name.clone()),
                leak_str(b.results.json_name.clone()),
                leak_str(b.key.json_name.clone()),
            )
            .max_batch_size(b.max_batch_size)
            .required(e.required);
            match e.cache {
                Some(hint) => relation.cache(hint.max_age, hint.private),
                None => relation,
            }
        })
        .collect()
}
