//! One gRPC call: tonic's server machinery (framing, compression,
//! trailers) around the call pipeline. Request messages reach the dispatch
//! as bytes and are decoded there, as for every other protocol, so the
//! adapter is compiled once, not once per request type.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use tonic::codec::CompressionEncoding;

use crate::core::call::{BoxFuture, Output, Payload, Requests};
use crate::core::pipeline::{Method, Pipeline, within};
use crate::core::raw::RawCodec;
use crate::{Context, MethodKind, Status};

/// The HTTP body gRPC requests and responses travel in.
pub(crate) type Body = tonic::body::Body;

fn with_metadata<T>(body: T, ctx: &Context) -> tonic::Response<T> {
    let mut response = tonic::Response::new(body);
    *response.metadata_mut() = tonic::metadata::MetadataMap::from_headers(ctx.response_metadata());
    response
}

/// The one response of a unary or client-streaming call.
fn single(output: Output, ctx: &Context) -> Result<tonic::Response<Bytes>, tonic::Status> {
    match output {
        Output::Single(m) => Ok(with_metadata(Bytes::from(m.encode_proto()), ctx)),
        Output::Stream(_) => Err(tonic::Status::internal("a method with one response returned a stream")),
    }
}

type EncodedStream = futures_util::stream::BoxStream<'static, Result<Bytes, tonic::Status>>;

fn encoded_stream(output: Output, shutdown: tokio::sync::watch::Receiver<bool>) -> EncodedStream {
    let stream = match output {
        Output::Stream(s) => s,
        Output::Single(m) => futures_util::stream::once(async move { Ok(m) }).boxed(),
    };
    let stream = crate::core::call::until_shutdown(stream, shutdown);
    // An error ends the response, even if the method's stream would go on: tonic's encoder
    // polls its source again when its body is polled past the error's trailers.
    crate::core::stream::UntilError::new(stream)
        .map(|item| item.map(|m| Bytes::from(m.encode_proto())).map_err(tonic::Status::from))
        .boxed()
}

/// A failure reading the request stream, in the code gRPC gives it: tonic's framing
/// says `OUT_OF_RANGE` for a message over the limit and `INTERNAL` for a body that
/// ends inside a message.
fn request_error(status: tonic::Status) -> Status {
    let message = status.message();
    let code = status.code();
    if code == tonic::Code::OutOfRange && message.contains("message length too large") {
        Status::resource_exhausted(format!("the request message is larger than the limit: {message}"))
    } else if code == tonic::Code::Internal && message.contains("Unexpected EOF") {
        Status::invalid_argument(
            "the request body ends inside a message: its length prefix promises more bytes than follow",
        )
    } else {
        Status::from(status)
    }
}

fn requests(stream: tonic::Streaming<Bytes>) -> Requests {
    Requests::Stream(stream.map(|item| item.map(Payload::Proto).map_err(request_error)).boxed())
}

/// The one request message of a unary or server-streaming call.
async fn only_request(mut stream: tonic::Streaming<Bytes>) -> Result<Requests, Status> {
    let message = match stream.next().await {
        Some(item) => item.map_err(request_error)?,
        None => return Err(Status::invalid_argument("the call carries no request message; send exactly one")),
    };
    match stream.next().await {
        None => Ok(Requests::Single(Payload::Proto(message))),
        Some(Err(e)) => Err(request_error(e)),
        Some(Ok(_)) => {
            Err(Status::invalid_argument("the call carries more than one request message; this method takes one"))
        }
    }
}

/// Serves one gRPC or gRPC-Web call of `method`, authenticated, with `ctx`.
pub(crate) fn handler(
    pipeline: Arc<Pipeline>,
    method: Method,
    req: http::Request<Body>,
    ctx: Context,
) -> BoxFuture<http::Response<Body>> {
    Box::pin(async move {
        let kind = method.info().kind;
        let limit = pipeline.max_message_size();
        let mut grpc = tonic::server::Grpc::new(RawCodec)
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
            .accept_compressed(CompressionEncoding::Gzip)
            .send_compressed(CompressionEncoding::Gzip);
        // Every kind reads its requests as a stream, so that decoding errors of unary
        // requests take the same mapping as those of streamed ones.
        let single_input = matches!(kind, MethodKind::Unary | MethodKind::ServerStreaming);
        let input = move |r: tonic::Request<tonic::Streaming<Bytes>>| async move {
            if single_input { only_request(r.into_inner()).await } else { Ok(requests(r.into_inner())) }
        };
        // Reading the request counts against the deadline too; the pipeline bounds the call.
        let run = move |r| {
            let (pipeline, method, ctx) = (Arc::clone(&pipeline), method.clone(), ctx.clone());
            async move {
                let output = match within(ctx.deadline(), input(r)).await {
                    Ok(input) => pipeline.call(&method, &ctx, input).await,
                    Err(status) => Err(status),
                };
                (output, ctx, pipeline.shutdown())
            }
        };
        match kind {
            MethodKind::Unary | MethodKind::ClientStreaming => {
                let svc = tower::service_fn(move |r: tonic::Request<tonic::Streaming<Bytes>>| {
                    let run = run(r);
                    async move {
                        let (output, ctx, _) = run.await;
                        single(output?, &ctx)
                    }
                });
                grpc.client_streaming(svc, req).await
            }
            MethodKind::ServerStreaming | MethodKind::BidiStreaming => {
                let svc = tower::service_fn(move |r: tonic::Request<tonic::Streaming<Bytes>>| {
                    let run = run(r);
                    async move {
                        let (output, ctx, shutdown) = run.await;
                        Ok::<_, tonic::Status>(with_metadata(encoded_stream(output?, shutdown), &ctx))
                    }
                });
                grpc.streaming(svc, req).await
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    use crate::ResponseStream;

    #[tokio::test]
    async fn a_passed_deadline_is_deadline_exceeded() {
        let slow: BoxFuture<Result<(), Status>> = Box::pin(async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(())
        });
        let deadline = Instant::now().checked_add(Duration::from_millis(20));
        let err = within(deadline, slow).await.expect_err("too slow");
        assert_eq!(err.code(), crate::Code::DeadlineExceeded);
        assert!(within(None, Box::pin(async { Ok(()) })).await.is_ok());
    }

    use crate::wkt::Timestamp;

    const fn echo_info(kind: MethodKind) -> crate::ServiceInfo {
        let method = match kind {
            MethodKind::Unary => &UNARY,
            _ => &BIDI,
        };
        crate::ServiceInfo::new("test.Echo", std::slice::from_ref(method), &[])
    }

    const fn echo_method(kind: MethodKind) -> crate::MethodInfo {
        crate::MethodInfo::new("Chat", kind, "google.protobuf.Timestamp", "google.protobuf.Timestamp")
    }

    static UNARY: crate::MethodInfo = echo_method(MethodKind::Unary);
    static BIDI: crate::MethodInfo = echo_method(MethodKind::BidiStreaming);
    static ECHO_UNARY: crate::ServiceInfo = echo_info(MethodKind::Unary);
    static ECHO_BIDI: crate::ServiceInfo = echo_info(MethodKind::BidiStreaming);

    fn echo(_: std::sync::Arc<()>, _: usize, call: crate::core::call::Call) -> BoxFuture<Result<Output, Status>> {
        if matches!(call.input, Requests::Single(_)) {
            return crate::core::call::unary(call, |_, request: Timestamp| async move { Ok(request) });
        }
        crate::core::call::bidi_streaming(call, |_, requests: crate::RequestStream<Timestamp>| async move {
            Ok(ResponseStream::new(requests))
        })
    }

    /// Sends `body` as one gRPC call to Echo.Chat and returns the response's data and grpc-status.
    async fn call(info: &'static crate::ServiceInfo, body: Vec<u8>) -> (Vec<u8>, Option<String>) {
        call_with(info, Body::new(http_body_util::Full::new(Bytes::from(body))), None).await
    }

    async fn call_with(
        info: &'static crate::ServiceInfo,
        body: Body,
        timeout: Option<&str>,
    ) -> (Vec<u8>, Option<String>) {
        let mut request = http::Request::builder()
            .method("POST")
            .uri("/test.Echo/Chat")
            .version(http::Version::HTTP_2)
            .header("content-type", "application/grpc");
        if let Some(timeout) = timeout {
            request = request.header("grpc-timeout", timeout);
        }
        let request = request.body(body).expect("a request");
        // Streams end when the server's shutdown sender goes: keep it.
        let (_server, shutdown) = tokio::sync::watch::channel(false);
        let service = crate::ServiceDef::new(info, (), echo);
        let pipeline = Arc::new(Pipeline::new(vec![service.clone()], None, 4096, None, shutdown));
        let asked = request
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(crate::core::wire::parse_timeout);
        let ctx = pipeline.context(crate::Protocol::Grpc, request.headers().clone(), None, None, asked);
        let response = handler(Arc::clone(&pipeline), Method { service, index: 0 }, request, ctx).await;
        let early = response.headers().get("grpc-status").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut body = response.into_body();
        let (mut data, mut trailers) = (Vec::new(), Vec::new());
        while let Some(frame) = http_body_util::BodyExt::frame(&mut body).await {
            match frame.expect("a frame").into_data() {
                Ok(bytes) => data.extend_from_slice(&bytes),
                Err(frame) => trailers.extend(frame.into_trailers().ok()),
            }
            assert!(trailers.len() <= 1, "the body goes on after its trailers: {trailers:?}");
        }
        let status = trailers.first().and_then(|t| t.get("grpc-status")).and_then(|v| v.to_str().ok());
        (data, status.map(str::to_owned).or(early))
    }

    #[tokio::test]
    async fn a_request_cut_off_mid_message_ends_the_call() {
        // Found with the http_router fuzz target (fuzz/README.md): one whole message, then a
        // message header promising 842 bytes and 14 of them. The response body never ended.
        let mut body = vec![0, 0, 0, 0, 2, 0x08, 0x01];
        body.extend_from_slice(&[0, 0, 0, 0x03, 0x4a]);
        body.extend_from_slice(&[0x08; 14]);
        let (data, status) = call(&ECHO_BIDI, body).await;
        assert_eq!(data, [0, 0, 0, 0, 2, 0x08, 0x01], "the whole message is echoed");
        assert_eq!(status.as_deref(), Some("3"), "INVALID_ARGUMENT");
    }

    #[tokio::test]
    async fn request_side_failures_have_grpc_codes() {
        let one = [0, 0, 0, 0, 2, 0x08, 0x01];
        let (data, status) = call(&ECHO_UNARY, one.to_vec()).await;
        assert_eq!((data.as_slice(), status.as_deref()), (&one[..], Some("0")), "a unary call echoes");
        let cases: [(&str, Vec<u8>, &str); 5] = [
            ("no message", vec![], "3"),
            ("two messages", [one, one].concat(), "3"),
            ("not protobuf", vec![0, 0, 0, 0, 2, 0x0f, 0xff], "3"),
            ("over the limit", vec![0, 0, 0, 0x10, 0x01], "8"),
            ("cut inside a message", vec![0, 0, 0, 0, 9, 0x08], "3"),
        ];
        for (case, body, code) in cases {
            let (_, status) = call(&ECHO_UNARY, body.clone()).await;
            assert_eq!(status.as_deref(), Some(code), "unary, {case}");
            let (_, status) = call(&ECHO_BIDI, body).await;
            // A stream may carry any number of messages.
            let streamed = if matches!(case, "no message" | "two messages") { "0" } else { code };
            assert_eq!(status.as_deref(), Some(streamed), "bidi, {case}");
        }
    }

    #[tokio::test]
    async fn a_stream_still_open_at_its_deadline_ends_with_deadline_exceeded() {
        // The client keeps its request stream open; the deadline ends the call all the same.
        let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
        let frames = futures_util::stream::unfold(rx, |mut rx| async move {
            let data = rx.recv().await?;
            Some((Ok::<_, std::convert::Infallible>(http_body::Frame::data(data)), rx))
        });
        tx.send(Bytes::from_static(&[0, 0, 0, 0, 2, 0x08, 0x01])).await.expect("sent");
        let body = Body::new(http_body_util::StreamBody::new(frames));
        let started = Instant::now();
        let answer = tokio::time::timeout(Duration::from_secs(5), call_with(&ECHO_BIDI, body, Some("300m")));
        let (data, status) = answer.await.expect("the call ends at its deadline");
        assert_eq!(data, [0, 0, 0, 0, 2, 0x08, 0x01], "the message before the deadline is echoed");
        assert_eq!(status.as_deref(), Some("4"), "DEADLINE_EXCEEDED");
        assert!(started.elapsed() >= Duration::from_millis(250), "{:?}", started.elapsed());
        drop(tx);
    }
}
