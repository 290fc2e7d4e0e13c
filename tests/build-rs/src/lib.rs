//! Code generated from `proto/` by this crate's build.rs, pulled in with
//! `include_api!`. The tests below use it as a service author would.

apigen_runtime::include_api!();

#[cfg(test)]
mod tests;
