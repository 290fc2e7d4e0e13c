//! `apigen new`: the crate it writes builds, passes clippy and serves its
//! service over every protocol; bad names and non-empty directories are
//! refused without touching anything.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn apigen(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_apigen")).args(args).output().expect("runs apigen")
}

fn new_crate(name: &str, dir: &Path, apigen_path: Option<&Path>) -> Output {
    let mut args: Vec<&std::ffi::OsStr> = vec!["new".as_ref(), name.as_ref(), "--dir".as_ref(), dir.as_os_str()];
    if let Some(path) = apigen_path {
        args.extend(["--apigen-path".as_ref(), path.as_os_str()]);
    }
    apigen(&args)
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_owned()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Every path under `dir`, relative to it, sorted.
fn tree(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("dir").map(|e| e.expect("entry")) {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).expect("inside").to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    files
}

const FILES: [&str; 6] = [".gitignore", "Cargo.toml", "README.md", "build.rs", "proto/demo_app.proto", "src/main.rs"];

#[test]
fn bad_names_are_usage_errors_and_write_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for (name, says) in [
        (
            "MyApp",
            "`MyApp` is not a valid name: use lowercase letters and digits in words joined by single `-` or `_`, \
             starting with a letter, for example my_app",
        ),
        ("1app", "starting with a letter"),
        ("my__app", "for example my_app"),
        ("my--app", "for example my-app"),
        ("my-_app", "joined by single `-` or `_`"),
        ("app-", "joined by single `-` or `_`"),
        ("my.app", "for example my_app"),
        ("apigen-runtime", "`apigen-runtime` is not a valid name: it is a dependency of the new crate"),
        ("proc-macro", "a crate of Rust's standard library"),
        ("type", "`type` is not a valid name: it is a Rust keyword"),
        ("test", "a crate of Rust's standard library"),
        ("core", "a crate of Rust's standard library"),
        ("std", "a crate of Rust's standard library"),
        ("tokio", "a dependency of the new crate"),
    ] {
        let dir = tmp.path().join("out");
        let out = new_crate(name, &dir, None);
        assert_eq!(out.status.code(), Some(2), "{name}: {out:?}");
        assert!(text(&out.stderr).contains(says), "{name}: {}", text(&out.stderr));
        assert!(!dir.exists(), "{name}: wrote {}", dir.display());
    }
}

#[test]
fn a_non_empty_directory_is_refused_and_left_alone() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo_app");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("Cargo.toml"), "mine").expect("write");
    let out = new_crate("demo_app", &dir, None);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains("is not empty"), "{}", text(&out.stderr));
    assert_eq!(tree(&dir), ["Cargo.toml"]);
    assert_eq!(std::fs::read_to_string(dir.join("Cargo.toml")).expect("read"), "mine");

    // A file where the directory would go is refused too.
    let file = tmp.path().join("file");
    std::fs::write(&file, "mine").expect("write");
    let out = new_crate("demo_app", &file, None);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "mine");

    // --apigen-path must be a checkout of apigen.
    let out = new_crate("demo_app", &tmp.path().join("other"), Some(tmp.path()));
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(text(&out.stderr).contains("not a checkout of apigen"), "{}", text(&out.stderr));
}

#[test]
fn without_apigen_path_the_checkout_apigen_was_built_from_is_used() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // An empty directory is fine.
    let dir = tmp.path().join("demo_app");
    std::fs::create_dir(&dir).expect("mkdir");
    let out = new_crate("demo_app", &dir, None);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(tree(&dir), FILES);
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("read");
    let runtime = Path::new(env!("CARGO_MANIFEST_DIR")).join("../runtime").canonicalize().expect("the runtime");
    assert!(
        manifest.contains(&format!(
            "apigen-runtime = {{ path = {:?}, features = [\"jwt\", \"otlp\"] }}",
            runtime.display().to_string()
        )),
        "{manifest}"
    );
    let stdout = text(&out.stdout);
    assert!(stdout.ends_with(&format!("created demo_app: cd {} && cargo run\n", dir.display())), "{stdout}");
}

#[test]
fn the_library_without_a_checkout_names_the_published_versions() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo_app");
    let new = apigen::scaffold::NewCrate { name: "demo_app".into(), dir: dir.clone(), apigen_path: None };
    apigen::scaffold::create(&new).expect("created");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("read");
    assert!(
        manifest.contains("apigen-runtime = { version = \"0.1\", features = [\"jwt\", \"otlp\"] }\n"),
        "{manifest}"
    );
    assert!(manifest.contains("apigen = \"0.1\"\n"), "{manifest}");
}

/// The workspace's target directory, as `.ci/test` and `./regenerate-examples` choose it.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => dir.into(),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/apigen-target"),
    }
}

/// Runs cargo in `dir` with the workspace's target directory and dev profile,
/// so the dependencies the workspace has built are reused, not rebuilt.
fn cargo(dir: &Path, args: &[&str]) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let started = Instant::now();
    let (subcommand, rest) = args.split_first().expect("a subcommand");
    let out = Command::new(cargo)
        .arg(subcommand)
        .args(["--offline", "--quiet"])
        // The workspace's [profile.dev], which is part of every dependency's hash.
        .args(["--config", "profile.dev.debug=\"line-tables-only\""])
        .args(["--config", "profile.dev.package.\"*\".debug=false"])
        .args(rest)
        .env("CARGO_TARGET_DIR", target_dir())
        .current_dir(dir)
        .output()
        .expect("runs cargo");
    eprintln!("cargo {}: {:.1?}", args.join(" "), started.elapsed());
    assert!(out.status.success(), "cargo {args:?} failed:\n{}", text(&out.stderr));
}

/// Kills the server when the test ends, failed or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", text(&self.body)))
    }
}

/// One HTTP/1.1 request on its own connection.
fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut request = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    stream.write_all(request.as_bytes()).expect("send");
    stream.write_all(body).expect("send");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("receive");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = text(&raw[..split]).to_ascii_lowercase();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status");
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Response { status, head, body }
}

fn dechunk(mut chunked: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let line = chunked.windows(2).position(|w| w == b"\r\n").expect("a chunk size");
        let size = usize::from_str_radix(text(&chunked[..line]).trim(), 16).expect("a hex chunk size");
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&chunked[line + 2..line + 2 + size]);
        chunked = &chunked[line + 2 + size + 2..];
    }
}

fn post_json(addr: &str, path: &str, body: serde_json::Value) -> Response {
    http(addr, "POST", path, &[("content-type", "application/json")], body.to_string().as_bytes())
}

/// A gRPC-Web call over HTTP/1.1: the gRPC router, without an HTTP/2 client.
fn grpc_web_get_note(addr: &str, name: &str) -> Response {
    // GetNoteRequest { name }: field 1, length-delimited.
    let mut message = vec![0x0a, u8::try_from(name.len()).expect("a short name")];
    message.extend_from_slice(name.as_bytes());
    let mut frame = vec![0];
    frame.extend_from_slice(&u32::try_from(message.len()).expect("small").to_be_bytes());
    frame.extend_from_slice(&message);
    http(addr, "POST", "/demo_app.v1.Notes/GetNote", &[("content-type", "application/grpc-web+proto")], &frame)
}

#[test]
fn a_hyphenated_name_is_the_package_and_its_snake_case_the_rest() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo-app");
    let out = new_crate("demo-app", &dir, None);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(tree(&dir), FILES);
    let read = |file: &str| std::fs::read_to_string(dir.join(file)).expect("read");
    assert!(read("Cargo.toml").contains("\nname = \"demo-app\"\n"), "{}", read("Cargo.toml"));
    assert!(read("proto/demo_app.proto").contains("\npackage demo_app.v1;\n"), "{}", read("proto/demo_app.proto"));
    assert!(read("build.rs").contains("\"proto/demo_app.proto\""), "{}", read("build.rs"));
    let main = read("src/main.rs");
    assert!(main.contains("\nuse demo_app::v1::"), "{main}");
    // The binary keeps the package's name, as its usage line says.
    assert!(main.contains("Args::from_env(\"demo-app\")"), "{main}");
    assert!(read("README.md").contains("demo_app.v1.Notes/GetNote"), "{}", read("README.md"));
    assert!(text(&out.stdout).contains("created demo-app: cd "), "{}", text(&out.stdout));
}

/// Builds a crate with a hyphen in its name: the package (and binary) is `demo-app`, the
/// proto package and Rust module `demo_app`.
#[test]
fn the_new_crate_builds_and_serves_every_protocol() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo-app");
    let root = repo_root();
    let out = new_crate("demo-app", &dir, Some(&root));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(tree(&dir), FILES);
    let listed: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(listed.len(), FILES.len() + 1, "{listed:?}");
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).expect("read");
    let runtime = root.canonicalize().expect("root").join("runtime");
    let runtime = format!("apigen-runtime = {{ path = \"{}\", features = [\"jwt\", \"otlp\"] }}", runtime.display());
    assert!(manifest.contains(&runtime), "{manifest}");
    assert!(manifest.contains("\n[workspace]\n"), "{manifest}");

    // The workspace's lock file: the same versions as the workspace, nothing to download.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).expect("copy Cargo.lock");
    cargo(&dir, &["build"]);
    // With the allocator feature too, which only changes the global allocator.
    cargo(&dir, &["clippy", "--all-targets", "--features", "jemalloc", "--", "-D", "warnings"]);

    let mut server = Server(
        Command::new(target_dir().join("debug/demo-app"))
            // The production flags `apigen new` documents; nothing listens for the traces.
            .args(["--addr", "127.0.0.1:0", "--rate-limit", "demo_app.v1.Notes/GetNote=1000/s"])
            .args(["--otlp", "http://127.0.0.1:9"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("starts demo-app"),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().expect("stdout")).read_line(&mut line).expect("read stdout");
    let addr = line.trim().strip_prefix("listening on http://").unwrap_or_else(|| panic!("{line:?}")).to_owned();
    let addr = addr.as_str();

    // REST
    let created = post_json(addr, "/v1/notes", serde_json::json!({"title": "Groceries", "body": "milk"}));
    assert_eq!(created.status, 200, "{}", text(&created.body));
    let note = created.json();
    assert_eq!(note["name"], "notes/1");
    assert_eq!(note["body"], "milk");
    assert!(note["createTime"].is_string(), "{note}");
    let got = http(addr, "GET", "/v1/notes/1", &[], b"");
    assert_eq!((got.status, got.json()), (200, note.clone()));
    assert_eq!(http(addr, "GET", "/v1/notes/9", &[], b"").status, 404);
    let untitled = post_json(addr, "/v1/notes", serde_json::json!({"body": "no title"}));
    assert_eq!(untitled.status, 400);
    assert!(text(&untitled.body).contains("title"), "{}", text(&untitled.body));

    // Connect
    let connect = post_json(addr, "/demo_app.v1.Notes/GetNote", serde_json::json!({"name": "notes/1"}));
    assert_eq!((connect.status, connect.json()), (200, note.clone()));

    // tRPC: a read is a query, called with GET
    let trpc = http(addr, "GET", "/trpc/notes.getNote?input=%7B%22name%22%3A%22notes%2F1%22%7D", &[], b"");
    assert_eq!((trpc.status, &trpc.json()["result"]["data"]), (200, &note));

    // GraphQL
    let graphql = post_json(addr, "/graphql", serde_json::json!({"query": "{ listNotes { notes { name title } } }"}));
    assert_eq!(graphql.status, 200);
    assert_eq!(
        graphql.json(),
        serde_json::json!({"data": {"listNotes": {"notes": [{"name": "notes/1", "title": "Groceries"}]}}})
    );

    // gRPC-Web
    let grpc = grpc_web_get_note(addr, "notes/1");
    assert_eq!(grpc.status, 200);
    assert!(grpc.head.contains("content-type: application/grpc-web+proto"), "{}", grpc.head);
    let body = text(&grpc.body);
    assert!(body.contains("Groceries") && body.contains("grpc-status:0"), "{body:?}");
    // NOT_FOUND, in the trailers or (trailers-only) in the headers
    let missing = grpc_web_get_note(addr, "notes/9");
    let trailers = format!("{}\n{}", missing.head, text(&missing.body).to_ascii_lowercase());
    assert!(trailers.contains("grpc-status: 5") || trailers.contains("grpc-status:5"), "{trailers}");

    // The documents, and health
    let openapi = http(addr, "GET", "/openapi.json", &[], b"");
    assert_eq!(openapi.status, 200);
    let create = &openapi.json()["paths"]["/v1/notes"]["post"];
    assert_eq!(create["x-apigen-rate-limit"], serde_json::json!({"calls": 60, "per": "minute", "burst": 10}));
    assert!(create["responses"]["429"].is_object(), "{create}");
    let metrics = http(addr, "GET", "/metrics", &[], b"");
    assert_eq!(metrics.status, 200);
    assert!(text(&metrics.body).contains("apigen_calls_total{service=\"demo_app.v1.Notes\",method=\"CreateNote\""));
    let sdl = http(addr, "GET", "/graphql/schema.graphql", &[], b"");
    assert_eq!(sdl.status, 200);
    assert!(text(&sdl.body).contains("watchNotes: NoteEvent!"), "{}", text(&sdl.body));
    assert_eq!(http(addr, "GET", "/healthz", &[], b"").status, 200);

    // Server-Sent Events: WatchNotes sees a note created after it started.
    let mut watch = TcpStream::connect(addr).expect("connect");
    watch.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let request = format!("GET /v1/notes:watch HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\n\r\n");
    watch.write_all(request.as_bytes()).expect("send");
    let mut events = BufReader::new(watch);
    let mut seen = String::new();
    while !seen.contains("retry:") {
        assert_ne!(events.read_line(&mut seen).expect("read"), 0, "{seen}");
    }
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert_eq!(post_json(addr, "/v1/notes", serde_json::json!({"title": "Watched"})).status, 200);
    while !seen.contains("\"KIND_CREATED\"") {
        assert_ne!(events.read_line(&mut seen).expect("read"), 0, "{seen}");
    }
    assert!(seen.contains("\"name\":\"notes/2\""), "{seen}");
    drop(server);
}
