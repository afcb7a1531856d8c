#!/usr/bin/env python3
"""model.py - a fleet of many sites on paper, from figures measured here.

For 100 sites of 50 to 1,000 nodes each, WAN links of 10 Mbit/s to
1 Gbit/s and a 300 MiB daily update, it computes what each way of
sharing costs: the bytes the origin (the cloud mirror) sends, the bytes
each site's WAN link carries, the discovery packets each node sends and
receives, and the time until the last node of a site has the update.

Every input has a value and where it comes from: "measured" (a benchmark
of this repository on this machine, with the command that gave it),
"given" (the question asked: issue 15), or "ASSUMED" (a guess, to be
replaced by a measurement).  `--results FILE` (repeatable) reads the
"key value" lines that bench/sites.sh, bench/site_node.sh, bench/peers.sh
and bench/fleet.sh append to
$PC_BENCH_RESULTS and replaces the defaults with them; `--set NAME=VALUE`
overrides one input.  The defaults are the figures of the run recorded
in docs/BENCHMARKS.md ("Many sites").  Prints the inputs, then Markdown
tables.  A model, not a measurement: the formulas are below, each with
its reason, and they ignore what they do not name (TCP slow start, loss,
the origin's own capacity, nodes that are off).

The ways of sharing (columns):

  cloud        every node fetches the whole update from the origin
  peers        LAN peers: each subnet fetches each chunk about once
               (origin_ratio_subnet) and spreads it over the LAN
  squid        the site's squid, peers off: the site's WAN carries each
               chunk about once (squid_ratio); squid's LAN link serves
               every node
  squid+peers  both: the WAN carries the update once, squid serves each
               subnet once, peers spread it
  site node    groups of sites_per_site_node sites: one hub site (peers)
               fetches from the origin; the branch sites' nodes use a
               node of the hub as their mirror (peers in each branch
               subnet: site_node_ratio copies per branch subnet); the
               hub's uplink and the site node (site_node_mbyte_s) carry
               every branch's copy
"""

import argparse
import math
import sys

MIB = 1024 * 1024

# name: [value, unit, provenance, meaning]
INPUTS = {
    "sites": [100, "", "given (issue 15)", "sites in the fleet"],
    "update_mib": [300, "MiB", "given (issue 15)", "the daily update"],
    "poll_interval_s": [600, "s", "the default poll_interval",
                        "how often each node asks for the head"],
    "nodes_per_subnet": [250, "nodes", "ASSUMED",
                         "a /24 holds about 250 nodes: a site of N nodes "
                         "has ceil(N / 250) subnets"],
    "lan_mbit": [1000, "Mbit/s", "ASSUMED", "each node's LAN link"],
    "lan_efficiency": [0.94, "", "ASSUMED",
                       "TCP goodput / link rate on the LAN"],
    "squid_lan_mbit": [1000, "Mbit/s", "ASSUMED", "squid's LAN link"],
    "hub_uplink_mbit": [1000, "Mbit/s", "ASSUMED",
                        "the hub site's link towards its branches"],
    "sites_per_site_node": [10, "sites", "ASSUMED",
                            "a hub site and 9 branch sites per site node"],
    "site_node_ratio": [1.00, "x", "measured: bench/site_node.sh (256 MiB, "
                        "cold site node, 4 branch nodes, worst of 1 and 4)",
                        "bytes a branch subnet's link carries / update, "
                        "its nodes (peers on) using a site node as their "
                        "mirror"],
    "site_node_mbyte_s": [556, "MB/s", "measured: bench/site_node.sh "
                          "(256 MiB from a warm site node to 1 branch node, "
                          "links not limited, 2 CPUs shared by all)",
                          "what one site node sends its branches, from its "
                          "cache (a lower bound: the branch's readers may "
                          "set the pace)"],
    # The measured inputs: defaults from the runs of 2026-12-06 in
    # BENCHMARKS.md ("Many sites"), replaced by --results.
    "chunk_mib": [1.16, "MiB", "measured: bench/sites.sh (64 MiB file, 55 "
                  "chunks)", "average chunk size"],
    "peer_mbyte_s": [813, "MB/s", "measured: bench/peers.sh (throughput: "
                     "node B reads 256 MiB from A through its mount, best "
                     "of 3)", "one node reading from a peer (CPU-bound "
                     "here; the LAN link caps it)"],
    "wan_efficiency": [0.953, "", "measured: bench/sites.sh direct (8 nodes "
                       "at once, 100 Mbit/s tc tbf)",
                       "goodput / WAN link rate"],
    "origin_ratio_subnet": [1.27, "x", "measured: bench/sites.sh peers "
                            "(the worst of 4, 8, 16 nodes at 100 Mbit/s)",
                            "origin bytes / update, one subnet with peers, "
                            "WAN at or above slow_wan_mbit"],
    "origin_ratio_subnet_slow": [3.34, "x", "measured: bench/sites.sh "
                                 "peers (8 nodes, 10 Mbit/s, fetch_timeout "
                                 "raised to 600 s: with the default 30 s, "
                                 "reads fail at 10 and 30 Mbit/s)",
                                 "the same below slow_wan_mbit"],
    "slow_wan_mbit": [100, "Mbit/s", "ASSUMED between the runs at 30 "
                      "(reads failed) and 100 Mbit/s (worked)",
                      "below it, a subnet's peers lose their single flight "
                      "(claims outlast the neighbours' patience)"],
    "squid_ratio": [1.00, "x", "measured: bench/sites.sh squid (4 and 8 "
                    "nodes at 100 Mbit/s, 8 at 10 Mbit/s, peers off)",
                    "WAN bytes / update, one site with squid"],
    "udp_out_per_chunk": [2.54, "datagrams", "measured: bench/sites.sh "
                          "peers (UDP sent per node per chunk, the largest "
                          "of 4, 8, 16 nodes)",
                          "discovery datagrams a node sends per chunk"],
    "udp_in_per_chunk_base": [1.38, "datagrams", "measured: bench/sites.sh "
                              "peers, least squares over 4, 8, 16 nodes",
                              "discovery datagrams a node receives per "
                              "chunk: base ..."],
    "udp_in_per_chunk_per_node": [1.51, "datagrams", "measured: "
                                  "bench/sites.sh peers, least squares over "
                                  "4, 8, 16 nodes (extrapolated beyond 16)",
                                  "... plus this per other node of its "
                                  "subnet"],
    "head_response_bytes": [662, "bytes", "measured: squid's log of a "
                            "head poll (323 bytes of body)",
                            "one head poll's answer"],
}

NODE_COUNTS = [50, 200, 1000]
WAN_MBITS = [10, 100, 1000]
WAYS = ["cloud", "peers", "squid", "squid+peers", "site node"]


def read_results(path):
    """The "key value" lines of a PC_BENCH_RESULTS file."""
    found = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                try:
                    found[parts[0]] = float(parts[1])
                except ValueError:
                    pass
    return found


def measured(name, value, how, worst=False):
    """Sets an input from a benchmark; with worst, only if larger than
    what an earlier results file gave."""
    if worst and INPUTS[name][2].startswith("measured: --results") \
            and INPUTS[name][0] >= value:
        return
    INPUTS[name][0] = value
    INPUTS[name][2] = "measured: --results " + how


def apply_results(found, src):
    """Replaces defaults with what one results file measured (a later file
    wins, but ratios keep the worst of all files)."""
    wan = found.get("sites.wan_mbit")
    sites_n = sorted({int(k.split(".")[1]) for k in found
                      if k.startswith("sites.") and k.split(".")[1].isdigit()})
    if "sites.file_bytes" in found and "sites.chunks" in found:
        measured("chunk_mib", found["sites.file_bytes"] / found["sites.chunks"]
                 / MIB, f"{src} (bench/sites.sh)")
    if "peers.bytes" in found and "peers.mount_s" in found:
        measured("peer_mbyte_s", found["peers.bytes"] / found["peers.mount_s"]
                 / 1e6, f"{src} (bench/peers.sh, through the mount)")
    direct = [n for n in sites_n if f"sites.{n}.direct.seconds" in found]
    if wan and direct:
        n = direct[-1]
        one_copy = found["sites.file_bytes"] * 8 / (wan * 1e6)
        measured("wan_efficiency",
                 n * one_copy / found[f"sites.{n}.direct.seconds"],
                 f"{src} (bench/sites.sh direct, {n} nodes, {wan:.0f} Mbit/s)")
    slow = wan is not None and wan < v("slow_wan_mbit")
    peers_input = "origin_ratio_subnet_slow" if slow else "origin_ratio_subnet"
    for key, name, what in (("peers", peers_input, "peers"),
                            ("squid", "squid_ratio", "squid")):
        ratios = [(found[f"sites.{n}.{key}.origin_ratio"], n)
                  for n in sites_n if f"sites.{n}.{key}.origin_ratio" in found]
        if ratios:
            worst = max(ratios)
            measured(name, worst[0], f"{src} (bench/sites.sh {what}, the "
                     f"worst: {worst[1]} nodes, {wan:.0f} Mbit/s)", worst=True)
    points = [(n, found[f"sites.{n}.peers.udp_in_per_node_chunk"],
               found[f"sites.{n}.peers.udp_out_per_node_chunk"])
              for n in sites_n
              if f"sites.{n}.peers.udp_in_per_node_chunk" in found]
    if points:
        measured("udp_out_per_chunk", max(p[2] for p in points),
                 f"{src} (bench/sites.sh peers, the largest of "
                 f"{', '.join(str(p[0]) for p in points)} nodes)")
    if len(points) >= 2:
        # Least squares over the fleet sizes: received = base + slope *
        # (nodes - 1).
        xs = [p[0] - 1 for p in points]
        ys = [p[1] for p in points]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / \
            sum((x - mx) ** 2 for x in xs)
        how = (f"{src} (bench/sites.sh peers, fitted over "
               f"{', '.join(str(p[0]) for p in points)} nodes)")
        measured("udp_in_per_chunk_per_node", max(0.0, slope), how)
        measured("udp_in_per_chunk_base", max(0.0, my - slope * mx), how)
    apply_site_node(found, src)


def apply_site_node(found, src):
    """bench/site_node.sh: the branch link's bytes / file with the site
    node cold (pulling through; the worst of the branch sizes), and what
    the site node sent from its cache per second (warm; the best)."""
    sizes = sorted({int(k.split(".")[1]) for k in found
                    if k.startswith("site_node.") and k.split(".")[1].isdigit()})
    ratios = [(found[f"site_node.{n}.cold.branch_ratio"], n) for n in sizes
              if f"site_node.{n}.cold.branch_ratio" in found]
    if ratios:
        worst = max(ratios)
        measured("site_node_ratio", worst[0],
                 f"{src} (bench/site_node.sh cold, the worst: {worst[1]} "
                 "branch nodes)", worst=True)
    rates = [(found[f"site_node.{n}.warm.branch_ratio"]
              * found["site_node.file_bytes"]
              / found[f"site_node.{n}.warm.seconds"] / 1e6, n) for n in sizes
             if f"site_node.{n}.warm.seconds" in found
             and "site_node.file_bytes" in found]
    if rates:
        best = max(rates)
        measured("site_node_mbyte_s", best[0],
                 f"{src} (bench/site_node.sh warm, {best[1]} branch nodes, "
                 f"branch link {found.get('site_node.branch_mbit', 0):.0f} "
                 "Mbit/s)")


def v(name):
    return INPUTS[name][0]


def spread_s(nodes, node_bps):
    """The last chunk's way through a subnet: each generation of holders
    doubles, one chunk time per generation (the rest is pipelined behind
    the WAN or the LAN)."""
    if nodes <= 1:
        return 0.0
    return math.ceil(math.log2(nodes)) * v("chunk_mib") * MIB / node_bps


def model(nodes, wan_mbit):
    """{way: (origin bytes, WAN bytes per site, discovery datagrams per
    node, seconds until the last node has it)} for one site size and
    WAN link."""
    update = v("update_mib") * MIB
    sites = v("sites")
    wan_bps = wan_mbit * 1e6 / 8 * v("wan_efficiency")
    lan_bps = v("lan_mbit") * 1e6 / 8 * v("lan_efficiency")
    node_bps = min(v("peer_mbyte_s") * 1e6, lan_bps)
    squid_bps = v("squid_lan_mbit") * 1e6 / 8 * v("lan_efficiency")
    hub_bps = v("hub_uplink_mbit") * 1e6 / 8 * v("lan_efficiency")
    subnets = math.ceil(nodes / v("nodes_per_subnet"))
    per_subnet = min(nodes, v("nodes_per_subnet"))
    chunks = update / (v("chunk_mib") * MIB)
    disc = chunks * (v("udp_out_per_chunk") + v("udp_in_per_chunk_base")
                     + v("udp_in_per_chunk_per_node") * (per_subnet - 1))
    spread = spread_s(per_subnet, node_bps)
    slow = wan_mbit < v("slow_wan_mbit")
    r = v("origin_ratio_subnet_slow" if slow else "origin_ratio_subnet")
    q, s = v("squid_ratio"), v("site_node_ratio")
    own = update / lan_bps  # a node's own download, from a server
    own_peers = update / node_bps  # ... from its peers
    out = {}
    # Every node over the WAN: the link is shared by all of them.
    wan = nodes * update
    out["cloud"] = (sites * wan, wan, 0, max(wan / wan_bps, own))
    # Each subnet fetches the update about once; its nodes spread it.
    wan = subnets * r * update
    out["peers"] = (sites * wan, wan, disc,
                    max(wan / wan_bps, own_peers) + spread)
    # One copy over the WAN; squid's LAN link serves every node.
    wan = q * update
    out["squid"] = (sites * wan, wan, 0,
                    max(wan / wan_bps, nodes * update / squid_bps, own))
    # One copy over the WAN; squid serves each subnet about once.
    out["squid+peers"] = (sites * wan, wan, disc,
                          max(wan / wan_bps, subnets * r * update / squid_bps,
                              own_peers) + spread)
    # Hubs fetch from the origin with peers; each branch subnet fetches
    # from the hub's site node over the branch's WAN link; the hub's
    # uplink carries every branch's bytes.  Pipelined (pull-through):
    # the slowest link sets the pace, plus the spread at both ends.
    # s is measured on a fast branch link; on a slow one the branch's
    # peers stop waiting for each other as they do in front of the cloud
    # (r over its fast value).
    group = v("sites_per_site_node")
    hub_wan = subnets * r * update
    branch_wan = subnets * s * r / v("origin_ratio_subnet") * update
    hub_up = (group - 1) * branch_wan
    serve_bps = min(hub_bps, v("site_node_mbyte_s") * 1e6)
    out["site node"] = (sites / group * hub_wan, branch_wan, disc,
                        max(hub_wan / wan_bps, branch_wan / wan_bps,
                            hub_up / serve_bps, own_peers) + 2 * spread)
    return out


def number(x):
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.3g}"


def size(b):
    if b < 1e6:
        return f"{b / 1e3:.0f} kB"
    if b >= 1e12:
        return f"{b / 1e12:.1f} TB"
    if b >= 1e9:
        return f"{b / 1e9:.1f} GB"
    return f"{b / 1e6:.0f} MB"


def duration(s):
    if s >= 86400:
        return f"{s / 86400:.1f} d"
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 60:
        return f"{s / 60:.0f} min"
    return f"{s:.0f} s"


def table(head, rows, numeric=True):
    """A Markdown table; numeric: every column but the first right-aligned."""
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" if i == 0 or not numeric else "---:"
                         for i in range(len(head))) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", action="append", default=[],
                    help="a PC_BENCH_RESULTS file of the benchmarks")
    ap.add_argument("--set", action="append", default=[],
                    metavar="NAME=VALUE", help="override one input")
    args = ap.parse_args()
    for path in args.results:
        apply_results(read_results(path), path)
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in INPUTS:
            sys.exit(f"model.py: no input '{name}'")
        INPUTS[name][0] = float(value)
        INPUTS[name][2] = "set on the command line"

    print("Inputs:\n")
    table(["input", "value", "source", "meaning"],
          [[f"`{k}`", f"{number(val[0])} {val[1]}".strip(), val[2], val[3]]
           for k, val in INPUTS.items()], numeric=False)

    print(f"Bytes for one update of {v('update_mib'):g} MiB to "
          f"{v('sites'):g} sites (origin egress, all sites; WAN bytes, per "
          f"site; for the site node, per branch site):\n")
    rows = []
    for nodes in NODE_COUNTS:
        for wan, label in ((WAN_MBITS[0], f"{WAN_MBITS[0]} Mbit/s"),
                           (WAN_MBITS[1], f"{WAN_MBITS[1]}-{WAN_MBITS[-1]} "
                            "Mbit/s")):
            out = model(nodes, wan)
            rows.append([f"{nodes} nodes, {label}"] +
                        [f"{size(out[w][0])} / {size(out[w][1])}"
                         for w in WAYS])
    table(["site, WAN link"] + [f"{w}: origin / WAN per site" for w in WAYS],
          rows)

    print("Discovery datagrams per node for the update (sent and received; "
          "none without peers):\n")
    rows = []
    for nodes in NODE_COUNTS:
        out = model(nodes, WAN_MBITS[-1])
        rows.append([f"{nodes}", f"{min(nodes, v('nodes_per_subnet')):g}",
                     f"{out['peers'][2]:,.0f}"])
    table(["nodes per site", "nodes per subnet", "datagrams per node"], rows)

    print("Time until the last node of a site has the update (*: below "
          "slow_wan_mbit, only with fetch_timeout raised: with the default "
          "30 s, reads failed with EIO in the 10 Mbit/s run):\n")
    rows = []
    for nodes in NODE_COUNTS:
        for wan in WAN_MBITS:
            out = model(nodes, wan)
            mark = "*" if wan < v("slow_wan_mbit") else ""
            rows.append([f"{nodes} nodes, {wan} Mbit/s"] +
                        [duration(out[w][3]) +
                         (mark if w in ("peers", "site node") else "")
                         for w in WAYS])
    table(["site, WAN link"] + WAYS, rows)

    polls = [v("sites") * n / v("poll_interval_s") for n in NODE_COUNTS]
    print("Head polls at the origin (every node, every poll_interval, "
          "through squid too; with site nodes only the hubs' nodes): " +
          ", ".join(f"{n} nodes per site: {p:,.0f}/s "
                    f"({size(p * v('head_response_bytes'))}/s; site node "
                    f"{p / v('sites_per_site_node'):,.0f}/s)"
                    for n, p in zip(NODE_COUNTS, polls)) + ".")


if __name__ == "__main__":
    main()
