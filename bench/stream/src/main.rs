//! `apigen-bench-stream`: SSE and WebSocket fan-out of the chat example
//! against `stream-baseline`, a hand-written axum server with a tokio
//! broadcast channel per room (see README.md).
//!
//! For each run, transport (SSE, WebSocket) and server (apigen's chat example,
//! the baseline), on a fresh server process pinned to one core:
//!
//! 1. N subscribers connect to one room and subscribe; the server's RSS before
//!    and after, divided by N, is the memory per idle connection;
//! 2. one publisher posts `--rate` messages a second over REST, each text
//!    carrying its send time; once every subscriber has a message and the
//!    warm-up has passed, `--secs` seconds are measured: deliveries per second,
//!    delivery latency (post sent to message parsed) and the server's CPU;
//! 3. posting stops, every subscriber must reach the last message, and none
//!    may have lost or repeated one.
//!
//! The subscribers, the poster, the check and the histograms are `apigen-load`'s.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use apigen_load::check::fanout_check;
use apigen_load::load::{self, Ctx, Kind, Phase, PostFuture, Proto, now_ns, secs};
use apigen_load::{procfs, server};
use chat_example::v1::PostMessageRequest;
use clap::Parser;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "apigen-bench-stream",
    about = "SSE and WebSocket fan-out and idle memory: the chat example against a hand-written axum broadcast server"
)]
struct Args {
    /// Quick mode: 200 subscribers, 4 s measured, 3 runs (under 2 minutes).
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// Full mode (the default): 1000 subscribers, 20 s measured, 3 runs.
    #[arg(long)]
    full: bool,
    /// Subscribers per measurement, all in one room [default: 1000, quick 200].
    #[arg(long)]
    subscribers: Option<usize>,
    /// Messages posted per second by the one publisher [default: 50].
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Seconds measured per server and transport [default: 20, quick 4].
    #[arg(long)]
    secs: Option<u64>,
    /// Seconds of load before measuring, once every subscriber has a message [default: 3, quick 1].
    #[arg(long)]
    warmup_secs: Option<u64>,
    /// Runs; every figure is the median over them [default: 3].
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Seconds between the last subscription and the idle-memory reading [default: 2, quick 1].
    #[arg(long)]
    settle_secs: Option<u64>,
    /// Subscribers connecting at once.
    #[arg(long, default_value_t = 64)]
    connect_concurrency: usize,
    /// Transports, comma-separated: sse, ws.
    #[arg(long, default_value = "sse,ws", value_delimiter = ',')]
    transports: Vec<String>,
    /// The chat example's release binary [default: beside this one].
    #[arg(long)]
    chat_bin: Option<PathBuf>,
    /// The baseline's binary [default: beside this one].
    #[arg(long)]
    baseline_bin: Option<PathBuf>,
    /// One more argument for the baseline (repeatable), e.g. `--baseline-arg=--ws-read-buffer=8192`.
    #[arg(long, allow_hyphen_values = true)]
    baseline_arg: Vec<String>,
    /// CPUs the servers run on (`taskset -c`).
    #[arg(long, default_value = "0")]
    server_cpus: String,
    /// CPUs this process (subscribers and publisher) runs on.
    #[arg(long, default_value = "1")]
    client_cpus: String,
    /// No pinning at all.
    #[arg(long)]
    no_pin: bool,
    /// Also write everything as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// The settings of one invocation, modes resolved.
#[derive(Debug, Clone)]
struct Plan {
    mode: &'static str,
    subscribers: usize,
    rate: f64,
    secs: u64,
    warmup_secs: u64,
    runs: usize,
    settle_secs: u64,
    connect_concurrency: usize,
    kinds: Vec<Kind>,
    servers: [Target; 2],
    pin: Option<(String, String)>,
}

#[derive(Debug, Clone)]
struct Target {
    name: &'static str,
    bin: PathBuf,
    args: Vec<String>,
}

/// One server, one transport, one run.
#[derive(Debug, Clone, Default)]
struct Measure {
    events_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    /// Server CPU over the measured window, % of one core.
    server_cpu_pct: f64,
    /// Server CPU time per delivered event, µs.
    server_cpu_us_per_event: f64,
    client_cpu_pct: f64,
    /// (RSS with the subscribers idle − RSS before they connected) / subscribers, KiB.
    idle_kib_per_conn: f64,
    rss_start_kib: u64,
    rss_idle_kib: u64,
    fds_idle: u64,
    connect_secs: f64,
    posts: u64,
    expected: u64,
    received: u64,
    lost: u64,
    repeated: u64,
    errors: u64,
    error_samples: Vec<String>,
    server_exit: String,
}

impl Measure {
    fn passed(&self) -> bool {
        self.lost == 0 && self.repeated == 0 && self.errors == 0 && self.received == self.expected && self.posts > 0
    }

    fn json(&self) -> Value {
        json!({
            "events_per_s": self.events_per_s,
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "max_ms": self.max_ms,
            "server_cpu_pct": self.server_cpu_pct,
            "server_cpu_us_per_event": self.server_cpu_us_per_event,
            "client_cpu_pct": self.client_cpu_pct,
            "idle_kib_per_conn": self.idle_kib_per_conn,
            "rss_start_kib": self.rss_start_kib,
            "rss_idle_kib": self.rss_idle_kib,
            "fds_idle": self.fds_idle,
            "connect_secs": self.connect_secs,
            "posts": self.posts,
            "expected": self.expected,
            "received": self.received,
            "lost": self.lost,
            "repeated": self.repeated,
            "errors": self.errors,
            "error_samples": self.error_samples,
            "server_exit": self.server_exit,
            "passed": self.passed(),
        })
    }
}

/// The table's rows: name, how to read a measure, and whether higher is better.
type Metric = (&'static str, fn(&Measure) -> f64, bool);

const METRICS: [Metric; 6] = [
    ("delivered events/s", |m| m.events_per_s, true),
    ("p50 delivery latency, ms", |m| m.p50_ms, false),
    ("p99 delivery latency, ms", |m| m.p99_ms, false),
    ("server CPU, % of one core", |m| m.server_cpu_pct, false),
    ("server CPU per delivered event, µs", |m| m.server_cpu_us_per_event, false),
    ("memory per idle connection, KiB", |m| m.idle_kib_per_conn, false),
];

fn main() -> ExitCode {
    let args = Args::parse();
    let plan = match plan(&args) {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("apigen-bench-stream: {e}");
            return ExitCode::from(2);
        }
    };
    // Before pinning, which `available_parallelism` (the core count it reports) follows.
    let machine = procfs::machine();
    // Before the runtime starts its threads, which inherit the affinity (and
    // size the runtime: one worker on one core).
    if let Some((_, client)) = &plan.pin
        && let Err(e) = pin_self(client)
    {
        eprintln!("apigen-bench-stream: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("apigen-bench-stream: cannot start tokio: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(bench(plan, machine, args.json)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("apigen-bench-stream: {e}");
            ExitCode::from(2)
        }
    }
}

fn plan(args: &Args) -> Result<Plan, String> {
    let quick = args.quick && !args.full;
    let kinds = args
        .transports
        .iter()
        .map(|t| match t.as_str() {
            "sse" => Ok(Kind::Sse),
            "ws" | "websocket" => Ok(Kind::Ws),
            other => Err(format!("--transports: unknown transport `{other}` (sse, ws)")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if kinds.is_empty() {
        return Err("--transports names none".to_owned());
    }
    let plan = Plan {
        mode: if quick { "quick" } else { "full" },
        subscribers: args.subscribers.unwrap_or(if quick { 200 } else { 1000 }),
        rate: args.rate,
        secs: args.secs.unwrap_or(if quick { 4 } else { 20 }),
        warmup_secs: args.warmup_secs.unwrap_or(if quick { 1 } else { 3 }),
        runs: args.runs,
        settle_secs: args.settle_secs.unwrap_or(if quick { 1 } else { 2 }),
        connect_concurrency: args.connect_concurrency.max(1),
        kinds,
        servers: [
            Target {
                name: "apigen",
                bin: args.chat_bin.clone().unwrap_or_else(|| beside("chat-example")),
                args: Vec::new(),
            },
            Target {
                name: "baseline",
                bin: args.baseline_bin.clone().unwrap_or_else(|| beside("stream-baseline")),
                args: args.baseline_arg.clone(),
            },
        ],
        pin: (!args.no_pin).then(|| (args.server_cpus.clone(), args.client_cpus.clone())),
    };
    if plan.subscribers == 0 || plan.runs == 0 || plan.secs == 0 {
        return Err("--subscribers, --runs and --secs must be at least 1".to_owned());
    }
    if plan.rate.is_nan() || plan.rate <= 0.0 {
        return Err("--rate must be above 0".to_owned());
    }
    for target in &plan.servers {
        if !target.bin.is_file() {
            return Err(format!(
                "{} is missing: build it with `cargo build --release -p chat-example -p apigen-bench-stream`",
                target.bin.display()
            ));
        }
    }
    Ok(plan)
}

/// A binary beside this one (both in `target/release`).
fn beside(name: &str) -> PathBuf {
    std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.join(name))).unwrap_or_else(|| PathBuf::from(name))
}

/// Pins this process's (so far only) thread to `cpus` with `taskset`.
fn pin_self(cpus: &str) -> Result<(), String> {
    let status = std::process::Command::new("taskset")
        .args(["-p", "-c", cpus, &std::process::id().to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot run taskset (util-linux), or pass --no-pin: {e}"))?;
    if !status.success() {
        return Err(format!("`taskset -p -c {cpus}` failed ({status}); pass other --client-cpus or --no-pin"));
    }
    Ok(())
}

async fn bench(plan: Plan, machine: String, json_path: Option<PathBuf>) -> Result<bool, String> {
    now_ns(); // starts the clock
    let needed = plan.subscribers as u64 + 256;
    if let Some((Some(soft), hard)) = procfs::open_files_limit("self")
        && soft < needed
    {
        let hard = hard.map_or_else(|| "unlimited".to_owned(), |h| h.to_string());
        return Err(format!(
            "the open-file limit is {soft}, and {} subscribers need about {needed} (and each server as many): \
             run bench/stream/run.sh, which raises it to the hard limit ({hard}), or `ulimit -n {needed}` first",
            plan.subscribers
        ));
    }
    let date = procfs::utc_now();
    let load_start = procfs::load_average();
    eprintln!(
        "{} mode: {} subscribers in one room, {} posts/s, {} s measured after {} s of warm-up, {} run(s); \
         servers on CPU {}, clients on CPU {}",
        plan.mode,
        plan.subscribers,
        plan.rate,
        plan.secs,
        plan.warmup_secs,
        plan.runs,
        plan.pin.as_ref().map_or("any", |p| p.0.as_str()),
        plan.pin.as_ref().map_or("any", |p| p.1.as_str()),
    );

    // results[kind][server][run]
    let mut results: Vec<[Vec<Measure>; 2]> = plan.kinds.iter().map(|_| [Vec::new(), Vec::new()]).collect();
    let mut runs_json = Vec::new();
    for run in 0..plan.runs {
        for (k, &kind) in plan.kinds.iter().enumerate() {
            // Alternate which server goes first, so neither always meets a warmer (or busier) machine.
            let order = if run % 2 == 0 { [0, 1] } else { [1, 0] };
            for s in order {
                let target = &plan.servers[s];
                eprintln!("{:7.1} s  run {}/{}: {} over {}", secs(), run + 1, plan.runs, target.name, kind.name());
                let measure = measure(&plan, target, kind, &format!("bench-{run}-{k}-{s}")).await?;
                eprintln!(
                    "{:7.1} s    {:.0} events/s, p50 {:.2} ms, p99 {:.2} ms, server CPU {:.0}% ({:.2} µs/event), \
                     client CPU {:.0}%, {:.1} KiB per idle connection; {} lost, {} repeated, {} errors",
                    secs(),
                    measure.events_per_s,
                    measure.p50_ms,
                    measure.p99_ms,
                    measure.server_cpu_pct,
                    measure.server_cpu_us_per_event,
                    measure.client_cpu_pct,
                    measure.idle_kib_per_conn,
                    measure.lost,
                    measure.repeated,
                    measure.errors,
                );
                if measure.client_cpu_pct > 90.0 {
                    eprintln!(
                        "warning: the clients used {:.0}% of their core: latency may be the clients'; lower --rate",
                        measure.client_cpu_pct
                    );
                }
                runs_json.push(json!({
                    "run": run + 1,
                    "transport": kind.name(),
                    "server": target.name,
                    "measure": measure.json(),
                }));
                results[k][s].push(measure);
            }
        }
    }

    let mut table = Vec::new();
    let mut markdown = String::from("| metric | apigen | baseline | ratio apigen/baseline |\n|---|---:|---:|---:|\n");
    let mut all_passed = true;
    for (k, &kind) in plan.kinds.iter().enumerate() {
        let [apigen, baseline] = &results[k];
        for (name, get, higher_is_better) in METRICS {
            let a = median(apigen.iter().map(get).collect());
            let b = median(baseline.iter().map(get).collect());
            let ratio = median(apigen.iter().zip(baseline).map(|(x, y)| ratio(get(x), get(y))).collect());
            markdown.push_str(&format!(
                "| {} {name} | {} | {} | {} |\n",
                kind.name(),
                figure(a),
                figure(b),
                figure_ratio(ratio)
            ));
            table.push(json!({
                "transport": kind.name(),
                "metric": name,
                "apigen": a,
                "baseline": b,
                "ratio": ratio,
                "higher_is_better": higher_is_better,
            }));
        }
        let check = |ms: &[Measure]| {
            let lost: u64 = ms.iter().map(|m| m.lost).sum();
            let repeated: u64 = ms.iter().map(|m| m.repeated).sum();
            let errors: u64 = ms.iter().map(|m| m.errors).sum();
            let received: u64 = ms.iter().map(|m| m.received).sum();
            let expected: u64 = ms.iter().map(|m| m.expected).sum();
            let ok = ms.iter().all(Measure::passed);
            (format!("{lost} / {repeated} / {errors} ({received} of {expected} received)"), ok)
        };
        let (a, a_ok) = check(apigen);
        let (b, b_ok) = check(baseline);
        all_passed &= a_ok && b_ok;
        markdown.push_str(&format!(
            "| {} lost / repeated / errors, all runs | {a} | {b} | {} |\n",
            kind.name(),
            if a_ok && b_ok { "pass" } else { "FAIL" }
        ));
    }
    let load_end = procfs::load_average();
    let header = format!(
        "{date}; {machine}; {} mode: {} subscribers in one room, {} posts/s, {} s measured, median of {} run(s); \
         servers pinned to CPU {}, clients to CPU {}; load average {load_start:.2} at the start, {load_end:.2} at the end.",
        plan.mode,
        plan.subscribers,
        plan.rate,
        plan.secs,
        plan.runs,
        plan.pin.as_ref().map_or("(not pinned)", |p| p.0.as_str()),
        plan.pin.as_ref().map_or("(not pinned)", |p| p.1.as_str()),
    );
    println!("{header}\n\n{markdown}");
    if let Some(path) = json_path {
        let document = json!({
            "date": date,
            "machine": machine,
            "mode": plan.mode,
            "subscribers": plan.subscribers,
            "rooms": 1,
            "rate": plan.rate,
            "secs": plan.secs,
            "warmup_secs": plan.warmup_secs,
            "runs": plan.runs,
            "pinned": plan.pin.as_ref().map(|(s, c)| json!({"servers": s, "clients": c})),
            "load_average": [load_start, load_end],
            "servers": plan.servers.iter().map(|t| json!({"name": t.name, "bin": t.bin, "args": t.args})).collect::<Vec<_>>(),
            "table": table,
            "measures": runs_json,
            "passed": all_passed,
        });
        let text = serde_json::to_string_pretty(&document).map_err(|e| e.to_string())?;
        std::fs::write(&path, text + "\n").map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    Ok(all_passed)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.retain(|v| !v.is_nan());
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { f64::NAN } else { a / b }
}

fn figure(v: f64) -> String {
    match v.abs() {
        v if v.is_nan() => "–".to_owned(),
        v if v >= 1000.0 => format!("{:.0}", v.round()),
        v if v >= 10.0 => format!("{v:.1}"),
        _ => format!("{v:.2}"),
    }
}

fn figure_ratio(v: f64) -> String {
    if v.is_nan() { "–".to_owned() } else { format!("{v:.2}") }
}

/// One server, one transport: idle memory, then fan-out, then the check.
async fn measure(plan: &Plan, target: &Target, kind: Kind, room_id: &str) -> Result<Measure, String> {
    let wrapper: Vec<String> = match &plan.pin {
        Some((cpus, _)) => vec!["taskset".to_owned(), "-c".to_owned(), cpus.clone()],
        None => Vec::new(),
    };
    let mut started = server::start_under(&wrapper, &target.bin, &target.args).await?;
    let result = fan_out(plan, &started.addr, started.pid, kind, room_id).await;
    let exit = server::stop(&mut started).await;
    let mut measure = result?;
    let log_errors = started.log.errors.load(Relaxed);
    if log_errors > 0 {
        measure.errors += log_errors;
        measure.error_samples.push(format!("{log_errors} ERROR lines in the server's log"));
    }
    measure.server_exit = exit;
    Ok(measure)
}

async fn fan_out(plan: &Plan, addr: &str, pid: u32, kind: Kind, room_id: &str) -> Result<Measure, String> {
    let pid_s = pid.to_string();
    let sample = || procfs::sample(&pid_s).ok_or_else(|| "the server is gone".to_owned());
    let base = format!("http://{addr}");
    let ws_url = format!("ws://{addr}/ws");
    let n = plan.subscribers;
    let room = format!("rooms/{room_id}");
    let ctx = Arc::new(Ctx::new(base.clone(), ws_url, vec![room], vec![(kind, 0); n]));
    let mut m = Measure::default();

    // Idle memory: the server alone, then with every subscriber connected and subscribed.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = sample()?;
    m.rss_start_kib = before.rss_kib;
    let connecting = Arc::new(Semaphore::new(plan.connect_concurrency));
    let (stop_subs, subs_stop) = watch::channel(false);
    let sse_http = reqwest::Client::builder().pool_max_idle_per_host(0).build().map_err(|e| e.to_string())?;
    let connect_start = secs();
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let (ctx, connecting, stop) = (Arc::clone(&ctx), Arc::clone(&connecting), subs_stop.clone());
            match kind {
                Kind::Sse => tokio::spawn(load::sse_subscriber(ctx, i, sse_http.clone(), connecting, stop)),
                Kind::Ws => tokio::spawn(load::ws_subscriber(ctx, i, connecting, stop)),
            }
        })
        .collect();
    let subscribed = || ctx.subs.iter().filter(|s| s.subscribed_ns.load(Relaxed) > 0).count();
    while subscribed() < n && secs() - connect_start < 120.0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    m.connect_secs = secs() - connect_start;
    if subscribed() < n {
        ctx.errors.record("connect", format!("{} of {n} subscribed within 120 s", subscribed()));
    }
    tokio::time::sleep(Duration::from_secs(plan.settle_secs)).await;
    let idle = sample()?;
    m.rss_idle_kib = idle.rss_kib;
    m.fds_idle = idle.fds;
    m.idle_kib_per_conn = (idle.rss_kib as f64 - before.rss_kib as f64) / n as f64;

    // Fan-out: one publisher at a fixed rate over REST.
    let http = reqwest::Client::new();
    let (stop_posting, posting_stop) = watch::channel(false);
    let post = move |_: Proto, room: String, text: String| -> PostFuture {
        let (http, base) = (http.clone(), base.clone());
        Box::pin(async move {
            let request = PostMessageRequest { room, author: "bench".to_owned(), text };
            load::post_rest(&http, &base, &request).await
        })
    };
    let poster = tokio::spawn(load::post_at_rate(Arc::clone(&ctx), plan.rate, posting_stop, post));
    let warm_start = secs();
    while ctx.ready() < n && secs() - warm_start < 60.0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if ctx.ready() < n {
        ctx.errors.record("first message", format!("{} of {n} had a message within 60 s", ctx.ready()));
    }
    tokio::time::sleep(Duration::from_secs(plan.warmup_secs)).await;

    let (server0, client0) = (sample()?, procfs::sample("self").unwrap_or_default());
    let t0 = secs();
    ctx.set_phase(Phase::Fanout);
    tokio::time::sleep(Duration::from_secs(plan.secs)).await;
    ctx.set_phase(Phase::Drain);
    let t1 = secs();
    let (server1, client1) = (sample()?, procfs::sample("self").unwrap_or_default());
    let _ = stop_posting.send(true);
    let _ = poster.await;

    let window = (t1 - t0).max(1e-3);
    let tck = procfs::clock_ticks() as f64;
    let delivered = ctx.deliveries[Phase::Fanout as usize][kind as usize].load(Relaxed);
    let server_cpu_s = server1.cpu_ticks.saturating_sub(server0.cpu_ticks) as f64 / tck;
    m.events_per_s = delivered as f64 / window;
    m.server_cpu_pct = server_cpu_s / window * 100.0;
    m.server_cpu_us_per_event = if delivered == 0 { f64::NAN } else { server_cpu_s * 1e6 / delivered as f64 };
    m.client_cpu_pct = client1.cpu_ticks.saturating_sub(client0.cpu_ticks) as f64 / tck / window * 100.0;
    let latency = ctx.latency[Phase::Fanout as usize][kind as usize].summary();
    (m.p50_ms, m.p99_ms, m.max_ms) =
        (latency.p50 as f64 / 1000.0, latency.p99 as f64 / 1000.0, latency.max as f64 / 1000.0);

    // The check: every subscriber reaches the last accepted post, nothing lost or repeated.
    let room = &ctx.rooms[0];
    let (posts, last) = {
        let posts = room.posts.lock().map_err(|_| "poisoned")?;
        (posts.len() as u64, posts.iter().map(|&(_, seq)| seq).max().unwrap_or(0))
    };
    m.posts = posts;
    room.final_seq.store(last, Relaxed);
    let drain_start = secs();
    let behind = || ctx.subs.iter().filter(|s| s.last.load(Relaxed) < last).count();
    while behind() > 0 && secs() - drain_start < 30.0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let check = fanout_check(&ctx);
    (m.expected, m.received, m.lost, m.repeated) = (check.expected, check.received, check.lost, check.repeated);
    if check.ready < n as u64 {
        ctx.errors.record("no message", format!("{} of {n} subscribers received nothing", n as u64 - check.ready));
    }

    // Everybody leaves before the server stops, so no drop counts as an error.
    let _ = stop_subs.send(true);
    for task in tasks {
        if tokio::time::timeout(Duration::from_secs(30), task).await.is_err() {
            ctx.errors.record("disconnect", "a subscriber did not stop within 30 s");
        }
    }
    ctx.ws_pool.lock().map(|mut p| p.clear()).unwrap_or_default();
    drop(sse_http);
    m.errors = ctx.errors.total();
    m.error_samples = ctx.errors.samples();
    Ok(m)
}
