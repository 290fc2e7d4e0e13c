//! Message and enum types: prost-build for the structs, pbjson-build for the
//! proto3 JSON mapping. Both are fed the descriptors protox produced; their
//! output is redirected to the crates `apigen-runtime` re-exports.

use std::collections::BTreeMap;

use prost::Message as _;
use prost_build::Module;

use crate::diagnostics::Error;
use crate::frontend::Compiled;
use crate::model::Api;

/// The Rust code of every package's types, by package name: prost's structs
/// and pbjson's serde implementations (most of the generated code, already
/// formatted by pbjson-build, so it is not parsed and printed again).
pub fn generate(compiled: &Compiled, api: &Api) -> Result<BTreeMap<String, crate::output::PackageCode>, Error> {
    let wanted: Vec<&str> = api.packages.iter().flat_map(|p| p.files.iter().map(String::as_str)).collect();
    // prost-build needs every message (well-known types included) to decide
    // which traits a struct can derive, so it sees all files; the output of
    // files that are not generated goes to a module that is dropped.
    let skipped = Module::from_parts(["__apigen_not_generated"]);
    let requests: Vec<(Module, prost_types::FileDescriptorProto)> = compiled
        .files
        .file
        .iter()
        .map(|f| {
            let module = if wanted.contains(&f.name()) {
                Module::from_protobuf_package_name(f.package())
            } else {
                skipped.clone()
            };
            (module, f.clone())
        })
        .collect();

    let mut config = prost_build::Config::new();
    config
        .prost_path("::apigen_runtime::prost")
        // Well-known types are not built-in prost-types here: they come from
        // pbjson-types (re-exported by the runtime), which has their JSON forms.
        .compile_well_known_types()
        .extern_path(".google.protobuf", "::apigen_runtime::wkt")
        .format(false);
    let modules = config.generate(requests).map_err(|e| Error::Internal(format!("prost-build failed: {e}")))?;
    let mut by_module: BTreeMap<Vec<String>, String> =
        modules.into_iter().map(|(m, code)| (m.parts().map(str::to_owned).collect(), code)).collect();

    // pbjson-build panics on files without a package; lowering has already
    // rejected those that declare anything, so the rest can be left out.
    let mut with_package = compiled.files.clone();
    with_package.file.retain(|f| f.package.is_some());
    let descriptor_set = with_package.encode_to_vec();
    let mut builder = pbjson_build::Builder::new();
    builder
        .register_descriptors(&descriptor_set)
        .map_err(|e| Error::Internal(format!("pbjson-build rejected the descriptors: {e}")))?
        .extern_path(".google.protobuf", "::apigen_runtime::wkt");
    let prefixes: Vec<String> = api
        .packages
        .iter()
        .flat_map(|p| p.messages.iter().map(|m| &m.full_name).chain(p.enums.iter().map(|e| &e.full_name)))
        .map(|n| format!(".{n}"))
        .collect();
    let serde = builder
        .generate(&prefixes, |_| Ok(Vec::<u8>::new()))
        .map_err(|e| Error::Internal(format!("pbjson-build failed: {e}")))?;

    let mut out = BTreeMap::new();
    for package in &api.packages {
        let module: Vec<String> =
            Module::from_protobuf_package_name(&package.name).parts().map(str::to_owned).collect();
        let mut code = crate::output::PackageCode {
            // prost marks ```rust blocks `compile_fail`, which still runs them.
            types: by_module.remove(&module).unwrap_or_default().replace("```compile_fail", "```text"),
            ..Default::default()
        };
        for (pkg, bytes) in &serde {
            if pkg.to_string().replace("r#", "") == package.name {
                code.json.push_str(&runtime_paths(&String::from_utf8_lossy(bytes)));
            }
        }
        out.insert(package.name.clone(), code);
    }
    Ok(out)
}

/// Points pbjson's `serde::` and `pbjson::` paths at the runtime's
/// re-exports, and its unqualified `Vec<…>`, `Option<…>`, `Box<…>` and
/// `ToString::` at `::std` (a message called `Vec` would shadow them).
///
/// pbjson-build writes formatted code, so it is rewritten as text, token by
/// token, strings and comments left alone: parsing and printing it (most of
/// the generated code) took longer than the rest of apigen together.
fn runtime_paths(code: &str) -> String {
    let bytes = code.as_bytes();
    let mut out = String::with_capacity(code.len() + code.len() / 8);
    let mut i = 0;
    let mut copied = 0;
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    while i < bytes.len() {
        match bytes[i] {
            b'"' => i = skip_string(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                i = bytes[i..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |n| i + n);
            }
            // A char literal ('x'), or a lifetime, whose name is no path.
            b'\'' if bytes.get(i + 2) == Some(&b'\'') => i += 3,
            b'\'' => i += 1,
            b if b.is_ascii_alphabetic() || b == b'_' => {
                let start = i;
                while i < bytes.len() && is_ident(bytes[i]) {
                    i += 1;
                }
                let ident = &code[start..i];
                let rest = &code[i..];
                let before = &code[..start];
                // `::pbjson::…` is as much pbjson's as `pbjson::…`; `a::Vec` is someone else's.
                let leading = before.ends_with("::")
                    && !before[..before.len() - 2]
                        .ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '>');
                let qualified = before.ends_with("::") && !leading;
                let replacement = match ident {
                    "serde" | "pbjson" if leading && rest.starts_with("::") => Some(format!("apigen_runtime::{ident}")),
                    _ if qualified || leading => None,
                    "serde" | "pbjson" if rest.starts_with("::") => Some(format!("::apigen_runtime::{ident}")),
                    "Vec" | "Option" | "Box" if rest.starts_with('<') || rest.starts_with("::<") => {
                        Some(format!("::std::{}::{ident}", std_module(ident)))
                    }
                    "ToString" if rest.starts_with("::") => Some("::std::string::ToString".to_owned()),
                    _ => None,
                };
                if let Some(replacement) = replacement {
                    out.push_str(&code[copied..start]);
                    out.push_str(&replacement);
                    copied = i;
                }
            }
            _ => i += 1,
        }
    }
    out.push_str(&code[copied..]);
    out
}

fn std_module(ident: &str) -> &'static str {
    match ident {
        "Vec" => "vec",
        "Option" => "option",
        _ => "boxed",
    }
}

/// The index just past the string literal starting at `start`.
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::runtime_paths;

    #[test]
    fn paths_point_at_the_runtime_and_std() {
        let pbjson = "use serde::ser::SerializeStruct;\nimpl serde::Serialize for Vec {\n    // serde::x in a comment\n    \
                      let v: Vec<_> = s.collect::<Vec<_>>(); let o = map_.next_value::<::std::option::Option<i32>>()?;\n    \
                      let b: Box<T> = x; let n = ToString::to_string(&1); let s = \"serde::Vec<\\\" pbjson::\"; \
                      pbjson::private::base64::encode(&self.x); fn f<'de>() {} let c = 'x'; Vec::<u8>::new();\n\
                      ::pbjson::private::NumberDeserialize::<i32>; x::<::serde::de::IgnoredAny>; a::serde::b;\n}\n";
        let expected = "use ::apigen_runtime::serde::ser::SerializeStruct;\nimpl ::apigen_runtime::serde::Serialize for Vec {\n    \
                        // serde::x in a comment\n    let v: ::std::vec::Vec<_> = s.collect::<::std::vec::Vec<_>>(); \
                        let o = map_.next_value::<::std::option::Option<i32>>()?;\n    let b: ::std::boxed::Box<T> = x; \
                        let n = ::std::string::ToString::to_string(&1); let s = \"serde::Vec<\\\" pbjson::\"; \
                        ::apigen_runtime::pbjson::private::base64::encode(&self.x); fn f<'de>() {} let c = 'x'; \
                        ::std::vec::Vec::<u8>::new();\n::apigen_runtime::pbjson::private::NumberDeserialize::<i32>; \
                        x::<::apigen_runtime::serde::de::IgnoredAny>; a::serde::b;\n}\n";
        assert_eq!(runtime_paths(pbjson), expected);
    }
}
