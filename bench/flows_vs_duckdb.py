#!/usr/bin/env python3
"""Flow analytics: `azir flows talkers` and `azir flows scans` vs DuckDB on the same Parquet.

Generates N synthetic NSG v2 flow tuples (PT1H.json blobs in the real export shape: flows of
B/C/E tuples with delta counters, denied single-tuple flows, a few vertical and horizontal
scanners, spread over 7 days and 400 internal / 20,000 external addresses, external peers
heavy-tailed by default or uniform with --uniform), ingests them with
`azir ingest`, then times, on the case's `tables/network/**/*.parquet`:
  - azir:   `azir --json flows talkers --case CASE` and `azir --json flows scans --case CASE`
  - DuckDB: the equivalent SQL (below): the same groups, distinct FlowIds, sums, first/last and
            one evidence reference per row, top 20.
Each run in its own process; median of --repeat runs, alternating tools. Reports seconds,
tuples/s and the ratio DuckDB time / azir time (> 1: azir faster).

Usage: bench/flows_vs_duckdb.py [--tuples 20000000] [--azir PATH] [--work DIR] [--repeat 3]
Needs: a release build of azir (CARGO_TARGET_DIR=$HOME/.cache/azir-release-flows cargo build
--release -p azir), and `pip install duckdb`.
"""
import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

DAY0 = 1_773_014_400  # 2026-03-09T00:00:00Z
DAYS = 7
NSG = "/SUBSCRIPTIONS/S1/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/NSG-BENCH"

TALKERS_SQL = """
CREATE TEMP TABLE p AS
  SELECT SrcIpAddr s, DstIpAddr d, count(DISTINCT FlowId) f, count(*) t,
         sum(coalesce(SrcBytes, 0)) bs, sum(coalesce(DstBytes, 0)) bd,
         sum(coalesce(SrcPackets, 0)) ps, sum(coalesce(DstPackets, 0)) pd,
         min(TimeGenerated) a, max(TimeGenerated) b,
         arg_min(evidence_path || ':' || evidence_line || '#' || evidence_tuple, TimeGenerated) ev
  FROM read_parquet('{glob}') GROUP BY 1, 2;
SELECT * FROM p ORDER BY bs + bd DESC, s, d LIMIT 20;
SELECT h, sum(f), sum(sent), sum(recv), min(a), max(b), min(ev) FROM (
  SELECT s h, f, bs sent, bd recv, a, b, ev FROM p UNION ALL SELECT d, f, bd, bs, a, b, ev FROM p)
GROUP BY h ORDER BY sum(sent) + sum(recv) DESC, h LIMIT 20;
"""

SCANS_SQL = """
CREATE TEMP TABLE t AS
  SELECT SrcIpAddr s, DstIpAddr d, DstPortNumber p, NetworkProtocol pr, DvcAction = 'Deny' den,
         count(DISTINCT FlowId) f, min(TimeGenerated) a, max(TimeGenerated) b,
         arg_min(evidence_path || ':' || evidence_line || '#' || evidence_tuple, TimeGenerated) ev
  FROM read_parquet('{glob}')
  WHERE NOT (coalesce(SrcPortNumber, -1) BETWEEN 0 AND 1023 AND coalesce(DstPortNumber, -1) >= 1024)
  GROUP BY ALL;
SELECT * FROM (
  SELECT 'vertical' kind, s, d target, count(DISTINCT (p, pr)) n, sum(f) flows,
         sum(f) FILTER (WHERE den) / sum(f) denied_ratio, min(a), max(b), min(ev)
  FROM t GROUP BY s, d HAVING count(DISTINCT (p, pr)) >= 10
  UNION ALL
  SELECT 'horizontal', s, p || '/' || pr, count(DISTINCT d) n, sum(f),
         sum(f) FILTER (WHERE den) / sum(f), min(a), max(b), min(ev)
  FROM t GROUP BY s, p, pr HAVING count(DISTINCT d) >= 10
) ORDER BY n DESC, flows DESC, s LIMIT 20;
"""


def generate(path_root, n_tuples, skew, seed=7):
    """Writes hourly PT1H.json blobs; returns (tuples written, bytes written)."""
    rnd = random.Random(seed)
    internal = [f"10.{i // 250}.{i % 250}.{4 + i % 7}" for i in range(400)]
    external = [f"{rnd.randint(11, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
                for _ in range(20000)]
    scanners = [f"198.51.100.{i}" for i in range(1, 11)]
    if skew:
        # Real traffic is heavy-tailed: most flows go to a few popular services.
        def pick_external():
            return external[min(int(rnd.paretovariate(0.8)) - 1, len(external) - 1)]
    else:
        def pick_external():
            return rnd.choice(external)
    ports = [443, 443, 443, 80, 22, 3389, 1433, 8080, 53, 445]
    hours = DAYS * 24
    per_hour = max(1, n_tuples // hours)
    written = 0
    nbytes = 0
    flow_no = 0
    for h in range(hours):
        base = DAY0 + h * 3600
        tuples = []
        while len(tuples) < per_hour:
            flow_no += 1
            t = base + rnd.randrange(3600 - 1)
            r = rnd.random()
            if r < 0.02:
                # Scanners: vertical (one host, many ports) or horizontal (one port, many hosts).
                src = scanners[flow_no % len(scanners)]
                if flow_no % 2:
                    dst, dport = internal[flow_no % 7], rnd.randrange(1, 65535)
                else:
                    dst, dport = rnd.choice(internal), 445
                tuples.append(f"{t},{src},{dst},{rnd.randrange(30000, 65535)},{dport},T,I,D,B,,,,")
                continue
            if r < 0.10:
                src, dst, d = pick_external(), rnd.choice(internal), "I"
                tuples.append(f"{t},{src},{dst},{rnd.randrange(30000, 65535)},{rnd.choice(ports)},T,{d},D,B,,,,")
                continue
            if r < 0.55:
                src, dst, d = rnd.choice(internal), pick_external(), "O"
            elif r < 0.80:
                src, dst, d = rnd.choice(internal), rnd.choice(internal), "O"
            else:
                src, dst, d = pick_external(), rnd.choice(internal), "I"
            sport, dport = rnd.randrange(30000, 65535), rnd.choice(ports)
            proto = "U" if dport == 53 else "T"
            head = f"{src},{dst},{sport},{dport},{proto},{d},A"
            tuples.append(f"{t},{head},B,,,,")
            for k in range(rnd.choice((0, 0, 1, 2))):
                tuples.append(f"{t + 300 * (k + 1)},{head},C,{rnd.randrange(1, 200)},{rnd.randrange(100, 200000)},"
                              f"{rnd.randrange(1, 200)},{rnd.randrange(100, 900000)}")
            tuples.append(f"{t + 900},{head},E,{rnd.randrange(1, 50)},{rnd.randrange(60, 50000)},"
                          f"{rnd.randrange(1, 50)},{rnd.randrange(60, 90000)}")
        records = []
        for i in range(0, len(tuples), 2000):
            chunk = tuples[i:i + 2000]
            records.append(json.dumps({
                "time": time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime(base + 60 + i // 2000)),
                "systemId": "bench", "category": "NetworkSecurityGroupFlowEvent", "resourceId": NSG,
                "operationName": "NetworkSecurityGroupFlowEvents",
                "properties": {"Version": 2, "flows": [{"rule": "UserRule_bench", "flows": [
                    {"mac": "000D3AF8801A", "flowTuples": chunk}]}]},
            }, separators=(",", ":")))
        ts = time.gmtime(base)
        d = os.path.join(path_root, f"y={ts.tm_year}/m={ts.tm_mon:02}/d={ts.tm_mday:02}/h={ts.tm_hour:02}/m=00")
        os.makedirs(d, exist_ok=True)
        body = '{"records":[\n' + ",\n".join(records) + "\n]}\n"
        with open(os.path.join(d, "PT1H.json"), "w") as f:
            f.write(body)
        written += len(tuples)
        nbytes += len(body)
    return written, nbytes


def run(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{cmd} failed: {p.stderr.decode(errors='replace')}")
    return dt, p.stdout


def duck(sql, threads):
    code = ("import duckdb,sys\n"
            "c=duckdb.connect()\n"
            f"c.execute('SET threads={threads}')\n" if threads else "import duckdb,sys\nc=duckdb.connect()\n")
    code += "for s in sys.argv[1].split(';'):\n    s=s.strip()\n    s and c.execute(s).fetchall()\n"
    return run([sys.executable, "-c", code, sql])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tuples", type=int, default=20_000_000)
    ap.add_argument("--azir", default=os.path.join(os.environ.get("HOME", ""), ".cache/azir-release-flows/release/azir"))
    ap.add_argument("--work", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="DuckDB threads (0 = its default: all cores)")
    ap.add_argument("--uniform", action="store_true",
                    help="external peers drawn uniformly (nearly every flow its own pair: the worst case for "
                         "group-by memory) instead of the default heavy-tailed popularity")
    ap.add_argument("--generate-only", action="store_true", help="write the evidence and stop")
    args = ap.parse_args()
    try:
        import duckdb
    except ImportError:
        sys.exit("pip install duckdb")
    if args.azir and not os.path.exists(args.azir) and not args.generate_only:
        sys.exit(f"no azir binary at {args.azir}: build it with --release first")
    work = args.work or tempfile.mkdtemp(prefix="azir-flows-bench-")
    os.makedirs(work, exist_ok=True)
    tag = f"{args.tuples}{'-uniform' if args.uniform else ''}"
    evidence = os.path.join(work, f"evidence-{tag}")
    case = os.path.join(work, f"case-{tag}")
    done = os.path.join(evidence, ".complete")
    if not os.path.isdir(case) and not os.path.exists(done):
        shutil.rmtree(evidence, ignore_errors=True)
        t0 = time.perf_counter()
        n, nbytes = generate(evidence, args.tuples, not args.uniform)
        open(done, "w").close()
        print(f"generated {n:,} tuples ({nbytes / 1e9:.2f} GB) in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    if args.generate_only:
        return
    if not os.path.isdir(case):
        dt, _ = run([args.azir, "--quiet", "ingest", evidence, "--case", case])
        print(f"ingested in {dt:.1f}s", file=sys.stderr)
        shutil.rmtree(evidence, ignore_errors=True)
    glob = os.path.join(case, "tables/network/**/*.parquet")
    rows = duckdb.connect().execute(f"SELECT count(*) FROM read_parquet('{glob}')").fetchone()[0]
    parquet_bytes = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(os.path.join(case, "tables/network"))
                        for f in fs)
    results = []
    for name, sub, sql in (("talkers", "talkers", TALKERS_SQL), ("scans", "scans", SCANS_SQL)):
        a, d = [], []
        for _ in range(args.repeat):
            a.append(run([args.azir, "--json", "flows", sub, "--case", case])[0])
            d.append(duck(sql.format(glob=glob), args.threads)[0])
        am, dm = statistics.median(a), statistics.median(d)
        results.append({"analysis": name, "tuples": rows, "azir_s": round(am, 3), "duckdb_s": round(dm, 3),
                        "azir_tuples_per_s": round(rows / am), "duckdb_tuples_per_s": round(rows / dm),
                        "ratio_duckdb_over_azir": round(dm / am, 2), "azir_runs": [round(x, 3) for x in a],
                        "duckdb_runs": [round(x, 3) for x in d]})
    meta = {"date": time.strftime("%Y-%m-%d", time.gmtime()), "machine": platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "duckdb": duckdb.__version__,
            "parquet_mb": round(parquet_bytes / 1e6, 1), "case": case}
    print(json.dumps({"meta": meta, "results": results}, indent=2))


if __name__ == "__main__":
    main()
