#!/usr/bin/env python3
"""Packet capture to flows: `azir ingest CAPTURE` vs `tshark -q -z conv,tcp -z conv,udp`.

Writes a classic pcap (Ethernet/IPv4, microsecond timestamps) of about --size-mib MiB: TCP
connections (handshake, HTTP request, bulk data both ways, FIN), DNS queries and answers over
UDP, and some short UDP exchanges, between seeded random hosts. Then, alternating, --repeat
times each:

  * azir ingest CAPTURE --case NEW   (flows per 5-tuple with counters and TCP flags, DNS/HTTP
                                      events, provenance, written to Parquet, custody log)
  * tshark -r CAPTURE -q -z conv,tcp -z conv,udp   (conversation table only, printed)

and prints median times, packets/s and the ratio, plus the flow counts both report.

Usage: bench/pcap_vs_tshark.py --azir target/release/azir [--size-mib 300] [--repeat 3]
"""

import argparse
import os
import random
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time


def ip(a):
    return struct.pack("!I", a)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return (~s) & 0xFFFF


def ipv4(src, dst, proto, payload, ident):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, 0x4000, 64, proto, 0, ip(src), ip(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def tcp(sport, dport, seq, ack, flags, data=b""):
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0) + data


def udp(sport, dport, data):
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def dns_query(qid, name):
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack("!HH", 1, 1)


def dns_answer(qid, name, addr):
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    return (struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + q + struct.pack("!HH", 1, 1)
            + struct.pack("!HHHIH", 0xC00C, 1, 1, 300, 4) + ip(addr))


class Writer:
    def __init__(self, f):
        self.f = f
        self.n = 0
        self.bytes = 24
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))

    def packet(self, t, smac, dmac, ippkt):
        frame = dmac + smac + b"\x08\x00" + ippkt
        sec = int(t)
        self.f.write(struct.pack("<IIII", sec, int((t - sec) * 1e6), len(frame), len(frame)) + frame)
        self.n += 1
        self.bytes += 16 + len(frame)


def generate(path, size, seed):
    rng = random.Random(seed)
    internal = [0x0A000000 + rng.randrange(1, 1 << 16) for _ in range(200)]
    external = [rng.randrange(0x01000000, 0xDF000000) for _ in range(2000)]
    mac = lambda a: b"\x02\x00" + ip(a)
    t = 1_773_000_000.0
    flows = 0
    with open(path, "wb", buffering=1 << 20) as f:
        w = Writer(f)
        ident = 0
        while w.bytes < size:
            t += rng.random() * 0.01
            kind = rng.random()
            c, s = rng.choice(internal), rng.choice(external)
            cp = rng.randrange(1024, 65535)
            if kind < 0.6:
                sp = rng.choice([443, 80, 22, 8443])
                seq, ack = rng.randrange(1 << 32), rng.randrange(1 << 32)
                pk = [(c, s, tcp(cp, sp, seq, 0, 0x02)), (s, c, tcp(sp, cp, ack, seq + 1, 0x12)),
                      (c, s, tcp(cp, sp, seq + 1, ack + 1, 0x10))]
                if sp == 80:
                    req = f"GET /{rng.randrange(1 << 20)} HTTP/1.1\r\nHost: h{rng.randrange(500)}.example\r\nUser-Agent: bench\r\n\r\n".encode()
                    pk.append((c, s, tcp(cp, sp, seq + 1, ack + 1, 0x18, req)))
                for _ in range(rng.randrange(2, 24)):
                    pk.append((s, c, tcp(sp, cp, ack + 1, seq + 1, 0x10, b"x" * rng.choice([1400, 1400, 512, 64]))))
                    if rng.random() < 0.3:
                        pk.append((c, s, tcp(cp, sp, seq + 1, ack + 1, 0x10, b"y" * 100)))
                pk += [(c, s, tcp(cp, sp, seq + 1, ack + 1, 0x11)), (s, c, tcp(sp, cp, ack + 1, seq + 2, 0x11)),
                       (c, s, tcp(cp, sp, seq + 2, ack + 2, 0x10))]
                for a, b, seg in pk:
                    t += rng.random() * 0.002
                    ident += 1
                    w.packet(t, mac(a), mac(b), ipv4(a, b, 6, seg, ident))
            elif kind < 0.85:
                dnsd = 0x0A000002
                name = f"host{rng.randrange(5000)}.example.com"
                qid = rng.randrange(1 << 16)
                ident += 1
                w.packet(t, mac(c), mac(dnsd), ipv4(c, dnsd, 17, udp(cp, 53, dns_query(qid, name)), ident))
                t += 0.001
                w.packet(t, mac(dnsd), mac(c), ipv4(dnsd, c, 17, udp(53, cp, dns_answer(qid, name, s)), ident + 1))
            else:
                for _ in range(rng.randrange(1, 6)):
                    ident += 1
                    t += rng.random() * 0.01
                    w.packet(t, mac(c), mac(s), ipv4(c, s, 17, udp(cp, 123, b"\x23" + b"\0" * 47), ident))
                    w.packet(t + 0.01, mac(s), mac(c), ipv4(s, c, 17, udp(123, cp, b"\x24" + b"\0" * 47), ident))
            flows += 1
    return w.n, flows


def timed(cmd, out=subprocess.DEVNULL):
    t = time.perf_counter()
    subprocess.run(cmd, check=False, stdout=out, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--azir", required=True)
    ap.add_argument("--size-mib", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    if not shutil.which("tshark"):
        sys.exit("tshark is needed (apt-get install tshark)")
    work = tempfile.mkdtemp(prefix="azir-pcap-")
    try:
        cap = os.path.join(work, "bench.pcap")
        t = time.perf_counter()
        packets, flows = generate(cap, a.size_mib << 20, a.seed)
        print(f"capture: {os.path.getsize(cap) / (1 << 20):.0f} MiB, {packets} packets, {flows} generated exchanges "
              f"(written in {time.perf_counter() - t:.0f}s)")
        times = {"azir ingest": [], "tshark conv": []}
        for r in range(a.repeat):
            case = os.path.join(work, f"case{r}")
            times["azir ingest"].append(timed([a.azir, "-q", "ingest", cap, "--case", case]))
            times["tshark conv"].append(timed(["tshark", "-r", cap, "-q", "-z", "conv,tcp", "-z", "conv,udp"]))
            print(f"  run {r + 1}: azir {times['azir ingest'][-1]:.2f}s  tshark {times['tshark conv'][-1]:.2f}s",
                  file=sys.stderr)
        conv = subprocess.run(["tshark", "-r", cap, "-q", "-z", "conv,tcp", "-z", "conv,udp"],
                              capture_output=True, text=True).stdout
        tshark_convs = sum(1 for line in conv.splitlines() if "<->" in line)
        show = subprocess.run([a.azir, "--json", "case", "show", os.path.join(work, "case0")],
                              capture_output=True, text=True).stdout
        med = {k: statistics.median(v) for k, v in times.items()}
        for k, v in times.items():
            print(f"{k:12} median {med[k]:7.2f}s  {packets / med[k] / 1e6:5.2f}M packets/s  "
                  f"runs {' '.join(f'{x:.2f}' for x in v)}")
        print(f"ratio tshark/azir {med['tshark conv'] / med['azir ingest']:.1f}x; tshark conversations {tshark_convs}")
        import json
        try:
            doc = json.loads(show)
            print(f"azir case: {doc.get('flows')} flows, {doc.get('events')} events (DNS/HTTP)")
        except ValueError:
            print(f"azir case show: {show.strip()[:200]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
