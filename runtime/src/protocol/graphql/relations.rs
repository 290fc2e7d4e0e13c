//! Relations: GraphQL fields that load related messages through a batch
//! loader, one call per loader and level of a query however many parents the
//! level has. Each request (each `/graphql/ws` connection) has its own
//! [`Loaders`], so a batch carries that caller's metadata and identity and
//! two requests never share one. The keys of all sibling fields go into one
//! open batch per loader, de-duplicated; [`Batched`] seals the batches when
//! the operation can make no more progress without them, and each is sent,
//! split at the loader's maximum size. Results are matched to parents by
//! their key field, never by position.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use async_graphql::dynamic::{Field, FieldFuture, FieldValue, ResolverContext};
use async_graphql::parser::types::{BaseType, Type};
use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use futures_util::task::{ArcWake, AtomicWaker};
use serde_json::Value as Json;

use super::{call_context, error, type_ref};
use crate::core::call::{Output, Payload, Requests};
use crate::core::pipeline::{self, Pipeline};
use crate::core::service::{Relation, RelationKind};
use crate::{Context, Status};

/// How many times [`Batched`] polls its operation in a row while it keeps
/// waking itself (futures yielding for fairness) before it lets other tasks run.
const MAX_SPINS: usize = 8;

/// One relation of the schema and the loader method it calls (`None` when
/// no mounted service has the method).
pub(super) struct Plan {
    relation: &'static Relation,
    method: Option<Arc<pipeline::Method>>,
    /// The loader's index: relations sharing a loader share its batches.
    loader: usize,
}

impl Plan {
    /// The parent's key field (an entity's `@key`).
    pub(super) fn key(&self) -> &'static str {
        self.relation.key
    }
}

/// The plans by (parent type, field); an entity's field is empty.
pub(super) fn plans(pipeline: &Pipeline, relations: &[&'static Relation]) -> HashMap<(String, String), Arc<Plan>> {
    let mut loaders: Vec<&str> = Vec::new();
    let mut out = HashMap::new();
    for relation in relations {
        let loader = loaders.iter().position(|m| *m == relation.method).unwrap_or_else(|| {
            loaders.push(relation.method);
            loaders.len() - 1
        });
        let method = pipeline.method(relation.method, crate::Protocol::Graphql).cloned().map(Arc::new);
        out.entry((relation.parent.to_owned(), relation.field.to_owned()))
            .or_insert_with(|| Arc::new(Plan { relation, method, loader }));
    }
    out
}

/// Each key's results, or the status of the call that carried it; keys by
/// their JSON text.
type Loaded = HashMap<String, Result<Vec<Json>, Status>>;

/// The batches of one request (or `/graphql/ws` connection). A key asked
/// for once is not asked for again: later fields wait for the batch that
/// carries it (async-graphql resolves an object's fields one after another,
/// so aliases of one relation come a pass apart). A [`Batched`] operation
/// seals the open batches when it can make no more progress without them;
/// without one (`unbatched`), each load is its own batch.
#[derive(Clone, Default)]
pub(super) struct Loaders {
    state: Arc<Mutex<State>>,
    unbatched: bool,
}

#[derive(Default)]
struct State {
    /// The batch still taking keys, by loader.
    open: HashMap<usize, Open>,
    /// Every key asked for, by loader and JSON text, with its batch.
    known: HashMap<(usize, String), Batch>,
}

/// One call (or a few, split at the maximum size) that fields wait for.
type Batch = Shared<BoxFuture<'static, Arc<Loaded>>>;

/// A batch still taking keys.
struct Open {
    keys: Vec<Json>,
    sealed: Arc<Sealed>,
    done: Batch,
}

/// A batch's keys once it is sealed, and the waker of the call waiting for them.
#[derive(Default)]
struct Sealed {
    keys: Mutex<Option<Vec<Json>>>,
    waker: AtomicWaker,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Loaders {
    /// Loaders that nobody seals: every load is sent at once.
    fn unbatched() -> Loaders {
        Loaders { unbatched: true, ..Loaders::default() }
    }

    /// Adds the `keys` not asked for yet to the open batch of `plan`'s
    /// loader (opening one) and waits for every batch that carries one.
    async fn load(
        &self,
        plan: &Arc<Plan>,
        method: &Arc<pipeline::Method>,
        keys: &[Json],
        pipeline: &Arc<Pipeline>,
        ctx: Context,
    ) -> Vec<Arc<Loaded>> {
        let batches = {
            let mut guard = lock(&self.state);
            let state = &mut *guard;
            let mut batches: Vec<Batch> = Vec::new();
            for key in keys {
                let known = (plan.loader, key.to_string());
                let batch = match state.known.get(&known) {
                    Some(batch) => batch.clone(),
                    None => {
                        let open = state.open.entry(plan.loader).or_insert_with(|| {
                            let sealed = Arc::new(Sealed::default());
                            let (plan, method, pipeline) = (Arc::clone(plan), Arc::clone(method), Arc::clone(pipeline));
                            let done = send(Arc::clone(&sealed), plan, method, pipeline, ctx.clone()).boxed().shared();
                            Open { keys: Vec::new(), sealed, done }
                        });
                        open.keys.push(key.clone());
                        state.known.insert(known, open.done.clone());
                        open.done.clone()
                    }
                };
                if !batches.iter().any(|b| Shared::ptr_eq(b, &batch)) {
                    batches.push(batch);
                }
            }
            batches
        };
        if self.unbatched {
            self.seal();
        }
        futures_util::future::join_all(batches).await
    }

    /// Forgets the keys asked for, so that later loads ask again (a
    /// subscription's next event must see fresh data).
    fn forget(&self) {
        lock(&self.state).known.clear();
    }

    /// Closes every open batch and lets its call go; false when none was open.
    fn seal(&self) -> bool {
        let open: Vec<Open> = lock(&self.state).open.drain().map(|(_, o)| o).collect();
        let any = !open.is_empty();
        for batch in open {
            *lock(&batch.sealed.keys) = Some(batch.keys);
            batch.sealed.waker.wake();
        }
        any
    }
}

/// Waits for the batch to be sealed, then calls the loader once per
/// `max_batch_size` keys and matches the rows to the keys.
async fn send(
    sealed: Arc<Sealed>,
    plan: Arc<Plan>,
    method: Arc<pipeline::Method>,
    pipeline: Arc<Pipeline>,
    ctx: Context,
) -> Arc<Loaded> {
    let keys = std::future::poll_fn(|cx| {
        sealed.waker.register(cx.waker());
        match lock(&sealed.keys).take() {
            Some(keys) => Poll::Ready(keys),
            None => Poll::Pending,
        }
    })
    .await;
    let relation = plan.relation;
    let size = match relation.max_batch_size {
        0 => keys.len().max(1),
        n => n as usize,
    };
    let calls = keys.chunks(size).map(|chunk| {
        let (method, pipeline, ctx) = (&method, &pipeline, &ctx);
        async move { (chunk, call(relation, method, pipeline, ctx, chunk).await) }
    });
    let mut loaded = Loaded::new();
    for (chunk, outcome) in futures_util::future::join_all(calls).await {
        match outcome {
            Ok(rows) => {
                let mut by_key: HashMap<String, Vec<Json>> =
                    chunk.iter().map(|k| (k.to_string(), Vec::new())).collect();
                for row in rows {
                    let key = row.get(relation.result_key).map(Json::to_string);
                    // Rows for keys nobody asked for are left out.
                    if let Some(rows) = key.and_then(|k| by_key.get_mut(&k))
                        && !rows.contains(&row)
                    {
                        rows.push(row);
                    }
                }
                loaded.extend(by_key.into_iter().map(|(k, rows)| (k, Ok(rows))));
            }
            Err(status) => loaded.extend(chunk.iter().map(|k| (k.to_string(), Err(status.clone())))),
        }
    }
    Arc::new(loaded)
}

/// A GraphQL operation (a future) or a `/graphql/ws` connection (a stream)
/// whose relation batches are sealed when it has done all it can: after a
/// poll that left it waiting without waking itself again. The fields of a
/// level are all resolved in such a pass once their parents arrive, so each
/// batch holds the level's every key, with no timer and no guess.
pub(super) struct Batched<F> {
    inner: std::pin::Pin<Box<F>>,
    loaders: Loaders,
    flag: Arc<Flag>,
    waker: std::task::Waker,
}

/// Records that the operation was woken while it was being polled.
#[derive(Default)]
struct Flag {
    woken: AtomicBool,
    outer: Mutex<Option<std::task::Waker>>,
}

impl ArcWake for Flag {
    fn wake_by_ref(flag: &Arc<Self>) {
        flag.woken.store(true, Ordering::SeqCst);
        if let Some(waker) = lock(&flag.outer).as_ref() {
            waker.wake_by_ref();
        }
    }
}

impl<F> Batched<F> {
    pub(super) fn new(loaders: Loaders, inner: F) -> Batched<F> {
        let flag = Arc::new(Flag::default());
        Batched { inner: Box::pin(inner), loaders, waker: futures_util::task::waker(Arc::clone(&flag)), flag }
    }

    fn drive<T>(
        &mut self,
        cx: &mut std::task::Context<'_>,
        mut poll: impl FnMut(&mut Self, &mut std::task::Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        {
            let mut outer = lock(&self.flag.outer);
            if !outer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *outer = Some(cx.waker().clone());
            }
        }
        let waker = self.waker.clone();
        let mut inner = std::task::Context::from_waker(&waker);
        for _ in 0..MAX_SPINS {
            self.flag.woken.store(false, Ordering::SeqCst);
            if let Poll::Ready(value) = poll(self, &mut inner) {
                return Poll::Ready(value);
            }
            // Woken while polled: some futures are ready still; finish the pass first.
            if self.flag.woken.load(Ordering::SeqCst) {
                continue;
            }
            // Everything waits: the open batches are complete. Sealing them
            // wakes their fields, so poll again to send the calls.
            if !self.loaders.seal() {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<F: Future> Future for Batched<F> {
    type Output = F::Output;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<F::Output> {
        self.drive(cx, |this, cx| this.inner.as_mut().poll(cx))
    }
}

impl<F: futures_util::Stream> futures_util::Stream for Batched<F> {
    type Item = F::Item;

    fn poll_next(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Option<F::Item>> {
        let item = self.drive(cx, |this, cx| this.inner.as_mut().poll_next(cx));
        if item.is_ready() {
            // An event (or reply) went out: the next one loads afresh.
            self.loaders.forget();
        }
        item
    }
}

/// One loader call: the keys in, the result rows out, as proto3 JSON.
async fn call(
    relation: &Relation,
    method: &pipeline::Method,
    pipeline: &Pipeline,
    ctx: &Context,
    keys: &[Json],
) -> Result<Vec<Json>, Status> {
    let request = Json::Object([(relation.keys.to_owned(), Json::Array(keys.to_vec()))].into_iter().collect());
    let payload = Payload::Json(serde_json::to_vec(&request).unwrap_or_default().into());
    let Output::Single(message) = pipeline.call(method, ctx, Requests::Single(payload)).await? else {
        return Err(Status::internal("a batch loader returned a stream"));
    };
    match message.to_json_value()? {
        Json::Object(mut response) => match response.remove(relation.results) {
            Some(Json::Array(rows)) => Ok(rows),
            _ => Ok(Vec::new()),
        },
        _ => Ok(Vec::new()),
    }
}

/// The keys a parent holds: one, a list, or none when the field is unset
/// (proto3 cannot tell an empty key from an unset one, so neither loads).
fn keys(parent: Option<&Json>, field: &str) -> Vec<Json> {
    let usable = |v: &&Json| !v.is_null() && *v != &Json::from("");
    match parent.and_then(|p| p.get(field)) {
        Some(Json::Array(items)) => items.iter().filter(usable).cloned().collect(),
        Some(one) if usable(&one) => vec![one.clone()],
        _ => Vec::new(),
    }
}

fn base_name(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(n) => n.as_str(),
        BaseType::List(inner) => base_name(inner),
    }
}

/// The field of `plan`'s relation: its keys from the parent, its results from
/// the request's loader.
pub(super) fn field(plan: Arc<Plan>, ty: &Type, pipeline: &Arc<Pipeline>) -> Field {
    let (target, nullable) = (base_name(ty).to_owned(), ty.nullable);
    let pipeline = Arc::clone(pipeline);
    let name = plan.relation.field;
    Field::new(name, type_ref(ty), move |ctx| {
        let keys = keys(ctx.parent_value.downcast_ref::<Json>(), plan.relation.key);
        let (plan, pipeline, target) = (Arc::clone(&plan), Arc::clone(&pipeline), target.clone());
        let loaders = ctx.data_opt::<Loaders>().cloned().unwrap_or_else(Loaders::unbatched);
        let call_ctx = call_context(&ctx, &pipeline);
        if let Some(policy) = ctx.data_opt::<super::CachePolicy>() {
            policy.record(plan.relation.cache);
        }
        FieldFuture::new(async move {
            let relation = plan.relation;
            if keys.is_empty() {
                return match relation.kind {
                    RelationKind::One if relation.required => {
                        let message = format!(
                            "this {} has no `{}` to load `{}` by",
                            relation.parent, relation.key, relation.field
                        );
                        fail(&ctx, nullable, Status::not_found(message))
                    }
                    RelationKind::One | RelationKind::Entity => Ok(None),
                    RelationKind::Many | RelationKind::Group => Ok(Some(FieldValue::list(Vec::<FieldValue>::new()))),
                };
            }
            let Some(method) = &plan.method else {
                let message = format!(
                    "`{}.{}` needs {}, which this server does not serve",
                    relation.parent, relation.field, relation.method
                );
                return fail(&ctx, nullable, Status::unimplemented(message));
            };
            let loaded = loaders.load(&plan, method, &keys, &pipeline, call_ctx).await;
            let mut rows = Vec::with_capacity(keys.len());
            for key in &keys {
                let text = key.to_string();
                match loaded.iter().find_map(|batch| batch.get(&text)) {
                    Some(Err(status)) => return fail(&ctx, nullable, status.clone()),
                    Some(Ok(found)) => rows.push((key, found.as_slice())),
                    None => rows.push((key, &[][..])),
                }
            }
            let missing = |key: &Json| {
                Status::not_found(format!(
                    "no {target} with `{}` {key} (`{}.{}`)",
                    relation.result_key, relation.parent, relation.field
                ))
            };
            match relation.kind {
                RelationKind::One | RelationKind::Entity => match rows.first() {
                    Some((_, [row, ..])) => Ok(Some(FieldValue::owned_any(row.clone()))),
                    Some((key, _)) if relation.required => fail(&ctx, nullable, missing(key)),
                    _ => Ok(None),
                },
                RelationKind::Many => {
                    let mut items = Vec::with_capacity(rows.len());
                    for (key, found) in rows {
                        // A key without a row is left out: async-graphql's
                        // dynamic schema cannot put a null object in a list.
                        match found.first() {
                            Some(row) => items.push(FieldValue::owned_any(row.clone())),
                            None if relation.required => return fail(&ctx, nullable, missing(key)),
                            None => {}
                        }
                    }
                    Ok(Some(FieldValue::list(items)))
                }
                RelationKind::Group => {
                    let items = rows.into_iter().flat_map(|(_, found)| found.iter().cloned());
                    Ok(Some(FieldValue::list(items.map(FieldValue::owned_any))))
                }
            }
        })
    })
}

/// Federation's `_entities`: every representation of one request, loaded
/// through its type's loader (one batch per loader), in the request's order.
/// A representation whose entity does not exist fails the field: a gateway
/// matches entities by position, so none can be left out.
pub(super) fn entities(
    plans: Arc<HashMap<String, Arc<Plan>>>,
    pipeline: &Arc<Pipeline>,
) -> impl for<'a> Fn(ResolverContext<'a>) -> FieldFuture<'a> + Send + Sync + 'static {
    let pipeline = Arc::clone(pipeline);
    move |ctx| {
        let representations = ctx.args.get("representations").and_then(|v| v.as_value().clone().into_json().ok());
        let (plans, pipeline) = (Arc::clone(&plans), Arc::clone(&pipeline));
        let loaders = ctx.data_opt::<Loaders>().cloned().unwrap_or_else(Loaders::unbatched);
        let call_ctx = call_context(&ctx, &pipeline);
        if let Some(policy) = ctx.data_opt::<super::CachePolicy>() {
            policy.record(None); // gateways do not cache entity fetches by HTTP
        }
        FieldFuture::new(async move {
            let Some(Json::Array(representations)) = representations else {
                return Err(error(Status::invalid_argument("`representations` must be a list")));
            };
            // (type, key) per representation, and each type's keys.
            let mut wanted: Vec<(Arc<Plan>, Json)> = Vec::with_capacity(representations.len());
            let mut by_type: Vec<(Arc<Plan>, Vec<Json>)> = Vec::new();
            for representation in &representations {
                let typename = representation.get("__typename").and_then(Json::as_str).unwrap_or_default();
                let Some(plan) = plans.get(typename) else {
                    let message = format!("`{typename}` is not an entity of this subgraph");
                    return Err(error(Status::invalid_argument(message)));
                };
                let key = representation.get(plan.relation.key).cloned().unwrap_or(Json::Null);
                match by_type.iter_mut().find(|(p, _)| Arc::ptr_eq(p, plan)) {
                    Some((_, keys)) => keys.push(key.clone()),
                    None => by_type.push((Arc::clone(plan), vec![key.clone()])),
                }
                wanted.push((Arc::clone(plan), key));
            }
            let loads = by_type.iter().map(|(plan, keys)| {
                let (loaders, pipeline, call_ctx) = (&loaders, &pipeline, call_ctx.clone());
                async move {
                    let Some(method) = &plan.method else {
                        let message = format!(
                            "`{}` needs {}, which this server does not serve",
                            plan.relation.parent, plan.relation.method
                        );
                        return Err(Status::unimplemented(message));
                    };
                    Ok(loaders.load(plan, method, keys, pipeline, call_ctx).await)
                }
            });
            let loaded: Vec<Vec<Arc<Loaded>>> = futures_util::future::try_join_all(loads).await.map_err(error)?;
            let mut items = Vec::with_capacity(wanted.len());
            for (plan, key) in wanted {
                let at = by_type.iter().position(|(p, _)| Arc::ptr_eq(p, &plan)).unwrap_or_default();
                let text = key.to_string();
                let row = match loaded.get(at).and_then(|batches| batches.iter().find_map(|b| b.get(&text))) {
                    Some(Ok(rows)) => rows.first().cloned(),
                    Some(Err(status)) => return Err(error(status.clone())),
                    None => None,
                };
                let Some(row) = row else {
                    let (entity, field) = (plan.relation.parent, plan.relation.key);
                    return Err(error(Status::not_found(format!("no {entity} with `{field}` {key}"))));
                };
                items.push(FieldValue::owned_any(row).with_type(plan.relation.parent));
            }
            Ok(Some(FieldValue::list(items)))
        })
    }
}

/// A relation that failed: null with its error at its own path when the
/// field is nullable, else the error (which nulls the nearest nullable parent).
fn fail(
    ctx: &ResolverContext<'_>,
    nullable: bool,
    status: Status,
) -> async_graphql::Result<Option<FieldValue<'static>>> {
    if nullable {
        let located = error(status).into_server_error(ctx.item.pos);
        ctx.add_error(ctx.set_error_path(located));
        return Ok(None);
    }
    Err(error(status))
}
