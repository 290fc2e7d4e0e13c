//! Rust names, computed exactly as prost-build computes them so that the code
//! apigen writes refers to the types prost-build writes.

use heck::{ToSnakeCase, ToUpperCamelCase};

/// A raw identifier or suffix for Rust keywords.
pub fn sanitize(ident: &str) -> String {
    match ident {
        "as" | "break" | "const" | "continue" | "else" | "enum" | "false" | "fn" | "for" | "if" | "impl" | "in"
        | "let" | "loop" | "match" | "mod" | "move" | "mut" | "pub" | "ref" | "return" | "static" | "struct"
        | "trait" | "true" | "type" | "unsafe" | "use" | "where" | "while" | "dyn" | "abstract" | "become" | "box"
        | "do" | "final" | "macro" | "override" | "priv" | "typeof" | "unsized" | "virtual" | "yield" | "async"
        | "await" | "try" | "gen" => format!("r#{ident}"),
        "_" | "super" | "self" | "Self" | "extern" | "crate" => format!("{ident}_"),
        s if s.starts_with(|c: char| c.is_numeric()) => format!("_{ident}"),
        _ => ident.to_owned(),
    }
}

/// `lower_snake` for fields, methods and modules.
pub fn to_snake(s: &str) -> String {
    sanitize(&s.to_snake_case())
}

/// `UpperCamel` for types.
pub fn to_upper_camel(s: &str) -> String {
    sanitize(&s.to_upper_camel_case())
}

/// The module path of a package, `bookstore.v1` → `["bookstore", "v1"]`.
pub fn package_module(package: &str) -> Vec<String> {
    package.split('.').filter(|s| !s.is_empty()).map(to_snake).collect()
}

/// The Rust path of the type `full_name` (without leading dot) declared in
/// `type_package`, as written inside the module of `from_package`.
///
/// Well-known types live in the runtime. The path skips the modules both
/// packages share, as prost-build does.
pub fn type_path(full_name: &str, type_package: &str, from_package: &str) -> String {
    if type_package == "google.protobuf" {
        let name = full_name.trim_start_matches("google.protobuf.");
        return format!("::apigen_runtime::wkt::{}", nested_path(name));
    }
    let local = if type_package.is_empty() { full_name } else { &full_name[type_package.len() + 1..] };
    let from: Vec<&str> = from_package.split('.').filter(|s| !s.is_empty()).collect();
    let to: Vec<&str> = type_package.split('.').filter(|s| !s.is_empty()).collect();
    let shared = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = Vec::new();
    parts.extend(std::iter::repeat_n("super".to_owned(), from.len() - shared));
    parts.extend(to[shared..].iter().map(|p| to_snake(p)));
    parts.push(nested_path(local));
    parts.join("::")
}

/// The path from the module of `from_package` to that of `to_package`,
/// ending in `::` unless empty (`super::other::v1::`).
pub fn module_path(to_package: &str, from_package: &str) -> String {
    let from = package_module(from_package);
    let to = package_module(to_package);
    let shared = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut out = "super::".repeat(from.len() - shared);
    for part in &to[shared..] {
        out.push_str(part);
        out.push_str("::");
    }
    out
}

/// `Outer.Inner` → `outer::Inner`.
pub fn nested_path(local: &str) -> String {
    let parts: Vec<&str> = local.split('.').collect();
    let (last, outer) = parts.split_last().unwrap_or((&"", &[]));
    let mut out: Vec<String> = outer.iter().map(|p| to_snake(p)).collect();
    out.push(to_upper_camel(last));
    out.join("::")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_prost() {
        assert_eq!(type_path("a.b.Foo", "a.b", "a.b"), "Foo");
        assert_eq!(type_path("a.b.Foo.Bar", "a.b", "a.b"), "foo::Bar");
        assert_eq!(type_path("a.c.Foo", "a.c", "a.b"), "super::c::Foo");
        assert_eq!(type_path("google.protobuf.Timestamp", "google.protobuf", "x"), "::apigen_runtime::wkt::Timestamp");
        assert_eq!(type_path("Foo", "", "x.y"), "super::super::Foo");
        assert_eq!(to_snake("type"), "r#type");
        assert_eq!(to_snake("self"), "self_");
        assert_eq!(to_upper_camel("camelCaseServiceName"), "CamelCaseServiceName");
    }
}
