//! The protovalidate corpus (`runtime/tests/validate_cases/`) generated as a
//! service by this crate's build.rs: `Diff.Check` takes `Cases`, one field
//! per recorded case, and accepts whatever passes validation. The test in
//! `tests/differential.rs` sends every case to a running server and compares
//! its violations with protovalidate's.

apigen_runtime::include_api!();

/// Accepts every request that validation lets through.
pub struct Accept;

impl t::Diff for Accept {
    async fn check(
        &self,
        _ctx: apigen_runtime::Context,
        _request: t::Cases,
    ) -> apigen_runtime::Result<apigen_runtime::wkt::Empty> {
        Ok(apigen_runtime::wkt::Empty {})
    }
}
