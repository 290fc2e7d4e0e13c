//! Starting and stopping the chat-example server under test.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// What the server wrote to stderr (it logs at `warn` and above by default).
#[derive(Default)]
pub struct ServerLog {
    pub lines: AtomicU64,
    /// Lines at `ERROR` level.
    pub errors: AtomicU64,
    pub first: Mutex<Vec<String>>,
    /// The last lines, for `malloc_stats()`'s output.
    pub recent: Mutex<VecDeque<String>>,
}

/// What glibc's `malloc_stats()` said, and the RSS after `malloc_trim(0)`.
#[derive(Debug, Clone, Copy)]
pub struct Malloc {
    /// Bytes malloc holds from the system, and bytes in use by the program.
    pub system: u64,
    pub in_use: u64,
    pub rss_after_trim_kib: u64,
}

pub struct Server {
    pub child: Child,
    pub pid: u32,
    pub addr: String,
    pub log: Arc<ServerLog>,
}

/// `chat-example` beside this binary, else under `$CARGO_TARGET_DIR` or `target/`.
pub fn default_bin() -> PathBuf {
    let mut candidates = Vec::new();
    if let Some(dir) = std::env::current_exe().ok().and_then(|p| p.parent().map(Path::to_path_buf)) {
        candidates.push(dir.join("chat-example"));
    }
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        candidates.push(PathBuf::from(dir).join("release/chat-example"));
    }
    candidates.push(PathBuf::from("target/release/chat-example"));
    candidates.iter().find(|p| p.is_file()).unwrap_or(&candidates[0]).clone()
}

/// Starts `bin --addr 127.0.0.1:0 ARGS…` and waits for `listening on http://HOST:PORT`.
pub async fn start(bin: &Path, args: &[String]) -> Result<Server, String> {
    start_under(&[], bin, args).await
}

/// [`start`] under a wrapper that execs its last argument, for example
/// `["taskset", "-c", "0"]`: `WRAPPER… bin --addr 127.0.0.1:0 ARGS…` (so the
/// process id is still the server's).
pub async fn start_under(wrapper: &[String], bin: &Path, args: &[String]) -> Result<Server, String> {
    let mut command = match wrapper.split_first() {
        Some((program, rest)) => {
            let mut command = Command::new(program);
            command.args(rest).arg(bin);
            command
        }
        None => Command::new(bin),
    };
    let mut child = command
        .args(["--addr", "127.0.0.1:0"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let pid = child.id().ok_or("the server exited at once")?;
    let log = Arc::new(ServerLog::default());
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let errors = Arc::clone(&log);
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            errors.lines.fetch_add(1, Relaxed);
            if line.contains("ERROR") {
                errors.errors.fetch_add(1, Relaxed);
            }
            let mut recent = errors.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent.len() == 64 {
                recent.pop_front();
            }
            recent.push_back(line.clone());
            drop(recent);
            let mut first = errors.first.lock().unwrap_or_else(|p| p.into_inner());
            if first.len() < 20 {
                eprintln!("server: {line}");
                first.push(line);
            }
        }
    });
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let addr = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some((_, addr)) = line.split_once("listening on http://") {
                return Some(addr.trim().to_owned());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .ok_or_else(|| format!("{} did not print `listening on http://…` within 30 s", bin.display()))?;
    // Keep reading stdout so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Server { child, pid, addr, log })
}

/// SIGTERM (graceful shutdown), then SIGKILL after 15 s; how it ended.
pub async fn stop(server: &mut Server) -> String {
    let _ = Command::new("kill").args(["-TERM", &server.pid.to_string()]).status().await;
    match tokio::time::timeout(Duration::from_secs(15), server.child.wait()).await {
        Ok(Ok(status)) => format!("exited after SIGTERM: {status}"),
        Ok(Err(e)) => format!("cannot wait for it: {e}"),
        Err(_) => {
            let _ = server.child.kill().await;
            "did not exit within 15 s of SIGTERM; killed".to_owned()
        }
    }
}

/// Asks the server's glibc, through gdb, how much of its heap is in use
/// (`malloc_stats()`, printed on the server's stderr, which `log` reads), then
/// to return free memory to the system (`malloc_trim(0)`), and reads the RSS
/// again: what separates memory the allocator keeps from memory still in use.
pub async fn malloc_trim(pid: u32, log: &ServerLog) -> Result<Malloc, String> {
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new("gdb")
            .args(["-p", &pid.to_string(), "-batch", "-ex", "call (void)malloc_stats()"])
            .args(["-ex", "call (int)malloc_trim(0)"])
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .map_err(|_| "gdb took over 60 s".to_owned())?
    .map_err(|e| format!("cannot run gdb: {e}"))?;
    if !output.status.success() {
        return Err(format!("gdb failed: {}", String::from_utf8_lossy(&output.stderr)));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let recent: Vec<String> = log.recent.lock().map(|r| r.iter().cloned().collect()).unwrap_or_default();
    let total = recent.iter().rposition(|l| l.starts_with("Total (incl. mmap)")).ok_or("no malloc_stats() output")?;
    let bytes = |name: &str| {
        recent[total..]
            .iter()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim_start_matches([' ', '=']).trim().parse::<u64>().ok())
            .ok_or_else(|| format!("no `{name}` in malloc_stats()'s output"))
    };
    let rss = crate::procfs::sample(&pid.to_string()).ok_or("the server is gone")?.rss_kib;
    Ok(Malloc { system: bytes("system bytes")?, in_use: bytes("in use bytes")?, rss_after_trim_kib: rss })
}
