//! Generates code for each entry file listed in the corpus README
//! (`../shared/realworld/README.md`), unmodified, with the corpus's own
//! `google/api/*.proto` on the include path beside apigen's built-in copies.

use std::path::PathBuf;

/// (module, entry file, include roots) — paths relative to the corpus.
const ENTRIES: &[(&str, &str, &[&str])] = &[
    ("library", "googleapis/google/example/library/v1/library.proto", &["googleapis"]),
    ("operations", "googleapis/google/longrunning/operations.proto", &["googleapis"]),
    ("secretmanager", "googleapis/google/cloud/secretmanager/v1/service.proto", &["googleapis"]),
    ("pubsub", "googleapis/google/pubsub/v1/pubsub.proto", &["googleapis"]),
    (
        "compliance",
        "gapic-showcase/schema/google/showcase/v1beta1/compliance.proto",
        &["gapic-showcase/schema", "googleapis"],
    ),
    ("envoy_bookstore", "envoy/test/proto/bookstore.proto", &["envoy", "googleapis"]),
    (
        "a_bit_of_everything",
        "grpc-gateway/examples/internal/proto/examplepb/a_bit_of_everything.proto",
        &["grpc-gateway", "googleapis"],
    ),
    ("echo", "gapic-showcase/schema/google/showcase/v1beta1/echo.proto", &["gapic-showcase/schema", "googleapis"]),
    (
        "response_body",
        "grpc-gateway/examples/internal/proto/examplepb/response_body_service.proto",
        &["grpc-gateway", "googleapis"],
    ),
];

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
    for (name, entry, includes) in ENTRIES {
        let includes: Vec<PathBuf> = includes.iter().map(|i| corpus.join(i)).collect();
        apigen::configure()
            .out_dir(out.join(name))
            .compile(&[corpus.join(entry)], &includes)
            .map_err(|e| format!("{entry}: {e:?}"))?;
    }
    Ok(())
}
