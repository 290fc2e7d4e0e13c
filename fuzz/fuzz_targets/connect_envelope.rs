//! Connect envelopes, both sides. The first byte picks the settings: bits 0-1
//! the request's `Connect-Content-Encoding` (none, identity, gzip, br), bit 2
//! whether the response stream is gzip-compressed, bits 3-7 the size of the
//! chunks the client receives (1-32 bytes). The rest is, at once:
//! - a Connect streaming request body, split by the server (limit 64 KiB);
//! - a Connect GET query (`encoding=proto&base64=1&compression=gzip&message=…`);
//! - a server stream's body, read incrementally by the Connect client;
//! - an HTTP error body the Connect client turns into a status.
#![no_main]

use apigen_runtime::Code;
use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&settings, rest)) = data.split_first() else { return };
    let encoding = ["", "identity", "gzip", "br"][usize::from(settings & 0b11)];
    let gzip = settings & 0b100 != 0;
    let chunk = usize::from(settings >> 3) + 1;

    let request = apigen_runtime::fuzzing::connect_server(rest, encoding, &String::from_utf8_lossy(rest), LIMIT);
    if let Ok(sizes) = &request.envelopes {
        assert!(sizes.iter().sum::<usize>() <= LIMIT, "the envelopes decompress past the limit: {sizes:?}");
    }
    if let Ok((_, size)) = &request.get {
        assert!(*size <= LIMIT, "a GET message of {size} bytes is past the limit");
    }

    let stream = apigen_runtime::fuzzing::connect_client(rest.chunks(chunk), gzip);
    if let Some(status) = &stream.end {
        assert_ne!(status.code(), Code::Ok, "an error without a code");
    }

    let status = apigen_runtime::fuzzing::connect_error(400 + u16::from(settings), rest);
    assert_ne!(status.code(), Code::Ok, "an HTTP error became OK");
});
