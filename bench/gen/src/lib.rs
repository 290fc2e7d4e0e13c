//! Benchmarks of apigen's code generation: synthetic schemas ([`synth`]),
//! generation speed (`apigen-bench-gen`) and compile cost (`compile.sh`).

pub mod synth;
