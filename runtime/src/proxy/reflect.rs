//! An upstream's schema from its gRPC server reflection: the services it
//! lists and every file they need, as the upstream sent them (so custom
//! options such as `google.api.http` survive), in dependency order.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

use super::Upstream;
use crate::core::status::Status;

/// Both versions of the reflection service speak the same messages; many
/// servers (grpcio's, older Go ones) only have v1alpha.
const PATHS: [&str; 2] = [
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
];

/// Services every server has that are not part of its API.
fn own_service(name: &str) -> bool {
    name.starts_with("grpc.reflection.") || name.starts_with("grpc.health.")
}

impl Upstream {
    /// The upstream's schema, read from its gRPC server reflection (v1, else
    /// v1alpha): an encoded `FileDescriptorSet` of the files that define its
    /// services (reflection's and health's own left out) and everything they
    /// import, each file as the upstream encoded it.
    pub async fn reflect(&self) -> Result<Vec<u8>, Status> {
        let mut path = PATHS[0];
        let listed = match self.ask(path, MessageRequest::ListServices(String::new())).await {
            Err(status) if status.code() == tonic::Code::Unimplemented => {
                path = PATHS[1];
                self.ask(path, MessageRequest::ListServices(String::new())).await
            }
            other => other,
        };
        let services = match listed.map_err(|s| self.reflection_failure(s))? {
            MessageResponse::ListServicesResponse(list) => list.service,
            other => return Err(unexpected(&other)),
        };
        let mut files: BTreeMap<String, (Vec<u8>, Vec<String>)> = BTreeMap::new();
        for service in services.iter().filter(|s| !own_service(&s.name)) {
            self.fetch(path, MessageRequest::FileContainingSymbol(service.name.clone()), &mut files).await?;
        }
        if files.is_empty() {
            return Err(Status::failed_precondition(format!(
                "the upstream at {} lists no service of its own through reflection",
                self.uri
            )));
        }
        // Imports the upstream did not send with the files that need them.
        loop {
            let missing: BTreeSet<String> =
                files.values().flat_map(|(_, deps)| deps).filter(|d| !files.contains_key(*d)).cloned().collect();
            if missing.is_empty() {
                break;
            }
            for name in missing {
                self.fetch(path, MessageRequest::FileByFilename(name.clone()), &mut files).await?;
                if !files.contains_key(&name) {
                    return Err(Status::failed_precondition(format!(
                        "the upstream's reflection does not send {name}, which its files import"
                    )));
                }
            }
        }
        Ok(encode_in_order(&files))
    }

    /// One reflection request on a stream of its own.
    async fn ask(&self, path: &'static str, request: MessageRequest) -> Result<MessageResponse, tonic::Status> {
        let mut grpc = self.grpc.clone();
        grpc.ready().await.map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let request = ServerReflectionRequest { host: String::new(), message_request: Some(request) };
        let codec = tonic_prost::ProstCodec::<ServerReflectionRequest, ServerReflectionResponse>::default();
        let requests = tonic::Request::new(futures_util::stream::iter([request]));
        let mut responses =
            grpc.streaming(requests, http::uri::PathAndQuery::from_static(path), codec).await?.into_inner();
        responses
            .message()
            .await?
            .and_then(|r| r.message_response)
            .ok_or_else(|| tonic::Status::internal("the reflection service answered nothing"))
    }

    /// Adds the files a reflection request answers with.
    async fn fetch(
        &self,
        path: &'static str,
        request: MessageRequest,
        files: &mut BTreeMap<String, (Vec<u8>, Vec<String>)>,
    ) -> Result<(), Status> {
        let what = format!("{request:?}");
        match self.ask(path, request).await.map_err(|s| self.reflection_failure(s))? {
            MessageResponse::FileDescriptorResponse(found) => {
                for bytes in found.file_descriptor_proto {
                    let file = prost_types::FileDescriptorProto::decode(bytes.as_slice()).map_err(|e| {
                        Status::invalid_argument(format!(
                            "the upstream's reflection sent a file that is not valid: {e}"
                        ))
                    })?;
                    files.entry(file.name().to_owned()).or_insert((bytes, file.dependency));
                }
                Ok(())
            }
            MessageResponse::ErrorResponse(e) => Err(Status::failed_precondition(format!(
                "the upstream's reflection refused {what}: {} (code {})",
                e.error_message, e.error_code
            ))),
            other => Err(unexpected(&other)),
        }
    }

    fn reflection_failure(&self, status: tonic::Status) -> Status {
        let hint = if status.code() == tonic::Code::Unimplemented {
            "; turn on its server reflection, or give the schema as .proto files or a descriptor set"
        } else {
            ""
        };
        Status::new(
            crate::Code::from_i32(status.code() as i32),
            format!(
                "cannot read the schema from the upstream at {} by reflection: {}{hint}",
                self.uri,
                status.message()
            ),
        )
    }
}

fn unexpected(response: &MessageResponse) -> Status {
    Status::internal(format!("the upstream's reflection answered with something else: {response:?}"))
}

/// The files as a `FileDescriptorSet`, each after the files it imports, each
/// kept as the bytes received (decoding and encoding again would drop the
/// custom options prost-types does not know).
fn encode_in_order(files: &BTreeMap<String, (Vec<u8>, Vec<String>)>) -> Vec<u8> {
    fn visit<'a>(
        name: &'a str,
        files: &'a BTreeMap<String, (Vec<u8>, Vec<String>)>,
        done: &mut BTreeSet<&'a str>,
        out: &mut Vec<u8>,
    ) {
        let Some((bytes, deps)) = files.get(name) else { return };
        if !done.insert(name) {
            return;
        }
        for dep in deps {
            visit(dep, files, done, out);
        }
        prost::encoding::bytes::encode(1, bytes, out);
    }
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    for name in files.keys() {
        visit(name, files, &mut done, &mut out);
    }
    out
}
