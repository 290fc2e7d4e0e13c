use apigen_runtime::{MethodKind, ServiceInfo};

use super::*;

fn kind(info: &ServiceInfo, method: &str) -> MethodKind {
    let index = info.method_index(method).unwrap_or_else(|| panic!("{} has no {method}", info.name));
    info.methods[index].kind
}

/// The RPC counts are the ones the corpus README gives for each entry file.
#[test]
fn every_rpc_of_every_entry_file_is_generated() {
    let counts: &[(&ServiceInfo, usize)] = &[
        (&library::google::example::library::v1::LIBRARY_SERVICE_INFO, 11),
        (&operations::google::longrunning::OPERATIONS_INFO, 5),
        (&secretmanager::google::cloud::secretmanager::v1::SECRET_MANAGER_SERVICE_INFO, 17),
        (&secretmanager::google::iam::v1::IAM_POLICY_INFO, 3),
        (&pubsub::google::pubsub::v1::PUBLISHER_INFO, 9),
        (&pubsub::google::pubsub::v1::SUBSCRIBER_INFO, 16),
        (&pubsub::google::pubsub::v1::SCHEMA_SERVICE_INFO, 10),
        (&compliance::google::showcase::v1beta1::COMPLIANCE_INFO, 10),
        (&envoy_bookstore::bookstore::BOOKSTORE_INFO, 14),
        (&a_bit_of_everything::grpc::gateway::examples::internal::proto::examplepb::A_BIT_OF_EVERYTHING_SERVICE_INFO, 34),
        (&a_bit_of_everything::grpc::gateway::examples::internal::proto::examplepb::CAMEL_CASE_SERVICE_NAME_INFO, 1),
        (&a_bit_of_everything::grpc::gateway::examples::internal::proto::examplepb::ANOTHER_SERVICE_WITH_NO_BINDINGS_INFO, 1),
        (&a_bit_of_everything::grpc::gateway::examples::internal::proto::examplepb::SNAKE_ENUM_SERVICE_INFO, 1),
        (&echo::google::showcase::v1beta1::ECHO_INFO, 11),
        (&response_body::grpc::gateway::examples::internal::proto::examplepb::RESPONSE_BODY_SERVICE_INFO, 6),
    ];
    for (info, count) in counts {
        assert_eq!(info.methods.len(), *count, "{}", info.name);
    }
    let total: usize = counts.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 149);
}

#[test]
fn streaming_kinds_come_through() {
    use echo::google::showcase::v1beta1::ECHO_INFO;
    assert_eq!(kind(&ECHO_INFO, "Expand"), MethodKind::ServerStreaming);
    assert_eq!(kind(&ECHO_INFO, "Collect"), MethodKind::ClientStreaming);
    assert_eq!(kind(&ECHO_INFO, "Chat"), MethodKind::BidiStreaming);
    assert_eq!(kind(&pubsub::google::pubsub::v1::SUBSCRIBER_INFO, "StreamingPull"), MethodKind::BidiStreaming);
    assert_eq!(kind(&envoy_bookstore::bookstore::BOOKSTORE_INFO, "BulkCreateShelf"), MethodKind::BidiStreaming);
    assert_eq!(kind(&envoy_bookstore::bookstore::BOOKSTORE_INFO, "ListBooks"), MethodKind::ServerStreaming);
}

#[test]
fn corpus_messages_use_the_proto3_json_mapping() {
    use compliance::google::showcase::v1beta1::ComplianceData;
    let json = serde_json::json!({
        "fString": "hi", "fInt32": -1, "fSint64": "-9007199254740993", "fFixed64": "18446744073709551615",
        "fDouble": 1.5, "fBool": true, "fKingdom": "FUNGI", "fBytes": "AAEC",
        "pInt32": 0, "fChild": {"fString": "child"}
    });
    let data: ComplianceData = serde_json::from_value(json.clone()).expect("valid JSON");
    assert_eq!(data.f_sint64, -9007199254740993);
    assert_eq!(data.f_fixed64, u64::MAX);
    assert_eq!(data.p_int32, Some(0), "proto3 optional keeps an explicit zero");
    let back = serde_json::to_value(&data).expect("serializes");
    assert_eq!(back, json);
}

#[test]
fn http_body_is_a_message_with_raw_bytes() {
    use envoy_bookstore::google::api::HttpBody;
    let body = HttpBody { content_type: "text/plain".into(), data: b"hi".to_vec(), extensions: vec![] };
    let json = serde_json::to_value(&body).expect("serializes");
    assert_eq!(json, serde_json::json!({"contentType": "text/plain", "data": "aGk="}));
}

/// Google's APIs rarely set `idempotency_level`: a method bound to HTTP GET
/// (safe by HTTP's own rules) reads, so it is a GraphQL Query and a tRPC
/// query; only NO_SIDE_EFFECTS opens Connect GET.
#[test]
fn methods_bound_to_get_are_reads() {
    use library::google::example::library::v1::LIBRARY_SERVICE_INFO as LIBRARY;
    let method = |name: &str| LIBRARY.methods[LIBRARY.method_index(name).expect(name)];
    for read in ["GetShelf", "ListShelves", "GetBook", "ListBooks"] {
        assert!(method(read).reads, "{read} is a read");
        assert!(!method(read).no_side_effects, "{read} does not promise NO_SIDE_EFFECTS");
    }
    for write in ["CreateShelf", "DeleteShelf", "MergeShelves", "CreateBook", "UpdateBook", "MoveBook"] {
        assert!(!method(write).reads, "{write} writes");
    }
    let sdl = library::GRAPHQL_SDL;
    let query = sdl.split("type Query {").nth(1).and_then(|rest| rest.split('}').next()).expect("a Query type");
    for field in ["getShelf(", "listShelves(", "getBook(", "listBooks("] {
        assert!(query.contains(field), "Query lacks {field}:\n{query}");
    }
    assert!(!sdl.contains("_ping"), "the Query type is no placeholder");
}
