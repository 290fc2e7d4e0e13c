#!/usr/bin/env python3
"""Helpers of bench/serve/run.sh (Python 3 standard library only).

  report.py oha FILE        one oha --output-format json result → "RPS P50_MS P99_MS COUNT";
                            exit 1 with a message when any response was not 200 or failed
                            (other than the requests cut off by the end of the run)
  report.py grpc FILE       the same for one grpc-load result line
  report.py table RESULTS   RESULTS (tab-separated: round, protocol, server, rps, p50, p99,
                            requests per server CPU-second) → the Markdown table: medians over
                            the rounds, ratios to the baseline
"""

import json
import statistics
import sys

# (protocol, server) rows in table order: (label, role). The role says what the row is compared
# with: "apigen" (goal: ≥ 0.9× the baseline), "baseline", "peer" (goal: apigen ≥ 10× it),
# "ceiling" (compared with the REST baseline, no goal), "gateway" (`apigen gateway` in front of
# bookstore-example: compared with apigen's own row of the protocol; REST's goal: ≥ 1×, the
# gateway costing no more CPU per call than apigen's own REST path), "production" (apigen with
# JWT authentication, metrics and a traceparent on every request, tracing's export off: compared
# with apigen's own row; goal ≥ 0.9×, issue 20's cost of running in production).
ROWS = [
    ("REST", "apigen", "apigen", "apigen"),
    ("REST", "axum", "baseline: axum + serde", "baseline"),
    ("REST", "hyper", "ceiling: hyper 1, fixed body", "ceiling"),
    ("REST", "gateway", "gateway: apigen gateway → gRPC upstream", "gateway"),
    ("REST", "production", "production: apigen + JWT + metrics + traceparent", "production"),
    ("Connect", "apigen", "apigen", "apigen"),
    ("Connect", "axum", "baseline: axum + serde (POST JSON)", "baseline"),
    ("Connect", "connect-node", "peer: @connectrpc/connect-node", "peer"),
    ("Connect", "gateway", "gateway: apigen gateway → gRPC upstream", "gateway"),
    ("Connect", "production", "production: apigen + JWT + metrics + traceparent", "production"),
    ("tRPC", "apigen", "apigen", "apigen"),
    ("tRPC", "axum", "baseline: axum + serde (GET ?input=)", "baseline"),
    ("tRPC", "trpc-node", "peer: @trpc/server standalone", "peer"),
    ("GraphQL", "apigen", "apigen", "apigen"),
    ("GraphQL", "async-graphql", "baseline: async-graphql derive + axum", "baseline"),
    ("GraphQL", "yoga", "peer: graphql-yoga", "peer"),
    ("gRPC", "apigen", "apigen", "apigen"),
    ("gRPC", "tonic", "baseline: tonic", "baseline"),
    ("gRPC", "grpc-js", "peer: @grpc/grpc-js", "peer"),
    ("gRPC", "gateway", "gateway: apigen gateway → gRPC upstream", "gateway"),
]

APIGEN_VS_BASELINE = 0.9
# Issue 20: JWT, metrics and tracing cost at most 10%.
PRODUCTION_VS_APIGEN = 0.9
# Issue 16: gRPC against plain tonic, whose stack apigen shares, has the tighter goal.
APIGEN_VS_BASELINE_BY_PROTOCOL = {"gRPC": 0.95}
APIGEN_VS_PEER = 10.0


def fail(message):
    print(message, file=sys.stderr)
    sys.exit(1)


def oha(path):
    with open(path) as f:
        result = json.load(f)
    codes = result.get("statusCodeDistribution", {})
    errors = {k: v for k, v in result.get("errorDistribution", {}).items() if "deadline" not in k}
    bad = {k: v for k, v in codes.items() if k != "200"}
    if bad or errors or not codes.get("200"):
        fail(f"not every response was 200: status codes {codes}, errors {errors}")
    ok = codes["200"]
    metrics = result["metrics"]
    rps = ok / result["summary"]["total"]
    print(f"{rps:.1f} {metrics['latency_ms']['p50']:.3f} {metrics['latency_ms']['p99']:.3f} {ok}")


def grpc(path):
    with open(path) as f:
        result = json.loads(f.read().strip().splitlines()[-1])
    if result["errors"] or not result["ok"]:
        fail(f"{result['errors']} calls failed ({result['first_error']}), {result['ok']} succeeded")
    print(f"{result['rps']:.1f} {result['p50_ms']:.3f} {result['p99_ms']:.3f} {result['ok']}")


def table(path):
    runs = {}
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            _, protocol, server, *figures = line.rstrip("\n").split("\t")
            runs.setdefault((protocol, server), []).append(tuple(float(x) for x in figures))
    # (rps, p50, p99, per_core), each the median over the rounds
    med = {key: tuple(statistics.median(r[i] for r in values) for i in range(4)) for key, values in runs.items()}
    rounds = max((len(v) for v in runs.values()), default=0)
    out = [
        "| protocol | server | req/s per server core | req/s | p50 ms | p99 ms | ratio vs baseline | goal | met? |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for protocol, server, label, role in ROWS:
        if (protocol, server) not in med:
            continue
        rps, p50, p99, core = med[(protocol, server)]
        if role == "ceiling":
            base_key = ("REST", "axum")
        elif role in ("gateway", "production"):
            base_key = (protocol, "apigen")
        else:
            base_key = next((protocol, s) for p, s, _, r in ROWS if p == protocol and r == "baseline")
        base = med.get(base_key)
        apigen = med.get((protocol, "apigen"))

        def vs(value, i):
            if role in ("baseline", "gateway", "production") or not base or base[i] <= 0:
                return ""
            return f" ({value / base[i]:.2f}×)"

        ratio = f"{core / base[3]:.2f}×" if base and base[3] > 0 else "n/a"
        goal, met = "", ""
        if role == "apigen":
            wanted = APIGEN_VS_BASELINE_BY_PROTOCOL.get(protocol, APIGEN_VS_BASELINE)
            goal = f"≥ {wanted}× baseline"
            met = "n/a" if ratio == "n/a" else ("yes" if core >= wanted * base[3] else "**no**")
        elif role == "peer":
            if apigen and core > 0:
                times = apigen[3] / core
                goal = f"apigen ≥ {APIGEN_VS_PEER:g}× this (is {times:.1f}×)"
                met = "yes" if times >= APIGEN_VS_PEER else "**no**"
            else:
                goal, met = f"apigen ≥ {APIGEN_VS_PEER:g}× this", "n/a"
        elif role == "ceiling":
            ratio += " of REST baseline"
        elif role == "gateway":
            ratio += f" of apigen's own ({1e6 / core:.1f} µs CPU per call)" if core > 0 else ""
            if protocol == "REST" and base and base[3] > 0:
                goal = "≥ 1× apigen's own REST"
                met = "yes" if core >= base[3] else "**no**"
        elif role == "production":
            ratio += " of apigen's own"
            if base and base[3] > 0:
                goal = f"≥ {PRODUCTION_VS_APIGEN}× apigen's own"
                met = "yes" if core >= PRODUCTION_VS_APIGEN * base[3] else "**no**"
        out.append(
            f"| {protocol} | {label} | {core:,.0f} | {rps:,.0f}{vs(rps, 0)} | {p50:.3f}{vs(p50, 1)} "
            f"| {p99:.3f}{vs(p99, 2)} | {ratio} | {goal} | {met} |"
        )
    out.append("")
    out.append(
        f"Medians of {rounds} run(s) per row. *req/s per server core*: requests served per second of "
        "the server's CPU time (user + system, all its threads; the server is pinned to one core), "
        "what one fully busy core serves; the ratios and goals compare it. *req/s*: wall-clock "
        "throughput. In parentheses: the figure against the row's baseline (for latencies, below 1 "
        "is faster)."
    )
    print("\n".join(out))


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("oha", "grpc", "table"):
        fail(__doc__)
    {"oha": oha, "grpc": grpc, "table": table}[sys.argv[1]](sys.argv[2])


if __name__ == "__main__":
    main()
