#!/usr/bin/env python3
"""`make bench` SDK figures: an app on libbraid through the Braid service against the same app
on the kernel's sockets (libbraid's fallback), and an unmodified app through the preload shim
against the same app on the kernel, to the same kernel server, over the same veth, in one run,
alternating. Written in run-bench's schema {name: {value, unit, baseline, ratio, note}}
to --out (scripts/run-bench passes build/bench/parts/sdk.json):

  sdk.rr_p50.ratio_vs_kernel   64-byte request/response latency (us), median, seen by the
  sdk.rr_p99.ratio_vs_kernel   braid-perf rr client on A (one connection, TCP_NODELAY, back to
                               back for --seconds); value: its sockets on the Braid service,
                               baseline: the same binary on kernel TCP; ratio value/baseline
                               (lower is better). p99: the 99th percentile.
  sdk.throughput.ratio_vs_kernel
                               bulk Gbit/s, braid-perf client A -> server B for --seconds, from
                               the first write to the server's record (every byte received and
                               checked: SHA-256 at both ends, pattern-checked); value: through
                               the Braid service with braid_send (a copy into the shared FIFO),
                               baseline: kernel TCP (send); ratio value/baseline.
  sdk.throughput_zerocopy.ratio_vs_kernel
                               the same with --zerocopy on the Braid side (braid_send_reserve /
                               commit: the app writes its bytes into the FIFO itself); baseline:
                               the same kernel TCP runs.
  preload.rr_p50.ratio_vs_kernel
                               64-byte request/response latency (us), median, seen by an
                               unmodified plain-sockets client (tests/bench/rr_client.cc: libc's
                               socket/connect/send/recv, braid-perf's rr exchange, every response
                               byte checked) to the same braid-perf server on B; value: run under
                               LD_PRELOAD=libbraid_preload.so (its socket on the Braid service),
                               baseline: the same binary as it is (kernel TCP); ratio
                               value/baseline (lower is better).

The testbed (why this one): one direct veth pair a0 -- b0 (no router: its forwarding would add
the same kernel work to both runs), IPv4, TSO/GSO/GRO and TX checksum offload off on both ends in
both runs, so that B's kernel receives MTU-sized packets with their checksums in both. Plain TCP
(braid-perf --tcp, braid-testapp --serve without --mptcp): the figures compare the app path
(libbraid's channel + Braid's TCP vs the kernel's socket layer + TCP), not multipath. A's veth
alternates between braid-testapp --serve (DPDK af_packet by default, --pmd; braidtest.braid hands
the interface over) and the kernel (addresses and routes given back).

Cores (stated in every note): 0-based ids of the two CPUs this process may use, low and high.
B's braid-perf server (kernel sockets) and A's client (braid-perf, or rr_client) run on the low
core in every run; the service's one worker lcore busy-polls (--idle busy) on the high core, which
the kernel runs leave idle. So Braid's figures use one core more than the kernel's: the dedicated
stack core.
veth delivers a packet in the sender's context, so B's receive work lands on the sender's core
(A's app core for the kernel, the service core for Braid).

Medians of --reps (default 3) repetitions, each measuring Braid (rr, bulk, bulk zero-copy, the
shim's rr) and the kernel (rr, bulk, rr_client's rr) in alternating order, --seconds (default 3)
per measurement; the whole part takes about 1.5 minutes. A measurement that fails (error, not
byte-exact, the shim's socket not on Braid) fails the part: it writes nothing. Skips (writes
nothing and removes an old part, saying why) without root, namespaces, ethtool, taskset, two CPUs,
braid-testapp, braid-perf, rr_client or libbraid_preload.so. The binaries are the default build
tree's unless named: --testapp / $BRAID_TESTAPP, --perf / $BRAID_PERF, --rr-client /
$BRAID_RR_CLIENT, --preload / $BRAID_PRELOAD_LIB.
"""

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e", "lib"))

import braidtest  # noqa: E402
from braidtest import braid  # noqa: E402

PREFIX = "braid-sdkbench-"
PORT = 5501
RR_SIZE = 64


def log(msg):
    print("sdk_bench: " + msg, flush=True)


class BenchError(RuntimeError):
    pass


def pinned(cpu, argv):
    return ["taskset", "-c", str(cpu)] + [str(a) for a in argv]


def no_offloads(node, ifname):
    node.run(["ethtool", "-K", ifname, "tso", "off", "gso", "off", "gro", "off", "tx", "off"],
             check=False)


class Bench:
    def __init__(self, tb, args, cpu_low, cpu_high):
        self.tb, self.args = tb, args
        self.cpu_low, self.cpu_high = cpu_low, cpu_high
        self.a, self.b = tb.a, tb.b
        self.service_path = "@braid/sdkbench-%d" % os.getpid()
        self.nobody = "@braid/sdkbench-nobody-%d" % os.getpid()
        self.server = None
        self.service = None
        self.service_cpu = []

    def start_server(self):
        cmd = ["env", "BRAID_SOCKET=" + self.nobody] + pinned(
            self.cpu_low, [self.args.perf, "-s", "-p", PORT, "--tcp", "--json"])
        self.server = self.b.popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.server.stdout.readline().decode()
        if '"listening"' not in line or '"kernel"' not in line:
            raise BenchError("braid-perf server on b did not start: %r" % line)

    def client(self, socket_path, *args):
        cmd = ["env", "BRAID_SOCKET=" + socket_path] + pinned(
            self.cpu_low, [self.args.perf, "-c", self.tb.addr("b", 0), "-p", PORT, "--tcp",
                           "--json", "-t", self.args.seconds] + list(args))
        p = self.a.run(cmd, timeout=self.args.seconds + 30, check=False)
        try:
            r = json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise BenchError("braid-perf %s printed no result (exit %d): %s" %
                             (" ".join(map(str, args)), p.returncode, p.stderr[-1000:]))
        if r.get("error") or p.returncode != 0:
            raise BenchError("braid-perf %s failed: %s" % (" ".join(map(str, args)),
                                                           r.get("error")))
        return r

    def preload_client(self, socket_path):
        """rr_client's rr to B's braid-perf server: under the shim on the Braid service at
        socket_path, or (None) as it is, on kernel TCP."""
        shim = []
        if socket_path:
            shim = ["LD_PRELOAD=" + self.args.preload, "BRAID_SOCKET=" + socket_path,
                    "BRAID_PRELOAD_DEBUG=1"]
        cmd = ["env"] + shim + pinned(
            self.cpu_low, [self.args.rr_client, "--connect", self.tb.addr("b", 0), "--port", PORT,
                           "--size", RR_SIZE, "--seconds", self.args.seconds])
        p = self.a.run(cmd, timeout=self.args.seconds + 30, check=False)
        try:
            r = json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise BenchError("rr_client printed no result (exit %d): %s" %
                             (p.returncode, p.stderr[-1000:]))
        if r.get("error") or p.returncode != 0:
            raise BenchError("rr_client failed: %s" % r.get("error"))
        # The shim says where each TCP socket went (BRAID_PRELOAD_DEBUG): "fd N: Braid".
        notes = [line for line in p.stderr.splitlines() if line.startswith("libbraid_preload[")]
        if socket_path and (len(notes) != 1 or not notes[0].endswith(": Braid")):
            raise BenchError("rr_client's socket under the shim was not Braid's: %s" % notes)
        return r

    def pinned_testapp(self):
        """braid-testapp under `taskset -c HIGH` (its EAL takes its one lcore from the mask)."""
        path = os.path.join(self.tb.workdir, "braid-testapp-on-core-%d" % self.cpu_high)
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write("#!/bin/sh\nexec taskset -c %d %s \"$@\"\n" %
                        (self.cpu_high, shlex.quote(self.args.testapp)))
            os.chmod(path, 0o755)
        return path

    def braid_runs(self):
        self.service = braid.start_braid(
            self.a, 0, "--serve", self.service_path, pmd=self.args.pmd, family=4,
            extra=["--lcores", self.cpu_high, "--idle", "busy", "--nodelay"],
            binary=self.pinned_testapp())
        no_offloads(self.b, self.tb.b.iface(0))
        try:
            rr = self.client(self.service_path, "--mode", "rr", "--size", RR_SIZE)
            tp = self.client(self.service_path)
            zc = self.client(self.service_path, "--zerocopy")
            prr = self.preload_client(self.service_path)
        finally:
            summary = self.service.stop() or {}
            self.kernel_takeback()
        for r in (rr, tp, zc):
            if r.get("stack") != "braid":
                raise BenchError("a Braid run used %s sockets" % r.get("stack"))
        if zc.get("zerocopy") is not True:
            raise BenchError("the zero-copy run did not use the zero-copy calls")
        self.service_cpu.append(sum(w.get("cpu_s", 0) for w in summary.get("workers", [])))
        return rr, tp, zc, prr

    def kernel_runs(self):
        rr = self.client(self.nobody, "--mode", "rr", "--size", RR_SIZE)
        tp = self.client(self.nobody)
        for r in (rr, tp):
            if r.get("stack") != "kernel":
                raise BenchError("a kernel run used %s sockets" % r.get("stack"))
        prr = self.preload_client(None)
        return rr, tp, prr

    def kernel_takeback(self):
        """Undoes braidtest.braid.prepare_interface on a0: ARP and IPv6 on, addresses and
        routes back, offloads as in the Braid runs."""
        a, ifname = self.a, self.a.iface(0)
        a.ip(["link", "set", ifname, "arp", "on"])
        a.sysctl("net.ipv6.conf.%s.disable_ipv6" % ifname, 0)
        a.ip(["addr", "replace", "%s/28" % self.tb.addr("a", 0, 4), "dev", ifname])
        a.ip(["addr", "replace", "%s/64" % self.tb.addr("a", 0, 6), "dev", ifname, "nodad"])
        self.tb.dpdk_owned.discard(("a", ifname))
        self.tb.link_up(0, "a")
        no_offloads(a, ifname)
        no_offloads(self.b, self.b.iface(0))


def figure(value, unit, baseline, note):
    return {"value": round(value, 4), "unit": unit, "baseline": round(baseline, 4),
            "ratio": round(value / baseline, 4) if baseline else None, "note": note}


def write_part(path, figures):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(figures, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def remove_part(path):
    if path and os.path.exists(path):
        os.unlink(path)


def check_setup(args):
    reason = braidtest.check_e2e(("root", "netns"))
    if reason:
        return reason
    for tool, pkg in (("ethtool", "ethtool"), ("taskset", "util-linux")):
        if shutil.which(tool) is None:
            return "%s not found (package %s)" % (tool, pkg)
    if len(os.sched_getaffinity(0)) < 2:
        return "needs two CPUs, %d allowed" % len(os.sched_getaffinity(0))
    for path, target in ((args.testapp, "braid-testapp"), (args.perf, "braid-perf"),
                         (args.rr_client, "rr_client")):
        if not os.access(path, os.X_OK):
            return "%s is not built (target %s)" % (path, target)
    if not os.path.exists(args.preload):
        return "%s is not built (target braid_preload)" % args.preload
    return None


def figures_from(runs, bench, args, elapsed):
    med = statistics.median
    gbit = lambda r: r["bits_per_second"] / 1e9  # noqa: E731
    k_rr = {q: med([r["latency_us"][q] for r in runs["kernel_rr"]]) for q in ("p50", "p99")}
    b_rr = {q: med([r["latency_us"][q] for r in runs["braid_rr"]]) for q in ("p50", "p99")}
    k_tp = med([gbit(r) for r in runs["kernel_tp"]])
    b_tp = med([gbit(r) for r in runs["braid_tp"]])
    b_zc = med([gbit(r) for r in runs["braid_zc"]])
    k_prr = {q: med([r["latency_us"][q] for r in runs["kernel_prr"]]) for q in ("p50", "p99")}
    b_prr = {q: med([r["latency_us"][q] for r in runs["braid_prr"]]) for q in ("p50", "p99")}
    cpu = lambda key: [round(r["cpu_s"]["total"], 2) for r in runs[key]]  # noqa: E731
    setup = ("one direct veth a0 -- b0, IPv4, plain TCP (braid-perf --tcp; braid-testapp --serve "
             "without --mptcp, DPDK %s, --nodelay), TSO/GSO/GRO and TX checksum offload off on "
             "both ends; cores: B's braid-perf server (kernel TCP) and A's client (braid-perf or "
             "rr_client) on core %d in every run, the Braid service's one worker lcore "
             "busy-polling on core %d (idle in the kernel runs: Braid uses one core more); "
             "medians of %d alternating "
             "repetitions of %g s each (this part took %.0f s)" %
             (args.pmd, bench.cpu_low, bench.cpu_high, args.reps, args.seconds, elapsed))
    rr_note = ("%d-byte request/response, one connection, TCP_NODELAY, back to back, latency "
               "from braid-perf rr's histogram (1/64 resolution); value: through the Braid "
               "service, baseline: the same binary on kernel TCP (BRAID_SOCKET naming no "
               "service); %s; app CPU s braid %s kernel %s" %
               (RR_SIZE, setup, cpu("braid_rr"), cpu("kernel_rr")))
    preload_note = ("median; %d-byte request/response, one connection, TCP_NODELAY, back to back, "
                    "from rr_client (an unmodified plain-sockets app, every response byte checked) "
                    "to B's braid-perf rr server, latency of every transaction (exact, nearest "
                    "rank); value: under LD_PRELOAD=libbraid_preload.so (its socket on the Braid "
                    "service), baseline: the same binary without it (kernel TCP); p99 braid %.1f "
                    "us, kernel %.1f us; %s; app CPU s braid %s kernel %s" %
                    (RR_SIZE, b_prr["p99"], k_prr["p99"], setup, cpu("braid_prr"),
                     cpu("kernel_prr")))
    tp_note = ("bulk A -> B, 128 KiB writes, Gbit/s of payload from the first write to the "
               "server's record (all received, SHA-256 equal, pattern-checked); baseline: the "
               "same binary on kernel TCP; %s; app CPU s braid copy %s, zero-copy %s, kernel %s; "
               "service worker CPU s per repetition (rr + both bulk runs) %s" %
               (setup, cpu("braid_tp"), cpu("braid_zc"), cpu("kernel_tp"),
                [round(c, 2) for c in bench.service_cpu]))
    return {
        "sdk.rr_p50.ratio_vs_kernel": figure(b_rr["p50"], "us", k_rr["p50"],
                                             "median; " + rr_note),
        "sdk.rr_p99.ratio_vs_kernel": figure(b_rr["p99"], "us", k_rr["p99"],
                                             "99th percentile; " + rr_note),
        "sdk.throughput.ratio_vs_kernel": figure(b_tp, "Gbit/s", k_tp,
                                                 "value: braid_send (copy); " + tp_note),
        "sdk.throughput_zerocopy.ratio_vs_kernel": figure(
            b_zc, "Gbit/s", k_tp, "value: --zerocopy (braid_send_reserve/commit); " + tp_note),
        "preload.rr_p50.ratio_vs_kernel": figure(b_prr["p50"], "us", k_prr["p50"],
                                                 preload_note),
    }


def main():
    build = os.path.join(ROOT, "build")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="part file to write (run-bench: build/bench/parts/sdk.json)")
    ap.add_argument("--testapp", default=os.environ.get("BRAID_TESTAPP") or os.path.join(
        build, "tools", "braid-testapp", "braid-testapp"))
    ap.add_argument("--perf", default=os.environ.get("BRAID_PERF") or os.path.join(
        build, "tools", "braid-perf", "braid-perf"))
    ap.add_argument("--rr-client", default=os.environ.get("BRAID_RR_CLIENT") or os.path.join(
        build, "tests", "bench", "rr_client"))
    ap.add_argument("--preload", default=os.environ.get("BRAID_PRELOAD_LIB") or os.path.join(
        build, "sdk", "preload", "libbraid_preload.so"))
    ap.add_argument("--pmd", choices=("af_packet", "af_xdp"), default="af_packet")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()

    remove_part(args.out)  # a part from an earlier run must not outlive a failed one
    reason = check_setup(args)
    if reason:
        log("skipped, no sdk.* figures: " + reason)
        return 0
    cpus = sorted(os.sched_getaffinity(0))
    cpu_low, cpu_high = cpus[0], cpus[-1]
    runs = {k: [] for k in ("braid_rr", "braid_tp", "braid_zc", "braid_prr", "kernel_rr",
                            "kernel_tp", "kernel_prr")}
    t0 = time.monotonic()
    with braidtest.Testbed(paths=1, router=False, mptcp=False, prefix=PREFIX) as tb:
        bench = Bench(tb, args, cpu_low, cpu_high)
        no_offloads(tb.a, tb.a.iface(0))
        no_offloads(tb.b, tb.b.iface(0))
        bench.start_server()
        for rep in range(args.reps):
            order = ("braid", "kernel") if rep % 2 == 0 else ("kernel", "braid")
            for who in order:
                if who == "braid":
                    rr, tp, zc, prr = bench.braid_runs()
                    runs["braid_zc"].append(zc)
                else:
                    rr, tp, prr = bench.kernel_runs()
                runs[who + "_rr"].append(rr)
                runs[who + "_tp"].append(tp)
                runs[who + "_prr"].append(prr)
                log("rep %d %-6s rr p50 %7.1f us p99 %7.1f us, bulk %6.3f Gbit/s%s, "
                    "rr_client p50 %7.1f us p99 %7.1f us" %
                    (rep + 1, who, rr["latency_us"]["p50"], rr["latency_us"]["p99"],
                     tp["bits_per_second"] / 1e9,
                     (", zero-copy %6.3f Gbit/s" % (zc["bits_per_second"] / 1e9))
                     if who == "braid" else "",
                     prr["latency_us"]["p50"], prr["latency_us"]["p99"]))
    elapsed = time.monotonic() - t0
    figures = figures_from(runs, bench, args, elapsed)
    if args.out:
        write_part(args.out, figures)
        log("wrote %s (%.0f s)" % (args.out, elapsed))
    else:
        print(json.dumps(figures, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchError, braidtest.BraidError, braidtest.CommandError, subprocess.TimeoutExpired,
            TimeoutError) as e:
        log("FAILED: %s: %s" % (type(e).__name__, e))
        sys.exit(1)
