//! The parts of `apigen-load` other tools reuse (`bench/stream`): the SSE and
//! WebSocket subscribers and the poster (`load`), the fan-out check
//! (`check`), latency histograms (`hist`), `/proc` readings (`procfs`) and
//! starting and stopping a server (`server`). The binary is `main.rs`.

pub mod check;
pub mod hist;
pub mod load;
pub mod procfs;
pub mod server;
