#!/usr/bin/env python3
"""Linux interop of Braid's TCP on real packets (issue 4, CTest label e2e).

Braid (braid-testapp, DPDK af_packet by default, or af_xdp) owns interface a0 of node a; the
kernel is node b; a router r0 forwards between them, and impairments (nft loss, tbf) act there.
Captures are headers only (snaplen 128) on the kernel's interface b0, and every capture must
pass tshark's analysis (braidtest.analysis): no malformed packet, no bad checksum, no invalid
option, no "ACKed unseen segment" and no "previous segment not captured" except where packets
were dropped before the capture point (then at most as many gaps as drops).

  interop_tcp_test.py TEST [--family 4|6] [--pmd af_packet|af_xdp]

TEST: options  every tcp_sack/tcp_timestamps/tcp_window_scaling combination of the kernel (b's
               sysctls) against Braid's defaults, both directions of open; Braid with all three
               off (and each one off); what was negotiated in the connection JSON, `ss -tnio` and
               the SYN/SYN-ACK on the wire; data both ways (echo), byte-exact.
      bulk     256 MB Braid -> Linux and Linux -> Braid, SHA-256 of sender == receiver.
      loss     the same with 1 % loss on the way to the receiver (nft at the router).
      tbf      the same through a tbf bottleneck (BRAID_INTEROP_TBF, default 300mbit: below
               what either side reaches unshaped here, so the qdisc holds packets back).
      close    active and passive close from both sides; TIME-WAIT on the side that closed
               first, no ESTAB/CLOSE-WAIT/LAST-ACK left on the kernel.
      rst      the kernel connects to a Braid port nobody listens on (ECONNREFUSED); Braid
               connects to a closed kernel port (error "refused").
      ping     ICMP / ICMPv6 echo from Linux to Braid (small and 1400-byte payloads).
      lib      no Braid: the library's own checks (analysis.py on kernel<->kernel captures and
               crafted malformed packets; prepare_interface keeps the kernel off the interface).

Braid's summary counters checked at the end of each test (check_braid_counters): no net or io
drop outside a short list of reasons the router's own multicast chatter causes (MLD reports,
neighbour solicitations for other targets); net drops for bad checksums and malformed headers
are zero; per test, the counters that show the mechanism at work (retransmits with loss towards
the kernel, out-of-order segments with loss towards Braid, TIME-WAIT entries after an active
close, resets sent for a closed port, echo replies for pings). Frames the kernel received on
a0 that never reached Braid's port (the PMD's socket ring overflowing, which DPDK's af_packet
does not count) are reported with the bulk figures, not asserted: they depend on how the two
cores are shared, and the kernel repairs them like any loss.

Exit 0 pass, 1 fail, 77 skip (not root, no namespaces/dumpcap/tshark/nft/tc, braid-testapp not
built). Environment: BRAID_TESTAPP (binary), BRAID_INTEROP_BYTES (bulk size, default 256 MiB),
BRAID_INTEROP_TBF, BRAID_INTEROP_PMD, BRAIDTEST_ARTIFACTS (where failed runs keep captures).
"""

import argparse
import concurrent.futures
import itertools
import os
import shutil
import signal
import struct
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(HERE, "lib"))

import braidtest  # noqa: E402
from braidtest import analysis, braid  # noqa: E402
from braidtest.check import Checker, host_of, port_of  # noqa: E402

MB = 1 << 20
BULK = int(os.environ.get("BRAID_INTEROP_BYTES", 256 * MB))
TBF_RATE = os.environ.get("BRAID_INTEROP_TBF", "300mbit")
LOSS_PERCENT = 1.0
SNAPLEN = 128
BRAID_PORT, KERNEL_PORT, CLOSED_PORT = 5000, 5001, 5999
SMALL = 48 * 1024     # kernel-client echo cases: fits an unscaled 64 KiB window (no deadlock)
ECHO = 256 * 1024     # Braid-client echo cases: more than an unscaled window
CLOSE_BYTES = 1 * MB
# Per test, below CTest's TIMEOUT so that a hung test still cleans up (CTest's kill cannot be
# caught; the next run's sweeper would remove the namespaces then).
BUDGETS = {"options": 150, "bulk": 150, "loss": 170, "tbf": 170, "close": 90, "rst": 60,
           "ping": 60, "lib": 60}

# Net-layer drop reasons that the router's own traffic causes on a segment where Braid owns
# one end: MLDv2 reports and other multicast (not joined / not for our MAC), neighbour
# solicitations for the router's other addresses, IPv6 router solicitations. Everything else
# (checksums, malformed headers, no route, neighbour failures, ...) must stay zero.
ALLOWED_NET_DROPS = {"not_for_us_mac", "ipv6_not_for_us", "nd_not_for_us", "arp_not_for_us",
                     "icmp_unsupported"}


# --- Braid's connection and summary JSON ----------------------------------------------------

def negotiated(conn):
    """(sack, timestamps, window scaling) as Braid reports them in a connection's `tcp` field
    (tcp::TcpInfo: sack, timestamps, snd_wscale, rcv_wscale). Window scaling counts as on when
    either shift is nonzero: the kernel always offers a nonzero shift (7 and more with its
    default buffers), so a negotiated option shows in snd_wscale."""
    t = conn.get("tcp") or {}
    return (bool(t.get("sack")), bool(t.get("timestamps")),
            bool(t.get("snd_wscale")) or bool(t.get("rcv_wscale")))


def counter(summary, name, section=None):
    """Sum of every numeric field called `name` in a summary or connection line, optionally
    only under a top-level section ('net', 'io', 'tcp', 'ports', 'workers'). The summary has
    the sums at the top ('net', 'io', 'tcp') and the same per worker ('workers'): name the
    section to count once."""
    flat = braid.flatten(summary or {})
    total = 0
    for key, v in flat.items():
        parts = key.split(".")
        if parts[-1] != name:
            continue
        if section and parts[0] != section:
            continue
        total += v
    return total


def drops(summary, section):
    """{reason: count} of the nonzero drop counters under a summary section: every numeric
    field below a key containing 'drop'."""
    out = {}
    for key, v in braid.flatten(summary or {}).items():
        parts = key.split(".")
        if parts[0] != section or not v:
            continue
        if any("drop" in p for p in parts[1:-1]):
            reason = parts[-1] if not parts[-1].isdigit() else parts[-2]
            out[reason] = out.get(reason, 0) + v
    return out


def check_braid_counters(check, summary, what):
    """The checks every test makes on Braid's summary."""
    if not check(summary is not None, "%s: Braid printed its summary" % what):
        return
    net = drops(summary, "net")
    bad = {k: v for k, v in net.items() if k not in ALLOWED_NET_DROPS}
    check(not bad, "%s: no unexpected net drops" % what,
          "unexpected %s; allowed ones seen %s" % (bad, {k: v for k, v in net.items()
                                                          if k in ALLOWED_NET_DROPS}))
    io = drops(summary, "io")
    check(not io, "%s: no io drops" % what, io)


# --- the testbed ------------------------------------------------------------------------------

class Bed:
    """One routed path: Braid on a (DPDK on a0), the kernel on b, router r0 between; captures
    on b0. Keeps the artifacts when a check failed inside the block."""

    def __init__(self, check, family, pmd, braid_side=True):
        self.check, self.family, self.pmd = check, family, pmd
        self.braid_side = braid_side
        self.tb = braidtest.Testbed(paths=1, router=True, mptcp=False)

    def __enter__(self):
        self.n = len(self.check.failures)
        t0 = time.monotonic()
        self.tb.__enter__()
        self.a, self.b = self.tb.a, self.tb.b
        if self.braid_side:
            braid.prepare_interface(self.a, self.a.iface(0))
            braid.prepare_peers(self.a, 0)
        self.check.info("testbed %s up in %.1f s%s" %
                        (self.tb.id, time.monotonic() - t0,
                         " (Braid on a0 via %s, kernel on b0)" % self.pmd
                         if self.braid_side else ""))
        return self

    def __exit__(self, *exc):
        if len(self.check.failures) > self.n:
            self.tb.mark_failed()
        return self.tb.__exit__(*exc)

    @property
    def braid_addr(self):
        return self.tb.addr(self.a, 0, self.family)

    @property
    def kernel_addr(self):
        return self.tb.addr(self.b, 0, self.family)

    def start_braid(self, *args, **kwargs):
        kwargs.setdefault("pmd", self.pmd)
        t0 = time.monotonic()
        app = braid.start_braid(self.a, 0, *[str(x) for x in args], family="dual",
                                prepare=False, **kwargs)
        self.check.info("braid-testapp ready in %.2f s: %s" %
                        (time.monotonic() - t0, " ".join(str(x) for x in args)))
        return app

    def braid_client(self, mode, port, nbytes=None, timeout=120, **kwargs):
        args = ["--connect", self.kernel_addr, "--to-port", port, "--mode", mode]
        if nbytes is not None:
            args += ["--bytes", nbytes]
        extra = list(kwargs.pop("extra", ())) + ["--timeout", timeout]
        return self.start_braid(*args, extra=extra, **kwargs)

    def capture(self, name, snaplen=SNAPLEN):
        return self.tb.capture(self.b, ifaces=[self.b.iface(0)], name=name, snaplen=snaplen)

    @staticmethod
    def stop_captures(caps):
        """Stops captures once their last packets are in the files; returns the paths."""
        # dumpcap reads the kernel's capture ring a block at a time (TPACKET_V3) and loses the
        # block being filled when it is stopped: let the last packets' block retire first
        # (dumpcap's block timeout is 250 ms).
        time.sleep(0.6)
        return [cap.stop() for cap in caps]

    def analyze_all(self, jobs):
        """Applies the clean-capture rule to stopped captures, two tshark runs at a time (two
        cores): jobs are (pcap path, what, allow, max_lost) where max_lost is the number of
        packets dropped upstream of the capture point (that many 'previous segment not
        captured' entries at most) or None. Returns the analysis dicts in job order."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(lambda job: analysis.analyze(job[0]), jobs))
        for (path, what, allow, max_lost), res in zip(jobs, results):
            self.check.info(analysis.summary_line(res))
            problems = analysis.capture_problems(res, allow)
            self.check(not problems, "%s: capture clean (tshark)" % what, "; ".join(problems))
            if max_lost is not None:
                self.check(res["tcp"]["lost_segment"] <= max_lost,
                           "%s: 'previous segment not captured' %d <= %d packets dropped" %
                           (what, res["tcp"]["lost_segment"], max_lost))
        return results

    def analyze(self, caps, what, allow=(), max_lost=None):
        """Stops the captures and applies the clean-capture rule to each."""
        return self.analyze_all([(path, what, allow, max_lost)
                                 for path in self.stop_captures(caps)])

    def kernel_sockets(self, ports):
        """The kernel's TCP sockets on b (`ss -tan`, every state) whose local or peer port is
        in ports: [(state, local, peer)]."""
        out = self.b.run(["ss", "-H", "-tan"]).stdout
        socks = []
        for line in out.splitlines():
            toks = line.split()
            if len(toks) < 5:
                continue
            state, local, peer = toks[0], toks[3], toks[4]
            try:
                if port_of(local) in ports or port_of(peer) in ports:
                    socks.append((state, local, peer))
            except ValueError:
                pass
        return socks

    def kernel_sysctls(self, sack, timestamps, window_scaling):
        # Per network namespace; net.ipv4.tcp_* apply to IPv6 TCP as well.
        self.b.sysctls({"net.ipv4.tcp_sack": int(sack),
                        "net.ipv4.tcp_timestamps": int(timestamps),
                        "net.ipv4.tcp_window_scaling": int(window_scaling)})


def transfer_ok(check, what, nbytes, sent_sha, sent_bytes, recv_sha, recv_bytes, mbit=None):
    ok = sent_bytes == nbytes and recv_bytes == nbytes and sent_sha == recv_sha
    check(ok, "%s: %d bytes byte-exact (SHA-256)" % (what, nbytes),
          "sent %s bytes %s, received %s bytes %s%s" %
          (sent_bytes, (sent_sha or "")[:16], recv_bytes, (recv_sha or "")[:16],
           (", %.0f Mbit/s" % mbit) if mbit else ""))
    return ok


# --- options: the sysctl combinations -------------------------------------------------------

def combo_name(sack, ts, ws):
    return "sack=%d ts=%d ws=%d" % (sack, ts, ws)


def kernel_tcp_info(node, dport):
    """The info line of `ss -tnio` for the kernel's established socket to port dport (None
    when there is none). iproute2 6.1 prints 'ts' and 'sack' only with -o or -e."""
    out = node.run(["ss", "-H", "-tnio", "state", "established", "dport", "= :%d" % dport]).stdout
    lines = [l.strip() for l in out.splitlines() if l[:1].isspace() and l.strip()]
    return lines[0] if lines else None


def ss_options(info):
    """(sack, timestamps, wscale) from an `ss -tni` info line of the kernel."""
    toks = info.split()
    return "sack" in toks, "ts" in toks, any(t.startswith("wscale:") for t in toks)


def test_options(check, bed):
    b = bed.b
    fam = bed.family
    server = bed.tb.start_server(b, KERNEL_PORT, proto="tcp", mode="echo", family=str(fam),
                                 count=0)
    caps = bed.capture("options")
    cases = []   # dicts: what, kernel, braid, kernel_client, port (the client's port), conn, ss

    def kernel_client_cases(braid_opts, combos):
        app = bed.start_braid("--listen", BRAID_PORT, "--mode", "echo",
                              sack=braid_opts[0], timestamps=braid_opts[1],
                              window_scaling=braid_opts[2])
        mine = []
        for combo in combos:
            bed.kernel_sysctls(*combo)
            cl = bed.tb.start_client(b, bed.braid_addr, BRAID_PORT, proto="tcp", mode="send",
                                     nbytes=SMALL, hold=0.2)
            ss_info = None
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and cl.proc.poll() is None:
                info = kernel_tcp_info(b, BRAID_PORT)
                if info and "rtt:" in info:
                    ss_info = info
                    break
                time.sleep(0.02)
            res = cl.result(timeout=30, check=False)
            case = {"what": "kernel client [%s] -> Braid server [%s]" %
                    (combo_name(*combo), combo_name(*braid_opts)), "kernel": combo,
                    "braid": braid_opts, "kernel_client": True, "ss": ss_info, "res": res,
                    "conn": None, "port": None}
            check(not res.get("error") and res["bytes_tx"] == SMALL and
                  res["bytes_rx"] == SMALL and res["sha256_rx"] == res["sha256_tx"],
                  "%s: %d bytes echoed byte-exact" % (case["what"], SMALL),
                  "error %s, tx %s rx %s" % (res.get("error"), res.get("bytes_tx"),
                                             res.get("bytes_rx")))
            mine.append(case)
        conns = app.wait_connections(len(combos), timeout=20)
        summary = app.stop()
        # One connection at a time: Braid reports them in the order the kernel made them. The
        # peer cannot name its own port once the connection is gone; Braid's line does.
        for case, conn in zip(mine, conns):
            case["conn"], case["port"] = conn, port_of(conn["remote"])
        check_braid_counters(check, summary, "Braid server [%s]" % combo_name(*braid_opts))
        cases.extend(mine)

    def braid_client_case(braid_opts, combo):
        bed.kernel_sysctls(*combo)
        app = bed.braid_client("echo", KERNEL_PORT, ECHO, timeout=30, sack=braid_opts[0],
                               timestamps=braid_opts[1], window_scaling=braid_opts[2])
        rc = app.wait(60)
        conns = app.connections()
        what = "Braid client [%s] -> kernel server [%s]" % (combo_name(*braid_opts),
                                                           combo_name(*combo))
        conn = conns[0] if conns else None
        check(rc == 0 and conn is not None and not conn.get("error") and
              conn.get("bytes_tx") == ECHO and conn.get("bytes_rx") == ECHO and
              conn.get("sha256_rx") == conn.get("sha256_tx"),
              "%s: %d bytes echoed byte-exact" % (what, ECHO),
              "exit %s, %s" % (rc, conn))
        check_braid_counters(check, app.summary(), what)
        cases.append({"what": what, "kernel": combo, "braid": braid_opts,
                      "kernel_client": False, "ss": None, "conn": conn,
                      "port": port_of(conn["local"]) if conn and conn.get("local") else None})

    combos = list(itertools.product((1, 0), repeat=3))
    on, off = (1, 1, 1), (0, 0, 0)
    kernel_client_cases(on, combos)                     # Braid's defaults: all on
    for combo in combos:
        braid_client_case(on, combo)
    kernel_client_cases(off, [on, off])                 # Braid with all three off
    braid_client_case(off, on)
    braid_client_case(off, off)
    for single in ((0, 1, 1), (1, 0, 1), (1, 1, 0)):     # Braid with one option off
        kernel_client_cases(single, [on])
    bed.kernel_sysctls(*on)
    server.stop()
    (res,) = bed.analyze(caps, "options")
    hs = analysis.tcp_handshakes(caps[0].path)
    by_client_port = {port_of(s["client"]): s for s in hs.values() if s["client"]}
    check(res["streams"] == len(cases), "options: %d TCP streams captured" % len(cases),
          res["streams"])

    for case in cases:
        kernel, braid_opts = case["kernel"], case["braid"]
        want = tuple(bool(k and o) for k, o in zip(kernel, braid_opts))
        what = case["what"]
        conn = case.get("conn")
        if check(conn is not None, "%s: Braid reported the connection" % what):
            got = negotiated(conn)
            check(got == want, "%s: Braid negotiated sack/ts/ws = %s" % (what, want),
                  "connection tcp field %s" % conn.get("tcp"))
        if case["kernel_client"]:
            check(case["ss"] is not None and ss_options(case["ss"]) == want,
                  "%s: kernel (ss -tnio) negotiated sack/ts/ws = %s" % (what, want),
                  case["ss"])
        st = by_client_port.get(case["port"])
        if not check(st is not None and st["syn"] and st["synack"],
                     "%s: handshake captured" % what, st):
            continue
        # What the client offered in its SYN is its own configuration; the SYN-ACK carries an
        # option only when the SYN did and the server has it on (RFC 7323 §1.3/§2.2/§3.2,
        # RFC 2018 §2); timestamps then appear on every later segment (RFC 7323 §3.2).
        client, server_opts = (kernel, braid_opts) if case["kernel_client"] else \
            (braid_opts, kernel)
        offered = (st["syn"]["sack_perm"], st["syn"]["timestamps"], st["syn"]["wscale"] is not None)
        answered = (st["synack"]["sack_perm"], st["synack"]["timestamps"],
                    st["synack"]["wscale"] is not None)
        check(offered == tuple(bool(x) for x in client),
              "%s: SYN offers sack/ts/ws = %s" % (what, tuple(bool(x) for x in client)),
              st["syn"])
        check(answered == want, "%s: SYN-ACK answers sack/ts/ws = %s" % (what, want),
              st["synack"])
        ts_ok = st["with_ts"] == (st["segments"] if want[1] else 0)
        check(ts_ok and (want[0] or st["with_sack"] == 0),
              "%s: timestamps on %s later segment, SACK blocks only if negotiated" %
              (what, "every" if want[1] else "no"),
              "%d/%d segments with timestamps, %d with SACK" %
              (st["with_ts"], st["segments"], st["with_sack"]))
        if st["syn"]["mss"] and st["synack"]["mss"]:
            check(max(st["syn"]["mss"], st["synack"]["mss"]) <= (1460 if fam == 4 else 1440),
                  "%s: both MSS options fit the 1500-byte MTU" % what,
                  "SYN %s SYN-ACK %s" % (st["syn"]["mss"], st["synack"]["mss"]))


# --- bulk, loss, tbf ------------------------------------------------------------------------

def port_stats(summary):
    """Braid's DPDK port statistics (the first port) from its summary."""
    ports = (summary or {}).get("ports") or [{}]
    return ports[0]


def bulk_pair(check, bed, label, impair=None):
    """BULK bytes Braid -> Linux, then Linux -> Braid, each with its own capture on b0.
    impair(direction) sets the impairment for one direction ('a>b': towards the kernel, 'b>a':
    towards Braid; None: clears) and returns a function giving the packets it dropped so far.
    Drops towards the kernel happen before the capture point (router), so that capture may
    show as many 'previous segment not captured' as packets were dropped; drops towards
    Braid happen after it. Returns {direction: figures}."""
    b = bed.b
    out = {}
    # Braid -> Linux: Braid client sends, kernel sink.
    dropped = impair("a>b") if impair else (lambda: 0)
    caps = bed.capture("%s-braid-to-linux" % label)
    server = bed.tb.start_server(b, KERNEL_PORT, proto="tcp", mode="sink",
                                 family=str(bed.family), timeout=30)
    t0 = time.monotonic()
    app = bed.braid_client("send", KERNEL_PORT, BULK, timeout=150)
    rc = app.wait(170)
    secs = time.monotonic() - t0
    conns = app.connections()
    sv = server.results(timeout=15)
    conn = conns[0] if conns else {}
    what = "%s Braid -> Linux" % label
    check(rc == 0 and not conn.get("error"), "%s: Braid client finished" % what,
          "exit %s, error %s" % (rc, conn.get("error")))
    transfer_ok(check, what, BULK, conn.get("sha256_tx"), conn.get("bytes_tx"),
                sv[0]["sha256_rx"] if sv else None, sv[0]["bytes_rx"] if sv else None,
                sv[0]["rx_mbit_s"] if sv else None)
    n_dropped = dropped()
    summary = app.summary()
    check_braid_counters(check, summary, what)
    (path,) = bed.stop_captures(caps)
    jobs = [(path, what, analysis.LOSS_ALLOWED if n_dropped else (),
             n_dropped if n_dropped else None)]
    out["a>b"] = {"what": what, "dropped": n_dropped, "conn": conn, "summary": summary,
                  "seconds": secs, "mbit_s": sv[0]["rx_mbit_s"] if sv else None,
                  "ring_drops": app.kernel_rx_drops()}
    if impair:
        impair(None)
    # Linux -> Braid: kernel client sends, Braid sink (exits after the connection).
    dropped = impair("b>a") if impair else (lambda: 0)
    caps = bed.capture("%s-linux-to-braid" % label)
    app = bed.start_braid("--listen", BRAID_PORT, "--mode", "sink", "--count", 1,
                          extra=["--timeout", 150])
    retrans_before = b.nstat("Tcp").get("TcpRetransSegs", 0)
    t0 = time.monotonic()
    cl = braidtest.peer.run_client(b, bed.braid_addr, BRAID_PORT, proto="tcp", mode="send",
                                   nbytes=BULK, timeout=170, check=False)
    secs = time.monotonic() - t0
    kernel_retrans = b.nstat("Tcp").get("TcpRetransSegs", 0) - retrans_before
    what = "%s Linux -> Braid" % label
    check(not cl.get("error"), "%s: kernel client finished" % what, cl.get("error"))
    conns = app.wait_connections(1, timeout=20)
    rc = app.wait(20)
    conn = conns[0] if conns else {}
    check(rc == 0 and not conn.get("error"), "%s: Braid server finished" % what,
          "exit %s, error %s" % (rc, conn.get("error")))
    transfer_ok(check, what, BULK, cl.get("sha256_tx"), cl.get("bytes_tx"),
                conn.get("sha256_rx"), conn.get("bytes_rx"), conn.get("rx_mbit_s"))
    n_dropped = dropped()
    summary = app.summary()
    check_braid_counters(check, summary, what)
    (path,) = bed.stop_captures(caps)
    jobs.append((path, what, (), None))
    out["b>a"] = {"what": what, "dropped": n_dropped, "conn": conn, "summary": summary,
                  "seconds": secs, "kernel_retrans": kernel_retrans,
                  "mbit_s": conn.get("rx_mbit_s"), "ring_drops": app.kernel_rx_drops()}
    if impair:
        impair(None)
    for r, res in zip(out.values(), bed.analyze_all(jobs)):
        r["capture"] = res
        tcp = (r["conn"].get("tcp") or {})
        port = port_stats(r["summary"])
        check.info("%s: %.1f s, %s Mbit/s, injected drops %d; tshark: retransmissions %d, "
                   "spurious %d, dup ACKs %d; Braid: retransmits %s (fast %s, RTO %s, TLP %s, "
                   "spurious %s, D-SACKs in %s), out-of-order %s, port rx_missed %s, "
                   "lost in the PMD's ring <= %s%s" %
                   (r["what"], r["seconds"], r["mbit_s"], r["dropped"],
                    res["tcp"]["retransmission"], res["tcp"]["spurious_retransmission"],
                    res["tcp"]["duplicate_ack"], tcp.get("retransmits"),
                    tcp.get("fast_retransmits"), tcp.get("rto_retransmits"),
                    tcp.get("tlp_probes"), tcp.get("spurious_retransmits"), tcp.get("dsacks_in"),
                    tcp.get("out_of_order_segments"),
                    port.get("rx_missed"), r["ring_drops"],
                    (", kernel TcpRetransSegs +%d" % r["kernel_retrans"])
                    if "kernel_retrans" in r else ""))
    return out


def test_bulk(check, bed):
    bulk_pair(check, bed, "bulk")


def test_loss(check, bed):
    tb = bed.tb

    def impair(direction):
        tb.set_loss(0, 0)
        if direction is None:
            return None
        tb.set_loss(0, LOSS_PERCENT, direction)
        return lambda: tb.drops(0, direction)["loss"]

    out = bulk_pair(check, bed, "loss", impair)
    ab, ba = out["a>b"], out["b>a"]
    check(ab["dropped"] > 0 and ba["dropped"] > 0, "loss: the nft rule dropped packets",
          "a>b %d, b>a %d" % (ab["dropped"], ba["dropped"]))
    # Every dropped data segment had to be sent again for the stream to arrive whole; a drop
    # may also hit the handshake ACK or the last ACK, which are not retransmitted: margin 3.
    retrans = counter(ab["conn"], "retransmits", "tcp")
    check(retrans >= ab["dropped"] - 3,
          "loss Braid -> Linux: Braid retransmitted at least the dropped segments",
          "retransmits %d, dropped %d" % (retrans, ab["dropped"]))
    check(ab["capture"]["tcp"]["lost_segment"] > 0,
          "loss Braid -> Linux: the kernel-side capture shows the gaps")
    check(ba["kernel_retrans"] >= ba["dropped"] - 3,
          "loss Linux -> Braid: the kernel retransmitted at least the dropped segments",
          "TcpRetransSegs +%d, dropped %d" % (ba["kernel_retrans"], ba["dropped"]))
    ooo = counter(ba["conn"], "out_of_order_segments", "tcp")
    check(ooo > 0, "loss Linux -> Braid: Braid queued out-of-order segments",
          "out_of_order_segments %d" % ooo)
    sack = ba["capture"]["tcp"]["duplicate_ack"]
    check(sack > 0, "loss Linux -> Braid: Braid sent duplicate ACKs (SACK) for the holes",
          "tshark duplicate ACKs %d" % sack)


def test_tbf(check, bed):
    tb = bed.tb
    rate_bits = braidtest.parse_rate(TBF_RATE)

    stats = {}

    def impair(direction):
        tb.clear_rate(0)
        if direction is None:
            return None
        tb.set_rate(0, TBF_RATE, direction)

        def dropped():
            stats[direction] = tb.qdisc_stats(0, direction)
            return stats[direction].get("drops", 0)
        return dropped

    out = bulk_pair(check, bed, "tbf", impair)
    for d, r in out.items():
        mbit = r["mbit_s"] or 0
        st = stats.get(d, {})
        check(0 < mbit <= rate_bits / 1e6 * 1.1 and st.get("overlimits", 0) > 0,
              "%s: throughput capped by the %s tbf (it held packets back)" % (r["what"], TBF_RATE),
              "%.0f Mbit/s; tbf sent %s packets, overlimits %s, drops %s" %
              (mbit, st.get("packets"), st.get("overlimits"), st.get("drops")))


# --- close ----------------------------------------------------------------------------------

def wait_kernel_settled(bed, ports, timeout=5):
    """Waits until the kernel holds no socket on ports other than LISTEN and TIME-WAIT;
    returns the sockets left (all states)."""
    deadline = time.monotonic() + timeout
    while True:
        socks = bed.kernel_sockets(ports)
        busy = [s for s in socks if s[0] not in ("LISTEN", "TIME-WAIT")]
        if not busy or time.monotonic() > deadline:
            return socks
        time.sleep(0.05)


def test_close(check, bed):
    b = bed.b
    caps = bed.capture("close")
    results = []

    def verify(what, braid_first, kernel_port, braid_port, summary, socks, ok):
        busy = [s for s in socks if s[0] not in ("LISTEN", "TIME-WAIT")]
        check(not busy, "%s: no ESTAB/CLOSE-WAIT/LAST-ACK/FIN-WAIT left on the kernel" % what,
              busy)
        tw = [s for s in socks if s[0] == "TIME-WAIT" and
              {port_of(s[1]), port_of(s[2])} == {kernel_port, braid_port}]
        tw_braid = counter(summary, "time_wait_entered", "tcp")
        if braid_first:
            check(not tw and tw_braid >= 1, "%s: TIME-WAIT in Braid (closed first), "
                  "not in the kernel" % what,
                  "Braid time_wait_entered %d, kernel TIME-WAIT %s" % (tw_braid, tw))
        else:
            check(len(tw) == 1 and tw_braid == 0, "%s: TIME-WAIT in the kernel (closed "
                  "first), not in Braid" % what,
                  "kernel TIME-WAIT %s, Braid time_wait_entered %d" % (tw, tw_braid))
        check_braid_counters(check, summary, what)
        results.append(ok)

    # 1. Braid active close as the client (send: FIN after the data), kernel sink.
    what = "Braid client send (Braid closes first)"
    server = bed.tb.start_server(b, KERNEL_PORT, proto="tcp", mode="sink",
                                 family=str(bed.family))
    app = bed.braid_client("send", KERNEL_PORT, CLOSE_BYTES, timeout=30)
    rc = app.wait(40)
    conn = (app.connections() or [{}])[0]
    sv = server.results(timeout=10)
    ok = transfer_ok(check, what, CLOSE_BYTES, conn.get("sha256_tx"), conn.get("bytes_tx"),
                     sv[0]["sha256_rx"] if sv else None, sv[0]["bytes_rx"] if sv else None)
    check(rc == 0, "%s: Braid exit 0" % what, rc)
    verify(what, True, KERNEL_PORT, port_of(conn.get("local", ":0")), app.summary(),
           wait_kernel_settled(bed, [KERNEL_PORT]), ok)

    # 2. Braid passive close as the server: the kernel client sends and closes first, Braid's
    # sink closes after EOF.
    what = "kernel client send -> Braid server sink (kernel closes first)"
    app = bed.start_braid("--listen", BRAID_PORT, "--mode", "sink", "--count", 1)
    cl = braidtest.peer.run_client(b, bed.braid_addr, BRAID_PORT, proto="tcp", mode="send",
                                   nbytes=CLOSE_BYTES, timeout=40, check=False)
    conn = (app.wait_connections(1, timeout=20) or [{}])[0]
    rc = app.wait(20)
    ok = transfer_ok(check, what, CLOSE_BYTES, cl.get("sha256_tx"), cl.get("bytes_tx"),
                     conn.get("sha256_rx"), conn.get("bytes_rx"))
    check(rc == 0 and not cl.get("error"), "%s: both ends finished" % what,
          "Braid exit %s, kernel error %s" % (rc, cl.get("error")))
    verify(what, False, port_of(conn.get("remote", ":0")), BRAID_PORT, app.summary(),
           wait_kernel_settled(bed, [BRAID_PORT]), ok)

    # 3. Braid active close as the server: source writes N bytes and closes; the kernel client
    # reads to EOF and then closes.
    what = "Braid server source -> kernel client recv (Braid closes first)"
    app = bed.start_braid("--listen", BRAID_PORT, "--mode", "source", "--bytes", CLOSE_BYTES,
                          "--count", 1)
    cl = braidtest.peer.run_client(b, bed.braid_addr, BRAID_PORT, proto="tcp", mode="recv",
                                   timeout=40, check=False)
    conn = (app.wait_connections(1, timeout=20) or [{}])[0]
    rc = app.wait(20)
    ok = transfer_ok(check, what, CLOSE_BYTES, conn.get("sha256_tx"), conn.get("bytes_tx"),
                     cl.get("sha256_rx"), cl.get("bytes_rx"))
    check(rc == 0 and not cl.get("error"), "%s: both ends finished" % what,
          "Braid exit %s, kernel error %s" % (rc, cl.get("error")))
    verify(what, True, port_of(conn.get("remote", ":0")), BRAID_PORT, app.summary(),
           wait_kernel_settled(bed, [BRAID_PORT]), ok)

    # 4. Braid passive close as the client: the kernel source writes N bytes and shuts down
    # first; Braid's recv closes after EOF.
    what = "kernel server source -> Braid client recv (kernel closes first)"
    server = bed.tb.start_server(b, KERNEL_PORT, proto="tcp", mode="source",
                                 family=str(bed.family), nbytes=CLOSE_BYTES)
    app = bed.braid_client("recv", KERNEL_PORT, timeout=30)
    rc = app.wait(40)
    conn = (app.connections() or [{}])[0]
    sv = server.results(timeout=10)
    ok = transfer_ok(check, what, CLOSE_BYTES, sv[0]["sha256_tx"] if sv else None,
                     sv[0]["bytes_tx"] if sv else None, conn.get("sha256_rx"),
                     conn.get("bytes_rx"))
    check(rc == 0, "%s: Braid exit 0" % what, rc)
    verify(what, False, KERNEL_PORT, port_of(conn.get("local", ":0")), app.summary(),
           wait_kernel_settled(bed, [KERNEL_PORT]), ok)

    (res,) = bed.analyze(caps, "close")
    check(res["streams"] == 4 and res["resets"] == 0 and res["fins"] >= 8,
          "close: 4 connections, each ended by two FINs, no RST",
          "streams %d, FIN segments %d, RST segments %d" % (res["streams"], res["fins"],
                                                            res["resets"]))


# --- rst ------------------------------------------------------------------------------------

def test_rst(check, bed):
    b = bed.b
    caps = bed.capture("rst")
    app = bed.start_braid("--listen", BRAID_PORT, "--mode", "sink")
    res = braidtest.peer.run_client(b, bed.braid_addr, CLOSED_PORT, proto="tcp", mode="send",
                                    nbytes=1000, timeout=20, check=False)
    err = res.get("error") or ""
    check("ConnectionRefused" in err or "Errno 111" in err,
          "kernel -> Braid closed port %d: ECONNREFUSED" % CLOSED_PORT, err)
    summary = app.stop()
    check(counter(summary, "no_listener_resets", "tcp") >= 1,
          "Braid counted the RST it sent for the closed port",
          "no_listener_resets %d" % counter(summary, "no_listener_resets", "tcp"))
    check_braid_counters(check, summary, "Braid server (closed port probed)")

    app = bed.braid_client("send", CLOSED_PORT, 1000, timeout=20)
    rc = app.wait(30)
    conn = (app.connections() or [{}])[0]
    errors = [conn.get("error")] + app.errors()
    check(rc == 1 and any(e and "refused" in str(e) for e in errors),
          "Braid -> kernel closed port %d: error 'refused', exit 1" % CLOSED_PORT,
          "exit %s, errors %s" % (rc, errors))
    check_braid_counters(check, app.summary(), "Braid client (closed port)")
    (res,) = bed.analyze(caps, "rst")
    hs = analysis.tcp_handshakes(caps[0].path)
    check(res["streams"] == 2 and all(s["resets"] == 1 and s["synack"] is None
                                      for s in hs.values()),
          "rst: two SYNs, each answered by one RST", hs)


# --- ping -----------------------------------------------------------------------------------

def test_ping(check, bed):
    # Whole packets: tshark verifies the checksums of the 1400-byte echoes too (payload
    # included), which a headers-only capture cannot.
    caps = bed.capture("ping", snaplen=None)
    app = bed.start_braid("--listen", BRAID_PORT, "--mode", "sink")
    addr = bed.braid_addr
    got = bed.b.ping(addr, count=5, interval=0.05, timeout=1.0)
    check(got == 5, "ping %s (56 bytes): 5/5 replies" % addr, got)
    got = bed.b.ping(addr, count=3, interval=0.05, timeout=1.0, size=1400)
    check(got == 3, "ping %s (1400 bytes): 3/3 replies" % addr, got)
    summary = app.stop()
    req = counter(summary, "echo_requests_received", "net")
    rep = counter(summary, "echo_replies_sent", "net")
    check(req == 8 and rep == 8, "Braid counted 8 echo requests and 8 replies",
          "requests %d, replies %d" % (req, rep))
    check_braid_counters(check, summary, "ping")
    (res,) = bed.analyze(caps, "ping")
    # 8 requests and 8 replies, every checksum complete in the capture and good.
    check(res["good_checksum"] >= 16, "ping: tshark verified the echo checksums",
          "%d packets with good checksums of %d" % (res["good_checksum"], res["packets"]))


# --- lib: the library's checks without Braid --------------------------------------------------

def crafted_pcap(path):
    """A pcap of hand-made IPv4/TCP frames: one well-formed SYN, then one of each defect."""
    def csum(data):
        if len(data) % 2:
            data += b"\0"
        s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
        s = (s >> 16) + (s & 0xFFFF)
        s += s >> 16
        return ~s & 0xFFFF

    src, dst = bytes([192, 0, 2, 1]), bytes([192, 0, 2, 18])

    def ip4(payload, total=None):
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total or 20 + len(payload), 1, 0x4000, 64, 6,
                        0, src, dst)
        return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload

    def tcp(opts=b"", doff=None):
        d = doff if doff is not None else (20 + len(opts)) // 4
        seg = struct.pack("!HHIIBBHHH", 40000, 5201, 1000, 0, d << 4, 0x02, 65535, 0, 0) + opts
        pseudo = src + dst + struct.pack("!BBH", 0, 6, len(seg))
        return seg[:16] + struct.pack("!H", csum(pseudo + seg)) + seg[18:]

    eth = bytes.fromhex("02b700000100" "02b700000000" "0800")
    frames = {
        "good": eth + ip4(tcp(b"\x02\x04\x05\xb4\x01\x01\x04\x02")),
        "bad_option": eth + ip4(tcp(b"\x01\x01\x08\x0a")),   # timestamps running past the end
        "bad_checksum": None,
        "malformed": eth + ip4(tcp(doff=15)),                # data offset past the segment
    }
    seg = tcp()
    frames["bad_checksum"] = eth + ip4(seg[:16] + b"\x12\x34" + seg[18:])
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for frame in frames.values():
            f.write(struct.pack("<IIII", 1, 0, len(frame), len(frame)) + frame)
    return list(frames)


def pinned_transfer(bed, nbytes):
    """nbytes from a kernel client on a to a sink on b, both pinned to CPU 0. A veth delivers
    on the CPU that transmitted, so a kernel sender whose segments leave from two CPUs (its
    process, and the softirq of the CPU where the receiver's ACKs arrive) has them delivered
    and captured reordered on b: gaps tshark rightly reports as 'previous segment not
    captured'. (Braid sends from its one pinned lcore.) Returns {'ok', 'client', 'server'}."""
    a, b = bed.a, bed.b
    addr = b.addr(0, bed.family)
    server = bed.tb.start_server(b, KERNEL_PORT, proto="tcp", mode="sink",
                                 family=str(bed.family))
    os.sched_setaffinity(server.proc.pid, {0})
    argv = ["taskset", "-c", "0"] + braidtest.peer.client_argv(addr, KERNEL_PORT, proto="tcp",
                                                               nbytes=nbytes)
    p = a.run(argv, timeout=60, check=False)
    cl = braidtest.peer.client_result(a, p.returncode, p.stdout, p.stderr, check=False)
    sv = server.results(timeout=15)
    ok = bool(sv) and not cl.get("error") and sv[0]["bytes_rx"] == nbytes and \
        sv[0]["sha256_rx"] == cl.get("sha256_tx")
    return {"ok": ok, "client": cl, "server": sv}


def test_lib(check, bed):
    tb, a, b = bed.tb, bed.a, bed.b
    # analysis.py on crafted frames: each defect is found, the good frame is not flagged.
    tmp = tempfile.mkdtemp(prefix="braid-interop-")
    try:
        path = os.path.join(tmp, "crafted.pcap")
        crafted_pcap(path)
        res = analysis.analyze(path)
        check(res["packets"] == 4 and res["malformed"] == 1 and res["bad_checksum"] == 1 and
              res["bad_option"] == 1 and res["first"].get("malformed") == [4] and
              res["first"].get("bad_checksum") == [3] and res["first"].get("bad_option") == [2],
              "analysis finds the malformed frame, the bad checksum and the bad option",
              analysis.summary_line(res) + " " + str(res["first"]))
        check(len(analysis.capture_problems(res)) >= 3, "crafted capture is not clean",
              analysis.capture_problems(res))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    # Kernel <-> kernel through the router with 1 % loss towards b (a's interface keeps the
    # kernel here). With transmit checksumming on, b's own segments are captured on b0 before
    # the checksum is filled in: the reason prepare_peers switches it off.
    caps = tb.capture(b, ifaces=["b0"], name="kernel-offload-on", snaplen=SNAPLEN)
    r = pinned_transfer(bed, 8 * MB)
    bed.stop_captures(caps)
    res = analysis.analyze(caps[0].path)
    check(r["ok"] and res["bad_checksum"] > 0,
          "tx checksum offload on: b's outgoing segments show unfinished checksums on b0",
          analysis.summary_line(res))
    for node in (a, b):
        node.run(["ethtool", "-K", node.iface(0), "tx", "off"])
    tb.set_loss(0, LOSS_PERCENT, "a>b")
    caps = tb.capture(b, ifaces=["b0"], name="kernel-loss", snaplen=SNAPLEN)
    r = pinned_transfer(bed, 32 * MB)
    bed.stop_captures(caps)
    dropped = tb.drops(0, "a>b")["loss"]
    tb.set_loss(0, 0)
    res = analysis.analyze(caps[0].path)
    check.info(analysis.summary_line(res))
    check(r["ok"] and dropped > 0, "kernel transfer with loss byte-exact", "dropped %d" % dropped)
    check(0 < res["tcp"]["lost_segment"] <= dropped and res["tcp"]["retransmission"] > 0,
          "analysis sees the gaps (at most one per drop) and the retransmissions",
          "lost_segment %d, retransmission %d, dropped %d" %
          (res["tcp"]["lost_segment"], res["tcp"]["retransmission"], dropped))
    check(res["malformed"] == 0 and res["bad_checksum"] == 0 and res["bad_option"] == 0,
          "tx checksum offload off: every verifiable checksum is good, nothing malformed")
    check(not analysis.capture_problems(res, analysis.LOSS_ALLOWED) and
          analysis.capture_problems(res),
          "clean-capture rule: passes with loss allowed, fails without",
          analysis.capture_problems(res))
    caps = tb.capture(b, ifaces=["b0"], name="kernel-clean", snaplen=SNAPLEN)
    r = pinned_transfer(bed, 32 * MB)
    bed.stop_captures(caps)
    res = analysis.analyze(caps[0].path)
    check(r["ok"] and not analysis.capture_problems(res),
          "kernel transfer without loss: capture clean", analysis.capture_problems(res))

    # prepare_interface: the kernel of a no longer answers on a0 (ARP, ND, ICMP).
    braid.prepare_interface(a, "a0")
    link = a.ip_json(["addr", "show", "dev", "a0"])[0]
    check(not link.get("addr_info") and "NOARP" in link["flags"] and
          link.get("operstate") == "UP" and
          a.sysctl("net.ipv6.conf.a0.disable_ipv6") == "1",
          "prepare_interface: a0 up, NOARP, IPv6 off, no address", link)
    got = b.ping(a.addr(0, bed.family), count=2, timeout=0.5)
    check(got == 0, "prepare_interface: the kernel of a answers no ping on a0", got)
    addrs, gws = braid.interface_addresses(a, 0, bed.family)
    check(addrs == ["%s/%d" % (tb.addr(a, 0, bed.family), 28 if bed.family == 4 else 64)] and
          gws == [tb.paths[0].neighbor("a").addr(bed.family)],
          "interface_addresses: a's testbed address and the router as gateway", (addrs, gws))


TESTS = {"options": test_options, "bulk": test_bulk, "loss": test_loss, "tbf": test_tbf,
         "close": test_close, "rst": test_rst, "ping": test_ping, "lib": test_lib}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("test", choices=list(TESTS))
    parser.add_argument("--family", type=int, choices=(4, 6), default=4)
    parser.add_argument("--pmd", choices=braid.PMDS,
                        default=os.environ.get("BRAID_INTEROP_PMD", "af_packet"))
    args = parser.parse_args()
    braidtest.require_e2e(("root", "netns", "dumpcap", "nft", "tc"))
    for tool, pkg in (("tshark", "tshark"), ("ethtool", "ethtool")):
        if shutil.which(tool) is None:
            print("SKIP: %s not found (package %s)" % (tool, pkg), flush=True)
            return braidtest.SKIP
    if args.test != "lib" and braid.find_testapp() is None:
        print("SKIP: braid-testapp not built (%s); build target braid-testapp or set "
              "BRAID_TESTAPP" % braid.testapp_path(), flush=True)
        return braidtest.SKIP

    budget = BUDGETS[args.test]

    def over_budget(_signum, _frame):
        raise TimeoutError("over the %d s budget" % budget)
    signal.signal(signal.SIGALRM, over_budget)
    signal.alarm(budget)
    name = "%s IPv%d %s" % (args.test, args.family, args.pmd)
    check = Checker(name)
    print("=== %s (braid-testapp: %s) ===" % (name, braid.find_testapp()), flush=True)
    t0 = time.monotonic()
    try:
        with Bed(check, args.family, args.pmd, braid_side=args.test != "lib") as bed:
            TESTS[args.test](check, bed)
    except braidtest.Interrupted:
        raise
    except Exception as e:  # pylint: disable=broad-except
        import traceback
        traceback.print_exc()
        check(False, "%s raised %s: %s" % (name, type(e).__name__, e))
    print("=== %s: %s in %.1f s ===" % (name, "FAIL" if check.failures else "PASS",
                                       time.monotonic() - t0), flush=True)
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
