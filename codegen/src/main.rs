//! The `apigen` command.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Schema-first API generator: one .proto in; Rust types, a service trait and
/// every protocol's adapters out.
#[derive(Parser)]
#[command(name = "apigen", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate code for .proto files and every package they import.
    ///
    /// Example: apigen generate proto/bookstore.proto -I proto --out src/gen
    ///
    /// Writes a module tree rooted at OUT/mod.rs: include it with `mod gen;`
    /// (when OUT is src/gen). Exit status: 0 on success, 1 on errors in the
    /// schema (or, with --check, stale files), 2 on usage errors.
    Generate {
        /// The .proto files to generate code for, for example
        /// proto/bookstore.proto.
        #[arg(required = true, value_name = "FILE.proto")]
        files: Vec<PathBuf>,
        /// A directory that imports resolve against; repeat for several, for
        /// example -I proto -I third_party/googleapis. Defaults to each
        /// file's own directory. google/api/{annotations,http,field_behavior,
        /// httpbody}.proto, google/rpc/{status,error_details}.proto,
        /// apigen/options.proto, buf/validate/validate.proto and the
        /// well-known types are built in.
        #[arg(short = 'I', long = "include", value_name = "DIR")]
        includes: Vec<PathBuf>,
        /// The directory to write into, for example src/gen.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Write nothing; list the files under --out that differ from what
        /// would be generated and exit 1 if any does. For CI, for example
        /// apigen generate proto/x.proto --out src/gen --check
        #[arg(long)]
        check: bool,
    },
    /// Write the encoded FileDescriptorSet of .proto files and everything
    /// they import, custom options and comments included.
    ///
    /// Example: apigen descriptor-set proto/bookstore.proto -I proto -o bookstore.binpb
    ///
    /// The same as protoc's --include_imports --descriptor_set_out; buf curl
    /// takes it as --schema, protobuf-es as createFileRegistry's input.
    DescriptorSet {
        /// The .proto files, for example proto/bookstore.proto.
        #[arg(required = true, value_name = "FILE.proto")]
        files: Vec<PathBuf>,
        /// A directory that imports resolve against, as for `generate`.
        #[arg(short = 'I', long = "include", value_name = "DIR")]
        includes: Vec<PathBuf>,
        /// The file to write, for example bookstore.binpb.
        #[arg(short = 'o', long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Report every change from an older version of the schema that breaks
    /// existing clients, grouped by protocol: protobuf wire, proto3 JSON,
    /// REST, GraphQL, Connect/tRPC/TypeScript, streaming.
    ///
    /// Example: apigen breaking proto/bookstore.proto -I proto --against git:main
    ///
    /// The old schema never resolves against the new one's -I paths.
    /// Exit status: 0 when nothing breaks (additive changes pass), 1 when
    /// something does or a schema has errors, 2 on usage errors.
    Breaking {
        /// The new schema's .proto files.
        #[arg(required = true, value_name = "FILE.proto")]
        files: Vec<PathBuf>,
        /// A directory that the new schema's imports resolve against, as
        /// for `generate`.
        #[arg(short = 'I', long = "include", value_name = "DIR")]
        includes: Vec<PathBuf>,
        /// The old schema: git:REV for the same files at a git revision
        /// (for example git:main or git:v1.2.0; -I is read there too); a
        /// directory holding the old copy, each file at the path the new
        /// one has under its -I path (for example old/); or the old .proto
        /// files (repeat for several), whose imports resolve against their
        /// own directories or --against-include.
        #[arg(long, required = true, value_name = "OLD")]
        against: Vec<String>,
        /// A directory that the old schema's imports resolve against, for
        /// --against FILE or DIR; repeat for several. Without it, each old
        /// file's own directory (or the --against directory).
        #[arg(long = "against-include", value_name = "DIR")]
        against_includes: Vec<PathBuf>,
        /// text (grouped, for people) or json (for tools).
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Check the rules that matter when one schema is served over many
    /// protocols: HTTP bindings, REQUIRED path variables, shadowed routes,
    /// names that collide in GraphQL or TypeScript, streams without a cursor.
    ///
    /// Example: apigen lint proto/bookstore.proto -I proto --allow stream-cursor
    ///
    /// Only what the named files define is checked, not their imports.
    /// Exit status: 0 when nothing is found, 1 otherwise, 2 on usage errors.
    Lint {
        /// The .proto files to check.
        #[arg(required_unless_present = "list_rules", value_name = "FILE.proto")]
        files: Vec<PathBuf>,
        /// A directory that imports resolve against, as for `generate`.
        #[arg(short = 'I', long = "include", value_name = "DIR")]
        includes: Vec<PathBuf>,
        /// Turn a rule off; repeat for several.
        #[arg(long, value_name = "RULE")]
        allow: Vec<String>,
        /// Print every rule with what it checks, and exit.
        #[arg(long)]
        list_rules: bool,
    },
    /// Serve every protocol (REST with OpenAPI, GraphQL, gRPC and gRPC-Web,
    /// Connect, tRPC, WebSocket, SSE) in front of an existing gRPC server,
    /// from its schema: no code generation, no Rust.
    ///
    /// Example: apigen gateway proto/orders.proto -I proto --upstream http://127.0.0.1:50051
    ///
    /// Every call is forwarded to the upstream over gRPC. Prints `listening on
    /// http://ADDR` once ready; stops on Ctrl-C or SIGTERM. Exit status: 1 on
    /// errors in the schema, 2 on usage errors.
    #[cfg(feature = "gateway")]
    Gateway(Box<GatewayArgs>),
    /// Create a crate that serves a small annotated service on every
    /// protocol on its first `cargo run`.
    ///
    /// Example: apigen new bookshop && cd bookshop && cargo run
    New {
        /// The crate's name, for example bookshop or demo-svc: lowercase
        /// letters and digits in words joined by - or _. Also the directory
        /// created; its snake_case form (demo_svc) is the proto package.
        #[arg(value_name = "NAME")]
        name: String,
        /// Where to create the crate (default: ./NAME). It must not exist
        /// or be empty.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Depend on the apigen and apigen-runtime of this checkout by path.
        /// Default: the checkout this apigen was built from, when it still
        /// exists; else their published versions.
        #[arg(long, value_name = "DIR")]
        apigen_path: Option<PathBuf>,
    },
}

/// `println!` that ignores a closed stdout (`apigen lint … | head`) instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` that ignores a closed stdout.
macro_rules! say_raw {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match cli.command {
        Command::Generate { files, includes, out, check } => generate(&files, &includes, &out, check),
        Command::DescriptorSet { files, includes, out } => descriptor_set(&files, &includes, &out),
        Command::Breaking { files, includes, against, against_includes, format } => {
            breaking(&files, &includes, &against, &against_includes, format)
        }
        Command::Lint { files, includes, allow, list_rules } => lint(&files, &includes, &allow, list_rules),
        #[cfg(feature = "gateway")]
        Command::Gateway(args) => gateway(*args),
        Command::New { name, dir, apigen_path } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            // Built from a checkout that is still there: depend on it, so the crate builds
            // without apigen being published.
            let checkout = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let apigen_path = apigen_path.or_else(|| checkout.join("runtime/Cargo.toml").is_file().then_some(checkout));
            new_crate(&apigen::scaffold::NewCrate { name, dir, apigen_path })
        }
    }
}

fn report(e: &apigen::Error) -> ExitCode {
    eprint!("{}", e.render(std::io::stderr().is_terminal()));
    if let apigen::Error::Schema(diags) = e {
        eprintln!(
            "error: {} problem{} found; nothing was written",
            diags.len(),
            if diags.len() == 1 { "" } else { "s" }
        );
    }
    ExitCode::from(e.exit_code() as u8)
}

fn breaking(
    files: &[PathBuf],
    includes: &[PathBuf],
    against: &[String],
    against_includes: &[PathBuf],
    format: Format,
) -> ExitCode {
    let new = match apigen::evolve::Schema::load(files, includes) {
        Ok(new) => new,
        Err(e) => return report(&e),
    };
    let old = match apigen::evolve::load_against(against, against_includes, &new, files, includes) {
        Ok(old) => old,
        Err(e) => {
            let code = report(&e);
            // Both sides may name their files alike: say which one failed.
            let against = against.join(" ");
            match e {
                apigen::Error::Usage(_) => {}
                _ if against.starts_with("git:") => eprintln!("note: the error is in the old schema, at {against}"),
                _ => eprintln!(
                    "note: the error is in the old schema, {against}: its imports resolve against \
                     --against-include DIR (repeatable), else against each old file's own directory or the \
                     --against directory"
                ),
            }
            return code;
        }
    };
    let findings = apigen::evolve::breaking(&old, &new);
    match format {
        Format::Json => say_raw!("{}", apigen::evolve::render_json(&findings)),
        Format::Text if findings.is_empty() => say!("no breaking changes"),
        Format::Text => {
            say_raw!("{}", apigen::evolve::render_text(&findings));
            let s = if findings.len() == 1 { "" } else { "s" };
            eprintln!("error: {} breaking change{s}", findings.len());
        }
    }
    ExitCode::from(u8::from(!findings.is_empty()))
}

fn lint(files: &[PathBuf], includes: &[PathBuf], allow: &[String], list_rules: bool) -> ExitCode {
    if list_rules {
        for rule in apigen::lint::RULES {
            say!("{}\n  {}", rule.name, rule.summary.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        return ExitCode::SUCCESS;
    }
    let findings = match apigen::lint::lint_files(files, includes, allow) {
        Ok(findings) => findings,
        Err(e) => return report(&e),
    };
    if findings.is_empty() {
        say!("no lint findings");
        return ExitCode::SUCCESS;
    }
    say_raw!("{}", apigen::lint::render(&findings));
    let s = if findings.len() == 1 { "" } else { "s" };
    eprintln!("error: {} lint finding{s}; fix them or turn a rule off with --allow RULE", findings.len());
    ExitCode::from(1)
}

fn new_crate(new: &apigen::scaffold::NewCrate) -> ExitCode {
    match apigen::scaffold::create(new) {
        Ok(files) => {
            for file in &files {
                say!("{}", new.dir.join(file).display());
            }
            say!("created {}: cd {} && cargo run", new.name, new.dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => report(&e),
    }
}

// `apigen gateway`'s arguments (its help is the `Gateway` variant's).
#[cfg(feature = "gateway")]
#[derive(clap::Args)]
struct GatewayArgs {
    /// The .proto files that define the upstream's services.
    #[arg(value_name = "FILE.proto", required_unless_present_any = ["descriptor_set", "reflect"])]
    files: Vec<PathBuf>,
    /// A directory that imports resolve against, as for `generate`.
    #[arg(short = 'I', long = "include", value_name = "DIR")]
    includes: Vec<PathBuf>,
    /// Read the schema from an encoded FileDescriptorSet with imports
    /// included (protoc --include_imports, buf build -o, apigen
    /// descriptor-set) instead of .proto files.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["files", "includes"])]
    descriptor_set: Option<PathBuf>,
    /// Read the schema from the upstream's gRPC server reflection (v1 or
    /// v1alpha) at start-up instead.
    #[arg(long, conflicts_with_all = ["files", "includes", "descriptor_set"])]
    reflect: bool,
    /// The gRPC server to forward to, for example http://127.0.0.1:50051.
    #[arg(long, value_name = "URL")]
    upstream: String,
    /// Where to listen.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    addr: String,
    /// Require `authorization: Bearer SECRET` on every call (checked by
    /// the gateway, not forwarded upstream).
    #[arg(long, value_name = "SECRET")]
    token: Option<String>,
    /// Accept JWT bearer tokens signed with a key of this JSON Web Key Set
    /// (an https:// URL, such as an OpenID provider's jwks_uri, or a file)
    /// instead of --token; the token still goes upstream.
    #[arg(long, value_name = "URL|FILE", conflicts_with = "token")]
    jwks: Option<String>,
    /// Let browsers call only from this origin (https://app.example.com, or
    /// https://*.example.com, or * for any; repeat for several) instead of
    /// only from pages on loopback hosts.
    #[arg(long, value_name = "ORIGIN")]
    cors_origin: Vec<String>,
    /// The `iss` JWTs must have (repeat for several).
    #[arg(long, value_name = "ISS", requires = "jwks")]
    issuer: Vec<String>,
    /// An `aud` JWTs must have (repeat for several).
    #[arg(long, value_name = "AUD", requires = "jwks")]
    audience: Vec<String>,
    /// Forward this request header to the upstream too (besides
    /// authorization, traceparent, tracestate, grpc-trace-bin, baggage,
    /// x-request-id, accept-language, last-event-id and every x-… header); a trailing *
    /// makes it a prefix. Repeat for several.
    #[arg(long, value_name = "NAME")]
    forward_header: Vec<String>,
    /// How many HTTP/2 connections to the upstream to spread calls over.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    upstream_connections: u16,
    /// Share the upstream calls of this server-streaming method
    /// (package.Service/Method): one call per distinct request, fanned out
    /// to every subscriber, whose events then carry the gateway's ids.
    /// Repeat for several.
    #[arg(long, value_name = "METHOD")]
    fan_out: Vec<String>,
    /// Share the --fan-out streams and the --rate-limit buckets across every
    /// gateway on this Redis (redis://HOST:PORT): one gateway feeds each
    /// stream, any resumes it.
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// Limit how often one caller (its token's subject, else its IP address)
    /// may call each method: CALLS/UNIT[,burst=N] such as 100/s or 5/min;
    /// METHOD=CALLS/UNIT for one package.Service/Method. Repeat for several.
    #[arg(long, value_name = "[METHOD=]RATE")]
    rate_limit: Vec<String>,
    /// Serve GET /metrics (Prometheus) on this address, open, instead of on
    /// --addr behind the token.
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<String>,
    /// Export OpenTelemetry traces to this OTLP/HTTP collector
    /// (http://127.0.0.1:4318): a span per call, a child span per upstream
    /// call, whose traceparent goes upstream.
    #[arg(long, value_name = "URL")]
    otlp: Option<String>,
    /// The developer portal at / and /docs: on (the default), auth (only for
    /// callers with the token or a valid JWT) or off.
    #[arg(long, value_name = "on|auth|off")]
    portal: Option<String>,
}

#[cfg(feature = "gateway")]
fn gateway(args: GatewayArgs) -> ExitCode {
    let usage = |message: String| {
        eprintln!("error: {message}");
        ExitCode::from(2)
    };
    if args.redis.is_some() && args.fan_out.is_empty() && args.rate_limit.is_empty() {
        return usage(
            "--redis shares --fan-out streams and --rate-limit buckets: add one of them, or drop --redis".into(),
        );
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return usage(format!("cannot start the async runtime: {e}")),
    };
    // The upstream's connection is driven by a task on this runtime.
    let _entered = runtime.enter();
    let mut upstream = match apigen_runtime::proxy::Upstream::new(&args.upstream) {
        Ok(upstream) => upstream,
        Err(status) => return usage(status.message().to_owned()),
    };
    upstream = upstream.connections(usize::from(args.upstream_connections));
    for name in &args.forward_header {
        upstream = upstream.forward_header(name);
    }
    let mut fan_out = None;
    if !args.fan_out.is_empty() {
        let shared = match &args.redis {
            Some(url) => match runtime.block_on(apigen_runtime::proxy::FanOut::redis(url)) {
                Ok(fan_out) => fan_out,
                Err(status) => return usage(format!("--redis {url}: {}", status.message())),
            },
            None => apigen_runtime::proxy::FanOut::in_process(),
        };
        let shared = args.fan_out.iter().fold(shared, |f, method| f.method(method));
        upstream = upstream.fan_out(shared.clone());
        fan_out = Some(shared);
    }
    let schema = if args.reflect {
        runtime
            .block_on(upstream.reflect())
            .map_err(|status| apigen::Error::Usage(status.message().to_owned()))
            .and_then(|bytes| apigen::gateway::Schema::from_descriptor_set(&bytes))
    } else if let Some(path) = &args.descriptor_set {
        match std::fs::read(path) {
            Ok(bytes) => apigen::gateway::Schema::from_descriptor_set(&bytes),
            Err(e) => Err(apigen::Error::Usage(format!("cannot read {}: {e}", path.display()))),
        }
    } else {
        apigen::gateway::Schema::from_files(&args.files, &args.includes)
    };
    let schema = match schema {
        Ok(schema) => schema,
        Err(e) => return report(&e),
    };
    let mut server_args = vec!["--addr".to_owned(), args.addr.clone()];
    if let Some(token) = &args.token {
        server_args.extend(["--token".to_owned(), token.clone()]);
        upstream = upstream.keep_authorization();
    }
    if let Some(jwks) = &args.jwks {
        server_args.extend(["--jwks".to_owned(), jwks.clone()]);
    }
    for origin in &args.cors_origin {
        server_args.extend(["--cors-origin".to_owned(), origin.clone()]);
    }
    for issuer in &args.issuer {
        server_args.extend(["--issuer".to_owned(), issuer.clone()]);
    }
    for audience in &args.audience {
        server_args.extend(["--audience".to_owned(), audience.clone()]);
    }
    for limit in &args.rate_limit {
        server_args.extend(["--rate-limit".to_owned(), limit.clone()]);
    }
    if let Some(addr) = &args.metrics_addr {
        server_args.extend(["--metrics-addr".to_owned(), addr.clone()]);
    }
    if let Some(url) = &args.otlp {
        server_args.extend(["--otlp".to_owned(), url.clone()]);
    }
    if let Some(url) = &args.redis {
        server_args.extend(["--redis".to_owned(), url.clone()]);
    }
    if let Some(portal) = &args.portal {
        server_args.extend(["--portal".to_owned(), portal.clone()]);
    }
    let server_args = match apigen_runtime::server::Args::parse(server_args) {
        Ok(parsed) => parsed,
        Err(message) => return usage(message),
    };
    let services = match schema.services(&upstream) {
        Ok(services) => services,
        Err(e) => return report(&e),
    };
    apigen_runtime::server::init_logging();
    let served = runtime.block_on(async {
        let mut server = apigen_runtime::Server::builder();
        if let Some(fan_out) = fan_out {
            server = server.readiness("fan-out", move || {
                let fan_out = fan_out.clone();
                async move { fan_out.ready().await }
            });
        }
        for service in services {
            server = server.add_service(service);
        }
        eprintln!("forwarding {} to {}", schema.service_names().join(", "), upstream.uri());
        server.run(&server_args).await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: the gateway stopped: {e}");
            ExitCode::from(1)
        }
    }
}

fn descriptor_set(files: &[PathBuf], includes: &[PathBuf], out: &std::path::Path) -> ExitCode {
    let bytes = match apigen::descriptor_set(files, includes) {
        Ok(bytes) => bytes,
        Err(e) => return report(&e),
    };
    match std::fs::write(out, &bytes) {
        Ok(()) => {
            say!("{}: wrote {} bytes", out.display(), bytes.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot write {}: {e}", out.display());
            ExitCode::from(1)
        }
    }
}

fn generate(files: &[PathBuf], includes: &[PathBuf], out: &std::path::Path, check: bool) -> ExitCode {
    let fail = |e: apigen::Error| report(&e);
    let generated = match apigen::generate(files, includes) {
        Ok(g) => g,
        Err(e) => return fail(e),
    };
    if check {
        let stale = generated.files.check(out);
        if stale.is_empty() {
            say!("{}: {} files up to date", out.display(), generated.files.0.len());
            return ExitCode::SUCCESS;
        }
        for (path, why) in &stale {
            say!("{}: {why}", path.display());
        }
        eprintln!(
            "error: {} generated file{} out of date; run the same command without --check",
            stale.len(),
            if stale.len() == 1 { " is" } else { "s are" }
        );
        return ExitCode::from(1);
    }
    match generated.files.write(out) {
        Ok(()) => {
            say!("{}: wrote {} files", out.display(), generated.files.0.len());
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
