//! `google.protobuf.Any` on every JSON protocol, in the proto3 JSON
//! mapping's form, over gapic-showcase's Echo service: an Any in a response
//! (EchoErrorDetails), in a request (Echo's `error.details`), and in error
//! details (`google.rpc.Status.details` of the error Echo then returns).

use apigen_runtime::wkt::{Any, Duration};
use apigen_runtime::{Context, RequestStream, ResponseStream, Result, Server, Status};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::echo::google::longrunning::Operation;
use crate::echo::google::showcase::v1beta1 as showcase;

const POETRY: &str = "type.googleapis.com/google.showcase.v1beta1.PoetryError";

struct Echo;

fn unimplemented<T>() -> Result<T> {
    Err(Status::unimplemented("not part of this test"))
}

impl showcase::Echo for Echo {
    async fn echo(&self, _: Context, request: showcase::EchoRequest) -> Result<showcase::EchoResponse> {
        match request.response {
            // The error as the request carried it, details included.
            Some(showcase::echo_request::Response::Error(error)) => {
                let status = Status::new(apigen_runtime::Code::from_i32(error.code), error.message);
                Err(error.details.into_iter().fold(status, Status::with_detail))
            }
            Some(showcase::echo_request::Response::Content(content)) => {
                Ok(showcase::EchoResponse { content, ..Default::default() })
            }
            None => Err(Status::invalid_argument("content or error")),
        }
    }

    async fn echo_error_details(
        &self,
        _: Context,
        request: showcase::EchoErrorDetailsRequest,
    ) -> Result<showcase::EchoErrorDetailsResponse> {
        let poem = showcase::PoetryError { poem: request.single_detail_text };
        let single =
            showcase::ErrorWithSingleDetail { details: Some(Any::pack("google.showcase.v1beta1.PoetryError", &poem)) };
        let wait = Duration { seconds: 1, nanos: 500_000_000 };
        let multiple =
            showcase::ErrorWithMultipleDetails { details: vec![Any::pack("google.protobuf.Duration", &wait)] };
        Ok(showcase::EchoErrorDetailsResponse {
            single_detail: Some(showcase::echo_error_details_response::SingleDetail { error: Some(single) }),
            multiple_details: Some(showcase::echo_error_details_response::MultipleDetails { error: Some(multiple) }),
        })
    }

    async fn fail_echo_with_details(
        &self,
        _: Context,
        _: showcase::FailEchoWithDetailsRequest,
    ) -> Result<showcase::FailEchoWithDetailsResponse> {
        unimplemented()
    }
    async fn expand(&self, _: Context, _: showcase::ExpandRequest) -> Result<ResponseStream<showcase::EchoResponse>> {
        unimplemented()
    }
    async fn collect(&self, _: Context, _: RequestStream<showcase::EchoRequest>) -> Result<showcase::EchoResponse> {
        unimplemented()
    }
    async fn chat(
        &self,
        _: Context,
        _: RequestStream<showcase::EchoRequest>,
    ) -> Result<ResponseStream<showcase::EchoResponse>> {
        unimplemented()
    }
    async fn paged_expand(&self, _: Context, _: showcase::PagedExpandRequest) -> Result<showcase::PagedExpandResponse> {
        unimplemented()
    }
    async fn paged_expand_legacy(
        &self,
        _: Context,
        _: showcase::PagedExpandLegacyRequest,
    ) -> Result<showcase::PagedExpandResponse> {
        unimplemented()
    }
    async fn paged_expand_legacy_mapped(
        &self,
        _: Context,
        _: showcase::PagedExpandRequest,
    ) -> Result<showcase::PagedExpandLegacyMappedResponse> {
        unimplemented()
    }
    async fn wait(&self, _: Context, _: showcase::WaitRequest) -> Result<Operation> {
        unimplemented()
    }
    async fn block(&self, _: Context, _: showcase::BlockRequest) -> Result<showcase::BlockResponse> {
        unimplemented()
    }
}

async fn start() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = Server::builder().add_service(showcase::echo_service(Echo));
    tokio::spawn(server.serve(listener, std::future::pending()));
    addr
}

/// POSTs `body` as JSON (with `headers`) and returns the status and the JSON answer.
async fn post(addr: std::net::SocketAddr, path: &str, headers: &str, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connects");
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("writes");
    stream.write_all(body.as_bytes()).await.expect("writes");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("reads");
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    assert!(!head.to_ascii_lowercase().contains("chunked"), "{head}");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    (status, serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}")))
}

const CONNECT: &str = "connect-protocol-version: 1\r\n";

#[tokio::test]
async fn any_in_responses_is_the_embedded_message_with_its_type() {
    let addr = start().await;
    let request = json!({"singleDetailText": "roses"});
    let poem = json!({"@type": POETRY, "poem": "roses"});
    let wait = json!([{"@type": "type.googleapis.com/google.protobuf.Duration", "value": "1.500s"}]);
    let check = |protocol: &str, response: &Value| {
        assert_eq!(response["singleDetail"]["error"]["details"], poem, "{protocol}: {response}");
        assert_eq!(response["multipleDetails"]["error"]["details"], wait, "{protocol}: {response}");
    };

    let (status, rest) = post(addr, "/v1beta1/echo:error-details", "", &request).await;
    assert_eq!(status, 200, "{rest}");
    check("REST", &rest);
    let (_, connect) = post(addr, "/google.showcase.v1beta1.Echo/EchoErrorDetails", CONNECT, &request).await;
    check("Connect", &connect);
    let (_, trpc) = post(addr, "/trpc/echo.echoErrorDetails", "", &request).await;
    check("tRPC", &trpc["result"]["data"]);
    let query = "mutation { echoErrorDetails(singleDetailText: \"roses\") { singleDetail { error { details } } multipleDetails { error { details } } } }";
    let (_, graphql) = post(addr, "/graphql", "", &json!({"query": query})).await;
    check("GraphQL", &graphql["data"]["echoErrorDetails"]);
}

#[tokio::test]
async fn any_in_requests_and_in_error_details_uses_the_same_form() {
    let addr = start().await;
    let detail = json!({"@type": POETRY, "poem": "violets"});
    let request = json!({"error": {"code": 10, "message": "no", "details": [detail]}});

    let (status, rest) = post(addr, "/v1beta1/echo:echo", "", &request).await;
    assert_eq!(status, 409, "ABORTED: {rest}");
    assert_eq!(rest["details"], json!([detail]), "REST error body: {rest}");

    let (_, connect) = post(addr, "/google.showcase.v1beta1.Echo/Echo", CONNECT, &request).await;
    assert_eq!(connect["code"], "aborted", "{connect}");
    let connect_detail = &connect["details"][0];
    assert_eq!(connect_detail["type"], "google.showcase.v1beta1.PoetryError", "{connect}");
    assert!(connect_detail["value"].is_string(), "Connect clients read the bytes: {connect}");
    assert_eq!(connect_detail["debug"], detail, "{connect}");

    let (_, trpc) = post(addr, "/trpc/echo.echo", "", &request).await;
    assert_eq!(trpc["error"]["data"]["details"], json!([detail]), "tRPC: {trpc}");

    let query = "mutation($e: StatusInput) { echo(error: $e) { content } }";
    let (_, graphql) = post(addr, "/graphql", "", &json!({"query": query, "variables": {"e": request["error"]}})).await;
    assert_eq!(graphql["errors"][0]["extensions"]["details"], json!([detail]), "GraphQL: {graphql}");

    // An Any of a type this server does not know is refused, naming it.
    let unknown = json!({"error": {"code": 10, "details": [{"@type": "type.googleapis.com/x.Unknown", "a": 1}]}});
    let (status, rest) = post(addr, "/v1beta1/echo:echo", "", &unknown).await;
    assert_eq!(status, 400, "{rest}");
    assert!(rest["message"].as_str().unwrap_or_default().contains("x.Unknown"), "{rest}");
}
