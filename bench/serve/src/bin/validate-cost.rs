//! What protovalidate's rules cost a request: the bookstore's CreateBook request (a full book,
//! every rule of the example schema passing) read from JSON the way every JSON protocol reads
//! it, with and without the check the dispatch runs after decoding. Both interleaved in rounds on
//! one thread. Prints a Markdown table: ns per request (median of the rounds) and the ratio.
//!
//! `validate-cost [--quick]`: 7 rounds of 100,000 requests each, or 3 of 20,000.

use std::hint::black_box;

use apigen_bench_serve::{median, time};

use apigen_runtime::validate::{Validate, Validator};
use bookstore_example::v1;

fn read(json: &[u8]) -> v1::CreateBookRequest {
    apigen_runtime::json::from_slice(json).expect("a valid request")
}

fn checked(request: &v1::CreateBookRequest) -> bool {
    let mut rules = Validator::new();
    request.validate_rules(&mut rules);
    rules.finish().is_ok()
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, n) = if quick { (3, 20_000) } else { (7, 100_000) };
    let book: serde_json::Value =
        serde_json::from_str(include_str!("../../book.json")).expect("bench/serve/book.json is JSON");
    let json = serde_json::to_vec(&serde_json::json!({"parent": "shelves/1", "book": book})).expect("JSON");
    assert!(checked(&read(&json)), "the seeded book passes every rule");

    let mut results: [Vec<f64>; 3] = Default::default();
    for _ in 0..rounds {
        results[0].push(time(n, || drop(black_box(read(black_box(&json))))));
        results[1].push(time(n, || {
            let request = read(black_box(&json));
            black_box(checked(&request));
        }));
        let request = read(&json);
        results[2].push(time(n, || {
            black_box(checked(black_box(&request)));
        }));
    }
    let [plain, with_rules, rules_alone] = results.map(median);
    println!(
        "CreateBook's request ({} bytes of JSON: title, authors, ISBN, labels, publisher), {rounds} rounds of {n}, median ns.",
        json.len()
    );
    println!();
    println!("| request read | ns | ratio |");
    println!("|---|---:|---:|");
    println!("| decoded, no rules checked | {plain:.0} | 1.00× |");
    println!(
        "| decoded and its rules checked (what the dispatch does) | {with_rules:.0} | {:.2}× |",
        with_rules / plain
    );
    println!("| the rules check alone | {rules_alone:.0} | {:.2}× of decoding |", rules_alone / plain);
}
