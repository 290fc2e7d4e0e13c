//! Compiles the bookstore schema (the one `generated-examples/bookstore` is generated from) with
//! protox, then generates the prost types and the tonic client and server with tonic-prost-build,
//! and their proto3 JSON (serde) impls with pbjson-build: what a hand-written server without
//! apigen would use. The encoded descriptor set is written too (for the Node.js Connect peer).

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read when the script runs: a script binary cargo reuses across checkouts must not
    // carry the path of the one it was built in.
    let schemas = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../schemas");
    let proto = schemas.join("examples/bookstore.proto");
    println!("cargo:rerun-if-changed={}", schemas.display());
    let set = protox::compile([&proto], [schemas.join("examples"), schemas.clone()])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let bytes = set.encode_to_vec();
    std::fs::write(out.join("bookstore.binpb"), &bytes)?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .generate_default_stubs(true)
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(set)?;
    pbjson_build::Builder::new()
        .register_descriptors(&bytes)?
        .extern_path(".google.protobuf", "::pbjson_types")
        .build(&[".bookstore.v1"])?;
    Ok(())
}
