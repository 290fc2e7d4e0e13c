//! `apigen breaking` on a corpus of schema pairs: each case `tests/breaking/<case>/new.proto`
//! changes one thing in `tests/breaking/base.proto` (or in the case's own `old.proto`), and
//! `expected.txt` holds the report. Cases named `ok-…` are additive
//! and must report nothing. `APIGEN_BLESS=1 cargo test -p apigen --test breaking` rewrites the
//! expected reports after a deliberate change.

use std::path::{Path, PathBuf};
use std::process::Command;

use apigen::evolve::{Schema, breaking, render_text};

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = std::fs::read_dir("tests/breaking")
        .expect("the corpus")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

fn report(case: &Path) -> (usize, String) {
    let load = |path: PathBuf| Schema::load(&[path], &[]).expect("the schema compiles");
    let old = Some(case.join("old.proto")).filter(|p| p.is_file()).unwrap_or_else(|| case.join("../base.proto"));
    let findings = breaking(&load(old), &load(case.join("new.proto")));
    let text = if findings.is_empty() { "no breaking changes\n".to_owned() } else { render_text(&findings) };
    (findings.len(), text)
}

#[test]
fn every_case_reports_what_it_expects() {
    let cases = cases();
    assert!(cases.len() >= 20, "the corpus has {} cases", cases.len());
    let bless = std::env::var_os("APIGEN_BLESS").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        let (count, text) = report(case);
        if name.starts_with("ok-") != (count == 0) {
            failures.push(format!("{name}: {count} findings\n{text}"));
        }
        let expected_path = case.join("expected.txt");
        if bless {
            std::fs::write(&expected_path, &text).expect("writes");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != text {
            failures.push(format!("{name}: expected\n{expected}got\n{text}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_category_is_covered_by_some_case() {
    let all: String = cases().iter().map(|c| report(c).1).collect();
    let titles =
        ["protobuf wire", "proto3 JSON", "REST", "GraphQL", "Connect / tRPC / TypeScript", "streaming", "validation"];
    for title in titles {
        assert!(all.lines().any(|l| l == title), "no case reports under {title}");
    }
}

fn apigen(args: &[&str], dir: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_apigen")).args(args).current_dir(dir).output().expect("runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[test]
fn the_command_exits_1_on_breaking_changes_and_0_on_additive_ones() {
    let here = Path::new("tests/breaking");
    let (code, out, err) = apigen(&["breaking", "field-removed/new.proto", "--against", "base.proto"], here);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.starts_with("protobuf wire\n  field-removed/new.proto:29:1: field 3 `count`"), "{out}");
    assert!(err.contains("4 breaking changes"), "{err}");
    let (code, out, _) = apigen(&["breaking", "ok-field-added/new.proto", "--against", "base.proto"], here);
    assert_eq!((code, out.as_str()), (0, "no breaking changes\n"));
}

/// Tightened protovalidate rules on requests break clients of every protocol; loosened ones
/// (`ok-input-rules-loosened`, the same pair the other way round) break none, and rules
/// on messages only responses carry are never reported.
#[test]
fn tightened_input_rules_name_the_rule_and_both_values() {
    let (count, text) = report(Path::new("tests/breaking/input-rules-tightened"));
    assert!(text.starts_with("validation\n"), "{text}");
    assert_eq!(text.matches("[input-rule-tightened]").count(), count, "{text}");
    for expected in [
        "`string.max_len` of `shop.v1.Item.title` went from 300 to 100: requests valid before are refused now",
        "`int32.lte` of `shop.v1.ListItemsRequest.page_size` went from 1000 to 100",
        "`string.in` of `shop.v1.Item.currency` went from [\"EUR\", \"USD\", \"GBP\"] to [\"EUR\", \"USD\"]",
        "`required` was added to `shop.v1.CreateItemRequest.request_id`",
        "oneof `availability` of `shop.v1.Item` became required",
        "`ignore` of `shop.v1.Item.note` went from IGNORE_ALWAYS to IGNORE_UNSPECIFIED",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    assert!(!text.contains("ListItemsResponse") && !text.contains("Summary"), "outputs are not inputs: {text}");
    let (count, text) = report(Path::new("tests/breaking/ok-input-rules-loosened"));
    assert_eq!(count, 0, "{text}");
    // --format json names the category `validation`.
    let here = Path::new("tests/breaking/input-rules-tightened");
    let (code, out, err) = apigen(&["breaking", "new.proto", "--against", "old.proto", "--format", "json"], here);
    assert_eq!(code, 1, "{err}");
    let findings: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let all = findings.as_array().expect("an array");
    assert!(all.iter().all(|f| f["category"] == "validation" && f["rule"] == "input-rule-tightened"), "{out}");
}

#[test]
fn json_output_lists_category_rule_location_and_message() {
    let here = Path::new("tests/breaking");
    let args = ["breaking", "method-removed/new.proto", "--against", "base.proto", "--format", "json"];
    let (code, out, err) = apigen(&args, here);
    assert_eq!(code, 1, "{err}");
    let findings: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let rules: Vec<(&str, &str)> = findings
        .as_array()
        .expect("an array")
        .iter()
        .map(|f| (f["category"].as_str().unwrap_or(""), f["rule"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        rules,
        [
            ("wire", "method-removed"),
            ("rest", "route-removed"),
            ("graphql", "operation-removed"),
            ("rpc", "procedure-removed")
        ]
    );
    assert_eq!(findings[0]["location"], "method-removed/new.proto:9:1");
}

#[test]
fn against_a_git_revision_compares_with_the_files_as_they_were() {
    let repo = tempfile::tempdir().expect("a directory");
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(repo.path())
            .output()
            .expect("git runs (install git)");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    std::fs::create_dir(repo.path().join("proto")).expect("mkdir");
    let case = Path::new("tests/breaking/enum-value-renamed");
    let schema = repo.path().join("proto/shop.proto");
    std::fs::copy("tests/breaking/base.proto", &schema).expect("copies");
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "v1"]);
    std::fs::copy(case.join("new.proto"), &schema).expect("copies");

    let (code, out, err) =
        apigen(&["breaking", "proto/shop.proto", "-I", "proto", "--against", "git:main"], repo.path());
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("proto/shop.proto:37:1: value 2 of `shop.v1.Color` was renamed"), "{out}");
    assert_eq!(out.matches("[enum-value-renamed]").count(), 3, "{out}");

    let (code, _, err) = apigen(&["breaking", "proto/shop.proto", "--against", "git:no-such-branch"], repo.path());
    assert_eq!(code, 2, "a revision git does not know is a usage error");
    assert!(err.contains("no-such-branch"), "{err}");
    git(&["add", "."]);
    git(&["commit", "-q", "-m", "v2"]);
    let (code, out, _) = apigen(&["breaking", "proto/shop.proto", "--against", "git:HEAD"], repo.path());
    assert_eq!((code, out.as_str()), (0, "no breaking changes\n"));
}

/// Writes one side of a two-file schema under `root/side`: `shop.proto` imports `item.proto`
/// (as `shop/v1/item.proto` when `nested`, with both files in `shop/v1/`). `count` is in
/// `Item` when `with_count`; `in_stock` only on the `new` side, an additive change.
fn write_side(root: &Path, side: &str, nested: bool, with_count: bool) -> PathBuf {
    let dir = if nested { root.join(side).join("shop/v1") } else { root.join(side) };
    std::fs::create_dir_all(&dir).expect("mkdir");
    let import = if nested { "shop/v1/item.proto" } else { "item.proto" };
    let shop = format!(
        "syntax = \"proto3\";\npackage shop.v1;\nimport \"{import}\";\n\n\
         message Cart {{\n  repeated Item items = 1;\n}}\n"
    );
    let count = if with_count { "  int32 count = 2;\n" } else { "" };
    let in_stock = if side == "new" { "  bool in_stock = 3;\n" } else { "" };
    // The built-in annotations resolve on both sides.
    let item = format!(
        "syntax = \"proto3\";\npackage shop.v1;\nimport \"google/api/field_behavior.proto\";\n\n\
         message Item {{\n  string name = 1 [(google.api.field_behavior) = IDENTIFIER];\n{count}{in_stock}}}\n"
    );
    std::fs::write(dir.join("shop.proto"), shop).expect("writes");
    std::fs::write(dir.join("item.proto"), item).expect("writes");
    dir.join("shop.proto")
}

/// Old and new copies of a schema that differ only in the directory they sit in: a pair where
/// `new` drops `Item.count` (breaking) and a pair where it only adds a field (compatible).
fn old_and_new(nested: bool) -> [(tempfile::TempDir, bool); 2] {
    [true, false].map(|breaks| {
        let root = tempfile::tempdir().expect("a directory");
        write_side(root.path(), "old", nested, true);
        write_side(root.path(), "new", nested, !breaks);
        (root, breaks)
    })
}

fn assert_report(breaks: bool, (code, out, err): (i32, String, String), file: &str) {
    if breaks {
        assert_eq!(code, 1, "{out}{err}");
        let removed = format!("{file}:5:1: field 2 `count` of `shop.v1.Item` was removed without reserving");
        assert!(out.contains(&removed), "{out}");
    } else {
        assert_eq!((code, out.as_str()), (0, "no breaking changes\n"), "{err}");
    }
}

#[test]
fn against_old_files_resolves_them_against_their_own_directory() {
    for (root, breaks) in old_and_new(false) {
        let run = |args: &[&str]| apigen(&[&["breaking", "new/shop.proto"], args].concat(), root.path());
        // README's example: the old file's imports resolve next to it, not under -I new.
        assert_report(breaks, run(&["-I", "new", "--against", "old/shop.proto"]), "new/item.proto");
        assert_report(breaks, run(&["--against", "old/shop.proto"]), "new/item.proto");
        // The new side's include paths are never the old side's, even when they list old/.
        assert_report(breaks, run(&["-I", "new", "-I", "old", "--against", "old/shop.proto"]), "new/item.proto");
        // Both old files named: the same.
        assert_report(
            breaks,
            run(&["-I", "new", "--against", "old/shop.proto", "--against", "old/item.proto"]),
            "new/item.proto",
        );
    }
}

#[test]
fn against_a_directory_takes_the_old_files_at_the_new_ones_paths() {
    for (root, breaks) in old_and_new(true) {
        let args = ["breaking", "new/shop/v1/shop.proto", "-I", "new", "--against", "old"];
        assert_report(breaks, apigen(&args, root.path()), "new/shop/v1/item.proto");
        // A trailing slash, and an absolute path, name the same directory.
        let absolute = root.path().join("old");
        let absolute = absolute.to_str().expect("a UTF-8 temporary directory");
        for old in ["old/", absolute] {
            let args = ["breaking", "new/shop/v1/shop.proto", "-I", "new", "--against", old];
            assert_report(breaks, apigen(&args, root.path()), "new/shop/v1/item.proto");
        }
    }
    // A file the directory lacks is new, an addition.
    let (root, _) = &old_and_new(true)[1];
    std::fs::write(
        root.path().join("new/shop/v1/extra.proto"),
        "syntax = \"proto3\";\npackage shop.v1;\nmessage Extra {}\n",
    )
    .expect("writes");
    let args = ["breaking", "new/shop/v1/shop.proto", "new/shop/v1/extra.proto", "-I", "new", "--against", "old"];
    assert_report(false, apigen(&args, root.path()), "");
    // A directory without the old copy of a file says which file it looked for.
    let root = tempfile::tempdir().expect("a directory");
    write_side(root.path(), "new", true, true);
    std::fs::create_dir(root.path().join("old")).expect("mkdir");
    let (code, _, err) = apigen(&["breaking", "new/shop/v1/shop.proto", "-I", "new", "--against", "old"], root.path());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--against old: old/shop/v1/shop.proto does not exist"), "{err}");
}

#[test]
fn against_include_gives_the_old_files_their_own_include_paths() {
    for (root, breaks) in old_and_new(true) {
        let args = [
            "breaking",
            "new/shop/v1/shop.proto",
            "-I",
            "new",
            "--against",
            "old/shop/v1/shop.proto",
            "--against-include",
            "old",
        ];
        assert_report(breaks, apigen(&args, root.path()), "new/shop/v1/item.proto");
        // With a directory too: more roots for the old side's imports.
        let args = ["breaking", "new/shop/v1/shop.proto", "-I", "new", "--against", "old", "--against-include", "old"];
        assert_report(breaks, apigen(&args, root.path()), "new/shop/v1/item.proto");
    }
    let root = tempfile::tempdir().expect("a directory");
    write_side(root.path(), "old", true, true);
    write_side(root.path(), "new", true, true);
    // An old file outside every --against-include is a usage error that names the flag.
    let args = ["breaking", "new/shop/v1/shop.proto", "-I", "new", "--against", "old/shop/v1/shop.proto"];
    let (code, _, err) = apigen(&[&args[..], &["--against-include", "new"]].concat(), root.path());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("old/shop/v1/shop.proto is not under any include path"), "{err}");
    assert!(err.contains("--against-include"), "{err}");
    // Without --against-include, the old file's import is looked for next to it: an error
    // that says it is the old schema's and how to fix it.
    let (code, _, err) = apigen(&args, root.path());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("import 'shop/v1/item.proto' not found"), "{err}");
    assert!(err.contains("the error is in the old schema, old/shop/v1/shop.proto"), "{err}");
    assert!(err.contains("--against-include DIR"), "{err}");
    // git:REV takes the -I paths at that revision; --against-include has no meaning there.
    let args = ["breaking", "new/shop/v1/shop.proto", "-I", "new", "--against", "git:main", "--against-include", "old"];
    let (code, _, err) = apigen(&args, root.path());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--against-include"), "{err}");
}
