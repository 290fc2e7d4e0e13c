//! Not API, for `cargo fuzz`: the pipeline (or lowering alone) on input that does not come
//! from disk. The fuzz targets live in `fuzz/` at the repository root (see
//! `fuzz/README.md`). Whatever the input, these return `Ok` or an [`Error`]
//! that renders as a diagnostic; a panic is a bug found.

use crate::Generated;
use crate::diagnostics::Error;
use crate::frontend::{self, BUILTIN_FILES, Compiled, Sources};
use crate::model::Api;

/// Generates code for one `.proto` file given as text, imported as
/// `fuzz.proto`; it may import the built-in annotations and the well-known
/// types.
pub fn generate_text(text: &str) -> Result<Generated, Error> {
    crate::generate_compiled(&frontend::compile_memory(&[("fuzz.proto", text)])?)
}

/// Lowers an encoded `FileDescriptorSet` (what `apigen descriptor-set` or
/// `protoc --descriptor_set_out` writes) as if its files had been compiled
/// from source: every file except the built-in annotation files and
/// `google/protobuf/*` is a root. Source info may be absent or partial.
///
/// Only lowering: the backends (prost-build, pbjson-build) expect
/// descriptors as protoc and protox write them (every label, type and
/// source location present), which lowering does not check and protox
/// guarantees; they panic on others.
pub fn lower_descriptor_set(bytes: &[u8]) -> Result<Api, Error> {
    use prost::Message as _;
    // prost-reflect 0.16 panics (index out of bounds) on a file whose syntax is neither proto2
    // nor proto3, building its error before the file is in the pool; protox reports those.
    let set = prost_types::FileDescriptorSet::decode(bytes)
        .map_err(|e| Error::Usage(format!("not a FileDescriptorSet: {e}")))?;
    if let Some(file) = set.file.iter().find(|f| !matches!(f.syntax.as_deref(), None | Some("proto2" | "proto3"))) {
        return Err(Error::Usage(format!("{}: unsupported syntax `{}`", file.name(), file.syntax())));
    }
    // Decoded again by prost-reflect, which keeps custom options (`google.api.http`, …).
    let pool = prost_reflect::DescriptorPool::decode(bytes)
        .map_err(|e| Error::Usage(format!("not a usable FileDescriptorSet: {e}")))?;
    let files = prost_types::FileDescriptorSet { file: pool.file_descriptor_protos().cloned().collect() };
    let roots = files
        .file
        .iter()
        .map(|f| f.name().to_owned())
        .filter(|name| !name.starts_with("google/protobuf/") && !BUILTIN_FILES.iter().any(|(n, _)| n == name))
        .collect();
    crate::lower::lower(&Compiled { pool, files, roots, sources: Sources::default() })
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    #[test]
    fn a_descriptor_set_with_an_unknown_syntax_is_an_error() {
        // Found with the descriptor_set fuzz target (fuzz/README.md): prost-reflect panicked.
        let file = prost_types::FileDescriptorProto {
            name: Some("a.proto".into()),
            package: Some("a".into()),
            syntax: Some("editions".into()),
            ..Default::default()
        };
        let bytes = prost_types::FileDescriptorSet { file: vec![file] }.encode_to_vec();
        let err = super::lower_descriptor_set(&bytes).expect_err("refused");
        assert!(err.render(false).contains("unsupported syntax `editions`"), "{err:?}");
    }

    #[test]
    fn a_map_entry_without_its_value_field_is_an_error() {
        // Found with the descriptor_set fuzz target: prost-reflect's
        // `map_entry_value_field` panicked on an entry message with a key only.
        use prost_types::field_descriptor_proto::{Label, Type};
        use prost_types::{DescriptorProto, FieldDescriptorProto, MessageOptions};
        let field = |name: &str, number, label: Label, ty: Type, type_name: Option<&str>| FieldDescriptorProto {
            name: Some(name.into()),
            number: Some(number),
            label: Some(label as i32),
            r#type: Some(ty as i32),
            type_name: type_name.map(Into::into),
            json_name: Some(name.into()),
            ..Default::default()
        };
        let entry = DescriptorProto {
            name: Some("TagsEntry".into()),
            field: vec![field("key", 1, Label::Optional, Type::String, None)],
            options: Some(MessageOptions { map_entry: Some(true), ..Default::default() }),
            ..Default::default()
        };
        let message = DescriptorProto {
            name: Some("M".into()),
            field: vec![field("tags", 1, Label::Repeated, Type::Message, Some(".a.M.TagsEntry"))],
            nested_type: vec![entry],
            ..Default::default()
        };
        let file = prost_types::FileDescriptorProto {
            name: Some("a.proto".into()),
            package: Some("a".into()),
            syntax: Some("proto3".into()),
            message_type: vec![message],
            ..Default::default()
        };
        let bytes = prost_types::FileDescriptorSet { file: vec![file] }.encode_to_vec();
        let report = super::lower_descriptor_set(&bytes).expect_err("refused").render(false);
        assert!(report.contains("map field `a.M.tags` has an entry message without"), "{report}");
    }

    #[test]
    fn a_descriptor_set_whose_types_the_pool_holds_elsewhere_lowers_without_a_panic() {
        // Found with the descriptor_set fuzz target: prost-reflect's `FileDescriptor::services`
        // panicked ("service not found") on this set; lowering now looks each type up itself.
        let bytes = include_bytes!("../../fuzz/regressions/descriptor_set-service-not-in-pool.binpb");
        let _ = super::lower_descriptor_set(bytes);
    }
}
