//! gapic-showcase's REST compliance suite, the one Google uses to check REST
//! transcoding: an echo implementation of `Compliance` is served, and every
//! request of `compliance_suite.json` goes through every RPC of its group as
//! REST with the generated REST client. The data must come back unchanged,
//! through the binding the suite intends.

use apigen_runtime::{Context, Result, Server, Status};

use crate::compliance::google::showcase::v1beta1::{
    self as showcase, ComplianceRestClient, ComplianceSuite, EnumRequest, EnumResponse, RepeatRequest, RepeatResponse,
};

struct Echo;

fn echo(ctx: &Context, request: RepeatRequest) -> Result<RepeatResponse> {
    Ok(RepeatResponse { request: Some(request), binding_uri: ctx.http_binding().unwrap_or_default().to_owned() })
}

impl showcase::Compliance for Echo {
    async fn repeat_data_body(&self, ctx: Context, request: RepeatRequest) -> Result<RepeatResponse> {
        echo(&ctx, request)
    }
    async fn repeat_data_body_info(&self, ctx: Context, request: RepeatRequest) -> Result<RepeatResponse> {
        echo(&ctx, request)
    }
    async fn repeat_data_query(&self, ctx: Context, request: RepeatRequest) -> Result<RepeatResponse> {
        echo(&ctx, request)
    }
    async fn repeat_data_simple_path(&self, ctx: Context, request: RepeatRequest) -> Result<RepeatResponse> {
        echo(&ctx, request)
    }
    async fn repeat_data_path_resource(&self, ctx: Context, request: RepeatRequest) -> Result<RepeatResponse> {
        echo(&ctx, request)
    }
    async fn repeat_data_path_trailing_resource(&self, ctx: Context, request: RepeatRequest) -> Result<RepeatResponse> {
        echo(&ctx, request)
    }
    async fn repeat_data_body_put(&self, ctx: Context, request: RepeatRequest) -> Result<RepeatResponse> {
        echo(&ctx, request)
    }
    async fn repeat_data_body_patch(&self, ctx: Context, request: RepeatRequest) -> Result<RepeatResponse> {
        echo(&ctx, request)
    }
    async fn get_enum(&self, _ctx: Context, request: EnumRequest) -> Result<EnumResponse> {
        Ok(EnumResponse { continent: if request.unknown_enum { 99 } else { 1 }, request: Some(request) })
    }
    async fn verify_enum(&self, _ctx: Context, request: EnumResponse) -> Result<EnumResponse> {
        if request.continent == 99 {
            return Err(Status::invalid_argument("unknown enum value"));
        }
        Ok(request)
    }
}

fn suite() -> ComplianceSuite {
    let path = std::env::var_os("APIGEN_REALWORLD")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/realworld"))
        .join("gapic-showcase/server/services/compliance_suite.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("the suite parses as a ComplianceSuite")
}

async fn call(client: &ComplianceRestClient, rpc: &str, request: RepeatRequest) -> Result<RepeatResponse> {
    match rpc {
        "Compliance.RepeatDataBody" => client.repeat_data_body(request).await,
        "Compliance.RepeatDataBodyInfo" => client.repeat_data_body_info(request).await,
        "Compliance.RepeatDataQuery" => client.repeat_data_query(request).await,
        "Compliance.RepeatDataSimplePath" => client.repeat_data_simple_path(request).await,
        "Compliance.RepeatDataPathResource" => client.repeat_data_path_resource(request).await,
        "Compliance.RepeatDataPathTrailingResource" => client.repeat_data_path_trailing_resource(request).await,
        "Compliance.RepeatDataBodyPut" => client.repeat_data_body_put(request).await,
        "Compliance.RepeatDataBodyPatch" => client.repeat_data_body_patch(request).await,
        other => panic!("the suite names an RPC this test does not know: {other}"),
    }
}

#[tokio::test]
async fn every_suite_request_round_trips_through_every_rpc_of_its_group() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(
        Server::builder().add_service(showcase::compliance_service(Echo)).serve(listener, std::future::pending()),
    );
    let client = ComplianceRestClient::new(format!("http://{addr}"));

    let suite = suite();
    let mut calls = 0;
    let mut failures = Vec::new();
    for group in &suite.group {
        for rpc in &group.rpcs {
            for request in &group.requests {
                calls += 1;
                let label = format!("{} / {rpc} / {}", group.name, request.name);
                match call(&client, rpc, request.clone()).await {
                    Ok(response) => {
                        if response.request.as_ref() != Some(request) {
                            failures.push(format!("{label}: sent {request:?}, got back {:?}", response.request));
                        }
                        if let Some(intended) =
                            request.intended_binding_uri.as_ref().filter(|i| **i != response.binding_uri)
                        {
                            failures.push(format!("{label}: went through {}, not {intended}", response.binding_uri));
                        }
                    }
                    Err(e) => failures.push(format!("{label}: {e}")),
                }
            }
        }
    }
    assert_eq!(calls, 53, "the suite sends 53 requests through the RPCs of their groups");
    assert!(failures.is_empty(), "{} of {calls} calls failed:\n{}", failures.len(), failures.join("\n"));
}

#[tokio::test]
async fn enums_come_back_and_unknown_values_are_refused() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(
        Server::builder().add_service(showcase::compliance_service(Echo)).serve(listener, std::future::pending()),
    );
    let client = ComplianceRestClient::new(format!("http://{addr}"));
    let got = client.get_enum(EnumRequest { unknown_enum: false }).await.expect("known");
    assert_eq!(got.continent, 1);
    // VerifyEnum has no body: its fields travel as query parameters.
    let verified = client.verify_enum(got).await.expect("verified");
    assert_eq!(verified.continent, got.continent);
}
