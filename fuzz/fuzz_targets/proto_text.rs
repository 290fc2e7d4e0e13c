//! The generator on an arbitrary `.proto` file (`fuzz.proto`, which may
//! import the built-in annotations and the well-known types): code, or
//! diagnostics that render. A panic, or an internal error (lowering accepted
//! what a backend could not generate), is a bug.
#![no_main]

use apigen::Error;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match apigen::fuzzing::generate_text(text) {
        Ok(generated) => assert!(!generated.files.0.is_empty() || generated.api.packages.is_empty()),
        Err(Error::Internal(message)) => panic!("internal error: {message}\n--- schema ---\n{text}"),
        Err(error) => {
            let report = error.render(false);
            assert!(!report.is_empty(), "an error without a report: {error:?}");
        }
    }
});
