//! Message and enum types: prost-build for the structs (fed the descriptors
//! protox produced, its output pointed at the crates `apigen-runtime`
//! re-exports), and `json` for their proto3 JSON mapping.

use std::collections::BTreeMap;

use prost_build::Module;

use crate::diagnostics::Error;
use crate::frontend::Compiled;
use crate::model::Api;

/// The Rust code of every package's types, by package name: prost's structs
/// and their serde implementations.
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
        // Well-known types are the runtime's, which have their JSON forms.
        .compile_well_known_types()
        .extern_path(".google.protobuf", "::apigen_runtime::wkt")
        .format(false);
    let modules = config.generate(requests).map_err(|e| Error::Internal(format!("prost-build failed: {e}")))?;
    let mut by_module: BTreeMap<Vec<String>, String> =
        modules.into_iter().map(|(m, code)| (m.parts().map(str::to_owned).collect(), code)).collect();

    let mut out = BTreeMap::new();
    for package in &api.packages {
        let module: Vec<String> =
            Module::from_protobuf_package_name(&package.name).parts().map(str::to_owned).collect();
        let mut code = crate::output::PackageCode {
            // prost marks ```rust blocks `compile_fail`, which still runs them.
            types: by_module.remove(&module).unwrap_or_default().replace("```compile_fail", "```text"),
            ..Default::default()
        };
        code.json = super::json::generate(package);
        out.insert(package.name.clone(), code);
    }
    Ok(out)
}
