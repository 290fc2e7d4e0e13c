//! GraphQL on async-graphql's dynamic schema, built at start-up from the SDL
//! apigen generated, so the served schema is the generated file and no
//! per-type GraphQL code is compiled. Values travel as proto3 JSON: object
//! fields read JSON names, map entry lists and `Empty` results are converted
//! here, and every call goes through the same dispatch as other protocols.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dynamic::{
    Enum, Field, FieldFuture, FieldValue, InputObject, InputValue, Object, ResolverContext, Scalar, Schema,
    Subscription, SubscriptionField, SubscriptionFieldFuture, TypeRef,
};
use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use async_graphql::{ErrorExtensions, Name};
use futures_util::StreamExt;
use serde_json::Value as Json;

use crate::core::call::{Output, Payload, Requests};
use crate::core::pipeline::{self, Pipeline};
use crate::{Context, Identity, Protocol, Status};

mod persisted;
mod relations;
mod resume;
mod routes;
mod ws;

pub(crate) use routes::{PATHS, routes};
pub(crate) use ws::SocketLimits;

/// Limits that keep expensive queries away.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The deepest selection allowed (default 16).
    pub max_depth: usize,
    /// The highest complexity, one per field through lists (default 2,000).
    pub max_complexity: usize,
    /// The largest query document in bytes (default 64 KiB).
    pub max_query_bytes: usize,
    /// Whether introspection queries are answered (default yes).
    pub introspection: bool,
    /// How many documents Automatic Persisted Queries keep by hash, the most
    /// recently used first (default 1,000, each at most `max_query_bytes`);
    /// 0 turns APQ off (`PERSISTED_QUERY_NOT_SUPPORTED`).
    pub max_persisted_queries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 16,
            max_complexity: 2000,
            max_query_bytes: 64 * 1024,
            introspection: true,
            max_persisted_queries: 1000,
        }
    }
}

/// The metadata, peer and identity of the request (or WebSocket) a GraphQL
/// operation came in: each call the operation makes gets a context from them.
#[derive(Clone, Default)]
struct Caller {
    headers: ::http::HeaderMap,
    peer: Option<std::net::SocketAddr>,
    identity: Option<Identity>,
}

/// The cache hints of the fields an operation resolved, as Apollo Server
/// combines them: the shortest max age, private when any field is; no
/// caching when a field had no hint (a mutation, an unhinted relation) or
/// none was resolved.
#[derive(Clone, Default)]
pub(crate) struct CachePolicy(Arc<std::sync::Mutex<(usize, Option<crate::CacheHint>, bool)>>);

impl CachePolicy {
    /// Records the hint of one resolved root or relation field.
    pub(crate) fn record(&self, hint: Option<crate::CacheHint>) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (seen, combined, unhinted) = &mut *state;
        *seen += 1;
        match (hint, *combined) {
            (None, _) => *unhinted = true,
            (Some(h), None) => *combined = Some(h),
            (Some(h), Some(c)) => {
                *combined =
                    Some(crate::CacheHint { max_age: h.max_age.min(c.max_age), private: h.private || c.private })
            }
        }
    }

    /// The response's hint, when it may be cached at all.
    pub(crate) fn hint(&self) -> Option<crate::CacheHint> {
        let state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (seen, combined, unhinted) = *state;
        combined.filter(|_| seen > 0 && !unhinted)
    }
}

/// The error a failed call becomes: its message, `extensions.code` the gRPC code name.
fn error(status: Status) -> async_graphql::Error {
    let code = code_name(&status);
    let details = crate::core::wire::details(&status);
    async_graphql::Error::new(status.message().to_owned()).extend_with(|_, e| {
        e.set("code", code.clone());
        if !details.is_empty()
            && let Ok(details) = async_graphql::Value::from_json(Json::Array(details.clone()))
        {
            e.set("details", details);
        }
    })
}

/// `extensions.code`: gRPC's canonical code names (CANCELLED, not Connect's "canceled").
fn code_name(status: &Status) -> String {
    match status.code() {
        crate::Code::Cancelled => "CANCELLED".to_owned(),
        other => other.as_str().to_ascii_uppercase(),
    }
}

/// An HTTP answer of GraphQL errors with its own status and `extensions.code`,
/// also for codes that are not gRPC's (Apollo's `PERSISTED_QUERY_NOT_FOUND`).
fn graphql_error(http: u16, message: &str, code: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    let http = ::http::StatusCode::from_u16(http).unwrap_or(::http::StatusCode::BAD_REQUEST);
    let body = serde_json::json!({"errors": [{"message": message, "extensions": {"code": code}}]});
    (http, axum::Json(body)).into_response()
}

type Types = Arc<HashMap<String, TypeKind>>;

fn type_ref(ty: &Type) -> TypeRef {
    let base = match &ty.base {
        BaseType::Named(name) => TypeRef::named(name.to_string()),
        BaseType::List(inner) => TypeRef::List(Box::new(type_ref(inner))),
    };
    if ty.nullable { base } else { TypeRef::NonNull(Box::new(base)) }
}

/// Whether `name` is a map entry type (`…Entry` with `key` and `value`).
fn is_entry(types: &Types, name: &str) -> bool {
    let fields: Vec<String> = match types.get(name) {
        Some(TypeKind::Object(o)) => o.fields.iter().map(|f| f.node.name.node.to_string()).collect(),
        Some(TypeKind::InputObject(o)) => o.fields.iter().map(|f| f.node.name.node.to_string()).collect(),
        _ => return false,
    };
    (name.ends_with("Entry") || name.ends_with("EntryInput")) && fields == ["key", "value"]
}

/// The value a non-null field has when proto3 JSON leaves it out.
fn default_for(types: &Types, name: &str) -> Json {
    match name {
        "String" | "Bytes" => Json::from(""),
        "Int" | "Float" => Json::from(0),
        "Boolean" => Json::from(false),
        "Int64" | "UInt64" => Json::from("0"),
        _ => match types.get(name) {
            Some(TypeKind::Enum(e)) => {
                e.values.first().map(|v| Json::from(v.node.value.node.to_string())).unwrap_or(Json::Null)
            }
            Some(TypeKind::Object(_)) => Json::Object(Default::default()),
            _ => Json::Null,
        },
    }
}

/// A proto3-JSON value as the field value of GraphQL type `ty`.
fn output(types: &Types, value: Option<&Json>, ty: &Type) -> Option<FieldValue<'static>> {
    let value = value.filter(|v| !v.is_null());
    match &ty.base {
        BaseType::List(inner) => {
            let items: Vec<Json> = match value {
                Some(Json::Array(items)) => items.clone(),
                // Maps travel as `{key, value}` entry lists.
                Some(Json::Object(map)) => map.iter().map(|(k, v)| serde_json::json!({"key": k, "value": v})).collect(),
                _ => Vec::new(),
            };
            Some(FieldValue::list(items.iter().map(|v| output(types, Some(v), inner).unwrap_or(FieldValue::NULL))))
        }
        BaseType::Named(name) => {
            let value = match value {
                Some(v) => v.clone(),
                None if !ty.nullable => default_for(types, name),
                None => return None,
            };
            match types.get(name.as_str()) {
                Some(TypeKind::Object(_)) => Some(FieldValue::owned_any(value)),
                Some(TypeKind::Enum(_)) => match value {
                    Json::String(s) => Some(FieldValue::value(async_graphql::Value::Enum(Name::new(s)))),
                    _ => None,
                },
                _ => async_graphql::Value::from_json(value).ok().map(FieldValue::value),
            }
        }
    }
}

use crate::core::wire::entries_to_map;

/// GraphQL arguments or input fields as proto3 JSON: entry lists back into
/// maps, following the input types.
fn input(types: &Types, value: Json, ty: &Type) -> Json {
    match (&ty.base, value) {
        // GraphQL input coercion: one value where a list is expected is a list of one.
        (BaseType::List(inner), single) if !single.is_array() && !single.is_null() => input(
            types,
            Json::Array(vec![single]),
            &Type { base: BaseType::List(inner.clone()), nullable: ty.nullable },
        ),
        (BaseType::List(inner), Json::Array(items)) => {
            if let BaseType::Named(name) = &inner.base
                && is_entry(types, name)
            {
                return entries_to_map(items);
            }
            Json::Array(items.into_iter().map(|v| input(types, v, inner)).collect())
        }
        (BaseType::Named(name), Json::Object(fields)) => match types.get(name.as_str()) {
            // A null member is an absent one, as in proto3 JSON (so a oneof
            // read back with its unset members as null is valid input).
            Some(TypeKind::InputObject(o)) => Json::Object(
                fields
                    .into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| {
                        let field_ty =
                            o.fields.iter().find(|f| f.node.name.node.as_str() == k).map(|f| f.node.ty.node.clone());
                        let v = match field_ty {
                            Some(t) => input(types, v, &t),
                            None => v,
                        };
                        (k, v)
                    })
                    .collect(),
            ),
            _ => Json::Object(fields),
        },
        (_, other) => other,
    }
}

fn request(ctx: &ResolverContext<'_>, args: &[(String, Type)], types: &Types) -> Json {
    let mut object = serde_json::Map::new();
    for (name, ty) in args {
        if let Some(v) = ctx.args.get(name) {
            let json = v.as_value().clone().into_json().unwrap_or(Json::Null);
            if !json.is_null() {
                object.insert(name.clone(), input(types, json, ty));
            }
        }
    }
    Json::Object(object)
}

fn call_context(ctx: &ResolverContext<'_>, pipeline: &Pipeline) -> Context {
    let caller = ctx.data_opt::<Caller>().cloned().unwrap_or_default();
    pipeline.context(Protocol::Graphql, caller.headers, caller.peer, caller.identity, None)
}

/// A subscription's call context, resuming after `last_event_id` when given.
fn resumed_context(
    ctx: &ResolverContext<'_>,
    pipeline: &Pipeline,
    last_event_id: Option<&str>,
) -> Result<Context, Status> {
    let mut caller = ctx.data_opt::<Caller>().cloned().unwrap_or_default();
    if let Some(last) = last_event_id {
        crate::core::stream::resume_after(&mut caller.headers, last)?;
    }
    Ok(pipeline.context(Protocol::Graphql, caller.headers, caller.peer, caller.identity, None))
}

/// Builds the schema from `sdl` for the pipeline's services. Fails when the
/// SDL does not parse or the schema is inconsistent (a bug in apigen).
/// Running subscriptions end (with an `unavailable` error, then `complete`)
/// when the server shuts down.
fn schema(sdl: &str, pipeline: &Arc<Pipeline>, limits: Limits) -> Result<Schema, String> {
    let doc =
        async_graphql::parser::parse_schema(sdl).map_err(|e| format!("the GraphQL schema does not parse: {e}"))?;
    let (mut query, mut mutation, mut subscription) =
        ("Query".to_owned(), "Mutation".to_owned(), "Subscription".to_owned());
    let mut defs = Vec::new();
    for def in doc.definitions {
        match def {
            // With a `schema {}` block the roots are exactly those it names.
            TypeSystemDefinition::Schema(s) => {
                query = s.node.query.as_ref().map_or_else(|| "Query".to_owned(), |q| q.node.to_string());
                mutation = s.node.mutation.as_ref().map_or_else(String::new, |m| m.node.to_string());
                subscription = s.node.subscription.as_ref().map_or_else(String::new, |m| m.node.to_string());
            }
            TypeSystemDefinition::Type(t) => defs.push(t.node),
            TypeSystemDefinition::Directive(_) => {}
        }
    }
    let relations: Vec<_> = pipeline
        .services()
        .iter()
        .filter(|s| s.info().graphql == sdl)
        .flat_map(|s| s.info().graphql_relations)
        .collect();
    let resolvers = Resolvers {
        relations: relations::plans(pipeline, &relations),
        methods: pipeline.served(Protocol::Graphql).map(|m| (m.info().graphql.to_owned(), Arc::new(m))).collect(),
        types: Arc::new(defs.iter().map(|d| (d.name.node.to_string(), d.kind.clone())).collect()),
        pipeline: Arc::clone(pipeline),
    };
    let entities: HashMap<String, Arc<relations::Plan>> = resolvers
        .relations
        .iter()
        .filter(|((_, field), _)| field.is_empty())
        .map(|((parent, _), plan)| (parent.clone(), Arc::clone(plan)))
        .collect();
    let has = |name: &str| !name.is_empty() && resolvers.types.contains_key(name);
    let mut builder = Schema::build(
        &query,
        has(&mutation).then_some(mutation.as_str()),
        has(&subscription).then_some(subscription.as_str()),
    )
    .limit_depth(limits.max_depth)
    .limit_complexity(limits.max_complexity)
    .extension(resume::EventIds);
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    if !entities.is_empty() {
        // An Apollo Federation 2 subgraph: `_entities` and `_service` beside the roots.
        builder =
            builder.enable_federation().entity_resolver(relations::entities(Arc::new(entities.clone()), pipeline));
    }
    for def in &defs {
        let name = def.name.node.to_string();
        let description = def.description.as_ref().map(|d| d.node.clone());
        builder = match &def.kind {
            TypeKind::Scalar => builder.register(described(Scalar::new(&name), description, Scalar::description)),
            TypeKind::Enum(e) => {
                let en = Enum::new(&name).items(e.values.iter().map(|v| v.node.value.node.to_string()));
                builder.register(described(en, description, Enum::description))
            }
            TypeKind::InputObject(o) => {
                let fields = o.fields.iter().map(|f| {
                    let value = InputValue::new(f.node.name.node.to_string(), type_ref(&f.node.ty.node));
                    described(value, f.node.description.as_ref().map(|d| d.node.clone()), InputValue::description)
                });
                let obj = fields.fold(InputObject::new(&name), InputObject::field);
                builder.register(described(obj, description, InputObject::description))
            }
            TypeKind::Object(o) if name == subscription => builder.register(resolvers.subscription_root(&name, o)),
            TypeKind::Object(o) => {
                let root = name == query || name == mutation;
                let mut object = resolvers.object(&name, o, root);
                if let Some(entity) = entities.get(&name) {
                    object = object.key(entity.key());
                }
                builder.register(described(object, description, Object::description))
            }
            TypeKind::Interface(_) | TypeKind::Union(_) => builder,
        };
    }
    builder.finish().map_err(|e| format!("the GraphQL schema is inconsistent: {e}"))
}

/// `item` with `description` when there is one.
fn described<T>(item: T, description: Option<String>, set: impl FnOnce(T, String) -> T) -> T {
    match description {
        Some(d) => set(item, d),
        None => item,
    }
}

/// A field's arguments: names and types.
fn arguments(field: &async_graphql::parser::types::FieldDefinition) -> Vec<(String, Type)> {
    field.arguments.iter().map(|a| (a.node.name.node.to_string(), a.node.ty.node.clone())).collect()
}

/// What the resolvers need: the methods by GraphQL field name, the schema's
/// types (to convert values), and the pipeline that calls the methods.
struct Resolvers {
    methods: HashMap<String, Arc<pipeline::Method>>,
    /// Relation fields by (type, field).
    relations: HashMap<(String, String), Arc<relations::Plan>>,
    types: Types,
    pipeline: Arc<Pipeline>,
}

impl Resolvers {
    /// The subscription root: one field per server-streaming method.
    fn subscription_root(&self, name: &str, o: &async_graphql::parser::types::ObjectType) -> Subscription {
        let mut root = Subscription::new(name);
        for f in &o.fields {
            let field = f.node.name.node.to_string();
            if let Some(method) = self.methods.get(&field) {
                root = root.field(self.subscription_field(&field, &f.node, Arc::clone(method)));
            }
        }
        root
    }

    fn subscription_field(
        &self,
        field: &str,
        def: &async_graphql::parser::types::FieldDefinition,
        method: Arc<pipeline::Method>,
    ) -> SubscriptionField {
        let (ty, args) = (def.ty.node.clone(), arguments(def));
        let (types, pipeline, names) = (Arc::clone(&self.types), Arc::clone(&self.pipeline), args.clone());
        let sf = SubscriptionField::new(field, type_ref(&ty), move |ctx| {
            let (method, types, ty, pipeline) =
                (Arc::clone(&method), Arc::clone(&types), ty.clone(), Arc::clone(&pipeline));
            let json = request(&ctx, &names, &types);
            // The subscribe's `extensions.lastEventId`, and where each event's id goes.
            let resume = ctx.data_opt::<resume::Resume>().cloned().unwrap_or_default();
            let call_ctx = resumed_context(&ctx, &pipeline, resume.last_event_id.as_deref());
            let cursor = method.info().cursor;
            SubscriptionFieldFuture::new(async move {
                let call_ctx = call_ctx.map_err(error)?;
                let payload = Payload::Json(serde_json::to_vec(&json).unwrap_or_default().into());
                let result = pipeline.call(&method, &call_ctx, Requests::Single(payload)).await.map_err(error)?;
                let Output::Stream(stream) = result else {
                    return Err(error(Status::internal("a subscription's method returned one message")));
                };
                Ok(crate::core::call::until_shutdown(stream, pipeline.shutdown()).map(move |item| {
                    let message = item.map_err(error)?;
                    let json = message.to_json_value().map_err(error)?;
                    resume.resolving(crate::core::stream::event_id_in(&*message, cursor, &json));
                    output(&types, Some(&json), &ty)
                        .ok_or_else(|| async_graphql::Error::new("an event could not be written"))
                }))
            })
        });
        args.iter().fold(sf, |sf, (a, t)| sf.argument(InputValue::new(a, type_ref(t))))
    }

    /// An object type: on the query and mutation roots a field per method
    /// (a root field without one answers `true`), elsewhere fields that read
    /// the parent's proto3 JSON by JSON name.
    fn object(&self, name: &str, o: &async_graphql::parser::types::ObjectType, root: bool) -> Object {
        let mut obj = Object::new(name);
        for f in &o.fields {
            let field = f.node.name.node.to_string();
            let ty = f.node.ty.node.clone();
            let relation = self.relations.get(&(name.to_owned(), field.clone()));
            let gf = match (root, self.methods.get(&field), relation) {
                (true, Some(method), _) => self.root_field(&field, &f.node, Arc::clone(method)),
                (true, None, _) => Field::new(&field, type_ref(&ty), |_| FieldFuture::from_value(Some(true.into()))),
                (false, _, Some(plan)) => relations::field(Arc::clone(plan), &ty, &self.pipeline),
                (false, _, None) => {
                    let types = Arc::clone(&self.types);
                    Field::new(&field, type_ref(&ty), move |ctx| {
                        let parent = ctx.parent_value.downcast_ref::<Json>();
                        let value = parent.and_then(|p| p.get(ctx.field().name()));
                        FieldFuture::Value(output(&types, value, &ty))
                    })
                }
            };
            obj = obj.field(described(gf, f.node.description.as_ref().map(|d| d.node.clone()), Field::description));
        }
        obj
    }

    /// A query or mutation field that calls its unary method.
    fn root_field(
        &self,
        field: &str,
        def: &async_graphql::parser::types::FieldDefinition,
        method: Arc<pipeline::Method>,
    ) -> Field {
        let (ty, args) = (def.ty.node.clone(), arguments(def));
        let (types, pipeline, names) = (Arc::clone(&self.types), Arc::clone(&self.pipeline), args.clone());
        let gf = Field::new(field, type_ref(&ty), move |ctx| {
            let (method, types, ty, pipeline) =
                (Arc::clone(&method), Arc::clone(&types), ty.clone(), Arc::clone(&pipeline));
            let json = request(&ctx, &names, &types);
            let call_ctx = call_context(&ctx, &pipeline);
            if let Some(policy) = ctx.data_opt::<CachePolicy>() {
                policy.record(method.info().cache);
            }
            FieldFuture::new(async move {
                let payload = Payload::Json(serde_json::to_vec(&json).unwrap_or_default().into());
                let message = match pipeline.call(&method, &call_ctx, Requests::Single(payload)).await {
                    Ok(Output::Single(message)) => message,
                    Ok(Output::Stream(_)) => return Err(error(Status::internal("a unary method returned a stream"))),
                    // A nullable field that fails is null and its error says
                    // where; async-graphql's dynamic schema would drop both.
                    Err(status) if ty.nullable => {
                        let located = error(status).into_server_error(ctx.item.pos);
                        ctx.add_error(ctx.set_error_path(located));
                        return Ok(None);
                    }
                    Err(status) => return Err(error(status)),
                };
                // `Empty` results are `Boolean`: true on success.
                if matches!(&ty.base, BaseType::Named(n) if n.as_str() == "Boolean") {
                    return Ok(Some(FieldValue::value(true)));
                }
                let json = message.to_json_value().map_err(error)?;
                Ok(output(&types, Some(&json), &ty))
            })
        });
        args.iter().fold(gf, |gf, (a, t)| gf.argument(InputValue::new(a, type_ref(t))))
    }
}

/// The most recently used `capacity` values by key: parsed documents by
/// query text ([`QueryCache`]) and persisted queries by hash (APQ). A lookup
/// refreshes its entry, so the documents clients keep sending stay and
/// one-offs leave first.
struct Lru<V> {
    state: std::sync::Mutex<LruState<V>>,
    capacity: usize,
}

/// The values with the tick of their last use, and the keys by that tick
/// (oldest first), so both a lookup and an eviction cost O(log n).
struct LruState<V> {
    entries: HashMap<Arc<str>, (V, u64)>,
    by_use: std::collections::BTreeMap<u64, Arc<str>>,
    tick: u64,
}

impl<V: Clone> Lru<V> {
    fn new(capacity: usize) -> Lru<V> {
        let state = LruState { entries: HashMap::new(), by_use: Default::default(), tick: 0 };
        Lru { state: std::sync::Mutex::new(state), capacity }
    }

    /// The value of `key`, now the most recently used.
    fn get(&self, key: &str) -> Option<V> {
        let mut guard = self.lock();
        let LruState { entries, by_use, tick } = &mut *guard;
        let (value, used) = entries.get_mut(key)?;
        *tick += 1;
        if let Some(key) = by_use.remove(used) {
            by_use.insert(*tick, key);
        }
        *used = *tick;
        Some(value.clone())
    }

    /// Keeps `value` under `key`, dropping the least recently used beyond `capacity`.
    fn insert(&self, key: &str, value: V) {
        if self.capacity == 0 {
            return;
        }
        let mut guard = self.lock();
        let LruState { entries, by_use, tick } = &mut *guard;
        *tick += 1;
        let key: Arc<str> = Arc::from(key);
        if let Some((_, used)) = entries.insert(Arc::clone(&key), (value, *tick)) {
            by_use.remove(&used);
        }
        by_use.insert(*tick, key);
        while entries.len() > self.capacity {
            let Some((_, oldest)) = by_use.pop_first() else { break };
            entries.remove(&oldest);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruState<V>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Parsed queries by their text. Clients send the same few documents again
/// and again, and parsing was a third of a GraphQL call's CPU; the cache
/// keeps the most recently used `capacity` of them (validation still runs
/// per call).
type QueryCache = Lru<async_graphql::parser::types::ExecutableDocument>;

impl QueryCache {
    /// Gives `request` its parsed document, from the cache or parsed now (and
    /// kept); false when the query does not parse (execution reports it).
    fn prepare(&self, request: &mut async_graphql::Request) -> bool {
        if let Some(document) = self.get(&request.query) {
            request.set_parsed_query(document);
            return true;
        }
        let Ok(document) = request.parsed_query() else { return false };
        let document = document.clone();
        self.insert(&request.query, document);
        true
    }
}

#[cfg(test)]
mod query_cache_tests {
    use super::{Lru, QueryCache};

    #[test]
    fn documents_are_reused_and_the_cache_stays_bounded() {
        let cache = QueryCache::new(2);
        let parsed: Vec<bool> = ["{ a }", "{ b }", "{ a }", "{ c }", "not graphql {"]
            .into_iter()
            .map(|query| cache.prepare(&mut async_graphql::Request::new(query)))
            .collect();
        assert_eq!(parsed, [true, true, true, true, false]);
        // `{ a }` was used after `{ b }`, so `{ b }` left for `{ c }`.
        let kept: Vec<bool> = ["{ a }", "{ b }", "{ c }"].into_iter().map(|q| cache.get(q).is_some()).collect();
        assert_eq!(kept, [true, false, true]);
        assert_eq!(cache.lock().entries.len(), 2, "a query that does not parse is not kept");
        let mut again = async_graphql::Request::new("{ c }");
        assert!(cache.prepare(&mut again));
        assert!(again.parsed_query().is_ok());
    }

    #[test]
    fn the_least_recently_used_goes_first_and_zero_keeps_nothing() {
        let lru = Lru::new(3);
        for (key, value) in [("a", 1), ("b", 2), ("c", 3)] {
            lru.insert(key, value);
        }
        assert_eq!(lru.get("a"), Some(1));
        lru.insert("b", 20); // replaced, and now the newest
        lru.insert("d", 4); // `c` is the least recently used
        assert_eq!(["a", "b", "c", "d"].map(|k| lru.get(k)), [Some(1), Some(20), None, Some(4)]);
        let state = lru.lock();
        assert_eq!((state.entries.len(), state.by_use.len()), (3, 3));
        drop(state);
        let off = Lru::new(0);
        off.insert("a", 1);
        assert_eq!(off.get("a"), None);
    }
}
