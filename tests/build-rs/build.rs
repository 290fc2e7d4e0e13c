fn main() -> Result<(), apigen::Error> {
    apigen::configure().compile(&["proto/edge/v1/edge.proto", "proto/edge/v1/legacy.proto"], &["proto"])
}
