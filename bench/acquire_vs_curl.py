#!/usr/bin/env python3
"""Disk acquisition benchmark: `azir disk acquire` vs `curl` on the same sparse page blob.

Starts Azurite (the Azure Storage emulator, from npm; scripts/test installs it under
~/.cache/azir-tools) on loopback with on-disk persistence, uploads a page blob of --size-gib
GiB with --written percent of it written (1 MiB extents at seeded random places, random bytes,
a fixed VHD footer at the end, as a managed disk snapshot looks), then, alternating, --repeat
times each:

  * azir disk acquire --sas-url URL --out F   (page ranges, parallel ranged GETs, sparse file,
                                               MD5+SHA-1+SHA-256 of the whole disk as written)
  * curl -s -o F URL                          (the whole blob, zeros included, no hashes)
  * curl ... && sha256sum F                   (what an analyst runs to get one hash)

and prints the median times and ratios. Both outputs are checked to be byte-identical.

Usage: bench/acquire_vs_curl.py --azir target/release/azir [--size-gib 8] [--written 10]
"""

import argparse
import base64
import hashlib
import hmac
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="  # Azurite's public dev key
VERSION = "2021-08-06"


def sign(sts):
    sig = base64.b64encode(hmac.new(base64.b64decode(KEY), sts.encode(), hashlib.sha256).digest()).decode()
    return urllib.request.quote(sig, safe="")


def account_sas():
    sp, ss, srt, se, sv = "rwdlacup", "b", "sco", "2099-01-01T00:00:00Z", "2019-12-12"
    sts = f"{ACCOUNT}\n{sp}\n{ss}\n{srt}\n\n{se}\n\n\n{sv}\n"
    return f"sv={sv}&ss={ss}&srt={srt}&sp={sp}&se={se.replace(':', '%3A')}&sig={sign(sts)}"


def blob_sas(container, blob):
    sp, sv, sr, se = "r", "2019-12-12", "b", "2099-01-01T00:00:00Z"
    sts = f"{sp}\n\n{se}\n/blob/{ACCOUNT}/{container}/{blob}\n\n\n\n{sv}\n{sr}\n\n\n\n\n\n"
    return f"sv={sv}&sr={sr}&sp={sp}&se={se.replace(':', '%3A')}&sig={sign(sts)}"


def put(url, headers, body=b""):
    req = urllib.request.Request(url, data=body, method="PUT")
    req.add_header("x-ms-version", VERSION)
    for k, v in headers.items():
        req.add_header(k, v)
    with urllib.request.urlopen(req) as r:
        r.read()


def vhd_footer(size):
    f = bytearray(512)
    f[0:8] = b"conectix"
    f[8:12] = (2).to_bytes(4, "big")
    f[12:16] = (0x10000).to_bytes(4, "big")
    f[16:24] = (0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")
    f[28:32] = b"azir"
    f[40:48] = size.to_bytes(8, "big")
    f[48:56] = size.to_bytes(8, "big")
    f[56:60] = bytes([0xFF, 0xFF, 16, 255])
    f[60:64] = (2).to_bytes(4, "big")
    f[68:84] = bytes(range(16))
    f[64:68] = ((~sum(f)) & 0xFFFFFFFF).to_bytes(4, "big")
    return bytes(f)


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--azir", required=True)
    ap.add_argument("--size-gib", type=float, default=8)
    ap.add_argument("--written", type=float, default=10, help="percent of the disk holding data")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--azurite", default=os.path.expanduser("~/.cache/azir-tools/node_modules/.bin/azurite-blob"))
    ap.add_argument("--workdir", default=None, help="where the images go (default: a temp dir)")
    a = ap.parse_args()

    work = tempfile.mkdtemp(prefix="azir-acq-", dir=a.workdir)
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    store = os.path.join(work, "azurite")
    os.makedirs(store)
    az = subprocess.Popen(
        [a.azurite, "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", store,
         "--skipApiVersionCheck", "--loose", "--silent"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(150):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        base = f"http://127.0.0.1:{port}/{ACCOUNT}"
        put(f"{base}/bench?restype=container&{account_sas()}", {})
        mib = 1 << 20
        disk = int(a.size_gib * 1024) * mib
        size = disk + 512
        put(f"{base}/bench/snap.vhd?{account_sas()}",
            {"x-ms-blob-type": "PageBlob", "x-ms-blob-content-length": str(size)})
        rng = random.Random(42)
        extents = sorted(rng.sample(range(disk // mib), int(disk // mib * a.written / 100)))
        t = time.perf_counter()
        for i, e in enumerate(extents):
            body = rng.randbytes(mib)
            put(f"{base}/bench/snap.vhd?comp=page&{account_sas()}",
                {"x-ms-page-write": "update", "x-ms-range": f"bytes={e * mib}-{e * mib + mib - 1}"}, body)
            if i % 200 == 0:
                print(f"  uploading {i}/{len(extents)} MiB", file=sys.stderr)
        put(f"{base}/bench/snap.vhd?comp=page&{account_sas()}",
            {"x-ms-page-write": "update", "x-ms-range": f"bytes={disk}-{size - 1}"}, vhd_footer(disk))
        print(f"blob: {size} bytes, {len(extents)} MiB written in {len(extents)} extents "
              f"(upload {time.perf_counter() - t:.0f}s)")
        url = f"{base}/bench/snap.vhd?{blob_sas('bench', 'snap.vhd')}"

        times = {"azir": [], "curl": [], "curl+sha256sum": []}
        out_a = os.path.join(work, "a.vhd")
        out_c = os.path.join(work, "c.vhd")
        for r in range(a.repeat):
            for f in (out_a, out_c):
                if os.path.exists(f):
                    os.remove(f)
            times["azir"].append(timed([a.azir, "-q", "disk", "acquire", "--sas-url", url, "--out", out_a,
                                        "--concurrency", str(a.concurrency)]))
            times["curl"].append(timed(["curl", "-sfS", "-o", out_c, url]))
            t = time.perf_counter()
            subprocess.run(["sha256sum", out_c], check=True, stdout=subprocess.DEVNULL)
            times["curl+sha256sum"].append(times["curl"][-1] + time.perf_counter() - t)
            print(f"  run {r + 1}: azir {times['azir'][-1]:.2f}s  curl {times['curl'][-1]:.2f}s  "
                  f"curl+sha256sum {times['curl+sha256sum'][-1]:.2f}s", file=sys.stderr)
        same = subprocess.run(["cmp", out_a, out_c]).returncode == 0
        alloc = os.stat(out_a).st_blocks * 512
        med = {k: statistics.median(v) for k, v in times.items()}
        print(f"identical output: {same}; azir file allocates {alloc / mib:.0f} MiB of {size / mib:.0f} MiB")
        for k, v in times.items():
            print(f"{k:16} median {med[k]:7.2f}s  runs {' '.join(f'{x:.2f}' for x in v)}")
        print(f"ratio curl/azir {med['curl'] / med['azir']:.2f}x; "
              f"(curl+sha256sum)/azir {med['curl+sha256sum'] / med['azir']:.2f}x")
        if not same:
            sys.exit(1)
    finally:
        az.terminate()
        az.wait()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
