//! Command-line options (hand-parsed: `--name VALUE` or `--name=VALUE`).

use std::path::PathBuf;

pub const USAGE: &str = "\
apigen-load: load and soak test of the chat example over SSE and WebSocket, with mixed traffic

USAGE:
    apigen-load [--server-bin PATH] [OPTIONS]       starts chat-example itself (loopback, port 0)
    apigen-load --addr HOST:PORT [--pid PID] [OPTIONS]   targets a running chat server

OPTIONS:
    --server-bin PATH         the chat-example binary [default: chat-example beside this binary,
                              else $CARGO_TARGET_DIR/release/chat-example]
    --server-arg ARG          one more argument for the server (repeatable), e.g. --redis URL
    --addr HOST:PORT          a running server instead (then --pid PID to measure its memory)
    --pid PID                 the running server's process id
    --sse N                   SSE subscribers [default: 1000]
    --ws N                    WebSocket subscribers [default: 1000]
    --rooms N                 rooms the subscribers are spread over [default: 20]
    --rate N                  messages posted per second, over all rooms [default: 200]
    --warmup-secs N           load before measuring, once every client is subscribed [default: 10]
    --fanout-secs N           phase 1: fan-out only [default: 60]
    --soak-secs N             phase 2: fan-out plus mixed unary traffic and SSE reconnects [default: 600]
    --unary-rate N            phase 2 unary calls per second (GetHistory over six protocols) [default: 100]
    --reconnect-rate N        phase 2 SSE reconnects per second, each resuming with Last-Event-ID [default: 5]
    --connect-concurrency N   clients connecting at once [default: 64]
    --connect-timeout-secs N  how long every client may take to receive its first message [default: 180]
    --drain-secs N            how long the server idles after the last client left [default: 10]
    --mem-tolerance-mib N     memory after the drain may exceed the start by this much [default: 64]
    --fd-tolerance N          open descriptors after the drain may exceed the start by this many [default: 16]
    --no-malloc-trim          skip the allocator check: by default, after the drain, a server this tool
                              started is asked through gdb how much heap is in use (glibc's malloc_stats)
                              and to free what it keeps (malloc_trim(0)), and the memory check uses the
                              RSS after the trim (the raw RSS when gdb is missing or fails)
    --report FILE             write the report: FILE.json as JSON, anything else as Markdown
    -h, --help                this text

Exit status: 0 when every check passed, 1 when one failed (a message lost or repeated, an
unexpected error, memory or descriptors not back near the start after the drain), 2 on bad usage
or when the run could not start.";

#[derive(Debug, Clone)]
pub struct Config {
    pub server_bin: Option<PathBuf>,
    pub server_args: Vec<String>,
    pub addr: Option<String>,
    pub pid: Option<u32>,
    pub sse: usize,
    pub ws: usize,
    pub rooms: usize,
    pub rate: f64,
    pub warmup_secs: u64,
    pub fanout_secs: u64,
    pub soak_secs: u64,
    pub unary_rate: f64,
    pub reconnect_rate: f64,
    pub connect_concurrency: usize,
    pub connect_timeout_secs: u64,
    pub drain_secs: u64,
    pub mem_tolerance_mib: u64,
    pub fd_tolerance: u64,
    pub malloc_trim: bool,
    pub report: Option<PathBuf>,
    /// The command line, for the report.
    pub command_line: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server_bin: None,
            server_args: Vec::new(),
            addr: None,
            pid: None,
            sse: 1000,
            ws: 1000,
            rooms: 20,
            rate: 200.0,
            warmup_secs: 10,
            fanout_secs: 60,
            soak_secs: 600,
            unary_rate: 100.0,
            reconnect_rate: 5.0,
            connect_concurrency: 64,
            connect_timeout_secs: 180,
            drain_secs: 10,
            mem_tolerance_mib: 64,
            fd_tolerance: 16,
            malloc_trim: true,
            report: None,
            command_line: String::new(),
        }
    }
}

/// What the command line asked for.
pub enum Parsed {
    Run(Box<Config>),
    Help,
}

fn number<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value.parse().map_err(|_| format!("{name}: `{value}` is not a valid number"))
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Parsed, String> {
    let args: Vec<String> = args.into_iter().collect();
    let mut config = Config { command_line: args.join(" "), ..Config::default() };
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        if arg == "-h" || arg == "--help" {
            return Ok(Parsed::Help);
        }
        if arg == "--no-malloc-trim" {
            config.malloc_trim = false;
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        if !name.starts_with("--") {
            return Err(format!("unexpected argument `{arg}`"));
        }
        let value = match inline {
            Some(v) => v,
            None => it.next().ok_or_else(|| format!("{name} needs a value"))?,
        };
        let v = value.as_str();
        match name.as_str() {
            "--server-bin" => config.server_bin = Some(PathBuf::from(v)),
            "--server-arg" => config.server_args.push(value.clone()),
            "--addr" => config.addr = Some(value.clone()),
            "--pid" => config.pid = Some(number(&name, v)?),
            "--sse" => config.sse = number(&name, v)?,
            "--ws" => config.ws = number(&name, v)?,
            "--rooms" => config.rooms = number(&name, v)?,
            "--rate" => config.rate = number(&name, v)?,
            "--warmup-secs" => config.warmup_secs = number(&name, v)?,
            "--fanout-secs" => config.fanout_secs = number(&name, v)?,
            "--soak-secs" => config.soak_secs = number(&name, v)?,
            "--unary-rate" => config.unary_rate = number(&name, v)?,
            "--reconnect-rate" => config.reconnect_rate = number(&name, v)?,
            "--connect-concurrency" => config.connect_concurrency = number(&name, v)?,
            "--connect-timeout-secs" => config.connect_timeout_secs = number(&name, v)?,
            "--drain-secs" => config.drain_secs = number(&name, v)?,
            "--mem-tolerance-mib" => config.mem_tolerance_mib = number(&name, v)?,
            "--fd-tolerance" => config.fd_tolerance = number(&name, v)?,
            "--report" => config.report = Some(PathBuf::from(v)),
            _ => return Err(format!("unknown option `{name}`")),
        }
    }
    if config.rooms == 0 {
        return Err("--rooms must be at least 1".to_owned());
    }
    if config.sse + config.ws == 0 {
        return Err("--sse and --ws cannot both be 0".to_owned());
    }
    if config.rate.is_nan() || config.rate <= 0.0 {
        return Err("--rate must be above 0".to_owned());
    }
    if config.unary_rate.is_nan()
        || config.unary_rate < 0.0
        || config.reconnect_rate.is_nan()
        || config.reconnect_rate < 0.0
    {
        return Err("--unary-rate and --reconnect-rate must not be negative".to_owned());
    }
    if config.connect_concurrency == 0 {
        return Err("--connect-concurrency must be at least 1".to_owned());
    }
    if config.addr.is_some() && config.server_bin.is_some() {
        return Err("--addr and --server-bin exclude each other".to_owned());
    }
    if config.pid.is_some() && config.addr.is_none() {
        return Err("--pid goes with --addr (a server this tool starts is measured anyway)".to_owned());
    }
    Ok(Parsed::Run(Box::new(config)))
}
