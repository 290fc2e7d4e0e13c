//! The chat example server: rooms whose messages reach every subscriber.
//!
//! `chat-example --addr 127.0.0.1:8081 [--redis redis://127.0.0.1:6379] [--token SECRET]`

/// With `--features jemalloc`, memory freed after a load goes back to the system.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    apigen_runtime::server::init_logging();
    let args = apigen_runtime::server::Args::from_env("chat-example");
    let rooms = match &args.redis {
        Some(url) => chat_example::Rooms::redis(url).await.map_err(|status| {
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, format!("--redis {url}: {}", status.message()))
        })?,
        None => chat_example::Rooms::default(),
    };
    let fan_out = rooms.clone();
    apigen_runtime::Server::builder()
        .readiness("fan-out", move || {
            let rooms = fan_out.clone();
            async move { rooms.ready().await }
        })
        .add_service(chat_example::v1::chat_service(rooms))
        .run(&args)
        .await
}
