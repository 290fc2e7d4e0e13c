//! `apigen-load`: a load and soak test of the chat example (see README.md).
//!
//! Thousands of SSE and WebSocket subscribers spread over the rooms of one
//! chat-example instance check that every message posted to their room
//! arrives once and in order (phase 1); then mixed unary traffic over every
//! protocol and SSE reconnects resuming with `Last-Event-ID` run beside them
//! (phase 2, the soak). The server's memory and descriptors are sampled every
//! second and must come back near where they started once the clients leave.

mod args;
mod report;

use std::process::ExitCode;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apigen_load::{check, hist, load, procfs, server};
use tokio::sync::{Semaphore, watch};

use crate::args::{Config, Parsed, USAGE};
use crate::check::fanout_check;
use crate::load::{Ctx, Kind, PHASES, Phase, Proto, now_ns, secs};
use crate::report::{Check, Memory, Run};

fn main() -> ExitCode {
    let config = match args::parse(std::env::args().skip(1)) {
        Ok(Parsed::Run(config)) => *config,
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("apigen-load: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("apigen-load: cannot start tokio: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(config)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("apigen-load: {e}");
            ExitCode::from(2)
        }
    }
}

/// The run; `Ok(passed)`, or why it could not run.
async fn run(config: Config) -> Result<bool, String> {
    now_ns(); // starts the clock
    let clients = (config.sse + config.ws) as u64;
    let needed = clients + 256;
    if let Some((Some(soft), hard)) = procfs::open_files_limit("self")
        && soft < needed
    {
        let hard = hard.map_or_else(|| "unlimited".to_owned(), |h| h.to_string());
        return Err(format!(
            "the open-file limit is {soft}, and {clients} clients need about {needed} (and the server, which \
             inherits it, as many): run tests/load/run.sh, which raises it to the hard limit ({hard}), or \
             `ulimit -n {needed}` first"
        ));
    }
    let date = procfs::utc_now();
    let machine = procfs::machine();
    let load_avg_start = procfs::load_average();

    let mut started = None;
    let (addr, pid, target) = match &config.addr {
        Some(addr) => {
            if let Some(pid) = config.pid
                && let Some((Some(soft), _)) = procfs::open_files_limit(&pid.to_string())
                && soft < needed
            {
                eprintln!("warning: the server's open-file limit is {soft}; {clients} clients need about {needed}");
            }
            let target = match config.pid {
                Some(pid) => format!("a running server at {addr}, pid {pid}"),
                None => format!("a running server at {addr} (no --pid: memory not measured)"),
            };
            (addr.clone(), config.pid, target)
        }
        None => {
            let bin = config.server_bin.clone().unwrap_or_else(server::default_bin);
            let server = server::start(&bin, &config.server_args).await?;
            let (addr, pid) = (server.addr.clone(), server.pid);
            eprintln!("started {} (pid {pid}) on {addr}", bin.display());
            let mut target = format!("`{} --addr 127.0.0.1:0", bin.display());
            for arg in &config.server_args {
                target.push(' ');
                target.push_str(arg);
            }
            target.push_str(&format!("` (release build, started by apigen-load), pid {pid}, {addr}"));
            started = Some(server);
            (addr, Some(pid), target)
        }
    };

    let log = started.as_ref().map(|s| Arc::clone(&s.log));
    let measured = measure(&config, &addr, pid, log).await;
    let server_exit = match &mut started {
        Some(server) => Some(server::stop(server).await),
        None => None,
    };
    let mut run = measured?;
    run.date = date;
    run.machine = machine;
    run.target = target;
    run.load_avg = (load_avg_start, procfs::load_average());
    run.server_log = started.as_ref().map(|s| {
        let first = s.log.first.lock().map(|f| f.clone()).unwrap_or_default();
        (s.log.lines.load(Relaxed), s.log.errors.load(Relaxed), first)
    });
    run.server_exit = server_exit;
    run.checks = checks(&config, &run);
    let passed = run.checks.iter().all(|c| c.pass);

    println!("{}", report::markdown(&run, false));
    if let Some(path) = &config.report {
        let text = if path.extension().is_some_and(|e| e == "json") {
            serde_json::to_string_pretty(&report::json(&run)).unwrap_or_default()
        } else {
            report::markdown(&run, true)
        };
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    Ok(passed)
}

/// Connect, warm up, phase 1, phase 2, drain: everything measured against the server at `addr`.
async fn measure(
    config: &Config,
    addr: &str,
    pid: Option<u32>,
    log: Option<Arc<server::ServerLog>>,
) -> Result<Run, String> {
    let base = format!("http://{addr}");
    let ws_url = format!("ws://{addr}/ws");
    let http = reqwest::Client::new();
    let health = http.get(format!("{base}/healthz")).send().await.map_err(|e| format!("{base}/healthz: {e}"))?;
    if !health.status().is_success() {
        return Err(format!("{base}/healthz answered {}", health.status()));
    }
    drop((health, http));

    // Rooms of this run only, so a running server's other rooms do not matter.
    let run_id = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
        ^ u64::from(std::process::id());
    let rooms: Vec<String> = (0..config.rooms).map(|k| format!("rooms/load-{run_id:x}-{k}")).collect();
    let mut subs = Vec::new();
    for i in 0..config.sse.max(config.ws) {
        if i < config.sse {
            subs.push((Kind::Sse, i % config.rooms));
        }
        if i < config.ws {
            subs.push((Kind::Ws, i % config.rooms));
        }
    }
    let ctx = Arc::new(Ctx::new(base.clone(), ws_url.clone(), rooms, subs));
    let points = Arc::new(Mutex::new(Vec::new()));
    let (stop_sampler, sampler_stop) = watch::channel(false);
    let sampler = tokio::spawn(load::sampler(Arc::clone(&ctx), pid, Arc::clone(&points), sampler_stop));
    let sample = || pid.and_then(|p| procfs::sample(&p.to_string()));

    // Memory at the start: the idle server, before any client.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mem_start = sample();
    let mut phases = [None; PHASES];

    let clients = Arc::new(load::Clients::new(&base, &ws_url).await?);
    let (stop_traffic, traffic_stop) = watch::channel(false);
    let warm_start = secs();
    eprintln!(
        "{warm_start:7.1} s  connecting {} SSE and {} WebSocket subscribers over {} rooms, posting {}/s",
        config.sse, config.ws, config.rooms, config.rate
    );
    let poster = tokio::spawn(load::poster(Arc::clone(&ctx), Arc::clone(&clients), config.rate, traffic_stop.clone()));
    let (stop_subs, subs_stop) = watch::channel(false);
    let connecting = Arc::new(Semaphore::new(config.connect_concurrency));
    // One connection per subscriber; none kept idle, so none outlives the run.
    let sse_http = reqwest::Client::builder().pool_max_idle_per_host(0).build().map_err(|e| e.to_string())?;
    let mut tasks = Vec::new();
    for (i, sub) in ctx.subs.iter().enumerate() {
        let (ctx, connecting, stop) = (Arc::clone(&ctx), Arc::clone(&connecting), subs_stop.clone());
        tasks.push(match sub.kind {
            Kind::Sse => tokio::spawn(load::sse_subscriber(ctx, i, sse_http.clone(), connecting, stop)),
            Kind::Ws => tokio::spawn(load::ws_subscriber(ctx, i, connecting, stop)),
        });
    }

    // Every subscriber subscribed and reached by a message before measuring.
    let n = ctx.subs.len();
    let (mut subscribed_secs, mut ready_secs) = (None, None);
    loop {
        let subscribed = ctx.subs.iter().filter(|s| s.subscribed_ns.load(Relaxed) > 0).count();
        if subscribed == n && subscribed_secs.is_none() {
            subscribed_secs = Some(secs() - warm_start);
        }
        let ready = ctx.ready();
        if ready == n {
            ready_secs = Some(secs() - warm_start);
            break;
        }
        if secs() - warm_start > config.connect_timeout_secs as f64 {
            ctx.errors.record(
                "connect",
                format!(
                    "after {} s, {subscribed} of {n} subscribers had subscribed and {ready} had a message",
                    config.connect_timeout_secs
                ),
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "{:7.1} s  {} of {n} subscribers have a message ({:.1} s); warming up for {} s",
        secs(),
        ctx.ready(),
        secs() - warm_start,
        config.warmup_secs
    );
    tokio::time::sleep(Duration::from_secs(config.warmup_secs)).await;
    phases[Phase::Warmup as usize] = Some((warm_start, secs()));

    ctx.set_phase(Phase::Fanout);
    let t = secs();
    eprintln!("{t:7.1} s  phase 1 (fan-out) for {} s", config.fanout_secs);
    tokio::time::sleep(Duration::from_secs(config.fanout_secs)).await;
    phases[Phase::Fanout as usize] = Some((t, secs()));

    ctx.set_phase(Phase::Soak);
    let t = secs();
    eprintln!(
        "{t:7.1} s  phase 2 (soak) for {} s: {} unary calls/s, {} SSE reconnects/s",
        config.soak_secs, config.unary_rate, config.reconnect_rate
    );
    let unary = tokio::spawn(load::unary_traffic(
        Arc::clone(&ctx),
        Arc::clone(&clients),
        config.unary_rate,
        traffic_stop.clone(),
    ));
    let reconnecting = tokio::spawn(load::reconnects(Arc::clone(&ctx), config.reconnect_rate, traffic_stop));
    tokio::time::sleep(Duration::from_secs(config.soak_secs)).await;
    let _ = stop_traffic.send(true);
    for task in [poster, unary, reconnecting] {
        let _ = task.await;
    }
    phases[Phase::Soak as usize] = Some((t, secs()));

    // The drain: posting has stopped; each room's last sequence, from the server.
    ctx.set_phase(Phase::Drain);
    let drain_start = secs();
    for room in &ctx.rooms {
        let acked = room.posts.lock().map(|p| p.iter().map(|&(_, seq)| seq).max().unwrap_or(0)).unwrap_or(0);
        let last = match clients.history(Proto::Connect, &room.name, 1, None).await {
            Ok(history) => history.messages.last().map_or(0, |m| m.sequence),
            Err(e) => {
                ctx.errors.record("final sequence", format!("{}: {e}", room.name));
                acked
            }
        };
        if last != acked {
            ctx.errors
                .record("final sequence", format!("{} ends at {last}, the last accepted post was {acked}", room.name));
        }
        room.final_seq.store(last.max(acked), Relaxed);
    }
    let behind = || {
        ctx.subs
            .iter()
            .filter(|s| {
                let first = s.first.load(Relaxed);
                first > 0 && s.last.load(Relaxed) < ctx.rooms[s.room].final_seq.load(Relaxed)
            })
            .count()
    };
    while behind() > 0 && secs() - drain_start < 60.0 {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let catch_up_secs = secs() - drain_start;
    eprintln!("{:7.1} s  drained in {catch_up_secs:.2} s ({} subscribers behind)", secs(), behind());
    let mem_end = sample();
    let fanout = fanout_check(&ctx);

    // Everybody leaves; then the server idles.
    let _ = stop_subs.send(true);
    for task in tasks {
        if tokio::time::timeout(Duration::from_secs(30), task).await.is_err() {
            ctx.errors.record("disconnect", "a subscriber did not stop within 30 s");
        }
    }
    ctx.ws_pool.lock().map(|mut p| p.clear()).unwrap_or_default();
    clients.close().await;
    drop((clients, sse_http));
    let left = secs();
    eprintln!("{left:7.1} s  every client has disconnected; the server idles for {} s", config.drain_secs);
    tokio::time::sleep(Duration::from_secs(config.drain_secs)).await;
    let mem_after = sample();
    phases[Phase::Drain as usize] = Some((drain_start, secs()));
    let _ = stop_sampler.send(true);
    let _ = sampler.await;
    let malloc = match (config.malloc_trim, pid, &log) {
        (true, Some(pid), Some(log)) => Some(server::malloc_trim(pid, log).await),
        _ => None,
    };

    let points = points.lock().map(|p| p.clone()).unwrap_or_default();
    let servers: Vec<_> = points.iter().filter_map(|p| p.server).collect();
    let soak = phases[Phase::Soak as usize].unwrap_or_default();
    let rss_at = |t: f64| points.iter().find(|p| p.t >= t).and_then(|p| p.server).map(|s| s.rss_kib);
    let memory = Memory {
        start: mem_start,
        peak_rss_kib: servers.iter().map(|s| s.rss_kib).max().unwrap_or(0),
        peak_fds: servers.iter().map(|s| s.fds).max().unwrap_or(0),
        peak_threads: servers.iter().map(|s| s.threads).max().unwrap_or(0),
        hwm_kib: servers.iter().map(|s| s.hwm_kib).max().unwrap_or(0),
        end_of_load: mem_end,
        after_drain: mem_after,
        soak_start_rss_kib: rss_at(soak.0 + ((soak.1 - soak.0) / 4.0).min(5.0)),
        malloc,
        left_rss_kib: rss_at(left + 1.0),
        soak_end_rss_kib: points.iter().rev().find(|p| p.t <= soak.1).and_then(|p| p.server).map(|s| s.rss_kib),
    };
    Ok(Run {
        config: config.clone(),
        date: String::new(),
        machine: String::new(),
        target: String::new(),
        ctx,
        phases,
        subscribed_secs,
        ready_secs,
        catch_up_secs,
        fanout,
        memory,
        points,
        server_exit: None,
        server_log: None,
        load_avg: (0.0, 0.0),
        checks: Vec::new(),
    })
}

fn checks(config: &Config, run: &Run) -> Vec<Check> {
    let f = &run.fanout;
    let mut checks = vec![
        Check::new(
            "every subscriber received messages",
            f.ready == f.clients,
            format!("{} of {} subscribers", f.ready, f.clients),
        ),
        Check::new(
            "messages flowed in both phases",
            [Phase::Fanout, Phase::Soak].iter().all(|&p| run.ctx.posts_ok[p as usize].load(Relaxed) > 0),
            format!("{} and {} posts accepted", run.ctx.posts_ok[1].load(Relaxed), run.ctx.posts_ok[2].load(Relaxed)),
        ),
        Check::new(
            "no message lost",
            f.lost == 0 && f.received == f.expected,
            format!(
                "{} lost ({} at subscribe), {} received of {} expected",
                f.lost, f.lost_at_start, f.received, f.expected
            ),
        ),
        Check::new(
            "no message repeated or out of order",
            f.repeated == 0 && f.beyond_final == 0,
            format!("{} repeated, {} subscribers past their room's end", f.repeated, f.beyond_final),
        ),
    ];
    let errors = run.ctx.errors.total();
    let server_errors = run.server_log.as_ref().map_or(0, |l| l.1);
    checks.push(Check::new(
        "no unexpected error",
        errors == 0 && server_errors == 0,
        format!("{errors} in the clients, {server_errors} ERROR lines in the server's log"),
    ));
    if let Some(exit) = &run.server_exit {
        checks.push(Check::new("the server shut down cleanly", exit.ends_with("exit status: 0"), exit.clone()));
    }
    let m = &run.memory;
    if let (Some(start), Some(after)) = (m.start, m.after_drain) {
        let (end, trimmed) = match &m.malloc {
            Some(Ok(malloc)) => {
                (malloc.rss_after_trim_kib, format!(" ({} before `malloc_trim(0)`)", report::mib(after.rss_kib)))
            }
            _ => (after.rss_kib, String::new()),
        };
        let growth = end as i64 - start.rss_kib as i64;
        checks.push(Check::new(
            "memory back near the start after the drain",
            growth <= (config.mem_tolerance_mib * 1024) as i64,
            format!(
                "{} at the start, {} after the drain{trimmed}: {:+.1} MiB (tolerance {} MiB)",
                report::mib(start.rss_kib),
                report::mib(end),
                growth as f64 / 1024.0,
                config.mem_tolerance_mib
            ),
        ));
        checks.push(Check::new(
            "descriptors back to the start after the drain",
            after.fds <= start.fds + config.fd_tolerance,
            format!(
                "{} open at the start, {} after the drain (tolerance {})",
                start.fds, after.fds, config.fd_tolerance
            ),
        ));
    }
    checks
}
