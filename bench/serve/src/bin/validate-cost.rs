//! What protovalidate's rules cost a request: the bookstore's CreateBook request (a full book,
//! every rule of the example schema passing) read from JSON the way every JSON protocol reads
//! it, with and without the check the dispatch runs after decoding. Built with the feature
//! `prost-protovalidate`, also the same request checked by the `prost-protovalidate` crate
//! instead (issue 17: generated native checks or that crate), which validates any
//! `prost_reflect::ReflectMessage` through a `DynamicMessage`. All rows interleaved in rounds on
//! one thread. Prints a Markdown table: ns per request (median of the rounds) and the ratios, then
//! what each validator costs once, before its first request.
//!
//! With the feature, both validators must first pass the seeded request and report the same rule
//! ids for each of a few invalid ones (else the program stops, printing both); differing field
//! paths, rule paths or messages are printed to stderr and counted under the table.
//!
//! `validate-cost [--quick]`: 7 rounds of 100,000 requests each, or 3 of 20,000.

use std::hint::black_box;
use std::time::Instant;

use apigen_bench_serve::{median, time};

use apigen_runtime::validate::{Validate, Validator};
use bookstore_example::v1;

fn read(json: &[u8]) -> v1::CreateBookRequest {
    apigen_runtime::json::from_slice(json).expect("a valid request")
}

fn checked(request: &impl Validate) -> bool {
    let mut rules = Validator::new();
    request.validate_rules(&mut rules);
    rules.finish().is_ok()
}

/// A custom (CEL) rule: MoveBook's cross-field rule, on the `cel` crate, with
/// the request's two length rules; its own table.
fn custom_rule(rounds: usize, n: u32) {
    let json = br#"{"name": "shelves/1/books/1", "otherShelf": "shelves/2"}"#;
    let read =
        |json: &[u8]| -> v1::MoveBookRequest { apigen_runtime::json::from_slice(json).expect("a valid request") };
    let request = read(json);
    // What building the service does once: compile the schema's custom rules.
    let start = Instant::now();
    apigen_runtime::validate::prepare(v1::CEL_RULES);
    let compile = micros(start);
    assert!(checked(&request), "the move passes its rules");
    let mut results: [Vec<f64>; 2] = Default::default();
    for _ in 0..rounds {
        results[0].push(time(n, || drop(black_box(read(black_box(json))))));
        results[1].push(time(n, || {
            black_box(checked(black_box(&request)));
        }));
    }
    let [plain, rules] = results.map(median);
    println!();
    println!(
        "MoveBook's request ({} bytes of JSON) and its custom rule `!this.name.startsWith(this.other_shelf + '/')`, compiled once when the service is built ({compile:.0} µs):",
        json.len()
    );
    println!();
    println!("| request read | ns | ratio |");
    println!("|---|---:|---:|");
    println!("| decoded, no rules checked | {plain:.0} | 1.00× |");
    println!(
        "| its rules checked alone (the CEL rule and two `max_len`) | {rules:.0} | {:.2}× of decoding |",
        rules / plain
    );
}

/// Microseconds since `start`.
fn micros(start: Instant) -> f64 {
    start.elapsed().as_nanos() as f64 / 1000.0
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rounds, n) = if quick { (3, 20_000) } else { (7, 100_000) };
    let book: serde_json::Value =
        serde_json::from_str(include_str!("../../book.json")).expect("bench/serve/book.json is JSON");
    let json = serde_json::to_vec(&serde_json::json!({"parent": "shelves/1", "book": book})).expect("JSON");
    let request = read(&json);
    // The first check in the process: what the native rules cost once (a pattern compiled).
    let start = Instant::now();
    assert!(checked(&request), "the seeded book passes every rule");
    let native_first = micros(start);
    #[cfg(feature = "prost-protovalidate")]
    let crate_check = pv::Bench::new(&request, quick);

    let mut results: [Vec<f64>; 3] = Default::default();
    #[cfg(feature = "prost-protovalidate")]
    let mut crate_results: [Vec<f64>; 4] = Default::default();
    for _ in 0..rounds {
        results[0].push(time(n, || drop(black_box(read(black_box(&json))))));
        results[1].push(time(n, || {
            let request = read(black_box(&json));
            black_box(checked(&request));
        }));
        results[2].push(time(n, || {
            black_box(checked(black_box(&request)));
        }));
        #[cfg(feature = "prost-protovalidate")]
        crate_check.round(n, &json, &request, &mut crate_results);
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
    #[cfg(feature = "prost-protovalidate")]
    crate_check.print(crate_results.map(median), plain, with_rules, rules_alone, native_first);
    #[cfg(not(feature = "prost-protovalidate"))]
    {
        println!();
        println!("Once, before the first request: the rules check's first request {native_first:.0} µs.");
        println!();
        println!(
            "(Rows for the prost-protovalidate crate: build with `--features prost-protovalidate`, which needs `protoc`.)"
        );
    }
    custom_rule(rounds, n);
}

/// The prost-protovalidate rows.
#[cfg(feature = "prost-protovalidate")]
mod pv {
    use std::hint::black_box;
    use std::sync::LazyLock;
    use std::time::Instant;

    use apigen_bench_serve::{median, time};
    use apigen_runtime::validate::{Validate, Validator};
    use bookstore_example::v1;
    use prost::Message;
    use prost_protovalidate::Validator as CrateValidator;
    use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, ReflectMessage};

    use super::{micros, read};

    /// `bookstore.v1.CreateBookRequest` in the pool of the generated `FILE_DESCRIPTOR_SET` (the
    /// schema's files and imports, `buf/validate/validate.proto` with them, options kept).
    static CREATE_BOOK: LazyLock<MessageDescriptor> = LazyLock::new(|| {
        DescriptorPool::decode(v1::FILE_DESCRIPTOR_SET)
            .expect("the generated descriptor set decodes")
            .get_message_by_name("bookstore.v1.CreateBookRequest")
            .expect("CreateBookRequest is in the descriptor set")
    });

    /// The generated request as prost-reflect's `#[derive(ReflectMessage)]` would present it:
    /// the message and its descriptor. prost-protovalidate turns whatever it is given into a
    /// `DynamicMessage` with `transcode_to_dynamic`, which for such a type encodes it with prost
    /// and decodes the bytes with the descriptor: the cheapest way for a server holding generated
    /// messages (apigen's are plain prost types) to use the crate. Wrapping moves, nothing is
    /// copied.
    struct Reflected(v1::CreateBookRequest);

    impl Message for Reflected {
        fn encode_raw(&self, buf: &mut impl prost::bytes::BufMut) {
            self.0.encode_raw(buf);
        }

        fn merge_field(
            &mut self,
            tag: u32,
            wire_type: prost::encoding::WireType,
            buf: &mut impl prost::bytes::Buf,
            ctx: prost::encoding::DecodeContext,
        ) -> Result<(), prost::DecodeError> {
            self.0.merge_field(tag, wire_type, buf, ctx)
        }

        fn encoded_len(&self) -> usize {
            self.0.encoded_len()
        }

        fn clear(&mut self) {
            self.0.clear();
        }
    }

    impl ReflectMessage for Reflected {
        fn descriptor(&self) -> MessageDescriptor {
            CREATE_BOOK.clone()
        }
    }

    /// The request as a `DynamicMessage`: encoded with prost, decoded with the descriptor.
    fn dynamic(request: &v1::CreateBookRequest) -> DynamicMessage {
        DynamicMessage::decode(CREATE_BOOK.clone(), request.encode_to_vec().as_slice()).expect("prost's bytes decode")
    }

    /// What a server pays to check a generated request with prost-protovalidate: the request
    /// converted to a `DynamicMessage` (inside `validate`) and checked; the request comes back.
    fn checked(validator: &CrateValidator, request: v1::CreateBookRequest) -> (bool, v1::CreateBookRequest) {
        let reflected = Reflected(request);
        let ok = validator.validate(&reflected).is_ok();
        (ok, reflected.0)
    }

    /// One violation as both validators tell it.
    #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
    struct Found {
        rule_id: String,
        field: String,
        rule: String,
        message: String,
    }

    fn native_violations(request: &v1::CreateBookRequest) -> Vec<Found> {
        let mut rules = Validator::new();
        request.validate_rules(&mut rules);
        let found: Vec<Found> = rules
            .violations()
            .iter()
            .map(|v| Found {
                rule_id: v.rule_id.to_string(),
                field: v.field_path(),
                rule: v.rule_path(),
                message: v.message.clone(),
            })
            .collect();
        // A rule that cannot be evaluated fails the request without a violation.
        assert_eq!(rules.finish().is_ok(), found.is_empty(), "the native check failed a request without violations");
        found
    }

    fn crate_violations(validator: &CrateValidator, request: &v1::CreateBookRequest) -> Vec<Found> {
        match validator.validate(&dynamic(request)) {
            Ok(()) => Vec::new(),
            Err(prost_protovalidate::Error::Validation(e)) => e
                .violations()
                .iter()
                .map(|v| Found {
                    rule_id: v.rule_id().to_owned(),
                    field: v.field_path(),
                    rule: v.rule_path(),
                    message: v.message().to_owned(),
                })
                .collect(),
            Err(e) => panic!("prost-protovalidate could not check the request: {e}"),
        }
    }

    /// Valid variants of the seeded request, at the limits of its rules.
    fn valid_requests(valid: &v1::CreateBookRequest) -> Vec<(&'static str, v1::CreateBookRequest)> {
        let edit = |f: &dyn Fn(&mut v1::Book)| {
            let mut request = valid.clone();
            f(request.book.as_mut().expect("the seeded request has a book"));
            request
        };
        vec![
            // Lengths count characters, not bytes.
            ("title of 300 two-byte chars", edit(&|b| b.title = "é".repeat(300))),
            ("ISBN 9999999999999", edit(&|b| b.isbn = 9_999_999_999_999)),
            ("64 labels", edit(&|b| b.labels = (0..64).map(|i| (format!("k{i}"), "v".to_owned())).collect())),
            ("no publisher country", edit(&|b| b.publisher.as_mut().expect("a publisher").country.clear())),
            ("no book", v1::CreateBookRequest { book: None, ..valid.clone() }),
        ]
    }

    /// Invalid variants of the seeded request: one broken rule each, then several at once.
    fn invalid_requests(valid: &v1::CreateBookRequest) -> Vec<(&'static str, v1::CreateBookRequest)> {
        let edit = |f: &dyn Fn(&mut v1::Book)| {
            let mut request = valid.clone();
            f(request.book.as_mut().expect("the seeded request has a book"));
            request
        };
        let title = |b: &mut v1::Book| b.title = "t".repeat(301);
        let isbn_high = |b: &mut v1::Book| b.isbn = 10_000_000_000_000;
        let isbn_low = |b: &mut v1::Book| b.isbn = -1;
        let labels = |b: &mut v1::Book| b.labels = (0..65).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        let authors = |b: &mut v1::Book| b.authors = vec!["a".to_owned(); 51];
        let author = |b: &mut v1::Book| b.authors[0] = "a".repeat(201);
        let country = |b: &mut v1::Book| b.publisher.as_mut().expect("a publisher").country = "usa".to_owned();
        let cover = |b: &mut v1::Book| b.cover_thumbnail = vec![0; 65_537];
        let mut all = edit(&|b| {
            title(b);
            isbn_high(b);
            labels(b);
            author(b);
            country(b);
            cover(b);
        });
        all.parent = "p".repeat(201);
        vec![
            ("title of 301 chars", edit(&title)),
            ("ISBN 10^13", edit(&isbn_high)),
            ("ISBN -1", edit(&isbn_low)),
            ("65 labels", edit(&labels)),
            ("51 authors", edit(&authors)),
            ("an author of 201 chars", edit(&author)),
            ("publisher country `usa`", edit(&country)),
            ("cover of 65,537 bytes", edit(&cover)),
            ("parent of 201 chars and six of the above", all),
        ]
    }

    /// The prost-protovalidate side: its validator, the request as a `DynamicMessage`, what was
    /// measured once.
    pub struct Bench {
        validator: CrateValidator,
        dynamic: DynamicMessage,
        pool: f64,
        new: f64,
        first: f64,
        fresh: usize,
        new_again: f64,
        first_again: f64,
        cases: usize,
        valid: usize,
        violations: usize,
        differing: usize,
        reordered: usize,
    }

    impl Bench {
        /// Measures what the crate costs once, then checks that both validators agree.
        pub fn new(request: &v1::CreateBookRequest, quick: bool) -> Bench {
            let start = Instant::now();
            LazyLock::force(&CREATE_BOOK);
            let pool = micros(start);
            let start = Instant::now();
            let validator = CrateValidator::new();
            let new = micros(start);
            let start = Instant::now();
            assert!(checked(&validator, request.clone()).0, "prost-protovalidate passes the seeded book");
            let first = micros(start);
            // The same for each further `Validator` (what the process sets up once is done).
            let fresh = if quick { 5 } else { 15 };
            let mut again: [Vec<f64>; 2] = Default::default();
            for _ in 0..fresh {
                let start = Instant::now();
                let validator = CrateValidator::new();
                again[0].push(micros(start));
                let start = Instant::now();
                assert!(checked(&validator, request.clone()).0);
                again[1].push(micros(start));
            }
            let [new_again, first_again] = again.map(median);
            let dynamic = dynamic(request);
            assert!(validator.validate(&dynamic).is_ok(), "prost-protovalidate passes the seeded book");
            let mut bench = Bench {
                validator,
                dynamic,
                pool,
                new,
                first,
                fresh,
                new_again,
                first_again,
                cases: 0,
                valid: 0,
                violations: 0,
                differing: 0,
                reordered: 0,
            };
            bench.agreement(request);
            bench
        }

        /// Both validators on the invalid requests: the same rule ids (else the program stops);
        /// the requests told differently (field or rule path, message) go to stderr.
        fn agreement(&mut self, valid: &v1::CreateBookRequest) {
            let passing = valid_requests(valid);
            for (what, request) in &passing {
                assert!(native_violations(request).is_empty(), "{what}: the native check failed a valid request");
                let by_crate = crate_violations(&self.validator, request);
                assert!(by_crate.is_empty(), "{what}: prost-protovalidate failed a valid request: {by_crate:#?}");
            }
            self.valid = passing.len();
            let cases = invalid_requests(valid);
            for (what, request) in &cases {
                let mut native = native_violations(request);
                let mut by_crate = crate_violations(&self.validator, request);
                let ids = |found: &[Found]| found.iter().map(|f| f.rule_id.clone()).collect::<Vec<_>>();
                if ids(&native) != ids(&by_crate) {
                    self.reordered += 1;
                }
                native.sort();
                by_crate.sort();
                assert!(!native.is_empty(), "{what}: the native check passed an invalid request");
                assert_eq!(
                    ids(&native),
                    ids(&by_crate),
                    "{what}: different rule ids (native, prost-protovalidate)\n{native:#?}\n{by_crate:#?}"
                );
                self.violations += native.len();
                if native != by_crate {
                    self.differing += 1;
                    eprintln!("validate-cost: {what}: the same rule ids, told differently:");
                    for (a, b) in native.iter().zip(&by_crate) {
                        for (part, x, y) in [
                            ("field", &a.field, &b.field),
                            ("rule", &a.rule, &b.rule),
                            ("message", &a.message, &b.message),
                        ] {
                            if x != y {
                                eprintln!(
                                    "  {} at {}: {part}: native {x:?}, prost-protovalidate {y:?}",
                                    a.rule_id, a.field
                                );
                            }
                        }
                    }
                }
            }
            self.cases = cases.len();
        }

        /// One round of the crate's rows, after the native ones.
        pub fn round(&self, n: u32, json: &[u8], request: &v1::CreateBookRequest, results: &mut [Vec<f64>; 4]) {
            // `validate` copies a `DynamicMessage` it is given (its `transcode_to_dynamic`).
            results[0].push(time(n, || {
                black_box(self.validator.validate(black_box(&self.dynamic)).is_ok());
            }));
            // The request moves into the wrapper and back: the loop pays the check, not a copy.
            let mut owned = Some(request.clone());
            results[1].push(time(n, || {
                let (ok, back) = checked(&self.validator, black_box(owned.take().expect("the request")));
                owned = Some(back);
                black_box(ok);
            }));
            results[2].push(time(n, || {
                let request = read(black_box(json));
                black_box(checked(&self.validator, request).0);
            }));
            results[3].push(time(n, || drop(black_box(black_box(&self.dynamic).clone()))));
        }

        /// The crate's rows of the table, and the lines under it.
        pub fn print(&self, medians: [f64; 4], plain: f64, with_rules: f64, rules_alone: f64, native_first: f64) {
            let [dynamic, converted, decoded, copy] = medians;
            let version = "prost-protovalidate 0.6.0";
            println!(
                "| {version}: the request as a `DynamicMessage`, checked | {dynamic:.0} | {:.2}× the rules check alone |",
                dynamic / rules_alone
            );
            println!(
                "| {version}: the generated request converted to a `DynamicMessage` and checked | {converted:.0} | {:.2}× the rules check alone |",
                converted / rules_alone
            );
            println!(
                "| decoded, converted and checked by {version} | {decoded:.0} | {:.2}× ({:.2}× decoded and its rules checked) |",
                decoded / plain,
                decoded / with_rules
            );
            println!();
            println!(
                "Once, before the first request (µs, the first in the process): the rules check's first request \
                 {native_first:.0}; {version}: the generated descriptor set decoded {:.0}, `Validator::new()` {:.0}, \
                 its first CreateBook request (the type's rules compiled) {:.0}; each further `Validator` {:.0} + \
                 {:.0} for its first request (median of {}).",
                self.pool, self.new, self.first, self.new_again, self.first_again, self.fresh
            );
            println!();
            println!(
                "Of the crate's `DynamicMessage` row, {copy:.0} ns is the copy of the message `validate` makes \
                 before checking it (prost-reflect's `transcode_to_dynamic` of a `DynamicMessage`)."
            );
            println!();
            println!(
                "Agreement: both validators pass the seeded request and {} valid variants at the limits; on {} \
                 invalid requests ({} violations) they give the same rule ids; {} of those requests have the \
                 violations in another order, {} are told differently (field or rule path, message; on stderr).",
                self.valid, self.cases, self.violations, self.reordered, self.differing
            );
        }
    }
}
