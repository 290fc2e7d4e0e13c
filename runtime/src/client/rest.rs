//! The typed REST client's transport: a request message becomes the URL of
//! its binding (path variables filled in), query parameters and a JSON body,
//! exactly as the server transcodes them back.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

use crate::core::http_rule::{HttpRule, Segment};
use crate::core::message::ApiMessage;
use crate::{Code, Status};

/// What stays unencoded in a path segment (RFC 3986 unreserved characters).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A REST connection for the generated typed REST clients.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: crate::client::Endpoint,
}

impl Client {
    /// A client of the server at `base`, for example `http://127.0.0.1:8080`.
    pub fn new(base: impl Into<String>) -> Client {
        Client { endpoint: crate::client::Endpoint::new(base) }
    }

    /// Headers sent with every call, for example `authorization`.
    pub fn headers_mut(&mut self) -> &mut http::HeaderMap {
        self.endpoint.headers_mut()
    }

    /// Calls a method with `request` through the first of its bindings whose
    /// path patterns the request's values fit.
    pub async fn call<Req: ApiMessage, Resp: ApiMessage>(
        &self,
        rules: &'static [HttpRule],
        request: &Req,
    ) -> Result<Resp, Status> {
        let json = serde_json::to_value(request)
            .map_err(|e| Status::internal(format!("cannot write the request as JSON: {e}")))?;
        let Value::Object(mut fields) = json else {
            return Err(Status::internal("a request message is not a JSON object"));
        };
        let mut first_error = None;
        let mut chosen = None;
        for rule in rules {
            match render_path(rule, &fields) {
                Ok(found) => {
                    chosen = Some((rule, found));
                    break;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let Some((rule, (path, bound))) = chosen else {
            return Err(first_error.unwrap_or_else(|| Status::unimplemented("this method has no HTTP binding")));
        };
        for field in &bound {
            take(&mut fields, field);
        }
        let body = match rule.body {
            "" => None,
            "*" => Some(Value::Object(std::mem::take(&mut fields))),
            field => Some(take(&mut fields, field).unwrap_or(Value::Null)),
        };
        let query = if rule.body == "*" { String::new() } else { query_string(&fields) };
        let url =
            if query.is_empty() { self.endpoint.url(&path) } else { self.endpoint.url(&format!("{path}?{query}")) };
        let method = reqwest::Method::from_bytes(rule.method.as_bytes())
            .map_err(|_| Status::internal(format!("`{}` is not an HTTP method", rule.method)))?;
        let mut builder = self.endpoint.request(method, &url);
        if let Some(body) = body {
            builder = builder.json(&body);
        }
        let response = builder.send().await.map_err(|e| Status::unavailable(format!("{url}: {e}")))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| Status::unavailable(format!("{url}: {e}")))?;
        if !status.is_success() {
            return Err(error_from(status.as_u16(), &bytes));
        }
        let mut value: Value = if bytes.is_empty() {
            Value::Object(Map::new())
        } else {
            serde_json::from_slice(&bytes).map_err(|e| Status::internal(format!("the response is not JSON: {e}")))?
        };
        // With `response_body` the body is one field of the response.
        for part in rule.response_body.rsplit('.').filter(|p| !p.is_empty()) {
            let mut wrapper = Map::new();
            wrapper.insert(part.to_owned(), value);
            value = Value::Object(wrapper);
        }
        serde_json::from_value(value).map_err(|e| Status::internal(format!("the response does not fit its type: {e}")))
    }
}

/// The fields left over as a query string. Not inline in `call`: the
/// serializer is not `Sync`, and the call's future must be `Send`.
fn query_string(fields: &Map<String, Value>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in fields {
        add_query(&mut query, key, value);
    }
    query.finish()
}

/// The `Status` a REST error body (`{"code","message","details"}`) describes.
pub(crate) fn error_from(http: u16, body: &[u8]) -> Status {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let code = parsed.as_ref().and_then(|v| v.get("code")).and_then(Value::as_i64);
    let message = parsed.as_ref().and_then(|v| v.get("message")).and_then(Value::as_str);
    match (code, message) {
        (Some(code), Some(message)) => {
            let status = Status::new(Code::from_i32(i32::try_from(code).unwrap_or(2)), message);
            let details = parsed.as_ref().map(crate::core::wire::read_details).unwrap_or_default();
            details.into_iter().fold(status, Status::with_detail)
        }
        _ => Status::unknown(format!("HTTP {http}: {}", String::from_utf8_lossy(body))),
    }
}

/// Removes the value at a dotted JSON path, returning it.
fn take(fields: &mut Map<String, Value>, path: &str) -> Option<Value> {
    match path.split_once('.') {
        None => fields.remove(path),
        Some((head, rest)) => match fields.get_mut(head) {
            Some(Value::Object(inner)) => take(inner, rest),
            _ => None,
        },
    }
}

fn get<'a>(fields: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    match path.split_once('.') {
        None => fields.get(path),
        Some((head, rest)) => match fields.get(head) {
            Some(Value::Object(inner)) => get(inner, rest),
            _ => None,
        },
    }
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The path with variables filled in, and the fields they used.
fn render_path(rule: &HttpRule, fields: &Map<String, Value>) -> Result<(String, Vec<&'static str>), Status> {
    let mut path = String::new();
    let mut bound = Vec::new();
    for segment in rule.segments {
        path.push('/');
        match segment {
            Segment::Literal(l) => path.push_str(l),
            Segment::Any | Segment::Rest => {
                return Err(Status::internal(format!("{} has a wildcard outside a variable", rule.template)));
            }
            Segment::Var { field, pattern, default } => {
                let value =
                    get(fields, field).map(text).filter(|v| !v.is_empty()).unwrap_or_else(|| (*default).to_owned());
                if value.is_empty() {
                    return Err(Status::invalid_argument(format!("`{field}` is needed for the URL {}", rule.template)));
                }
                if !fits(pattern, &value) {
                    return Err(Status::invalid_argument(format!(
                        "`{field}` is `{value}`, which does not fit the URL {}",
                        rule.template
                    )));
                }
                let single = matches!(pattern, [Segment::Any]);
                let encoded: Vec<String> = if single {
                    vec![utf8_percent_encode(&value, SEGMENT).to_string()]
                } else {
                    value.split('/').map(|s| utf8_percent_encode(s, SEGMENT).to_string()).collect()
                };
                path.push_str(&encoded.join("/"));
                bound.push(*field);
            }
        }
    }
    if let Some(verb) = rule.verb {
        path.push(':');
        path.push_str(verb);
    }
    Ok((path, bound))
}

/// Whether a value fits a variable's pattern (`shelves/*`, `first/**`).
fn fits(pattern: &[Segment], value: &str) -> bool {
    if matches!(pattern, [Segment::Any]) {
        return true;
    }
    let parts: Vec<&str> = value.split('/').collect();
    let mut i = 0;
    for (n, p) in pattern.iter().enumerate() {
        match p {
            Segment::Literal(l) if parts.get(i) == Some(l) => i += 1,
            Segment::Any if parts.get(i).is_some_and(|s| !s.is_empty()) => i += 1,
            Segment::Rest if n + 1 == pattern.len() && i < parts.len() => i = parts.len(),
            _ => return false,
        }
    }
    i == parts.len()
}

/// Query parameters: repeated values repeat the key, messages and maps use
/// brackets (`publisher[name]=…`, `labels[k]=…`), as the server reads them.
fn add_query(query: &mut form_urlencoded::Serializer<'_, String>, key: &str, value: &Value) {
    match value {
        Value::Null => {}
        Value::Array(items) => {
            for item in items {
                add_query(query, key, item);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                add_query(query, &format!("{key}[{k}]"), v);
            }
        }
        other => {
            query.append_pair(key, &text(other));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn error_bodies_come_back_with_their_details() {
        let detail =
            crate::core::wkt::Any { type_url: "type.googleapis.com/google.rpc.ErrorInfo".into(), value: vec![8, 1] };
        let sent = Status::failed_precondition("not yet").with_detail(detail);
        let body = crate::core::wire::http_error_body(&sent).to_string();
        assert_eq!(error_from(400, body.as_bytes()), sent);
    }

    use super::*;

    static RULE: HttpRule = HttpRule {
        method: "PATCH",
        template: "/v1/{book.name=shelves/*/books/*}",
        segments: &[
            Segment::Literal("v1"),
            Segment::Var {
                field: "book.name",
                pattern: &[Segment::Literal("shelves"), Segment::Any, Segment::Literal("books"), Segment::Any],
                default: "",
            },
        ],
        verb: None,
        body: "book",
        response_body: "",
        status: 200,
    };

    #[test]
    fn paths_fill_variables_and_encode_values() {
        let fields = serde_json::json!({"book": {"name": "shelves/a b/books/7"}});
        let (path, bound) = render_path(&RULE, fields.as_object().unwrap()).unwrap();
        assert_eq!(path, "/v1/shelves/a%20b/books/7");
        assert_eq!(bound, ["book.name"]);
        assert_eq!(render_path(&RULE, &Map::new()).unwrap_err().code(), Code::InvalidArgument);
        let elsewhere = serde_json::json!({"book": {"name": "authors/1"}});
        assert!(render_path(&RULE, elsewhere.as_object().unwrap()).is_err(), "a value must fit the pattern");
    }

    #[test]
    fn values_fit_patterns() {
        assert!(fits(&[Segment::Literal("first"), Segment::Any], "first/x"));
        assert!(!fits(&[Segment::Literal("first"), Segment::Any], "second/x"));
        assert!(fits(&[Segment::Literal("second"), Segment::Rest], "second/a/b"));
        assert!(!fits(&[Segment::Literal("second"), Segment::Rest], "second"));
    }

    #[test]
    fn query_parameters_repeat_and_nest() {
        let mut q = form_urlencoded::Serializer::new(String::new());
        add_query(&mut q, "genres", &serde_json::json!(["A", "B"]));
        add_query(&mut q, "publisher", &serde_json::json!({"name": "Ace"}));
        assert_eq!(q.finish(), "genres=A&genres=B&publisher%5Bname%5D=Ace");
    }

    #[test]
    fn error_bodies_become_statuses() {
        let s = error_from(404, br#"{"code":5,"message":"no shelf","details":[]}"#);
        assert_eq!((s.code(), s.message()), (Code::NotFound, "no shelf"));
        assert_eq!(error_from(502, b"bad gateway").code(), Code::Unknown);
    }
}
