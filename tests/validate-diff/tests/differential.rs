//! Differential test against protovalidate at the server: every case that
//! `runtime/tests/validate_cases/make.py` recorded from PyPI's protovalidate
//! is sent to a running server generated from the same rules (`cases.proto`),
//! as Connect JSON (the server reads the case's proto JSON) and as gRPC (the
//! message encoded), and each answer must carry protovalidate's verdict: the
//! same rule ids, messages, field paths and rule paths.

use std::net::SocketAddr;

use apigen_runtime::validate::proto::{FieldPathElement, Subscript, Violations};
use apigen_validate_diff::{Accept, t};
use base64::Engine;
use prost::Message;
use serde_json::{Value, json};

const CASES: &str = include_str!("../../../runtime/tests/validate_cases/cases.json");

async fn start() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = apigen_runtime::Server::builder().add_service(t::diff_service(Accept));
    tokio::spawn(server.serve(listener, std::future::pending()));
    addr
}

/// The field of `Cases` that holds case `index` (its message, in cases.proto's order).
fn field_name(case: &Value, index: usize) -> String {
    match case.get("shape").and_then(Value::as_str) {
        Some(shape) => shape.to_lowercase(),
        None => format!("c{index}"),
    }
}

/// A case's request in proto JSON: its message in its field of `Cases`.
fn request(case: &Value, index: usize) -> Value {
    let message = if case.get("shape").is_some() {
        case["value"].clone()
    } else if case.get("unset").is_some() {
        json!({})
    } else {
        json!({"f": case["value"]})
    };
    json!({ field_name(case, index): message })
}

/// A path element as cases.json writes them.
fn element(e: &FieldPathElement) -> Value {
    let mut out = serde_json::Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v {
            out.insert(k.into(), v);
        }
    };
    put("field_number", e.field_number.map(Value::from));
    put("field_name", e.field_name.clone().map(Value::from));
    put("field_type", e.field_type.map(Value::from));
    put("key_type", e.key_type.map(Value::from));
    put("value_type", e.value_type.map(Value::from));
    match &e.subscript {
        Some(Subscript::Index(i)) => put("index", Some((*i).into())),
        Some(Subscript::BoolKey(b)) => put("bool_key", Some((*b).into())),
        Some(Subscript::IntKey(i)) => put("int_key", Some((*i).into())),
        Some(Subscript::UintKey(u)) => put("uint_key", Some((*u).into())),
        Some(Subscript::StringKey(s)) => put("string_key", Some(s.clone().into())),
        None => {}
    }
    Value::Object(out)
}

/// The server's violations as cases.json writes protovalidate's, the
/// `Cases` field that leads to the case's message taken off every path.
fn as_cases_json(violations: &Violations) -> Vec<Value> {
    let mut out: Vec<Value> = violations
        .violations
        .iter()
        .map(|v| {
            let field: Vec<Value> = v.field.iter().flat_map(|p| p.elements.iter().skip(1)).map(element).collect();
            let rule: Vec<Value> = v.rule.iter().flat_map(|p| p.elements.iter()).map(element).collect();
            json!({
                "rule_id": v.rule_id.clone().unwrap_or_default(),
                "message": v.message.clone().unwrap_or_default(),
                "for_key": v.for_key.unwrap_or(false),
                "field": field,
                "rule": rule,
            })
        })
        .collect();
    out.sort_by_key(Value::to_string);
    out
}

fn expected(case: &Value) -> Vec<Value> {
    let mut list = case["violations"].as_array().cloned().unwrap_or_default();
    list.sort_by_key(Value::to_string);
    list
}

/// The `buf.validate.Violations` of a Connect error body (empty when it has none).
fn connect_violations(body: &Value) -> Violations {
    let detail = body["details"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["type"] == "buf.validate.Violations"))
        .and_then(|d| d["value"].as_str())
        .map(|v| base64::engine::general_purpose::STANDARD_NO_PAD.decode(v.trim_end_matches('=')).expect("base64"));
    detail.map(|b| Violations::decode(b.as_slice()).expect("Violations")).unwrap_or_default()
}

#[tokio::test]
async fn the_server_gives_protovalidates_verdict_on_every_case() {
    let cases: Vec<Value> = serde_json::from_str(CASES).expect("cases.json");
    assert!(cases.len() > 1000, "{} cases", cases.len());
    let addr = start().await;
    let http = reqwest::Client::new();
    let mut grpc = t::DiffClient::connect(format!("http://{addr}")).await.expect("connects");
    let mut failures = Vec::new();
    let mut violations = 0;
    for (index, case) in cases.iter().enumerate() {
        let want = expected(case);
        violations += want.len();
        let body = request(case, index);

        let reply = http
            .post(format!("http://{addr}/t.Diff/Check"))
            .header("content-type", "application/json")
            // A Connect call (without it, Check's default REST binding at the same path answers).
            .header("connect-protocol-version", "1")
            .body(body.to_string())
            .send()
            .await
            .expect("Connect call");
        let status = reply.status().as_u16();
        let answer: Value = reply.json().await.expect("a JSON answer");
        let found = as_cases_json(&connect_violations(&answer));
        let verdict_ok = (status == 200) == want.is_empty();
        if !verdict_ok || found != want {
            failures.push(format!(
                "Connect {} {body}: HTTP {status}\n  expected {}\n  found    {} ({answer})",
                case["name"],
                Value::from(want.clone()),
                Value::from(found)
            ));
        }

        let message: t::Cases = apigen_runtime::json::from_slice(body.to_string().as_bytes()).expect("proto JSON");
        let found = match grpc.check(message).await {
            Ok(_) => Vec::new(),
            Err(status) => {
                let list = apigen_runtime::validate::violations(&status);
                let all = Violations { violations: list };
                if all.violations.is_empty() {
                    vec![json!({"status": status.to_string()})]
                } else {
                    as_cases_json(&all)
                }
            }
        };
        if found != want {
            failures.push(format!(
                "gRPC {} {body}:\n  expected {}\n  found    {}",
                case["name"],
                Value::from(want),
                Value::from(found)
            ));
        }
    }
    println!("{} cases, {violations} violations, each over Connect JSON and gRPC", cases.len());
    assert!(failures.is_empty(), "{} of {} answers differ:\n{}", failures.len(), 2 * cases.len(), failures.join("\n"));
}
