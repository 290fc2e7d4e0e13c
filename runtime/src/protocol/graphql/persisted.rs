//! Apollo's Automatic Persisted Queries: a request may carry
//! `extensions.persistedQuery = {version: 1, sha256Hash}` instead of its
//! query. An unknown hash answers `PersistedQueryNotFound`, on which Apollo
//! Client's link sends the query with its hash once, and the server keeps it,
//! so the next requests (GETs, cacheable by proxies) carry only the hash.

use std::sync::Arc;

use axum::response::Response;
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::{Lru, graphql_error};

/// Why a request ends before it runs: its HTTP status, message and `extensions.code`.
#[derive(Debug)]
pub(super) struct Refusal(u16, String, &'static str);

impl Refusal {
    pub(super) fn into_response(self) -> Response {
        graphql_error(self.0, &self.1, self.2)
    }
}

/// The server's persisted queries: their text by SHA-256 (lower-case hex).
pub(super) struct Persisted(Lru<Arc<str>>);

impl Persisted {
    /// Keeps at most `capacity` queries; 0 turns APQ off.
    pub(super) fn new(capacity: usize) -> Persisted {
        Persisted(Lru::new(capacity))
    }

    /// Reads the request's `persistedQuery`: a hash alone becomes the query
    /// it stands for; a hash with its query is checked against it and
    /// returned, to be kept once the query has passed the request's checks
    /// ([`Persisted::keep`]). `Err` when the request ends here.
    pub(super) fn resolve(&self, request: &mut async_graphql::Request) -> Result<Option<String>, Refusal> {
        let Some(extension) = request.extensions.0.remove("persistedQuery") else { return Ok(None) };
        if self.0.capacity == 0 {
            // Apollo Client's link then stops sending hashes to this server.
            return Err(Refusal(200, "PersistedQueryNotSupported".to_owned(), "PERSISTED_QUERY_NOT_SUPPORTED"));
        }
        let extension = extension.into_json().unwrap_or(Json::Null);
        let invalid = |message: String| Err(Refusal(400, message, "INVALID_ARGUMENT"));
        match extension.get("version") {
            Some(version) if version.as_i64() == Some(1) => {}
            Some(version) => {
                return invalid(format!("persistedQuery version {version} is not supported: send version 1"));
            }
            None => return invalid("persistedQuery has no version: send version 1".to_owned()),
        }
        let hash = match extension.get("sha256Hash").and_then(Json::as_str) {
            Some(hash) if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => hash.to_ascii_lowercase(),
            _ => return invalid("persistedQuery.sha256Hash must be a SHA-256 in 64 hexadecimal digits".to_owned()),
        };
        if request.query.is_empty() {
            let Some(query) = self.0.get(&hash) else {
                // Exactly what Apollo Client's link retries on.
                return Err(Refusal(200, "PersistedQueryNotFound".to_owned(), "PERSISTED_QUERY_NOT_FOUND"));
            };
            request.query = query.to_string();
            return Ok(None);
        }
        if sha256_hex(&request.query) != hash {
            let message =
                "persistedQuery.sha256Hash is not the SHA-256 of the query (provided sha does not match query)";
            return Err(Refusal(400, message.to_owned(), "PERSISTED_QUERY_HASH_MISMATCH"));
        }
        Ok(Some(hash))
    }

    /// Keeps `query` under `hash`, which [`Persisted::resolve`] checked.
    pub(super) fn keep(&self, hash: &str, query: &str) {
        self.0.insert(hash, Arc::from(query));
    }
}

/// The SHA-256 of `text` in lower-case hex, as Apollo Client hashes queries.
fn sha256_hex(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::{Persisted, sha256_hex};

    fn request(query: &str, extension: serde_json::Value) -> async_graphql::Request {
        let mut request = async_graphql::Request::new(query);
        let value = async_graphql::Value::from_json(extension).expect("a value");
        request.extensions.0.insert("persistedQuery".to_owned(), value);
        request
    }

    fn code(refusal: super::Refusal) -> (u16, String) {
        let response = refusal.into_response();
        let status = response.status().as_u16();
        let body = futures_util::FutureExt::now_or_never(http_body_util::BodyExt::collect(response.into_body()))
            .and_then(Result::ok)
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        (status, json["errors"][0]["extensions"]["code"].as_str().unwrap_or_default().to_owned())
    }

    #[test]
    fn hashes_register_resolve_and_are_checked() {
        let store = Persisted::new(1);
        let query = "{ __typename }";
        let hash = sha256_hex(query);
        assert_eq!(hash, "7f56e67dd21ab3f30d1ff8b7bed08893f0a0db86449836189b361dd1e56ddb4b");
        let pq = serde_json::json!({"version": 1, "sha256Hash": hash});

        let refused = store.resolve(&mut request("", pq.clone())).expect_err("unknown");
        assert_eq!(code(refused), (200, "PERSISTED_QUERY_NOT_FOUND".to_owned()));
        let registered = store.resolve(&mut request(query, pq.clone())).expect("matches");
        assert_eq!(registered.as_deref(), Some(hash.as_str()));
        store.keep(&hash, query);
        let mut by_hash = request("", serde_json::json!({"version": 1, "sha256Hash": hash.to_uppercase()}));
        assert_eq!(store.resolve(&mut by_hash).expect("known"), None);
        assert_eq!(by_hash.query, query);
        assert!(by_hash.extensions.0.is_empty(), "the extension is consumed");

        let wrong = store.resolve(&mut request("{ other }", pq.clone())).expect_err("mismatch");
        assert_eq!(code(wrong), (400, "PERSISTED_QUERY_HASH_MISMATCH".to_owned()));
        for bad in [
            serde_json::json!({"version": 2, "sha256Hash": hash}),
            serde_json::json!({"sha256Hash": hash}),
            serde_json::json!({"version": 1, "sha256Hash": "abc"}),
            serde_json::json!("v1"),
        ] {
            let refused = store.resolve(&mut request("", bad)).expect_err("malformed");
            assert_eq!(code(refused), (400, "INVALID_ARGUMENT".to_owned()));
        }
        let plain = &mut async_graphql::Request::new(query);
        assert_eq!(store.resolve(plain).expect("no extension"), None);

        let off = Persisted::new(0);
        let refused = off.resolve(&mut request(query, pq)).expect_err("off");
        assert_eq!(code(refused), (200, "PERSISTED_QUERY_NOT_SUPPORTED".to_owned()));
    }
}
