//! The report, as Markdown or JSON.

use std::fmt::Write;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use serde_json::json;

use crate::args::Config;
use crate::check::FanoutCheck;
use crate::hist::Summary;
use crate::load::{Ctx, HISTORY_PROTOS, Kind, Method, PHASES, POST_PROTOS, Phase, Point, Proto};
use crate::procfs::ProcSample;

/// The server's memory and descriptors at the moments that matter.
#[derive(Debug, Default, Clone)]
pub struct Memory {
    pub start: Option<ProcSample>,
    pub peak_rss_kib: u64,
    pub peak_fds: u64,
    pub peak_threads: u64,
    pub hwm_kib: u64,
    pub end_of_load: Option<ProcSample>,
    pub after_drain: Option<ProcSample>,
    pub soak_start_rss_kib: Option<u64>,
    pub soak_end_rss_kib: Option<u64>,
    /// A second after the last client left.
    pub left_rss_kib: Option<u64>,
    /// With `--malloc-trim`: glibc's view after the drain, or why there is none.
    pub malloc: Option<Result<crate::server::Malloc, String>>,
}

pub struct Check {
    pub name: &'static str,
    pub pass: bool,
    pub detail: String,
}

impl Check {
    pub fn new(name: &'static str, pass: bool, detail: String) -> Check {
        Check { name, pass, detail }
    }
}

pub struct Run {
    pub config: Config,
    pub date: String,
    pub machine: String,
    pub target: String,
    pub ctx: Arc<Ctx>,
    /// Start and end (s) of each phase.
    pub phases: [Option<(f64, f64)>; PHASES],
    /// From the first connection to every subscriber subscribed, and to every one having a message.
    pub subscribed_secs: Option<f64>,
    pub ready_secs: Option<f64>,
    /// After posting stopped, until every subscriber had its room's last message.
    pub catch_up_secs: f64,
    pub fanout: FanoutCheck,
    pub memory: Memory,
    pub points: Vec<Point>,
    pub server_exit: Option<String>,
    /// Lines, ERROR lines and the first lines of the server's stderr.
    pub server_log: Option<(u64, u64, Vec<String>)>,
    /// The 1-minute load average at the start and the end.
    pub load_avg: (f64, f64),
    pub checks: Vec<Check>,
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn ms(micros: u64) -> String {
    format!("{:.2}", micros as f64 / 1000.0)
}

fn latency(s: &Summary) -> String {
    if s.count == 0 { "–".to_owned() } else { format!("{} / {} / {}", ms(s.p50), ms(s.p99), ms(s.max)) }
}

fn secs_or_dash(s: Option<f64>) -> String {
    s.map_or_else(|| "–".to_owned(), |s| format!("{s:.1} s"))
}

impl Run {
    fn duration(&self, phase: Phase) -> f64 {
        self.phases[phase as usize].map_or(0.0, |(a, b)| b - a)
    }

    fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.pass)
    }

    fn parameters(&self) -> String {
        let c = &self.config;
        format!(
            "`--sse {} --ws {} --rooms {} --rate {} --warmup-secs {} --fanout-secs {} --soak-secs {} --unary-rate {} \
             --reconnect-rate {} --connect-concurrency {} --drain-secs {} --mem-tolerance-mib {} --fd-tolerance {}`",
            c.sse,
            c.ws,
            c.rooms,
            c.rate,
            c.warmup_secs,
            c.fanout_secs,
            c.soak_secs,
            c.unary_rate,
            c.reconnect_rate,
            c.connect_concurrency,
            c.drain_secs,
            c.mem_tolerance_mib,
            c.fd_tolerance,
        ) + if c.malloc_trim || c.addr.is_some() { "" } else { " `--no-malloc-trim`" }
    }

    /// Average CPU use (% of one core) of the server and of this process in a phase.
    fn cpu(&self, phase: Phase) -> (f64, f64) {
        // Each sample covers the second before it; the first has none (and is before any phase).
        let Some((start, end)) = self.phases[phase as usize] else { return (0.0, 0.0) };
        let points: Vec<&Point> =
            self.points.iter().skip(1).filter(|p| p.t > start + 0.5 && p.t <= end + 0.5).collect();
        if points.is_empty() {
            return (0.0, 0.0);
        }
        let n = points.len() as f64;
        (points.iter().map(|p| p.server_cpu).sum::<f64>() / n, points.iter().map(|p| p.load_cpu).sum::<f64>() / n)
    }
}

/// The report; `full` adds the per-second timeline and the error samples.
pub fn markdown(run: &Run, full: bool) -> String {
    let ctx = &run.ctx;
    let c = &run.config;
    let f = &run.fanout;
    let mut out = String::new();
    let verdict = if run.passed() {
        "**PASS**".to_owned()
    } else {
        let failed: Vec<&str> = run.checks.iter().filter(|c| !c.pass).map(|c| c.name).collect();
        format!("**FAIL**: {}", failed.join("; "))
    };
    let _ = writeln!(out, "# apigen load and soak test: chat-example\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| date | {} |", run.date);
    let _ = writeln!(
        out,
        "| machine | {}; 1-minute load average {:.2} at the start, {:.2} at the end (other work on the machine \
         included) |",
        run.machine, run.load_avg.0, run.load_avg.1
    );
    let _ = writeln!(out, "| server | {} |", run.target);
    let _ = writeln!(out, "| parameters | {} |", run.parameters());
    let _ = writeln!(out, "| result | {verdict} |\n");

    let _ = writeln!(out, "## Checks\n\n| check | result | detail |\n|---|---|---|");
    for check in &run.checks {
        let _ =
            writeln!(out, "| {} | {} | {} |", check.name, if check.pass { "pass" } else { "**FAIL**" }, check.detail);
    }

    let per_room = (c.sse + c.ws) as f64 / c.rooms as f64;
    let _ = writeln!(
        out,
        "\n## Connections\n\n{} SSE and {} WebSocket subscribers on {} rooms ({per_room:.0} per room), connecting {} at \
         a time: all subscribed after {}, all had received a message after {}. Each SSE subscriber is one HTTP/1.1 \
         connection, each WebSocket subscriber one socket, so the server held {} client connections (peak open \
         descriptors {}).",
        c.sse,
        c.ws,
        c.rooms,
        c.connect_concurrency,
        secs_or_dash(run.subscribed_secs),
        secs_or_dash(run.ready_secs),
        c.sse + c.ws,
        run.memory.peak_fds
    );

    let _ = writeln!(
        out,
        "\n## Fan-out\n\nLatency is from just before the post was sent to the subscriber parsing the message (same \
         process, same clock), in ms as p50 / p99 / max. Deliveries are messages received by subscribers.\n"
    );
    let _ = writeln!(
        out,
        "| phase | s | posts accepted | posts/s | post latency p50 / p99 / max | deliveries | deliveries/s | SSE \
         latency | WebSocket latency |\n|---|---|---|---|---|---|---|---|---|"
    );
    for phase in [Phase::Warmup, Phase::Fanout, Phase::Soak] {
        let d = run.duration(phase).max(1e-9);
        let posts = ctx.posts_ok[phase as usize].load(Relaxed);
        let delivered: u64 = ctx.deliveries[phase as usize].iter().map(|d| d.load(Relaxed)).sum();
        let protos: &[Proto] = if phase == Phase::Soak { &POST_PROTOS } else { &[Proto::Rest] };
        let post_latency: Vec<String> = protos
            .iter()
            .map(|&p| {
                let s = ctx.op(phase, p, Method::Post).latency.summary();
                if protos.len() > 1 { format!("{}: {}", p.name(), latency(&s)) } else { latency(&s) }
            })
            .collect();
        let _ = writeln!(
            out,
            "| {} | {:.0} | {posts} | {:.1} | {} | {delivered} | {:.0} | {} | {} |",
            phase.name(),
            d,
            posts as f64 / d,
            post_latency.join("<br>"),
            delivered as f64 / d,
            latency(&ctx.latency[phase as usize][Kind::Sse as usize].summary()),
            latency(&ctx.latency[phase as usize][Kind::Ws as usize].summary()),
        );
    }
    let _ = writeln!(
        out,
        "\nThe warm-up row includes connecting. Posting stops at the end of phase 2; every subscriber then had its \
         room's last message {:.2} s later.",
        run.catch_up_secs
    );
    let skipped = ctx.post_skipped.load(Relaxed);
    if skipped > 0 {
        let _ = writeln!(
            out,
            "\nThe poster skipped {skipped} ticks with 256 posts already waiting (the server fell behind)."
        );
    }

    let reconnect = ctx.reconnect_latency.summary();
    let _ = writeln!(
        out,
        "\n### Delivery check\n\n| | |\n|---|---|\n| messages expected (per subscriber, summed) | {} |\n| received | {} \
         |\n| lost | {} (of which between an SSE subscription and its first message: {}) |\n| repeated or out of \
         order | {} |\n| SSE reconnects with `Last-Event-ID` (phase 2) | {} done of {} asked; drop to new headers \
         p50 / p99 / max {} ms |\n| connections dropped unasked | {} |",
        f.expected,
        f.received,
        f.lost,
        f.lost_at_start,
        f.repeated,
        f.planned_reconnects,
        ctx.reconnects_requested.load(Relaxed),
        latency(&reconnect),
        f.drops
    );

    let soak = run.duration(Phase::Soak).max(1e-9);
    let _ = writeln!(
        out,
        "\n## Mixed traffic (phase 2, {soak:.0} s)\n\nPostMessage at {} posts/s in turn over six protocols (these are \
         the messages the subscribers receive), GetHistory (limit 20, answers checked: the room's messages in \
         order, no holes) at {} calls/s in turn over six. Latency in ms.\n",
        c.rate, c.unary_rate
    );
    let _ = writeln!(
        out,
        "| protocol | method | over | calls | calls/s | errors | p50 | p99 | max |\n|---|---|---|---|---|---|---|---|---|"
    );
    let rows =
        POST_PROTOS.iter().map(|&p| (p, Method::Post)).chain(HISTORY_PROTOS.iter().map(|&p| (p, Method::History)));
    for (proto, method) in rows {
        let op = ctx.op(Phase::Soak, proto, method);
        let s = op.latency.summary();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {} | {} | {} | {} |",
            proto.name(),
            method.name(),
            proto.wire(method),
            s.count,
            s.count as f64 / soak,
            op.errors.load(Relaxed),
            ms(s.p50),
            ms(s.p99),
            ms(s.max)
        );
    }
    let skipped = ctx.unary_skipped.load(Relaxed);
    if skipped > 0 {
        let _ = writeln!(out, "\nThe unary traffic skipped {skipped} ticks with 256 calls already waiting.");
    }

    let m = &run.memory;
    let row = |s: Option<ProcSample>| {
        s.map_or_else(|| "– | – | –".to_owned(), |s| format!("{} | {} | {}", mib(s.rss_kib), s.fds, s.threads))
    };
    let _ = writeln!(
        out,
        "\n## Server memory\n\n`VmRSS` from `/proc/<pid>/status`, read every second.\n\n| moment | RSS | open \
         descriptors | threads |\n|---|---|---|---|"
    );
    let _ = writeln!(out, "| start (idle, before any client) | {} |", row(m.start));
    let _ =
        writeln!(out, "| peak (of the 1 s samples) | {} | {} | {} |", mib(m.peak_rss_kib), m.peak_fds, m.peak_threads);
    let _ = writeln!(out, "| peak (kernel high-water mark `VmHWM`) | {} | | |", mib(m.hwm_kib));
    let _ = writeln!(out, "| end of load (posting stopped, clients still connected) | {} |", row(m.end_of_load));
    if let Some(left) = m.left_rss_kib {
        let _ = writeln!(out, "| a second after the last client left | {} | | |", mib(left));
    }
    let _ =
        writeln!(out, "| after the drain (every client gone, then {} s idle) | {} |", c.drain_secs, row(m.after_drain));
    match &m.malloc {
        Some(Ok(malloc)) => {
            let _ = writeln!(
                out,
                "| after `malloc_trim(0)` (then) | {} | | |\n\nglibc's `malloc_stats()` after the drain: {} held from \
                 the system, {} of it in use by the server; the rest is free memory glibc keeps in its arenas \
                 (returned by `malloc_trim(0)`), not a leak.",
                mib(malloc.rss_after_trim_kib),
                mib(malloc.system / 1024),
                mib(malloc.in_use / 1024)
            );
        }
        Some(Err(e)) => {
            let _ = writeln!(out, "\nThe allocator check failed ({e}), so the memory check used the raw RSS.");
        }
        None => {}
    }
    if let (Some(a), Some(b)) = (m.soak_start_rss_kib, m.soak_end_rss_kib) {
        let _ = writeln!(
            out,
            "\nDuring phase 2, with every client connected: {} early on (at most 5 s in), {} at its end ({:+.1} MiB \
             over {soak:.0} s).",
            mib(a),
            mib(b),
            (b as f64 - a as f64) / 1024.0
        );
    }

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let _ = writeln!(
        out,
        "\n## CPU\n\nAverage use, % of one core ({cores} cores in all, shared with whatever else runs).\n"
    );
    let _ = writeln!(out, "| phase | server | apigen-load |\n|---|---|---|");
    for phase in Phase::ALL {
        let (server, load) = run.cpu(phase);
        let _ = writeln!(out, "| {} | {server:.0} % | {load:.0} % |", phase.name());
    }

    let counts = ctx.errors.counts();
    let _ = writeln!(out, "\n## Errors\n");
    if counts.is_empty() {
        let _ = writeln!(out, "None in the clients.");
    } else {
        let _ = writeln!(out, "| kind | count |\n|---|---|");
        for (kind, n) in &counts {
            let _ = writeln!(out, "| {kind} | {n} |");
        }
        if full {
            let _ = writeln!(out, "\nThe first ones:\n\n```text");
            for line in ctx.errors.samples() {
                let _ = writeln!(out, "{line}");
            }
            let _ = writeln!(out, "```");
        }
    }
    if let Some((lines, errors, first)) = &run.server_log {
        let stats = if run.memory.malloc.is_some() { ", `malloc_stats()`'s included" } else { "" };
        let _ = writeln!(out, "\nThe server wrote {lines} lines to stderr ({errors} at ERROR level{stats}).");
        if full && !first.is_empty() {
            let _ = writeln!(out, "\n```text");
            for line in first {
                let _ = writeln!(out, "{line}");
            }
            let _ = writeln!(out, "```");
        }
    }
    if let Some(exit) = &run.server_exit {
        let _ = writeln!(out, "The server {exit}.");
    }

    if full {
        let every = if run.points.len() > 60 { 30 } else { 5 };
        let _ = writeln!(
            out,
            "\n## Timeline (every {every} s)\n\n| t (s) | phase | subscribers with a message | deliveries/s | posts/s | \
             unary/s | server RSS | descriptors | server CPU | load CPU |\n|---|---|---|---|---|---|---|---|---|---|"
        );
        for (i, p) in run.points.iter().enumerate() {
            if i % every != 0 && i + 1 != run.points.len() {
                continue;
            }
            let (rss, fds) = p.server.map_or(("–".to_owned(), 0), |s| (mib(s.rss_kib), s.fds));
            let _ = writeln!(
                out,
                "| {:.0} | {} | {} | {:.0} | {:.0} | {:.0} | {rss} | {fds} | {:.0} % | {:.0} % |",
                p.t,
                p.phase.name(),
                p.ready,
                p.delivered_per_s,
                p.posted_per_s,
                p.unary_per_s,
                p.server_cpu,
                p.load_cpu
            );
        }
    }
    out
}

fn summary_json(s: &Summary) -> serde_json::Value {
    json!({"count": s.count, "mean_us": s.mean, "p50_us": s.p50, "p90_us": s.p90, "p99_us": s.p99, "p999_us": s.p999, "max_us": s.max})
}

fn sample_json(s: Option<ProcSample>) -> serde_json::Value {
    s.map_or(serde_json::Value::Null, |s| json!({"rss_kib": s.rss_kib, "fds": s.fds, "threads": s.threads}))
}

pub fn json(run: &Run) -> serde_json::Value {
    let ctx = &run.ctx;
    let f = &run.fanout;
    let m = &run.memory;
    let phases: Vec<_> = Phase::ALL
        .iter()
        .map(|&phase| {
            let (start, end) = run.phases[phase as usize].unwrap_or_default();
            let ops: Vec<_> = Proto::ALL
                .iter()
                .flat_map(|&p| [(p, Method::Post), (p, Method::History)])
                .filter_map(|(proto, method)| {
                    let op = ctx.op(phase, proto, method);
                    let s = op.latency.summary();
                    let errors = op.errors.load(Relaxed);
                    (s.count + errors > 0).then(|| {
                        json!({"protocol": proto.name(), "method": method.name(), "ok": s.count, "errors": errors,
                               "latency": summary_json(&s)})
                    })
                })
                .collect();
            let (server_cpu, load_cpu) = run.cpu(phase);
            json!({
                "phase": phase.name(),
                "start_s": start,
                "end_s": end,
                "posts_accepted": ctx.posts_ok[phase as usize].load(Relaxed),
                "deliveries": {
                    "sse": ctx.deliveries[phase as usize][Kind::Sse as usize].load(Relaxed),
                    "ws": ctx.deliveries[phase as usize][Kind::Ws as usize].load(Relaxed),
                },
                "delivery_latency": {
                    "sse": summary_json(&ctx.latency[phase as usize][Kind::Sse as usize].summary()),
                    "ws": summary_json(&ctx.latency[phase as usize][Kind::Ws as usize].summary()),
                },
                "calls": ops,
                "cpu_percent": {"server": server_cpu, "load": load_cpu},
            })
        })
        .collect();
    json!({
        "date": run.date,
        "machine": run.machine,
        "server": run.target,
        "command_line": run.config.command_line,
        "parameters": run.parameters(),
        "passed": run.passed(),
        "checks": run.checks.iter().map(|c| json!({"name": c.name, "pass": c.pass, "detail": c.detail})).collect::<Vec<_>>(),
        "subscribed_s": run.subscribed_secs,
        "ready_s": run.ready_secs,
        "catch_up_s": run.catch_up_secs,
        "phases": phases,
        "fanout": {
            "clients": f.clients, "ready": f.ready, "expected": f.expected, "received": f.received, "lost": f.lost,
            "lost_at_start": f.lost_at_start, "repeated": f.repeated, "beyond_final": f.beyond_final,
            "planned_reconnects": f.planned_reconnects,
            "reconnects_requested": ctx.reconnects_requested.load(Relaxed),
            "reconnect_latency": summary_json(&ctx.reconnect_latency.summary()),
            "drops": f.drops,
            "post_skipped": ctx.post_skipped.load(Relaxed),
            "unary_skipped": ctx.unary_skipped.load(Relaxed),
        },
        "memory": {
            "start": sample_json(m.start), "end_of_load": sample_json(m.end_of_load),
            "after_drain": sample_json(m.after_drain), "peak_rss_kib": m.peak_rss_kib, "hwm_kib": m.hwm_kib,
            "peak_fds": m.peak_fds, "peak_threads": m.peak_threads,
            "soak_start_rss_kib": m.soak_start_rss_kib, "left_rss_kib": m.left_rss_kib, "soak_end_rss_kib": m.soak_end_rss_kib,
            "malloc": m.malloc.as_ref().map(|r| match r {
                Ok(x) => json!({"system_bytes": x.system, "in_use_bytes": x.in_use, "rss_after_trim_kib": x.rss_after_trim_kib}),
                Err(e) => json!({"error": e}),
            }),
        },
        "errors": ctx.errors.counts().into_iter().map(|(k, n)| json!({"kind": k, "count": n})).collect::<Vec<_>>(),
        "error_samples": ctx.errors.samples(),
        "server_log": run.server_log.as_ref().map(|(lines, errors, first)| json!({"lines": lines, "errors": errors, "first": first})),
        "server_exit": run.server_exit,
        "load_average": [run.load_avg.0, run.load_avg.1],
        "timeline": run.points.iter().map(|p| json!({
            "t": p.t, "phase": p.phase.name(), "ready": p.ready,
            "server_rss_kib": p.server.map(|s| s.rss_kib), "server_fds": p.server.map(|s| s.fds),
            "server_threads": p.server.map(|s| s.threads),
            "server_cpu": p.server_cpu, "load_cpu": p.load_cpu, "load_rss_kib": p.load.rss_kib,
            "delivered_per_s": p.delivered_per_s, "posted_per_s": p.posted_per_s, "unary_per_s": p.unary_per_s,
        })).collect::<Vec<_>>(),
    })
}
