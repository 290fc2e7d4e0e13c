//! HTTP requests as request messages: path variables, query parameters and
//! JSON bodies assembled into one proto3-JSON object (path values win over
//! the query, the query over the body), typed by the services' embedded
//! descriptors. REST bindings and SSE's `/sse/…` paths read requests this way.

use std::collections::BTreeSet;

use bytes::Bytes;
use http::header;
use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};
use serde_json::{Map, Value};

use crate::core::context::Protocol;
use crate::core::http_rule::{HttpRule, Split, lengths, match_path, match_split, specificity};
use crate::core::pipeline::{Method, Pipeline};
use crate::core::service::ServiceDef;
use crate::core::status::{Code, Status};

/// One `google.api.http` binding of a served method.
pub(crate) struct Binding {
    pub(crate) method: Method,
    pub(crate) rule: &'static HttpRule,
    /// The request type, for typing path and query values.
    input: Option<MessageDescriptor>,
    /// The request's top-level fields the template's variables name, found
    /// once; a variable with a dotted path or an unknown field has none.
    path_fields: Vec<(&'static str, Option<FieldDescriptor>)>,
    /// How many path segments the template can match (see [`lengths`]).
    lengths: (usize, Option<usize>),
}

/// What a request's method and path find among the bindings.
pub(crate) enum Found<'a> {
    /// The binding, and its path variables' values.
    Binding(&'a Binding, Vec<(&'static str, String)>),
    /// Bindings have the path, but not for this HTTP method: the ones they take.
    NotAllowed(BTreeSet<&'static str>),
    None,
}

/// Every binding of every method REST serves, and the request types of
/// every method, read once from the services' embedded descriptors.
pub(crate) struct Bindings {
    bindings: Vec<Binding>,
    pool: DescriptorPool,
}

impl Bindings {
    pub(crate) fn new(pipeline: &Pipeline) -> Bindings {
        let pool = pool(pipeline.services());
        let mut bindings = Vec::new();
        for method in pipeline.served(Protocol::Rest) {
            for rule in method.info().http {
                let input = pool.get_message_by_name(method.info().input);
                let path_fields = variables(rule.segments)
                    .map(|field| {
                        let top = input.as_ref().filter(|_| !field.contains('.'));
                        (field, top.and_then(|m| resolve(m, field)))
                    })
                    .collect();
                bindings.push(Binding { method: method.clone(), rule, input, path_fields, lengths: lengths(rule) });
            }
        }
        // Verb rules first: `…/books/7:move` is MoveBook's path, not GetBook's
        // with a name ending in `:move`. Then the most specific first.
        bindings.sort_by_key(|b| std::cmp::Reverse((b.rule.verb.is_some(), specificity(b.rule))));
        Bindings { bindings, pool }
    }

    /// The binding of `method` (an HTTP method) at `path`: the first, most
    /// specific one whose template fits, among the verb rules when one of
    /// them fits the path, else among the others.
    pub(crate) fn find(&self, method: &str, path: &str) -> Found<'_> {
        // A `:verb` can only match when the last segment has a `:`; most paths skip the verb rules.
        let verb = path.rfind('/').is_some_and(|slash| path[slash..].contains(':'))
            && self.bindings.iter().any(|b| b.rule.verb.is_some() && match_path(b.rule, path).is_some());
        let class = self.bindings.iter().filter(|b| b.rule.verb.is_some() == verb);
        // Rules without a verb match the whole path: split it once for all of them.
        let segments = if verb { None } else { Split::new(path) };
        let fit = |b: &Binding| match &segments {
            Some(segments) => {
                let (min, max) = b.lengths;
                let n = segments.len();
                if n < min || max.is_some_and(|max| n > max) { None } else { match_split(b.rule, segments) }
            }
            None if verb => match_path(b.rule, path),
            None => None,
        };
        // The HTTP method first: matching a template is the costly part.
        let mut same_method = class.clone().filter(|b| b.rule.method == method);
        if let Some((binding, vars)) = same_method.find_map(|b| fit(b).map(|vars| (b, vars))) {
            return Found::Binding(binding, vars);
        }
        let allow: BTreeSet<&'static str> = class.filter(|b| fit(b).is_some()).map(|b| b.rule.method).collect();
        if allow.is_empty() { Found::None } else { Found::NotAllowed(allow) }
    }

    /// The request type called `name`.
    pub(crate) fn message(&self, name: &str) -> Option<MessageDescriptor> {
        self.pool.get_message_by_name(name)
    }
}

impl Binding {
    /// The request of a call through this binding, as proto3 JSON: the body
    /// (all of it, one field of it, or none, as the rule says), then the
    /// query parameters, then the path values, which win.
    pub(crate) fn request(
        &self,
        vars: &[(&'static str, String)],
        headers: &http::HeaderMap,
        uri: &http::Uri,
        body: Bytes,
        limit: usize,
    ) -> Result<Bytes, Status> {
        let rule = self.rule;
        if rule.body.is_empty()
            && uri.query().unwrap_or_default().is_empty()
            && let Some(request) = self.path_only(vars)?
        {
            return Ok(request);
        }
        let mut object = Map::new();
        if !rule.body.is_empty() {
            let value = read_json(headers, body, limit)?;
            if rule.body == "*" {
                object = into_object(value)?;
            } else {
                set_path(&mut object, self.input.as_ref(), rule.body, value)?;
            }
        }
        path_and_query(&mut object, rule, self.input.as_ref(), vars, uri.query().unwrap_or_default())?;
        Ok(to_bytes(object))
    }
}

impl Binding {
    /// The request when only the path carries it (no body, no query) and
    /// every variable is a top-level field: the same object as the general
    /// way builds, written straight to JSON. `None` for anything else.
    fn path_only(&self, vars: &[(&'static str, String)]) -> Result<Option<Bytes>, Status> {
        let field = |name: &str| self.path_fields.iter().find(|(f, _)| *f == name).and_then(|(_, d)| d.as_ref());
        let mut json = Vec::with_capacity(64);
        json.push(b'{');
        for (i, (name, value)) in vars.iter().enumerate() {
            let Some(descriptor) = field(name) else { return Ok(None) };
            let key = descriptor.json_name();
            // Two variables for one field: the general way decides which wins.
            if vars[..i].iter().any(|(other, _)| field(other).is_some_and(|d| d.json_name() == key)) {
                return Ok(None);
            }
            if i > 0 {
                json.push(b',');
            }
            // Most path variables are resource names: a string field needs no `Value`.
            let plain = !descriptor.is_map() && matches!(descriptor.kind(), Kind::String);
            let typed = if plain { None } else { Some(typed_value(descriptor, value, name)?) };
            let written = serde_json::to_writer(&mut json, key)
                .and_then(|()| {
                    json.push(b':');
                    match &typed {
                        Some(typed) => serde_json::to_writer(&mut json, typed),
                        None => serde_json::to_writer(&mut json, value),
                    }
                })
                .map_err(|e| Status::internal(format!("cannot write the request as JSON: {e}")));
            written?;
        }
        json.push(b'}');
        Ok(Some(Bytes::from(json)))
    }
}

/// The field paths of a template's variables, in order.
fn variables(segments: &'static [crate::core::http_rule::Segment]) -> impl Iterator<Item = &'static str> {
    segments.iter().filter_map(|s| match s {
        crate::core::http_rule::Segment::Var { field, .. } => Some(*field),
        _ => None,
    })
}

/// The request of a call by RPC name over plain HTTP (SSE's `/sse/…`): a
/// JSON body when there is one, else the query string typed by `input`.
pub(crate) fn rpc_request(
    input: Option<&MessageDescriptor>,
    parts: &http::request::Parts,
    body: Bytes,
    limit: usize,
) -> Result<Bytes, Status> {
    let object = if parts.method == http::Method::POST {
        into_object(read_json(&parts.headers, body, limit)?)?
    } else {
        let mut object = Map::new();
        query(&mut object, input, parts.uri.query().unwrap_or_default(), "", &[])?;
        object
    };
    Ok(to_bytes(object))
}

fn into_object(value: Value) -> Result<Map<String, Value>, Status> {
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(Status::invalid_argument("the body must be a JSON object")),
    }
}

fn to_bytes(object: Map<String, Value>) -> Bytes {
    Bytes::from(serde_json::to_vec(&Value::Object(object)).unwrap_or_default())
}

/// Builds one descriptor pool from every service's embedded descriptors.
pub(crate) fn pool(services: &[ServiceDef]) -> DescriptorPool {
    let mut pool = DescriptorPool::new();
    let mut seen: Vec<*const u8> = Vec::new();
    for s in services {
        let fds = s.info().file_descriptor_set;
        if seen.contains(&fds.as_ptr()) {
            continue;
        }
        seen.push(fds.as_ptr());
        if let Err(e) = pool.decode_file_descriptor_set(fds) {
            tracing::warn!("descriptors of {} are unusable for REST query typing: {e}", s.info().name);
        }
    }
    pool
}

/// Reads a JSON body: 415 for another content type, 413 over the limit,
/// 400 naming the position of malformed JSON. An empty body is `null`.
fn read_json(headers: &http::HeaderMap, body: Bytes, limit: usize) -> Result<Value, Status> {
    if let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        let mime = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if mime != "application/json" && !mime.ends_with("+json") {
            return Err(Status::new(Code::InvalidArgument, format!("the body must be application/json, not {mime}"))
                .with_http_status(415));
        }
    }
    let bytes = crate::core::body::at_most(body, limit)?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    crate::core::json::value_from_slice(&bytes)
        .map_err(|e| Status::invalid_argument(format!("the body is not valid JSON: {e}")))
}

/// Adds the query parameters (unless the body is `*`) and then the path
/// values (which win) to the request object the body started.
pub(crate) fn path_and_query(
    object: &mut Map<String, Value>,
    rule: &HttpRule,
    input: Option<&MessageDescriptor>,
    vars: &[(&'static str, String)],
    query_string: &str,
) -> Result<(), Status> {
    if rule.body != "*" {
        let top_body = rule.body.split('.').next().unwrap_or_default();
        let bound: Vec<&str> = vars.iter().map(|(f, _)| *f).collect();
        query(object, input, query_string, top_body, &bound)?;
    }
    for (field, value) in vars {
        let typed = match input.and_then(|m| resolve(m, field)) {
            Some(f) => typed_value(&f, value, field)?,
            None => Value::String(value.clone()),
        };
        set_path(object, input, field, typed)?;
    }
    Ok(())
}

/// The field a dotted path names, accepting proto and JSON names.
fn resolve(message: &MessageDescriptor, path: &str) -> Option<FieldDescriptor> {
    let mut current = message.clone();
    let parts: Vec<&str> = path.split('.').collect();
    for (i, name) in parts.iter().enumerate() {
        let field = current.get_field_by_name(name).or_else(|| current.get_field_by_json_name(name))?;
        if i + 1 == parts.len() {
            return Some(field);
        }
        match field.kind() {
            Kind::Message(m) if !field.is_list() && !field.is_map() => current = m,
            _ => return None,
        }
    }
    None
}

/// Sets `value` at a dotted field path, keyed by JSON names, replacing any
/// value given under either name (path values beat body values).
fn set_path(
    object: &mut Map<String, Value>,
    message: Option<&MessageDescriptor>,
    path: &str,
    value: Value,
) -> Result<(), Status> {
    let parts: Vec<&str> = path.split('.').collect();
    let mut current = object;
    let mut descriptor = message.cloned();
    for (i, name) in parts.iter().enumerate() {
        let field =
            descriptor.as_ref().and_then(|m| m.get_field_by_name(name).or_else(|| m.get_field_by_json_name(name)));
        let key = field.as_ref().map_or_else(|| (*name).to_owned(), |f| f.json_name().to_owned());
        if let Some(f) = &field
            && f.name() != key
        {
            current.remove(f.name());
        }
        if i + 1 == parts.len() {
            current.insert(key, value);
            return Ok(());
        }
        descriptor = field.and_then(|f| match f.kind() {
            Kind::Message(m) => Some(m),
            _ => None,
        });
        let entry = current.entry(key).or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        current = match entry {
            Value::Object(map) => map,
            _ => return Err(Status::internal("a field path crosses a non-object")),
        };
    }
    Ok(())
}

/// A query or path string as the JSON value the field's type expects.
fn typed_value(field: &FieldDescriptor, raw: &str, name: &str) -> Result<Value, Status> {
    let kind = if field.is_map() {
        match field.kind() {
            Kind::Message(entry) => entry.map_entry_value_field().kind(),
            other => other,
        }
    } else {
        field.kind()
    };
    scalar(&kind, raw, name)
}

fn scalar(kind: &Kind, raw: &str, name: &str) -> Result<Value, Status> {
    Ok(match kind {
        Kind::Bool => match raw {
            "true" | "1" => Value::Bool(true),
            "false" | "0" => Value::Bool(false),
            _ => return Err(Status::invalid_argument(format!("`{name}` must be true or false, not `{raw}`"))),
        },
        Kind::Enum(e) => match raw.parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) if e.get_value_by_name(raw).is_some() => Value::String(raw.to_owned()),
            Err(_) => {
                return Err(Status::invalid_argument(format!("`{name}`: `{raw}` is not a value of {}", e.full_name())));
            }
        },
        Kind::Message(m) => match m.full_name() {
            // Wrappers take their wrapped value; other well-known types their string form.
            wrapper
                if wrapper.starts_with("google.protobuf.")
                    && wrapper.ends_with("Value")
                    && wrapper != "google.protobuf.Value" =>
            {
                let inner = m.get_field_by_name("value").map(|f| f.kind()).unwrap_or(Kind::String);
                scalar(&inner, raw, name)?
            }
            "google.protobuf.Timestamp" | "google.protobuf.Duration" | "google.protobuf.FieldMask" => {
                Value::String(raw.to_owned())
            }
            other => {
                return Err(Status::invalid_argument(format!(
                    "`{name}` is a {other}; set its fields as `{name}.<field>=…`"
                )));
            }
        },
        _ => Value::String(raw.to_owned()),
    })
}

/// Splits a query key into parts: `a.b`, `a[b]` and `labels[key]` alike.
fn key_parts(key: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut rest = key;
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('[') {
            // A bracketed part is taken whole: map keys may contain dots.
            let end = inner.find(']').unwrap_or(inner.len());
            parts.push(inner[..end].to_owned());
            rest = inner.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            if end > 0 {
                parts.push(rest[..end].to_owned());
            }
            rest = rest[end..].strip_prefix('.').unwrap_or(&rest[end..]);
        }
    }
    parts
}

/// Adds query parameters to `object`: dotted or bracketed paths (`a.b`,
/// `a[b]`), repeated fields by repetition, maps as `field[key]=value`.
/// Unknown parameters are ignored.
fn query(
    object: &mut Map<String, Value>,
    message: Option<&MessageDescriptor>,
    query: &str,
    body_field: &str,
    bound: &[&str],
) -> Result<(), Status> {
    let Some(message) = message else { return Ok(()) };
    // form_urlencoded replaces invalid UTF-8 silently; a request must not change meaning that way.
    for pair in query.split('&') {
        if percent_encoding::percent_decode_str(pair).decode_utf8().is_err() {
            return Err(Status::invalid_argument(format!(
                "the query parameter `{pair}` is not valid UTF-8 once percent-decoded"
            )));
        }
    }
    let mut seen = BTreeSet::new();
    for (key, raw) in crate::core::query::pairs(query) {
        let parts = key_parts(&key);
        // Walk fields until the parts run out or a map takes the next part as its key.
        let mut fields = Vec::new();
        let mut current = Some(message.clone());
        let mut map_key = None;
        for (i, part) in parts.iter().enumerate() {
            let Some(field) =
                current.as_ref().and_then(|m| m.get_field_by_name(part).or_else(|| m.get_field_by_json_name(part)))
            else {
                fields.clear();
                break;
            };
            let is_map = field.is_map();
            current = match field.kind() {
                Kind::Message(m) if !field.is_list() && !is_map => Some(m),
                _ => None,
            };
            fields.push(field);
            if is_map {
                if i + 2 == parts.len() {
                    map_key = Some(parts[i + 1].clone());
                } else {
                    fields.clear();
                }
                break;
            }
        }
        let Some(field) = fields.last().cloned() else { continue };
        if fields.len() < parts.len() && map_key.is_none() {
            continue;
        }
        let path: Vec<String> = fields.iter().map(|f| f.name().to_owned()).collect();
        let dotted = path.join(".");
        if !body_field.is_empty() && path[0] == body_field {
            continue;
        }
        if bound.iter().any(|b| *b == dotted || resolve(message, b).is_some_and(|f| f == field)) {
            continue;
        }
        let value = typed_value(&field, &raw, &key)?;
        let json_path: Vec<String> = fields.iter().map(|f| f.json_name().to_owned()).collect();
        if field.is_map() {
            let Some(k) = map_key else {
                return Err(Status::invalid_argument(format!("`{key}` is a map; write `{key}[key]=value`")));
            };
            let mut entry = Map::new();
            entry.insert(k, value);
            merge_at(object, &json_path, Value::Object(entry));
        } else if field.is_list() {
            push_at(object, &json_path, value);
        } else {
            if !seen.insert(json_path.clone()) {
                return Err(Status::invalid_argument(format!(
                    "`{key}` was given more than once, but it holds one value"
                )));
            }
            set_path(object, Some(message), &dotted, value)?;
        }
    }
    Ok(())
}

fn slot<'a>(object: &'a mut Map<String, Value>, path: &[String]) -> Option<&'a mut Value> {
    let (last, parents) = path.split_last()?;
    let mut current = object;
    for p in parents {
        let entry = current.entry(p.clone()).or_insert_with(|| Value::Object(Map::new()));
        current = entry.as_object_mut()?;
    }
    Some(current.entry(last.clone()).or_insert(Value::Null))
}

fn push_at(object: &mut Map<String, Value>, path: &[String], value: Value) {
    if let Some(slot) = slot(object, path) {
        match slot {
            Value::Array(items) => items.push(value),
            other => *other = Value::Array(vec![value]),
        }
    }
}

fn merge_at(object: &mut Map<String, Value>, path: &[String], value: Value) {
    if let (Some(slot), Value::Object(entries)) = (slot(object, path), value) {
        match slot {
            Value::Object(map) => map.extend(entries),
            other => *other = Value::Object(entries),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_keys_split_on_dots_and_brackets() {
        assert_eq!(key_parts("publisher.name"), ["publisher", "name"]);
        assert_eq!(key_parts("publisher[name]"), ["publisher", "name"]);
        assert_eq!(key_parts("labels[a.b]"), ["labels", "a.b"]);
        assert_eq!(key_parts("a[b][c].d"), ["a", "b", "c", "d"]);
        assert_eq!(key_parts("pageSize"), ["pageSize"]);
    }
}
