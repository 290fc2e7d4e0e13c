//! protobuf's conformance suite over apigen's generated types.
//!
//! `build.rs` generates the suite's schemas with apigen, as any user's build
//! script would. [`answer`] handles one request of the runner's protocol with
//! what a generated server reads and writes messages with: prost for
//! protobuf, and for JSON `apigen_runtime::json::{from_slice, to_vec}` (the
//! generated serde implementations, as every JSON protocol applies them).
//! With `APIGEN_CONFORMANCE_JSON_WRITER=dynamic`, JSON output is written
//! the way the gateway writes its upstream's responses instead: the message
//! decoded as a prost-reflect `DynamicMessage` of the schema's descriptors,
//! written by `apigen_runtime::json::DynamicJson`.
//! `tests/conformance/README.md` says how to run the suite.

apigen_runtime::include_api!();

use std::sync::OnceLock;

use apigen_runtime::ApiMessage;
use apigen_runtime::json::Options;
use apigen_runtime::prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage};

use conformance::conformance_request::Payload as Input;
use conformance::conformance_response::Result as Outcome;
use conformance::{ConformanceRequest, ConformanceResponse, FailureSet, TestCategory, WireFormat};
use protobuf_test_messages::{proto2, proto3};

/// Answers one serialized `conformance.ConformanceRequest` with a serialized
/// `conformance.ConformanceResponse`. `only`, when set (`proto3` or
/// `proto2`), skips the test messages of every other package, so the
/// runner's counts are those of one syntax.
pub fn answer(request: &[u8], only: Option<&str>) -> Vec<u8> {
    let result = match ConformanceRequest::decode(request) {
        Ok(request) => respond(&request, only),
        Err(e) => Outcome::RuntimeError(format!("the runner's request is not a ConformanceRequest: {e}")),
    };
    ConformanceResponse { result: Some(result) }.encode_to_vec()
}

/// The result for one request.
pub fn respond(request: &ConformanceRequest, only: Option<&str>) -> Outcome {
    let name = request.message_type.as_str();
    if name == "conformance.FailureSet" {
        // The runner first asks for the testee's own failure list: ours is the
        // file run.sh passes with --failure_list.
        return Outcome::ProtobufPayload(FailureSet::default().encode_to_vec());
    }
    if let Some(only) = only
        && !name.starts_with(&format!("protobuf_test_messages.{only}."))
    {
        return Outcome::Skipped(format!("APIGEN_CONFORMANCE_ONLY={only}"));
    }
    // What a server does at start-up: makes its messages known to Any.
    apigen_runtime::json::register(proto3::JSON_TYPES);
    apigen_runtime::json::register(proto2::JSON_TYPES);
    match name {
        "protobuf_test_messages.proto3.TestAllTypesProto3" => round_trip::<proto3::TestAllTypesProto3>(request, name),
        "protobuf_test_messages.proto2.TestAllTypesProto2" => round_trip::<proto2::TestAllTypesProto2>(request, name),
        "protobuf_test_messages.proto2.TestAllRequiredTypesProto2" => {
            round_trip::<proto2::TestAllRequiredTypesProto2>(request, name)
        }
        _ => Outcome::RuntimeError(format!("no generated type for {name}")),
    }
}

/// Decodes the payload as a `T` and writes it back in the requested format.
fn round_trip<T: ApiMessage>(request: &ConformanceRequest, name: &str) -> Outcome {
    let parsed = match &request.payload {
        Some(Input::ProtobufPayload(bytes)) => {
            T::decode(&bytes[..]).map_err(|e| format!("not a valid protobuf message: {e}"))
        }
        Some(Input::JsonPayload(text)) => {
            // The suite's JSON_IGNORE_UNKNOWN category is a server built with that option.
            let options = match request.test_category() {
                TestCategory::JsonIgnoreUnknownParsingTest => Options::ignoring_unknown_fields(),
                _ => Options::default(),
            };
            apigen_runtime::json::from_slice_with::<T>(text.as_bytes(), options)
                .map_err(|status| status.message().to_owned())
        }
        Some(Input::JspbPayload(_)) => return Outcome::Skipped("JSPB input is not supported".to_owned()),
        Some(Input::TextPayload(_)) => return Outcome::Skipped("text format input is not supported".to_owned()),
        None => return Outcome::RuntimeError("the request has no payload".to_owned()),
    };
    let message = match parsed {
        Ok(message) => message,
        Err(e) => return Outcome::ParseError(e),
    };
    match request.requested_output_format() {
        WireFormat::Protobuf => Outcome::ProtobufPayload(message.encode_to_vec()),
        WireFormat::Json if dynamic_writer() => dynamic_json(name, &message.encode_to_vec()),
        WireFormat::Json => match apigen_runtime::json::to_vec(&message).map(String::from_utf8) {
            Ok(Ok(json)) => Outcome::JsonPayload(json),
            Ok(Err(e)) => Outcome::SerializeError(format!("the JSON is not UTF-8: {e}")),
            Err(status) => Outcome::SerializeError(status.message().to_owned()),
        },
        WireFormat::Jspb => Outcome::Skipped("JSPB output is not supported".to_owned()),
        WireFormat::TextFormat => Outcome::Skipped("text format output is not supported".to_owned()),
        WireFormat::Unspecified => Outcome::RuntimeError("the request names no output format".to_owned()),
    }
}

/// Whether JSON output goes through the gateway's writer for dynamic messages.
fn dynamic_writer() -> bool {
    static DYNAMIC: OnceLock<bool> = OnceLock::new();
    *DYNAMIC.get_or_init(|| std::env::var("APIGEN_CONFORMANCE_JSON_WRITER").is_ok_and(|w| w == "dynamic"))
}

/// The test messages' descriptors, read from their `.proto` files as the
/// gateway reads a schema at start-up.
fn pool() -> Result<&'static DescriptorPool, String> {
    static POOL: OnceLock<Result<DescriptorPool, String>> = OnceLock::new();
    POOL.get_or_init(|| {
        let files = ["google/protobuf/test_messages_proto3.proto", "google/protobuf/test_messages_proto2.proto"];
        let set = protox::compile(files, [concat!(env!("CARGO_MANIFEST_DIR"), "/proto")]).map_err(|e| e.to_string())?;
        DescriptorPool::from_file_descriptor_set(set).map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// The message (its protobuf `bytes`) as the gateway writes it in JSON.
fn dynamic_json(name: &str, bytes: &[u8]) -> Outcome {
    let pool = match pool() {
        Ok(pool) => pool,
        Err(e) => return Outcome::RuntimeError(format!("the test messages' descriptors: {e}")),
    };
    let Some(desc) = pool.get_message_by_name(name) else {
        return Outcome::RuntimeError(format!("no descriptor for {name}"));
    };
    let message = match DynamicMessage::decode(desc, bytes) {
        Ok(message) => message,
        Err(e) => return Outcome::RuntimeError(format!("the message does not decode dynamically: {e}")),
    };
    match apigen_runtime::json::to_vec(&apigen_runtime::json::DynamicJson(&message)).map(String::from_utf8) {
        Ok(Ok(json)) => Outcome::JsonPayload(json),
        Ok(Err(e)) => Outcome::SerializeError(format!("the JSON is not UTF-8: {e}")),
        Err(status) => Outcome::SerializeError(status.message().to_owned()),
    }
}

#[cfg(test)]
mod tests;
