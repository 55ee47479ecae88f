#!/usr/bin/env python3
"""Self-tests of the braidtest testbed library (CTest label e2e): real kernels in network
namespaces, checked with the kernel's own evidence (ICMP replies, MPTcpExt counters, ss, nft and
tc counters, captures). Each test builds its own testbed; all of them take well under a minute.

  testbed_selftest.py ping|mptcp|rate|loss|failure|cleanup|cli|all

Exit 0 pass, 1 fail, 77 skip (not root, no namespaces/MPTCP/dumpcap/nft/tc). Bounds on rates
are loose on purpose: they check the testbed's shaping, not the speed of this machine.
"""

import glob
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = os.path.join(HERE, "lib")
sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, LIB)

import braidtest  # noqa: E402
from braidtest import capture as bcap  # noqa: E402

MB = 1 << 20
BUDGET_SECONDS = 50  # per test


class Checker:
    def __init__(self, name):
        self.name, self.failures = name, []
        self.t0 = time.monotonic()

    def __call__(self, cond, what, detail=""):
        detail = " ".join(str(detail).split())
        print("%5.1f %s %s%s" % (time.monotonic() - self.t0, "ok  " if cond else "FAIL", what,
                           (": %s" % detail) if detail else ""), flush=True)
        if not cond:
            self.failures.append(what)
        return cond


class testbed:
    """braidtest.Testbed that keeps its artifacts when a check failed inside the block."""

    def __init__(self, check, **kwargs):
        self.check, self.tb = check, braidtest.Testbed(**kwargs)

    def __enter__(self):
        self.n = len(self.check.failures)
        return self.tb.__enter__()

    def __exit__(self, *exc):
        if len(self.check.failures) > self.n:
            self.tb.mark_failed()
        return self.tb.__exit__(*exc)


def ping_ok(node, addr, count=2):
    return node.ping(addr, count=count, timeout=1.0) == count


def ping_dead(node, addr):
    return node.ping(addr, count=1, interval=0.0, timeout=0.3) == 0


def delta(after, before, key):
    return after.get(key, 0) - before.get(key, 0)


# --- (1) ping over every path, v4 and v6, direct and routed -----------------------------------

def test_ping(check):
    for router in (False, True):
        t0 = time.monotonic()
        with testbed(check, paths=3, router=router) as tb:
            label = "routed" if router else "direct"
            check(True, "%s testbed built in %.2f s" % (label, time.monotonic() - t0),
                  ", ".join(tb.namespaces()))
            for i in range(3):
                for fam in (4, 6):
                    dst = tb.b.addr(i, fam)
                    check(ping_ok(tb.a, dst), "%s path %d IPv%d: a -> %s" % (label, i, fam, dst))
                    # The route to b's address on path i leaves through path i.
                    route = tb.a.ip(["-%d" % fam, "route", "get", dst]).stdout
                    check(" dev %s " % tb.a.iface(i) in route, "%s path %d IPv%d route" %
                          (label, i, fam), route.strip())
            # A socket bound to path 2's interface reaches b's path-0 address through path 2
            # (source rule; the kernel's dev-bound subflows), and b answers on path 2.
            dst, src = tb.b.addr(0), tb.a.addr(2)
            route = tb.a.ip(["route", "get", dst, "from", src, "oif", tb.a.iface(2)]).stdout
            check(" dev %s " % tb.a.iface(2) in route, "%s crossed route out of a2" % label,
                  route.strip())
            back = tb.b.ip(["route", "get", src, "from", dst]).stdout
            check(" dev %s " % tb.b.iface(2) in back, "%s crossed reply out of b2" % label,
                  back.strip())
            if router:
                r = tb.routers[1]
                fwd = r.run(["sysctl", "-n", "net.ipv4.ip_forward",
                             "net.ipv6.conf.all.forwarding"]).stdout.split()
                check(fwd == ["1", "1"], "router forwards IPv4 and IPv6", fwd)
            # DAD is off and settled: no tentative address anywhere.
            tentative = tb.a.run(["ip", "-6", "addr", "show", "tentative"]).stdout.strip()
            check(tentative == "", "no tentative IPv6 address", tentative)


# --- (2) kernel MPTCP over 3 paths ------------------------------------------------------------

def tcp_options(frame):
    """(tcp flags, options bytes) of an Ethernet/IPv4|IPv6 TCP frame, or None."""
    if len(frame) < 14:
        return None
    etype = struct.unpack("!H", frame[12:14])[0]
    if etype == 0x0800 and len(frame) >= 34 and frame[23] == 6:
        tcp = 14 + (frame[14] & 0x0F) * 4
    elif etype == 0x86DD and len(frame) >= 54 and frame[20] == 6:
        tcp = 54
    else:
        return None
    if len(frame) < tcp + 20:
        return None
    doff = (frame[tcp + 12] >> 4) * 4
    return frame[tcp + 13], frame[tcp + 20:tcp + doff]


def mptcp_subtypes(opts):
    out, i = [], 0
    while i < len(opts):
        kind = opts[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2:
            break
        if kind == 30 and i + 2 < len(opts):
            out.append(opts[i + 2] >> 4)
        i += opts[i + 1]
    return out


def syn_subtypes(pcap):
    """MPTCP option subtypes seen in SYNs (not SYN-ACKs) of a capture."""
    seen = set()
    for _, frame in bcap.iter_pcap(pcap):
        t = tcp_options(frame)
        if t and t[0] & 0x02 and not t[0] & 0x10:
            seen.update(mptcp_subtypes(t[1]))
    return seen


def test_mptcp(check):
    with testbed(check, paths=3) as tb:
        a, b = tb.a, tb.b
        for i in range(3):
            # Shaped so that the scheduler has to spread the data over every path.
            tb.set_rate(i, "100mbit", "a>b")
        for fam, port in ((4, 5301), (6, 5302)):
            a.mptcp_endpoint_flush()
            added = a.mptcp_endpoints_on_paths("subflow", family=fam)
            check(len(a.mptcp_endpoints()) == 2, "IPv%d: subflow endpoints on paths 1, 2" % fam,
                  added)
            caps = tb.capture(b, name="ipv%d" % fam)
            b_before, a_before = b.mptcp_counters(), a.mptcp_counters()
            rx_before = [b.link_stats(b.iface(i))["rx_bytes"] for i in range(3)]
            srv = tb.start_server(b, port, family="dual")
            nbytes = 12 * MB
            cl = tb.start_client(a, b.addr(0, fam), port, nbytes=nbytes, wait_subflows=2,
                                 hold=1.0)
            conns, subflows, ss_text = [], [], ""
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                conns = b.mptcp_connections(port)
                subflows = b.tcp_subflows(port)
                if conns and conns[0]["subflows"] == 2 and len(subflows) == 3:
                    ss_text = b.ss("-Mni")
                    break
                time.sleep(0.05)
            res = cl.result(timeout=30)
            sv = srv.results(timeout=10)[0]
            for c in caps:
                c.stop()
            check(sv["bytes_rx"] == nbytes and sv["sha256_rx"] == res["sha256_tx"] ==
                  braidtest.expected_sha256(nbytes),
                  "IPv%d: %d MiB byte-exact (SHA-256)" % (fam, nbytes // MB),
                  "%s, %.0f Mbit/s" % (sv["sha256_rx"][:16], sv["rx_mbit_s"] or 0))
            check(bool(conns) and conns[0]["subflows"] == 2,
                  "IPv%d: ss -Mni shows 2 additional subflows (3 in all)" % fam,
                  ss_text.strip().replace("\n", " | ")[:300])
            check(len(subflows) == 3, "IPv%d: ss -tni shows 3 tcp-ulp-mptcp subflows" % fam,
                  subflows)
            b_after, a_after = b.mptcp_counters(), a.mptcp_counters()
            for node, name, before, after in (("b", "MPJoinSynRx", b_before, b_after),
                                              ("b", "MPJoinAckRx", b_before, b_after),
                                              ("a", "MPJoinSynAckRx", a_before, a_after),
                                              ("b", "MPCapableSYNRX", b_before, b_after)):
                want = 1 if name == "MPCapableSYNRX" else 2
                check(delta(after, before, name) == want, "IPv%d: %s %s += %d" %
                      (fam, node, name, want), delta(after, before, name))
            rx = [b.link_stats(b.iface(i))["rx_bytes"] - rx_before[i] for i in range(3)]
            check(all(x > MB for x in rx), "IPv%d: every path carried data" % fam,
                  ["%.1f MB" % (x / 1e6) for x in rx])
            seen = [syn_subtypes(c.path) for c in caps]
            check(0 in seen[0] and 1 in seen[1] and 1 in seen[2],
                  "IPv%d: captures show MP_CAPABLE SYN on b0, MP_JOIN SYNs on b1, b2" % fam,
                  [sorted(s) for s in seen])


# --- (3) rate limits --------------------------------------------------------------------------

def test_rate(check):
    for router, kind in ((True, "tbf"), (False, "htb")):
        label = "%s %s" % ("routed" if router else "direct", kind)
        with testbed(check, paths=1, router=router) as tb:
            fast = tb.transfer(tb.b, tb.a, tb.a.addr(0), 16 * MB, proto="tcp", port=5311)
            tb.set_rate(0, "20mbit", "a>b", kind=kind)
            r = tb.transfer(tb.a, tb.b, tb.b.addr(0), 3 * MB, proto="tcp", port=5312)
            check(r["ok"] and 10 < r["mbit_s"] < 25, "%s: 20mbit a>b caps TCP to 10..25 Mbit/s"
                  % label, "%.1f Mbit/s" % r["mbit_s"])
            back = tb.transfer(tb.b, tb.a, tb.a.addr(0), 16 * MB, proto="tcp", port=5313)
            check(back["ok"] and back["mbit_s"] > 100, "%s: b>a stays unshaped" % label,
                  "%.0f Mbit/s (before: %.0f)" % (back["mbit_s"], fast["mbit_s"]))
            st = tb.qdisc_stats(0, "a>b")
            check(st.get("kind") == kind and st.get("bytes", 0) >= 3 * MB,
                  "%s: the qdisc at %s counted the bytes" %
                  (label, "/".join(tb.shaping_points(0, "a>b")[0])), st.get("bytes"))
            tb.clear_rate(0, "a>b")
            r = tb.transfer(tb.a, tb.b, tb.b.addr(0), 16 * MB, proto="tcp", port=5314)
            check(r["ok"] and r["mbit_s"] > 100, "%s: cleared mid-run" % label,
                  "%.0f Mbit/s" % r["mbit_s"])


# --- (4) loss ---------------------------------------------------------------------------------

def test_loss(check):
    for router in (False, True):
        label = "routed" if router else "direct"
        with testbed(check, paths=1, router=router) as tb:
            tb.set_loss(0, 5, "a>b")
            role, dev = tb.drop_points(0, "a>b")[0]
            rx0 = tb.node(role).link_stats(dev)["rx_packets"]
            before = tb.a.nstat("Tcp")
            r = tb.transfer(tb.a, tb.b, tb.b.addr(0), 4 * MB, proto="tcp", port=5321)
            after = tb.a.nstat("Tcp")
            rx = tb.node(role).link_stats(dev)["rx_packets"] - rx0
            drops = tb.drops(0, "a>b")
            ratio = drops["loss"] / max(rx, 1)
            check(r["ok"], "%s: 4 MiB byte-exact through 5%% loss" % label)
            check(0.025 < ratio < 0.09, "%s: nft counter at %s/%s dropped ~5%%" %
                  (label, role, dev), "%d of %d packets (%.1f%%)" %
                  (drops["loss"], rx, 100 * ratio))
            retrans = delta(after, before, "TcpRetransSegs")
            check(retrans >= drops["loss"] // 2, "%s: nstat TcpRetransSegs on a" % label,
                  retrans)
            # The other direction is untouched; setting 0 removes the loss mid-run.
            check(tb.drops(0, "b>a")["loss"] == 0, "%s: b>a not lossy" % label)
            tb.set_loss(0, 0, "a>b")
            d0 = tb.drops(0, "a>b")["loss"]
            r = tb.transfer(tb.a, tb.b, tb.b.addr(0), 2 * MB, proto="tcp", port=5322)
            check(r["ok"] and tb.drops(0, "a>b")["loss"] == d0, "%s: loss 0 drops nothing" %
                  label)


# --- (5) link down, blackhole, restore --------------------------------------------------------

def transfer_with_event(tb, port, event, restore, nbytes=4 * MB):
    """MPTCP a -> b with a subflow on path 1; event() once both subflows carry data."""
    a, b = tb.a, tb.b
    srv = tb.start_server(b, port, family="4", timeout=30)
    cl = tb.start_client(a, b.addr(0), port, nbytes=nbytes, wait_subflows=1)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(b.tcp_subflows(port)) < 2:
        time.sleep(0.02)
    time.sleep(0.2)
    event()
    res = cl.result(timeout=40)
    sv = srv.results(timeout=10)[0]
    restore()
    return sv["bytes_rx"] == nbytes and sv["sha256_rx"] == res["sha256_tx"], sv


def test_failure(check):
    with testbed(check, paths=2, router=True) as tb:
        a, b = tb.a, tb.b
        for fam in (4, 6):
            check(ping_ok(a, b.addr(1, fam)), "path 1 IPv%d up" % fam)
        for at in ("a", "r1b"):
            tb.link_down(1, at=at)
            check(ping_dead(a, b.addr(1)) and ping_dead(a, b.addr(1, 6)),
                  "link %s down: path 1 dead (v4, v6)" % at)
            check(ping_ok(a, b.addr(0)), "link %s down: path 0 still up" % at)
            tb.link_up(1, at=at)
            check(ping_ok(a, b.addr(1)) and ping_ok(a, b.addr(1, 6)),
                  "link %s up: path 1 back (v4, v6; routes restored)" % at)
        tb.blackhole(1)
        check(ping_dead(a, b.addr(1)) and ping_dead(a, b.addr(1, 6)),
              "blackhole: path 1 dead (v4, v6)")
        state = a.ip_json(["link", "show", a.iface(1)])[0]["operstate"]
        check(state == "UP", "blackhole: the link stays up", state)
        d = tb.drops(1, "a>b")
        check(d["blackhole"] > 0, "blackhole: nft counter at %s/%s" %
              tb.drop_points(1, "a>b")[0], d)
        tb.restore(1)
        check(ping_ok(a, b.addr(1)) and ping_ok(a, b.addr(1, 6)), "restore: path 1 back")

        # Mid-transfer: the kernel moves the data to path 0 and the transfer completes.
        for i in range(2):
            tb.set_rate(i, "40mbit", "a>b")
        a.mptcp_endpoints_on_paths("subflow")
        ok, sv = transfer_with_event(tb, 5331, lambda: tb.blackhole(1), lambda: tb.restore(1))
        check(ok, "blackhole mid-transfer: MPTCP completes byte-exact",
              "%.1f Mbit/s" % (sv["rx_mbit_s"] or 0))
        ok, sv = transfer_with_event(tb, 5332, lambda: tb.link_down(1, at="r1b"),
                                     lambda: tb.link_up(1, at="r1b"))
        check(ok, "link down mid-transfer: MPTCP completes byte-exact",
              "%.1f Mbit/s" % (sv["rx_mbit_s"] or 0))
        check(ping_ok(a, b.addr(1)), "path 1 usable again after both")


# --- (6) cleanup ------------------------------------------------------------------------------

CHILD = r"""
import os, signal, sys, time
# As in a foreground test, whatever the caller ignored (a background job ignores SIGINT; the
# library respects SIG_IGN, as nohup expects).
signal.signal(signal.SIGINT, signal.default_int_handler)
signal.signal(signal.SIGHUP, signal.SIG_DFL)
sys.path.insert(0, %(lib)r)
import braidtest
tb = braidtest.Testbed(paths=2, router=True, prefix=%(prefix)r, keep="never")
tb.start()
srv = tb.start_server(tb.b, 5341)
caps = tb.capture(tb.b)
print("READY", tb.id, srv.proc.pid, caps[0].proc.pid, flush=True)
time.sleep(60)
"""


def ours(prefix, tb_id=None):
    names = braidtest.namespaces_with_prefix(prefix)
    return [n for n in names if tb_id is None or n.startswith(tb_id + "-")]


def pid_alive(pid):
    """True if pid runs (a zombie waiting for its new parent to reap it counts as dead)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def all_dead(pids, timeout=3.0):
    deadline = time.monotonic() + timeout
    while any(pid_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def run_child(prefix):
    code = CHILD % {"lib": LIB, "prefix": prefix}
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line.startswith("READY"):
        p.kill()
        raise RuntimeError("child did not start: %s %s" % (line, p.stderr.read()))
    fields = line.split()
    return p, fields[1], [int(x) for x in fields[2:]]


def test_cleanup(check):
    prefix = "braid-st%d-" % os.getpid()
    # Normal exit and exception exit of the context manager.
    with braidtest.Testbed(paths=2, router=True, prefix=prefix) as tb:
        check(len(ours(prefix)) == 4, "testbed namespaces exist", ours(prefix))
    check(ours(prefix) == [], "gone after a normal exit")
    workdir = None
    try:
        with braidtest.Testbed(paths=1, prefix=prefix) as tb:
            tb.capture(tb.b)
            workdir = tb.workdir
            raise ValueError("boom")
    except ValueError:
        pass
    check(ours(prefix) == [], "gone after an exception")
    kept = os.listdir(workdir) if workdir and os.path.isdir(workdir) else []
    check(any(n.endswith(".pcap") for n in kept), "artifacts kept on failure", workdir)
    if workdir:
        shutil.rmtree(workdir, ignore_errors=True)

    # A test process killed by a signal mid-run cleans up, processes included.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        p, child, pids = run_child(prefix)
        check(len(ours(prefix, child)) == 4, "%s: child built its testbed" % sig.name)
        p.send_signal(sig)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
        check(p.returncode == -sig, "%s: child died of the signal after cleanup" % sig.name,
              p.returncode)
        check(ours(prefix, child) == [], "%s: no namespace left" % sig.name,
              ours(prefix, child))
        check(all_dead(pids, 0.5), "%s: server and dumpcap stopped" % sig.name, pids)

    # SIGKILL cannot be caught: the sweeper removes what is left, and leaves live testbeds.
    with braidtest.Testbed(paths=1, prefix=prefix) as live:
        p, child, pids = run_child(prefix)
        p.kill()
        p.wait()
        check(all_dead(pids), "SIGKILL: children died with the parent (PR_SET_PDEATHSIG)",
              pids)
        stale = ours(prefix, child)
        check(len(stale) == 4, "SIGKILL: stale namespaces remain", stale)
        removed = braidtest.sweep_namespaces(prefix, verbose=False)
        check(sorted(removed) == sorted(stale) and ours(prefix, child) == [],
              "sweeper removed exactly the stale ones", removed)
        # The killed child's (empty) artifacts directory: nobody else can remove it.
        root = os.environ.get("BRAIDTEST_ARTIFACTS") or tempfile.gettempdir()
        for d in glob.glob(os.path.join(root, child + "-*")):
            shutil.rmtree(d, ignore_errors=True)
        check(all(os.path.exists("/run/netns/" + ns) for ns in live.namespaces()),
              "sweeper left the live testbed alone")
    check(ours(prefix) == [], "nothing left with prefix %s" % prefix)
    # Veths are created inside the namespaces: none ever appears in this namespace.
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    check(prefix not in links and " r0a" not in links, "no testbed interface in the host "
          "namespace")


def test_cli(check):
    env = dict(os.environ, PYTHONPATH=LIB)
    cli = [sys.executable, "-m", "braidtest"]
    prefix = "braid-stcli%d-" % os.getpid()
    up = subprocess.run(cli + ["up", "--paths", "2", "--router", "--rate", "50mbit", "--loss",
                               "1", "--prefix", prefix, "--json"],
                        capture_output=True, text=True, env=env, timeout=60)
    check(up.returncode == 0, "cli up", up.stderr.strip())
    if up.returncode != 0:
        return
    import json
    st = json.loads(up.stdout)
    try:
        check(len(ours(prefix)) == 4, "cli up created 4 namespaces", ours(prefix))
        check(len(st["rate_state"]) == 4 and len(st["drop_state"]) == 4,
              "cli up applied rate and loss both ways on both paths")
        status = subprocess.run(cli + ["status"], capture_output=True, text=True, env=env,
                                timeout=30)
        check(st["id"] in status.stdout, "cli status lists it")
        sw = subprocess.run(cli + ["sweep", "--prefix", prefix], capture_output=True,
                            text=True, env=env, timeout=30)
        check(len(ours(prefix)) == 4, "cli sweep keeps testbeds made by up", sw.stdout.strip())
        imp = subprocess.run(cli + ["impair", st["id"], "--path", "1", "--blackhole"],
                             capture_output=True, text=True, env=env, timeout=30)
        check(imp.returncode == 0 and "BLACKHOLE at r1/r1a ingress" in imp.stdout,
              "cli impair --blackhole", imp.stderr.strip() or imp.stdout)
    finally:
        down = subprocess.run(cli + ["down", st["id"]], capture_output=True, text=True,
                              env=env, timeout=60)
    check(down.returncode == 0 and ours(prefix) == [], "cli down removed it", down.stdout)


TESTS = {"ping": test_ping, "mptcp": test_mptcp, "rate": test_rate, "loss": test_loss,
         "failure": test_failure, "cleanup": test_cleanup, "cli": test_cli}


def main():
    names = sys.argv[1:] or ["all"]
    if names == ["all"]:
        names = list(TESTS)
    unknown = [n for n in names if n not in TESTS]
    if unknown:
        print("unknown test(s): %s; choose from %s or all" % (unknown, " ".join(TESTS)))
        return 2
    braidtest.require_e2e()

    def over_budget(_signum, _frame):
        raise TimeoutError("over the %d s budget" % BUDGET_SECONDS)
    # Below CTest's TIMEOUT (60 s per test), so that a hung test still cleans up: CTest's kill
    # cannot be caught (the next run's sweeper would then remove the namespaces).
    signal.signal(signal.SIGALRM, over_budget)
    signal.alarm(BUDGET_SECONDS * len(names))
    failed = []
    for name in names:
        check = Checker(name)
        t0 = time.monotonic()
        print("=== %s ===" % name, flush=True)
        try:
            TESTS[name](check)
        except braidtest.Interrupted:
            raise
        except Exception as e:  # pylint: disable=broad-except
            import traceback
            traceback.print_exc()
            check(False, "%s raised %s: %s" % (name, type(e).__name__, e))
        print("=== %s: %s in %.1f s ===" % (name, "FAIL" if check.failures else "PASS",
                                           time.monotonic() - t0), flush=True)
        if check.failures:
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
