//! Generates the Rust code of `proto/{{snake_name}}.proto` into `OUT_DIR` on every
//! build that follows a change to it; `src/main.rs` pulls it in with
//! `apigen_runtime::include_api!()`.

fn main() -> Result<(), apigen::Error> {
    apigen::configure().compile(&["proto/{{snake_name}}.proto"], &["proto"])
}
