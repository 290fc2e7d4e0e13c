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
        /// httpbody}.proto, apigen/options.proto and the well-known types are
        /// built in.
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

fn descriptor_set(files: &[PathBuf], includes: &[PathBuf], out: &std::path::Path) -> ExitCode {
    let bytes = match apigen::descriptor_set(files, includes) {
        Ok(bytes) => bytes,
        Err(e) => return report(&e),
    };
    match std::fs::write(out, &bytes) {
        Ok(()) => {
            println!("{}: wrote {} bytes", out.display(), bytes.len());
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
            println!("{}: {} files up to date", out.display(), generated.files.0.len());
            return ExitCode::SUCCESS;
        }
        for (path, why) in &stale {
            println!("{}: {why}", path.display());
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
            println!("{}: wrote {} files", out.display(), generated.files.0.len());
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}
