//! The testee protobuf's conformance runner starts: reads each request (a
//! 4-byte little-endian length and a serialized `conformance.ConformanceRequest`)
//! from stdin, answers with a length and a `conformance.ConformanceResponse` on
//! stdout, and exits when stdin closes. `APIGEN_CONFORMANCE_ONLY=proto3` (or
//! `proto2`) skips the other syntax's test messages, to count one at a time.

use std::io::{self, ErrorKind, Read, Write};
use std::panic::{self, AssertUnwindSafe};

use apigen_conformance::conformance::ConformanceResponse;
use apigen_conformance::conformance::conformance_response::Result as Outcome;
use apigen_runtime::prost::Message;

fn main() -> io::Result<()> {
    let only = std::env::var("APIGEN_CONFORMANCE_ONLY").ok().filter(|s| !s.is_empty());
    let mut input = io::stdin().lock();
    let mut output = io::stdout().lock();
    loop {
        let mut length = [0; 4];
        match input.read_exact(&mut length) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut request = vec![0; u32::from_le_bytes(length) as usize];
        input.read_exact(&mut request)?;
        // A panic is a bug in apigen or its dependencies: report it as this
        // test's failure and go on with the next.
        let response = panic::catch_unwind(AssertUnwindSafe(|| apigen_conformance::answer(&request, only.as_deref())))
            .unwrap_or_else(|_| {
                let result = Outcome::RuntimeError("the testee panicked (see its stderr)".to_owned());
                ConformanceResponse { result: Some(result) }.encode_to_vec()
            });
        let length = u32::try_from(response.len()).map_err(|_| io::Error::other("response too large"))?;
        output.write_all(&length.to_le_bytes())?;
        output.write_all(&response)?;
        output.flush()?;
    }
}
