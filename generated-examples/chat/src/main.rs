//! The chat example server: rooms whose messages reach every subscriber.
//!
//! `chat-example --addr 127.0.0.1:8081 [--token SECRET]`

#[tokio::main]
async fn main() -> std::io::Result<()> {
    apigen_runtime::server::init_logging();
    let args = apigen_runtime::server::Args::from_env("chat-example");
    apigen_runtime::Server::builder()
        .add_service(chat_example::v1::chat_service(chat_example::Rooms::default()))
        .run(&args)
        .await
}
