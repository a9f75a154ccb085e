#!/usr/bin/env python3
"""Ad-hoc SQL: `azir query` vs DuckDB on the same Parquet, and vs DuckDB on the raw JSON evidence.

Generates (once per --work dir and size; later runs reuse the case and the evidence) N synthetic
NSG v2 flow tuples with the generator of bench/flows_vs_duckdb.py (PT1H.json blobs, 7 days,
heavy-tailed peers, scanners) plus --signins Entra ID sign-in records (diagnostic-settings
shape, `insights-logs-signinlogs/.../PT1H.json`, JSON Lines: most users succeed from their own
addresses, a few password-spray addresses fail many times), ingests both with `azir ingest`,
and keeps the evidence for q4. Then times, in one run, alternating tools, median of --repeat:

  q1  top 10 talkers over all flows: SrcIpAddr by sum(SrcBytes + DstBytes) (NULL as 0)
  q2  sign-in failures per IP per UTC hour, every group
  q3  every event of one address: SELECT * FROM events WHERE SrcIpAddr = X OR DstIpAddr = X
  q4a q1 answered from the raw flow JSON (DuckDB read_json, unnesting records > flows > tuples)
  q4b q3 answered from the raw sign-in JSON (DuckDB read_json, filtering on the address fields)

  - azir:   `azir query --case CASE --format csv "SQL" > /dev/null`, one process per run
  - DuckDB: the same SQL on read_parquet over the committed parts (the manifest's segments,
            as azir reads them), written as CSV to a symlink to /dev/null, one process per run
  For q4 the azir column is the same query as q1 / q3 on the case (timed again, alternating).

Every answer is compared once before timing (q1, q2 and q4a must equal azir's; q3 and q4b must
return azir's row count). Prints a markdown table (seconds, and azir/DuckDB: < 1 means azir is
faster) and then the same as JSON.

Usage: bench/query_vs_duckdb.py [--tuples 50000000] [--signins N] [--azir PATH] [--work DIR]
                                [--repeat 3] [--threads 0]
Needs: a release build of azir with `azir query` (CARGO_TARGET_DIR=$HOME/.cache/azir-release
cargo build --release -p azir), and `pip install duckdb`.
"""
import argparse
import csv
import io
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flows_vs_duckdb import DAY0, DAYS, generate as generate_flows  # noqa: E402

TENANT = "1114444b-7467-4144-a616-e3a5d63e147b"
SPRAYERS = ["203.0.113.7", "203.0.113.66", "198.18.4.20", "45.155.205.99"]
PROBE_IP = SPRAYERS[0]  # q3's address: the busiest sprayer

Q1 = ("SELECT SrcIpAddr, sum(coalesce(SrcBytes, 0) + coalesce(DstBytes, 0)) AS bytes, count(*) AS tuples "
      "FROM {network} GROUP BY SrcIpAddr ORDER BY bytes DESC, SrcIpAddr LIMIT 10")
Q2 = ("SELECT SrcIpAddr, date_trunc('hour', TimeGenerated) AS hour, count(*) AS failures FROM {events} "
      "WHERE source = 'signin' AND EventResult = 'Failure' GROUP BY SrcIpAddr, date_trunc('hour', TimeGenerated) "
      "ORDER BY SrcIpAddr, hour")
Q3 = "SELECT * FROM {events} WHERE SrcIpAddr = '{ip}' OR DstIpAddr = '{ip}'"
# NSG v2 tuple: time,src,dst,sport,dport,proto,direction,decision,state,pkts s>d,bytes s>d,pkts d>s,bytes d>s
Q4A = """SELECT split_part(t, ',', 2) AS SrcIpAddr,
       sum(coalesce(TRY_CAST(nullif(split_part(t, ',', 11), '') AS BIGINT), 0)
         + coalesce(TRY_CAST(nullif(split_part(t, ',', 13), '') AS BIGINT), 0)) AS bytes,
       count(*) AS tuples
FROM (SELECT unnest(f.flowTuples) AS t FROM (
      SELECT unnest(g.flows) AS f FROM (
      SELECT unnest(r.properties.flows) AS g FROM (
      SELECT unnest(records) AS r
      FROM read_json('{flows}', format = 'unstructured', maximum_object_size = 2000000000)))))
GROUP BY 1 ORDER BY bytes DESC, SrcIpAddr LIMIT 10"""
Q4B = """SELECT * FROM read_json('{signins}', format = 'newline_delimited', union_by_name = true)
WHERE callerIpAddress = '{ip}' OR properties.ipAddress = '{ip}'"""


def generate_signins(root, n, seed=11):
    """Writes hourly JSON Lines sign-in blobs over the flows' 7 days; returns (records, bytes)."""
    rnd = random.Random(seed)
    users = [f"user{i:04}@contoso.com" for i in range(2000)]
    home = {u: f"{rnd.randint(11, 223)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
            for u in users}
    apps = ["Microsoft Teams", "Office 365 Exchange Online", "Azure Portal", "Microsoft Graph", "SharePoint Online"]
    hours = DAYS * 24
    per_hour = max(1, n // hours)
    written = nbytes = 0
    for h in range(hours):
        base = DAY0 + h * 3600
        lines = []
        for i in range(per_hour):
            t = base + rnd.randrange(3600)
            r = rnd.random()
            ui = rnd.randrange(len(users))
            user = users[ui]
            if r < 0.08:
                # Password spray: a few addresses, many users, nearly all failures.
                ip = SPRAYERS[0] if r < 0.04 else rnd.choice(SPRAYERS[1:])
                code = 50126 if rnd.random() < 0.97 else 0
            else:
                ip = home[user]
                code = 50126 if rnd.random() < 0.03 else 0
            ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
            rid = f"{h:04x}{i:08x}-5150-47ca-a0b4-{rnd.getrandbits(48):012x}"
            lines.append(json.dumps({
                "time": ts, "resourceId": f"/tenants/{TENANT}/providers/Microsoft.aadiam", "operationName":
                "Sign-in activity", "operationVersion": "1.0", "category": "SignInLogs", "tenantId": TENANT,
                "resultType": str(code), "resultSignature": "None",
                "resultDescription": "Invalid username or password." if code else None,
                "durationMs": 0, "callerIpAddress": ip, "correlationId": rid, "identity": user.split("@")[0],
                "Level": 4, "location": "US",
                "properties": {
                    "id": rid, "createdDateTime": ts, "userDisplayName": user.split("@")[0],
                    "userPrincipalName": user, "userId": f"00000000-0000-4000-8000-{ui:012}",
                    "appId": "1fec8e78-bce4-4aaf-ab1b-5451cc387264", "appDisplayName": rnd.choice(apps),
                    "ipAddress": ip, "clientAppUsed": "Browser", "correlationId": rid,
                    "conditionalAccessStatus": "notApplied", "isInteractive": True,
                    "status": {"errorCode": code, "failureReason": "Invalid username or password." if code else None},
                    "location": {"city": "Redmond", "state": "Washington", "countryOrRegion": "US"},
                    "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
                },
            }, separators=(",", ":")))
        g = time.gmtime(base)
        d = os.path.join(root, f"insights-logs-signinlogs/tenantId={TENANT}/y={g.tm_year}/m={g.tm_mon:02}/"
                               f"d={g.tm_mday:02}/h={g.tm_hour:02}/m=00")
        os.makedirs(d, exist_ok=True)
        body = "\n".join(lines) + "\n"
        with open(os.path.join(d, "PT1H.json"), "w") as f:
            f.write(body)
        written += len(lines)
        nbytes += len(body)
    return written, nbytes


def committed_parts(case, table):
    """The parts azir reads: those whose segment the manifest names (see azir-store's case.rs)."""
    entries = []
    with open(os.path.join(case, "manifest.jsonl")) as f:
        for line in f:
            try:
                entries.append(json.loads(line))
            except ValueError:
                pass
    n = {}
    for e in entries:
        n[e["segment"]] = n.get(e["segment"], 0) + 1
    segs = {e["segment"] for e in entries if e.get("segment_streams", 0) in (0, None)
            or n[e["segment"]] >= e["segment_streams"]}
    out = []
    tdir = os.path.join(case, "tables", table)
    for day in sorted(os.listdir(tdir)) if os.path.isdir(tdir) else []:
        for name in sorted(os.listdir(os.path.join(tdir, day))):
            if day.startswith("day=") and name.startswith("part-") and name.endswith(".parquet") \
                    and name[5:-8] in segs:
                out.append(os.path.join(tdir, day, name))
    return out


def run(cmd, stdout=subprocess.DEVNULL):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{cmd[:4]} failed ({p.returncode}): {p.stderr.decode(errors='replace')[-2000:]}")
    return dt, p.stdout


DUCK = """import duckdb, sys
c = duckdb.connect()
threads = int(sys.argv[3])
if threads:
    c.execute(f'SET threads={threads}')
c.execute("SET TimeZone='UTC'")
c.execute(f"COPY ({sys.argv[1]}) TO '{sys.argv[2]}' (FORMAT csv, HEADER)")
"""


def duck(sql, out, threads):
    return run([sys.executable, "-c", DUCK, sql, out, str(threads)])[0]


def azir_query(azir, case, sql, capture=False):
    cmd = [azir, "query", "--case", case, "--format", "csv", sql]
    dt, out = run(cmd, stdout=subprocess.PIPE if capture else subprocess.DEVNULL)
    return dt, out


def read_csv_rows(text):
    return list(csv.reader(io.StringIO(text)))


def norm_time(v):
    """azir prints RFC 3339 UTC (`2026-03-09T01:00:00Z`); DuckDB `2026-03-09 01:00:00+00`."""
    v = v.replace(" ", "T")
    for suffix in ("+00:00", "+00"):
        if v.endswith(suffix):
            v = v[: -len(suffix)] + "Z"
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tuples", type=int, default=50_000_000)
    ap.add_argument("--signins", type=int, default=None, help="sign-in records (default: tuples / 50, at least 20,000)")
    ap.add_argument("--azir", default=os.path.join(os.environ.get("HOME", ""), ".cache/azir-release/release/azir"))
    ap.add_argument("--work", default=None, help="cache dir: the case and evidence of a size are reused")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="DuckDB threads (0 = its default: all cores)")
    args = ap.parse_args()
    try:
        import duckdb
    except ImportError:
        sys.exit("pip install duckdb")
    if not os.path.exists(args.azir):
        sys.exit(f"no azir binary at {args.azir}: build it with --release first")
    signins = args.signins if args.signins is not None else max(20_000, args.tuples // 50)
    work = args.work or tempfile.mkdtemp(prefix="azir-query-bench-")
    os.makedirs(work, exist_ok=True)
    tag = f"{args.tuples}-{signins}"
    evidence = os.path.join(work, f"evidence-{tag}")
    flows_dir, signin_dir = os.path.join(evidence, "flows"), os.path.join(evidence, "signins")
    case = os.path.join(work, f"case-{tag}")
    done = os.path.join(evidence, ".complete")
    if not os.path.exists(done):
        shutil.rmtree(evidence, ignore_errors=True)
        shutil.rmtree(case, ignore_errors=True)
        t0 = time.perf_counter()
        n, nb = generate_flows(flows_dir, args.tuples, True)
        s, sb = generate_signins(signin_dir, signins)
        open(done, "w").close()
        print(f"generated {n:,} tuples ({nb / 1e9:.2f} GB) and {s:,} sign-ins ({sb / 1e9:.2f} GB) "
              f"in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    if not os.path.exists(os.path.join(case, ".bench-complete")):
        shutil.rmtree(case, ignore_errors=True)
        t0 = time.perf_counter()
        p = subprocess.run([args.azir, "--quiet", "ingest", flows_dir, signin_dir, "--case", case],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if p.returncode not in (0, 3):
            sys.exit(f"azir ingest failed ({p.returncode}): {p.stderr.decode(errors='replace')[-2000:]}")
        open(os.path.join(case, ".bench-complete"), "w").close()
        print(f"ingested in {time.perf_counter() - t0:.1f}s", file=sys.stderr)

    def parquet_list(table):
        files = committed_parts(case, table)
        if not files:
            sys.exit(f"{case}: no committed {table} parts")
        return "read_parquet([" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "])"

    network, events = parquet_list("network"), parquet_list("events")
    flows_glob = os.path.join(flows_dir, "**", "PT1H.json")
    signin_glob = os.path.join(signin_dir, "**", "PT1H.json")
    null = os.path.join(work, "null")
    if not os.path.islink(null):
        if os.path.lexists(null):
            os.remove(null)
        os.symlink("/dev/null", null)
    check_out = os.path.join(work, "duck-check.csv")

    queries = [
        # name, azir SQL, DuckDB SQL, what DuckDB reads
        ("q1 top talkers", Q1.format(network="network"), Q1.format(network=network), "parquet"),
        ("q2 sign-in failures per IP per hour", Q2.format(events="events"), Q2.format(events=events), "parquet"),
        ("q3 all events of one IP", Q3.format(events="events", ip=PROBE_IP), Q3.format(events=events, ip=PROBE_IP),
         "parquet"),
        ("q4a top talkers from raw JSON", Q1.format(network="network"), Q4A.format(flows=flows_glob), "raw JSON"),
        ("q4b events of one IP from raw JSON", Q3.format(events="events", ip=PROBE_IP),
         Q4B.format(signins=signin_glob, ip=PROBE_IP), "raw JSON"),
    ]

    # ---- the answers must agree before the times mean anything
    for name, a_sql, d_sql, _ in queries:
        _, out = azir_query(args.azir, case, a_sql, capture=True)
        a_rows = read_csv_rows(out.decode())
        duck(d_sql, check_out, args.threads)
        with open(check_out) as f:
            d_rows = read_csv_rows(f.read())
        if name.startswith(("q3", "q4b")):
            ok = len(a_rows) == len(d_rows)
            detail = f"{len(a_rows) - 1} rows each" if ok else f"azir {len(a_rows) - 1} rows, duckdb {len(d_rows) - 1}"
        else:
            a_n = [[norm_time(c) for c in r] for r in a_rows[1:]]
            d_n = [[norm_time(c) for c in r] for r in d_rows[1:]]
            ok = a_n == d_n
            detail = f"{len(a_n)} rows equal" if ok else f"azir {a_n[:3]}... vs duckdb {d_n[:3]}..."
        print(f"{'same answer' if ok else 'DIFFERENT ANSWER'}: {name}: {detail}", file=sys.stderr)
        if not ok:
            sys.exit(1)
    os.remove(check_out)

    rows_network = duckdb.connect().execute(f"SELECT count(*) FROM {network}").fetchone()[0]
    rows_events = duckdb.connect().execute(f"SELECT count(*) FROM {events}").fetchone()[0]
    results = []
    for name, a_sql, d_sql, reads in queries:
        a, d = [], []
        for _ in range(args.repeat):
            a.append(azir_query(args.azir, case, a_sql)[0])
            d.append(duck(d_sql, null, args.threads))
        am, dm = statistics.median(a), statistics.median(d)
        results.append({"query": name, "duckdb_reads": reads, "azir_s": round(am, 3), "duckdb_s": round(dm, 3),
                        "ratio_azir_over_duckdb": round(am / dm, 2),
                        "azir_runs": [round(x, 3) for x in a], "duckdb_runs": [round(x, 3) for x in d]})
    if not os.path.islink(null):
        print(f"warning: {null} is no longer a symlink to /dev/null", file=sys.stderr)

    def size(path):
        return sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(path) for f in fs)

    meta = {"date": time.strftime("%Y-%m-%d", time.gmtime()), "machine": platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "duckdb": duckdb.__version__,
            "network_rows": rows_network, "events_rows": rows_events, "probe_ip": PROBE_IP,
            "parquet_mb": round(size(os.path.join(case, "tables")) / 1e6, 1),
            "raw_json_mb": round(size(evidence) / 1e6, 1), "case": case, "azir": args.azir, "repeat": args.repeat}
    print(f"{rows_network:,} flow tuples, {rows_events:,} events; median of {args.repeat}, seconds "
          f"(azir/DuckDB < 1: azir faster)\n")
    print("| query | DuckDB reads | azir (s) | DuckDB (s) | azir/DuckDB |")
    print("|---|---|---:|---:|---:|")
    for r in results:
        print(f"| {r['query']} | {r['duckdb_reads']} | {r['azir_s']:.3f} | {r['duckdb_s']:.3f} | "
              f"{r['ratio_azir_over_duckdb']:.2f} |")
    print()
    print(json.dumps({"meta": meta, "results": results}, indent=2))


if __name__ == "__main__":
    main()
