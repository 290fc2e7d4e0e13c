//! Generates Rust for the conformance suite's schemas, as a user's build.rs
//! would: the runner's protocol (`conformance/conformance.proto`) and the
//! proto3 and proto2 test messages, at the paths and with the packages the
//! suite gives them. The suite's editions test messages are left out: protox
//! does not parse `edition = "2023";` (README.md).
fn main() -> Result<(), apigen::Error> {
    apigen::configure().compile(
        &[
            "proto/conformance/conformance.proto",
            "proto/google/protobuf/test_messages_proto3.proto",
            "proto/google/protobuf/test_messages_proto2.proto",
        ],
        &["proto"],
    )
}
