//! `apigen lint`: tests/lint/messy.proto breaks each rule once, tests/lint/unbounded.proto the
//! rules on unbounded inputs, tests/lint/clean.proto none.

use std::path::Path;
use std::process::Command;

fn apigen(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_apigen"))
        .args(args)
        .current_dir(Path::new("tests/lint"))
        .output()
        .expect("runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn rules(report: &str) -> Vec<(String, String)> {
    report
        .lines()
        .filter(|l| !l.starts_with("  help:"))
        .filter_map(|l| {
            let location = l.split(": ").next()?.to_owned();
            let rule = l.rsplit_once('[')?.1.trim_end_matches(']').to_owned();
            Some((location, rule))
        })
        .collect()
}

#[test]
fn each_rule_finds_its_problem_at_its_line() {
    let (code, out, err) = apigen(&["lint", "messy.proto"]);
    assert_eq!(code, 1, "{out}{err}");
    let found = rules(&out);
    let expected = [
        ("./messy.proto:10:3", "name-collision"),
        ("./messy.proto:12:38", "path-variable-required"),
        ("./messy.proto:12:38", "route-overlap"),
        ("./messy.proto:14:3", "get-idempotency"),
        ("./messy.proto:18:3", "http-binding"),
        ("./messy.proto:21:3", "stream-cursor"),
        ("./messy.proto:26:1", "name-collision"),
    ];
    let expected: Vec<(String, String)> = expected.iter().map(|(l, r)| (l.to_string(), r.to_string())).collect();
    assert_eq!(found, expected, "{out}");
    assert_eq!(out.matches("\n  help: ").count(), 7, "every finding says how to fix it: {out}");
    assert!(err.contains("7 lint findings"), "{err}");
    // Imported files are not linted: other/shared.proto's own collision is not reported there.
    assert!(!out.contains("shared.proto"), "{out}");
}

#[test]
fn unbounded_inputs_name_the_option_to_add() {
    let (code, out, err) = apigen(&["lint", "unbounded.proto"]);
    assert_eq!(code, 1, "{out}{err}");
    let expected = [
        ("./unbounded.proto:40:3", "string-max-len"),
        ("./unbounded.proto:45:3", "string-max-len"),
        ("./unbounded.proto:57:3", "string-max-len"),
        ("./unbounded.proto:67:3", "string-max-len"),
        ("./unbounded.proto:73:3", "page-size-max"),
        ("./unbounded.proto:89:3", "batch-max-size"),
        ("./unbounded.proto:94:3", "batch-max-size"),
    ];
    let expected: Vec<(String, String)> = expected.iter().map(|(l, r)| (l.to_string(), r.to_string())).collect();
    assert_eq!(rules(&out), expected, "{out}");
    for text in [
        "`unbounded.v1.Draft.text` is a string without a maximum length in the request of \
         `unbounded.v1.Drafts/CreateDraft` (a create method)",
        "help: add `[(buf.validate.field).string.max_len = …]`",
        "`unbounded.v1.Draft.tags` holds strings without a maximum length",
        "help: add `[(buf.validate.field).repeated.items.string.max_len = …]`",
        "`unbounded.v1.Drafts/ImportDraft` (bound to POST)",
        "`unbounded.v1.Attachment.caption` is a string",
        "`unbounded.v1.ListDraftsRequest.page_size` of `unbounded.v1.Drafts/ListDrafts` has no upper bound",
        "help: add `[(buf.validate.field).int32.lte = …]`",
        "batch loader `unbounded.v1.Lookups/BatchGetDrafts` has no `max_batch_size`",
        "batch loader `unbounded.v1.Lookups/BatchGetMany` takes more keys per call than its keys field's `max_items` allows",
        "help: set `max_batch_size: 100` (the keys field's `max_items`)",
    ] {
        assert!(out.contains(text), "missing {text:?} in\n{out}");
    }
    // Bounded, OUTPUT_ONLY, wrapper, map and non-create fields pass; `Draft` is reported once,
    // and a map's message values are checked.
    for quiet in ["Draft.name", "title", "slug", "status", "topics", "subtitle", "labels", "GetDraftRequest"] {
        assert!(!out.contains(quiet), "{quiet} is bounded or not an input of a create method: {out}");
    }
    let allow = ["--allow", "string-max-len", "--allow", "page-size-max", "--allow", "batch-max-size"];
    let (code, out, _) = apigen(&[&["lint", "unbounded.proto"][..], &allow[..]].concat());
    assert_eq!((code, out.as_str()), (0, "no lint findings\n"));
}

/// README's `apigen lint` section names the examples' findings; no new rule adds any.
#[test]
fn the_examples_have_only_the_findings_the_readme_names() {
    let run = |example: &str| {
        let (code, out, err) = apigen(&["lint", &format!("../../../schemas/examples/{example}.proto")]);
        assert_eq!(code, 1, "{out}{err}");
        rules(&out).into_iter().map(|(_, rule)| rule).collect::<Vec<_>>()
    };
    assert_eq!(run("bookstore"), ["stream-cursor"]);
    assert_eq!(run("chat"), ["http-binding", "http-binding"]);
}

#[test]
fn a_clean_schema_passes() {
    let (code, out, err) = apigen(&["lint", "clean.proto"]);
    assert_eq!((code, out.as_str()), (0, "no lint findings\n"), "{err}");
}

#[test]
fn rules_can_be_switched_off() {
    let args =
        ["lint", "messy.proto", "--allow", "name-collision", "--allow", "stream-cursor", "--allow", "http-binding"];
    let (code, out, _) = apigen(&args);
    assert_eq!(code, 1);
    let found: Vec<String> = rules(&out).into_iter().map(|(_, r)| r).collect();
    assert_eq!(found, ["path-variable-required", "route-overlap", "get-idempotency"], "{out}");
    let all = [
        "path-variable-required",
        "route-overlap",
        "name-collision",
        "stream-cursor",
        "http-binding",
        "get-idempotency",
    ];
    let mut args = vec!["lint", "messy.proto"];
    for rule in all {
        args.extend(["--allow", rule]);
    }
    assert_eq!(apigen(&args).0, 0);
}

#[test]
fn an_unknown_rule_is_a_usage_error_naming_the_rules() {
    let (code, _, err) = apigen(&["lint", "clean.proto", "--allow", "no-such-rule"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no-such-rule") && err.contains("route-overlap"), "{err}");
}

#[test]
fn every_rule_is_listed_and_documented() {
    let (code, out, _) = apigen(&["lint", "--list-rules"]);
    assert_eq!(code, 0);
    let readme = std::fs::read_to_string("../README.md").expect("the README");
    for rule in apigen::lint::RULES {
        assert!(out.contains(&format!("{}\n  ", rule.name)), "{} is not listed: {out}", rule.name);
        assert!(readme.contains(&format!("`{}`", rule.name)), "README.md does not document `{}`", rule.name);
    }
}
