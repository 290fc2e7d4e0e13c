//! Generates code for each entry file of the corpus (`../shared/realworld`,
//! unmodified) that `entries.txt` lists, with the corpus's own
//! `google/api/*.proto` on the include path beside apigen's built-in copies.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-env-changed=APIGEN_REALWORLD");
    let corpus = match std::env::var_os("APIGEN_REALWORLD") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../../shared/realworld"),
    };
    if !corpus.join("README.md").is_file() {
        return Err(format!(
            "the real-world corpus is not at {}: put shared/ beside the repository or set APIGEN_REALWORLD",
            corpus.display()
        )
        .into());
    }
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    println!("cargo:rerun-if-changed=entries.txt");
    // NAME ENTRY-FILE INCLUDE-ROOT..., paths relative to the corpus.
    for line in include_str!("entries.txt").lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let mut words = line.split_whitespace();
        let (Some(name), Some(entry)) = (words.next(), words.next()) else {
            return Err(format!("entries.txt: `{line}` needs a name and an entry file").into());
        };
        let includes: Vec<PathBuf> = words.map(|i| corpus.join(i)).collect();
        apigen::configure()
            .out_dir(out.join(name))
            .compile(&[corpus.join(entry)], &includes)
            .map_err(|e| format!("{entry}: {e:?}"))?;
    }
    Ok(())
}
