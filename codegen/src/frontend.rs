//! The frontend: `.proto` files to descriptors with protox, no `protoc`.
//!
//! Files resolve against the user's include paths first, then the annotation
//! files built into apigen, then protobuf's well-known types. A user's copy of
//! `google/api/http.proto` therefore wins over ours; both define the same
//! names and numbers, so nothing else notices.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use prost_reflect::DescriptorPool;
use protox::file::{File, FileResolver, GoogleFileResolver, IncludeFileResolver};

use crate::diagnostics::Error;

/// Annotation files shipped inside apigen, importable without vendoring.
pub const BUILTIN_FILES: &[(&str, &str)] = &[
    ("apigen/options.proto", include_str!("../../schemas/apigen/options.proto")),
    ("buf/validate/validate.proto", include_str!("../../schemas/buf/validate/validate.proto")),
    ("google/api/annotations.proto", include_str!("../../schemas/google/api/annotations.proto")),
    ("google/api/field_behavior.proto", include_str!("../../schemas/google/api/field_behavior.proto")),
    ("google/api/http.proto", include_str!("../../schemas/google/api/http.proto")),
    ("google/api/httpbody.proto", include_str!("../../schemas/google/api/httpbody.proto")),
    ("google/rpc/error_details.proto", include_str!("../../schemas/google/rpc/error_details.proto")),
    ("google/rpc/status.proto", include_str!("../../schemas/google/rpc/status.proto")),
];

/// The files apigen reads as annotations. Their types are generated only when
/// a schema uses one of them as a field or method type.
pub const ANNOTATION_FILES: &[&str] = &[
    "apigen/options.proto",
    "buf/validate/validate.proto",
    "google/api/annotations.proto",
    "google/api/field_behavior.proto",
    "google/api/http.proto",
];

/// The source text of every file that was read, by its import name.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    files: BTreeMap<String, SourceFile>,
}

/// One source file: where it came from and its text.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path on disk; `None` for built-in files.
    pub path: Option<PathBuf>,
    /// The text, shared with diagnostics.
    pub text: Arc<String>,
    /// The byte offset where each line starts.
    line_starts: Vec<usize>,
}

impl SourceFile {
    fn new(path: Option<PathBuf>, text: &str) -> SourceFile {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        SourceFile { path, text: Arc::new(text.to_owned()), line_starts }
    }

    /// The byte offset of a 0-based line and column (in characters), as
    /// protobuf's source info counts them; the end of the text just past it.
    pub fn offset_of(&self, line: i32, col: i32) -> Option<usize> {
        let line = usize::try_from(line).ok()?;
        let Some(&start) = self.line_starts.get(line) else {
            return (line == self.line_starts.len()).then_some(self.text.len());
        };
        let end = self.line_starts.get(line + 1).copied().unwrap_or(self.text.len());
        let in_line: usize = self.text[start..end].chars().take(col.max(0) as usize).map(char::len_utf8).sum();
        Some(start + in_line)
    }
}

impl Sources {
    /// The source of the file imported as `name`.
    pub fn get(&self, name: &str) -> Option<&SourceFile> {
        self.files.get(name)
    }

    /// Every file on disk that was read, for `cargo:rerun-if-changed`.
    pub fn disk_paths(&self) -> impl Iterator<Item = &Path> {
        self.files.values().filter_map(|f| f.path.as_deref())
    }

    /// How the file should be named to a user: its path when it has one.
    pub fn display_name(&self, name: &str) -> String {
        match self.files.get(name).and_then(|f| f.path.as_ref()) {
            Some(path) => path.display().to_string(),
            None => name.to_owned(),
        }
    }
}

/// What the frontend hands to lowering.
pub struct Compiled {
    /// Every file in the closure, with options (extensions included) readable.
    pub pool: DescriptorPool,
    /// The same files as plain descriptors with source info, in dependency order.
    pub files: prost_types::FileDescriptorSet,
    /// The import names of the files named on the command line.
    pub roots: Vec<String>,
    /// Source text by import name.
    pub sources: Sources,
}

struct Resolver {
    /// Files given as text (import name, text), found before any include path.
    memory: Vec<(String, String)>,
    includes: Vec<IncludeFileResolver>,
    google: GoogleFileResolver,
    read: Rc<RefCell<Sources>>,
}

impl Resolver {
    fn record(&self, name: &str, file: &File) {
        if let Some(text) = file.source() {
            self.read
                .borrow_mut()
                .files
                .insert(name.to_owned(), SourceFile::new(file.path().map(Path::to_owned), text));
        }
    }
}

impl FileResolver for Resolver {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        self.includes.iter().find_map(|r| r.resolve_path(path))
    }

    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if let Some((_, text)) = self.memory.iter().find(|(n, _)| n == name) {
            let file = File::from_source(name, text)?;
            self.record(name, &file);
            return Ok(file);
        }
        for include in &self.includes {
            match include.open_file(name) {
                Ok(file) => {
                    self.record(name, &file);
                    return Ok(file);
                }
                Err(err) if err.is_file_not_found() => continue,
                Err(err) => return Err(err),
            }
        }
        if let Some((_, text)) = BUILTIN_FILES.iter().find(|(n, _)| *n == name) {
            let file = File::from_source(name, text)?;
            self.record(name, &file);
            return Ok(file);
        }
        self.google.open_file(name)
    }
}

/// Compiles `files` (paths on disk) against `includes`.
///
/// With no include path, each file's own directory is one, so
/// `apigen generate path/to/x.proto` works without `-I`.
pub fn compile(files: &[PathBuf], includes: &[PathBuf]) -> Result<Compiled, Error> {
    compile_with_flag(files, includes, "-I")
}

/// [`compile`], naming `flag` as the way to add an include path when a
/// file is outside them (`apigen breaking`'s old files have their own).
pub(crate) fn compile_with_flag(files: &[PathBuf], includes: &[PathBuf], flag: &str) -> Result<Compiled, Error> {
    let mut includes: Vec<PathBuf> = includes.to_vec();
    if includes.is_empty() {
        for file in files {
            let dir = file.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if !includes.iter().any(|i| i == dir) {
                includes.push(dir.to_owned());
            }
        }
    }
    for file in files {
        if !file.is_file() {
            return Err(Error::Usage(format!("{}: no such file; pass the path of a .proto file", file.display())));
        }
    }
    let read = Rc::new(RefCell::new(Sources::default()));
    let resolver = Resolver {
        memory: Vec::new(),
        includes: includes.iter().cloned().map(IncludeFileResolver::new).collect(),
        google: GoogleFileResolver::new(),
        read: Rc::clone(&read),
    };
    let mut roots = Vec::new();
    for file in files {
        // A relative file under an absolute include (or the other way
        // round) resolves once both are absolute.
        let absolute = || {
            let file = std::path::absolute(file).ok()?;
            includes.iter().find_map(|i| IncludeFileResolver::new(std::path::absolute(i).ok()?).resolve_path(&file))
        };
        match resolver.resolve_path(file).or_else(absolute) {
            Some(name) => roots.push(name),
            None => {
                return Err(Error::Usage(format!(
                    "{} is not under any include path ({}); add its directory with {flag}",
                    file.display(),
                    includes.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
                )));
            }
        }
    }
    finish(resolver, roots, &read)
}

/// Compiles files given as text, `(import name, text)`, which import each
/// other, the built-in annotations and the well-known types (for
/// `crate::fuzzing`: no disk, no include paths).
pub(crate) fn compile_memory(files: &[(&str, &str)]) -> Result<Compiled, Error> {
    let read = Rc::new(RefCell::new(Sources::default()));
    let resolver = Resolver {
        memory: files.iter().map(|(n, t)| ((*n).to_owned(), (*t).to_owned())).collect(),
        includes: Vec::new(),
        google: GoogleFileResolver::new(),
        read: Rc::clone(&read),
    };
    let roots = files.iter().map(|(n, _)| (*n).to_owned()).collect();
    finish(resolver, roots, &read)
}

fn finish(resolver: Resolver, roots: Vec<String>, read: &Rc<RefCell<Sources>>) -> Result<Compiled, Error> {
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(&roots).map_err(|e| Error::Protox(Box::new(e)))?;
    let files = compiler.file_descriptor_set();
    let pool = compiler.descriptor_pool();
    drop(compiler);
    let sources = read.borrow().clone();
    Ok(Compiled { pool, files, roots, sources })
}
