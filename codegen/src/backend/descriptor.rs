//! The encoded descriptors each package carries for gRPC server reflection:
//! its own files and everything they import, without source info.

use std::collections::BTreeSet;

use prost::Message as _;

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
    let set = prost_types::FileDescriptorSet {
        file: compiled
            .files
            .file
            .iter()
            .filter(|f| wanted.contains(f.name()))
            .map(|f| prost_types::FileDescriptorProto { source_code_info: None, ..f.clone() })
            .collect(),
    };
    let bytes = set.encode_to_vec();
    let mut literal = String::with_capacity(bytes.len() * 4);
    for b in bytes {
        literal.push_str(&std::ascii::escape_default(b).to_string());
    }
    format!(
        "#[doc = \" The descriptors of this package's files and their imports, for gRPC server reflection.\"]\npub static FILE_DESCRIPTOR_SET: &[u8] = b\"{}\";\n",
        literal
    )
}
