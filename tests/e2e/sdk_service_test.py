#!/usr/bin/env python3
"""Apps on libbraid through the Braid service against the Linux kernel (CTest label e2e).

A 3-path routed testbed. Node a runs `braid-testapp --serve @braid/<unique> --mptcp` (one
worker, DPDK af_packet) owning a's interfaces of paths 0, 1 and 2, with subflow endpoints on
paths 1 and 2 (the kernel path manager: MPTCP joins). braid-perf clients in node a, with
BRAID_SOCKET naming that service, run their sockets on it; node b runs `braid-perf -s --mptcp`
with no service in reach, i.e. on the kernel's MPTCP sockets (libbraid's fallback). Checked:

  kernel    bulk both directions (copying and zero-copy), SHA-256 equal at both ends and every
            byte matching the pattern; the kernel's MPTcpExt counters show MP_CAPABLE and two
            joins and no failure counter moved; rr and crr complete over Braid's sockets.
  two apps  two braid-perf clients at once (two processes, two channels), both byte-exact.
  kill      a client SIGKILLed mid-transfer: the kernel server's connection is reset (its recv
            fails) promptly and no MPTCP connection is left on b.
  stop      the service stopped (SIGTERM) under a running client: the client fails promptly;
            the service's summary (`channel`) shows every session ended (the killed app's by
            hang-up, the running one's by the stop), no session left and every socket reset or
            closed. Then a's interfaces go back to the kernel and a new client with the same
            BRAID_SOCKET (nobody listens) runs on the kernel's sockets, byte-exact.

Binaries: braid-testapp from $BRAID_TESTAPP (braidtest.braid.find_testapp), braid-perf from
$BRAID_PERF, else next to braid-testapp's folder (<build>/tools/braid-perf/braid-perf).
Exit 0 pass, 1 fail, 77 skip (not root, no namespaces/MPTCP, a binary not built).
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "lib"))

import braidtest  # noqa: E402
from braidtest.check import Checker  # noqa: E402

PORT = 5201
BUDGET_SECONDS = 150
SECONDS = 1.5  # per braid-perf run
PROMPT = 5.0   # how soon a failure must be seen

FAILURES = ("MPJoinSynAckHMacFailure", "MPJoinAckHMacFailure", "MPJoinNoTokenFound",
            "MPJoinRejected", "MPCapableFallbackACK", "MPCapableFallbackSYNACK", "DSSNotMatching",
            "DSSCorruptionFallback", "DSSCorruptionReset", "InfiniteMapTx", "InfiniteMapRx",
            "DataCsumErr", "MPFailTx", "MPFailRx", "MPRstTx", "MPRstRx")


def perf_path():
    """braid-perf: $BRAID_PERF, else beside braid-testapp's folder in the same build tree."""
    if os.environ.get("BRAID_PERF"):
        return os.environ["BRAID_PERF"]
    tools = os.path.dirname(os.path.dirname(braidtest.braid.testapp_path()))
    return os.path.join(tools, "braid-perf", "braid-perf")


class Lines:
    """JSON lines of a running process's stdout, collected by a thread."""

    def __init__(self, proc):
        self.proc, self.items = proc, []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").strip()
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            with self._cond:
                self.items.append(obj)
                self._cond.notify_all()

    def wait(self, predicate, timeout):
        """The first line for which predicate holds, or None after timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for obj in self.items:
                    if predicate(obj):
                        return obj
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)


class Bed:
    def __init__(self, check):
        self.check = check
        self.tb = braidtest.Testbed(paths=3, router=True)
        self.service_path = "@braid/e2e-%d-%d" % (os.getpid(), int(time.time()))
        self.perf = perf_path()
        self.service = self.server = None

    def __enter__(self):
        self.tb.__enter__()
        b = self.tb.b
        b.mptcp_enable(True)
        b.mptcp_limits(subflows=8, add_addr_accepted=8)
        return self

    def __exit__(self, *exc):
        return self.tb.__exit__(*exc)

    def a_addr(self, path):
        return self.tb.paths[path].addr("a", 4)

    def b_addr(self, path):
        return self.tb.paths[path].addr("b", 4)

    def start_service(self):
        endpoints = []
        for i in (1, 2):
            endpoints += ["--endpoint", "%s,id=%d,subflow" % (self.a_addr(i), i)]
        self.service = braidtest.start_braid(
            self.tb.a, 0, "--serve", self.service_path, family=4, more_paths=(1, 2),
            extra=["--mptcp", "--subflows", 4] + endpoints)
        return self.service

    def env(self, socket_path=None):
        return ["env", "BRAID_SOCKET=%s" % (socket_path or self.service_path)]

    def start_server(self):
        """braid-perf -s on b: no service in b's namespace, so kernel MPTCP sockets."""
        cmd = self.env("@braid/nobody-%d" % os.getpid()) + [self.perf, "-s", "-p", PORT,
                                                            "--mptcp", "--json"]
        proc = self.tb.b.popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.server = Lines(proc)
        ready = self.server.wait(lambda o: o.get("event") == "listening", 10)
        self.check(ready is not None and ready.get("stack") == "kernel",
                   "braid-perf server on b listens on kernel MPTCP sockets", ready)

    def client_argv(self, *args, socket_path=None):
        return self.env(socket_path) + [self.perf, "-c", self.b_addr(0), "-p", PORT, "--mptcp",
                                        "--json"] + [str(a) for a in args]

    def run_client(self, *args, socket_path=None, timeout=30):
        p = self.tb.a.run(self.client_argv(*args, socket_path=socket_path), timeout=timeout,
                          check=False)
        try:
            return json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"error": "no JSON result (exit %d): %s %s" % (p.returncode, p.stdout[-500:],
                                                                    p.stderr[-500:])}

    def start_client(self, *args):
        return self.tb.a.popen(self.client_argv(*args), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)

    def server_line(self, stream, timeout=10):
        """The server's line for a bulk stream of the client: same byte count and digest."""
        return self.server.wait(lambda o: o.get("event") == "connection" and
                                o.get("bytes") == stream.get("bytes") and
                                o.get("sha256") == stream.get("sha256"), timeout)


def delta(after, before):
    return {k: after.get(k, 0) - before.get(k, 0) for k in after
            if after.get(k, 0) != before.get(k, 0)}


def check_bulk(check, bed, what, result, stack="braid"):
    """A bulk result: no error, the stack expected, and per stream the server's line with the
    same bytes and SHA-256 (and its own pattern check or comparison)."""
    ok = check(result.get("error") is None and result.get("stack") == stack and
               result.get("byte_exact") is True and result.get("bytes", 0) > 0,
               "%s: byte-exact over %s sockets" % (what, stack),
               {k: result.get(k) for k in ("stack", "bytes", "byte_exact", "error")})
    for stream in result.get("per_stream", []):
        line = bed.server_line(stream)
        good = line is not None and line.get("error") is None and (
            line.get("pattern_ok") is True or line.get("byte_exact") is True)
        ok = check(good, "%s: the kernel server has the same %d bytes, SHA-256 %s..." %
                   (what, stream.get("bytes", 0), (stream.get("sha256") or "")[:12]),
                   line) and ok
    return ok


def scenario_kernel(check, bed):
    b = bed.tb.b
    before = b.mptcp_counters()
    r = bed.run_client("-t", SECONDS)
    check_bulk(check, bed, "bulk a -> b (copy)", r)
    moved = delta(b.mptcp_counters(), before)
    check(moved.get("MPCapableSYNRX", 0) == 1 and moved.get("MPCapableACKRX", 0) == 1,
          "kernel MPTcpExt: one MP_CAPABLE connection", moved)
    check(moved.get("MPJoinSynRx", 0) == 2 and moved.get("MPJoinAckRx", 0) == 2,
          "kernel MPTcpExt: two joins (paths 1 and 2)", moved)
    bad = {k: v for k, v in moved.items() if k in FAILURES}
    check(not bad, "kernel: no MPTCP failure counter moved", bad)
    conns = b.mptcp_connections()
    check.info("b's MPTCP sockets after the run: %d" % len(conns))

    r = bed.run_client("-t", SECONDS, "--reverse")
    check_bulk(check, bed, "bulk b -> a (copy)", r)
    r = bed.run_client("-t", SECONDS, "--zerocopy")
    check_bulk(check, bed, "bulk a -> b (zero-copy)", r)
    check(r.get("zerocopy") is True, "zero-copy calls used on Braid's socket", r.get("zerocopy"))
    r = bed.run_client("-t", SECONDS, "--reverse", "--zerocopy")
    check_bulk(check, bed, "bulk b -> a (zero-copy)", r)

    r = bed.run_client("-t", SECONDS, "--mode", "rr")
    lat = r.get("latency_us") or {}
    check(r.get("error") is None and r.get("stack") == "braid" and r.get("transactions", 0) > 100,
          "rr: 64-byte request/response over Braid", {k: r.get(k) for k in
                                                     ("transactions", "error", "stack")})
    check.info("rr: %s transactions/s, p50 %s us, p99 %s us" %
               (round(r.get("transactions_per_second") or 0), lat.get("p50"), lat.get("p99")))
    r = bed.run_client("-t", SECONDS, "--mode", "crr")
    check(r.get("error") is None and r.get("stack") == "braid" and r.get("transactions", 0) > 10,
          "crr: connect/request/response/close over Braid",
          {k: r.get(k) for k in ("transactions", "transactions_per_second", "error")})


def scenario_two_apps(check, bed):
    procs = [bed.start_client("-t", SECONDS + 0.5, *extra) for extra in ((), ("--reverse",))]
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=30)
        try:
            r = json.loads(out.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            r = {"error": "no JSON result: %s" % err.decode()[-500:]}
        check_bulk(check, bed, "app %d of 2 at once" % (i + 1), r)


def scenario_kill(check, bed):
    b = bed.tb.b
    seen = len(bed.server.items)
    p = bed.start_client("-t", 20)
    time.sleep(1.0)
    p.send_signal(signal.SIGKILL)
    p.wait(5)
    t_kill = time.monotonic()
    line = bed.server.wait(lambda o: o in bed.server.items[seen:] and
                           o.get("event") == "connection", PROMPT)
    check(line is not None and line.get("error") is not None,
          "the kernel server's connection fails within %.0f s of the SIGKILL" % PROMPT,
          line and line.get("error"))
    if line is not None:
        check.info("server saw the end %.2f s after the kill: %s" %
                   (time.monotonic() - t_kill, line.get("error")))
    time.sleep(0.5)
    left = b.mptcp_connections(PORT)
    left = [c for c in left if "LISTEN" not in str(c)]
    check(not left, "no MPTCP connection left on b", left)


def scenario_stop(check, bed, summary_holder):
    p = bed.start_client("-t", 20)
    time.sleep(1.0)
    t_stop = time.monotonic()
    summary = bed.service.stop()
    summary_holder.append(summary)
    try:
        out, _ = p.communicate(timeout=PROMPT)
        took = time.monotonic() - t_stop
        r = json.loads(out.decode().strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        p.kill()
        check(False, "the running client fails within %.0f s of the service stopping" % PROMPT)
        r = None
    except (ValueError, IndexError):
        r = {"error": "no JSON result"}
        took = time.monotonic() - t_stop
    if r is not None:
        check(p.returncode == 1 and r.get("error"),
              "the running client fails within %.0f s of the service stopping (%.2f s)" %
              (PROMPT, took), r.get("error"))
    channel = (summary or {}).get("channel") or {}
    check.info("service channel counters: %s" % json.dumps(
        {k: v for k, v in channel.items() if v}, sort_keys=True))
    check(channel.get("sessions") == 0 and
          channel.get("apps_detached") == channel.get("apps_attached"),
          "service: every session ended, none left",
          {k: channel.get(k) for k in ("apps_attached", "apps_detached", "sessions")})
    check(channel.get("app_hangups", 0) >= 1 and channel.get("sessions_stopped", 0) >= 1,
          "service: the killed app's session ended by hang-up, the running one's by the stop",
          {k: channel.get(k) for k in ("app_hangups", "sessions_stopped")})
    check(channel.get("sockets_opened", -1) ==
          channel.get("sockets_closed", 0) + channel.get("sockets_reset", 0),
          "service: no socket left (every one opened was closed or reset)",
          {k: channel.get(k) for k in ("sockets_opened", "sockets_closed", "sockets_reset")})
    check(channel.get("sockets_reset", 0) >= 2,
          "service: the killed and the stopped apps' connections were reset",
          channel.get("sockets_reset"))

    # a's interfaces back to the kernel; the same BRAID_SOCKET now names nobody: fallback.
    give_back_to_kernel(bed.tb)
    r = bed.run_client("-t", SECONDS)
    check_bulk(check, bed, "after the service stopped: bulk a -> b", r, stack="kernel")
    r = bed.run_client("-t", SECONDS, "--reverse")
    check_bulk(check, bed, "after the service stopped: bulk b -> a", r, stack="kernel")


def give_back_to_kernel(tb):
    """Undoes braidtest.braid.prepare_interface on a's three interfaces: ARP and IPv6 on, the
    testbed's addresses and routes back."""
    a = tb.a
    for i in range(3):
        ifname = a.iface(i)
        a.ip(["link", "set", ifname, "arp", "on"])
        a.sysctl("net.ipv6.conf.%s.disable_ipv6" % ifname, 0)
        net = tb.paths[i].segment_of("a").net(4)
        a.ip(["addr", "replace", "%s/%d" % (tb.addr("a", i, 4), net.prefixlen), "dev", ifname])
        a.ip(["addr", "replace", "%s/64" % tb.addr("a", i, 6), "dev", ifname, "nodad"])
        tb.dpdk_owned.discard(("a", ifname))
        tb.link_up(i, "a")


def main():
    braidtest.require_e2e(("root", "netns", "mptcp", "nft", "tc"))
    if shutil.which("ethtool") is None:
        print("SKIP: ethtool not found", flush=True)
        return braidtest.SKIP
    if braidtest.braid.find_testapp() is None:
        print("SKIP: braid-testapp not built (%s)" % braidtest.braid.testapp_path(), flush=True)
        return braidtest.SKIP
    if not os.access(perf_path(), os.X_OK):
        print("SKIP: braid-perf not built (%s; set BRAID_PERF)" % perf_path(), flush=True)
        return braidtest.SKIP

    def over_budget(_signum, _frame):
        raise TimeoutError("over the %d s budget" % BUDGET_SECONDS)
    signal.signal(signal.SIGALRM, over_budget)
    signal.alarm(BUDGET_SECONDS)
    check = Checker("sdk service")
    print("=== sdk service (braid-testapp: %s, braid-perf: %s) ===" %
          (braidtest.braid.find_testapp(), perf_path()), flush=True)
    t0 = time.monotonic()
    try:
        with Bed(check) as bed:
            bed.start_service()
            bed.start_server()
            scenario_kernel(check, bed)
            scenario_two_apps(check, bed)
            scenario_kill(check, bed)
            scenario_stop(check, bed, [])
            if check.failures:
                bed.tb.mark_failed()
    except braidtest.Interrupted:
        raise
    except Exception as e:  # pylint: disable=broad-except
        import traceback
        traceback.print_exc()
        check(False, "raised %s: %s" % (type(e).__name__, e))
    print("=== sdk service: %s in %.1f s ===" % ("FAIL" if check.failures else "PASS",
                                                time.monotonic() - t0), flush=True)
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
