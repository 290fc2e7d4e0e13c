//! The proto3 JSON codec alone, apigen's against the pbjson-build serde code the baselines use:
//! the bookstore's seeded Book written (`to_vec`) and read (`from_slice`) in a loop, both codecs
//! interleaved in rounds on one thread. Prints a Markdown table: ns per operation (median of the
//! rounds) and apigen / pbjson (below 1 is faster).
//!
//! `json-codec [--quick]`: 7 rounds of 100,000 operations each, or 3 of 20,000.

use std::hint::black_box;

use apigen_bench_serve::{median, time};

use apigen_bench_serve::{Book, seed_book};
use bookstore_example::v1::Book as ApigenBook;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, n) = if quick { (3, 20_000) } else { (7, 100_000) };
    let pbjson_book: Book = seed_book();
    let json = serde_json::to_vec(&pbjson_book).expect("pbjson writes the book");
    let apigen_book: ApigenBook = apigen_runtime::json::from_slice(&json).expect("apigen reads pbjson's JSON");
    // The same fields either way (pbjson-types writes timestamps with `+00:00`, apigen with `Z`).
    let keys = |bytes: &[u8]| -> Vec<String> {
        let value: serde_json::Value = serde_json::from_slice(bytes).expect("JSON");
        value.as_object().expect("an object").keys().cloned().collect()
    };
    assert_eq!(keys(&apigen_runtime::json::to_vec(&apigen_book).expect("writes")), keys(&json));

    let mut results: [Vec<f64>; 6] = Default::default();
    for _ in 0..rounds {
        results[0].push(time(n, || drop(black_box(apigen_runtime::json::to_vec(black_box(&apigen_book))))));
        results[1].push(time(n, || drop(black_box(serde_json::to_vec(black_box(&pbjson_book))))));
        results[2].push(time(n, || {
            drop(black_box(apigen_runtime::json::from_slice::<ApigenBook>(black_box(&json))));
        }));
        results[3].push(time(n, || drop(black_box(serde_json::from_slice::<Book>(black_box(&json))))));
        results[4].push(time(n, || drop(black_box(serde_json::to_vec(black_box(&apigen_book))))));
        results[5].push(time(n, || drop(black_box(serde_json::from_slice::<ApigenBook>(black_box(&json))))));
    }
    let [aw, pw, ar, pr, cw, cr] = results.map(median);
    println!(
        "The seeded Book ({} bytes of JSON), {rounds} rounds of {n} operations, median ns per operation.",
        json.len()
    );
    println!();
    println!(
        "| operation | apigen's generated serde ns | pbjson-build serde ns | apigen / pbjson | apigen_runtime::json ns |"
    );
    println!("|---|---:|---:|---:|---:|");
    println!("| write | {cw:.0} | {pw:.0} | {:.2}× | {aw:.0} |", cw / pw);
    println!("| read | {cr:.0} | {pr:.0} | {:.2}× | {ar:.0} |", cr / pr);
    println!();
    println!("Both codecs through `serde_json::{{to_vec, from_slice}}`; the last column is what servers call,");
    println!(
        "`apigen_runtime::json::{{to_vec, from_slice}}` (which read again, tracking the field path, only to explain an error)."
    );
}
