#!/usr/bin/env python3
"""disc_probe.py - discovery latency, seen from a neighbour.

    disc_probe.py ADDR[:PORT] --ids-file F [--ids N] [--count C]
                  [--interval-ms I] [--timeout-ms T]

Sends C PROBE datagrams (docs/PROTOCOL.md, "UDP discovery": untagged,
version 1) for the first N ids of F (lines starting with 64 hex digits) to
ADDR (a node, or a broadcast address), one every I ms, and times each from
the sendto() to the first valid ANSWER with the probe's txid and count and
at least one "have" bit.  A probe without such an answer within T ms
counts as lost.  Prints one line:

    probes=C answered=A lost=L p50_ms=.. p90_ms=.. p99_ms=.. max_ms=..
    answers=K

(answers: every valid answer received, first or not).  Written from the
document, not from the daemon's code, like tests/helpers/pc-peer-tool.
The interval keeps the prober under a node's per-source rate limit
(100 probes/s, burst 200).
"""
import argparse
import math
import os
import select
import socket
import struct
import sys
import time

MAGIC = b"PCDS"
VERSION = 1
PROBE, ANSWER = 1, 2
DISC_PORT = 8082


def load_ids(path, n):
    ids = []
    with open(path) as f:
        for line in f:
            word = line[:64]
            if len(word) == 64 and all(c in "0123456789abcdef" for c in word):
                ids.append(bytes.fromhex(word))
            if len(ids) == n:
                break
    if not ids:
        sys.exit("disc_probe: no ids in %s" % path)
    return ids


def parse_answer(data, txid, count):
    """The have bitmap of a valid answer to our probe, or None."""
    maplen = (count + 7) // 8
    if len(data) != 16 + 2 * maplen or data[:4] != MAGIC:
        return None
    version, kind, flags, n, rx_txid, port, reserved = struct.unpack(
        "!BBBBIHH", data[4:16])
    if (version != VERSION or kind != ANSWER or flags or reserved or
            n != count or rx_txid != txid or port == 0):
        return None
    return data[16:16 + maplen]


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    # nearest rank
    k = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[k - 1]


def probe_once(sock, dest, ids, timeout_s, counts):
    txid = struct.unpack("!I", os.urandom(4))[0]
    packet = (MAGIC + struct.pack("!BBBBIHH", VERSION, PROBE, 0, len(ids),
                                  txid, 0, 0) + b"".join(ids))
    start = time.perf_counter()
    sock.sendto(packet, dest)
    deadline = start + timeout_s
    first = None
    while True:
        left = deadline - time.perf_counter()
        if left <= 0:
            break
        ready, _, _ = select.select([sock], [], [], left)
        if not ready:
            break
        data, _ = sock.recvfrom(4096)
        arrived = time.perf_counter()
        have = parse_answer(data, txid, len(ids))
        if have is None:
            continue
        counts["answers"] += 1
        if first is None and any(have):
            first = arrived - start
            # Keep listening briefly for the other answers to this probe
            # (broadcast): they must not be taken for the next one's.
            deadline = min(deadline, arrived + 0.010)
    return first


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dest")
    ap.add_argument("--ids-file", required=True)
    ap.add_argument("--ids", type=int, default=1)
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--interval-ms", type=float, default=12)
    ap.add_argument("--timeout-ms", type=float, default=200)
    args = ap.parse_args()
    if not 1 <= args.ids <= 64:
        sys.exit("disc_probe: --ids must be 1..64")

    host, _, port = args.dest.partition(":")
    dest = (host, int(port) if port else DISC_PORT)
    ids = load_ids(args.ids_file, args.ids)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.bind(("0.0.0.0", 0))

    counts = {"answers": 0}
    times = []
    lost = 0
    for _ in range(args.count):
        began = time.perf_counter()
        t = probe_once(sock, dest, ids, args.timeout_ms / 1000.0, counts)
        if t is None:
            lost += 1
        else:
            times.append(t * 1000.0)
        pause = args.interval_ms / 1000.0 - (time.perf_counter() - began)
        if pause > 0:
            time.sleep(pause)
    times.sort()
    print("probes=%d answered=%d lost=%d p50_ms=%.2f p90_ms=%.2f "
          "p99_ms=%.2f max_ms=%.2f answers=%d" %
          (args.count, len(times), lost, percentile(times, 50),
           percentile(times, 90), percentile(times, 99),
           times[-1] if times else float("nan"), counts["answers"]))


if __name__ == "__main__":
    main()
