//! The gRPC load generator: GetBook with a tonic client on one current-thread tokio runtime (so
//! on one core), `--concurrency` requests in flight at all times spread over `--connections`
//! HTTP/2 connections. After `--warmup`, it counts the calls that complete in the next
//! `--duration` and records their latencies in an HDR histogram, then prints one JSON line:
//! `{"rps": …, "p50_ms": …, "p99_ms": …, "ok": …, "errors": …}`.
//!
//! `grpc-load --url http://127.0.0.1:PORT [--concurrency 16] [--connections 2] [--duration 10]
//! [--warmup 2]` (seconds; fractions allowed)

use std::time::{Duration, Instant};

use apigen_bench_serve::pb::GetBookRequest;
use apigen_bench_serve::pb::bookstore_client::BookstoreClient;
use apigen_bench_serve::{BOOK_NAME, Book, seed_book};
use hdrhistogram::Histogram;
use tonic::transport::{Channel, Endpoint};

struct Config {
    url: String,
    concurrency: usize,
    connections: usize,
    duration: Duration,
    warmup: Duration,
}

const USAGE: &str = "usage: grpc-load --url URL [--concurrency N] [--connections N] [--duration SECS] [--warmup SECS]";

fn parse() -> Result<Config, String> {
    let mut config = Config {
        url: String::new(),
        concurrency: 16,
        connections: 2,
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(2),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = || value.parse::<usize>().map_err(|_| format!("{flag}: `{value}` is not a number"));
        let seconds = || {
            value
                .parse::<f64>()
                .ok()
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .ok_or_else(|| format!("{flag}: `{value}` is not a number of seconds"))
        };
        match flag.as_str() {
            "--url" => config.url = value.clone(),
            "--concurrency" => config.concurrency = number()?.max(1),
            "--connections" => config.connections = number()?.max(1),
            "--duration" => config.duration = seconds()?,
            "--warmup" => config.warmup = seconds()?,
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if config.url.is_empty() {
        return Err("--url is required".into());
    }
    Ok(config)
}

/// What one worker saw in the measured window.
struct Tally {
    histogram: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
}

async fn worker(mut client: BookstoreClient<Channel>, measure_from: Instant, until: Instant) -> Tally {
    let mut tally = Tally {
        histogram: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds"),
        errors: 0,
        first_error: None,
    };
    loop {
        let start = Instant::now();
        if start >= until {
            return tally;
        }
        let result = client.get_book(GetBookRequest { name: BOOK_NAME.to_owned() }).await;
        let end = Instant::now();
        if start < measure_from || end > until {
            continue;
        }
        match result {
            Ok(_) => {
                let micros = end.duration_since(start).as_micros().max(1) as u64;
                tally.histogram.saturating_record(micros);
            }
            Err(status) => {
                tally.errors += 1;
                tally.first_error.get_or_insert_with(|| status.to_string());
            }
        }
    }
}

/// The seeded book with the timestamps `book` carries (each server sets its own).
fn seed_book_as_served(book: &Book) -> Book {
    Book { create_time: book.create_time, update_time: book.update_time, ..seed_book() }
}

async fn run(config: Config) -> Result<(), String> {
    let endpoint = Endpoint::from_shared(config.url.clone()).map_err(|e| format!("bad --url: {e}"))?.tcp_nodelay(true);
    let mut channels = Vec::with_capacity(config.connections);
    for _ in 0..config.connections {
        // One channel is one HTTP/2 connection.
        let channel = endpoint.connect().await.map_err(|e| format!("cannot connect to {}: {e}", config.url))?;
        channels.push(channel);
    }
    // One call first: the server must answer the seeded book, not just any message.
    let book = BookstoreClient::new(channels[0].clone())
        .get_book(GetBookRequest { name: BOOK_NAME.to_owned() })
        .await
        .map_err(|e| format!("GetBook failed: {e}"))?
        .into_inner();
    if book != seed_book_as_served(&book) {
        return Err(format!("GetBook answered another book: {book:?}"));
    }
    let measure_from = Instant::now() + config.warmup;
    let until = measure_from + config.duration;
    let workers: Vec<_> = (0..config.concurrency)
        .map(|i| {
            let client = BookstoreClient::new(channels[i % channels.len()].clone());
            tokio::spawn(worker(client, measure_from, until))
        })
        .collect();
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds");
    let (mut errors, mut first_error) = (0, None);
    for w in workers {
        let tally = w.await.map_err(|e| format!("a worker failed: {e}"))?;
        histogram.add(&tally.histogram).map_err(|e| format!("cannot merge histograms: {e}"))?;
        errors += tally.errors;
        first_error = first_error.or(tally.first_error);
    }
    let ok = histogram.len();
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{}",
        serde_json::json!({
            "rps": ok as f64 / config.duration.as_secs_f64(),
            "p50_ms": ms(0.50),
            "p99_ms": ms(0.99),
            "ok": ok,
            "errors": errors,
            "first_error": first_error,
        })
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let config = match parse() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("grpc-load: {e}\n{USAGE}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let result = match runtime {
        Ok(runtime) => runtime.block_on(run(config)),
        Err(e) => Err(format!("cannot start tokio: {e}")),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("grpc-load: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
