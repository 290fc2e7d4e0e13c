//! The runtime's layout rules (ARCHITECTURE.md), checked on its source:
//! imports flow one way (`core` ← `protocol`/`client`/`fanout` ← `server`),
//! no protocol module imports another, no two files import each other in a
//! circle, and no file passes ~800 lines without saying why at its top.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every source file, by its path under `src/` (`core/auth.rs`), and its text.
fn sources() -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("a directory").map(|e| e.expect("an entry")) {
            let path: PathBuf = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let name = path.strip_prefix(root).expect("inside").to_string_lossy().replace('\\', "/");
                out.insert(name, std::fs::read_to_string(&path).expect("UTF-8 source"));
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

/// The module path of a file: `protocol/ws/mod.rs` → `protocol::ws`.
fn module(file: &str) -> String {
    let path = file.trim_end_matches(".rs").trim_end_matches("/mod").trim_end_matches("lib");
    path.trim_end_matches('/').replace('/', "::")
}

/// The code of a file without comments, so that docs naming a module are no
/// imports, and without its unit tests (which sit last), whose `super` is the file.
fn code(text: &str) -> String {
    let tests = text
        .match_indices("#[cfg(test)]")
        .map(|(at, _)| at)
        .find(|at| text[at + "#[cfg(test)]".len()..].trim_start().starts_with("mod "));
    let text = &text[..tests.unwrap_or(text.len())];
    text.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

/// The modules a file names through `crate::…` and `super::…` paths.
fn imports(file: &str, text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let own = module(file);
    let parent = match own.rsplit_once("::") {
        Some((parent, _)) if !file.ends_with("mod.rs") => parent.to_owned(),
        _ if !file.ends_with("mod.rs") => String::new(),
        _ => own.rsplit_once("::").map(|(p, _)| p.to_owned()).unwrap_or_default(),
    };
    let mut found = BTreeSet::new();
    let code = code(text);
    for (prefix, base) in [("crate::", String::new()), ("super::", parent)] {
        for (at, _) in code.match_indices(prefix) {
            if prefix == "super::" && code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            for path in paths(&code[at + prefix.len()..]) {
                // `super::Name`: the parent module itself.
                if path.is_empty() && modules.contains(&base) {
                    found.insert(base.clone());
                    continue;
                }
                // The longest prefix that is a module of its own file.
                let segments: Vec<&str> = path.split("::").collect();
                for n in (1..=segments.len()).rev() {
                    let path = segments[..n].join("::");
                    let path = if base.is_empty() { path } else { format!("{base}::{path}") };
                    if modules.contains(&path) {
                        found.insert(path);
                        break;
                    }
                }
            }
        }
    }
    found.remove(&own);
    found
}

/// The module paths at the start of `rest`: `a::b::C` gives `a::b`; a group,
/// `a::{b, c::d}`, gives `a::b` and `a::c::d`.
fn paths(rest: &str) -> Vec<String> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut segments = Vec::new();
    let mut rest = rest;
    loop {
        let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        let segment = &rest[..end];
        if segment.is_empty() || !segment.starts_with(|c: char| c.is_ascii_lowercase()) {
            break;
        }
        segments.push(segment.to_owned());
        rest = &rest[end..];
        let Some(next) = rest.strip_prefix("::") else { break };
        rest = next;
        if let Some(group) = rest.strip_prefix('{') {
            let base = segments.join("::");
            let group = &group[..group.find('}').unwrap_or(group.len())];
            return group
                .split(',')
                .flat_map(|item| paths(item.trim()))
                .map(|p| format!("{base}::{p}"))
                .chain(std::iter::once(base.clone()))
                .collect();
        }
    }
    vec![segments.join("::")]
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let sources = sources();
    let modules: BTreeSet<String> = sources.keys().map(|f| module(f)).filter(|m| !m.is_empty()).collect();
    sources.iter().map(|(file, text)| (module(file), imports(file, text, &modules))).collect()
}

fn layer(module: &str) -> &str {
    module.split("::").next().unwrap_or_default()
}

#[test]
fn imports_flow_one_way() {
    let allowed: &[(&str, &[&str])] = &[
        ("core", &["core"]),
        ("protocol", &["core"]),
        ("client", &["core", "client"]),
        ("fanout", &["core", "fanout"]),
        ("proxy", &["core", "fanout", "proxy"]),
        ("server", &["core", "protocol", "server"]),
    ];
    let mut wrong = Vec::new();
    for (from, to) in graph() {
        let Some((_, may)) = allowed.iter().find(|(l, _)| *l == layer(&from)) else { continue };
        for target in to {
            let protocol_of = |m: &str| m.split("::").take(2).collect::<Vec<_>>().join("::");
            let fine = may.contains(&layer(&target))
                || (layer(&from) == "protocol" && protocol_of(&from) == protocol_of(&target));
            if !fine {
                wrong.push(format!("{from} imports {target}"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layout (ARCHITECTURE.md):\n{}", wrong.join("\n"));
}

#[test]
fn no_two_files_import_each_other_in_a_circle() {
    let graph = graph();
    // Depth-first search; `lib.rs` (the crate root) only hands names on.
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        circles: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|n| *n == node) {
            circles.push(format!("{} -> {node}", path[at..].join(" -> ")));
            return;
        }
        if !done.insert(node) {
            return;
        }
        path.push(node);
        for next in graph.get(node).into_iter().flatten().filter(|n| !n.is_empty()) {
            visit(next, graph, path, done, circles);
        }
        path.pop();
    }
    let mut circles = Vec::new();
    let mut done = BTreeSet::new();
    for node in graph.keys().filter(|n| !n.is_empty()) {
        visit(node, &graph, &mut Vec::new(), &mut done, &mut circles);
    }
    assert!(circles.is_empty(), "files that import each other:\n{}", circles.join("\n"));
}

#[test]
fn long_files_say_why() {
    let long: Vec<String> = sources()
        .into_iter()
        .filter(|(_, text)| text.lines().count() > 800)
        .filter(|(_, text)| !text.lines().take(20).any(|l| l.contains("longer than 800 lines")))
        .map(|(file, text)| format!("{file}: {} lines", text.lines().count()))
        .collect();
    assert!(long.is_empty(), "split these, or say at the top why they are longer than 800 lines: {long:?}");
}

#[test]
fn the_checks_see_what_they_check() {
    let graph = graph();
    let trpc = &graph["protocol::trpc"];
    assert!(trpc.contains("core::pipeline") && trpc.contains("core::call"), "{trpc:?}");
    assert!(graph["server"].contains("protocol::grpc"), "{:?}", graph["server"]);
    assert!(graph["protocol::graphql::ws"].contains("protocol::graphql"), "super:: resolves");
}
