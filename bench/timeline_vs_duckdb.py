#!/usr/bin/env python3
"""Timeline export: `azir timeline --format jsonl` vs DuckDB on the same Parquet.

Times, on an existing case (e.g. `azir demo --scale 10 --out DIR`, the case in DIR/case):
  - azir:   `azir timeline --case CASE --format jsonl` to /dev/null: every events column plus
            `raw`, event id and provenance, one JSON object per line, in time order.
  - DuckDB: `COPY (SELECT <the same columns> FROM read_parquet('CASE/tables/events/**/*.parquet')
            ORDER BY TimeGenerated, evidence_sha256, evidence_path, evidence_offset,
            evidence_index) TO '/dev/null' (FORMAT json)`: the same rows in the same order.
Each run in its own process; median of --repeat runs, alternating tools. Reports seconds,
events/s, peak RSS (wait4) and the ratio DuckDB time / azir time (> 1: azir faster).

Usage: bench/timeline_vs_duckdb.py --case CASE [--azir PATH] [--repeat 3]
Needs: a release build of azir (cargo build --release -p azir) and `pip install duckdb`.
"""
import argparse
import os
import platform
import statistics
import subprocess
import sys
import time

COLUMNS = [
    "TimeGenerated", "source", "source_format", "EventType", "Operation", "Category", "EventResult",
    "EventResultDetails", "ActorUsername", "ActorUserId", "ActorAppId", "ActorAppName", "SrcIpAddr",
    "SrcPortNumber", "DstIpAddr", "DstPortNumber", "NetworkProtocol", "TargetUsername", "TargetResourceId",
    "TargetAppName", "HttpUserAgent", "HttpRequestMethod", "Url", "HttpStatusCode", "SrcGeoCountry",
    "SrcGeoCity", "CorrelationId", "TenantId", "SubscriptionId", "message", "evidence_sha256",
    "evidence_path", "evidence_line", "evidence_offset", "evidence_index", "raw",
]

DUCKDB = """
import duckdb, sys
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
con.execute(\"\"\"COPY (SELECT {cols} FROM read_parquet('{glob}', union_by_name=true)
  ORDER BY TimeGenerated, evidence_sha256, evidence_path, evidence_offset, evidence_index)
  TO '/dev/null' (FORMAT json)\"\"\")
print(con.execute("SELECT count(*) FROM read_parquet('{glob}', union_by_name=true)").fetchone()[0])
"""


def run(cmd, stdout):
    """(seconds, peak RSS in MiB, stdout text or None) of one process."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=stdout)
    _, status, ru = os.wait4(p.pid, 0)
    secs = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{cmd[0]} failed ({status})")
    return secs, ru.ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", required=True)
    ap.add_argument("--azir", default=os.path.expanduser("~/.cache/azir-release/release/azir"))
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    glob = os.path.join(os.path.abspath(a.case), "tables", "events", "**", "*.parquet")
    script = DUCKDB.format(cols=", ".join(f'"{c}"' for c in COLUMNS), glob=glob)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    rows = int(out.split()[-1])
    times = {"azir": [], "duckdb": []}
    rss = {"azir": [], "duckdb": []}
    with open(os.devnull, "wb") as null:
        for _ in range(a.repeat):
            for tool in ("azir", "duckdb"):
                if tool == "azir":
                    cmd = [a.azir, "timeline", "--case", a.case, "--format", "jsonl"]
                    s, m = run(cmd, null)
                else:
                    s, m = run([sys.executable, "-c", script], null)
                times[tool].append(s)
                rss[tool].append(m)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; events: {rows:,}")
    for tool in ("azir", "duckdb"):
        med = statistics.median(times[tool])
        runs = ", ".join(f"{t:.2f}" for t in times[tool])
        print(f"{tool:7} median {med:.2f} s ({runs}); {rows / med:,.0f} events/s; peak RSS {max(rss[tool]):,.0f} MiB")
    ratio = statistics.median(times["duckdb"]) / statistics.median(times["azir"])
    print(f"ratio DuckDB time / azir time: {ratio:.2f}")


if __name__ == "__main__":
    main()
