//! The hand-written GraphQL baseline: an async-graphql schema from derives (`#[Object]`,
//! `SimpleObject`, `Enum`) with the field and type names of apigen's generated
//! `schema.graphql` (`getBook(name:)` → `Book`, JSON field names, 64-bit integers as strings,
//! enums by their protobuf names, maps as `{key, value}` lists), served with axum and
//! async-graphql-axum at `POST /graphql`.
//!
//! `baseline-graphql [--addr HOST:PORT]`; prints `listening on http://ADDR` once ready.

use apigen_bench_serve::pb::{self, book::Availability};
use apigen_bench_serve::{Error, Store, addr_from_args};
use async_graphql::{EmptyMutation, EmptySubscription, Enum, ErrorExtensions, Object, Schema, SimpleObject};
use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use axum::serve::ListenerExt;
use base64::Engine;

type BookSchema = Schema<Query, EmptyMutation, EmptySubscription>;

struct Query {
    store: Store,
}

#[Object]
impl Query {
    async fn get_book(&self, name: String) -> async_graphql::Result<Option<Book>> {
        match self.store.get_book(&name) {
            Ok(book) => Ok(Some(Book(book))),
            Err(e) => {
                let code = if matches!(e, Error::NotFound(_)) { "NOT_FOUND" } else { "INVALID_ARGUMENT" };
                Err(async_graphql::Error::new(e.message()).extend_with(|_, ext| ext.set("code", code)))
            }
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)]
enum Genre {
    GenreUnspecified,
    GenreFiction,
    GenreScience,
    GenreHistory,
    GenrePoetry,
}

#[derive(SimpleObject)]
#[graphql(name = "Book_LabelsEntry")]
struct LabelsEntry {
    key: String,
    value: String,
}

#[derive(SimpleObject)]
struct Publisher {
    name: String,
    country: String,
}

/// RFC 3339, as proto3 JSON writes a `Timestamp` (apigen's `DateTime` scalar).
fn date_time(timestamp: &Option<pbjson_types::Timestamp>) -> Option<String> {
    let value = serde_json::to_value(timestamp.as_ref()?).ok()?;
    value.as_str().map(str::to_owned)
}

/// A resolver over the stored prost `Book`.
struct Book(pb::Book);

#[Object]
impl Book {
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn authors(&self) -> &[String] {
        &self.0.authors
    }
    async fn genre(&self) -> Genre {
        match pb::Genre::try_from(self.0.genre).unwrap_or_default() {
            pb::Genre::Unspecified => Genre::GenreUnspecified,
            pb::Genre::Fiction => Genre::GenreFiction,
            pb::Genre::Science => Genre::GenreScience,
            pb::Genre::History => Genre::GenreHistory,
            pb::Genre::Poetry => Genre::GenrePoetry,
        }
    }
    /// `Int64`: a string, as proto3 JSON writes 64-bit integers.
    async fn isbn(&self) -> String {
        self.0.isbn.to_string()
    }
    async fn price(&self) -> f64 {
        self.0.price
    }
    async fn subtitle(&self) -> Option<&str> {
        self.0.subtitle.as_ref().map(|s| s.value.as_str())
    }
    async fn labels(&self) -> Vec<LabelsEntry> {
        self.0.labels.iter().map(|(k, v)| LabelsEntry { key: k.clone(), value: v.clone() }).collect()
    }
    async fn publisher(&self) -> Option<Publisher> {
        let p = self.0.publisher.as_ref()?;
        Some(Publisher { name: p.name.clone(), country: p.country.clone() })
    }
    async fn in_stock(&self) -> Option<i32> {
        match self.0.availability {
            Some(Availability::InStock(n)) => Some(n),
            _ => None,
        }
    }
    async fn restock_time(&self) -> Option<String> {
        match &self.0.availability {
            Some(Availability::RestockTime(t)) => date_time(&Some(*t)),
            _ => None,
        }
    }
    async fn out_of_print(&self) -> Option<bool> {
        match self.0.availability {
            Some(Availability::OutOfPrint(b)) => Some(b),
            _ => None,
        }
    }
    /// `Bytes`: base64.
    async fn cover_thumbnail(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.0.cover_thumbnail)
    }
    async fn create_time(&self) -> Option<String> {
        date_time(&self.0.create_time)
    }
    async fn update_time(&self) -> Option<String> {
        date_time(&self.0.update_time)
    }
}

async fn graphql(State(schema): State<BookSchema>, request: GraphQLRequest) -> GraphQLResponse {
    schema.execute(request.into_inner()).await.into()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = addr_from_args("baseline-graphql");
    let schema = Schema::new(Query { store: Store::seeded() }, EmptyMutation, EmptySubscription);
    let app = Router::new().route("/graphql", post(graphql)).with_state(schema);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await
}
