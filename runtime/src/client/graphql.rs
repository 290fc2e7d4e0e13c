//! The typed GraphQL client's transport: a request message becomes the
//! operation's variables, and the selection set is every field of the
//! result, nested messages included to a bounded depth, read from the
//! generated SDL. `raw` runs any query.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use async_graphql::parser::types::{BaseType, Type, TypeKind, TypeSystemDefinition};
use serde_json::{Map, Value};

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
    let mut roots = HashMap::from([("Query".to_owned(), "query"), ("Mutation".to_owned(), "mutation")]);
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
/// Relations are left out: they are not fields of the message, and each
/// would cost the server a loader call.
fn selection(schema: &Schema, relations: &[crate::Relation], ty: &Type, depth: usize) -> String {
    let type_name = base_name(ty);
    let Some(TypeKind::Object(o)) = schema.types.get(type_name) else { return String::new() };
    let mut parts = Vec::new();
    for f in &o.fields {
        let name = f.node.name.node.to_string();
        if relations.iter().any(|r| r.parent == type_name && r.field == name) {
            continue;
        }
        let inner = &f.node.ty.node;
        match schema.types.get(base_name(inner)) {
            Some(TypeKind::Object(_)) if depth > 0 => {
                parts.push(format!("{name} {}", selection(schema, relations, inner, depth - 1)))
            }
            Some(TypeKind::Object(_)) => {}
            _ => parts.push(name),
        }
    }
    format!("{{ {} }}", parts.join(" "))
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
        Client { endpoint, url, sdl, relations: &[], schema: Arc::default() }
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
            let message = error.get("message").and_then(Value::as_str).unwrap_or("GraphQL error");
            let code = error
                .pointer("/extensions/code")
                .and_then(Value::as_str)
                .and_then(|c| Code::from_name(&c.to_ascii_lowercase()))
                .unwrap_or(Code::InvalidArgument);
            return Err(Status::new(code, message));
        }
        Ok(reply.get("data").cloned().unwrap_or(Value::Null))
    }

    /// Calls the root field `field` with `request` as its arguments and reads
    /// every field of the result.
    pub async fn call<Req: ApiMessage, Resp: ApiMessage>(&self, field: &str, request: &Req) -> Result<Resp, Status> {
        let schema = self.schema()?;
        let RootField { keyword, args, result } = schema
            .fields
            .get(field)
            .ok_or_else(|| Status::unimplemented(format!("the schema has no field `{field}`")))?;
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
        let query = format!(
            "{keyword}{definitions} {{ {field}{arguments} {} }}",
            selection(schema, self.relations, result, SELECTION_DEPTH)
        );
        let data = self.raw(&query, Value::Object(variables)).await?;
        let value = data.get(field).cloned().unwrap_or(Value::Null);
        // `Boolean` results stand for `Empty`.
        let value = if value.is_boolean() {
            Value::Object(Map::new())
        } else {
            strip_nulls(convert(schema, value, result, false))
        };
        serde_json::from_value(value)
            .map_err(|e| Status::internal(format!("the GraphQL result does not fit its type: {e}")))
    }
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
