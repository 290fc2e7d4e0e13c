//! Not API, for `cargo fuzz`: the whole pipeline on input that does not come
//! from disk. The fuzz targets live in `fuzz/` at the repository root (see
//! `fuzz/README.md`). Whatever the input, these return `Ok` or an [`Error`]
//! that renders as a diagnostic; a panic is a bug found.

use crate::Generated;
use crate::diagnostics::Error;
use crate::frontend::{self, BUILTIN_FILES, Compiled, Sources};

/// Generates code for one `.proto` file given as text, imported as
/// `fuzz.proto`; it may import the built-in annotations and the well-known
/// types.
pub fn generate_text(text: &str) -> Result<Generated, Error> {
    crate::generate_compiled(&frontend::compile_memory(&[("fuzz.proto", text)])?)
}

/// Generates code for an encoded `FileDescriptorSet` (what `apigen
/// descriptor-set` or `protoc --descriptor_set_out` writes), as if its files
/// had been compiled from source: every file except the built-in annotation
/// files and `google/protobuf/*` is generated. Source info may be absent.
pub fn generate_descriptor_set(bytes: &[u8]) -> Result<Generated, Error> {
    let pool = prost_reflect::DescriptorPool::decode(bytes)
        .map_err(|e| Error::Usage(format!("not a usable FileDescriptorSet: {e}")))?;
    let files = prost_types::FileDescriptorSet { file: pool.file_descriptor_protos().cloned().collect() };
    let roots = files
        .file
        .iter()
        .map(|f| f.name().to_owned())
        .filter(|name| !name.starts_with("google/protobuf/") && !BUILTIN_FILES.iter().any(|(n, _)| n == name))
        .collect();
    crate::generate_compiled(&Compiled { pool, files, roots, sources: Sources::default() })
}
