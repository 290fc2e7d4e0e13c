//! The ceiling: a minimal hyper 1 HTTP/1.1 server that answers every request with a fixed body
//! (the seeded book's JSON, so the bytes on the wire match the REST answers), no routing, no
//! parsing, no store.
//!
//! `ceiling-hyper [--addr HOST:PORT]`; prints `listening on http://ADDR` once ready.

use std::convert::Infallible;

use apigen_bench_serve::{addr_from_args, seed_book};
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = addr_from_args("ceiling-hyper");
    let body = Bytes::from(serde_json::to_vec(&seed_book()).map_err(std::io::Error::other)?);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let body = body.clone();
        tokio::spawn(async move {
            let service = service_fn(move |_request: Request<Incoming>| {
                let mut response = Response::new(Full::new(body.clone()));
                response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = http1::Builder::new().serve_connection(TokioIo::new(tcp), service).await;
        });
    }
}
