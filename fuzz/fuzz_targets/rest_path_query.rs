//! REST: an arbitrary path and query string (`path?query`) matched against
//! templates with `*`, `**`, nested variables and a custom verb, and turned
//! into request objects typed by the bookstore example's descriptors.
#![no_main]

use std::sync::LazyLock;

use apigen_runtime::__private::{HttpRule, Segment};
use libfuzzer_sys::fuzz_target;
use prost_reflect::{DescriptorPool, MessageDescriptor};

const fn rule(
    method: &'static str,
    template: &'static str,
    segments: &'static [Segment],
    verb: Option<&'static str>,
    body: &'static str,
) -> HttpRule {
    HttpRule { method, template, segments, verb, body, response_body: "", status: 200 }
}

const SHELF: &[Segment] = &[Segment::Literal("shelves"), Segment::Any];
const BOOK: &[Segment] = &[Segment::Literal("shelves"), Segment::Any, Segment::Literal("books"), Segment::Any];

static GET_BOOK: HttpRule = rule(
    "GET",
    "/v1/{name=shelves/*/books/*}",
    &[Segment::Literal("v1"), Segment::Var { field: "name", pattern: BOOK, default: "" }],
    None,
    "",
);
static LIST_BOOKS: HttpRule = rule(
    "GET",
    "/v1/{parent=shelves/*}/books",
    &[Segment::Literal("v1"), Segment::Var { field: "parent", pattern: SHELF, default: "" }, Segment::Literal("books")],
    None,
    "",
);
static UPDATE_BOOK: HttpRule = rule(
    "PATCH",
    "/v1/{book.name=shelves/*/books/*}",
    &[Segment::Literal("v1"), Segment::Var { field: "book.name", pattern: BOOK, default: "" }],
    None,
    "book",
);
static MOVE_BOOK: HttpRule = rule(
    "POST",
    "/v1/{name=shelves/*/books/*}:move",
    &[Segment::Literal("v1"), Segment::Var { field: "name", pattern: BOOK, default: "" }],
    Some("move"),
    "*",
);
static SEARCH: HttpRule =
    rule("GET", "/v1/books:search", &[Segment::Literal("v1"), Segment::Literal("books")], Some("search"), "");
static DEEP: HttpRule = rule(
    "GET",
    "/v1/{name=operations/**}",
    &[
        Segment::Literal("v1"),
        Segment::Var { field: "name", pattern: &[Segment::Literal("operations"), Segment::Rest], default: "" },
    ],
    None,
    "",
);
static REST: HttpRule = rule("GET", "/files/**", &[Segment::Literal("files"), Segment::Rest], None, "");
static TYPED: HttpRule = rule(
    "DELETE",
    "/v1/{name}/{force}",
    &[
        Segment::Literal("v1"),
        Segment::Var { field: "name", pattern: &[Segment::Any], default: "" },
        Segment::Var { field: "force", pattern: &[Segment::Any], default: "false" },
    ],
    None,
    "",
);
static PAGED: HttpRule = rule(
    "GET",
    "/v1/pages/{page_size}",
    &[
        Segment::Literal("v1"),
        Segment::Literal("pages"),
        Segment::Var { field: "page_size", pattern: &[Segment::Any], default: "0" },
    ],
    None,
    "",
);

static RULES: LazyLock<Vec<(&'static HttpRule, Option<MessageDescriptor>)>> = LazyLock::new(|| {
    let pool = DescriptorPool::decode(&include_bytes!("../bookstore.binpb")[..]).expect("bookstore.binpb decodes");
    let message =
        |name: &str| Some(pool.get_message_by_name(&format!("bookstore.v1.{name}")).expect("a bookstore message"));
    vec![
        (&GET_BOOK, message("GetBookRequest")),
        (&LIST_BOOKS, message("ListBooksRequest")),
        (&UPDATE_BOOK, message("UpdateBookRequest")),
        (&MOVE_BOOK, message("MoveBookRequest")),
        (&SEARCH, message("SearchBooksRequest")),
        (&DEEP, message("GetShelfRequest")),
        (&REST, None),
        (&TYPED, message("DeleteShelfRequest")),
        (&PAGED, message("ListShelvesRequest")),
    ]
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (path, query) = text.split_once('?').unwrap_or((text, ""));
    for (template, result) in apigen_runtime::fuzzing::rest(&RULES, path, query) {
        if let Ok(value) = result {
            assert!(value.is_object(), "{template}: the request is not an object: {value}");
        }
    }
});
