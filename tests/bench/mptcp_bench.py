#!/usr/bin/env python3
"""`make bench` MPTCP figures on a namespace testbed, written in run-bench's schema
{name: {value, unit, baseline, ratio, note}} to --out (scripts/run-bench passes
build/bench/parts/mptcp.json): Braid's MPTCP datapath (braid-testapp on DPDK af_packet) beside
the Linux kernel against itself, measured in the same run, alternating.

  mptcp.aggregation.equal3.kernel_kernel.pct_of_sum    kernel MPTCP bulk goodput over 3 paths of
                                                       equal rate, % of the sum of the rates;
                                                       baseline: kernel TCP on one of the paths,
                                                       % of its rate (ratio: how much of what TCP
                                                       gets from one path MPTCP gets from each)
  mptcp.aggregation.unequal3.kernel_kernel.pct_of_sum  the same, rates 60/30/10 % of that sum
  mptcp.aggregation.tcp1.kernel_kernel.pct_of_rate     kernel TCP on path 0 alone at the per-path
                                                       rate of equal3, % of that rate
  mptcp.aggregation.{equal3,unequal3}.braid_kernel.pct_of_sum
                                                       Braid MPTCP client -> kernel MPTCP sink,
                                                       measured at the kernel receiver exactly as
                                                       kernel_kernel; baseline: kernel_kernel
  mptcp.aggregation.{equal3,unequal3}.braid_braid.pct_of_sum
                                                       Braid on both ends; goodput from Braid's
                                                       receiver (first byte to EOF); baseline:
                                                       kernel_kernel
  mptcp.vs_tcp.throughput_ratio                        value: Braid MPTCP goodput over the 3 equal
                                                       paths / Braid single-path TCP goodput over
                                                       path 0 alone (both into the kernel sink);
                                                       baseline: that TCP goodput (Mbit/s)
  mptcp.loss1pct.rr_p99.ratio_vs_tcp                   value: p99 of 64-byte request/response,
                                                       Braid MPTCP (redundant scheduler) / Braid
                                                       TCP on path 0, 1 % loss on path 0 both
                                                       ways, kernel echo server; baseline: the TCP
                                                       p99 (us)
  mptcp.failover.kernel_stall_ms                       longest pause in delivery at the receiver
                                                       after one of 3 paths goes down mid-transfer
                                                       (ip link set down, router side)
  mptcp.failover.blackhole.kernel_stall_ms             the same when the path silently drops
                                                       everything (nft drop, links stay up)
  mptcp.failover.stall_ms, mptcp.failover.blackhole.stall_ms
                                                       the same with Braid's client sending to the
                                                       kernel sink; baseline: the kernel's figure

The testbed (why this one): a -- r<i> -- b for i = 0, 1, 2, one router namespace per path as the
kernel's own aggregation tests do (simult_flows.sh), a tbf on each router's egress towards b (the
receiver), nothing on the way back (ACKs). TSO/GSO/GRO are off (the testbed's default): every
packet is one MTU-sized frame, shaped and dropped as such. The MPTCP client on a has subflow
endpoints on paths 1 and 2 (limits: 8 subflows each side) and connects to b's path-0 address, so
the initial subflow takes path 0 and the joins paths 1 and 2. IPv4.

Three testbeds of that shape, side by side: braid-testapp takes over the interfaces of the node it
runs in (braidtest.braid: the kernel's addresses there are flushed), so a node Braid uses cannot
serve the kernel's runs. One testbed is kernel -> kernel, one Braid (a) -> kernel (b), one Braid
-> Braid. braid-testapp: 1 worker, --idle adaptive (it sleeps when idle: the box has 2 cores for
both ends, the routers and the tbfs), DPDK af_packet on a's (and b's) 3 path interfaces, the
kernel path manager (`--endpoint ADDR,id=N,subflow` on paths 1 and 2, `--subflows 4`), the
default scheduler unless said otherwise; a fresh process per run, from a copy of the binary
taken at the start (the machine is shared: a rebuild meanwhile changes nothing). Braid's server
on b accepts the joins that arrive on paths 1 and 2 for its path-0 address (weak host model, as
the kernel), so Braid -> Braid uses the kernel's subflow layout too.

Rates: 100 Mbit/s per path, 300 Mbit/s in all. The box has 2 cores shared by the senders, the
receivers, three forwarding routers and the tbfs, all with per-packet (1514-byte) frames, and by
whatever else runs on the machine; at 300 Mbit/s that stays far from CPU-bound. The run shows
it: it first measures the kernel testbed unshaped (headroom, in the notes; about 1.4 Gbit/s
here).

Goodput: the kernel receiver (braidtest's kernel peer, --progress) records when its reads return
(1 ms steps); goodput is the least-squares slope of the bytes delivered over a --seconds window
that begins 1 s after the first byte (subflows up, slow start over). A slope rather than two end
points: an MPTCP receiver delivers in bursts whenever a hole in the data sequence fills. A tbf
counts whole frames: the ceiling for payload is the payload per 1514-byte frame, 95.6 % for TCP
(1448) and about 94 % for kernel MPTCP (1424: each segment repeats its DSS mapping). Braid puts a
mapping on the segment that starts it only, and no DSS on the others while its DATA_ACK and
window have not changed (1448), about 95.5 % with mappings of tens of segments. Braid's receiver
keeps no such record: the braid_braid figures take its `rx_steady_mbit_s`: payload from its first
read 1 s after the first byte to EOF (about 4.8 s), the same start as the kernel's window, two end
points rather than a slope (a burst at either end weighs little over 170 MB).

Failover: once all 3 subflows are up and 1.5 s have passed, path 1 fails; the stall is the
longest pause between two reads that returned data, among those ending after the failure. The
kernel resumes in short bursts between pauses of about its 200 ms retransmission timeout until it
gives up on the dead subflow, so the notes also give when delivery recovered (the end of the last
pause of at least 40 ms, or twice the longest pause before the failure). The transfer must still
complete byte-exact; the path is restored between runs.

Every transfer is checked byte-exact (SHA-256 of what the sender sent against what the receiver
received, both ways for request/response); a Braid transfer that is not fails that run loudly.
A Braid run that fails (exit status, JSON error, timeout, corruption) leaves the kernel figures
alone: its error (command line, Braid's JSON error and stderr) goes into the notes, a Braid
measurement that failed twice is not tried again, and without braid-testapp
(build/tools/braid-testapp/braid-testapp or $BRAID_TESTAPP) only the kernel figures are measured.

Request/response under loss: --rr-count requests (default 3000) per run. Each exchange that
loses its request or its answer on the lossy path waits for a retransmission timeout (~200 ms;
about 2 % of TCP's exchanges), which makes the TCP run ~10 s long: 3000 keep TCP's p99 well on
that plateau (about 60 such exchanges) within the time budget.

Medians over --reps repetitions (default 3; the kernel's failover measurements and Braid's
link-down run twice in each, Braid's blackhole once), all measurements alternating within each
repetition. Skips (writes nothing and removes an old part,
saying why) without root, namespaces, kernel MPTCP, tc or nftables. About 6 minutes.
"""

import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e", "lib"))

import braidtest  # noqa: E402
from braidtest import peer  # noqa: E402

PREFIX = "braid-mpbench-"
PORT_BASE = 5400
PATHS = 3
PER_PATH_MBIT = 100
UNEQUAL_SHARES = (0.6, 0.3, 0.1)
SKIP_SECONDS = 1.0        # from the first byte: subflows joined, slow start over
FAIL_AFTER_SECONDS = 1.5  # from all subflows up to the path failure
FAILED_PATH = 1
RECOVERY_PAUSE = 0.04     # a delivery pause this long (or twice the longest before the failure)
BRAID_TIMEOUT = 25        # braid-testapp --timeout: a stuck run fails, the bench goes on
SENDER_GRACE = 10         # s a sender may take to finish once the receiver has closed
RR_TIMEOUT = 90           # 1 % loss: ~2 % of the exchanges wait for a 200 ms retransmission
BRAID_SUBFLOWS = 4        # --subflows with subflow endpoints (2 joins needed)
BRAID_MAX_FAILURES = 2    # a Braid measurement that failed this often is not tried again
LOSS_PATH = 0
LOSS_PERCENT = 1.0
RR_SIZE = 64


def log(msg):
    print("mptcp_bench: " + msg, flush=True)


class BenchError(RuntimeError):
    pass


class NotByteExact(BenchError):
    pass


class BraidFailure(RuntimeError):
    """braid-testapp did not complete a run; the text says what ran and what it printed."""


def check_byte_exact(what, sent_sha, received_sha, nbytes, received, error=None):
    if error or received != nbytes or received_sha != sent_sha:
        raise NotByteExact("%s of %d bytes NOT BYTE-EXACT: received %d, sha256 sent %s received "
                           "%s, error %s" % (what, nbytes, received, sent_sha, received_sha,
                                             error))


# --- kernel and Braid endpoints of one run --------------------------------------------------

def kernel_sender(node, addr, port, proto, nbytes):
    """The kernel peer's client sending nbytes: .proc, .result(timeout), .stop()."""
    return peer.start_client(node, addr, port, proto=proto, nbytes=nbytes,
                             wait_subflows=PATHS - 1 if proto == "mptcp" else 0, timeout=30)


class BraidRun:
    """One braid-testapp process (client or server with --count 1) of a run: .proc,
    .result(timeout) -> its connection line, .stop()."""

    def __init__(self, binary, node, paths, app_args, extra):
        self.node = node
        try:
            self.app = braidtest.start_braid(node, paths[0], *app_args, family=4,
                                             more_paths=tuple(paths[1:]), extra=extra,
                                             binary=binary)
        except braidtest.BraidError as e:
            raise BraidFailure("braid-testapp on %s did not start: %s" % (node.name, e)) from e
        self.proc = self.app.proc

    def command(self):
        try:
            with open(self.app.log_prefix + ".cmd") as f:
                return f.read().strip()
        except OSError:
            return " ".join(self.app.argv)

    def failure(self, what):
        app = self.app
        stderr = [line for line in app.stderr_text().strip().splitlines()
                  if not line.startswith("EAL:")]
        return BraidFailure("%s: braid-testapp on %s (exit status %s), command `%s`; JSON errors "
                            "%s; last events %s; its summary %s; stderr %s" %
                            (what, self.node.name, app.returncode, self.command(),
                             app.errors() or None, [json.dumps(e)[:400] for e in app.events[-2:]
                                                    if e.get("event") != "summary"],
                             summary_text(app.summary()), "\n".join(stderr[-10:]) or "(empty)"))

    def result(self, timeout):
        try:
            rc = self.app.wait(timeout)
        except braidtest.BraidError as e:
            raise BraidFailure("braid-testapp on %s did not exit within %.0f s (stopped; its "
                               "summary %s); command `%s`" %
                               (self.node.name, timeout, summary_text(self.app.summary()),
                                self.command())) from e
        conns = self.app.connections()
        if rc != 0 or len(conns) != 1 or self.app.errors():
            raise self.failure("run failed")
        return dict(conns[0], braid=braid_stats(conns[0], self.app.summary()))

    def rr(self):
        rr = self.app.rr()
        if len(rr) != 1:
            raise self.failure("no rr line")
        return rr[0]

    def stop(self):
        if self.app.running:
            self.app.stop()


def summary_text(summary):
    """The counters of Braid's summary line that say what a stuck or failed run was doing."""
    if not summary:
        return None
    out = {"tcp": {k: v for k, v in summary.get("tcp", {}).items() if v},
           "drops": summary.get("net", {}).get("drops")}
    for w in summary.get("workers", []):
        out["sockets"] = {k: v for k, v in w.get("sockets", {}).items() if v}
        out["mptcp"] = {k: v for k, v in (w.get("mptcp") or {}).items() if v}
    return json.dumps(out, sort_keys=True)


def braid_stats(conn, summary):
    """What a note says about a Braid run: retransmissions, the split over subflows, MPTCP
    counters, the worker's CPU time."""
    m = conn.get("mptcp")
    flows = m["subflows"] if m else [{"bytes_sent": conn["bytes_tx"],
                                      "bytes_received": conn["bytes_rx"], "tcp": conn["tcp"]}]
    stats = {name: sum((f.get("tcp") or {}).get(name, 0) for f in flows)
             for name in ("retransmits", "rto_expirations", "tlp_probes", "soft_errors")}
    stats["subflow_mb"] = [round(max(f["bytes_sent"], f["bytes_received"]) / 1e6, 1)
                           for f in flows if f["bytes_sent"] or f["bytes_received"]]
    workers = (summary or {}).get("workers") or []
    stats["cpu_s"] = round(sum(w.get("cpu_s", 0.0) for w in workers), 3)
    stats["run_s"] = round(max([w.get("run_s", 0.0) for w in workers] or [0.0]), 3)
    if m:
        stats["fallback"] = m["fallback"]
        stats["reinjected_bytes"] = m["bytes_reinjected"]
        counters = [w.get("mptcp") or {} for w in workers]
        for name in ("subflow_stale", "subflow_silent", "subflow_recover", "rm_subflow",
                     "hol_reinjections"):
            stats[name] = sum(c.get(name, 0) for c in counters)
    return stats


def braid_common_args(timeout=BRAID_TIMEOUT):
    return ["--idle", "adaptive", "--timeout", timeout]


def braid_mptcp_client_args(tb, scheduler=None):
    """Subflow endpoints on a's paths 1.. (kernel path manager), the way the kernel client of
    the kernel testbed has them: the joins go to b's path-0 address over paths 1 and 2."""
    args = ["--mptcp", "--subflows", BRAID_SUBFLOWS]
    for i in range(1, PATHS):
        args += ["--endpoint", "%s,id=%d,subflow" % (tb.paths[i].addr("a", 4), i)]
    if scheduler:
        args += ["--scheduler", scheduler]
    return args


def braid_mptcp_server_args():
    return ["--mptcp", "--subflows", BRAID_SUBFLOWS]


def check_subflows(conn, what):
    """Aggregation needs every path: a run whose joins did not all carry data measures
    something else."""
    flows = [f for f in (conn.get("mptcp") or {}).get("subflows", [])
             if f["bytes_sent"] or f["bytes_received"]]
    if len(flows) < PATHS:
        raise BraidFailure("%s: %d of %d subflows carried data: %s" %
                           (what, len(flows), PATHS, json.dumps(
                               [(f["local"], f["remote"], f["state"], f["bytes_sent"],
                                 f["bytes_received"]) for f in conn["mptcp"]["subflows"]]
                               if conn.get("mptcp") else None)))


def all_paths(proto):
    return list(range(PATHS)) if proto == "mptcp" else [0]


# --- the testbeds ---------------------------------------------------------------------------

class Bench:
    """A testbed and one transfer at a time on it: kernel a -> kernel b."""

    kind = "kernel"

    def __init__(self, tb, args, binary=None):
        self.tb, self.args, self.binary = tb, args, binary
        self.a, self.b = tb.a, tb.b
        self.port = PORT_BASE

    def shape(self, rates_mbit):
        """tbf rate per path on the router's egress towards b (None: unshaped)."""
        for i, mbit in enumerate(rates_mbit):
            if mbit:
                self.tb.set_rate(i, "%dmbit" % mbit, "a>b")
            else:
                self.tb.clear_rate(i, "a>b")

    def start_sender(self, proto, port, nbytes):
        return kernel_sender(self.a, self.b.addr(0), port, proto, nbytes)

    def run_extras(self, run):
        """Sample fields about the sender (Braid's counters), {} for the kernel."""
        return {}

    def transfer(self, proto, nbytes, event=None):
        """nbytes from a to a sink on b at b's path-0 address. event(bench) runs once every
        subflow is up (MPTCP: 3, TCP: 1) and returns what it wants recorded. Returns
        {'server', 'client', 'samples', 't_up', 'event'}."""
        self.port += 1
        port = self.port
        progress = os.path.join(self.tb.workdir, "progress-%d" % port)
        srv = peer.start_server(self.b, port, proto=proto, family="4", timeout=30,
                                progress=progress)
        sender = None
        try:
            sender = self.start_sender(proto, port, nbytes)
            try:
                t_up = self.wait_subflows(port, PATHS if proto == "mptcp" else 1, sender)
            except BenchError as e:
                if not isinstance(sender, BraidRun):
                    raise
                sender.stop()
                raise sender.failure(str(e)) from e
            recorded = event(self) if event else None
            try:
                sv, res = finish(srv, sender)
            except BraidFailure as e:
                raise BraidFailure("%s; %s" % (e, delivered_text(progress, nbytes, t_up,
                                                                  recorded))) from e
        finally:
            for p in (sender, srv):
                if p is not None:
                    p.stop()
        if not sv:
            raise BenchError("the sink on b reported no connection")
        sv = sv[0]
        check_byte_exact("%s %s -> kernel sink" % (self.kind, proto), res["sha256_tx"],
                         sv["sha256_rx"], nbytes, sv["bytes_rx"], sv["error"])
        conns = peer.read_progress(progress)
        return {"server": sv, "client": res, "samples": conns[0] if conns else [],
                "t_up": t_up, "event": recorded}

    def wait_subflows(self, port, want, client, timeout=10):
        """The monotonic time at which b shows `want` established (sub)flows on port."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            socks = self.b.ss_sockets("-tni", port)
            if len([s for s in socks if s["local"].endswith(":%d" % port)]) >= want:
                return time.monotonic()
            if client.proc.poll() is not None:
                break
            time.sleep(0.01)
        raise BenchError("%d flow(s) to port %d not established within %.0f s" %
                         (want, port, timeout))

    def nbytes_for(self, mbit, seconds):
        return int(mbit * 1e6 / 8 * seconds)

    def goodput_run(self, proto, rates_mbit):
        """One bulk transfer shaped to rates_mbit; goodput in the window, % of the rate sum."""
        self.shape(rates_mbit)
        total = sum(r for r in rates_mbit if r)
        window = self.args.seconds
        run = self.transfer(proto, self.nbytes_for(total, SKIP_SECONDS + window + 0.5))
        samples = run["samples"]
        start = samples[0][0] + SKIP_SECONDS
        if samples[-1][0] < start + window:
            raise BenchError("the transfer ended before its %.1f s window" % window)
        mbit = peer.delivery_rate_mbit(samples, start, start + window)
        return {"mbit_s": mbit, "pct": 100.0 * mbit / total,
                "subflows_max": run["server"].get("subflows_max")} | self.run_extras(run)

    def failover_run(self, cut, restore):
        """A 3-path bulk transfer whose path FAILED_PATH fails FAIL_AFTER_SECONDS after every
        subflow is up; the longest delivery pause after the failure, in ms."""
        rates = [PER_PATH_MBIT] * PATHS
        self.shape(rates)
        total = sum(rates)
        before = FAIL_AFTER_SECONDS + 0.5
        after = 2.5   # on the 2 paths left, once the stall is over
        nbytes = self.nbytes_for(total, before) + self.nbytes_for(total - PER_PATH_MBIT, after)

        def fail(bench):
            time.sleep(FAIL_AFTER_SECONDS)
            t = time.monotonic()
            cut()
            return t
        try:
            run = self.transfer("mptcp", nbytes, event=fail)
        finally:
            restore()
        t_cut = run["event"]
        stall, start, _ = peer.longest_gap(run["samples"], after=t_cut)
        calm = [s for s in run["samples"] if run["t_up"] + 0.2 <= s[0] <= t_cut]
        pre, pre_start, _ = peer.longest_gap(calm)
        # The kernel delivers in short bursts between pauses until it stops using the dead
        # subflow: recovery ends with the last pause well above the jitter before the failure.
        long_pauses = pauses(run["samples"], t_cut, max(RECOVERY_PAUSE, 2 * pre))
        # What the failed path carried: a sender that was not using it has nothing to recover.
        rate = peer.delivery_rate_mbit(run["samples"], run["t_up"] + 0.5, t_cut)
        return {"stall_ms": stall * 1000, "mbit_s_before": rate,
                "stall_began_ms": (start - t_cut) * 1000 if start is not None else None,
                "recovered_ms": (long_pauses[-1][0] + long_pauses[-1][1]) if long_pauses
                else 0.0,
                "pauses_after_ms": long_pauses, "pre_cut_max_gap_ms": pre * 1000,
                "pre_cut_gap_at_ms": (pre_start - t_cut) * 1000 if pre_start is not None
                else None} | \
            self.run_extras(run)


class BraidKernelBench(Bench):
    """Braid (braid-testapp) on a -> the kernel on b: the same transfers, Braid sending."""

    kind = "braid"

    def start_sender(self, proto, port, nbytes):
        extra = braid_common_args()
        if proto == "mptcp":
            extra += braid_mptcp_client_args(self.tb)
        return BraidRun(self.binary, self.a, all_paths(proto),
                        ["--connect", self.b.addr(0), "--to-port", port, "--mode", "send",
                         "--bytes", nbytes], extra)

    def run_extras(self, run):
        return {"braid": run["client"]["braid"]}

    def rr_run(self, proto):
        """RR_SIZE-byte requests from Braid on a, each answered by the kernel's echo server on
        b, with LOSS_PERCENT random loss on path LOSS_PATH both ways; latency percentiles."""
        self.shape([PER_PATH_MBIT] * PATHS)
        self.port += 1
        port = self.port
        count = self.args.rr_count
        extra = ["--nodelay"] + braid_common_args(RR_TIMEOUT)
        if proto == "mptcp":
            extra += braid_mptcp_client_args(self.tb, scheduler="redundant")
        srv = peer.start_server(self.b, port, proto=proto, mode="echo", family="4", timeout=60)
        before = [self.tb.drops(LOSS_PATH, d)["loss"] for d in ("a>b", "b>a")]
        client = None
        self.tb.set_loss(LOSS_PATH, LOSS_PERCENT)
        try:
            client = BraidRun(self.binary, self.a, all_paths(proto),
                              ["--connect", self.b.addr(0), "--to-port", port, "--mode", "rr",
                               "--rr-size", RR_SIZE, "--rr-count", count], extra)
            conn = client.result(timeout=RR_TIMEOUT + 10)
            rr = client.rr()
            dropped = [self.tb.drops(LOSS_PATH, d)["loss"] - n
                       for d, n in zip(("a>b", "b>a"), before)]
            sv = srv.results(timeout=30)
        finally:
            self.tb.set_loss(LOSS_PATH, 0)
            for p in (client, srv):
                if p is not None:
                    p.stop()
        if not sv:
            raise BenchError("the echo server on b reported no connection")
        sv = sv[0]
        nbytes = count * RR_SIZE
        check_byte_exact("braid %s rr requests" % proto, conn["sha256_tx"], sv["sha256_rx"],
                         nbytes, sv["bytes_rx"], sv["error"])
        check_byte_exact("braid %s rr responses" % proto, sv["sha256_tx"], conn["sha256_rx"],
                         nbytes, conn["bytes_rx"])
        if rr.get("count") != count:
            raise BraidFailure("rr: %s of %d requests timed" % (rr.get("count"), count))
        return {"p50_us": rr["p50_us"], "p90_us": rr["p90_us"], "p99_us": rr["p99_us"],
                "max_us": rr["max_us"], "dropped_a_b": dropped[0], "dropped_b_a": dropped[1],
                "braid": conn["braid"]}


class BraidBraidBench(Bench):
    """Braid on a -> Braid on b. b's receiver reports its own rate: no kernel progress file."""

    kind = "braid_braid"

    def goodput_run(self, proto, rates_mbit):
        self.shape(rates_mbit)
        total = sum(r for r in rates_mbit if r)
        nbytes = self.nbytes_for(total, SKIP_SECONDS + self.args.seconds + 0.5)
        self.port += 1
        server = client = None
        try:
            server = BraidRun(self.binary, self.b, all_paths(proto),
                              ["--listen", self.port, "--mode", "sink", "--count", 1],
                              braid_common_args() + braid_mptcp_server_args())
            client = BraidRun(self.binary, self.a, all_paths(proto),
                              ["--connect", self.b.addr(0), "--to-port", self.port, "--mode",
                               "send", "--bytes", nbytes],
                              braid_common_args() + braid_mptcp_client_args(self.tb))
            sent = client.result(timeout=BRAID_TIMEOUT + 10)
            got = server.result(timeout=15)
        finally:
            for p in (client, server):
                if p is not None:
                    p.stop()
        check_byte_exact("braid -> braid %s" % proto, sent["sha256_tx"], got["sha256_rx"],
                         nbytes, got["bytes_rx"], got["error"])
        check_subflows(got, "Braid's receiver")
        # From 1 s after the first byte, as the kernel receiver's window starts.
        mbit = got["rx_steady_mbit_s"]
        if not mbit:
            raise BenchError("the transfer ended within 1 s of its first byte")
        return {"mbit_s": mbit, "pct": 100.0 * mbit / total, "braid": sent["braid"],
                "braid_receiver": got["braid"]}


def finish(srv, sender, timeout=120):
    """Waits for a run's kernel receiver and its sender: ([receiver results], sender result).
    A sender that fails does not keep the bench waiting for the receiver's socket timeout, and
    one that is still running SENDER_GRACE seconds after the receiver got EOF and closed has
    failed."""
    deadline = time.monotonic() + timeout
    while srv.proc.poll() is None and sender.proc.poll() is None:
        if time.monotonic() > deadline:
            raise BenchError("the transfer did not end within %.0f s" % timeout)
        time.sleep(0.02)
    if sender.proc.poll() not in (None, 0):
        sender.result(timeout=1)   # raises, saying why
    sv = srv.results(timeout=max(1.0, deadline - time.monotonic()))
    try:
        return sv, sender.result(timeout=SENDER_GRACE)
    except BraidFailure as e:
        raise BraidFailure("after the kernel receiver got EOF and closed (%s): %s" %
                           (received_text(sv), e)) from e


def received_text(sv):
    return "; ".join("%d bytes, error %s" % (r["bytes_rx"], r["error"]) for r in sv) or \
        "no connection"


def delivered_text(progress, nbytes, t_up, t_event):
    """How far a failed transfer got at the kernel receiver (its progress file)."""
    try:
        conns = peer.read_progress(progress)
    except OSError:
        conns = []
    samples = conns[-1] if conns else []
    if not samples:
        return "the kernel receiver got no byte"
    t_last, got = samples[-1]
    text = "the kernel receiver got %d of %d bytes, the last %.2f s after all subflows were up" % (
        got, nbytes, t_last - t_up)
    if isinstance(t_event, float):
        before = max([n for t, n in samples if t <= t_event] or [0])
        stall, _, _ = peer.longest_gap(samples, after=t_event)
        text += (" (%d bytes by the path failure, the last %.2f s after it; longest delivery "
                 "pause after it %.0f ms)" % (before, t_last - t_event, stall * 1000))
    return text


def pauses(samples, t_cut, at_least, within=3.0):
    """[(began ms after the failure, lasted ms)] of the delivery pauses of at least `at_least`
    seconds that end after t_cut and begin within `within` seconds of it."""
    out = []
    for (t0, n0), (t1, n1) in zip(samples, samples[1:]):
        if n1 > n0 and t1 > t_cut and t1 - t0 >= at_least and t0 - t_cut < within:
            out.append((round((t0 - t_cut) * 1000, 1), round((t1 - t0) * 1000, 1)))
    return out


# --- measurements: one function each, (bench) -> a sample dict -----------------------------

def unequal_rates():
    total = PER_PATH_MBIT * PATHS
    return [int(round(total * share)) for share in UNEQUAL_SHARES]


def measure_equal3(bench):
    return bench.goodput_run("mptcp", [PER_PATH_MBIT] * PATHS)


def measure_unequal3(bench):
    return bench.goodput_run("mptcp", unequal_rates())


def measure_tcp1(bench):
    return bench.goodput_run("tcp", [PER_PATH_MBIT] + [None] * (PATHS - 1))


def measure_rr_mptcp(bench):
    return bench.rr_run("mptcp")


def measure_rr_tcp(bench):
    return bench.rr_run("tcp")


def measure_failover_linkdown(bench):
    at = bench.tb.paths[FAILED_PATH].router + "b"   # the router's interface towards b
    return bench.failover_run(lambda: bench.tb.link_down(FAILED_PATH, at=at),
                              lambda: bench.tb.link_up(FAILED_PATH, at=at))


def measure_failover_blackhole(bench):
    return bench.failover_run(lambda: bench.tb.blackhole(FAILED_PATH),
                              lambda: bench.tb.restore(FAILED_PATH))


# (key, function, runs per repetition, testbed), run in this order in every repetition so that
# drift hits each alike, Braid's next to the kernel's they compare with. A failover stall
# depends on where in its RTO cycle the failure hits the dead subflow, so the kernel's take two
# runs each time; Braid's blackhole one (the time budget). Testbeds: "kernel" (kernel -> kernel),
# "braid" (Braid -> kernel), "braid_braid".
MEASUREMENTS = [
    ("equal3", measure_equal3, 1, "kernel"),
    ("braid_kernel_equal3", measure_equal3, 1, "braid"),
    ("braid_braid_equal3", measure_equal3, 1, "braid_braid"),
    ("unequal3", measure_unequal3, 1, "kernel"),
    ("braid_kernel_unequal3", measure_unequal3, 1, "braid"),
    ("braid_braid_unequal3", measure_unequal3, 1, "braid_braid"),
    ("tcp1", measure_tcp1, 1, "kernel"),
    ("braid_tcp1", measure_tcp1, 1, "braid"),
    ("braid_rr_mptcp", measure_rr_mptcp, 1, "braid"),
    ("braid_rr_tcp", measure_rr_tcp, 1, "braid"),
    ("failover_linkdown", measure_failover_linkdown, 2, "kernel"),
    ("braid_failover_linkdown", measure_failover_linkdown, 2, "braid"),
    ("failover_blackhole", measure_failover_blackhole, 2, "kernel"),
    ("braid_failover_blackhole", measure_failover_blackhole, 1, "braid"),
]


def headroom(bench):
    """Unshaped kernel MPTCP over the same 3 routed paths: what the box can carry."""
    bench.shape([None] * PATHS)
    run = bench.transfer("mptcp", 256 << 20)
    return {"mbit_s": run["server"]["rx_mbit_s"]}


# --- figures: name -> (samples, context) -> {value, unit, baseline, ratio, note} ------------

def figure(value, unit, baseline, note):
    return {"value": round(value, 4), "unit": unit,
            "baseline": round(baseline, 4) if baseline is not None else None,
            "ratio": round(value / baseline, 4) if baseline else None, "note": note}


def ratio_figure(value, baseline, note):
    """A figure whose value is itself a ratio of two of Braid's runs: the baseline (the
    denominator, in its own unit) does not divide it, so no ratio field."""
    return {"value": round(value, 4), "unit": "x", "baseline": round(baseline, 4),
            "ratio": None, "note": note}


def med(samples, key, field):
    return statistics.median(s[field] for s in samples[key])


def runs_text(samples, key, field, fmt="%.1f"):
    return "[%s]" % ", ".join(fmt % s[field] if s[field] is not None else "-"
                              for s in samples[key])


def braid_runs_text(samples, key, field):
    return "[%s]" % ", ".join(str(s["braid"].get(field)) for s in samples[key])


KERNEL_ENDS = ("kernel MPTCP client on a with subflow endpoints on paths 1 and 2, kernel peer "
               "sink on b")
BRAID_ENDS = ("a separate testbed of the kernel's shape, since Braid takes over the interfaces "
              "of the node it runs in")


def setup_text(ctx, runs, ends=KERNEL_ENDS):
    return ("testbed a -- r<i> -- b, 3 routed paths, tbf on each router's egress towards b, "
            "TSO/GSO/GRO off, IPv4, kernel %s; %s; median of %d runs, alternating with the "
            "other figures'; unshaped, the kernel testbed carried %.0f Mbit/s of kernel MPTCP "
            "in this run, so the shaped runs are not CPU-bound" %
            (os.uname().release, ends, runs, ctx["headroom"]["mbit_s"]))


BRAID_SETUP = ("braid-testapp with 1 worker, --idle adaptive, DPDK af_packet owning a's 3 path "
               "interfaces, a fresh process per run")
BRAID_CLIENT = ("the kernel path manager with subflow endpoints on paths 1 and 2 (`--endpoint "
                "ADDR,id=N,subflow`, `--subflows %d`), connecting to b's path-0 address as the "
                "kernel client does" % BRAID_SUBFLOWS)


def braid_status(ctx, keys):
    """What the kernel figures' notes say about Braid's figures next to them."""
    if ctx["braid_missing"]:
        return "Braid's figures were not measured: " + ctx["braid_missing"]
    failed = ["%s: %s" % (k, " | ".join(ctx["failures"][k])) for k in keys
              if ctx["failures"].get(k)]
    if failed:
        return "Braid's runs that FAILED: " + "; ".join(failed)
    return "Braid's figures next to it were measured in the same run"


def failures_text(ctx, key):
    errs = ctx["failures"].get(key)
    return ("; Braid runs that FAILED (left out): %s" % " | ".join(errs)) if errs else ""


def fig_aggregation(key, rates):
    def build(samples, ctx):
        note = ("kernel MPTCP -> kernel MPTCP bulk goodput (payload delivered to the receiver "
                "between 1 s after its first byte and %.0f s later) as %% of the sum of the path "
                "rates %s Mbit/s (slope of delivered bytes, 1 ms steps); runs %s %%; baseline: "
                "kernel TCP on path 0 alone "
                "at %d Mbit/s, %% of that rate (the same frame overhead: a tbf counts 1514-byte "
                "frames, so kernel MPTCP's ceiling is ~94 %%, Braid's ~95.5 %%, TCP's ~95.6 %%); "
                "%s; %s" %
                (ctx["seconds"], "/".join(str(r) for r in rates),
                 runs_text(samples, key, "pct"),
                 PER_PATH_MBIT, setup_text(ctx, len(samples[key])),
                 braid_status(ctx, ["braid_kernel_" + key, "braid_braid_" + key])))
        return figure(med(samples, key, "pct"), "%", med(samples, "tcp1", "pct"), note)
    return build


def fig_braid_kernel(key, rates):
    bkey = "braid_kernel_" + key

    def build(samples, ctx):
        note = ("Braid MPTCP client on a (%s; %s; default scheduler) -> kernel MPTCP sink on b, "
                "bulk goodput measured at the kernel receiver exactly as the kernel_kernel figure "
                "(slope of delivered bytes between 1 s after the first byte and %.0f s later), "
                "%% of the sum of the path rates %s Mbit/s; runs %s %%; baseline: the "
                "kernel_kernel figure of this run (kernel MPTCP client, runs %s %%); ratio "
                "Braid/kernel; Braid retransmitted segments %s, MB per subflow %s, worker CPU "
                "%s s; every transfer byte-exact (sha256 of what Braid sent == what the kernel "
                "received); %s%s" %
                (BRAID_SETUP, BRAID_CLIENT, ctx["seconds"], "/".join(str(r) for r in rates),
                 runs_text(samples, bkey, "pct"), runs_text(samples, key, "pct"),
                 braid_runs_text(samples, bkey, "retransmits"),
                 braid_runs_text(samples, bkey, "subflow_mb"),
                 braid_runs_text(samples, bkey, "cpu_s"),
                 setup_text(ctx, len(samples[bkey]), BRAID_ENDS), failures_text(ctx, bkey)))
        return figure(med(samples, bkey, "pct"), "%", med(samples, key, "pct"), note)
    return build


def fig_braid_braid(key, rates):
    bkey = "braid_braid_" + key

    def build(samples, ctx):
        note = ("Braid MPTCP -> Braid MPTCP bulk goodput: braid-testapp send on a, braid-testapp "
                "sink on b (`--listen P --mode sink --mptcp`), each 1 worker, --idle adaptive, "
                "DPDK af_packet owning its node's 3 path interfaces; goodput is Braid's own "
                "receiver JSON (rx_steady_mbit_s: payload from its first read 1 s after the "
                "first byte to EOF, slow start and joins left out as in the kernel figures' "
                "window, end points rather than their slope), %% of the sum of the path rates "
                "%s Mbit/s; runs %s %%; baseline: the kernel_kernel figure of this run (runs %s "
                "%%); ratio Braid/kernel; subflows as in the kernel testbed (a's endpoints on "
                "paths 1 and 2 join b's path-0 address, `--subflows %d` both sides; a run whose "
                "3 subflows did not all carry data fails); sender retransmitted segments "
                "%s, MB per subflow %s, CPU s sender %s, receiver %s; every transfer byte-exact "
                "(sha256 sent == received); %s%s" %
                ("/".join(str(r) for r in rates), runs_text(samples, bkey, "pct"),
                 runs_text(samples, key, "pct"), BRAID_SUBFLOWS,
                 braid_runs_text(samples, bkey, "retransmits"),
                 braid_runs_text(samples, bkey, "subflow_mb"),
                 braid_runs_text(samples, bkey, "cpu_s"),
                 "[%s]" % ", ".join(str(s["braid_receiver"]["cpu_s"]) for s in samples[bkey]),
                 setup_text(ctx, len(samples[bkey]), BRAID_ENDS), failures_text(ctx, bkey)))
        return figure(med(samples, bkey, "pct"), "%", med(samples, key, "pct"), note)
    return build


def fig_tcp1(samples, ctx):
    note = ("kernel TCP -> kernel TCP bulk goodput on path 0 alone, tbf %d Mbit/s (the per-path "
            "rate of equal3), %% of that rate, the same window as the MPTCP figures; runs %s %%; "
            "the reference for the aggregation figures; %s" %
            (PER_PATH_MBIT, runs_text(samples, "tcp1", "pct"),
             setup_text(ctx, len(samples["tcp1"]))))
    return figure(med(samples, "tcp1", "pct"), "%", None, note)


def fig_vs_tcp(samples, ctx):
    mp = med(samples, "braid_kernel_equal3", "mbit_s")
    tcp = med(samples, "braid_tcp1", "mbit_s")
    note = ("Braid MPTCP over the 3 equal paths (%d Mbit/s each) / Braid single-path TCP over "
            "path 0 alone (%d Mbit/s, the other paths unshaped and unused), both braid-testapp "
            "send on a into the kernel sink on b, goodput measured at the kernel receiver as "
            "the aggregation figures (slope over %.0f s from 1 s after the first byte); value: "
            "median MPTCP goodput %.1f Mbit/s (runs %s, the braid_kernel equal3 runs) / median "
            "TCP goodput (runs %s Mbit/s; %% of the rate %s, kernel TCP's in this run %s); "
            "baseline: that TCP goodput in Mbit/s (so no ratio field); ideal just under %d (%d "
            "paths, Braid MPTCP's payload of 1448 bytes as TCP's, 1424 on a mapping's first "
            "segment); Braid TCP "
            "retransmitted segments %s; %s; %s%s%s" %
            (PER_PATH_MBIT, PER_PATH_MBIT, ctx["seconds"], mp,
             runs_text(samples, "braid_kernel_equal3", "mbit_s"),
             runs_text(samples, "braid_tcp1", "mbit_s"), runs_text(samples, "braid_tcp1", "pct"),
             runs_text(samples, "tcp1", "pct"), PATHS, PATHS,
             braid_runs_text(samples, "braid_tcp1", "retransmits"), BRAID_SETUP + " (TCP: a0 only)",
             setup_text(ctx, len(samples["braid_tcp1"]), BRAID_ENDS),
             failures_text(ctx, "braid_tcp1"), failures_text(ctx, "braid_kernel_equal3")))
    return ratio_figure(mp / tcp, tcp, note)


def fig_rr_loss(samples, ctx):
    mp = med(samples, "braid_rr_mptcp", "p99_us")
    tcp = med(samples, "braid_rr_tcp", "p99_us")
    note = ("p99 latency of %d-byte requests each answered by %d bytes (%d requests, one "
            "connection, braid-testapp rr client on a with --nodelay, the kernel peer's echo "
            "server on b), %g %% random loss on path %d both ways (nft on its router), every "
            "path at %d Mbit/s towards b; value: Braid MPTCP with `--scheduler redundant` "
            "(every request on every subflow; %s; kernel MPTCP echo server, which answers on "
            "the subflow its own scheduler picks) p99 / Braid single-path TCP over path %d "
            "(kernel TCP echo server) p99; issue target at most 0.75; baseline: the TCP p99 "
            "in us (so no ratio field); MPTCP p99 runs %s us, p50 %s, max %s; TCP p99 runs %s "
            "us, p50 %s, max %s; packets the loss rule dropped a>b / b>a: MPTCP %s / %s, TCP "
            "%s / %s; Braid's retransmission timeouts / tail loss probes (all subflows): MPTCP "
            "%s / %s, TCP %s / %s (a lost request costs Braid about a probe timeout; a lost "
            "answer costs the kernel echo server, with one segment in flight, its ~200 ms "
            "timeout: that sets TCP's p99); every request and response byte-exact (sha256 both "
            "ways); "
            "%s; %s%s%s" %
            (RR_SIZE, RR_SIZE, ctx["rr_count"], LOSS_PERCENT, LOSS_PATH, PER_PATH_MBIT,
             BRAID_CLIENT, LOSS_PATH,
             runs_text(samples, "braid_rr_mptcp", "p99_us", "%.0f"),
             runs_text(samples, "braid_rr_mptcp", "p50_us", "%.0f"),
             runs_text(samples, "braid_rr_mptcp", "max_us", "%.0f"),
             runs_text(samples, "braid_rr_tcp", "p99_us", "%.0f"),
             runs_text(samples, "braid_rr_tcp", "p50_us", "%.0f"),
             runs_text(samples, "braid_rr_tcp", "max_us", "%.0f"),
             runs_text(samples, "braid_rr_mptcp", "dropped_a_b", "%d"),
             runs_text(samples, "braid_rr_mptcp", "dropped_b_a", "%d"),
             runs_text(samples, "braid_rr_tcp", "dropped_a_b", "%d"),
             runs_text(samples, "braid_rr_tcp", "dropped_b_a", "%d"),
             braid_runs_text(samples, "braid_rr_mptcp", "rto_expirations"),
             braid_runs_text(samples, "braid_rr_mptcp", "tlp_probes"),
             braid_runs_text(samples, "braid_rr_tcp", "rto_expirations"),
             braid_runs_text(samples, "braid_rr_tcp", "tlp_probes"), BRAID_SETUP,
             setup_text(ctx, len(samples["braid_rr_tcp"]), BRAID_ENDS),
             failures_text(ctx, "braid_rr_mptcp"), failures_text(ctx, "braid_rr_tcp")))
    return ratio_figure(mp / tcp, tcp, note)


def failover_text(samples, key):
    return ("runs %s ms, that pause began %s ms after the failure; delivery recovered (its last "
            "pause of >= %.0f ms, or twice the longest pause before the failure, ended) %s ms "
            "after the failure; longest pause before it %s ms; delivery rate before it %s "
            "Mbit/s" %
            (runs_text(samples, key, "stall_ms", "%.0f"),
             runs_text(samples, key, "stall_began_ms", "%.0f"), RECOVERY_PAUSE * 1000,
             runs_text(samples, key, "recovered_ms", "%.0f"),
             runs_text(samples, key, "pre_cut_max_gap_ms", "%.1f"),
             runs_text(samples, key, "mbit_s_before", "%.0f")))


def fig_failover(key, how):
    def build(samples, ctx):
        note = ("kernel MPTCP bulk transfer over 3 paths at %d Mbit/s each; %.1f s after all 3 "
                "subflows are up, path %d fails (%s); value: the longest pause in delivery at "
                "the receiver (between two reads that returned data, 1 ms resolution) ending "
                "after the failure; %s; every transfer completed byte-exact; %s; %s" %
                (PER_PATH_MBIT, FAIL_AFTER_SECONDS, FAILED_PATH, how,
                 failover_text(samples, key), setup_text(ctx, len(samples[key])),
                 braid_status(ctx, ["braid_" + key])))
        return figure(med(samples, key, "stall_ms"), "ms", None, note)
    return build


def fig_braid_failover(key, how):
    bkey = "braid_" + key

    def build(samples, ctx):
        note = ("Braid MPTCP client on a (%s; %s; default scheduler) sending to the kernel MPTCP "
                "sink on b over 3 paths at %d Mbit/s each; %.1f s after all 3 subflows are up "
                "(as b's `ss` shows them), path %d fails (%s); value: the longest pause in "
                "delivery at the kernel receiver (between two reads that returned data, 1 ms "
                "resolution) ending after the failure; %s; Braid: subflows marked stale %s, "
                "bytes reinjected %s, retransmitted segments %s; baseline: the kernel's figure "
                "of this run (kernel MPTCP client, %s); every transfer completed byte-exact "
                "(sha256 Braid sent == kernel received); %s%s" %
                (BRAID_SETUP, BRAID_CLIENT, PER_PATH_MBIT, FAIL_AFTER_SECONDS, FAILED_PATH, how,
                 failover_text(samples, bkey), braid_runs_text(samples, bkey, "subflow_stale"),
                 braid_runs_text(samples, bkey, "reinjected_bytes"),
                 braid_runs_text(samples, bkey, "retransmits"),
                 runs_text(samples, key, "stall_ms", "%.0f") + " ms",
                 setup_text(ctx, len(samples[bkey]), BRAID_ENDS), failures_text(ctx, bkey)))
        return figure(med(samples, bkey, "stall_ms"), "ms", med(samples, key, "stall_ms"),
                      note)
    return build


LINKDOWN = ("`ip link set r1b down` on its router, the interface towards the receiver; its veth "
            "peer b1 loses carrier")
BLACKHOLE = "an nft rule on its router drops every packet both ways; links stay up"

# (name, builder, the measurement keys it needs)
FIGURES = [
    ("mptcp.aggregation.equal3.kernel_kernel.pct_of_sum",
     fig_aggregation("equal3", [PER_PATH_MBIT] * PATHS), ("equal3", "tcp1")),
    ("mptcp.aggregation.unequal3.kernel_kernel.pct_of_sum",
     fig_aggregation("unequal3", unequal_rates()), ("unequal3", "tcp1")),
    ("mptcp.aggregation.tcp1.kernel_kernel.pct_of_rate", fig_tcp1, ("tcp1",)),
    ("mptcp.aggregation.equal3.braid_kernel.pct_of_sum",
     fig_braid_kernel("equal3", [PER_PATH_MBIT] * PATHS), ("equal3", "braid_kernel_equal3")),
    ("mptcp.aggregation.unequal3.braid_kernel.pct_of_sum",
     fig_braid_kernel("unequal3", unequal_rates()), ("unequal3", "braid_kernel_unequal3")),
    ("mptcp.aggregation.equal3.braid_braid.pct_of_sum",
     fig_braid_braid("equal3", [PER_PATH_MBIT] * PATHS), ("equal3", "braid_braid_equal3")),
    ("mptcp.aggregation.unequal3.braid_braid.pct_of_sum",
     fig_braid_braid("unequal3", unequal_rates()), ("unequal3", "braid_braid_unequal3")),
    ("mptcp.vs_tcp.throughput_ratio", fig_vs_tcp, ("braid_kernel_equal3", "braid_tcp1", "tcp1")),
    ("mptcp.loss1pct.rr_p99.ratio_vs_tcp", fig_rr_loss, ("braid_rr_mptcp", "braid_rr_tcp")),
    ("mptcp.failover.kernel_stall_ms", fig_failover("failover_linkdown", LINKDOWN),
     ("failover_linkdown",)),
    ("mptcp.failover.blackhole.kernel_stall_ms", fig_failover("failover_blackhole", BLACKHOLE),
     ("failover_blackhole",)),
    ("mptcp.failover.stall_ms", fig_braid_failover("failover_linkdown", LINKDOWN),
     ("failover_linkdown", "braid_failover_linkdown")),
    ("mptcp.failover.blackhole.stall_ms", fig_braid_failover("failover_blackhole", BLACKHOLE),
     ("failover_blackhole", "braid_failover_blackhole")),
]


# --- the runner -------------------------------------------------------------------------------

BRAID_ERRORS = (BraidFailure, BenchError, braidtest.BraidError, braidtest.PeerError,
                TimeoutError)


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


def private_copy(stack, binary):
    """A copy of braid-testapp for this run: a rebuild meanwhile (the machine is shared) must
    neither break a run nor change the binary between repetitions."""
    tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix=PREFIX))
    copy = os.path.join(tmp, "braid-testapp")
    shutil.copy2(binary, copy)
    log("Braid: %s (built %s), run from a copy" %
        (binary, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(binary)))))
    return copy


def open_testbeds(stack, binary, args):
    """{testbed name: Bench}: the kernel's, and Braid's two when braid-testapp is there."""
    benches = {}
    kinds = [("kernel", Bench)]
    if binary:
        kinds += [("braid", BraidKernelBench), ("braid_braid", BraidBraidBench)]
    for name, cls in kinds:
        tb = stack.enter_context(braidtest.Testbed(paths=PATHS, router=True, mptcp=True,
                                                   prefix=PREFIX))
        benches[name] = cls(tb, args, binary)
        if name == "kernel":
            tb.a.mptcp_endpoints_on_paths("subflow")
        limits = tb.b.mptcp_limits()
        if limits.get("subflows", 0) < PATHS - 1:
            raise BenchError("MPTCP subflow limits below %d: %s" % (PATHS - 1, limits))
        log("testbed %s (%s): %d routed paths, a %s -> b %s" %
            (tb.id, name, PATHS, " ".join(tb.a.addrs()), tb.b.addr(0)))
    return benches


def show(sample):
    return json.dumps({k: round(v, 2) if isinstance(v, float) else v
                       for k, v in sample.items()}, sort_keys=True)


def measure_once(key, measure, bench, failures):
    """One run: the sample, or None when Braid's run failed (recorded in failures[key])."""
    if bench.kind == "kernel":
        return measure(bench)
    try:
        return measure(bench)
    except BRAID_ERRORS as e:
        bench.tb.mark_failed()   # keeps its artifacts (braid-testapp's output, progress files)
        loud = "NOT BYTE-EXACT " if isinstance(e, NotByteExact) else ""
        text = "%s%s: %s" % (loud, type(e).__name__, e)
        failures.setdefault(key, []).append(text)
        log("BRAID RUN FAILED %s%s (artifacts: %s): %s" % (loud, key, bench.tb.workdir, text))
        return None


def run(args):
    samples = {key: [] for key, _, _, _ in MEASUREMENTS}
    failures = {}
    only = set(args.only.split(",")) if args.only else None
    binary = braidtest.find_testapp()
    missing = None if binary else ("braid-testapp is not built (%s; target braid-testapp, or "
                                   "set BRAID_TESTAPP)" % braidtest.testapp_path())
    with contextlib.ExitStack() as stack:
        if binary:
            try:
                binary = private_copy(stack, binary)
            except OSError as e:
                binary, missing = None, "braid-testapp could not be copied: %s" % e
        if missing:
            log("Braid's figures skipped: " + missing)
        benches = open_testbeds(stack, binary, args)
        room = headroom(benches["kernel"])
        log("headroom: unshaped %.0f Mbit/s" % room["mbit_s"])
        for rep in range(args.reps):
            for key, measure, runs, where in MEASUREMENTS:
                if (only and key not in only) or where not in benches:
                    continue
                for _ in range(runs):
                    if len(failures.get(key, [])) >= BRAID_MAX_FAILURES:
                        break
                    s = measure_once(key, measure, benches[where], failures)
                    if s is not None:
                        samples[key].append(s)
                        log("rep %d %-24s %s" % (rep + 1, key, show(s)))
    ctx = {"seconds": args.seconds, "headroom": room, "rr_count": args.rr_count,
           "failures": failures, "braid_missing": missing}
    figures = {}
    for name, build, needs in FIGURES:
        if any(not samples[k] for k in needs):
            if not only:
                log("no figure %s: no successful runs of %s" %
                    (name, ", ".join(k for k in needs if not samples[k])))
            continue
        figures[name] = build(samples, ctx)
    return figures, samples, failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="part file to write (run-bench: build/bench/parts/mptcp.json)")
    ap.add_argument("--reps", type=int, default=3, help="alternating repetitions (medians)")
    ap.add_argument("--seconds", type=float, default=4.0,
                    help="goodput window per aggregation run")
    ap.add_argument("--rr-count", type=int, default=3000,
                    help="requests per request/response run (p99 under loss)")
    ap.add_argument("--only", help="comma-separated measurement keys (%s); prints, writes no "
                    "part" % ",".join(k for k, _, _, _ in MEASUREMENTS))
    args = ap.parse_args()
    out = None if args.only else args.out
    # A part from an earlier run must not outlive a failed or skipped one.
    remove_part(out)
    reason = braidtest.check_e2e(("root", "netns", "mptcp", "nft", "tc"))
    if reason:
        log("skipped, no mptcp.* figures: " + reason)
        return 0
    t0 = time.monotonic()
    figures, samples, failures = run(args)
    elapsed = time.monotonic() - t0
    if out:
        write_part(out, figures)
        runs_path = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(out)), "..",
                                                  "mptcp-runs.json"))
        with open(runs_path, "w") as f:
            json.dump({"samples": samples, "braid_failures": failures}, f, indent=2,
                      sort_keys=True)
        log("wrote %s (every run: %s), %.0f s" % (out, runs_path, elapsed))
    for name, f in sorted(figures.items()):
        log("%-52s %10s %-3s baseline %s ratio %s" % (name, f["value"], f["unit"],
                                                      f["baseline"], f["ratio"]))
    for key, errs in sorted(failures.items()):
        log("BRAID FAILED %d run(s) of %s: %s" % (len(errs), key, errs[0]))
    if not out:
        log("%.0f s" % elapsed)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (BenchError, braidtest.PeerError, braidtest.CommandError, TimeoutError) as e:
        log("FAILED: %s: %s" % (type(e).__name__, e))
        sys.exit(1)
