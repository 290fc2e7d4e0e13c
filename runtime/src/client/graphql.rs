//! The typed GraphQL client's transport: a request message becomes the
//! operation's variables, and the selection set is every field of the
//! result, nested messages included to a bounded depth, read from the
//! generated SDL (relations only when asked for). `raw` runs any query;
//! subscriptions run over `/graphql/ws` (graphql-transport-ws).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use serde_json::{Map, Value};

use futures_util::StreamExt;

use crate::core::message::ApiMessage;
use crate::{Code, Status};

/// How deep the default selection set follows nested messages.
const SELECTION_DEPTH: usize = 4;

/// A root field: its operation keyword, arguments and result type.
#[derive(Debug)]
struct RootField {
    keyword: &'static str,
    args: Vec<(String, Type)>,
    result: Type,
}

#[derive(Debug)]
struct Schema {
    types: HashMap<String, TypeKind>,
    fields: HashMap<String, RootField>,
}

fn parse(sdl: &str) -> Result<Schema, Status> {
    let doc = async_graphql::parser::parse_schema(sdl)
        .map_err(|e| Status::internal(format!("the GraphQL schema does not parse: {e}")))?;
    let mut roots = HashMap::from([
        ("Query".to_owned(), "query"),
        ("Mutation".to_owned(), "mutation"),
        ("Subscription".to_owned(), "subscription"),
    ]);
    let mut types = HashMap::new();
    for def in doc.definitions {
        match def {
            TypeSystemDefinition::Schema(s) => {
                roots.clear();
                if let Some(q) = &s.node.query {
                    roots.insert(q.node.to_string(), "query");
                }
                if let Some(m) = &s.node.mutation {
                    roots.insert(m.node.to_string(), "mutation");
                }
                if let Some(m) = &s.node.subscription {
                    roots.insert(m.node.to_string(), "subscription");
                }
            }
            TypeSystemDefinition::Type(t) => {
                types.insert(t.node.name.node.to_string(), t.node.kind);
            }
            TypeSystemDefinition::Directive(_) => {}
        }
    }
    let mut fields = HashMap::new();
    for (root, keyword) in &roots {
        if let Some(TypeKind::Object(o)) = types.get(root) {
            for f in &o.fields {
                let args =
                    f.node.arguments.iter().map(|a| (a.node.name.node.to_string(), a.node.ty.node.clone())).collect();
                fields
                    .insert(f.node.name.node.to_string(), RootField { keyword, args, result: f.node.ty.node.clone() });
            }
        }
    }
    Ok(Schema { types, fields })
}

fn base_name(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(n) => n.as_str(),
        BaseType::List(inner) => base_name(inner),
    }
}

fn is_entry(schema: &Schema, name: &str) -> bool {
    let keys: Vec<String> = match schema.types.get(name) {
        Some(TypeKind::Object(o)) => o.fields.iter().map(|f| f.node.name.node.to_string()).collect(),
        Some(TypeKind::InputObject(o)) => o.fields.iter().map(|f| f.node.name.node.to_string()).collect(),
        _ => return false,
    };
    keys == ["key", "value"]
}

/// `{ a b c { d } }`: every field of `ty`, messages followed `depth` levels.
/// Relations are left out unless `wanted` names their path from the result
/// (`books`, `books.authorDetails`): they are not fields of the message, and
/// each costs the server a loader call. `prefix` is the path of `ty`.
fn selection(
    schema: &Schema,
    relations: &[crate::Relation],
    ty: &Type,
    depth: usize,
    prefix: &str,
    wanted: &[&str],
) -> String {
    let type_name = base_name(ty);
    let Some(TypeKind::Object(o)) = schema.types.get(type_name) else { return String::new() };
    let mut parts = Vec::new();
    for f in &o.fields {
        let name = f.node.name.node.to_string();
        let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        let deeper = wanted.iter().any(|w| w.starts_with(&format!("{path}.")));
        if relations.iter().any(|r| r.parent == type_name && r.field == name) && !wanted.contains(&path.as_str()) {
            continue;
        }
        let inner = &f.node.ty.node;
        match schema.types.get(base_name(inner)) {
            Some(TypeKind::Object(_)) if depth > 0 || deeper => {
                let nested = selection(schema, relations, inner, depth.saturating_sub(1), &path, wanted);
                parts.push(format!("{name} {nested}"))
            }
            Some(TypeKind::Object(_)) => {}
            _ => parts.push(name),
        }
    }
    format!("{{ {} }}", parts.join(" "))
}

/// Whether `path` (`books.authorDetails`) names a relation from `ty` on.
fn relation_path(schema: &Schema, relations: &[crate::Relation], ty: &Type, path: &str) -> bool {
    let (head, rest) = path.split_once('.').map_or((path, None), |(h, r)| (h, Some(r)));
    let type_name = base_name(ty);
    let Some(TypeKind::Object(o)) = schema.types.get(type_name) else { return false };
    let Some(field) = o.fields.iter().find(|f| f.node.name.node.as_str() == head) else { return false };
    match rest {
        None => relations.iter().any(|r| r.parent == type_name && r.field == head),
        Some(rest) => relation_path(schema, relations, &field.node.ty.node, rest),
    }
}

/// Maps as `{key, value}` entry lists (to GraphQL) or back (from GraphQL).
fn convert(schema: &Schema, value: Value, ty: &Type, to_graphql: bool) -> Value {
    let name = base_name(ty);
    match (value, &ty.base) {
        (Value::Object(map), BaseType::List(_)) if to_graphql && is_entry(schema, name) => {
            Value::Array(map.into_iter().map(|(k, v)| serde_json::json!({"key": k, "value": v})).collect())
        }
        (Value::Array(items), BaseType::List(_)) if !to_graphql && is_entry(schema, name) => {
            crate::core::wire::entries_to_map(items)
        }
        (Value::Array(items), BaseType::List(inner)) => {
            Value::Array(items.into_iter().map(|v| convert(schema, v, inner, to_graphql)).collect())
        }
        (Value::Object(map), BaseType::Named(_)) => {
            let fields: Vec<(String, Type)> = match schema.types.get(name) {
                Some(TypeKind::Object(o)) => {
                    o.fields.iter().map(|f| (f.node.name.node.to_string(), f.node.ty.node.clone())).collect()
                }
                Some(TypeKind::InputObject(o)) => {
                    o.fields.iter().map(|f| (f.node.name.node.to_string(), f.node.ty.node.clone())).collect()
                }
                _ => Vec::new(),
            };
            Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let v = match fields.iter().find(|(n, _)| *n == k) {
                            Some((_, t)) => convert(schema, v, t, to_graphql),
                            None => v,
                        };
                        (k, v)
                    })
                    .collect(),
            )
        }
        (other, _) => other,
    }
}

/// A GraphQL connection for the generated typed GraphQL clients.
#[derive(Clone)]
pub struct Client {
    endpoint: crate::client::Endpoint,
    url: String,
    sdl: &'static str,
    relations: &'static [crate::Relation],
    schema: Arc<OnceLock<Result<Schema, Status>>>,
    /// How subscriptions reconnect after a drop (`None`: they end).
    reconnect: Option<crate::client::ws::Reconnect>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("url", &self.url).finish_non_exhaustive()
    }
}

impl Client {
    /// A client of the server at `base` (`http://127.0.0.1:8080`) for the schema `sdl`.
    pub fn new(base: impl Into<String>, sdl: &'static str) -> Client {
        let endpoint = crate::client::Endpoint::new(base);
        let url = endpoint.url("/graphql");
        let reconnect = Some(crate::client::ws::Reconnect::default());
        Client { endpoint, url, sdl, relations: &[], schema: Arc::default(), reconnect }
    }

    /// Sets how subscriptions reconnect after a drop (default
    /// [`Reconnect::default`](crate::client::ws::Reconnect)); `None`: a drop ends them with `UNAVAILABLE`.
    pub fn reconnect(mut self, reconnect: Option<crate::client::ws::Reconnect>) -> Client {
        self.reconnect = reconnect;
        self
    }

    /// The schema's relations, which the default selection leaves out.
    pub fn relations(mut self, relations: &'static [crate::Relation]) -> Client {
        self.relations = relations;
        self
    }

    /// Headers sent with every call, for example `authorization`.
    pub fn headers_mut(&mut self) -> &mut http::HeaderMap {
        self.endpoint.headers_mut()
    }

    fn schema(&self) -> Result<&Schema, Status> {
        self.schema.get_or_init(|| parse(self.sdl)).as_ref().map_err(Clone::clone)
    }

    /// Runs any GraphQL document; returns `data`, or the first error as a `Status`.
    pub async fn raw(&self, query: &str, variables: Value) -> Result<Value, Status> {
        let body = serde_json::json!({"query": query, "variables": variables});
        let response = self
            .endpoint
            .request(reqwest::Method::POST, &self.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| Status::unavailable(format!("{}: {e}", self.url)))?;
        let status = response.status();
        let reply: Value = response
            .json()
            .await
            .map_err(|e| Status::internal(format!("the GraphQL response is not JSON ({status}): {e}")))?;
        if let Some(error) = reply.get("errors").and_then(Value::as_array).and_then(|e| e.first()) {
            return Err(error_status(error, Code::InvalidArgument));
        }
        Ok(reply.get("data").cloned().unwrap_or(Value::Null))
    }

    /// The operation that calls root field `field` with `request` as its
    /// arguments (as variables), selecting every field of the result and the
    /// relations `wanted` names; and the field's result type.
    fn operation<Req: ApiMessage>(
        &self,
        field: &str,
        request: &Req,
        wanted: &[&str],
    ) -> Result<(String, Value, &Type), Status> {
        let schema = self.schema()?;
        let RootField { keyword, args, result } = schema
            .fields
            .get(field)
            .ok_or_else(|| Status::unimplemented(format!("the schema has no field `{field}`")))?;
        if let Some(unknown) = wanted.iter().find(|w| !relation_path(schema, self.relations, result, w)) {
            return Err(Status::invalid_argument(format!("`{unknown}` is not a relation of `{field}`'s result")));
        }
        let Value::Object(fields) = serde_json::to_value(request).map_err(|e| Status::internal(e.to_string()))? else {
            return Err(Status::internal("a request message is not a JSON object"));
        };
        let mut variables = Map::new();
        let mut definitions = Vec::new();
        let mut arguments = Vec::new();
        for (name, ty) in args {
            definitions.push(format!("${name}: {ty}"));
            arguments.push(format!("{name}: ${name}"));
            let value = fields.get(name).cloned().unwrap_or(Value::Null);
            variables.insert(name.clone(), convert(schema, value, ty, true));
        }
        let definitions = if definitions.is_empty() { String::new() } else { format!("({})", definitions.join(", ")) };
        let arguments = if arguments.is_empty() { String::new() } else { format!("({})", arguments.join(", ")) };
        let selection = selection(schema, self.relations, result, SELECTION_DEPTH, "", wanted);
        let query = format!("{keyword}{definitions} {{ {field}{arguments} {selection} }}");
        Ok((query, Value::Object(variables), result))
    }

    /// A root field's value as proto3 JSON: maps back from entry lists,
    /// GraphQL's nulls left out, `Boolean` (for `Empty`) as `{}`.
    fn result_json(&self, value: Value, result: &Type) -> Result<Value, Status> {
        if value.is_boolean() {
            return Ok(Value::Object(Map::new()));
        }
        Ok(strip_nulls(convert(self.schema()?, value, result, false)))
    }

    /// Calls the root field `field` with `request` as its arguments and reads
    /// every field of the result.
    pub async fn call<Req: ApiMessage, Resp: ApiMessage>(&self, field: &str, request: &Req) -> Result<Resp, Status> {
        let value = self.call_selecting(field, request, &[]).await?;
        serde_json::from_value(value)
            .map_err(|e| Status::internal(format!("the GraphQL result does not fit its type: {e}")))
    }

    /// Calls the root field `field` like [`Client::call`], selecting the
    /// relations `relations` names by path from the result too
    /// (`["shelves.books", "shelves.books.authorDetails"]`), and returns the
    /// result as proto3 JSON with the relations in it.
    pub async fn call_selecting<Req: ApiMessage>(
        &self,
        field: &str,
        request: &Req,
        relations: &[&str],
    ) -> Result<Value, Status> {
        let (query, variables, result) = self.operation(field, request, relations)?;
        let data = self.raw(&query, variables).await?;
        self.result_json(data.get(field).cloned().unwrap_or(Value::Null), result)
    }

    /// Subscribes to the root field `field` over `/graphql/ws`
    /// (graphql-transport-ws, one socket per subscription): every `next` is
    /// one message; an error ends the stream with its status. The headers
    /// go in the upgrade and in `connection_init`'s payload.
    ///
    /// When the socket drops, or the server ends the subscription as
    /// `UNAVAILABLE` (it is shutting down), the stream reconnects with
    /// backoff and subscribes again after the last event's
    /// `extensions.eventId`, so a resumable stream goes on with nothing lost
    /// or repeated. A stream whose events carry no ids ends instead once it
    /// has delivered any, as starting it over would repeat them.
    pub async fn subscribe<Req: ApiMessage, Resp: ApiMessage + 'static>(
        &self,
        field: &str,
        request: &Req,
    ) -> Result<crate::ResponseStream<Resp>, Status> {
        let (query, variables, result) = self.operation(field, request, &[])?;
        let result = result.clone();
        let url = match self.url.split_once("://") {
            Some(("https", rest)) => format!("wss://{rest}/ws"),
            Some((_, rest)) => format!("ws://{rest}/ws"),
            None => return Err(Status::invalid_argument(format!("{} is not an http(s) URL", self.url))),
        };
        let socket = subscription::open(&url, self.endpoint.headers(), &query, &variables, None).await?;
        let (client, field) = (self.clone(), field.to_owned());
        let resume = subscription::Resume {
            url,
            headers: self.endpoint.headers().clone(),
            query,
            variables,
            reconnect: self.reconnect,
        };
        let messages = subscription::messages(socket, resume).map(move |data| {
            let value = data?.get(&field).cloned().unwrap_or(Value::Null);
            let json = client.result_json(value, &result)?;
            serde_json::from_value(json)
                .map_err(|e| Status::internal(format!("a GraphQL event does not fit its type: {e}")))
        });
        Ok(crate::ResponseStream::new(messages))
    }
}

/// graphql-transport-ws, client side, for one subscription per socket.
mod subscription {
    use futures_util::{SinkExt, Stream, StreamExt};
    use serde_json::{Value, json};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    use crate::{Code, Status};

    type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

    /// How long the server may take to acknowledge `connection_init`.
    const ACK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

    /// What a subscription needs to subscribe again on a new socket.
    pub(super) struct Resume {
        pub(super) url: String,
        pub(super) headers: http::HeaderMap,
        pub(super) query: String,
        pub(super) variables: Value,
        pub(super) reconnect: Option<crate::client::ws::Reconnect>,
    }

    /// Connects, initialises with `headers` and subscribes to `query`, after
    /// the event `last_event_id` when given.
    pub(super) async fn open(
        url: &str,
        headers: &http::HeaderMap,
        query: &str,
        variables: &Value,
        last_event_id: Option<&str>,
    ) -> Result<Socket, Status> {
        let mut request = url
            .into_client_request()
            .map_err(|e| Status::invalid_argument(format!("{url} is not a WebSocket URL: {e}")))?;
        request.headers_mut().extend(headers.clone());
        let protocol = http::HeaderValue::from_static("graphql-transport-ws");
        request.headers_mut().insert(http::header::SEC_WEBSOCKET_PROTOCOL, protocol);
        let (mut socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| Status::unavailable(format!("cannot open {url}: {e}")))?;
        // Browsers cannot set headers, so servers read credentials here too.
        let payload: serde_json::Map<String, Value> = headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), Value::String(v.to_str().ok()?.to_owned()))))
            .collect();
        send(&mut socket, json!({"type": "connection_init", "payload": payload}), url).await?;
        let acked = tokio::time::timeout(ACK_TIMEOUT, async {
            while let Some(frame) = socket.next().await {
                match frame {
                    Ok(Message::Text(text)) if text.contains("connection_ack") => return Ok(()),
                    Ok(Message::Close(frame)) => {
                        return Err(closed(frame.map(|f| (u16::from(f.code), f.reason.to_string()))));
                    }
                    Ok(_) => continue,
                    Err(e) => return Err(Status::unavailable(format!("{url}: {e}"))),
                }
            }
            Err(Status::unavailable(format!("{url} closed before connection_ack")))
        });
        acked.await.map_err(|_| Status::deadline_exceeded(format!("{url} sent no connection_ack")))??;
        let mut payload = json!({"query": query, "variables": variables});
        if let Some(last) = last_event_id {
            payload["extensions"] = json!({"lastEventId": last});
        }
        send(&mut socket, json!({"type": "subscribe", "id": "1", "payload": payload}), url).await?;
        Ok(socket)
    }

    async fn send(socket: &mut Socket, frame: Value, url: &str) -> Result<(), Status> {
        socket
            .send(Message::text(frame.to_string()))
            .await
            .map_err(|e| Status::unavailable(format!("cannot write to {url}: {e}")))
    }

    /// A close frame as a status: 4401/4403 are credentials, 1000 is the end.
    fn closed(frame: Option<(u16, String)>) -> Status {
        match frame {
            Some((4401, reason)) => Status::unauthenticated(reason),
            Some((4403, reason)) => Status::permission_denied(reason),
            Some((code, reason)) => Status::unavailable(format!("the socket closed ({code}): {reason}")),
            None => Status::unavailable("the socket closed"),
        }
    }

    /// The error a `next` with `errors`, or an `error` frame, carries.
    fn error(errors: &Value) -> Status {
        super::error_status(errors.get(0).unwrap_or(errors), Code::Unknown)
    }

    /// A subscription's socket and how far it got.
    struct State {
        socket: Option<Socket>,
        resume: Resume,
        /// The id of the last event delivered, when events carry ids.
        last_event_id: Option<String>,
        /// Some event was delivered.
        delivered: bool,
    }

    /// How one socket's subscription ended.
    enum Ended {
        /// `complete`, or a 1000 close: the stream is over.
        Done,
        /// For good, with this error.
        Failed(Status),
        /// The socket dropped, or the server was unavailable: subscribe again if it can resume.
        Dropped(Status),
    }

    /// Each `next`'s `data` until `complete`; pings answered; drops resumed.
    pub(super) fn messages(
        socket: Socket,
        resume: Resume,
    ) -> impl Stream<Item = Result<Value, Status>> + Send + 'static {
        let state = State { socket: Some(socket), resume, last_event_id: None, delivered: false };
        futures_util::stream::unfold(Some(state), |state| async move {
            let mut state = state?;
            loop {
                let ended = match state.socket.as_mut() {
                    Some(socket) => match next(socket, &state.resume.url).await {
                        Ok((data, event_id)) => {
                            state.delivered = true;
                            if event_id.is_some() {
                                state.last_event_id = event_id;
                            }
                            return Some((Ok(data), Some(state)));
                        }
                        Err(ended) => ended,
                    },
                    None => Ended::Dropped(Status::unavailable("not connected")),
                };
                state.socket = None;
                match ended {
                    Ended::Done => return None,
                    Ended::Failed(status) => return Some((Err(status), None)),
                    Ended::Dropped(status) => {
                        // Starting over would repeat what a stream without ids delivered.
                        let resumable = state.last_event_id.is_some() || !state.delivered;
                        let Some(reconnect) = state.resume.reconnect.filter(|_| resumable) else {
                            return Some((Err(status), None));
                        };
                        match again(&state.resume, reconnect, state.last_event_id.as_deref()).await {
                            Ok(socket) => state.socket = Some(socket),
                            Err(status) => return Some((Err(status), None)),
                        }
                    }
                }
            }
        })
    }

    /// Opens a new socket after backoff, until one subscribes or credentials are refused.
    async fn again(
        resume: &Resume,
        reconnect: crate::client::ws::Reconnect,
        last_event_id: Option<&str>,
    ) -> Result<Socket, Status> {
        let mut attempt = 0;
        loop {
            tokio::time::sleep(reconnect.delay(attempt)).await;
            attempt += 1;
            let opened = open(&resume.url, &resume.headers, &resume.query, &resume.variables, last_event_id).await;
            match opened {
                Ok(socket) => return Ok(socket),
                Err(status) if matches!(status.code(), Code::Unauthenticated | Code::PermissionDenied) => {
                    return Err(status);
                }
                Err(status) if reconnect.max_attempts.is_some_and(|max| attempt >= max) => return Err(status),
                Err(_) => {}
            }
        }
    }

    /// The next event's data and id, or how the subscription ended.
    async fn next(socket: &mut Socket, url: &str) -> Result<(Value, Option<String>), Ended> {
        loop {
            let frame = match socket.next().await {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Close(frame))) => {
                    return Err(match frame.map(|f| (u16::from(f.code), f.reason.to_string())) {
                        Some((1000, _)) => Ended::Done,
                        Some((code @ (4401 | 4403 | 4400 | 4409), reason)) => {
                            Ended::Failed(closed(Some((code, reason))))
                        }
                        other => Ended::Dropped(closed(other)),
                    });
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(Ended::Dropped(Status::unavailable(format!("{url}: {e}")))),
                None => return Err(Ended::Dropped(Status::unavailable(format!("{url} closed the subscription")))),
            };
            let Ok(frame) = serde_json::from_str::<Value>(&frame) else { continue };
            match frame.get("type").and_then(Value::as_str) {
                Some("next") => {
                    let payload = frame.get("payload").cloned().unwrap_or(Value::Null);
                    if let Some(errors) = payload.get("errors").filter(|e| !e.is_null()) {
                        let status = error(errors);
                        // The server shutting down ends subscriptions as unavailable: resume elsewhere.
                        return Err(if status.code() == Code::Unavailable {
                            Ended::Dropped(status)
                        } else {
                            Ended::Failed(status)
                        });
                    }
                    let id = payload.pointer("/extensions/eventId").and_then(Value::as_str).map(str::to_owned);
                    return Ok((payload.get("data").cloned().unwrap_or(Value::Null), id));
                }
                Some("error") => return Err(Ended::Failed(error(frame.get("payload").unwrap_or(&Value::Null)))),
                Some("complete") => return Err(Ended::Done),
                Some("ping") => {
                    let _ = socket.send(Message::text(json!({"type": "pong"}).to_string())).await;
                }
                _ => {}
            }
        }
    }
}

/// A GraphQL error object as a status: its message, and the gRPC code its
/// `extensions.code` names (`default` without one).
fn error_status(error: &Value, default: Code) -> Status {
    let message = error.get("message").and_then(Value::as_str).unwrap_or("GraphQL error");
    let code = error
        .pointer("/extensions/code")
        .and_then(Value::as_str)
        .and_then(|c| Code::from_name(&c.to_ascii_lowercase()))
        .unwrap_or(default);
    Status::new(code, message)
}

/// GraphQL's nulls are proto3 JSON's absent fields.
fn strip_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            Value::Object(map.into_iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k, strip_nulls(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}
