use super::*;

fn request(message_type: &str, payload: Input, output: WireFormat) -> ConformanceRequest {
    ConformanceRequest {
        message_type: message_type.to_owned(),
        payload: Some(payload),
        requested_output_format: output as i32,
        ..Default::default()
    }
}

const PROTO3: &str = "protobuf_test_messages.proto3.TestAllTypesProto3";

#[test]
fn the_failure_set_request_gets_an_empty_failure_set() {
    let first = ConformanceRequest { message_type: "conformance.FailureSet".to_owned(), ..Default::default() };
    let response = ConformanceResponse::decode(answer(&first.encode_to_vec(), None).as_slice()).unwrap();
    match response.result {
        Some(Outcome::ProtobufPayload(bytes)) => assert!(FailureSet::decode(&bytes[..]).unwrap().test.is_empty()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn json_is_read_and_written_in_the_proto3_mapping() {
    let json = Input::JsonPayload(r#"{"optional_int64": 5, "optionalString": "x"}"#.to_owned());
    match respond(&request(PROTO3, json, WireFormat::Json), None) {
        Outcome::JsonPayload(out) => assert_eq!(out, r#"{"optionalInt64":"5","optionalString":"x"}"#),
        other => panic!("{other:?}"),
    }
}

#[test]
fn protobuf_round_trips() {
    let message = proto3::TestAllTypesProto3 { optional_int32: 7, ..Default::default() };
    let binary = Input::ProtobufPayload(message.encode_to_vec());
    match respond(&request(PROTO3, binary, WireFormat::Protobuf), None) {
        Outcome::ProtobufPayload(out) => assert_eq!(proto3::TestAllTypesProto3::decode(&out[..]).unwrap(), message),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_input_is_a_parse_error_not_a_panic() {
    let garbage = Input::ProtobufPayload(vec![0xff, 0xff, 0xff]);
    assert!(matches!(respond(&request(PROTO3, garbage, WireFormat::Json), None), Outcome::ParseError(_)));
    let json = Input::JsonPayload(r#"{"optionalInt32": "#.to_owned());
    assert!(matches!(respond(&request(PROTO3, json, WireFormat::Json), None), Outcome::ParseError(_)));
    assert!(matches!(
        ConformanceResponse::decode(answer(b"\xff", None).as_slice()).unwrap().result,
        Some(Outcome::RuntimeError(_))
    ));
}

#[test]
fn unknown_json_fields_are_ignored_only_in_their_category() {
    let unknown = || Input::JsonPayload(r#"{"optionalInt32": 1, "nope": 2}"#.to_owned());
    let strict = respond(&request(PROTO3, unknown(), WireFormat::Json), None);
    assert!(matches!(&strict, Outcome::ParseError(e) if e.contains("unknown field `nope`")), "{strict:?}");
    let mut lenient = request(PROTO3, unknown(), WireFormat::Json);
    lenient.test_category = TestCategory::JsonIgnoreUnknownParsingTest as i32;
    let answer = respond(&lenient, None);
    assert!(matches!(&answer, Outcome::JsonPayload(j) if j == r#"{"optionalInt32":1}"#), "{answer:?}");
}

#[test]
fn what_is_not_supported_is_skipped() {
    let json = || Input::JsonPayload("{}".to_owned());
    for output in [WireFormat::Jspb, WireFormat::TextFormat] {
        assert!(matches!(respond(&request(PROTO3, json(), output), None), Outcome::Skipped(_)));
    }
    assert!(matches!(respond(&request(PROTO3, json(), WireFormat::Json), Some("proto2")), Outcome::Skipped(_)));
}

#[test]
fn the_gateways_writer_gives_the_generated_codes_json_with_maps_in_key_order() {
    // The generated code's Any needs the embedded types registered, as a server does at start-up.
    apigen_runtime::json::register(proto3::JSON_TYPES);
    let message = proto3::TestAllTypesProto3 {
        optional_int64: -5,
        optional_float: f32::NAN,
        optional_bytes: vec![0, 1, 250],
        optional_nested_enum: 2,
        repeated_int64: vec![1, i64::MAX],
        map_string_string: (0..20).map(|i| (format!("k{i:02}"), format!("v{i}"))).collect(),
        map_int32_int32: [(-3, 1), (10, 2), (2, 3)].into_iter().collect(),
        optional_timestamp: Some(apigen_runtime::wkt::Timestamp { seconds: 1_700_000_000, nanos: 5_000_000 }),
        optional_duration: Some(apigen_runtime::wkt::Duration { seconds: -1, nanos: -500_000_000 }),
        repeated_any: vec![
            apigen_runtime::wkt::Any::pack(
                "google.protobuf.Duration",
                &apigen_runtime::wkt::Duration { seconds: 3, nanos: 0 },
            ),
            apigen_runtime::wkt::Any::pack(
                PROTO3,
                &proto3::TestAllTypesProto3 { optional_string: "inner".into(), ..Default::default() },
            ),
        ],
        ..Default::default()
    };
    let generated = apigen_runtime::json::to_vec(&message).unwrap();
    let written = |bytes: &[u8]| match dynamic_json(PROTO3, bytes) {
        Outcome::JsonPayload(json) => json,
        other => panic!("{other:?}"),
    };
    let json = written(&message.encode_to_vec());
    let as_value =
        |text: &[u8]| apigen_runtime::serde_json::from_slice::<apigen_runtime::serde_json::Value>(text).unwrap();
    assert_eq!(as_value(json.as_bytes()), as_value(&generated), "{json}");
    // Decoded again, the hash maps iterate in another order; the text stays the same.
    for _ in 0..5 {
        assert_eq!(written(&message.encode_to_vec()), json);
    }
    let keys: Vec<usize> = (0..20).map(|i| json.find(&format!("\"k{i:02}\"")).unwrap()).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "map keys in order: {json}");
    assert!(json.contains(r#""mapInt32Int32":{"-3":1,"2":3,"10":2}"#), "{json}");
    assert!(json.contains(r#""optionalTimestamp":"2023-11-14T22:13:20.005Z""#), "{json}");
    assert!(json.contains(r#""optionalDuration":"-1.500s""#), "{json}");
    // A well-known type in an Any sits under "value"; a message's fields beside "@type".
    assert!(json.contains(r#"{"@type":"type.googleapis.com/google.protobuf.Duration","value":"3s"}"#), "{json}");
    assert!(
        json.contains(&format!(r#"{{"@type":"type.googleapis.com/{PROTO3}","optionalString":"inner"}}"#)),
        "{json}"
    );
}
