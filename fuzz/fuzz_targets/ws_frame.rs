//! WebSocket `apigen.v1`: an arbitrary text frame parsed as the server
//! parses it, `connection_init` payloads merged into the calls' metadata,
//! and the frames and close reasons the server answers with.
#![no_main]

use apigen_runtime::fuzzing::{WsOutcome, ws_frame};
use apigen_runtime::http::{HeaderMap, HeaderValue, header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // WebSocket text frames are UTF-8 by the time the server sees them.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut upgrade = HeaderMap::new();
    upgrade.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer from-the-upgrade"));
    upgrade.insert(header::USER_AGENT, HeaderValue::from_static("fuzz"));
    match ws_frame(text, upgrade) {
        WsOutcome::Close(reason) => assert!(reason.len() <= 123, "a close reason of {} bytes", reason.len()),
        WsOutcome::Init(metadata) => assert!(metadata.contains_key(header::USER_AGENT)),
        WsOutcome::Frame(_) | WsOutcome::Nothing => {}
    }
});
