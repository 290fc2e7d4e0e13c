//! apigen: one protobuf schema in; Rust types, service traits and protocol
//! adapters out.
//!
//! The pipeline (see `ARCHITECTURE.md`):
//! [`frontend`] (protox) → [`lower`] (descriptors to [`model`]) →
//! [`backend`]s → [`output`] (syn + prettyplease, write or check).
//!
//! From a `build.rs`:
//!
//! ```no_run
//! fn main() -> Result<(), apigen::Error> {
//!     apigen::configure().compile(&["proto/bookstore.proto"], &["proto"])
//! }
//! ```
//!
//! and in the crate, `apigen_runtime::include_api!();`.

pub mod backend;
pub mod diagnostics;
pub mod evolve;
pub mod frontend;
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "gateway")]
pub mod gateway;
pub mod lint;
pub mod lower;
pub mod model;
pub mod output;
pub mod scaffold;

use std::path::{Path, PathBuf};

pub use diagnostics::{Diagnostic, Error};
pub use output::Files;

/// Everything one run produced: the files, and every file read on the way.
#[derive(Debug)]
pub struct Generated {
    /// The generated files, by path relative to the output directory.
    pub files: Files,
    /// The `.proto` files read from disk (imports included).
    pub inputs: Vec<PathBuf>,
    /// The model, for tools built on apigen.
    pub api: model::Api,
}

/// Runs the whole pipeline for `files` with `includes` as import roots.
///
/// With no include path, each file's directory is one.
pub fn generate(files: &[PathBuf], includes: &[PathBuf]) -> Result<Generated, Error> {
    generate_compiled(&frontend::compile(files, includes)?)
}

/// The pipeline after the frontend.
fn generate_compiled(compiled: &frontend::Compiled) -> Result<Generated, Error> {
    let api = lower::lower(compiled)?;
    let mut code = backend::types::generate(compiled, &api)?;
    let rules = backend::input::Rules::new(&api);
    let checked = backend::validate::Checked::new(&api);
    let graphql_names = backend::graphql::field_names(&api);
    let messages: backend::service::Messages = api.messages_by_name();
    for package in &api.packages {
        let body = &mut code.entry(package.name.clone()).or_default().rest;
        body.push_str(&backend::input::generate(package, &rules));
        body.push_str(&backend::validate::generate(package, &checked, &api));
        if !package.services.is_empty() {
            body.push_str(&backend::descriptor::generate(compiled, package));
            body.push_str(&backend::json::register_fn(package, &api));
            let prepare = backend::validate::prepare(package, &checked, &api);
            body.push_str(&backend::service::generate(package, &messages, &graphql_names, &prepare)?);
        }
    }
    let openapi = backend::openapi::generate(&api)?;
    let sdl = backend::graphql::generate(&api)?;
    let relations = backend::graphql::relations_table(&api);
    let mut typescript = vec![
        ("index.ts", backend::ts::generate(&api, &api.roots)),
        ("ws.ts", backend::ts::websocket_client(&api.roots)),
    ];
    if let Some(validate) = backend::ts_validate::generate(&api, &api.roots) {
        typescript.push(("validate.ts", validate));
    }
    let ts_names: Vec<&str> = typescript.iter().map(|(name, _)| *name).collect();
    let mut files = output::assemble(&api, code, openapi.is_some(), sdl.is_some(), relations.as_deref(), &ts_names)?;
    if let Some((json, yaml)) = openapi {
        files.0.insert("openapi.json".to_owned(), json);
        files.0.insert("openapi.yaml".to_owned(), yaml);
    }
    if let Some(sdl) = sdl {
        files.0.insert("schema.graphql".to_owned(), sdl);
    }
    files.0.insert("portal.json".to_owned(), backend::portal::generate(&api));
    for (name, text) in typescript {
        files.0.insert(format!("ts/{name}"), text);
    }
    let inputs = compiled.sources.disk_paths().map(Path::to_owned).collect();
    Ok(Generated { files, inputs, api })
}

/// The encoded `FileDescriptorSet` of `files` and everything they import
/// (what `protoc --include_imports --descriptor_set_out` writes), with
/// custom options and source info, for tools such as `buf curl --schema` or
/// protobuf-es' `createFileRegistry`.
pub fn descriptor_set(files: &[PathBuf], includes: &[PathBuf]) -> Result<Vec<u8>, Error> {
    let compiled = frontend::compile(files, includes)?;
    lower::lower(&compiled)?;
    Ok(backend::descriptor::encode_set(&compiled, |_| true, true))
}

/// Starts a `build.rs` configuration.
///
/// ```no_run
/// // build.rs
/// fn main() -> Result<(), apigen::Error> {
///     apigen::configure().compile(&["proto/bookstore.proto"], &["proto"])
/// }
/// ```
pub fn configure() -> Config {
    Config::default()
}

/// Options for generating code from a `build.rs`.
#[derive(Debug, Clone, Default)]
pub struct Config {
    out_dir: Option<PathBuf>,
}

impl Config {
    /// Writes into `dir` instead of `$OUT_DIR/apigen`, for stubs committed
    /// to the repository:
    ///
    /// ```no_run
    /// // build.rs
    /// fn main() -> Result<(), apigen::Error> {
    ///     apigen::configure().out_dir("src/gen").compile(&["proto/x.proto"], &["proto"])
    /// }
    /// // src/lib.rs: `mod gen;`
    /// ```
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Generates code for `files` (and everything they import), resolving
    /// imports against `includes`, and prints `cargo:rerun-if-changed` for
    /// every file read.
    ///
    /// ```no_run
    /// apigen::configure().compile(&["proto/x.proto"], &["proto"]).unwrap();
    /// ```
    pub fn compile(&self, files: &[impl AsRef<Path>], includes: &[impl AsRef<Path>]) -> Result<(), Error> {
        let files: Vec<PathBuf> = files.iter().map(|f| f.as_ref().to_owned()).collect();
        let includes: Vec<PathBuf> = includes.iter().map(|f| f.as_ref().to_owned()).collect();
        let result = generate(&files, &includes);
        // Even on error, rerun when the named files change.
        for file in &files {
            println!("cargo:rerun-if-changed={}", file.display());
        }
        let generated = result?;
        for input in &generated.inputs {
            if !files.contains(input) {
                println!("cargo:rerun-if-changed={}", input.display());
            }
        }
        let dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => {
                let out = std::env::var_os("OUT_DIR").ok_or_else(|| {
                    Error::Usage("OUT_DIR is not set: call compile() from a build.rs, or set .out_dir(..)".to_owned())
                })?;
                PathBuf::from(out).join("apigen")
            }
        };
        generated.files.write(&dir)
    }
}
