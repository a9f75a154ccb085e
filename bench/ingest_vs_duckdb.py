#!/usr/bin/env python3
"""Ingest throughput and peak memory: azir vs DuckDB on the same NDJSON, in one run.

Builds an NDJSON mix of Azure diagnostic records (sign-ins, audit, Activity Log, Key Vault,
storage, Application Gateway, WAF, Bastion, firewall) from `azir demo` evidence, repeated to the
requested sizes, then for each size:
  - azir:   `azir ingest FILE --case NEW_CASE`           (parse, normalize, Parquet by day)
  - DuckDB: `COPY (SELECT * FROM read_json_auto(FILE)) TO OUT (FORMAT parquet)`
and reports wall time, MB/s, records/s and peak RSS (from wait4), plus the ratio.

Usage: bench/ingest_vs_duckdb.py [--sizes-mb 256,2048] [--azir target/release/azir] [--work DIR]
Needs: a release build of azir, and `pip install duckdb`.
"""
import argparse
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

JSONL_CONTAINERS = (
    "insights-logs-signinlogs", "insights-logs-noninteractiveusersigninlogs", "insights-logs-auditlogs",
    "insights-activity-logs", "insights-logs-auditevent", "insights-logs-storageread",
    "insights-logs-applicationgatewayaccesslog", "insights-logs-applicationgatewayfirewalllog",
    "insights-logs-bastionauditlogs", "insights-logs-azurefirewall", "insights-logs-provisioninglogs",
    "insights-logs-microsoftgraphactivitylogs", "insights-logs-riskyusers", "insights-logs-userriskevents",
)


def run_measured(cmd, env=None):
    """Runs cmd, returns (seconds, peak RSS bytes, returncode, stdout)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out_chunks = []
    # Read stdout fully before wait4 so a chatty child never blocks.
    out = p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    dt = time.perf_counter() - t0
    out_chunks.append(out)
    if p.returncode not in (0, 3):
        sys.stderr.write(err.decode(errors="replace"))
    return dt, ru.ru_maxrss * 1024, p.returncode, b"".join(out_chunks)


def duck_rows(path):
    import duckdb
    return duckdb.connect().execute(f"SELECT count(*) FROM '{path}'").fetchone()[0]


def build_source_lines(azir, work):
    demo = os.path.join(work, "demo")
    if not os.path.isdir(os.path.join(demo, "evidence")):
        subprocess.run([azir, "demo", demo, "--quiet", "--scale", "4"], check=True)
    lines = []
    for root, _, files in os.walk(os.path.join(demo, "evidence")):
        if not any(c in root for c in JSONL_CONTAINERS):
            continue
        for f in sorted(files):
            path = os.path.join(root, f)
            opener = gzip.open if f.endswith(".gz") else open
            with opener(path, "rb") as fh:
                for line in fh:
                    line = line.strip()
                    if line.startswith(b"{"):
                        lines.append(line)
    if not lines:
        sys.exit("no JSON Lines records found in the demo evidence")
    return lines


def write_ndjson(lines, path, size_mb):
    target = size_mb * 1024 * 1024
    written = 0
    records = 0
    with open(path, "wb") as out:
        while written < target:
            for line in lines:
                out.write(line)
                out.write(b"\n")
                written += len(line) + 1
                records += 1
                if written >= target:
                    break
    return written, records


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes-mb", default="256,2048")
    ap.add_argument("--azir", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "release", "azir"))
    ap.add_argument("--work", default=None)
    ap.add_argument("--threads", default="0", help="duckdb threads (0 = default)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool and size; the median is reported")
    args = ap.parse_args()
    try:
        import duckdb  # noqa: F401
    except ImportError:
        sys.exit("pip install duckdb")
    work = args.work or tempfile.mkdtemp(prefix="azir-bench-")
    os.makedirs(work, exist_ok=True)
    lines = build_source_lines(args.azir, work)
    results = []
    for size in [int(s) for s in args.sizes_mb.split(",")]:
        src = os.path.join(work, f"mix-{size}MB.ndjson")
        nbytes, nrec = write_ndjson(lines, src, size)
        subprocess.run(["sync"])
        a_runs, d_runs = [], []
        for _ in range(args.repeat):
            # azir (alternating with DuckDB so drifts in machine load hit both)
            case = os.path.join(work, f"case-{size}")
            shutil.rmtree(case, ignore_errors=True)
            a_runs.append(run_measured([args.azir, "--quiet", "ingest", src, "--case", case]))
            # DuckDB, in its own process so its RSS is its own.
            out = os.path.join(work, f"duck-{size}.parquet")
            script = (
                "import duckdb,sys;c=duckdb.connect();"
                + (f"c.execute('SET threads={args.threads}');" if args.threads != "0" else "")
                + f"c.execute(\"COPY (SELECT * FROM read_json_auto('{src}', format='newline_delimited', union_by_name=true, ignore_errors=true, maximum_object_size=104857600)) TO '{out}' (FORMAT parquet)\")"
            )
            # Without ignore_errors DuckDB refuses this data outright: Azure spells the same field
            # `clientIp` and `clientIP` in different logs ("Duplicate name in struct").
            d_runs.append(run_measured([sys.executable, "-c", script]))
        med = lambda runs: sorted(runs, key=lambda r: r[0])[len(runs) // 2]
        a_dt, a_rss, a_rc, _ = med(a_runs)
        d_dt, d_rss, d_rc, _ = med(d_runs)
        a_rss = max(r[1] for r in a_runs)
        d_rss = max(r[1] for r in d_runs)
        row = {
            "size_mb": round(nbytes / 1048576), "records": nrec,
            "azir_s": round(a_dt, 2), "azir_mb_s": round(nbytes / 1e6 / a_dt, 1), "azir_rec_s": int(nrec / a_dt),
            "azir_peak_rss_mb": round(a_rss / 1048576), "azir_exit": a_rc,
            "duckdb_s": round(d_dt, 2), "duckdb_mb_s": round(nbytes / 1e6 / d_dt, 1), "duckdb_rec_s": int(nrec / d_dt),
            "duckdb_peak_rss_mb": round(d_rss / 1048576), "duckdb_exit": d_rc,
            "duckdb_rows": duck_rows(out) if d_rc == 0 else None,
            "ratio_throughput": round(d_dt / a_dt, 2),
            "runs": args.repeat,
            "azir_all_s": [round(r[0], 2) for r in a_runs],
            "duckdb_all_s": [round(r[0], 2) for r in d_runs],
        }
        results.append(row)
        print(json.dumps(row), flush=True)
        os.remove(src)
    print(json.dumps({
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.processor() or platform.platform()}",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        "duckdb": __import__("duckdb").__version__,
        "results": results,
    }, indent=2))


if __name__ == "__main__":
    main()
