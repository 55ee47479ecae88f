#!/usr/bin/env python3
"""Braid's MPTCP against the Linux kernel's over three routed paths (CTest label e2e).

  mptcp_interop_test.py SCENARIO [--family 4|6]

Node a runs braid-testapp with `--mptcp` on DPDK af_packet, owning a's interfaces of paths 0, 1
and 2; node b is the Linux kernel (MPTCP on, limits 8/8, the peer from braidtest.peer); routers
between them, a tbf on each router's egress towards b where a scenario needs the scheduler to
spread data. Every scenario checks the data byte-exact (SHA-256 on both sides), the kernel's
MPTcpExt counters the way the kernel's own mptcp_join.sh does (exact deltas, and none of the
failure counters moved unless the scenario provokes it), Braid's own MPTCP counters and
per-subflow report, and, where it captures, tshark's MPTCP analysis (one connection, tokens and
HMACs consistent with the keys, no payload without a mapping).

Scenarios:
  client    Braid client with subflow endpoints on paths 1, 2 -> kernel server: MP_CAPABLE, two
            joins, 24 MiB each way (two connections), data on every subflow, tshark verdict.
  server    kernel client -> Braid server that announces paths 1, 2 (signal): the kernel joins
            the announced addresses (AddAddr, EchoAddTx, MPJoinSynTx); data both ways.
  signal    kernel server announcing its paths 1, 2 (with a port on path 2) -> Braid client
            accepting announcements: Braid joins them (EchoAdd, MPJoinSynRx, MPJoinPortSynRx).
  backup    Braid client whose path-2 endpoint is a backup: MP_JOIN with B set
            (MPJoinSynBackupRx), no data on it while the others work.
  checksum  kernel net.mptcp.checksum_enabled=1: DSS checksums both ways, no DataCsumErr.
  fail      the same with a middlebox on path 0 rewriting DSS checksums (the TCP checksum
            fixed). With 3 subflows the kernel resets that subflow with MP_FAIL and MP_TCPRST;
            Braid counts both, reinjects and stays MPTCP. With one subflow Braid answers the
            MP_FAIL with its own and an infinite mapping; both fall back to TCP. Byte-exact.
  fallback  kernel MPTCP off (plain TCP server and client): Braid falls back both ways.
  cut       a path cut mid-transfer (link down, then a silent blackhole): the transfer completes
            byte-exact, the stall is measured and bounded, data is reinjected, and the subflow
            carries data again once the path is back.
  mixed     (IPv4 only) Braid client on IPv4, kernel server announcing IPv6 addresses: one
            connection with IPv4 and IPv6 subflows.
  signals   MP_PRIO and REMOVE_ADDR both ways: Braid makes its path 2 a backup and withdraws
            path 1 mid-transfer (braid-testapp --action), then the kernel does the same with
            `ip mptcp endpoint change ... backup` and `... delete`.
  fastclose MP_FASTCLOSE both ways: Braid aborts (the kernel counts MPFastcloseRx and drops the
            connection), then the kernel closes with unread data and SO_LINGER 0.
  recreate  a path blackholed for 4 s during a long transfer: the stale subflow is reset after
            2 s, the path manager re-opens it, and the new subflow carries data once the path
            is back (Braid does this; the kernel does not).
  strip     a middlebox (nft `reset tcp option mptcp` in the router) removes MPTCP options from
            the SYN, from the SYN/ACK, or from data after the handshake: both ends fall back
            to TCP and an echo of 8 MiB comes back byte-exact.

Exit 0 pass, 1 fail, 77 skip (not root, no namespaces/MPTCP/tshark, braid-testapp not built).
"""

import argparse
import os
import shutil
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "lib"))

import braidtest  # noqa: E402
from braidtest import analysis  # noqa: E402
from braidtest import peer  # noqa: E402
from braidtest.check import Checker  # noqa: E402

MB = 1 << 20
PORT = 5301
BUDGET_SECONDS = 150

# mptcp_join.sh's failure counters: none may move unless a scenario provokes it.
FAILURES = ("MPJoinSynAckHMacFailure", "MPJoinAckHMacFailure", "MPJoinNoTokenFound",
            "MPJoinRejected", "MPCapableFallbackACK", "MPCapableFallbackSYNACK", "DSSNotMatching",
            "DSSCorruptionFallback", "DSSCorruptionReset", "InfiniteMapTx", "InfiniteMapRx",
            "DataCsumErr", "MPFailTx", "MPFailRx", "MPFastcloseTx", "MPFastcloseRx", "MPRstTx",
            "MPRstRx", "DSSNoMatchTCP")


class Bed:
    """A 3-path routed testbed with the kernel on b and Braid's interfaces on a."""

    def __init__(self, check, family, rate=None):
        self.check, self.family = check, family
        self.tb = braidtest.Testbed(paths=3, router=True, rate=rate)

    def __enter__(self):
        self.tb.__enter__()
        b = self.tb.b
        b.mptcp_enable(True)
        b.mptcp_limits(subflows=8, add_addr_accepted=8)
        b.sysctl("net.mptcp.add_addr_timeout", 1)
        return self

    def __exit__(self, *exc):
        return self.tb.__exit__(*exc)

    def a_addr(self, path, family=None):
        return self.tb.paths[path].addr("a", family or self.family)

    def b_addr(self, path, family=None):
        return self.tb.paths[path].addr("b", family or self.family)

    def braid(self, *app_args, mptcp=("--subflows", 4), family=None):
        extra = ["--mptcp", "--timeout", "60"] + [str(x) for x in mptcp]
        return braidtest.start_braid(self.tb.a, 0, *app_args, family=family or self.family,
                                     extra=extra, more_paths=(1, 2))

    def subflow_endpoints(self, backup_path=None):
        args = []
        for i in (1, 2):
            flags = "subflow" + (",backup" if i == backup_path else "")
            args += ["--endpoint", "%s,id=%d,%s" % (self.a_addr(i), i, flags)]
        return args

    def counters(self):
        return self.tb.b.mptcp_counters()


def delta(after, before):
    return {k: after.get(k, 0) - before.get(k, 0) for k in after
            if after.get(k, 0) != before.get(k, 0)}


def check_kernel(check, moved, expect, allow=()):
    for name, n in expect.items():
        check(moved.get(name, 0) == n, "kernel MPTcpExt%s += %d" % (name, n), moved.get(name, 0))
    bad = {k: v for k, v in moved.items() if k in FAILURES and k not in allow}
    check(not bad, "kernel: no MPTCP failure counter moved", bad)


def braid_counters(app):
    s = app.summary() or {}
    out = {}
    for w in s.get("workers", []):
        for k, v in (w.get("mptcp") or {}).items():
            out[k] = out.get(k, 0) + v
    return out


def one_connection(check, app, what):
    conns = app.connections()
    if not check(len(conns) == 1, "%s: one Braid connection" % what, len(conns)):
        return None
    c = conns[0]
    check(not c["error"], "%s: no error" % what, c["error"])
    return c


def subflow_bytes(conn, key):
    return [(s["local"], s["remote"], s[key]) for s in (conn.get("mptcp") or {}).get("subflows",
                                                                                  [])]


# --- scenarios --------------------------------------------------------------------------------

def scenario_client(check, fam):
    nbytes = 24 * MB
    with Bed(check, fam, rate="200mbit") as bed:
        tb, b = bed.tb, bed.tb.b
        before = bed.counters()
        caps = tb.capture(b, snaplen=128, name="client")
        srv = tb.start_server(b, PORT, mode="sink", family="dual")
        app = bed.braid("--connect", bed.b_addr(0), "--to-port", PORT, "--mode", "send",
                        "--bytes", nbytes, mptcp=["--subflows", 4] + bed.subflow_endpoints())
        check(app.wait(60) == 0, "Braid client exits 0", app.errors())
        sv = srv.results(20)[0]
        c = one_connection(check, app, "send")
        if c:
            check(sv["bytes_rx"] == nbytes and sv["sha256_rx"] == c["sha256_tx"],
                  "%d MiB Braid -> kernel byte-exact" % (nbytes // MB), sv["sha256_rx"][:16])
            m = c.get("mptcp") or {}
            check(not m.get("fallback") and m.get("fully_established"),
                  "MPTCP, not fallback", m.get("fallback"))
            sent = subflow_bytes(c, "bytes_sent")
            check(len(sent) == 3 and all(x[2] > MB for x in sent),
                  "3 subflows (initial + 2 joins), each carried data", sent)
            local = sorted(x[0].rsplit(":", 1)[0].strip("[]") for x in sent)
            check(local == sorted(bed.a_addr(i) for i in range(3)),
                  "subflows from a's three paths", local)
        moved = delta(bed.counters(), before)
        check_kernel(check, moved, {"MPCapableSYNRX": 1, "MPCapableACKRX": 1, "MPJoinSynRx": 2,
                                    "MPJoinAckRx": 2})
        ours = braid_counters(app)
        check(ours.get("join_synack_rx") == 2 and ours.get("join_synack_hmac_failure", 0) == 0,
              "Braid: 2 MP_JOIN SYN/ACKs with valid HMACs", ours)
        time.sleep(0.3)
        for cap in caps:
            cap.stop()
        res, problems = analysis.mptcp_verdict([cap.path for cap in caps], subflows=3, streams=1)
        check.info(analysis.mptcp_summary_line(res))
        check(len(res["streams"]) == 1 and not problems, "tshark MPTCP verdict clean",
              "; ".join(problems))
        if res["streams"]:
            conn = next(iter(res["streams"].values()))
            check(conn["joins"]["token_ok"] == 2 and conn["joins"]["hmac_ok"] == 2,
                  "tshark: join tokens and HMACs match the keys", conn["joins"])
            check(conn["dss"]["missing_mapping"] == 0, "tshark: no payload without a mapping",
                  conn["dss"]["missing_mapping"])

        # The other direction: the kernel sends, Braid receives.
        before = bed.counters()
        srv = tb.start_server(b, PORT + 1, mode="source", nbytes=nbytes, family="dual")
        app = bed.braid("--connect", bed.b_addr(0), "--to-port", PORT + 1, "--mode", "recv",
                        mptcp=["--subflows", 4] + bed.subflow_endpoints())
        check(app.wait(60) == 0, "Braid receiver exits 0", app.errors())
        sv = srv.results(20)[0]
        c = one_connection(check, app, "recv")
        if c:
            check(c["bytes_rx"] == nbytes and c["sha256_rx"] == sv["sha256_tx"],
                  "%d MiB kernel -> Braid byte-exact" % (nbytes // MB), c["sha256_rx"][:16])
            got = subflow_bytes(c, "bytes_received")
            check(len(got) == 3 and all(x[2] > 0 for x in got), "data arrived on every subflow",
                  got)
        check_kernel(check, delta(bed.counters(), before),
                     {"MPCapableSYNRX": 1, "MPJoinSynRx": 2, "MPJoinAckRx": 2})


def scenario_server(check, fam):
    nbytes = 16 * MB
    with Bed(check, fam, rate="200mbit") as bed:
        tb, b = bed.tb, bed.tb.b
        signal = []
        for i in (1, 2):
            signal += ["--endpoint", "%s,id=%d,signal" % (bed.a_addr(i), i)]
        for mode, kmode in (("sink", "send"), ("source", "recv")):
            before = bed.counters()
            app = bed.braid("--listen", PORT, "--mode", mode, "--bytes", nbytes,
                            mptcp=["--subflows", 4] + signal)
            cl = tb.run_client(b, bed.a_addr(0), PORT, proto="mptcp", mode=kmode, nbytes=nbytes,
                               wait_subflows=2 if kmode == "send" else 0, timeout=40, check=False)
            check(not cl.get("error"), "kernel client (%s) done" % kmode, cl.get("error"))
            app.wait_connections(1, timeout=20)
            app.stop()
            c = one_connection(check, app, mode)
            if c and kmode == "send":
                check(c["bytes_rx"] == nbytes and c["sha256_rx"] == cl["sha256_tx"],
                      "%d MiB kernel -> Braid server byte-exact" % (nbytes // MB))
            elif c:
                check(cl["bytes_rx"] == nbytes and cl["sha256_rx"] == c["sha256_tx"],
                      "%d MiB Braid server -> kernel byte-exact" % (nbytes // MB))
            if c:
                n = len(subflow_bytes(c, "bytes_sent"))
                check(n == 3, "3 subflows: the kernel joined both announced addresses", n)
            moved = delta(bed.counters(), before)
            check_kernel(check, moved, {"MPCapableSYNTX": 1, "MPCapableSYNACKRX": 1, "AddAddr": 2,
                                        "EchoAddTx": 2, "MPJoinSynTx": 2, "MPJoinSynAckRx": 2})
            ours = braid_counters(app)
            check(ours.get("echo_add_rx") == 2 and ours.get("join_ack_rx") == 2,
                  "Braid: both announcements echoed, 2 joins with valid HMACs", ours)

        # The kernel client's own subflow endpoints (the usual client setup): its joins from b1
        # and b2 to a0's address are routed over paths 1 and 2 and reach Braid's other ports
        # (weak host model, RFC 1122 §3.3.4.2).
        b.mptcp_endpoint_flush()
        b.mptcp_endpoints_on_paths("subflow", family=fam)
        before = bed.counters()
        app = bed.braid("--listen", PORT, "--mode", "sink", mptcp=["--subflows", 4])
        cl = tb.run_client(b, bed.a_addr(0), PORT, proto="mptcp", mode="send", nbytes=nbytes,
                           wait_subflows=2, timeout=40, check=False)
        check(not cl.get("error"), "kernel client with subflow endpoints done", cl.get("error"))
        app.wait_connections(1, timeout=20)
        app.stop()
        c = one_connection(check, app, "joined by the kernel")
        if c:
            check(c["bytes_rx"] == nbytes and c["sha256_rx"] == cl["sha256_tx"],
                  "%d MiB kernel -> Braid byte-exact over the kernel's 3 subflows" % (nbytes // MB))
            got = subflow_bytes(c, "bytes_received")
            check(len(got) == 3 and all(x[2] > 0 for x in got),
                  "3 subflows, data on each", got)
        check_kernel(check, delta(bed.counters(), before),
                     {"MPJoinSynTx": 2, "MPJoinSynAckRx": 2})


def scenario_signal(check, fam):
    nbytes = 16 * MB
    with Bed(check, fam, rate="200mbit") as bed:
        tb, b = bed.tb, bed.tb.b
        b.mptcp_endpoint_flush()
        b.mptcp_endpoint_add(bed.b_addr(1), "signal", id=11)
        # An IPv6 ADD_ADDR with a port and its HMAC (30 bytes) does not fit beside the timestamps
        # option (12) in 40 bytes: the kernel cannot send it (AddAddrTxDrop). Ports on IPv4.
        port = PORT + 7 if fam == 4 else None
        b.mptcp_endpoint_add(bed.b_addr(2), "signal", id=12, port=port)
        before = bed.counters()
        srv = tb.start_server(b, PORT, mode="sink", family="dual")
        app = bed.braid("--connect", bed.b_addr(0), "--to-port", PORT, "--mode", "send",
                        "--bytes", nbytes, mptcp=["--subflows", 4, "--add-addr-accepted", 2])
        check(app.wait(60) == 0, "Braid client exits 0", app.errors())
        sv = srv.results(20)[0]
        c = one_connection(check, app, "send")
        if c:
            check(sv["sha256_rx"] == c["sha256_tx"] and sv["bytes_rx"] == nbytes,
                  "%d MiB byte-exact" % (nbytes // MB))
            remote = sorted(x[1] for x in subflow_bytes(c, "bytes_sent"))
            want = sorted(["%s:%d" % (bed.b_addr(0), PORT), "%s:%d" % (bed.b_addr(1), PORT),
                           "%s:%d" % (bed.b_addr(2), port or PORT)])
            if fam == 6:
                want = sorted("[%s]:%s" % tuple(w.rsplit(":", 1)) for w in want)
            check(remote == want, "Braid joined both announced addresses (one with its port)",
                  remote)
        moved = delta(bed.counters(), before)
        check_kernel(check, moved, {"AddAddrTx": 2, "EchoAdd": 2, "MPJoinSynRx": 2,
                                    "MPJoinAckRx": 2, "MPJoinPortSynRx": 1 if port else 0})
        ours = braid_counters(app)
        check(ours.get("add_addr_rx") == 2 and ours.get("echo_add_tx") == 2,
              "Braid: 2 ADD_ADDR with valid HMACs received and echoed", ours)


def scenario_backup(check, fam):
    nbytes = 16 * MB
    with Bed(check, fam, rate="100mbit") as bed:
        tb, b = bed.tb, bed.tb.b
        before = bed.counters()
        srv = tb.start_server(b, PORT, mode="sink", family="dual")
        app = bed.braid("--connect", bed.b_addr(0), "--to-port", PORT, "--mode", "send",
                        "--bytes", nbytes,
                        mptcp=["--subflows", 4] + bed.subflow_endpoints(backup_path=2))
        check(app.wait(60) == 0, "Braid client exits 0", app.errors())
        sv = srv.results(20)[0]
        c = one_connection(check, app, "send")
        if c:
            check(sv["sha256_rx"] == c["sha256_tx"], "byte-exact")
            subs = (c.get("mptcp") or {}).get("subflows", [])
            backup = [s for s in subs if s["backup"]]
            active = [s for s in subs if not s["backup"]]
            check(len(backup) == 1 and backup[0]["local"].startswith(
                bed.a_addr(2) if fam == 4 else "[" + bed.a_addr(2)),
                "the path-2 subflow is a backup", [(s["local"], s["backup"]) for s in subs])
            # A backup carries data only while every other subflow is stale (RFC 8684 §3.3.8,
            # as the kernel's scheduler): on a loaded machine a stall can make both stale for a
            # moment. Then the backup may carry what was due, and the stale counter says why.
            stale = braid_counters(app).get("subflow_stale", 0)
            check(backup and (backup[0]["bytes_sent"] == 0 or stale > 0) and
                  all(s["bytes_sent"] > 0 for s in active),
                  "no data on the backup while the others work",
                  ([(s["local"], s["bytes_sent"]) for s in subs], "stale", stale))
        check_kernel(check, delta(bed.counters(), before),
                     {"MPJoinSynRx": 2, "MPJoinSynBackupRx": 1, "MPJoinAckRx": 2})


def scenario_checksum(check, fam):
    nbytes = 16 * MB
    with Bed(check, fam, rate="200mbit") as bed:
        tb, b = bed.tb, bed.tb.b
        b.sysctl("net.mptcp.checksum_enabled", 1)
        for mode, smode in (("send", "sink"), ("recv", "source")):
            before = bed.counters()
            srv = tb.start_server(b, PORT, mode=smode, nbytes=nbytes, family="dual")
            app = bed.braid("--connect", bed.b_addr(0), "--to-port", PORT, "--mode", mode,
                            "--bytes", nbytes, mptcp=["--subflows", 4] + bed.subflow_endpoints())
            check(app.wait(60) == 0, "Braid %s exits 0" % mode, app.errors())
            sv = srv.results(20)[0]
            c = one_connection(check, app, mode)
            if c:
                ok = (sv["sha256_rx"] == c["sha256_tx"]) if mode == "send" else \
                    (c["sha256_rx"] == sv["sha256_tx"] and c["bytes_rx"] == nbytes)
                check(ok, "%s: byte-exact with DSS checksums" % mode)
                check((c.get("mptcp") or {}).get("checksum") is True,
                      "%s: checksums negotiated (the kernel asked)" % mode)
            check_kernel(check, delta(bed.counters(), before), {"MPJoinSynRx": 2})
            ours = braid_counters(app)
            check(ours.get("data_csum_err", 0) == 0 and ours.get("csum_missing", 0) == 0,
                  "%s: Braid found every checksum right" % mode, ours)


def corrupt_mapping(tb, path, rule):
    """A faulty middlebox on path's router: of the segments `rule` matches that carry a DSS
    mapping, 10 in a row from the 50th (well after the checksums were seen valid) get a wrong
    DSS checksum. Braid puts a mapping on the segment that starts it only, and a mapping is many
    segments long, so the 50th is some 400 segments in. nft rewrites the option's last two bytes and
    fixes the TCP checksum, so the TCP layer takes the segment and only MPTCP's checksum tells
    (RFC 8684 §3.3). A mapping with a checksum is 16, 20,
    24 or 28 bytes long (4- or 8-byte DATA_ACK and DSN, or none of the former)."""
    r = tb.nodes[tb.paths[path].router]
    lines = ["table inet braid_corrupt {", " chain corrupt {",
             "  type filter hook forward priority 0; policy accept;"]
    for length in (16, 20, 24, 28):
        lines.append("  %s tcp option mptcp subtype 2 tcp option mptcp length %d"
                     " numgen inc mod 60 >= 50 limit rate 1/hour burst 10 packets"
                     " tcp option @30,%d,16 set 0xbeef counter" % (rule, length, (length - 2) * 8))
    r.run(["nft", "-f", "-"], input="\n".join(lines + [" }", "}"]) + "\n")


def scenario_fail(check, fam):
    nbytes = 16 * MB
    for what in ("several subflows", "one subflow"):
        with Bed(check, fam, rate="200mbit") as bed:
            tb, b = bed.tb, bed.tb.b
            b.sysctl("net.mptcp.checksum_enabled", 1)
            before = bed.counters()
            srv = tb.start_server(b, PORT, mode="sink", family="dual")
            corrupt_mapping(tb, 0, 'iifname "%sa" meta length > 1000' % tb.paths[0].router)
            mptcp = ["--subflows", 4] + bed.subflow_endpoints() if what == "several subflows" \
                else ["--subflows", 1]
            app = bed.braid("--connect", bed.b_addr(0), "--to-port", PORT, "--mode", "send",
                            "--bytes", nbytes, mptcp=mptcp)
            check(app.wait(60) == 0, "%s: Braid client exits 0" % what, app.errors())
            sv = srv.results(20)[0]
            c = one_connection(check, app, what) or {}
            check(sv["bytes_rx"] == nbytes and sv["sha256_rx"] == c.get("sha256_tx"),
                  "%s: %d MiB byte-exact although a middlebox broke checksums" %
                  (what, nbytes // MB))
            moved = delta(bed.counters(), before)
            ours = braid_counters(app)
            keys = ("mp_fail_rx", "tcprst_rx", "reinjected_bytes", "infinite_map_tx")
            check.info("%s: kernel %s; Braid %s" % (what, moved,
                                                   {k: ours.get(k, 0) for k in keys}))
            check(moved.get("DataCsumErr", 0) >= 1 and moved.get("MPFailTx", 0) >= 1,
                  "%s: the kernel caught the checksum and sent MP_FAIL" % what, moved)
            check(ours.get("mp_fail_rx", 0) >= 1, "%s: Braid received MP_FAIL" % what,
                  ours.get("mp_fail_rx", 0))
            fell_back = (c.get("mptcp") or {}).get("fallback") is True
            if what == "several subflows":
                # RFC 8684 §3.7, as Linux does it: the subflow whose mapping failed is reset
                # (MP_TCPRST, middlebox interference, with the MP_FAIL); the others carry on.
                check(moved.get("MPRstTx", 0) >= 1 and ours.get("tcprst_rx", 0) >= 1,
                      "%s: that subflow is reset with MP_TCPRST" % what, moved)
                check(ours.get("reinjected_bytes", 0) > 0 and not fell_back and
                      ours.get("infinite_map_tx", 0) == 0,
                      "%s: Braid reinjects its data and stays MPTCP" % what, ours)
            else:
                # The only subflow (§3.7): the sender answers with MP_FAIL and an infinite
                # mapping, and both ends fall back to TCP on it. The kernel counts its fallback
                # as InfiniteMapRx, or as DssFallback when it already fell back on the failed
                # mapping itself before the infinite mapping reached it (seen with 6.18).
                # A kernel that fell back that way ignores MPTCP options from then on, our MP_FAIL
                # too (MPFailRx stays 0): it counts MPFailRx or DssFallback.
                fallbacks = moved.get("InfiniteMapRx", 0) + moved.get("DssFallback", 0)
                check(ours.get("mp_fail_tx", 0) >= 1 and ours.get("infinite_map_tx", 0) >= 1 and
                      moved.get("MPFailRx", 0) + moved.get("DssFallback", 0) >= 1,
                      "%s: Braid answered with MP_FAIL and an infinite mapping" % what,
                      (ours.get("mp_fail_tx", 0), ours.get("infinite_map_tx", 0),
                       moved.get("MPFailRx", 0), moved.get("DssFallback", 0)))
                check(fell_back and fallbacks >= 1 and moved.get("MPRstTx", 0) == 0,
                      "%s: both ends fell back to TCP, no reset" % what, moved)


def scenario_fallback(check, fam):
    nbytes = 8 * MB
    with Bed(check, fam) as bed:
        tb, b = bed.tb, bed.tb.b
        b.mptcp_enable(False)
        srv = tb.start_server(b, PORT, proto="tcp", mode="sink", family="dual")
        app = bed.braid("--connect", bed.b_addr(0), "--to-port", PORT, "--mode", "send",
                        "--bytes", nbytes, mptcp=["--subflows", 4] + bed.subflow_endpoints())
        check(app.wait(60) == 0, "Braid client exits 0", app.errors())
        sv = srv.results(20)[0]
        c = one_connection(check, app, "client")
        if c:
            check(sv["sha256_rx"] == c["sha256_tx"] and sv["bytes_rx"] == nbytes,
                  "client fallback: byte-exact over plain TCP")
            check((c.get("mptcp") or {}).get("fallback") is True, "client fell back to TCP")
        ours = braid_counters(app)
        check(ours.get("fallback_synack") == 1 and ours.get("join_syn_tx", 0) == 0,
              "Braid: SYN/ACK without MP_CAPABLE, no join attempted", ours)

        app = bed.braid("--listen", PORT, "--mode", "sink")
        cl = tb.run_client(b, bed.a_addr(0), PORT, proto="tcp", mode="send", nbytes=nbytes,
                           timeout=30, check=False)
        app.wait_connections(1, timeout=20)
        app.stop()
        c = one_connection(check, app, "server")
        if c:
            check(c["sha256_rx"] == cl.get("sha256_tx") and c["bytes_rx"] == nbytes,
                  "server fallback: byte-exact from a plain TCP client")
            check((c.get("mptcp") or {}).get("fallback") is True, "server socket in fallback")
        check(braid_counters(app).get("fallback_syn") == 1, "Braid: a plain TCP SYN accepted")


def scenario_cut(check, fam):
    nbytes = 96 * MB
    with Bed(check, fam, rate="100mbit") as bed:
        tb, b = bed.tb, bed.tb.b
        for how in ("down", "blackhole"):
            prog = os.path.join(tb.workdir, "progress-%s.txt" % how)
            srv = tb.start_server(b, PORT, mode="sink", family="dual", progress=prog)
            app = bed.braid("--connect", bed.b_addr(0), "--to-port", PORT, "--mode", "send",
                            "--bytes", nbytes, mptcp=["--subflows", 4] + bed.subflow_endpoints())
            time.sleep(0.5)
            t_cut = time.monotonic()
            if how == "down":
                tb.link_down(1, at="r1b")
            else:
                tb.blackhole(1)
            time.sleep(0.7)
            if how == "down":
                tb.link_up(1, at="r1b")
            else:
                tb.restore(1)
            check(app.wait(60) == 0, "%s: Braid client exits 0" % how, app.errors())
            sv = srv.results(20)[0]
            c = one_connection(check, app, how)
            if not c:
                continue
            check(sv["bytes_rx"] == nbytes and sv["sha256_rx"] == c["sha256_tx"],
                  "%s: %d MiB byte-exact across the cut" % (how, nbytes // MB))
            samples = peer.read_progress(prog)[0]
            gap, start, _ = peer.longest_gap(samples, after=t_cut)
            check.info("%s: longest delivery gap after the cut %.0f ms (starting %+.0f ms)" %
                       (how, gap * 1000, ((start or t_cut) - t_cut) * 1000))
            check(gap < 1.0, "%s: delivery stalled less than 1 s" % how, "%.0f ms" % (gap * 1e3))
            ours = braid_counters(app)
            check(ours.get("subflow_stale", 0) >= 1 and ours.get("reinjected_bytes", 0) > 0,
                  "%s: the subflow went stale and its data was reinjected" % how, ours)
            keys = ("subflow_stale", "subflow_recover", "subflows_opened", "subflows_closed",
                    "reinjected_bytes", "tcprst_rx", "retransmits")
            check(ours.get("subflow_recover", 0) + ours.get("subflows_opened", 0) >= 3,
                  "%s: path 1 carried data again once back (recovered or re-created)" % how,
                  {k: ours.get(k, 0) for k in keys})
            check.info("%s: per subflow %s" % (how, subflow_bytes(c, "bytes_sent")))


def scenario_mixed(check, fam):
    nbytes = 16 * MB
    with Bed(check, 4, rate="200mbit") as bed:
        tb, b = bed.tb, bed.tb.b
        b.mptcp_endpoint_flush()
        b.mptcp_endpoint_add(bed.b_addr(1, 6), "signal", id=21)
        b.mptcp_endpoint_add(bed.b_addr(2, 6), "signal", id=22)
        before = bed.counters()
        srv = tb.start_server(b, PORT, mode="sink", family="dual")
        app = bed.braid("--connect", bed.b_addr(0, 4), "--to-port", PORT, "--mode", "send",
                        "--bytes", nbytes, family="dual",
                        mptcp=["--subflows", 4, "--add-addr-accepted", 2])
        check(app.wait(60) == 0, "Braid client exits 0", app.errors())
        sv = srv.results(20)[0]
        c = one_connection(check, app, "mixed")
        if c:
            check(sv["sha256_rx"] == c["sha256_tx"] and sv["bytes_rx"] == nbytes, "byte-exact")
            remote = [x[1] for x in subflow_bytes(c, "bytes_sent")]
            v6 = [r for r in remote if r.startswith("[")]
            check(len(remote) == 3 and len(v6) == 2,
                  "one IPv4 and two IPv6 subflows in one connection", remote)
        check_kernel(check, delta(bed.counters(), before), {"MPJoinSynRx": 2, "EchoAdd": 2})


def subflow_of(conn, local=None, remote=None):
    """The subflows of a connection line whose local (remote) address is the one given."""
    out = []
    for s in (conn.get("mptcp") or {}).get("subflows", []):
        if local and s["local"].rsplit(":", 1)[0].strip("[]") != local:
            continue
        if remote and s["remote"].rsplit(":", 1)[0].strip("[]") != remote:
            continue
        out.append(s)
    return out


def scenario_signals(check, fam):
    nbytes = 48 * MB
    with Bed(check, fam, rate="100mbit") as bed:
        tb, b = bed.tb, bed.tb.b
        # Braid -> kernel: MP_PRIO (path 2 becomes a backup at 0.5 s), REMOVE_ADDR (path 1's
        # address withdrawn at 1.2 s).
        before = bed.counters()
        srv = tb.start_server(b, PORT, mode="sink", family="dual")
        app = bed.braid("--connect", bed.b_addr(0), "--to-port", PORT, "--mode", "send",
                        "--bytes", nbytes, "--action", "0.5:backup:2", "--action", "1.2:remove:1",
                        mptcp=["--subflows", 4] + bed.subflow_endpoints())
        check(app.wait(60) == 0, "Braid client exits 0", app.errors())
        sv = srv.results(20)[0]
        c = one_connection(check, app, "send")
        if c:
            check(sv["bytes_rx"] == nbytes and sv["sha256_rx"] == c["sha256_tx"], "byte-exact")
            p0, p1, p2 = (subflow_of(c, local=bed.a_addr(i)) for i in range(3))
            check(p2 and p2[0]["backup"] and p0 and
                  p2[0]["bytes_sent"] < 0.5 * p0[0]["bytes_sent"],
                  "path 2 became a backup and then carried (almost) nothing",
                  [(s["local"], s["backup"], s["bytes_sent"]) for s in p0 + p2])
            check(p1 and p1[0]["state"] == "closed", "path 1's subflow closed by REMOVE_ADDR",
                  [(s["local"], s["state"]) for s in p1])
        moved = delta(bed.counters(), before)
        # Braid resets its subflow on that address itself, after the REMOVE_ADDR, with MP_TCPRST
        # "administratively prohibited" (MPRstRx): the kernel has none left to remove.
        check_kernel(check, moved, {"MPPrioRx": 1, "RmAddr": 1, "MPRstRx": 1},
                     allow=("MPRstRx",))
        ours = braid_counters(app)
        check(ours.get("mp_prio_tx") == 1 and ours.get("rm_addr_tx") == 1,
              "Braid sent one MP_PRIO and one REMOVE_ADDR", ours)

        # Kernel -> Braid: the kernel announces paths 1 and 2, then makes path 2 a backup
        # (`ip mptcp endpoint change ... backup`: MP_PRIO) and withdraws path 1 (REMOVE_ADDR).
        b.mptcp_endpoint_flush()
        b.mptcp_endpoint_add(bed.b_addr(1), "signal", id=11)
        b.mptcp_endpoint_add(bed.b_addr(2), "signal", id=12)
        before = bed.counters()
        srv = tb.start_server(b, PORT + 1, mode="sink", family="dual")
        app = bed.braid("--connect", bed.b_addr(0), "--to-port", PORT + 1, "--mode", "send",
                        "--bytes", nbytes, mptcp=["--subflows", 4, "--add-addr-accepted", 2])
        time.sleep(0.6)
        b.ip(["mptcp", "endpoint", "change", "id", "12", "backup"])
        time.sleep(0.6)
        b.ip(["mptcp", "endpoint", "delete", "id", "11"])
        check(app.wait(60) == 0, "Braid client exits 0", app.errors())
        sv = srv.results(20)[0]
        c = one_connection(check, app, "send")
        if c:
            check(sv["bytes_rx"] == nbytes and sv["sha256_rx"] == c["sha256_tx"], "byte-exact")
            to1 = subflow_of(c, remote=bed.b_addr(1))
            to2 = subflow_of(c, remote=bed.b_addr(2))
            to0 = subflow_of(c, remote=bed.b_addr(0))
            check(to1 and to1[0]["state"] == "closed", "the subflow to b's path 1 closed",
                  [(s["remote"], s["state"]) for s in to1])
            check(to2 and to2[0]["backup"] and to0 and
                  to2[0]["bytes_sent"] < 0.5 * to0[0]["bytes_sent"],
                  "the subflow to b's path 2 became a backup and carried (almost) nothing more",
                  [(s["remote"], s["backup"], s["bytes_sent"]) for s in to0 + to2])
        moved = delta(bed.counters(), before)
        # The kernel closes its own subflow on the withdrawn address too (RST with MP_TCPRST);
        # now and then that RST overtakes the ACK carrying the REMOVE_ADDR (seen 1 run in 4).
        check_kernel(check, moved, {"MPPrioTx": 1, "RmAddrTx": 1}, allow=("MPRstTx",))
        ours = braid_counters(app)
        check(ours.get("mp_prio_rx", 0) >= 1, "Braid received MP_PRIO", ours.get("mp_prio_rx"))
        if ours.get("rm_addr_rx") == 1:
            check(ours.get("rm_subflow") == 1, "Braid received REMOVE_ADDR and closed the subflow",
                  ours.get("rm_subflow"))
        else:
            check(moved.get("MPRstTx", 0) >= 1 and ours.get("tcprst_rx", 0) >= 1,
                  "the kernel's RST (MP_TCPRST) closed the subflow before its REMOVE_ADDR came",
                  {k: ours.get(k) for k in ("rm_addr_rx", "tcprst_rx")})


# A kernel MPTCP server that reads a little and then closes with SO_LINGER 0: the kernel ends
# the connection with MP_FASTCLOSE (net/mptcp/protocol.c, __mptcp_close).
FASTCLOSE_SERVER = r"""
import socket, struct, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM, 262)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("::", int(sys.argv[1])))
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
got = 0
while got < 4 << 20:
    d = c.recv(65536)
    if not d:
        break
    got += len(d)
c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
c.close()
print("closed", got, flush=True)
time.sleep(1)
"""


def scenario_fastclose(check, fam):
    nbytes = 64 * MB
    with Bed(check, fam, rate="200mbit") as bed:
        tb, b = bed.tb, bed.tb.b
        # Braid aborts: MP_FASTCLOSE with the kernel's key on an RST of every subflow.
        before = bed.counters()
        srv = tb.start_server(b, PORT, mode="sink", family="dual")
        app = bed.braid("--connect", bed.b_addr(0), "--to-port", PORT, "--mode", "send",
                        "--bytes", nbytes, "--action", "0.6:abort",
                        mptcp=["--subflows", 4] + bed.subflow_endpoints())
        app.wait(60)
        try:
            srv.results(20)
        except peer.PeerError as e:
            check.info("kernel server: %s" % e)
        conns = app.connections()
        check(len(conns) == 1 and conns[0]["error"] == "aborted", "Braid's connection aborted",
              [x["error"] for x in conns])
        moved = delta(bed.counters(), before)
        check(moved.get("MPFastcloseRx", 0) >= 1, "kernel MPTcpExtMPFastcloseRx >= 1", moved)
        ours = braid_counters(app)
        check(ours.get("fastclose_tx", 0) >= 1, "Braid sent MP_FASTCLOSE", ours)
        time.sleep(0.5)
        left = b.mptcp_connections(PORT)
        check(not left, "no MPTCP connection left on the kernel", left)

        # The kernel aborts: MP_FASTCLOSE towards Braid.
        before = bed.counters()
        proc = b.popen([sys.executable, "-c", FASTCLOSE_SERVER, str(PORT + 1)],
                       stdout=__import__("subprocess").PIPE)
        proc.stdout.readline()
        app = bed.braid("--connect", bed.b_addr(0), "--to-port", PORT + 1, "--mode", "send",
                        "--bytes", nbytes, mptcp=["--subflows", 4] + bed.subflow_endpoints())
        app.wait(60)
        proc.wait(timeout=10)
        conns = app.connections()
        check(len(conns) == 1 and conns[0]["error"] == "reset",
              "Braid's connection reset by the peer's MP_FASTCLOSE",
              [x["error"] for x in conns])
        moved = delta(bed.counters(), before)
        check(moved.get("MPFastcloseTx", 0) >= 1, "kernel MPTcpExtMPFastcloseTx >= 1", moved)
        ours = braid_counters(app)
        check(ours.get("fastclose_rx", 0) >= 1 and ours.get("fastclose_bad_key", 0) == 0,
              "Braid accepted the MP_FASTCLOSE (our key)", ours)


def scenario_recreate(check, fam):
    nbytes = 240 * MB
    with Bed(check, fam, rate="100mbit") as bed:
        tb, b = bed.tb, bed.tb.b
        before = bed.counters()
        prog = os.path.join(tb.workdir, "progress.txt")
        srv = tb.start_server(b, PORT, mode="sink", family="dual", progress=prog)
        app = bed.braid("--connect", bed.b_addr(0), "--to-port", PORT, "--mode", "send",
                        "--bytes", nbytes, mptcp=["--subflows", 4] + bed.subflow_endpoints())
        time.sleep(0.5)
        t_cut = time.monotonic()
        tb.blackhole(1)
        time.sleep(4.0)
        tb.restore(1)
        t_back = time.monotonic()
        check(app.wait(90) == 0, "Braid client exits 0", app.errors())
        sv = srv.results(20)[0]
        c = one_connection(check, app, "send")
        if c:
            check(sv["bytes_rx"] == nbytes and sv["sha256_rx"] == c["sha256_tx"],
                  "%d MiB byte-exact across a 4 s outage" % (nbytes // MB))
            p1 = subflow_of(c, local=bed.a_addr(1))
            check(len(p1) == 2 and p1[0]["state"] == "closed" and p1[1]["bytes_sent"] > MB,
                  "path 1's subflow was reset while stale and a new one carried data after the "
                  "path came back", [(s["id"], s["state"], s["bytes_sent"]) for s in p1])
        samples = peer.read_progress(prog)[0]
        gap, _, _ = peer.longest_gap(samples, after=t_cut)
        check.info("longest delivery gap after the cut: %.0f ms" % (gap * 1000))
        check(gap < 1.0, "delivery stalled less than 1 s", "%.0f ms" % (gap * 1e3))
        back = [t for t, _ in samples if t > t_back]
        check.info("delivery went on %.1f s after the path came back" %
                   ((back[-1] - t_back) if back else 0))
        ours = braid_counters(app)
        check(ours.get("subflows_opened", 0) == 3 and ours.get("subflow_stale", 0) >= 1,
              "Braid: stale, reset, re-opened (3 joins in all)",
              {k: ours.get(k, 0) for k in ("subflow_stale", "subflows_opened", "tcprst_tx",
                                           "reinjected_bytes", "hol_reinjections")})
        check_kernel(check, delta(bed.counters(), before), {"MPJoinSynRx": 3},
                     allow=("MPRstRx",))


def strip_mptcp(tb, path, rule):
    """A middlebox on path's router that removes MPTCP options (nft `reset tcp option mptcp`:
    the option becomes NOPs, the checksum is fixed) from the packets `rule` matches."""
    r = tb.nodes[tb.paths[path].router]
    r.run(["nft", "-f", "-"], input=(
        "table inet braid_strip {\n chain strip {\n"
        "  type filter hook forward priority 0; policy accept;\n"
        "  %s reset tcp option mptcp\n }\n}\n" % rule))


def scenario_strip(check, fam):
    nbytes = 8 * MB
    cases = (
        ("SYN", 'iifname "r0a" tcp flags & (syn | ack) == syn',
         {"fallback_synack": 1}, {"MPCapableSYNRX": 0}),
        ("SYN/ACK", 'iifname "r0b" tcp flags & (syn | ack) == syn | ack',
         {"fallback_synack": 1}, {"MPCapableFallbackACK": 1}),
        ("data", 'iifname "r0a" tcp flags & syn == 0 meta length > 200',
         {"fallback_data": 1}, {"MPCapableSYNRX": 1}),
    )
    for what, rule, ours_want, kernel_want in cases:
        with Bed(check, fam) as bed:
            tb, b = bed.tb, bed.tb.b
            strip_mptcp(tb, 0, rule)
            before = bed.counters()
            srv = tb.start_server(b, PORT, mode="echo", family="dual")
            app = bed.braid("--connect", bed.b_addr(0), "--to-port", PORT, "--mode", "echo",
                            "--bytes", nbytes)
            check(app.wait(60) == 0, "%s stripped: Braid client exits 0" % what, app.errors())
            try:
                srv.results(20)
            except peer.PeerError as e:
                check(False, "%s stripped: kernel echo server" % what, e)
            conns = app.connections()
            c = conns[0] if conns else {}
            check(len(conns) == 1 and not c.get("error") and c.get("bytes_rx") == nbytes and
                  c.get("sha256_rx") == c.get("sha256_tx"),
                  "%s stripped: %d MiB echoed byte-exact over plain TCP" % (what, nbytes // MB),
                  c.get("error"))
            check((c.get("mptcp") or {}).get("fallback") is True, "%s stripped: fell back" % what)
            ours = braid_counters(app)
            for k, v in ours_want.items():
                check(ours.get(k, 0) == v, "%s stripped: Braid %s = %d" % (what, k, v),
                      ours.get(k, 0))
            moved = delta(bed.counters(), before)
            for k, v in kernel_want.items():
                check(moved.get(k, 0) == v, "%s stripped: kernel MPTcpExt%s += %d" % (what, k, v),
                      moved.get(k, 0))


SCENARIOS = {"client": scenario_client, "server": scenario_server, "signal": scenario_signal,
             "backup": scenario_backup, "checksum": scenario_checksum, "fail": scenario_fail,
             "fallback": scenario_fallback, "cut": scenario_cut, "mixed": scenario_mixed,
             "signals": scenario_signals, "fastclose": scenario_fastclose,
             "recreate": scenario_recreate, "strip": scenario_strip}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    ap.add_argument("--family", type=int, choices=(4, 6), default=4)
    args = ap.parse_args()
    braidtest.require_e2e(("root", "netns", "mptcp", "dumpcap", "nft", "tc"))
    for tool in ("tshark", "ethtool"):
        if shutil.which(tool) is None:
            print("SKIP: %s not found" % tool, flush=True)
            return braidtest.SKIP
    if braidtest.braid.find_testapp() is None:
        print("SKIP: braid-testapp not built (%s)" % braidtest.braid.testapp_path(), flush=True)
        return braidtest.SKIP

    def over_budget(_signum, _frame):
        raise TimeoutError("over the %d s budget" % BUDGET_SECONDS)
    signal.signal(signal.SIGALRM, over_budget)
    signal.alarm(BUDGET_SECONDS)
    name = "mptcp %s IPv%d" % (args.scenario, args.family)
    check = Checker(name)
    print("=== %s (braid-testapp: %s) ===" % (name, braidtest.braid.find_testapp()), flush=True)
    t0 = time.monotonic()
    try:
        SCENARIOS[args.scenario](check, args.family)
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
