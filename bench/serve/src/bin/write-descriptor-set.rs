//! Writes the encoded `FileDescriptorSet` of the bookstore schema and its imports to the named
//! file, for the Node.js Connect peer (`bench/node/connect.mjs`).
//!
//! `write-descriptor-set FILE`

fn main() -> std::io::Result<()> {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: write-descriptor-set FILE");
        std::process::exit(2);
    };
    std::fs::write(path, apigen_bench_serve::FILE_DESCRIPTOR_SET)
}
