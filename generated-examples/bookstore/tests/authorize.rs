//! The per-method authorization hook: one `Server::authorizer` decides
//! before every call, and every protocol answers its refusal in its own way.

use apigen_runtime::{BearerToken, Code, Context, MethodInfo, Server, ServiceInfo, Status};
use bookstore_example::v1;

const TOKEN: &str = "s3cret";

/// A bookstore where nobody may delete shelves, behind a bearer token.
async fn start() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = Server::builder()
        .add_service(v1::bookstore_service(bookstore_example::Store::default()))
        .authenticator(BearerToken::new(TOKEN))
        .authorizer(|ctx: &Context, service: &ServiceInfo, method: &MethodInfo| {
            assert!(ctx.identity().is_some(), "authorization runs after authentication");
            if method.name == "DeleteShelf" {
                return Err(Status::permission_denied(format!("{}/{} is not allowed here", service.name, method.name)));
            }
            Ok(())
        });
    tokio::spawn(server.serve(listener, std::future::pending()));
    format!("http://{addr}")
}

fn shelf(theme: &str) -> v1::CreateShelfRequest {
    v1::CreateShelfRequest { shelf: Some(v1::Shelf { theme: theme.to_owned(), ..Default::default() }) }
}

fn delete(name: &str) -> v1::DeleteShelfRequest {
    v1::DeleteShelfRequest { name: name.to_owned(), force: true }
}

fn assert_denied(result: Result<impl std::fmt::Debug, Status>, protocol: &str) {
    let status = result.expect_err(protocol);
    assert_eq!(status.code(), Code::PermissionDenied, "{protocol}: {status:?}");
    assert!(status.message().contains("DeleteShelf is not allowed"), "{protocol}: {status:?}");
}

#[tokio::test]
async fn every_protocol_refuses_a_denied_method_and_serves_the_others() {
    let base = start().await;
    let bearer = format!("Bearer {TOKEN}");

    let mut grpc = v1::BookstoreClient::connect(base.clone()).await.expect("connects");
    grpc.metadata_mut().insert("authorization", bearer.parse().expect("header"));
    let created = grpc.create_shelf(shelf("gRPC")).await.expect("allowed");
    assert_denied(grpc.delete_shelf(delete(&created.name)).await, "gRPC");

    let mut rest = v1::BookstoreRestClient::new(base.clone());
    rest.headers_mut().insert("authorization", bearer.parse().expect("header"));
    rest.create_shelf(shelf("REST")).await.expect("allowed");
    assert_denied(rest.delete_shelf(delete(&created.name)).await, "REST");

    let mut connect = v1::BookstoreConnectClient::new(base.clone());
    connect.headers_mut().insert("authorization", bearer.parse().expect("header"));
    connect.create_shelf(shelf("Connect")).await.expect("allowed");
    assert_denied(connect.delete_shelf(delete(&created.name)).await, "Connect");

    let mut graphql = v1::BookstoreGraphqlClient::new(base.clone());
    graphql.headers_mut().insert("authorization", bearer.parse().expect("header"));
    graphql.create_shelf(shelf("GraphQL")).await.expect("allowed");
    assert_denied(graphql.delete_shelf(delete(&created.name)).await, "GraphQL");

    let ws_url = format!("{}/ws", base.replacen("http", "ws", 1));
    let ws = apigen_runtime::client::ws::Client::connect(&ws_url, [("authorization", bearer.as_str())])
        .await
        .expect("connects");
    let _: v1::Shelf = ws.unary("bookstore.v1.Bookstore/CreateShelf", &shelf("WebSocket")).await.expect("allowed");
    let request = delete(&created.name);
    let denied = ws.unary::<_, apigen_runtime::wkt::Empty>("bookstore.v1.Bookstore/DeleteShelf", &request).await;
    assert_denied(denied, "WebSocket");

    // Nothing was deleted on the way.
    let listed = grpc.list_shelves(v1::ListShelvesRequest::default()).await.expect("allowed");
    assert_eq!(listed.shelves.len(), 5);
}
