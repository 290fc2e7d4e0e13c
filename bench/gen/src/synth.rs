//! Synthetic `.proto` schemas for the benchmarks, in three sizes.
//!
//! The output is a pure function of the size: the only variation comes from
//! a fixed-seed SplitMix64 generator written here, so the same size always
//! gives byte-identical files.
//!
//! Layout: one shared file `synth/common/v1/common.proto` and one file per
//! package `synth/pN/v1/pN.proto`, each with one service. Every resource
//! brings 10 methods (all four streaming kinds, `google.api.http` bindings
//! with every verb) and 16 messages; "part" messages pad the message count.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

/// The three schema sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// 1 package, 1 resource: 10 methods, 30 messages.
    Small,
    /// 4 packages of 5 resources: 200 methods, 404 messages.
    Medium,
    /// 10 packages of 5 resources: 500 methods, 2,004 messages.
    Large,
}

impl Size {
    /// Every size, smallest first.
    pub const ALL: [Size; 3] = [Size::Small, Size::Medium, Size::Large];

    /// The size's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Medium => "medium",
            Size::Large => "large",
        }
    }

    /// Parses `small`, `medium` or `large`.
    pub fn parse(s: &str) -> Option<Size> {
        Size::ALL.into_iter().find(|size| size.name() == s)
    }

    fn params(self) -> Params {
        match self {
            Size::Small => Params { packages: 1, resources: 1, parts: 10 },
            Size::Medium => Params { packages: 4, resources: 5, parts: 4 },
            Size::Large => Params { packages: 10, resources: 5, parts: 24 },
        }
    }
}

struct Params {
    packages: usize,
    /// Resources per package.
    resources: usize,
    /// Padding messages per resource.
    parts: usize,
}

/// A generated schema: files by import name, plus counts.
#[derive(Debug, Clone)]
pub struct Schema {
    /// `(import name, text)`; the first is the shared file.
    pub files: Vec<(String, String)>,
    /// The files to name on the command line (every package file).
    pub roots: Vec<String>,
    /// Message definitions, nested ones included, map entries not.
    pub messages: usize,
    /// Enum definitions.
    pub enums: usize,
    /// RPC methods.
    pub methods: usize,
}

impl Schema {
    /// Writes the files under `dir` and returns the root files' paths.
    pub fn write(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        for (name, text) in &self.files {
            let path = dir.join(name);
            std::fs::create_dir_all(path.parent().expect("file in a directory"))?;
            std::fs::write(&path, text)?;
        }
        Ok(self.roots.iter().map(|r| dir.join(r)).collect())
    }

    /// Total bytes of `.proto` text.
    pub fn bytes(&self) -> usize {
        self.files.iter().map(|(_, t)| t.len()).sum()
    }
}

/// SplitMix64: a tiny, fixed PRNG so the schemas never depend on a crate's
/// algorithm.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SCALARS: [&str; 15] = [
    "double", "float", "int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64", "sfixed32",
    "sfixed64", "bool", "string", "bytes",
];

const WRAPPERS: [&str; 9] = [
    "DoubleValue",
    "FloatValue",
    "Int64Value",
    "UInt64Value",
    "Int32Value",
    "UInt32Value",
    "BoolValue",
    "StringValue",
    "BytesValue",
];

const NOUNS: [&str; 10] =
    ["Widget", "Gadget", "Order", "Invoice", "Ticket", "Device", "Account", "Report", "Volume", "Policy"];

const COMMON: &str = r#"// Shared types, imported by every package of the synthetic schema.
syntax = "proto3";

package synth.common.v1;

// A color, used as an enum field, a repeated enum and a map value.
enum Color {
  COLOR_UNSPECIFIED = 0;
  COLOR_RED = 1;
  COLOR_GREEN = 2;
  COLOR_BLUE = 3;
}

// An amount of money in a currency.
message Money {
  // ISO 4217 code, for example `EUR`.
  string currency_code = 1;
  // Whole units.
  int64 units = 2;
  // Nano units, in [-999999999, 999999999].
  int32 nanos = 3;
}

// A postal address.
message Address {
  // A point on the globe.
  message Geo {
    double lat = 1;
    double lng = 2;
  }
  repeated string lines = 1;
  string region_code = 2;
  optional string postal_code = 3;
  Geo geo = 4;
}

// Where a listing stands.
message PageInfo {
  string next_page_token = 1;
  int32 total_size = 2;
  bool has_more = 3;
}
"#;

/// Builds the schema of `size`.
pub fn generate(size: Size) -> Schema {
    let params = size.params();
    let mut rng = Rng(0x5EED_0000_0000_0000 ^ size as u64);
    let mut files = vec![("synth/common/v1/common.proto".to_owned(), COMMON.to_owned())];
    let mut roots = Vec::new();
    let mut counts = Counts { messages: 4, enums: 1, methods: 0 };
    for p in 0..params.packages {
        let name = format!("synth/p{p}/v1/p{p}.proto");
        let text = package(p, &params, &mut rng, &mut counts);
        roots.push(name.clone());
        files.push((name, text));
    }
    Schema { files, roots, messages: counts.messages, enums: counts.enums, methods: counts.methods }
}

struct Counts {
    messages: usize,
    enums: usize,
    methods: usize,
}

fn package(p: usize, params: &Params, rng: &mut Rng, counts: &mut Counts) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        r#"// Package {p} of the synthetic benchmark schema (generated by apigen-synth; do not edit).
syntax = "proto3";

package synth.p{p}.v1;

import "google/api/annotations.proto";
import "google/api/field_behavior.proto";
import "google/protobuf/duration.proto";
import "google/protobuf/empty.proto";
import "google/protobuf/field_mask.proto";
import "google/protobuf/struct.proto";
import "google/protobuf/timestamp.proto";
import "google/protobuf/wrappers.proto";
import "synth/common/v1/common.proto";

"#
    );
    let resources: Vec<String> = (0..params.resources)
        .map(|r| {
            let global = p * params.resources + r;
            format!("{}{global}", NOUNS[global % NOUNS.len()])
        })
        .collect();
    // The service first, then each resource's messages.
    let _ =
        writeln!(out, "// Service {p}: CRUD, custom verbs and every streaming kind for {} resources.", resources.len());
    let _ = writeln!(out, "service Synth{p}Service {{");
    for (r, res) in resources.iter().enumerate() {
        methods(&mut out, res, r, rng);
        counts.methods += 10;
    }
    out.push_str("}\n");
    for res in &resources {
        messages(&mut out, res, params.parts, rng, counts);
    }
    out
}

fn snake(res: &str) -> String {
    res.to_lowercase()
}

fn methods(out: &mut String, res: &str, index: usize, rng: &mut Rng) {
    let s = snake(res);
    let extra = rng.below(3) == 0 || index == 0;
    let get_extra = if extra {
        format!("\n      additional_bindings {{get: \"/v1/{s}s/{{name=projects/*/{s}s/*}}\"}}")
    } else {
        String::new()
    };
    let run_extra = if rng.below(2) == 0 || index == 0 {
        format!("\n      additional_bindings {{post: \"/v1/{s}s/{{name=projects/*/{s}s/*}}:run\" body: \"params\"}}")
    } else {
        String::new()
    };
    let _ = write!(
        out,
        r#"  // Returns one {res}.
  rpc Get{res}(Get{res}Request) returns ({res}) {{
    option idempotency_level = NO_SIDE_EFFECTS;
    option (google.api.http) = {{
      get: "/v1/{{name=projects/*/{s}s/*}}"{get_extra}
    }};
  }}

  // Lists {res}s, a page at a time.
  rpc List{res}s(List{res}sRequest) returns (List{res}sResponse) {{
    option idempotency_level = NO_SIDE_EFFECTS;
    option (google.api.http) = {{get: "/v1/{{parent=projects/*}}/{s}s"}};
  }}

  // Creates a {res}.
  rpc Create{res}(Create{res}Request) returns ({res}) {{
    option (google.api.http) = {{
      post: "/v1/{{parent=projects/*}}/{s}s"
      body: "{s}"
    }};
  }}

  // Updates the masked fields of a {res}.
  rpc Update{res}(Update{res}Request) returns ({res}) {{
    option (google.api.http) = {{
      patch: "/v1/{{{s}.name=projects/*/{s}s/*}}"
      body: "{s}"
    }};
  }}

  // Replaces a {res} whole.
  rpc Replace{res}(Replace{res}Request) returns ({res}) {{
    option idempotency_level = IDEMPOTENT;
    option (google.api.http) = {{
      put: "/v1/{{name=projects/*/{s}s/*}}"
      body: "*"
    }};
  }}

  // Deletes a {res}.
  rpc Delete{res}(Delete{res}Request) returns (google.protobuf.Empty) {{
    option (google.api.http) = {{delete: "/v1/{{name=projects/*/{s}s/*}}"}};
  }}

  // Runs an action on a {res} (a custom verb).
  rpc Run{res}Action(Run{res}ActionRequest) returns (Run{res}ActionResponse) {{
    option (google.api.http) = {{
      post: "/v1/{{name=projects/*/{s}s/*}}:run"
      body: "*"{run_extra}
    }};
  }}

  // Streams changes to {res}s (server streaming; SSE on its binding).
  rpc Watch{res}s(Watch{res}sRequest) returns (stream {res}Event) {{
    option (google.api.http) = {{get: "/v1/{{parent=projects/*}}/{s}s:watch"}};
  }}

  // Uploads content in chunks (client streaming).
  rpc Upload{res}(stream Upload{res}Chunk) returns (Upload{res}Result);

  // Synchronizes both ways (bidirectional streaming).
  rpc Sync{res}s(stream Sync{res}Message) returns (stream Sync{res}Message);

"#
    );
}

fn messages(out: &mut String, res: &str, parts: usize, rng: &mut Rng, counts: &mut Counts) {
    let s = snake(res);
    let kind_u = "KIND";
    // The resource: every field kind.
    let _ = write!(
        out,
        r#"
// A {res}: holds every kind of field.
message {res} {{
  // A nested message.
  message Detail {{
    string note = 1;
    int32 level = 2;
    Kind kind = 3;
  }}

  // A nested enum.
  enum Kind {{
    {kind_u}_UNSPECIFIED = 0;
    {kind_u}_SMALL = 1;
    {kind_u}_LARGE = 2;
  }}

  // The resource name, `projects/*/{s}s/*`.
  string name = 1;
  string display_name = 2 [(google.api.field_behavior) = REQUIRED];
  double f_double = 3;
  float f_float = 4;
  int32 f_int32 = 5;
  int64 f_int64 = 6;
  uint32 f_uint32 = 7;
  uint64 f_uint64 = 8;
  sint32 f_sint32 = 9;
  sint64 f_sint64 = 10;
  fixed32 f_fixed32 = 11;
  fixed64 f_fixed64 = 12;
  sfixed32 f_sfixed32 = 13;
  sfixed64 f_sfixed64 = 14;
  bool f_bool = 15;
  bytes f_bytes = 16;
  Kind kind = 17;
  synth.common.v1.Color color = 18;
  Detail detail = 19;
  repeated string tags = 20;
  repeated Detail details = 21;
  repeated Kind kinds = 22;
  repeated sint64 samples = 23;
  map<string, string> labels = 24;
  map<int32, Detail> detail_by_id = 25;
  map<string, synth.common.v1.Color> colors = 26;
  map<uint64, bytes> blobs = 27;
  map<bool, double> flags = 28;
  oneof choice {{
    string choice_text = 29;
    int64 choice_number = 30;
    Detail choice_detail = 31;
    Kind choice_kind = 32;
  }}
  optional string nickname = 33;
  optional int32 priority = 34;
  optional Kind preferred_kind = 35;
  google.protobuf.Timestamp create_time = 36 [(google.api.field_behavior) = OUTPUT_ONLY];
  google.protobuf.Timestamp update_time = 37 [(google.api.field_behavior) = OUTPUT_ONLY];
  google.protobuf.Duration ttl = 38;
  google.protobuf.Struct attributes = 39;
  google.protobuf.Value extra = 40;
  google.protobuf.ListValue extra_list = 41;
"#
    );
    let mut number = 42;
    for w in WRAPPERS {
        let _ = writeln!(out, "  google.protobuf.{w} w_{} = {number};", to_snake(w));
        number += 1;
    }
    let _ = writeln!(out, "  synth.common.v1.Money price = {number};");
    number += 1;
    let _ = writeln!(out, "  repeated synth.common.v1.Address addresses = {number};");
    number += 1;
    for i in (0..parts).step_by(4) {
        let _ = writeln!(out, "  repeated {res}Part{i} part_{i} = {number};");
        number += 1;
    }
    out.push_str("}\n");
    counts.messages += 2;
    counts.enums += 1;

    let _ = write!(
        out,
        r#"
message Get{res}Request {{
  // The {res} to return.
  string name = 1 [(google.api.field_behavior) = REQUIRED];
  optional bool include_parts = 2;
}}

message List{res}sRequest {{
  string parent = 1 [(google.api.field_behavior) = REQUIRED];
  int32 page_size = 2;
  string page_token = 3;
  string filter = 4;
  repeated {res}.Kind kinds = 5;
  google.protobuf.Timestamp since = 6;
  google.protobuf.Int32Value min_priority = 7;
}}

message List{res}sResponse {{
  repeated {res} {s}s = 1;
  synth.common.v1.PageInfo page = 2;
}}

message Create{res}Request {{
  string parent = 1 [(google.api.field_behavior) = REQUIRED];
  {res} {s} = 2 [(google.api.field_behavior) = REQUIRED];
  string request_id = 3;
}}

message Update{res}Request {{
  {res} {s} = 1 [(google.api.field_behavior) = REQUIRED];
  google.protobuf.FieldMask update_mask = 2;
  bool allow_missing = 3;
}}

message Replace{res}Request {{
  string name = 1 [(google.api.field_behavior) = REQUIRED];
  {res} {s} = 2 [(google.api.field_behavior) = REQUIRED];
}}

message Delete{res}Request {{
  string name = 1 [(google.api.field_behavior) = REQUIRED];
  string etag = 2;
  bool force = 3;
}}

message Run{res}ActionRequest {{
  string name = 1 [(google.api.field_behavior) = REQUIRED];
  oneof action {{
    string rename_to = 2;
    google.protobuf.Duration extend_by = 3;
    {res}.Detail annotate = 4;
  }}
  google.protobuf.Struct params = 5;
}}

message Run{res}ActionResponse {{
  google.protobuf.Value result = 1;
  google.protobuf.Duration took = 2;
  repeated string warnings = 3;
}}

message Watch{res}sRequest {{
  string parent = 1 [(google.api.field_behavior) = REQUIRED];
  google.protobuf.Timestamp since = 2;
}}

message {res}Event {{
  enum Type {{
    TYPE_UNSPECIFIED = 0;
    TYPE_CREATED = 1;
    TYPE_UPDATED = 2;
    TYPE_DELETED = 3;
  }}
  Type type = 1;
  {res} {s} = 2;
  google.protobuf.Timestamp time = 3;
}}

message Upload{res}Chunk {{
  string name = 1 [(google.api.field_behavior) = REQUIRED];
  bytes data = 2;
  uint64 offset = 3;
}}

message Upload{res}Result {{
  uint64 total_bytes = 1;
  google.protobuf.Duration took = 2;
  google.protobuf.UInt64Value checksum = 3;
}}

message Sync{res}Message {{
  uint64 seq = 1;
  oneof kind {{
    {res} upsert = 2;
    string delete_name = 3;
    google.protobuf.Empty ping = 4;
  }}
}}
"#
    );
    counts.messages += 14;
    counts.enums += 1;

    for i in 0..parts {
        let _ = writeln!(out, "\n// Part {i} of a {res}: padding with a mix of field kinds.");
        let _ = writeln!(out, "message {res}Part{i} {{");
        let fields = 4 + rng.below(6);
        for f in 1..=fields {
            let _ = writeln!(out, "  {} f{f} = {f};", part_field(rng, res));
        }
        if i % 4 != 3 && i + 1 < parts {
            let _ = writeln!(out, "  {res}Part{} next = {};", i + 1, fields + 1);
        }
        out.push_str("}\n");
        counts.messages += 1;
    }
}

fn part_field(rng: &mut Rng, res: &str) -> String {
    match rng.below(10) {
        0..=3 => SCALARS[rng.below(SCALARS.len())].to_owned(),
        4 => format!("repeated {}", SCALARS[rng.below(SCALARS.len())]),
        5 => format!("optional {}", SCALARS[rng.below(SCALARS.len())]),
        6 => ["synth.common.v1.Color", &format!("{res}.Kind")][rng.below(2)].to_owned(),
        7 => format!("map<string, {}>", ["int64", "string", "synth.common.v1.Money"][rng.below(3)]),
        8 => format!("google.protobuf.{}", WRAPPERS[rng.below(WRAPPERS.len())]),
        _ => [
            "google.protobuf.Timestamp",
            "google.protobuf.Duration",
            "synth.common.v1.Money",
            "synth.common.v1.Address",
        ][rng.below(4)]
        .to_owned(),
    }
}

fn to_snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            // "UInt64Value" → "uint64_value": no break inside an acronym.
            let prev_upper = i > 0 && camel.as_bytes()[i - 1].is_ascii_uppercase();
            if i > 0 && !prev_upper {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_sized() {
        for size in Size::ALL {
            let a = generate(size);
            let b = generate(size);
            assert_eq!(a.files, b.files);
        }
        let small = generate(Size::Small);
        assert_eq!((small.methods, small.messages), (10, 30));
        let large = generate(Size::Large);
        assert_eq!((large.methods, large.messages), (500, 2004));
    }

    #[test]
    fn snake_names() {
        assert_eq!(to_snake("UInt64Value"), "uint64_value");
        assert_eq!(to_snake("DoubleValue"), "double_value");
    }
}
