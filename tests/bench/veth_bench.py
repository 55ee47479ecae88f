#!/usr/bin/env python3
"""`make bench` figures on a real veth: Braid's TCP stack (braid-testapp on a DPDK port) against the
Linux kernel, each beside the same measurement made Linux-to-Linux, on the same veth, alternating,
in one run. Written in run-bench's schema {name: {value, unit, baseline, ratio, note}} to --out
(scripts/run-bench passes build/bench/parts/veth.json):

  tcp.veth.throughput.ratio_vs_kernel  bulk Gbit/s into a kernel receiver on B: value Braid -> Linux
                                       (braid-testapp send on A), baseline Linux -> Linux (tcp_peer
                                       send on A); ratio value/baseline (higher is better).
  tcp.veth.rr_p50.ratio_vs_kernel      64-byte request/response latency (µs) seen by tcp_peer's rr
  tcp.veth.rr_p99.ratio_vs_kernel      client on B: value against braid-testapp's echo server on A,
  (and rr_p90, rr_mean)                baseline against tcp_peer's echo server on A; ratio
                                       value/baseline (lower is better).

The testbed (why this one): one direct veth pair a0 -- b0, no router namespace: a router's
forwarding would add the same kernel work to both runs and, on two cores, dilute the difference
between the stacks. IPv4. TSO/GSO/GRO and TX checksum offload are off on both ends in both runs,
so both senders put MTU-sized, fully checksummed packets on the wire and B's kernel receives and
verifies every packet the same way (a DPDK port on a veth cannot use the kernel's veth-only
shortcuts: 64 KB super-packets and segments whose checksum is never computed). A's veth alternates between the kernel (its
addresses restored) and braid-testapp (handed over by braidtest.braid, which flushes the kernel's
addresses and disables its ARP/IPv6 on it), through DPDK's af_xdp PMD by default (--pmd).

Cores: A's side (braid-testapp's one worker lcore, busy-polling, or the kernel tcp_peer) is pinned
with taskset to one core, B's tcp_peer to the other, in every run. veth delivers a packet in the
sender's context, so the receiving kernel's softirq work lands on the sending core in both runs
alike.

Skips (writes nothing and removes an old part, saying why) unless root, network namespaces,
ethtool and taskset are available, two CPUs are allowed, and both binaries are built.
`--kernel-only` measures only the Linux-to-Linux half and prints it (no part written).
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
from braidtest.peer import json_lines  # noqa: E402

PREFIX = "braid-bench-"
TP_PORT = 5301
RR_PORT = 5302


def log(msg):
    print("veth_bench: " + msg, flush=True)


class BenchError(RuntimeError):
    pass


# --- processes ------------------------------------------------------------------------------

def wait_event(proc, event, timeout, what):
    """Reads proc's stdout (binary, unbuffered pipe) line by line until a JSON line with this
    event; returns it. Lines read before it are returned in proc.early_lines."""
    import select
    deadline = time.monotonic() + timeout
    proc.early_lines = getattr(proc, "early_lines", [])
    buf = b""
    while time.monotonic() < deadline:
        if not select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
            break
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            for m in json_lines(line.decode(errors="replace")):
                proc.early_lines.append(m)
                if m.get("event") == event:
                    proc.pending = buf
                    return m
                if m.get("event") == "error":
                    raise BenchError("%s: %s" % (what, m.get("error")))
    err = b""
    if proc.poll() is not None and proc.stderr:
        err = proc.stderr.read() or b""
    raise BenchError("%s: no %r line within %.0f s (exit %s) %s" %
                     (what, event, timeout, proc.poll(), err.decode(errors="replace")[-2000:]))


def finish(proc, timeout, what):
    """Waits for proc to exit; returns (returncode, [json lines], stderr text)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.stop()
        out, err = proc.communicate()
        raise BenchError("%s did not finish within %.0f s: %s" %
                         (what, timeout, err.decode(errors="replace")[-2000:]))
    text = (getattr(proc, "pending", b"") + out).decode(errors="replace")
    lines = getattr(proc, "early_lines", []) + json_lines(text)
    return proc.returncode, lines, err.decode(errors="replace")


def pinned(cpu, argv):
    return ["taskset", "-c", str(cpu)] + list(argv)


class Bench:
    def __init__(self, tb, args, tcp_peer, testapp, cpu_a, cpu_b):
        self.tb, self.args = tb, args
        self.tcp_peer, self.testapp = tcp_peer, testapp
        self.cpu_a, self.cpu_b = cpu_a, cpu_b
        self.a, self.b = tb.a, tb.b
        self.a_if, self.b_if = tb.a.iface(0), tb.b.iface(0)
        self.a_addr, self.b_addr = tb.addr("a", 0), tb.addr("b", 0)
        self.pmd = None
        self.braid_on_a = False

    # The kernel peer (tcp_peer) in a node.
    def peer_server(self, node, cpu, port, mode):
        proc = node.popen(pinned(cpu, [self.tcp_peer, "server", "--port", port, "--mode", mode,
                                       "--count", 1, "--timeout", 60]),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
        wait_event(proc, "listening", 10, "tcp_peer %s server on %s" % (mode, node.name))
        return proc

    def peer_client(self, node, cpu, argv, timeout):
        p = node.run(pinned(cpu, [self.tcp_peer, "client"] + [str(x) for x in argv]),
                     timeout=timeout, check=False)
        lines = json_lines(p.stdout)
        if p.returncode != 0:
            raise BenchError("tcp_peer client on %s failed (exit %d): %s %s" %
                             (node.name, p.returncode, p.stdout.strip()[-1000:],
                              p.stderr.strip()[-1000:]))
        return lines

    def sink_result(self, server, nbytes):
        rc, lines, err = finish(server, 60, "tcp_peer sink on b")
        conns = [m for m in lines if m.get("event") == "connection"]
        if rc != 0 or not conns or conns[0].get("error"):
            raise BenchError("tcp_peer sink on b failed (exit %s): %s %s" % (rc, conns, err))
        if conns[0]["bytes_rx"] != nbytes:
            raise BenchError("tcp_peer sink on b received %d bytes, %d were sent" %
                             (conns[0]["bytes_rx"], nbytes))
        return conns[0]

    @staticmethod
    def rr_result(lines):
        rr = [m for m in lines if m.get("event") == "rr"]
        if not rr:
            raise BenchError("tcp_peer rr client printed no rr line: %s" % lines)
        return rr[0]

    def rr_client_argv(self):
        return ["--connect", self.a_addr, "--port", RR_PORT, "--mode", "rr", "--size",
                self.args.rr_size, "--count", self.args.rr_count, "--warmup", self.args.rr_warmup,
                "--timeout", 30]

    # Linux <-> Linux.
    def kernel_throughput(self):
        self.to_kernel()
        n = self.args.bytes
        server = self.peer_server(self.b, self.cpu_b, TP_PORT, "sink")
        lines = self.peer_client(self.a, self.cpu_a, ["--connect", self.b_addr, "--port", TP_PORT,
                                                      "--mode", "send", "--bytes", n], 120)
        sink = self.sink_result(server, n)
        sender = [m for m in lines if m.get("event") == "connection"][0]
        return {"gbit_s": sink["gbit_s"], "retrans": sender["retrans"]}

    def kernel_rr(self):
        self.to_kernel()
        server = self.peer_server(self.a, self.cpu_a, RR_PORT, "echo")
        lines = self.peer_client(self.b, self.cpu_b, self.rr_client_argv(), 120)
        finish(server, 10, "tcp_peer echo on a")
        return self.rr_result(lines)

    # Braid <-> Linux: braidtest.braid starts braid-testapp on a0 (and takes the kernel off it).
    def start_testapp(self, *app_args):
        from braidtest import braid
        self.braid_on_a = True
        app = braid.start_braid(self.a, 0, *app_args, pmd=self.args.pmd, family=4,
                                extra=["--workers", 1, "--lcores", self.cpu_a, "--idle", "busy"],
                                binary=self.pinned_testapp())
        ready = app.wait_ready()
        self.pmd = ready.get("pmd") or app.pmd
        no_offloads(self.b, self.b_if)
        return app

    def pinned_testapp(self):
        """braid-testapp under `taskset -c CPU_A`: a wrapper script, since start_braid runs the
        binary it is given (inside its af_xdp mount wrapper too). Every thread the EAL starts
        inherits the mask, and the EAL takes its lcores from it (one core: the main lcore,
        which runs the single worker)."""
        path = os.path.join(self.tb.workdir, "braid-testapp-on-core-%d" % self.cpu_a)
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write("#!/bin/sh\nexec taskset -c %d %s \"$@\"\n" %
                        (self.cpu_a, shlex.quote(self.testapp)))
            os.chmod(path, 0o755)
        return path

    def testapp_result(self, app, timeout):
        rc = app.wait(timeout)
        conns = app.connections()
        if rc != 0 or not conns or app.errors():
            raise BenchError("braid-testapp on a failed (exit %s): %s %s" %
                             (rc, conns or app.events[-3:], app.stderr_text().strip()[-2000:]))
        return conns[0]

    def braid_throughput(self):
        n = self.args.bytes
        server = self.peer_server(self.b, self.cpu_b, TP_PORT, "sink")
        app = self.start_testapp("--connect", self.b_addr, "--to-port", TP_PORT, "--mode", "send",
                                 "--bytes", n, "--timeout", 120)
        conn = self.testapp_result(app, 150)
        sink = self.sink_result(server, n)
        return {"gbit_s": sink["gbit_s"], "retrans": (conn.get("tcp") or {}).get("retransmits")}

    def braid_rr(self):
        app = self.start_testapp("--nodelay", "--listen", RR_PORT, "--mode", "echo", "--count", 1)
        lines = self.peer_client(self.b, self.cpu_b, self.rr_client_argv(), 120)
        self.testapp_result(app, 20)
        return self.rr_result(lines)

    # Giving a0 back to the kernel between Braid's runs and the kernel's.
    def to_kernel(self):
        if not self.braid_on_a:
            return
        kernel_takeback(self.tb, self)
        self.braid_on_a = False


def no_offloads(node, ifname):
    """TSO/GSO/GRO (the testbed already turns them off) and TX checksum offload off."""
    node.run(["ethtool", "-K", ifname, "tso", "off", "gso", "off", "gro", "off", "tx", "off"],
             check=False)


def kernel_takeback(tb, bench):
    """Undoes braidtest.braid.prepare_interface on a0: ARP and IPv6 on, the testbed's addresses
    and routes back, offloads as in the Braid runs."""
    a, ifname = tb.a, bench.a_if
    a.ip(["link", "set", ifname, "arp", "on"])
    a.sysctl("net.ipv6.conf.%s.disable_ipv6" % ifname, 0)
    a.ip(["addr", "replace", "%s/28" % tb.addr("a", 0, 4), "dev", ifname])
    a.ip(["addr", "replace", "%s/64" % tb.addr("a", 0, 6), "dev", ifname, "nodad"])
    tb.link_up(0, "a")  # waits for the link and re-installs the path's routes
    no_offloads(a, ifname)
    no_offloads(tb.b, bench.b_if)


# --- figures --------------------------------------------------------------------------------

def median(xs):
    return statistics.median(xs)


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


def skip(reason, out):
    log("skipped, no tcp.veth.* figures: " + reason)
    remove_part(out)
    return 0


def check_setup(args):
    reason = braidtest.check_e2e(("root", "netns"))
    if reason:
        return reason
    for tool, pkg in (("ethtool", "ethtool"), ("taskset", "util-linux")):
        if shutil.which(tool) is None:
            return "%s not found (package %s)" % (tool, pkg)
    if len(os.sched_getaffinity(0)) < 2:
        return "needs two CPUs (one per side), %d allowed" % len(os.sched_getaffinity(0))
    if not os.access(args.tcp_peer, os.X_OK):
        return "%s is not built (target tcp_peer)" % args.tcp_peer
    if not args.kernel_only:
        if not os.access(args.testapp, os.X_OK):
            return "%s is not built (target braid-testapp)" % args.testapp
    return None


def main():
    build = os.path.join(ROOT, "build")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="part file to write (run-bench: build/bench/parts/veth.json)")
    ap.add_argument("--tcp-peer", default=os.path.join(build, "tests", "bench", "tcp_peer"))
    ap.add_argument("--testapp",
                    default=os.path.join(build, "tools", "braid-testapp", "braid-testapp"))
    ap.add_argument("--pmd", choices=("af_xdp", "af_packet"), default="af_xdp",
                    help="braid-testapp's DPDK PMD on the veth")
    ap.add_argument("--reps", type=int, default=5, help="alternating repetitions (medians)")
    ap.add_argument("--bytes", type=int, default=512 << 20, help="bytes per bulk transfer")
    ap.add_argument("--rr-count", type=int, default=20000, help="requests per rr run")
    ap.add_argument("--rr-warmup", type=int, default=500, help="uncounted requests first")
    ap.add_argument("--rr-size", type=int, default=64)
    ap.add_argument("--kernel-only", action="store_true",
                    help="only the Linux-to-Linux half, printed; no part written")
    args = ap.parse_args()
    out = None if args.kernel_only else args.out

    # A part from an earlier run must not outlive a failed or skipped one.
    remove_part(out)
    reason = check_setup(args)
    if reason:
        return skip(reason, out)
    cpus = sorted(os.sched_getaffinity(0))
    cpu_b, cpu_a = cpus[0], cpus[1]

    runs = {"kernel_tp": [], "braid_tp": [], "kernel_rr": [], "braid_rr": []}
    t0 = time.monotonic()
    with braidtest.Testbed(paths=1, router=False, mptcp=False, prefix=PREFIX) as tb:
        bench = Bench(tb, args, args.tcp_peer, args.testapp, cpu_a, cpu_b)
        no_offloads(tb.a, bench.a_if)
        no_offloads(tb.b, bench.b_if)
        log("testbed %s: a %s %s -- b %s %s (direct veth, IPv4); a's side on core %d, "
            "b's on core %d; %d repetitions" % (tb.id, bench.a_if, bench.a_addr, bench.b_if,
                                                bench.b_addr, cpu_a, cpu_b, args.reps))
        for rep in range(args.reps):
            # Alternating, and each pair in the opposite order to the last, so that neither side
            # always runs first after a handover.
            order = ["kernel", "braid"] if rep % 2 == 0 or args.kernel_only else ["braid", "kernel"]
            for who in order:
                if who == "braid" and args.kernel_only:
                    continue
                tp = getattr(bench, who + "_throughput")()
                rr = getattr(bench, who + "_rr")()
                runs[who + "_tp"].append(tp)
                runs[who + "_rr"].append(rr)
                log("rep %d %-6s throughput %7.3f Gbit/s (retrans %s)  rr p50 %7.1f us p99 "
                    "%7.1f us" % (rep + 1, who, tp["gbit_s"], tp["retrans"], rr["p50_us"],
                                  rr["p99_us"]))
            bench.to_kernel()
    elapsed = time.monotonic() - t0

    k_tp = median([r["gbit_s"] for r in runs["kernel_tp"]])
    k_rr = {q: median([r[q] for r in runs["kernel_rr"]])
            for q in ("p50_us", "p90_us", "p99_us", "mean_us")}
    if args.kernel_only:
        log("Linux<->Linux medians of %d: %.3f Gbit/s; rr p50 %.1f us, p90 %.1f us, p99 %.1f us "
            "(%.0f s)" % (args.reps, k_tp, k_rr["p50_us"], k_rr["p90_us"], k_rr["p99_us"],
                          elapsed))
        return 0
    b_tp = median([r["gbit_s"] for r in runs["braid_tp"]])
    b_rr = {q: median([r[q] for r in runs["braid_rr"]])
            for q in ("p50_us", "p90_us", "p99_us", "mean_us")}

    pmd = bench.pmd or "?"
    setup = ("one direct veth pair a0 -- b0 (no router), IPv4, TSO/GSO/GRO and TX checksum "
             "offload off on both ends in both runs; median of %d alternating runs; cores: "
             "braid-testapp 1 worker lcore busy-polling (--idle busy, PMD %s) pinned to core %d, "
             "or the kernel tcp_peer on A pinned to core %d; the kernel tcp_peer on B pinned to "
             "core %d" % (args.reps, pmd, cpu_a, cpu_a, cpu_b))
    tp_note = ("bulk transfer of %d MiB into tcp_peer sink on B (kernel TCP), Gbit/s of payload "
               "measured by the receiver from first byte to EOF; value: braid-testapp send on A, "
               "baseline: tcp_peer send on A (kernel TCP, CUBIC); %s; braid retransmits %s, "
               "kernel %s" % (args.bytes >> 20, setup,
                              [r["retrans"] for r in runs["braid_tp"]],
                              [r["retrans"] for r in runs["kernel_tp"]]))
    rr_note = ("%d-byte request, %d-byte response, %d requests after %d uncounted, one "
               "connection, TCP_NODELAY, latency measured by tcp_peer's rr client on B (kernel "
               "TCP); value: braid-testapp echo server on A (--nodelay), baseline: tcp_peer echo "
               "server on A (kernel TCP, blocking recv); %s" %
               (args.rr_size, args.rr_size, args.rr_count, args.rr_warmup, setup))
    figures = {
        "tcp.veth.throughput.ratio_vs_kernel": figure(b_tp, "Gbit/s", k_tp, tp_note),
    }
    for q, label in (("p50_us", "median"), ("p90_us", "90th percentile"),
                     ("p99_us", "99th percentile"), ("mean_us", "mean")):
        name = "tcp.veth.rr_%s.ratio_vs_kernel" % q[:-3]
        figures[name] = figure(b_rr[q], "us", k_rr[q], "%s; %s" % (label, rr_note))
    if out:
        write_part(out, figures)
        runs_path = os.path.join(os.path.dirname(os.path.abspath(out)), "..", "veth-runs.json")
        with open(os.path.normpath(runs_path), "w") as f:
            json.dump(runs, f, indent=2, sort_keys=True)
        log("wrote %s (every run: %s), %.0f s" % (out, os.path.normpath(runs_path), elapsed))
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
