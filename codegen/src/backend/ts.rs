//! TypeScript: `ts/index.ts`, an interface for every message in its proto3
//! JSON shape, a string-literal union for every enum, and `AppRouter`, the
//! type `@trpc/client` takes, with every procedure typed by its request and
//! response. The router type is built from `@trpc/server`'s exported types
//! only, so the file has no run-time code and needs no tRPC server.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use heck::{ToLowerCamelCase, ToUpperCamelCase};

use crate::model::{Api, Cardinality, Field, FieldType, Protocol, Service, Span, TrpcProcedure};

/// Names TypeScript reserves, and the globals this file itself refers to:
/// a message with one of these names gets a `_` suffix.
const RESERVED: &[&str] = &[
    "any",
    "AppRouter",
    "as",
    "AsyncIterable",
    "bigint",
    "boolean",
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "declare",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "from",
    "function",
    "if",
    "implements",
    "import",
    "in",
    "instanceof",
    "interface",
    "JsonValue",
    "let",
    "never",
    "new",
    "null",
    "number",
    "object",
    "package",
    "private",
    "protected",
    "public",
    "Record",
    "return",
    "static",
    "string",
    "super",
    "switch",
    "symbol",
    "this",
    "throw",
    "true",
    "try",
    "type",
    "typeof",
    "undefined",
    "unknown",
    "var",
    "void",
    "while",
    "with",
    "yield",
];

/// A message or enum with the name it has inside its package, before
/// anything is done about the same name in another package.
pub(crate) struct LocalType<'a> {
    pub full_name: &'a str,
    pub package: &'a str,
    pub span: &'a Span,
    /// `bookstore.v1.Book.Author` is `Book_Author`, as protobuf-es names it.
    pub base: String,
}

/// Every message (map entries aside) and enum of the API with its base name.
/// TypeScript prefixes the bases two packages share, and lint's
/// `name-collision` reports them; both start from this list.
pub(crate) fn local_types(api: &Api) -> Vec<LocalType<'_>> {
    let mut out = Vec::new();
    for package in &api.packages {
        let prefix = if package.name.is_empty() { String::new() } else { format!("{}.", package.name) };
        let messages = package.messages.iter().filter(|m| !m.is_map_entry).map(|m| (&m.full_name, &m.span));
        for (full, span) in messages.chain(package.enums.iter().map(|e| (&e.full_name, &e.span))) {
            let base = full.strip_prefix(&prefix).unwrap_or(full).replace('.', "_");
            out.push(LocalType { full_name: full, package: &package.name, span, base });
        }
    }
    out
}

/// The TypeScript names of the API's messages and enums, by full name.
pub(crate) fn names(api: &Api) -> BTreeMap<String, String> {
    let local = local_types(api);
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &local {
        *count.entry(t.base.as_str()).or_default() += 1;
    }
    let mut out = BTreeMap::new();
    for LocalType { full_name, package, base, .. } in &local {
        // The same name in two packages: both get their package as a prefix.
        let name =
            if count[base.as_str()] > 1 { format!("{}_{base}", package.to_upper_camel_case()) } else { base.clone() };
        let name = if RESERVED.contains(&name.as_str()) { format!("{name}_") } else { name };
        out.insert((*full_name).to_owned(), name);
    }
    out
}

/// The JSON type of a well-known type.
fn well_known(full_name: &str) -> Option<&'static str> {
    Some(match full_name.strip_prefix("google.protobuf.")? {
        "Timestamp" | "Duration" | "FieldMask" => "string",
        "Struct" => "{ [key: string]: JsonValue }",
        "Value" => "JsonValue",
        "ListValue" => "JsonValue[]",
        "NullValue" => "null",
        "Empty" => "Record<string, never>",
        "Any" => "{ \"@type\": string; [key: string]: unknown }",
        "DoubleValue" | "FloatValue" => "number | \"NaN\" | \"Infinity\" | \"-Infinity\" | null",
        "Int32Value" | "UInt32Value" => "number | null",
        "Int64Value" | "UInt64Value" | "StringValue" | "BytesValue" => "string | null",
        "BoolValue" => "boolean | null",
        _ => return None,
    })
}

struct Writer<'a> {
    names: BTreeMap<String, String>,
    api: &'a Api,
}

impl Writer<'_> {
    fn named(&self, ty: &FieldType) -> String {
        match ty {
            // JSON numbers have no NaN or infinities: the mapping writes them as strings.
            FieldType::Double | FieldType::Float => "number | \"NaN\" | \"Infinity\" | \"-Infinity\"".to_owned(),
            FieldType::Int32 | FieldType::Uint32 | FieldType::Sint32 | FieldType::Fixed32 | FieldType::Sfixed32 => {
                "number".to_owned()
            }
            // int64 and friends are strings in the JSON mapping: a double cannot hold them.
            FieldType::Int64 | FieldType::Uint64 | FieldType::Sint64 | FieldType::Fixed64 | FieldType::Sfixed64 => {
                "string".to_owned()
            }
            FieldType::Bool => "boolean".to_owned(),
            // bytes are base64.
            FieldType::String | FieldType::Bytes => "string".to_owned(),
            FieldType::Message(r) | FieldType::Enum(r) => match well_known(&r.full_name) {
                Some(wkt) => wkt.to_owned(),
                None => self.names.get(&r.full_name).cloned().unwrap_or_else(|| "unknown".to_owned()),
            },
        }
    }

    fn field_type(&self, field: &Field) -> String {
        match &field.cardinality {
            Cardinality::Repeated => {
                let item = self.named(&field.ty);
                if item.contains(' ') { format!("({item})[]") } else { format!("{item}[]") }
            }
            // JSON object keys are strings, whatever the key type.
            Cardinality::Map(_, value) => format!("{{ [key: string]: {} }}", self.named(value)),
            _ => self.named(&field.ty),
        }
    }

    fn messages(&self, out: &mut String) {
        for package in &self.api.packages {
            for e in &package.enums {
                doc(out, &e.docs, "", e.deprecated);
                let values: Vec<String> = e.values.iter().map(|v| format!("{:?}", v.name)).collect();
                let values = if values.is_empty() { "never".to_owned() } else { values.join(" | ") };
                let _ = writeln!(out, "export type {} = {values};\n", self.names[&e.full_name]);
            }
            for m in package.messages.iter().filter(|m| !m.is_map_entry) {
                let mut docs = m.docs.clone();
                if let Some(rules) = super::rules_doc::message_sentence(m) {
                    if !docs.is_empty() {
                        docs.push(String::new());
                    }
                    docs.push(rules);
                }
                doc(out, &docs, "", m.deprecated);
                let name = &self.names[&m.full_name];
                if m.fields.is_empty() {
                    let _ = writeln!(out, "export type {name} = Record<string, never>;\n");
                    continue;
                }
                let _ = writeln!(out, "export interface {name} {{");
                for field in &m.fields {
                    let mut docs = field.docs.clone();
                    if let Some(i) = field.oneof {
                        let members: Vec<&str> =
                            m.fields.iter().filter(|f| f.oneof == Some(i)).map(|f| f.json_name.as_str()).collect();
                        docs.push(format!("Oneof `{}`: set at most one of {}.", m.oneofs[i].name, members.join(", ")));
                    }
                    docs.extend(field.rules.as_ref().and_then(super::rules_doc::sentence));
                    doc(out, &docs, "  ", field.deprecated);
                    // Every field is optional: the JSON mapping leaves out default values.
                    let _ = writeln!(out, "  {}?: {};", property(&field.json_name), self.field_type(field));
                }
                out.push_str("}\n\n");
            }
        }
    }

    fn router(&self, out: &mut String, services: &[&Service]) {
        let messages = self.api.messages_by_name();
        out.push_str(
            "/**\n * The tRPC router of the API, for `createTRPCClient<AppRouter>()`: served at\n * `/trpc/{service}.{method}`. Methods with `NO_SIDE_EFFECTS` are queries, server-streaming\n * methods subscriptions (over SSE), other unary methods mutations. A stream whose messages\n * have a cursor field is resumable: its events arrive as `{ id, data }`, and\n * httpSubscriptionLink resumes after the last id it saw when it reconnects.\n */\n",
        );
        out.push_str("export type AppRouter = TRPCBuiltRouter<\n  { ctx: object; meta: object; errorShape: TRPCDefaultErrorShape; transformer: false },\n  {\n");
        for s in services {
            let _ = writeln!(out, "    {}: {{", property(&s.trpc_key()));
            for m in s.methods.iter().filter(|m| s.serves(m, Protocol::Trpc)) {
                let mut input = self.named(&FieldType::Message(m.input.clone()));
                let output = self.named(&FieldType::Message(m.output.clone()));
                let (procedure, output) = match m.trpc_procedure() {
                    Some(TrpcProcedure::Query) => ("TRPCQueryProcedure", output),
                    Some(TrpcProcedure::Mutation) => ("TRPCMutationProcedure", output),
                    // A resumable stream's events are tracked (`{ id, data }` on the client), and
                    // its input may name the id to resume after, as the link does when it reconnects.
                    Some(TrpcProcedure::Subscription) if m.cursor_field(&messages).is_some() => {
                        input = format!("{input} & {{ lastEventId?: string | null }}");
                        (
                            "TRPCSubscriptionProcedure",
                            format!("AsyncIterable<{{ id: string; data: {output} }}, void, any>"),
                        )
                    }
                    Some(TrpcProcedure::Subscription) => {
                        ("TRPCSubscriptionProcedure", format!("AsyncIterable<{output}, void, any>"))
                    }
                    // tRPC has no request streams.
                    None => continue,
                };
                doc(out, &m.docs, "      ", m.deprecated);
                let _ = writeln!(
                    out,
                    "      {}: {procedure}<{{ input: {input}; output: {output}; meta: object }}>;",
                    property(&m.name.to_lower_camel_case())
                );
            }
            out.push_str("    };\n");
        }
        out.push_str("  }\n>;\n");
    }
}

impl Writer<'_> {
    /// `Methods`: every method by its RPC name, for the WebSocket client.
    fn methods(&self, out: &mut String) {
        out.push_str(
            "\n/**\n * Every method by its RPC name, with its request and response types: the type parameter of\n * `ApigenSocket` in `./ws.ts` (the `apigen.v1` WebSocket client).\n */\nexport type Methods = {\n",
        );
        for s in self.api.packages.iter().flat_map(|p| &p.services) {
            if s.excluded.contains(&Protocol::WebSocket) {
                continue;
            }
            for m in s.methods.iter().filter(|m| s.serves(m, Protocol::WebSocket)) {
                let input = self.named(&FieldType::Message(m.input.clone()));
                let output = self.named(&FieldType::Message(m.output.clone()));
                let _ = writeln!(out, "  \"{}/{}\": {{ input: {input}; output: {output} }};", s.full_name, m.name);
            }
        }
        out.push_str("};\n");
    }
}

/// A property name, quoted when it is not an identifier.
fn property(name: &str) -> String {
    let ident = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if ident { name.to_owned() } else { format!("{name:?}") }
}

/// A JSDoc comment.
fn doc(out: &mut String, lines: &[String], indent: &str, deprecated: bool) {
    let mut lines: Vec<String> = lines.iter().map(|l| l.replace("*/", "*\\/")).collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    if deprecated {
        lines.push("@deprecated".to_owned());
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(out, "{indent}/**");
    for line in lines {
        let _ = writeln!(out, "{indent} *{}", if line.is_empty() { String::new() } else { format!(" {line}") });
    }
    let _ = writeln!(out, "{indent} */");
}

/// `ts/index.ts` for the API.
pub fn generate(api: &Api, sources: &[String]) -> String {
    let writer = Writer { names: names(api), api };
    let services: Vec<&Service> =
        api.packages.iter().flat_map(|p| &p.services).filter(|s| !s.excluded.contains(&Protocol::Trpc)).collect();
    let mut out = format!(
        "// @generated by apigen {} from {}. Do not edit: change the .proto and regenerate.\n\n",
        env!("CARGO_PKG_VERSION"),
        sources.join(", ")
    );
    out.push_str(
        "import type {\n  TRPCBuiltRouter,\n  TRPCDefaultErrorShape,\n  TRPCMutationProcedure,\n  TRPCQueryProcedure,\n  TRPCSubscriptionProcedure,\n} from \"@trpc/server\";\n\n",
    );
    out.push_str("/** Any JSON value: google.protobuf.Value in its JSON mapping. */\nexport type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };\n\n");
    writer.messages(&mut out);
    writer.router(&mut out, &services);
    writer.methods(&mut out);
    out
}

/// `ts/ws.ts`: the browser client of the `apigen.v1` WebSocket protocol,
/// the same for every API (typed by `Methods` from `index.ts`).
pub fn websocket_client(sources: &[String]) -> String {
    format!(
        "// @generated by apigen {} from {}. Do not edit: change the .proto and regenerate.\n{}",
        env!("CARGO_PKG_VERSION"),
        sources.join(", "),
        include_str!("../../../templates/ts/ws.ts")
    )
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// lint's `name-collision` warns about exactly the types TypeScript prefixes.
    #[test]
    fn name_collision_finds_exactly_the_types_typescript_prefixes() {
        let a = "syntax = \"proto3\";\npackage a.v1;\nmessage Book { message Author {} }\n\
                 enum Genre { GENRE_UNSPECIFIED = 0; }\nmessage Shelf { map<string, Book> books = 1; }\n";
        let b = "syntax = \"proto3\";\npackage b.v1;\nmessage Book {}\nmessage Book_Author {}\n\
                 enum Genre { GENRE_UNSPECIFIED = 0; }\n";
        let compiled = crate::frontend::compile_memory(&[("a.proto", a), ("b.proto", b)]).expect("compiles");
        let api = crate::lower::lower(&compiled).expect("lowers");
        let bases: BTreeMap<&str, String> = local_types(&api).into_iter().map(|t| (t.full_name, t.base)).collect();
        let prefixed: BTreeSet<String> = names(&api)
            .into_iter()
            .filter(|(full, name)| bases[full.as_str()] != *name)
            .map(|(full, _)| full)
            .collect();
        let warned: BTreeSet<String> = crate::lint::lint(&api, &[], &|f| f.to_owned(), &|_| true)
            .into_iter()
            .filter(|f| f.rule == "name-collision")
            .filter_map(|f| f.message.split('`').nth(1).map(str::to_owned))
            .collect();
        let expected = ["a.v1.Book", "a.v1.Book.Author", "a.v1.Genre", "b.v1.Book", "b.v1.Book_Author", "b.v1.Genre"];
        assert_eq!(prefixed, expected.map(String::from).into());
        assert_eq!(warned, prefixed);
    }

    /// Floats are typed as the JSON mapping writes them, NaN and infinities included,
    /// in TypeScript and in OpenAPI alike.
    #[test]
    fn floats_may_be_the_mappings_strings() {
        let proto = "syntax = \"proto3\";\npackage f.v1;\nimport \"google/protobuf/wrappers.proto\";\n\
                     message M { double d = 1; float f = 2; google.protobuf.DoubleValue w = 3; int32 i = 4; }\n";
        let compiled = crate::frontend::compile_memory(&[("f.proto", proto)]).expect("compiles");
        let api = crate::lower::lower(&compiled).expect("lowers");
        let ts = generate(&api, &api.roots);
        let union = "number | \"NaN\" | \"Infinity\" | \"-Infinity\"";
        for field in
            [format!("d?: {union};"), format!("f?: {union};"), format!("w?: {union} | null;"), "i?: number;".into()]
        {
            assert!(ts.contains(&field), "{field} in {ts}");
        }
    }
}
