//! `apigen-bench-gen`: how long apigen takes to generate code, against two
//! baselines, per schema:
//!
//! - floor: protox parsing alone (`.proto` → `FileDescriptorSet`);
//! - gRPC-only: protox + tonic-prost-build (prost messages, tonic client and
//!   server) written to a temporary directory;
//! - apigen: `apigen::generate` (every backend) written to a temporary directory.
//!
//! Each is run N times in this process; the median wall time is reported.
//! `--phases` also times apigen's pipeline phase by phase.
//! `scaffold` writes the two crates `compile.sh` builds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use apigen_bench_gen::synth::{self, Size};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Benchmark apigen's code generation against protox and tonic-prost-build")]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Runs per measurement (the median is reported); default 7, 3 with --quick
    #[arg(short = 'n', long)]
    runs: Option<usize>,
    /// Fewer runs, and no large schema
    #[arg(long)]
    quick: bool,
    /// Also write the results as JSON to PATH
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Also time apigen's phases (frontend, lower, each backend, output)
    #[arg(long)]
    phases: bool,
    /// Only these schemas (small, medium, large, bookstore, chat); default all
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Write the two crates of the compile-cost benchmark into DIR:
    /// DIR/apigen-crate (apigen's output) and DIR/grpc-crate (tonic-prost-build's)
    Scaffold {
        #[arg(long, default_value = "medium")]
        size: String,
        #[arg(long)]
        dir: PathBuf,
    },
    /// From DIR/apigen-crate (written by `scaffold`), write library crates
    /// DIR/variants/N-part holding growing parts of the generated code:
    /// prost types, + pbjson serde, + Input impls, + service (trait, tables,
    /// dispatch) with its instantiation, + the typed clients (everything)
    Variants {
        #[arg(long)]
        dir: PathBuf,
    },
}

/// One schema to measure: its root files and include paths.
struct Bench {
    name: String,
    roots: Vec<PathBuf>,
    includes: Vec<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let work = tempfile::tempdir()?;
    // The annotation files apigen builds in, as an include root for protox
    // and tonic-prost-build, which do not have them.
    let builtin = work.path().join("builtin");
    for (name, text) in apigen::frontend::BUILTIN_FILES {
        let path = builtin.join(name);
        std::fs::create_dir_all(path.parent().unwrap())?;
        std::fs::write(path, text)?;
    }
    match &args.command {
        Some(Command::Scaffold { size, dir }) => {
            let size = Size::parse(size).context("size: small, medium or large")?;
            return scaffold(size, dir, &builtin);
        }
        Some(Command::Variants { dir }) => return variants(dir),
        None => {}
    }

    let runs = args.runs.unwrap_or(if args.quick { 3 } else { 7 });
    let mut benches = Vec::new();
    for size in Size::ALL {
        if args.quick && size == Size::Large && !args.only.iter().any(|o| o == "large") {
            continue;
        }
        let dir = work.path().join("schemas").join(size.name());
        let roots = synth::generate(size).write(&dir)?;
        benches.push(Bench { name: size.name().to_owned(), roots, includes: vec![dir] });
    }
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas/examples");
    for example in ["bookstore", "chat"] {
        let dir = examples.canonicalize()?;
        benches.push(Bench {
            name: example.to_owned(),
            roots: vec![dir.join(format!("{example}.proto"))],
            includes: vec![dir],
        });
    }
    if !args.only.is_empty() {
        benches.retain(|b| args.only.contains(&b.name));
    }

    let mut rows = Vec::new();
    for bench in &benches {
        let row = measure(bench, &builtin, work.path(), runs, args.phases)?;
        eprintln!(
            "{}: floor {:.1} ms, gRPC-only {:.1} ms, apigen {:.1} ms",
            row.name,
            ms(row.floor),
            ms(row.grpc),
            ms(row.apigen)
        );
        rows.push(row);
    }
    print_table(&rows, runs);
    if args.phases {
        print_phases(&rows);
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&to_json(&rows, runs))? + "\n")?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

struct Row {
    name: String,
    files: usize,
    messages: usize,
    methods: usize,
    floor: Duration,
    grpc: Duration,
    apigen: Duration,
    /// Generated Rust lines: gRPC-only, apigen.
    lines: (usize, usize),
    phases: Vec<(&'static str, Duration)>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn measure(bench: &Bench, builtin: &Path, work: &Path, runs: usize, phases: bool) -> Result<Row> {
    let mut includes = bench.includes.clone();
    includes.push(builtin.to_owned());
    let parse = || -> Result<prost_types::FileDescriptorSet> {
        let mut compiler = protox::Compiler::new(&includes)?;
        compiler.include_imports(true).include_source_info(true);
        compiler.open_files(&bench.roots)?;
        Ok(compiler.file_descriptor_set())
    };
    let fds = parse()?;
    let (files, messages, methods) = count(&fds);

    let mut floor = Vec::new();
    let mut grpc = Vec::new();
    let mut apigen_times = Vec::new();
    let mut lines = (0, 0);
    let out = work.join("out");
    // Interleaved, so that a burst of load from elsewhere hits all three alike.
    for run in 0..runs {
        let start = Instant::now();
        std::hint::black_box(parse()?);
        floor.push(start.elapsed());

        let dir = out.join(format!("{}-grpc-{run}", bench.name));
        std::fs::create_dir_all(&dir)?;
        let start = Instant::now();
        grpc_generate(parse()?, &dir)?;
        grpc.push(start.elapsed());
        lines.0 = rust_lines(&dir)?;
        std::fs::remove_dir_all(&dir)?;

        let dir = out.join(format!("{}-apigen-{run}", bench.name));
        let start = Instant::now();
        let generated = apigen::generate(&bench.roots, &bench.includes).map_err(|e| anyhow::anyhow!("{e}"))?;
        generated.files.write(&dir).map_err(|e| anyhow::anyhow!("{e}"))?;
        apigen_times.push(start.elapsed());
        lines.1 = rust_lines(&dir)?;
        std::fs::remove_dir_all(&dir)?;
    }
    let phases = if phases { time_phases(bench, runs)? } else { Vec::new() };
    Ok(Row {
        name: bench.name.clone(),
        files,
        messages,
        methods,
        floor: median(floor),
        grpc: median(grpc),
        apigen: median(apigen_times),
        lines,
        phases,
    })
}

/// The gRPC-only baseline: what a `build.rs` with tonic-prost-build writes.
fn grpc_generate(fds: prost_types::FileDescriptorSet, dir: &Path) -> Result<()> {
    tonic_prost_build::configure()
        .out_dir(dir)
        .include_file("mod.rs")
        .emit_rerun_if_changed(false)
        .compile_fds(fds)
        .context("tonic-prost-build")
}

/// Files, messages and methods of the schema's own files (not google/…
/// or apigen/…); nested messages count, map entries do not.
fn count(fds: &prost_types::FileDescriptorSet) -> (usize, usize, usize) {
    fn messages(m: &prost_types::DescriptorProto) -> usize {
        let is_entry = m.options.as_ref().is_some_and(|o| o.map_entry());
        usize::from(!is_entry) + m.nested_type.iter().map(messages).sum::<usize>()
    }
    let own: Vec<_> =
        fds.file.iter().filter(|f| !f.name().starts_with("google/") && !f.name().starts_with("apigen/")).collect();
    let msgs = own.iter().flat_map(|f| &f.message_type).map(messages).sum();
    let methods = own.iter().flat_map(|f| &f.service).map(|s| s.method.len()).sum();
    (own.len(), msgs, methods)
}

fn rust_lines(dir: &Path) -> Result<usize> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "rs") {
            total += std::fs::read_to_string(&path)?.lines().count();
        }
    }
    Ok(total)
}

/// apigen's pipeline (`apigen::generate`), phase by phase, median of `runs`.
/// Rows whose name starts with spaces split a phase into pieces.
#[allow(unused_assignments)]
fn time_phases(bench: &Bench, runs: usize) -> Result<Vec<(&'static str, Duration)>> {
    use apigen::{backend, frontend, lower, output};
    let err = |e: apigen::Error| anyhow::anyhow!("{e}");
    let mut all: BTreeMap<usize, (&'static str, Vec<Duration>)> = BTreeMap::new();
    for _ in 0..runs {
        let mut t = Instant::now();
        let mut record =
            |i: usize, name: &'static str, d: Duration| all.entry(i).or_insert((name, Vec::new())).1.push(d);
        macro_rules! phase {
            ($i:expr, $name:expr) => {{
                record($i, $name, t.elapsed());
                t = Instant::now();
            }};
        }
        let compiled = frontend::compile(&bench.roots, &bench.includes).map_err(err)?;
        phase!(0, "frontend (protox + pool)");
        let api = lower::lower(&compiled).map_err(err)?;
        phase!(1, "lower");
        let mut code = backend::types::generate(&compiled, &api).map_err(err)?;
        phase!(2, "types (prost-build + pbjson-build)");
        let rules = backend::input::Rules::new(&api);
        let mut input = BTreeMap::new();
        for package in &api.packages {
            input.insert(package.name.clone(), backend::input::generate(package, &rules));
        }
        phase!(3, "input");
        let mut descriptor = BTreeMap::new();
        for package in api.packages.iter().filter(|p| !p.services.is_empty()) {
            descriptor.insert(package.name.clone(), backend::descriptor::generate(&compiled, package));
        }
        phase!(4, "descriptor");
        let graphql_names = backend::graphql::field_names(&api);
        let messages: backend::service::Messages = api.messages_by_name();
        let checked = backend::validate::Checked::new(&api);
        let mut service = BTreeMap::new();
        for package in api.packages.iter().filter(|p| !p.services.is_empty()) {
            let prepare = backend::validate::prepare(package, &checked, &api);
            service.insert(
                package.name.clone(),
                backend::service::generate(package, &messages, &graphql_names, &prepare).map_err(err)?,
            );
        }
        phase!(5, "service (askama)");
        for package in &api.packages {
            let body = &mut code.entry(package.name.clone()).or_default().rest;
            body.push_str(&input[&package.name]);
            if let Some(d) = descriptor.get(&package.name) {
                body.push_str(d);
                body.push_str(&service[&package.name]);
            }
        }
        let openapi = backend::openapi::generate(&api).map_err(err)?;
        phase!(6, "openapi");
        let sdl = backend::graphql::generate(&api).map_err(err)?;
        phase!(7, "graphql");
        let relations = backend::graphql::relations_table(&api);
        let ts_names = ["index.ts", "ws.ts"];
        let files = output::assemble(&api, code, openapi.is_some(), sdl.is_some(), relations.as_deref(), &ts_names)
            .map_err(err)?;
        phase!(8, "output (syn + prettyplease)");
        let ts = (backend::ts::generate(&api, &api.roots), backend::ts::websocket_client(&api.roots));
        phase!(9, "ts");
        let portal = backend::portal::generate(&api);
        phase!(10, "portal");
        std::hint::black_box((files, ts, portal));
        // Inside "types" and "output", redone piece by piece as apigen does them.
    }
    Ok(all.into_values().map(|(name, times)| (name, median(times))).collect())
}

fn print_table(rows: &[Row], runs: usize) {
    println!("Median of {runs} runs, wall time in one process.\n");
    println!(
        "| schema | files | messages | methods | floor (protox) ms | gRPC-only (protox + tonic-prost-build) ms | apigen (all backends) ms | apigen / gRPC-only | gRPC-only / floor | Rust lines gRPC-only / apigen |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.2}× | {:.2}× | {} / {} |",
            r.name,
            r.files,
            r.messages,
            r.methods,
            ms(r.floor),
            ms(r.grpc),
            ms(r.apigen),
            r.apigen.as_secs_f64() / r.grpc.as_secs_f64(),
            r.grpc.as_secs_f64() / r.floor.as_secs_f64(),
            r.lines.0,
            r.lines.1
        );
    }
}

fn print_phases(rows: &[Row]) {
    let names: Vec<&str> = rows[0].phases.iter().map(|(n, _)| *n).collect();
    println!("\napigen's phases, median ms:\n");
    println!("| phase | {} |", rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>().join(" | "));
    println!("|---|{}", "---:|".repeat(rows.len()));
    for (i, name) in names.iter().enumerate() {
        let cells: Vec<String> = rows
            .iter()
            .map(|r| {
                let total: Duration = r.phases.iter().filter(|(n, _)| !n.starts_with(' ')).map(|(_, d)| *d).sum();
                let d = r.phases[i].1;
                format!("{:.1} ({:.0}%)", ms(d), 100.0 * d.as_secs_f64() / total.as_secs_f64())
            })
            .collect();
        println!("| {name} | {} |", cells.join(" | "));
    }
}

fn to_json(rows: &[Row], runs: usize) -> serde_json::Value {
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let phases: serde_json::Map<String, serde_json::Value> =
                r.phases.iter().map(|(n, d)| ((*n).to_owned(), ms(*d).into())).collect();
            serde_json::json!({
                "schema": r.name,
                "files": r.files,
                "messages": r.messages,
                "methods": r.methods,
                "floor_ms": ms(r.floor),
                "grpc_only_ms": ms(r.grpc),
                "apigen_ms": ms(r.apigen),
                "ratio_apigen_grpc_only": r.apigen.as_secs_f64() / r.grpc.as_secs_f64(),
                "ratio_grpc_only_floor": r.grpc.as_secs_f64() / r.floor.as_secs_f64(),
                "rust_lines_grpc_only": r.lines.0,
                "rust_lines_apigen": r.lines.1,
                "apigen_phases_ms": phases,
            })
        })
        .collect();
    serde_json::json!({ "runs": runs, "profile": if cfg!(debug_assertions) { "dev" } else { "release" }, "results": rows })
}

/// Writes `dir/apigen-crate` and `dir/grpc-crate` for `compile.sh`.
fn scaffold(size: Size, dir: &Path, builtin: &Path) -> Result<()> {
    let schema_dir = dir.join("schema");
    let roots = synth::generate(size).write(&schema_dir)?;
    let generated = apigen::generate(&roots, std::slice::from_ref(&schema_dir)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let runtime = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../runtime").canonicalize()?;
    // Both crates share one profile so that one target dir builds shared
    // dependencies once (and mirror the repository's dev profile).
    let profile = "\n[profile.dev]\ndebug = \"line-tables-only\"\n\n[profile.dev.package.\"*\"]\ndebug = false\n";

    // 1. apigen's output, served by apigen-runtime.
    let crate1 = dir.join("apigen-crate");
    generated.files.write(&crate1.join("src/api")).map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::write(
        crate1.join("Cargo.toml"),
        format!(
            "[package]\nname = \"bench-apigen-crate\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[workspace]\n\n[dependencies]\napigen-runtime = {{ path = {:?} }}\ntokio = {{ version = \"1\", features = [\"full\"] }}\n{profile}",
            runtime.display().to_string()
        ),
    )?;
    let mut main = String::from(
        "//! Implementations of every service of the schema whose methods answer UNIMPLEMENTED.\n#![allow(unused_variables)]\n\nuse crate::api;\nuse apigen_runtime::{Context, RequestStream, ResponseStream, Result, ServiceDef, Status};\n\n",
    );
    let mut adds = String::new();
    for package in &generated.api.packages {
        let module = package.name.replace('.', "::");
        for service in &package.services {
            let imp = format!("{}Impl", service.rust_name);
            main.push_str(&format!("struct {imp};\n\nimpl api::{module}::{} for {imp} {{\n", service.rust_name));
            for m in &service.methods {
                let path = |t: &apigen::model::TypeRef| {
                    if t.rust_path.starts_with("::") {
                        t.rust_path.clone()
                    } else {
                        format!("api::{module}::{}", t.rust_path)
                    }
                };
                let (input, output) = (path(&m.input), path(&m.output));
                let (param, result) = match m.kind {
                    apigen::model::MethodKind::Unary => (format!("request: {input}"), output),
                    apigen::model::MethodKind::ServerStreaming => {
                        (format!("request: {input}"), format!("ResponseStream<{output}>"))
                    }
                    apigen::model::MethodKind::ClientStreaming => (format!("requests: RequestStream<{input}>"), output),
                    apigen::model::MethodKind::BidiStreaming => {
                        (format!("requests: RequestStream<{input}>"), format!("ResponseStream<{output}>"))
                    }
                };
                main.push_str(&format!(
                    "    async fn {}(&self, ctx: Context, {param}) -> Result<{result}> {{\n        Err(Status::unimplemented(\"{}\"))\n    }}\n",
                    m.rust_name, m.name
                ));
            }
            main.push_str("}\n\n");
            // `<service>_service(impl)`: the snake-case trait name.
            let func = format!("{}_service", snake(&service.rust_name));
            adds.push_str(&format!("        api::{module}::{func}({imp}),\n"));
        }
    }
    main.push_str(&format!(
        "/// Every service.\npub fn services() -> Vec<ServiceDef> {{\n    vec![\n{adds}    ]\n}}\n"
    ));
    std::fs::write(crate1.join("src/imp.rs"), main)?;
    std::fs::write(crate1.join("src/main.rs"), APIGEN_MAIN)?;

    // 2. tonic-prost-build's output, served by tonic.
    let crate2 = dir.join("grpc-crate");
    let out = crate2.join("src/api");
    std::fs::create_dir_all(&out)?;
    let mut compiler = protox::Compiler::new([&schema_dir, &builtin.to_owned()])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(&roots)?;
    grpc_generate(compiler.file_descriptor_set(), &out)?;
    std::fs::write(
        crate2.join("Cargo.toml"),
        format!(
            "[package]\nname = \"bench-grpc-crate\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[workspace]\n\n[dependencies]\nprost = \"0.14\"\nprost-types = \"0.14\"\ntokio = {{ version = \"1\", features = [\"full\"] }}\ntonic = {{ version = \"0.14\", default-features = false, features = [\"codegen\", \"transport\", \"server\", \"channel\", \"router\", \"gzip\"] }}\ntonic-prost = \"0.14\"\n{profile}"
        ),
    )?;
    let mut main = String::from(
        "//! Serves every service of the schema over gRPC with methods that answer UNIMPLEMENTED.\n#![allow(unused_variables)]\n\n#[allow(dead_code)]\nmod api {\n    include!(\"api/mod.rs\");\n}\n\nuse tonic::{Request, Response, Status, Streaming, codegen::BoxStream};\n\n",
    );
    let mut adds = String::new();
    for package in &generated.api.packages {
        let module = package.name.replace('.', "::");
        for service in &package.services {
            let server_mod = format!("{}_server", snake(&service.name));
            let imp = format!("{}Impl", service.name);
            main.push_str(&format!(
                "struct {imp};\n\n#[tonic::async_trait]\nimpl api::{module}::{server_mod}::{} for {imp} {{\n",
                service.name
            ));
            for m in &service.methods {
                let path = |t: &apigen::model::TypeRef| match t.full_name.as_str() {
                    "google.protobuf.Empty" => "()".to_owned(),
                    name if name.starts_with("google.protobuf.") => {
                        format!("::prost_types::{}", name.rsplit('.').next().unwrap())
                    }
                    _ => format!("api::{module}::{}", t.rust_path),
                };
                let (input, output) = (path(&m.input), path(&m.output));
                let streaming_out = matches!(
                    m.kind,
                    apigen::model::MethodKind::ServerStreaming | apigen::model::MethodKind::BidiStreaming
                );
                let param = match m.kind {
                    apigen::model::MethodKind::ClientStreaming | apigen::model::MethodKind::BidiStreaming => {
                        format!("Streaming<{input}>")
                    }
                    _ => input,
                };
                let result = if streaming_out {
                    main.push_str(&format!("    type {}Stream = BoxStream<{output}>;\n", m.name));
                    format!("Self::{}Stream", m.name)
                } else {
                    output
                };
                main.push_str(&format!(
                    "    async fn {}(&self, request: Request<{param}>) -> Result<Response<{result}>, Status> {{\n        Err(Status::unimplemented(\"{}\"))\n    }}\n",
                    snake(&m.name),
                    m.name
                ));
            }
            main.push_str("}\n\n");
            adds.push_str(&format!(
                "        .add_service(api::{module}::{server_mod}::{}Server::new({imp}))\n",
                service.name
            ));
        }
    }
    main.push_str(&format!(
        "#[tokio::main]\nasync fn main() -> Result<(), Box<dyn std::error::Error>> {{\n    let addr = std::env::args().nth(1).unwrap_or_else(|| \"127.0.0.1:50051\".to_owned()).parse()?;\n    tonic::transport::Server::builder()\n{adds}        .serve(addr)\n        .await?;\n    Ok(())\n}}\n"
    ));
    std::fs::write(crate2.join("src/main.rs"), main)?;
    if !crate1.join("src/api/mod.rs").exists() || !out.join("mod.rs").exists() {
        bail!("scaffolding failed");
    }
    eprintln!("wrote {} and {}", crate1.display(), crate2.display());
    Ok(())
}

const APIGEN_MAIN: &str = "//! Serves every service of the schema on one port.\n\n#[allow(dead_code)]\nmod api;\nmod imp;\n\n#[tokio::main]\nasync fn main() -> std::io::Result<()> {\n    let args = apigen_runtime::server::Args::from_env(\"bench\");\n    let mut server = apigen_runtime::Server::builder();\n    for service in imp::services() {\n        server = server.add_service(service);\n    }\n    server.run(&args).await\n}\n";

/// `Synth0Service` → `synth0_service` (what prost-build and apigen do for
/// these names: no acronyms).
fn snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The parts of a generated package file, in file order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    /// prost-build's structs, enums, oneofs and their inherent impls.
    Types,
    /// pbjson-build's `Serialize` / `Deserialize` impls.
    Serde,
    /// `apigen_runtime::Input` impls.
    Input,
    /// `FILE_DESCRIPTOR_SET`, the trait, `<SERVICE>_INFO`, `<service>_service`.
    Service,
    /// `<Service>Client`, `RestClient`, `ConnectClient`, `GraphqlClient`.
    Clients,
}

const PARTS: [(Part, &str); 5] = [
    (Part::Types, "1-types"),
    (Part::Serde, "2-serde"),
    (Part::Input, "3-input"),
    (Part::Service, "4-service"),
    (Part::Clients, "5-clients"),
];

fn classify(item: &syn::Item, seen_service: &mut bool) -> Part {
    let last = |path: &syn::Path| path.segments.last().map(|s| s.ident.to_string()).unwrap_or_default();
    let self_name = |ty: &syn::Type| match ty {
        syn::Type::Path(p) => last(&p.path),
        _ => String::new(),
    };
    match item {
        syn::Item::Impl(imp) => {
            if let Some((path, _)) = &imp.trait_ {
                match last(path).as_str() {
                    "Serialize" | "Deserialize" => return Part::Serde,
                    "Input" => return Part::Input,
                    _ => {}
                }
            }
            if self_name(&imp.self_ty).ends_with("Client") {
                return Part::Clients;
            }
        }
        syn::Item::Struct(s) if s.ident.to_string().ends_with("Client") => return Part::Clients,
        syn::Item::Static(s) if s.ident == "FILE_DESCRIPTOR_SET" => *seen_service = true,
        _ => {}
    }
    if *seen_service { Part::Service } else { Part::Types }
}

fn variants(dir: &Path) -> Result<()> {
    let source = dir.join("apigen-crate");
    let api = source.join("src/api");
    // Split every package file.
    let mut files: BTreeMap<String, Vec<(Part, syn::Item)>> = BTreeMap::new();
    let mut lines: BTreeMap<Part, usize> = BTreeMap::new();
    for entry in std::fs::read_dir(&api)? {
        let path = entry?.path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".rs") || name == "mod.rs" {
            continue;
        }
        let file = syn::parse_file(&std::fs::read_to_string(&path)?)?;
        let mut seen_service = false;
        let items: Vec<(Part, syn::Item)> =
            file.items.into_iter().map(|item| (classify(&item, &mut seen_service), item)).collect();
        for (part, item) in &items {
            let text = unparse(vec![item.clone()]);
            *lines.entry(*part).or_default() += text.lines().count();
        }
        files.insert(name, items);
    }
    let cargo_toml = std::fs::read_to_string(source.join("Cargo.toml"))?;
    for (upto, name) in PARTS {
        let crate_dir = dir.join("variants").join(name);
        let out = crate_dir.join("src/api");
        if crate_dir.exists() {
            std::fs::remove_dir_all(&crate_dir)?;
        }
        std::fs::create_dir_all(&out)?;
        for entry in std::fs::read_dir(&api)? {
            let path = entry?.path();
            if path.is_file() && (path.extension().is_none_or(|e| e != "rs") || path.ends_with("mod.rs")) {
                std::fs::copy(&path, out.join(path.file_name().unwrap()))?;
            }
        }
        for (file, items) in &files {
            let items = items.iter().filter(|(p, _)| *p <= upto).map(|(_, i)| i.clone()).collect();
            let text = unparse(items);
            std::fs::write(out.join(file), text)?;
        }
        let with_services = upto >= Part::Service;
        let mut lib = String::from("#![allow(dead_code, unused_variables)]\n\npub mod api;\n");
        if with_services {
            std::fs::copy(source.join("src/imp.rs"), crate_dir.join("src/imp.rs"))?;
            lib.push_str("pub mod imp;\n");
        }
        std::fs::write(crate_dir.join("src/lib.rs"), lib)?;
        let package = format!("bench-variant-{}", &name[..1]);
        std::fs::write(crate_dir.join("Cargo.toml"), cargo_toml.replace("bench-apigen-crate", &package))?;
    }
    println!("| part | generated Rust lines (all packages) |");
    println!("|---|---:|");
    for (part, name) in PARTS {
        println!("| {name} ({part:?}) | {} |", lines.get(&part).copied().unwrap_or(0));
    }
    eprintln!("wrote {}", dir.join("variants").display());
    Ok(())
}

fn unparse(items: Vec<syn::Item>) -> String {
    let mut file = syn::parse_file("").expect("an empty file parses");
    file.items = items;
    prettyplease::unparse(&file)
}
