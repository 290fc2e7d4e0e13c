//! Lowering on an arbitrary encoded `FileDescriptorSet` (descriptors protox
//! never produced, source info absent or partial): a model or an error that
//! renders, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(error) = apigen::fuzzing::lower_descriptor_set(data) {
        let report = error.render(false);
        assert!(!report.is_empty(), "an error without a report");
    }
});
