//! The hand-written gRPC baseline: a plain tonic service (code from tonic-prost-build) whose
//! GetBook reads the seeded store; every other method answers UNIMPLEMENTED.
//!
//! `baseline-tonic [--addr HOST:PORT]`; prints `listening on http://ADDR` once ready.

use apigen_bench_serve::pb::bookstore_server::{Bookstore, BookstoreServer};
use apigen_bench_serve::pb::{Book, GetBookRequest};
use apigen_bench_serve::{Error, Store, addr_from_args};
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

struct Service {
    store: Store,
}

#[tonic::async_trait]
impl Bookstore for Service {
    async fn get_book(&self, request: Request<GetBookRequest>) -> Result<Response<Book>, Status> {
        match self.store.get_book(&request.get_ref().name) {
            Ok(book) => Ok(Response::new(book)),
            Err(Error::NotFound(m)) => Err(Status::not_found(m)),
            Err(Error::InvalidArgument(m)) => Err(Status::invalid_argument(m)),
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = addr_from_args("baseline-tonic");
    let incoming = TcpIncoming::bind(addr)?.with_nodelay(Some(true));
    println!("listening on http://{}", incoming.local_addr()?);
    tonic::transport::Server::builder()
        .add_service(BookstoreServer::new(Service { store: Store::seeded() }))
        .serve_with_incoming(incoming)
        .await?;
    Ok(())
}
