//! GraphQL relations against the N+1 a REST client makes, in one run: the
//! bookstore (in process, on loopback) holds `shelves` shelves of `books`
//! books; one "fetch" is every shelf with its books and each book's authors.
//! Over GraphQL that is one query; over REST it is `GET /v1/shelves`, then
//! `GET /v1/{shelf}/books` per shelf, then `GET /v1/authors:batchGet` per
//! book. Both run for the same time, interleaved, with the same concurrency;
//! the report gives fetches per second, HTTP requests and backend calls per
//! fetch (counted by an authorizer, which every call passes), and the ratio.
//!
//!   relations-bench [--quick] [--shelves N] [--books N]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use apigen_runtime::{Context, MethodInfo, Server, ServiceInfo};
use bookstore_example::{Store, v1};
use serde_json::{Value, json};

const QUERY: &str = "{ listShelves(pageSize: 1000) { shelves { name theme books { name title authors \
                     authorDetails { name bookCount } } } } }";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One fetch over GraphQL: the whole tree in one request.
async fn graphql(http: &reqwest::Client, base: &str) -> usize {
    let response = http.post(format!("{base}/graphql")).json(&json!({"query": QUERY})).send().await;
    let body: Value = match response {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(e) => panic!("GraphQL failed: {e}"),
    };
    assert!(body.get("errors").is_none(), "{body}");
    let shelves = body["data"]["listShelves"]["shelves"].as_array().map_or(0, Vec::len);
    assert!(shelves > 0, "{body}");
    1
}

/// One fetch over REST, as a client without relations makes it: shelves, then
/// each shelf's books, then each book's authors.
async fn rest(http: &reqwest::Client, base: &str) -> usize {
    let get = |url: String| async move {
        let response = http.get(url).send().await.unwrap_or_else(|e| panic!("REST failed: {e}"));
        response.json::<Value>().await.unwrap_or(Value::Null)
    };
    let mut requests = 1;
    let shelves = get(format!("{base}/v1/shelves?pageSize=1000")).await;
    for shelf in shelves["shelves"].as_array().into_iter().flatten() {
        let name = shelf["name"].as_str().unwrap_or_default();
        let books = get(format!("{base}/v1/{name}/books?pageSize=1000")).await;
        requests += 1;
        for book in books["books"].as_array().into_iter().flatten() {
            let names: Vec<String> = book["authors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|a| format!("names={}", a.replace(' ', "%20")))
                .collect();
            let authors = get(format!("{base}/v1/authors:batchGet?{}", names.join("&"))).await;
            assert!(authors["authors"].is_array(), "{authors}");
            requests += 1;
        }
    }
    requests
}

/// Fetches per second with `clients` at once for `time`, and HTTP requests per fetch.
async fn measure<F, Fut>(clients: usize, time: Duration, fetch: F) -> (f64, f64)
where
    F: Fn(reqwest::Client) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = usize> + Send,
{
    let (fetches, requests) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (fetch, fetches, requests) = (fetch.clone(), Arc::clone(&fetches), Arc::clone(&requests));
            tokio::spawn(async move {
                let http = reqwest::Client::new();
                while start.elapsed() < time {
                    let sent = fetch(http.clone()).await;
                    fetches.fetch_add(1, Ordering::Relaxed);
                    requests.fetch_add(sent as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let (done, sent) = (fetches.load(Ordering::Relaxed) as f64, requests.load(Ordering::Relaxed) as f64);
    (done / start.elapsed().as_secs_f64(), sent / done.max(1.0))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (shelves, books) = (arg("--shelves", 10), arg("--books", 10));
    let (rounds, time, clients) = if quick { (1, Duration::from_secs(2), 4) } else { (3, Duration::from_secs(5), 4) };

    let calls = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&calls);
    let server = Server::builder().add_service(v1::bookstore_service(Store::default())).authorizer(
        move |_: &Context, _: &ServiceInfo, _: &MethodInfo| {
            counter.fetch_add(1, Ordering::Relaxed);
            Ok(())
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("binds loopback");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    tokio::spawn(server.serve(listener, std::future::pending()));

    let rest_client = v1::BookstoreRestClient::new(base.clone());
    for i in 0..shelves {
        let shelf = v1::Shelf { theme: format!("theme {i}"), ..Default::default() };
        let shelf = rest_client.create_shelf(v1::CreateShelfRequest { shelf: Some(shelf) }).await.expect("a shelf");
        for j in 0..books {
            let authors = vec!["Ada Lovelace".to_owned(), format!("Author {}", (i * books + j) % 20)];
            let book = v1::Book { title: format!("book {i}.{j}"), authors, ..Default::default() };
            rest_client
                .create_book(v1::CreateBookRequest { parent: shelf.name.clone(), book: Some(book) })
                .await
                .expect("a book");
        }
    }

    // Backend calls per fetch, counted once each.
    let http = reqwest::Client::new();
    let before = calls.load(Ordering::Relaxed);
    graphql(&http, &base).await;
    let graphql_calls = calls.load(Ordering::Relaxed) - before;
    let before = calls.load(Ordering::Relaxed);
    rest(&http, &base).await;
    let rest_calls = calls.load(Ordering::Relaxed) - before;

    let (mut g, mut r) = (Vec::new(), Vec::new());
    let (mut g_requests, mut r_requests) = (0.0, 0.0);
    for _ in 0..rounds {
        let b = base.clone();
        let (rate, per) = measure(clients, time, move |h| {
            let b = b.clone();
            async move { graphql(&h, &b).await }
        })
        .await;
        g.push(rate);
        g_requests = per;
        let b = base.clone();
        let (rate, per) = measure(clients, time, move |h| {
            let b = b.clone();
            async move { rest(&h, &b).await }
        })
        .await;
        r.push(rate);
        r_requests = per;
    }
    let (g, r) = (median(g), median(r));
    println!(
        "| fetch ({shelves} shelves × {books} books, their authors) | fetches/s | HTTP requests per fetch | backend calls per fetch |"
    );
    println!("|---|---:|---:|---:|");
    println!("| GraphQL, relations | {g:.0} | {g_requests:.0} | {graphql_calls} |");
    println!("| REST, one call per parent (N+1) | {r:.0} | {r_requests:.0} | {rest_calls} |");
    println!();
    println!(
        "GraphQL with relations: {:.2}× the fetches per second of REST's N+1 ({} rounds of {} s, {clients} clients, median).",
        g / r,
        rounds,
        time.as_secs()
    );
}
