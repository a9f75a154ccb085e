#!/usr/bin/env python3
"""NSG cross-check: `azir nsg crosscheck` over N synthetic NSG v2 flow tuples.

Generates one NSG (`nsg-bench`: 24 custom rules — HTTPS from anywhere, SSH from a management
range, RDP denied, 20 application ports from partner prefixes, an ASG-free deny list — plus the
defaults), its VNet (10.0.0.0/16, subnet `web` carrying the NSG) as an ARM REST `{"value":[..]}`
page, an Activity Log entry that adds `Temp-Debug` (port 8443) half-way through the 7 days,
and N NSG v2 tuples (PT1H.json blobs in the real export shape) whose rule is the one Azure would
log — except ~1% naming `UserRule_Legacy-Rule` (absent from the configuration: disagreements).
Ingests them with `azir ingest` (the release binary when it exists: ingest speed is not what is
measured), then times `azir --json nsg crosscheck --case CASE --limit 20` (each run its own
process; median of --repeat runs) and, as the cost of reading the same columns, `azir --json
flows rules --case CASE` with the same binary. Reports seconds and tuples/s for both, and the
cross-check's agree/disagree/not-evaluable counts (a check that the run did the work).

Usage: bench/nsg_crosscheck.py [--tuples 10000000] [--azir PATH] [--ingest-azir PATH] [--work DIR]
       [--repeat 3] [--threads N] [--no-baseline]
The binary must have `nsg crosscheck` (a build of this tree). Prefer a release build
(CARGO_TARGET_DIR=$HOME/.cache/azir-release cargo build --release -p azir); a debug build runs
the workspace crates unoptimised and measures far less than the code can do.
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
SUB = "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-bench/providers/Microsoft.Network"
NSG_ID = f"{SUB}/networkSecurityGroups/nsg-bench"
DVC = NSG_ID.upper()
MGMT = "192.0.2.0/24"
PARTNERS = [f"{11 + i}.{20 + i}.0.0/16" for i in range(20)]


def rule(name, prio, direction, access, proto, src="*", dport="*", dst="*"):
    return {"name": name, "id": f"{NSG_ID}/securityRules/{name}", "properties": {
        "priority": prio, "direction": direction, "access": access, "protocol": proto,
        "sourceAddressPrefix": src, "sourcePortRange": "*", "destinationAddressPrefix": dst,
        "destinationPortRange": dport}}


def configuration():
    rules = [
        rule("Allow-Https", 100, "Inbound", "Allow", "Tcp", dport="443"),
        rule("Allow-Ssh-Mgmt", 110, "Inbound", "Allow", "Tcp", src=MGMT, dport="22"),
        rule("Deny-Rdp", 120, "Inbound", "Deny", "*", dport="3389"),
        rule("Deny-Smb-Out", 130, "Outbound", "Deny", "Tcp", dport="445", dst="Internet"),
    ]
    rules += [rule(f"Allow-Partner-{i}", 200 + i, "Inbound", "Allow", "Tcp", src=p, dport=str(5000 + i))
              for i, p in enumerate(PARTNERS)]
    vnet = f"{SUB}/virtualNetworks/vnet-bench"
    return {"value": [
        {"id": NSG_ID, "name": "nsg-bench", "type": "Microsoft.Network/networkSecurityGroups",
         "location": "westeurope", "properties": {"securityRules": rules}},
        {"id": vnet, "name": "vnet-bench", "type": "Microsoft.Network/virtualNetworks", "location": "westeurope",
         "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "subnets": [
             {"id": f"{vnet}/subnets/web", "name": "web", "properties": {
                 "addressPrefix": "10.0.1.0/24", "networkSecurityGroup": {"id": NSG_ID}}}]}},
    ]}


def activity(at):
    """The Activity Log write that creates Temp-Debug at `at` (one JSON line)."""
    body = rule("Temp-Debug", 150, "Inbound", "Allow", "Tcp", dport="8443")
    ts = time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime(at))
    return json.dumps({
        "time": ts, "resourceId": f"{NSG_ID}/securityRules/Temp-Debug", "category": "Administrative",
        "operationName": "MICROSOFT.NETWORK/NETWORKSECURITYGROUPS/SECURITYRULES/WRITE", "resultType": "Success",
        "resultSignature": "Succeeded.Created", "correlationId": "c0ffee00-0000-0000-0000-000000000001",
        "callerIpAddress": "203.0.113.77", "level": "Information", "identity": {"claims": {"name": "bench"}},
        "properties": {"statusCode": "Created", "responseBody": json.dumps(body)},
    })


def decide(rnd, t, debug_from):
    """One inbound or outbound tuple head and the rule Azure would log for it."""
    r = rnd.random()
    ext = f"{rnd.randint(30, 90)}.{rnd.randint(0, 255)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
    local = f"10.0.1.{4 + rnd.randrange(40)}"
    sport = rnd.randrange(30000, 65535)
    if r < 0.40:
        return f"{ext},{local},{sport},443,T,I", "A", "UserRule_Allow-Https"
    if r < 0.45:
        return f"192.0.2.{rnd.randint(1, 254)},{local},{sport},22,T,I", "A", "UserRule_Allow-Ssh-Mgmt"
    if r < 0.50:
        return f"{ext},{local},{sport},22,T,I", "D", "DefaultRule_DenyAllInBound"
    if r < 0.53:
        return f"{ext},{local},{sport},3389,{rnd.choice('TU')},I", "D", "UserRule_Deny-Rdp"
    if r < 0.65:
        i = rnd.randrange(20)
        src = f"{11 + i}.{20 + i}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}"
        return f"{src},{local},{sport},{5000 + i},T,I", "A", f"UserRule_Allow-Partner-{i}"
    if r < 0.68:
        if t >= debug_from:
            return f"{ext},{local},{sport},8443,T,I", "A", "UserRule_Temp-Debug"
        return f"{ext},{local},{sport},8443,T,I", "D", "DefaultRule_DenyAllInBound"
    if r < 0.70:
        return f"{local},{ext},{sport},445,T,O", "D", "UserRule_Deny-Smb-Out"
    if r < 0.80:
        other = f"10.0.{rnd.randrange(0, 5)}.{rnd.randint(4, 250)}"
        return f"{other},{local},{sport},{rnd.choice((80, 1433, 8080))},T,I", "A", "DefaultRule_AllowVnetInBound"
    if r < 0.99:
        return f"{local},{ext},{sport},{rnd.choice((443, 80, 53))},{rnd.choice('TU')},O", "A", \
            "DefaultRule_AllowInternetOutBound"
    return f"{ext},{local},{sport},9000,T,I", "A", "UserRule_Legacy-Rule"


def generate(root, n_tuples, seed=7):
    """Writes the configuration, the Activity Log and hourly PT1H.json blobs; returns tuples written."""
    rnd = random.Random(seed)
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "nsg-bench-rest.json"), "w") as f:
        json.dump(configuration(), f)
    debug_from = DAY0 + DAYS * 86400 // 2
    with open(os.path.join(root, "activity.json"), "w") as f:
        f.write(activity(debug_from) + "\n")
    flows = os.path.join(root, "insights-logs-networksecuritygroupflowevent", "resourceId=" + DVC)
    hours = DAYS * 24
    per_hour = max(1, n_tuples // hours)
    written = 0
    for h in range(hours):
        base = DAY0 + h * 3600
        groups = {}
        for _ in range(per_hour):
            t = base + rnd.randrange(3600)
            head, action, name = decide(rnd, t, debug_from)
            groups.setdefault(name, []).append(f"{t},{head},{action},B,,,,")
        records = []
        for name, tuples in sorted(groups.items()):
            for i in range(0, len(tuples), 2000):
                records.append(json.dumps({
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S.0000000Z", time.gmtime(base + 60 + i // 2000)),
                    "systemId": "bench", "category": "NetworkSecurityGroupFlowEvent", "resourceId": DVC,
                    "operationName": "NetworkSecurityGroupFlowEvents",
                    "properties": {"Version": 2, "flows": [{"rule": name, "flows": [
                        {"mac": "000D3AF8801A", "flowTuples": tuples[i:i + 2000]}]}]},
                }, separators=(",", ":")))
        ts = time.gmtime(base)
        d = os.path.join(flows, f"y={ts.tm_year}/m={ts.tm_mon:02}/d={ts.tm_mday:02}/h={ts.tm_hour:02}/m=00")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "PT1H.json"), "w") as f:
            f.write('{"records":[\n' + ",\n".join(records) + "\n]}\n")
        written += per_hour
    return written


def run(cmd):
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"{cmd} failed: {p.stderr.decode(errors='replace')}")
    return dt, p.stdout


def main():
    home = os.environ.get("HOME", "")
    ap = argparse.ArgumentParser()
    ap.add_argument("--tuples", type=int, default=10_000_000)
    ap.add_argument("--azir", default=os.path.join(home, ".cache/azir-release/release/azir"),
                    help="the binary timed (must have `nsg crosscheck`)")
    ap.add_argument("--ingest-azir", default=None, help="binary for the ingest (default: --azir)")
    ap.add_argument("--work", default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="worker threads (0 = all cores)")
    ap.add_argument("--no-baseline", action="store_true", help="skip timing `flows rules`")
    args = ap.parse_args()
    for b in (args.azir, args.ingest_azir):
        if b and not os.path.exists(b):
            sys.exit(f"no azir binary at {b}")
    if subprocess.run([args.azir, "nsg", "crosscheck", "--help"], capture_output=True).returncode != 0:
        sys.exit(f"{args.azir} has no `nsg crosscheck`: build this tree (a release build when possible)")
    work = args.work or tempfile.mkdtemp(prefix="azir-crosscheck-bench-")
    evidence = os.path.join(work, f"evidence-{args.tuples}")
    case = os.path.join(work, f"case-{args.tuples}")
    if not os.path.isdir(case):
        shutil.rmtree(evidence, ignore_errors=True)
        t0 = time.perf_counter()
        n = generate(evidence, args.tuples)
        print(f"generated {n:,} tuples in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
        dt, _ = run([args.ingest_azir or args.azir, "--quiet", "ingest", evidence, "--case", case])
        print(f"ingested in {dt:.1f}s", file=sys.stderr)
        shutil.rmtree(evidence, ignore_errors=True)
    threads = ["--threads", str(args.threads)] if args.threads else []
    cc_cmd = [args.azir, "--json", "nsg", "crosscheck", "--case", case, "--limit", "20"] + threads
    scan_cmd = [args.azir, "--json", "flows", "rules", "--case", case] + threads
    cc_times, scan_times, report = [], [], None
    for _ in range(args.repeat):
        dt, out = run(cc_cmd)
        cc_times.append(dt)
        report = json.loads(out)
        if not args.no_baseline:
            dt, _ = run(scan_cmd)
            scan_times.append(dt)
    tuples = report["tuples"]
    cc = statistics.median(cc_times)
    scan = statistics.median(scan_times) if scan_times else None
    print(json.dumps({
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "binary": args.azir,
        "threads": args.threads or os.cpu_count(),
        "tuples": tuples,
        "agree": report["agree"], "disagree": report["disagree"], "not_evaluable": report["not_evaluable"],
        "versions": report["versions"],
        "crosscheck_s": round(cc, 3), "crosscheck_tuples_per_s": round(tuples / cc),
        "flows_rules_s": scan and round(scan, 3), "flows_rules_tuples_per_s": scan and round(tuples / scan),
        "runs": args.repeat,
    }, indent=2))


if __name__ == "__main__":
    main()
