//! The hand-written HTTP baseline: axum handlers with serde (pbjson's proto3 JSON) serving GetBook
//! three ways, each shaped like one of apigen's:
//!
//! - REST: `GET /v1/shelves/{shelf}/books/{book}` → the book;
//! - Connect: `POST /bookstore.v1.Bookstore/GetBook` with a JSON body → the book;
//! - tRPC: `GET /trpc/bookstore.getBook?input={"name":…}` → `{"result":{"data":book}}`.
//!
//! The reads by GET answer with the HTTP caching contract the schema gives GetBook (as apigen's
//! do): `Cache-Control: public, max-age=30`, a strong `ETag` of the body, and 304 when the
//! request's `If-None-Match` names it.
//!
//! `baseline-axum [--addr HOST:PORT]`; prints `listening on http://ADDR` once ready.

use std::sync::Arc;

use apigen_bench_serve::pb::GetBookRequest;
use apigen_bench_serve::{Book, Error, Store, addr_from_args};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

type Shared = State<Arc<Store>>;

fn status(error: &Error) -> StatusCode {
    match error {
        Error::InvalidArgument(_) => StatusCode::BAD_REQUEST,
        Error::NotFound(_) => StatusCode::NOT_FOUND,
    }
}

/// A read's JSON body with its validators, or 304 when the client holds it already.
fn cached(request: &HeaderMap, value: &impl Serialize) -> Response {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let Ok(body) = serde_json::to_vec(value) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let mut tag = Vec::with_capacity(34);
    tag.push(b'"');
    for byte in xxhash_rust::xxh3::xxh3_128(&body).to_be_bytes() {
        tag.extend_from_slice(&[HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 15)]]);
    }
    tag.push(b'"');
    let not_modified = request
        .get(header::IF_NONE_MATCH)
        .is_some_and(|sent| sent.as_bytes().split(|b| *b == b',').any(|t| t.trim_ascii() == tag.as_slice()));
    let Ok(etag) = HeaderValue::from_maybe_shared(bytes::Bytes::from(tag)) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let validators = [(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=30")), (header::ETAG, etag)];
    if not_modified {
        return (StatusCode::NOT_MODIFIED, validators).into_response();
    }
    let json = HeaderValue::from_static("application/json");
    (validators, [(header::CONTENT_TYPE, json)], body).into_response()
}

async fn rest(State(store): Shared, headers: HeaderMap, Path((shelf, book)): Path<(String, String)>) -> Response {
    match store.get_book(&format!("shelves/{shelf}/books/{book}")) {
        Ok(book) => cached(&headers, &book),
        Err(e) => {
            let code = if matches!(e, Error::NotFound(_)) { 5 } else { 3 };
            (status(&e), Json(json!({"code": code, "message": e.message()}))).into_response()
        }
    }
}

async fn connect(State(store): Shared, Json(request): Json<GetBookRequest>) -> Response {
    match store.get_book(&request.name) {
        Ok(book) => Json(book).into_response(),
        Err(e) => {
            let code = if matches!(e, Error::NotFound(_)) { "not_found" } else { "invalid_argument" };
            (status(&e), Json(json!({"code": code, "message": e.message()}))).into_response()
        }
    }
}

#[derive(Deserialize)]
struct TrpcQuery {
    input: Option<String>,
}

#[derive(Serialize)]
struct TrpcResult {
    result: TrpcData,
}

#[derive(Serialize)]
struct TrpcData {
    data: Book,
}

async fn trpc(State(store): Shared, headers: HeaderMap, Query(query): Query<TrpcQuery>) -> Response {
    let request: Result<GetBookRequest, _> = match &query.input {
        Some(input) => serde_json::from_str(input),
        None => Ok(GetBookRequest::default()),
    };
    let result = match request {
        Ok(request) => store.get_book(&request.name),
        Err(e) => Err(Error::InvalidArgument(e.to_string())),
    };
    match result {
        Ok(book) => cached(&headers, &TrpcResult { result: TrpcData { data: book } }),
        Err(e) => {
            let (code, number) = match e {
                Error::NotFound(_) => ("NOT_FOUND", -32004),
                Error::InvalidArgument(_) => ("BAD_REQUEST", -32600),
            };
            let body = json!({"error": {"message": e.message(), "code": number, "data": {
                "code": code, "httpStatus": status(&e).as_u16(), "path": "bookstore.getBook"}}});
            (status(&e), Json(body)).into_response()
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = addr_from_args("baseline-axum");
    let app = Router::new()
        .route("/v1/shelves/{shelf}/books/{book}", get(rest))
        .route("/bookstore.v1.Bookstore/GetBook", post(connect))
        .route("/trpc/bookstore.getBook", get(trpc))
        .with_state(Arc::new(Store::seeded()));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    // apigen's server sets TCP_NODELAY on every connection; so does this one.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}
