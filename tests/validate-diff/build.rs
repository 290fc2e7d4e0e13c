//! The corpus of runtime/tests/validate_cases as a schema: every case message
//! and `Cases`, a request holding one of each (written by make.py).
fn main() -> Result<(), apigen::Error> {
    apigen::configure()
        .compile(&["../../runtime/tests/validate_cases/cases.proto"], &["../../runtime/tests/validate_cases"])
}
