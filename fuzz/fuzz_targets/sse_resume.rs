//! SSE resume cursors: `Last-Event-ID` and `?lastEventId=` read as the
//! server reads them, parsed as a fan-out cursor (as the chat example does)
//! and resumed on an in-process `Topics`. Input: byte 0 (low 4 bits: messages
//! published before; high 4 bits: messages kept), byte 1 (bit 0: send the
//! header; bits 1-2: the topic), then `header\nquery`.
#![no_main]

use apigen_runtime::Code;
use apigen_runtime::fuzzing::{SseResume, sse_resume};
use libfuzzer_sys::fuzz_target;

const TOPICS: [&str; 4] = ["room", "", "a/b:{c}", "ü\0"];

fuzz_target!(|data: &[u8]| {
    let [sizes, flags, rest @ ..] = data else { return };
    let (published, history) = (sizes & 0x0f, sizes >> 4);
    let (header, query) = match rest.iter().position(|b| *b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let header = (flags & 1 != 0).then_some(header);
    let topic = TOPICS[usize::from((flags >> 1) & 0b11)];
    match sse_resume(header, &String::from_utf8_lossy(query), topic, published, history) {
        SseResume::NoContent => {}
        SseResume::Refused(status) => {
            assert!(matches!(status.code(), Code::InvalidArgument | Code::OutOfRange), "{status:?}")
        }
        SseResume::Events { after, body } => {
            // Every event id is a sequence number after the cursor, in order, without gaps.
            let ids: Vec<u64> = body
                .lines()
                .filter_map(|line| line.strip_prefix("id:"))
                .map(|id| id.trim().parse().expect("a numeric event id"))
                .collect();
            let mut expected = after.unwrap_or(u64::from(published)) + 1;
            for id in ids {
                assert_eq!(id, expected, "events after {after:?}: {body}");
                expected += 1;
            }
        }
    }
});
