//! The HTTP/2 connections calls to the upstream go over.
//!
//! One connection (the default) is hyper's pooled client, called directly:
//! a call costs a pool checkout, not a hop through tonic's `Channel`, whose
//! buffer hands every request to a worker task and its response back.
//! Several connections keep tonic's balanced channel, which picks the less
//! busy of two.

use std::time::Duration;

use http_body_util::Either;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::core::call::BoxFuture;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the gateway's gRPC client sends requests through.
#[derive(Clone, Debug)]
pub(super) enum Transport {
    /// Shared: a clone per call costs a count, not a copy of the client's settings.
    Direct(std::sync::Arc<Client<HttpConnector, tonic::body::Body>>),
    Balanced(tonic::transport::Channel),
}

/// The keep-alive and connect rules both kinds of connection follow.
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub(super) const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(30);
pub(super) const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);

impl Transport {
    /// One HTTP/2 connection (cleartext, with prior knowledge, as gRPC
    /// servers expect), made on the first call and again after it drops.
    pub(super) fn direct() -> Transport {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        let client = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            // The connection stays open while idle, checked by pings.
            .pool_idle_timeout(None::<Duration>)
            .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
            .http2_keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
            .http2_keep_alive_while_idle(true)
            .build(connector);
        Transport::Direct(std::sync::Arc::new(client))
    }
}

impl tower::Service<http::Request<tonic::body::Body>> for Transport {
    type Response = http::Response<Either<Incoming, tonic::body::Body>>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Self::Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), BoxError>> {
        match self {
            Transport::Direct(_) => std::task::Poll::Ready(Ok(())),
            Transport::Balanced(channel) => channel.poll_ready(cx).map_err(Into::into),
        }
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        match self {
            Transport::Direct(client) => {
                let response = client.request(request);
                Box::pin(async move {
                    match response.await {
                        Ok(response) => Ok(response.map(Either::Left)),
                        // Not sent, or no answer: the upstream cannot be reached.
                        Err(e) => Err(Box::new(tonic::Status::unavailable(error_chain(&e))) as BoxError),
                    }
                })
            }
            Transport::Balanced(channel) => {
                let response = channel.call(request);
                Box::pin(async move { Ok(response.await?.map(Either::Right)) })
            }
        }
    }
}

/// An error and its causes, as one line: `client error (Connect): tcp connect error: …`.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_upstream_that_is_not_listening_is_unavailable_with_the_cause() {
        // A port nothing listens on: bound, then closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
        let port = port.expect("a free port");
        let mut transport = Transport::direct();
        let request = http::Request::builder()
            .method("POST")
            .version(http::Version::HTTP_2)
            .uri(format!("http://127.0.0.1:{port}/x.Y/Z"))
            .body(tonic::body::Body::empty())
            .expect("a request");
        let Err(error) = tower::Service::call(&mut transport, request).await else { panic!("a closed port answered") };
        let status = error.downcast::<tonic::Status>().expect("a status");
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(status.message().contains("onnect"), "{}", status.message());
    }
}
