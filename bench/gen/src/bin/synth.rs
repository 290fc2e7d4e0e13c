//! `apigen-synth --size small|medium|large|all --out DIR`: writes a synthetic
//! schema (deterministic: the same size gives byte-identical files).

use std::path::PathBuf;

use apigen_bench_gen::synth::{self, Size};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Write a synthetic .proto schema for the benchmarks")]
struct Args {
    /// small (10 methods, 30 messages), medium (200 methods, 404 messages),
    /// large (500 methods, 2,004 messages), or all (each into OUT/<size>)
    #[arg(long, default_value = "medium")]
    size: String,
    /// The directory to write into (import root of the files)
    #[arg(long)]
    out: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let sizes: Vec<(Size, PathBuf)> = if args.size == "all" {
        Size::ALL.into_iter().map(|s| (s, args.out.join(s.name()))).collect()
    } else {
        let size = Size::parse(&args.size)
            .ok_or_else(|| anyhow::anyhow!("unknown size {:?}: small, medium, large or all", args.size))?;
        vec![(size, args.out.clone())]
    };
    for (size, dir) in sizes {
        let schema = synth::generate(size);
        let roots = schema.write(&dir)?;
        eprintln!(
            "{}: {} files, {} messages, {} enums, {} methods, {} bytes in {}",
            size.name(),
            schema.files.len(),
            schema.messages,
            schema.enums,
            schema.methods,
            schema.bytes(),
            dir.display()
        );
        let roots: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        println!("apigen generate {} -I {} --out OUT", roots.join(" "), dir.display());
    }
    Ok(())
}
