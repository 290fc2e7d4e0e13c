//! Message and enum types: prost-build for the structs, pbjson-build for the
//! proto3 JSON mapping. Both are fed the descriptors protox produced; their
//! output is redirected to the crates `apigen-runtime` re-exports.

use std::collections::BTreeMap;

use prost::Message as _;
use prost_build::Module;
use syn::visit_mut::{self, VisitMut};

use crate::diagnostics::Error;
use crate::frontend::Compiled;
use crate::model::Api;

/// The Rust code of every package's types, by package name.
pub fn generate(compiled: &Compiled, api: &Api) -> Result<BTreeMap<String, String>, Error> {
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
        let mut code = by_module.remove(&module).unwrap_or_default();
        // prost marks ```rust blocks `compile_fail`, which still runs them.
        code = code.replace("```compile_fail", "```text");
        for (pkg, bytes) in &serde {
            if pkg.to_string().replace("r#", "") == package.name {
                code.push_str(&runtime_paths(&String::from_utf8_lossy(bytes))?);
            }
        }
        out.insert(package.name.clone(), code);
    }
    Ok(out)
}

/// Points pbjson's `serde::` and `pbjson::` paths at the runtime's re-exports.
fn runtime_paths(code: &str) -> Result<String, Error> {
    struct Rewrite;
    impl VisitMut for Rewrite {
        fn visit_path_mut(&mut self, path: &mut syn::Path) {
            // pbjson names some std items without a path; a message called
            // `Vec` or `ToString` would shadow them.
            if path.leading_colon.is_none() {
                let idents: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
                let generic =
                    matches!(path.segments.first().map(|s| &s.arguments), Some(syn::PathArguments::AngleBracketed(_)));
                let std: Option<syn::Path> =
                    match (idents.iter().map(String::as_str).collect::<Vec<_>>().as_slice(), generic) {
                        (["Vec"], true) => Some(syn::parse_quote!(::std::vec::Vec)),
                        (["Option"], true) => Some(syn::parse_quote!(::std::option::Option)),
                        (["Box"], true) => Some(syn::parse_quote!(::std::boxed::Box)),
                        (["ToString", _], _) => Some(syn::parse_quote!(::std::string::ToString)),
                        _ => None,
                    };
                if let Some(std) = std {
                    let rest: Vec<syn::PathSegment> = path.segments.iter().skip(1).cloned().collect();
                    let args = path.segments[0].arguments.clone();
                    let mut new = std;
                    if let Some(last) = new.segments.last_mut() {
                        last.arguments = args;
                    }
                    new.segments.extend(rest);
                    *path = new;
                }
            }
            if let Some(first) = path.segments.first()
                && (first.ident == "serde" || first.ident == "pbjson")
            {
                let runtime: syn::PathSegment = syn::parse_quote!(apigen_runtime);
                path.segments.insert(0, runtime);
                path.leading_colon = Some(Default::default());
            }
            visit_mut::visit_path_mut(self, path);
        }
        fn visit_item_use_mut(&mut self, item: &mut syn::ItemUse) {
            if let syn::UseTree::Path(p) = &item.tree
                && (p.ident == "serde" || p.ident == "pbjson")
            {
                let inner = item.tree.clone();
                item.tree = syn::parse_quote!(apigen_runtime::#inner);
                item.leading_colon = Some(Default::default());
            }
        }
    }
    let mut file = syn::parse_file(code).map_err(|e| Error::Internal(format!("pbjson output does not parse: {e}")))?;
    Rewrite.visit_file_mut(&mut file);
    Ok(quote::ToTokens::to_token_stream(&file).to_string())
}
