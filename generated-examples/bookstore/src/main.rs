//! The bookstore example server: every protocol apigen serves, on one port.
//!
//! `bookstore-example --addr 127.0.0.1:8080 [--token SECRET] [--rate-limit 100/s] [--redis URL]`
//! (every flag: `apigen_runtime::server::Args`)

/// With `--features jemalloc`, memory freed after a load goes back to the system.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    apigen_runtime::server::init_logging();
    let args = apigen_runtime::server::Args::from_env("bookstore-example");
    apigen_runtime::Server::builder()
        .add_service(bookstore_example::v1::bookstore_service(bookstore_example::Store::default()))
        .run(&args)
        .await
}
