//! `apigen new`: a crate that builds and serves every protocol on its first
//! `cargo run`.
//!
//! The crate's files are the templates in `templates/new/`, with a few
//! placeholders replaced: `{{name}}` by the crate's name (the package and
//! binary: `demo-svc`), `{{snake_name}}` by its snake_case form (the proto
//! package, its file and Rust module: `demo_svc`), `{{apigen}}` and
//! `{{apigen_runtime}}` by the dependency specifications of `apigen` and
//! `apigen-runtime`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use heck::{ToKebabCase, ToSnakeCase};

use crate::Error;

/// What `apigen new` creates.
#[derive(Debug, Clone)]
pub struct NewCrate {
    /// The crate's name, for example `bookshop` or `demo-svc`; its snake_case
    /// form (`demo_svc`) is the proto package.
    pub name: String,
    /// The directory to create; it must not exist or be empty.
    pub dir: PathBuf,
    /// A checkout of apigen to depend on by path; `None`: the published versions.
    pub apigen_path: Option<PathBuf>,
}

/// The files of a new crate: where each goes, and its template.
const FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../../templates/new/Cargo.toml")),
    ("build.rs", include_str!("../../templates/new/build.rs")),
    ("proto/{{snake_name}}.proto", include_str!("../../templates/new/service.proto")),
    ("src/main.rs", include_str!("../../templates/new/main.rs")),
    (".gitignore", include_str!("../../templates/new/gitignore")),
    ("README.md", include_str!("../../templates/new/README.md")),
];

/// The version of `apigen` and `apigen-runtime` a crate depends on without
/// `--apigen-path`.
const PUBLISHED_VERSION: &str = "0.1";

/// Writes the crate; returns the files written, relative to `dir`.
///
/// Nothing is overwritten: `dir` must not exist or be an empty directory, and
/// every file is created new.
pub fn create(new: &NewCrate) -> Result<Vec<PathBuf>, Error> {
    check_name(&new.name)?;
    let snake_name = snake_name(&new.name);
    let (apigen, apigen_runtime) = match &new.apigen_path {
        Some(checkout) => {
            let checkout = apigen_checkout(checkout)?;
            let runtime = path_dependency(&checkout.join("runtime"))?;
            let runtime = runtime.strip_suffix(" }").map(|r| format!("{r}, {RUNTIME_FEATURES} }}")).unwrap_or(runtime);
            (path_dependency(&checkout.join("codegen"))?, runtime)
        }
        None => {
            (format!("\"{PUBLISHED_VERSION}\""), format!("{{ version = \"{PUBLISHED_VERSION}\", {RUNTIME_FEATURES} }}"))
        }
    };
    check_dir(&new.dir)?;
    let render = |template: &str| {
        template
            .replace("{{name}}", &new.name)
            .replace("{{snake_name}}", &snake_name)
            .replace("{{apigen}}", &apigen)
            .replace("{{apigen_runtime}}", &apigen_runtime)
    };
    let mut written = Vec::with_capacity(FILES.len());
    for (path, template) in FILES {
        let path = PathBuf::from(render(path));
        write_new(&new.dir.join(&path), &render(template))?;
        written.push(path);
    }
    Ok(written)
}

/// Names `rustc`, Cargo or the new crate itself cannot take, and why.
const RESERVED: &[(&[&str], &str)] = &[
    (
        &[
            "abstract", "as", "async", "await", "become", "box", "break", "const", "continue", "crate", "do", "dyn",
            "else", "enum", "extern", "false", "final", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "macro",
            "match", "mod", "move", "mut", "override", "priv", "pub", "ref", "return", "self", "static", "struct",
            "super", "trait", "true", "try", "type", "typeof", "unsafe", "unsized", "use", "virtual", "where", "while",
            "yield",
        ],
        "a Rust keyword",
    ),
    (&["alloc", "core", "proc_macro", "std", "test"], "a crate of Rust's standard library"),
    (&["build", "deps", "examples", "incremental"], "a directory Cargo builds into"),
    (&["apigen", "apigen_runtime", "tokio"], "a dependency of the new crate"),
    (&["v1"], "the version in the proto package, which would be `v1.v1`"),
    (
        &[
            "aux", "con", "nul", "prn", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8", "com9", "lpt1",
            "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
        ],
        "a reserved file name on Windows",
    ),
];

/// The name with `-` as `_`: what Cargo calls the crate in Rust, and here
/// also the proto package, its file and the module prost makes of it.
fn snake_name(name: &str) -> String {
    name.replace('-', "_")
}

/// A name is a Cargo package name in snake_case or kebab-case: lowercase
/// ASCII letters and digits in words joined by single `_` or `-`, starting
/// with a letter. So it is a package and directory name, and its snake form
/// a Rust module and proto package that prost keeps unchanged.
fn check_name(name: &str) -> Result<(), Error> {
    let snake = snake_name(name);
    let well_formed = name.starts_with(|c: char| c.is_ascii_lowercase())
        && snake.split('_').all(|word| !word.is_empty())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        && snake.to_snake_case() == snake;
    // Suggest in the style the name was written in.
    let (separator, restyled) =
        if name.contains('-') { ("-", name.to_kebab_case()) } else { ("_", name.to_snake_case()) };
    if !well_formed {
        let suggestion = Some(restyled)
            .filter(|s| s.starts_with(|c: char| c.is_ascii_lowercase()) && check_name(s).is_ok())
            .unwrap_or_else(|| format!("my{separator}app"));
        return Err(Error::Usage(format!(
            "`{name}` is not a valid name: use lowercase letters and digits in words joined by single `-` or `_`, \
             starting with a letter, for example {suggestion}"
        )));
    }
    // The snake form is what Rust, protobuf and the file system see.
    if let Some((_, why)) = RESERVED.iter().find(|(names, _)| names.contains(&snake.as_str())) {
        return Err(Error::Usage(format!(
            "`{name}` is not a valid name: it is {why}; choose another, for example my{separator}{name}"
        )));
    }
    Ok(())
}

/// `checkout` made absolute, once it is known to be a checkout of apigen.
fn apigen_checkout(checkout: &Path) -> Result<PathBuf, Error> {
    let absolute =
        checkout.canonicalize().map_err(|e| Error::Usage(format!("--apigen-path {}: {e}", checkout.display())))?;
    for member in ["codegen", "runtime"] {
        if !absolute.join(member).join("Cargo.toml").is_file() {
            return Err(Error::Usage(format!(
                "--apigen-path {}: not a checkout of apigen, it has no {member}/Cargo.toml",
                checkout.display()
            )));
        }
    }
    Ok(absolute)
}

/// `{ path = "…" }` for Cargo.toml.
fn path_dependency(path: &Path) -> Result<String, Error> {
    let path = path
        .to_str()
        .ok_or_else(|| Error::Usage(format!("--apigen-path {}: the path is not UTF-8", path.display())))?;
    // A JSON string is a valid TOML basic string: the same escapes, `\uXXXX` included.
    let quoted = serde_json::Value::from(path).to_string();
    Ok(format!("{{ path = {quoted} }}"))
}

/// The runtime's features the new crate's production flags need: `--jwks`
/// and `--otlp`.
const RUNTIME_FEATURES: &str = "features = [\"jwt\", \"otlp\"]";

/// `dir` must be new or an empty directory.
fn check_dir(dir: &Path) -> Result<(), Error> {
    let io = |source| Error::Io { context: format!("reading {}", dir.display()), source };
    match fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(e)),
        Ok(meta) if !meta.is_dir() => {
            Err(Error::Usage(format!("{} exists and is not a directory: choose another --dir", dir.display())))
        }
        Ok(_) => match fs::read_dir(dir).map_err(io)?.next() {
            None => Ok(()),
            Some(_) => Err(Error::Usage(format!(
                "{} is not empty: apigen new writes only into a new or empty directory; choose another --dir",
                dir.display()
            ))),
        },
    }
}

/// Creates `path` (and its parent directories) with `contents`; fails rather
/// than overwrite a file that appeared meanwhile.
fn write_new(path: &Path, contents: &str) -> Result<(), Error> {
    let io = |source| Error::Io { context: format!("writing {}", path.display()), source };
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io)?;
    }
    let mut file = fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(io)?;
    file.write_all(contents.as_bytes()).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_snake_or_kebab_case() {
        for good in ["notes", "my_app", "app2", "a1_b2", "union", "raw", "my-app", "demo-svc", "a-b_c", "type-a"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in [
            "", "MyApp", "my-App", "_app", "app_", "-app", "app-", "my__app", "my--app", "my-_app", "2app", "ünï",
            "my app", "my.app", "type", "gen", "self",
        ] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        for reserved in ["test", "core", "std", "tokio", "apigen_runtime", "apigen-runtime", "proc-macro", "deps"] {
            assert!(check_name(reserved).is_err(), "{reserved}");
        }
        for reserved in ["con", "v1"] {
            assert!(check_name(reserved).is_err(), "{reserved}");
        }
        assert_eq!(snake_name("demo-svc"), "demo_svc");
        assert_eq!(snake_name("a-b_c"), "a_b_c");
    }

    #[test]
    fn bad_names_say_what_is_allowed() {
        let message = |name| match check_name(name) {
            Err(Error::Usage(message)) => message,
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(
            message("MyApp"),
            "`MyApp` is not a valid name: use lowercase letters and digits in words joined by single `-` or `_`, \
             starting with a letter, for example my_app"
        );
        assert!(message("MyService").ends_with("for example my_service"), "{}", message("MyService"));
        assert!(message("my--service").ends_with("for example my-service"), "{}", message("my--service"));
        assert!(message("9").ends_with("for example my_app"));
        assert!(message("9-").ends_with("for example my-app"));
        assert_eq!(
            message("type"),
            "`type` is not a valid name: it is a Rust keyword; choose another, for example my_type"
        );
        assert_eq!(
            message("proc-macro"),
            "`proc-macro` is not a valid name: it is a crate of Rust's standard library; choose another, for \
             example my-proc-macro"
        );
    }

    #[test]
    fn templates_have_no_unknown_placeholders() {
        for (path, template) in FILES {
            let rest = ["{{name}}", "{{snake_name}}", "{{apigen}}", "{{apigen_runtime}}"]
                .iter()
                .fold(template.to_string(), |rest, placeholder| rest.replace(placeholder, ""));
            assert!(!rest.contains("{{"), "{path} has a placeholder that is never replaced");
        }
    }

    #[test]
    fn dependency_paths_are_toml_strings() {
        assert_eq!(path_dependency(Path::new("/src/apigen/runtime")).unwrap(), r#"{ path = "/src/apigen/runtime" }"#);
        assert_eq!(path_dependency(Path::new(r#"/a "b"\c"#)).unwrap(), r#"{ path = "/a \"b\"\\c" }"#);
    }
}
