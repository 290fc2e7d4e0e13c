//! The chat types through the proto3 JSON mapping.

use apigen_runtime::wkt::Timestamp;
use chat_example::v1::ChatMessage;

#[test]
fn a_chat_message_round_trips_with_uint64_as_string() {
    let message = ChatMessage {
        name: "rooms/a/messages/1".into(),
        room: "rooms/a".into(),
        author: "ada".into(),
        text: "hello".into(),
        sequence: u64::MAX,
        post_time: Some(Timestamp { seconds: 60, nanos: 0 }),
    };
    let json = serde_json::to_value(&message).expect("serializes");
    assert_eq!(json["sequence"], "18446744073709551615");
    assert_eq!(json["postTime"], "1970-01-01T00:01:00Z");
    assert_eq!(serde_json::from_value::<ChatMessage>(json).expect("parses"), message);
    let info = &chat_example::v1::CHAT_INFO;
    let names: Vec<&str> = info.methods.iter().map(|m| m.name).collect();
    assert_eq!(names, ["PostMessage", "GetHistory", "Subscribe", "Upload", "Converse"]);
}
