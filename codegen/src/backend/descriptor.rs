//! The encoded descriptors each package carries for gRPC server reflection
//! and REST's query typing: its own files and everything they import, with
//! their custom options (`google.api.http`, …) and without source info.

use std::collections::BTreeSet;

use crate::frontend::Compiled;
use crate::model::Package;

/// `pub static FILE_DESCRIPTOR_SET: &[u8]` for `package`.
pub fn generate(compiled: &Compiled, package: &Package) -> String {
    let mut wanted: BTreeSet<&str> = package.files.iter().map(String::as_str).collect();
    // Files come in dependency order, so walking backwards sees every
    // importer before what it imports.
    for file in compiled.files.file.iter().rev() {
        if wanted.contains(file.name()) {
            wanted.extend(file.dependency.iter().map(String::as_str));
        }
    }
    let bytes = encode_set(compiled, |name| wanted.contains(name), false);
    let mut literal = String::with_capacity(bytes.len() * 4);
    for b in bytes {
        literal.push_str(&std::ascii::escape_default(b).to_string());
    }
    format!(
        "#[doc = \" The descriptors of this package's files and their imports, for gRPC server reflection.\"]\npub static FILE_DESCRIPTOR_SET: &[u8] = b\"{}\";\n",
        literal
    )
}

/// The `FileDescriptorSet` of the compiled files that `wanted` accepts,
/// in dependency order. prost-reflect's encoding keeps extension options,
/// which prost-types' descriptors drop; the set is
/// `repeated FileDescriptorProto file = 1`.
pub fn encode_set(compiled: &Compiled, wanted: impl Fn(&str) -> bool, source_info: bool) -> Vec<u8> {
    let mut bytes = Vec::new();
    for file in compiled.files.file.iter().filter(|f| wanted(f.name())) {
        let Some(descriptor) = compiled.pool.get_file_by_name(file.name()) else { continue };
        let encoded = descriptor.encode_to_vec();
        let encoded = if source_info { encoded } else { without_source_info(&encoded) };
        prost::encoding::encode_key(1, prost::encoding::WireType::LengthDelimited, &mut bytes);
        prost::encoding::encode_varint(encoded.len() as u64, &mut bytes);
        bytes.extend_from_slice(&encoded);
    }
    bytes
}

/// An encoded `FileDescriptorProto` without field 9 (`source_code_info`):
/// comments and spans are large and no consumer of these descriptors needs them.
fn without_source_info(encoded: &[u8]) -> Vec<u8> {
    use prost::encoding::{DecodeContext, WireType, decode_key, skip_field};
    let mut out = Vec::with_capacity(encoded.len());
    let mut rest = encoded;
    while !rest.is_empty() {
        let before = rest;
        let Ok((tag, wire_type)) = decode_key(&mut rest) else { return encoded.to_vec() };
        if skip_field(wire_type, tag, &mut rest, DecodeContext::default()).is_err() {
            return encoded.to_vec();
        }
        if !(tag == 9 && wire_type == WireType::LengthDelimited) {
            out.extend_from_slice(&before[..before.len() - rest.len()]);
        }
    }
    out
}
