//! HTTP caching of reads, for every protocol that reads by GET (REST
//! bindings, Connect GET, tRPC queries, GraphQL queries): the method's cache
//! hint as `Cache-Control`, a strong `ETag` of the bytes sent, and `304 Not
//! Modified` without a body when the client's `If-None-Match` already names
//! them (RFC 9110, sections 8.8.3, 13.1.2 and 15.4.5).

use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};

use crate::core::service::CacheHint;

/// `Cache-Control` for a hint: `public, max-age=60` or `private, max-age=60`.
/// Written without `format!`: every read by GET with a hint sends one.
pub(crate) fn cache_control(hint: CacheHint) -> HeaderValue {
    let scope: &[u8] = if hint.private { b"private, max-age=" } else { b"public, max-age=" };
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(hint.max_age).as_bytes();
    // Exactly the length: `Bytes` then takes the buffer without reallocating it.
    let mut value = Vec::with_capacity(scope.len() + digits.len());
    value.extend_from_slice(scope);
    value.extend_from_slice(digits);
    HeaderValue::from_maybe_shared(Bytes::from(value)).unwrap_or(HeaderValue::from_static("no-cache"))
}

/// A strong entity tag of `body`: its 128-bit XXH3, quoted. Two different
/// bodies get different tags (a collision is as likely as 2^-128), so a
/// cache may serve one for the other only when equal. Hashed on every read
/// by GET, so a fast non-cryptographic hash: nothing depends on an
/// adversary being unable to forge a tag for their own response.
pub(crate) fn etag(body: &[u8]) -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let hash = xxhash_rust::xxh3::xxh3_128(body).to_be_bytes();
    let mut tag = Vec::with_capacity(34);
    tag.push(b'"');
    for byte in hash {
        tag.extend_from_slice(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 15)]]);
    }
    tag.push(b'"');
    HeaderValue::from_maybe_shared(Bytes::from(tag)).unwrap_or(HeaderValue::from_static("\"\""))
}

/// Whether the request's `If-None-Match` names `tag` (or is `*`), compared
/// weakly as RFC 9110 says for this header: a `W/` prefix does not matter.
pub(crate) fn matches(request: &HeaderMap, tag: &HeaderValue) -> bool {
    let Ok(tag) = tag.to_str() else { return false };
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|list| list.split(',').map(str::trim).any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag))
}

/// A successful read's response: `body` with `headers`, its `ETag` and, with
/// a hint, `Cache-Control`; or 304 with the same validators and no body when
/// the client already holds these bytes.
pub(crate) fn respond(request: &HeaderMap, hint: Option<CacheHint>, mut headers: HeaderMap, body: Bytes) -> Response {
    let tag = etag(&body);
    if let Some(hint) = hint {
        headers.insert(header::CACHE_CONTROL, cache_control(hint));
    }
    let not_modified = matches(request, &tag);
    headers.insert(header::ETAG, tag);
    if not_modified {
        headers.remove(header::CONTENT_TYPE);
        headers.remove(header::CONTENT_ENCODING);
        return response(StatusCode::NOT_MODIFIED, headers, axum::body::Body::empty());
    }
    response(StatusCode::OK, headers, body.into())
}

/// A response of `body` with `status` and exactly `headers`: the map is
/// moved in whole, where axum's `(status, headers, body)` inserts every
/// header again into the response's own map, on every call.
pub(crate) fn response(status: StatusCode, headers: HeaderMap, body: axum::body::Body) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matching_if_none_match_is_304_with_the_validators_and_no_body() {
        let tag = etag(b"{\"name\":\"shelves/1\"}");
        assert_eq!(tag.to_str().map(str::len).ok(), Some(34), "a quoted 128-bit hash");
        assert_ne!(tag, etag(b"{\"name\":\"shelves/2\"}"));
        let hint = Some(CacheHint { max_age: 60, private: false });
        let fresh = respond(&HeaderMap::new(), hint, HeaderMap::new(), Bytes::from_static(b"{}"));
        assert_eq!(fresh.status(), StatusCode::OK);
        assert_eq!(fresh.headers()[header::CACHE_CONTROL], "public, max-age=60");
        let tag = fresh.headers()[header::ETAG].clone();
        for sent in [
            tag.to_str().unwrap_or_default().to_owned(),
            format!("\"x\", W/{}", tag.to_str().unwrap_or_default()),
            "*".into(),
        ] {
            let mut request = HeaderMap::new();
            request.insert(header::IF_NONE_MATCH, HeaderValue::try_from(sent.as_str()).expect("a header"));
            let cached = respond(&request, hint, HeaderMap::new(), Bytes::from_static(b"{}"));
            assert_eq!(cached.status(), StatusCode::NOT_MODIFIED, "{sent}");
            assert_eq!(cached.headers()[header::ETAG], tag);
        }
        let mut other = HeaderMap::new();
        other.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"other\""));
        assert_eq!(respond(&other, None, HeaderMap::new(), Bytes::new()).status(), StatusCode::OK);
        let private = CacheHint { max_age: 5, private: true };
        assert_eq!(cache_control(private), "private, max-age=5");
    }
}
