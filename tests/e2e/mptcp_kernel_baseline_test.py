#!/usr/bin/env python3
"""Kernel MPTCP client <-> kernel MPTCP server over 3 routed paths (CTest label e2e): the
reference that Braid's MPTCP datapath is held to, and the proof that the test library's MPTCP
evidence works on a real MPTCP connection.

  mptcp_kernel_baseline_test.py [--family 4|6]

Node a (client) has subflow endpoints on paths 1 and 2 and connects to b's path-0 address; a
tbf of 100 Mbit/s on each router's egress towards b makes the scheduler use every path; transmit
checksum offload is off on a's and b's interfaces so that captured checksums are final. 16 MiB
a -> b, then checked:
  - the data: SHA-256 at the receiver equals the sender's and the payload's (kernel peer);
  - the kernel's own evidence, as its selftests (mptcp_join.sh) assert it: MPTcpExt counters
    MPCapableSYNTX/SYNACKRX (a), MPCapableSYNRX/ACKRX (b) = 1; MPJoinSynTx/SynAckRx (a) and
    MPJoinSynRx/AckRx (b) = 2; no HMAC failure, unknown token, fallback, DSS mismatch, infinite
    mapping, checksum error, MP_FAIL, MP_FASTCLOSE or MP_TCPRST on either side; `ss` shows 3
    subflows while the connection is up;
  - the captures on b0, b1, b2 (headers only), through analysis.mptcp_verdict: exactly one
    MPTCP connection (the test fails if the analysis finds none), clean (no problem), 3
    subflows, both keys, MP_JOIN tokens and HMACs matching the keys, DSNs and data ACKs
    consistent with the IDSNs, 0 missing mappings, mappings covering exactly the bytes sent,
    payload on every subflow; and through analysis.analyze: no malformed packet, bad checksum
    or ACK of an unseen segment (gaps are allowed: the tbfs drop before the capture point);
  - that the verdict would see a fault: copies of the captures with one MP_JOIN token and one
    third-ACK HMAC altered must be reported as such.

Exit 0 pass, 1 fail, 77 skip (not root, no namespaces/MPTCP/dumpcap/tshark/nft/tc/ethtool).
"""

import argparse
import os
import shutil
import signal
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(HERE, "lib"))

import braidtest  # noqa: E402
from braidtest import analysis  # noqa: E402
from braidtest.check import Checker  # noqa: E402

MB = 1 << 20
NBYTES = 16 * MB
PORT = 5401
RATE = "100mbit"
SNAPLEN = 128
BUDGET_SECONDS = 75   # below CTest's TIMEOUT, so that a hung test still cleans up

# MPTcpExt counters and what this connection must move them by, per node (mptcp_join.sh:
# chk_join_nr, chk_csum_nr, chk_fail_nr, chk_fclose_nr, chk_rst_nr, chk_infi_nr).
EXPECTED = {
    "a": {"MPCapableSYNTX": 1, "MPCapableSYNACKRX": 1, "MPJoinSynTx": 2, "MPJoinSynAckRx": 2},
    "b": {"MPCapableSYNRX": 1, "MPCapableACKRX": 1, "MPJoinSynRx": 2, "MPJoinAckRx": 2},
}
ZERO = ("MPJoinSynAckHMacFailure", "MPJoinAckHMacFailure", "MPJoinNoTokenFound",
        "MPJoinRejected", "MPCapableFallbackACK", "MPCapableFallbackSYNACK", "DSSNotMatching",
        "DSSCorruptionFallback", "DSSCorruptionReset", "InfiniteMapTx", "InfiniteMapRx",
        "DataCsumErr", "MPFailTx", "MPFailRx", "MPFastcloseTx", "MPFastcloseRx", "MPRstTx",
        "MPRstRx")


def delta(after, before, key):
    return after.get(key, 0) - before.get(key, 0)


def wait_closed(nodes, port, timeout=5.0):
    """Waits until no socket of port is left on the nodes but TIME-WAIT and listeners (every
    subflow's FIN exchange then is in the captures). Returns what is left."""
    deadline = time.monotonic() + timeout
    left = []
    while time.monotonic() < deadline:
        left = []
        for node in nodes:
            out = node.run(["ss", "-Htan", "state", "connected", "exclude", "time-wait",
                            "( sport = :%d or dport = :%d )" % (port, port)]).stdout
            left += ["%s: %s" % (node.name, " ".join(l.split())) for l in out.splitlines()
                     if l.strip()]
        if not left:
            return []
        time.sleep(0.05)
    return left


# --- altering captures: the verdict must notice ---------------------------------------------

def _tcp_header(frame):
    """Offset of the TCP header in an Ethernet + IPv4/IPv6 frame, or None."""
    if len(frame) < 34:
        return None
    etype = struct.unpack("!H", frame[12:14])[0]
    if etype == 0x0800 and frame[23] == 6:
        return 14 + (frame[14] & 0x0F) * 4
    if etype == 0x86DD and len(frame) >= 54 and frame[20] == 6:
        return 54
    return None


def _mp_join_option(frame, tcp):
    """(offset, length) of the MP_JOIN option (kind 30, subtype 1) in a TCP header, or None."""
    end = tcp + (frame[tcp + 12] >> 4) * 4
    i = tcp + 20
    while i + 1 < end:
        kind = frame[i]
        if kind == 0:
            return None
        if kind == 1:
            i += 1
            continue
        length = frame[i + 1]
        if length < 2:
            return None
        if kind == 30 and i + 2 < end and frame[i + 2] >> 4 == 1:
            return i, length
        i += length
    return None


def alter_mp_join(src, dst, syn):
    """Copies classic pcap src to dst with the first MP_JOIN SYN's token (syn=True) or the first
    MP_JOIN third ACK's HMAC (syn=False) inverted. Returns the frame number changed, or None."""
    data = bytearray(open(src, "rb").read())
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    pos, number = 24, 0
    changed = None
    while pos + 16 <= len(data) and changed is None:
        incl = struct.unpack(endian + "I", data[pos + 8:pos + 12])[0]
        start = pos + 16
        frame = data[start:start + incl]
        number += 1
        tcp = _tcp_header(frame)
        if tcp is not None and len(frame) >= tcp + 20:
            flags = frame[tcp + 13]
            opt = _mp_join_option(frame, tcp)
            if opt and syn and flags & 0x12 == 0x02 and opt[1] == 12:
                field = (opt[0] + 4, 4)        # RFC 8684 §3.2: SYN: token at bytes 4..7
            elif opt and not syn and not flags & 0x02 and opt[1] == 24:
                field = (opt[0] + 4, 20)       # third ACK: HMAC at bytes 4..23
            else:
                field = None
            if field:
                for k in range(field[0], field[0] + field[1]):
                    data[start + k] ^= 0xFF
                changed = number
        pos = start + incl
    with open(dst, "wb") as f:
        f.write(data)
    return changed


# --- the test ---------------------------------------------------------------------------------

def transfer(check, tb, fam):
    """The 3-path transfer with captures on b; returns (capture paths, counters before/after,
    server result) after checking the data and ss."""
    a, b = tb.a, tb.b
    a.mptcp_endpoint_flush()
    added = a.mptcp_endpoints_on_paths("subflow", family=fam)
    check(len(a.mptcp_endpoints()) == 2, "subflow endpoints on a's paths 1 and 2", added)
    caps = tb.capture(b, snaplen=SNAPLEN, name="ipv%d" % fam)
    before = {"a": a.mptcp_counters(), "b": b.mptcp_counters()}
    srv = tb.start_server(b, PORT, family="dual")
    cl = tb.start_client(a, b.addr(0, fam), PORT, nbytes=NBYTES, wait_subflows=2, hold=0.5)
    conns, subflows = [], []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        conns, subflows = b.mptcp_connections(PORT), b.tcp_subflows(PORT)
        if conns and conns[0]["subflows"] == 2 and len(subflows) == 3:
            break
        time.sleep(0.05)
    res = cl.result(timeout=40)
    sv = srv.results(timeout=15)[0]
    left = wait_closed([a, b], PORT)
    check(not left, "every subflow closed before the captures stop", left)
    for c in caps:
        c.stop()
    after = {"a": a.mptcp_counters(), "b": b.mptcp_counters()}
    check(sv["bytes_rx"] == NBYTES and sv["sha256_rx"] == res["sha256_tx"] ==
          braidtest.expected_sha256(NBYTES),
          "%d MiB a -> b byte-exact (SHA-256)" % (NBYTES // MB),
          "%s, %.0f Mbit/s" % (sv["sha256_rx"][:16], sv["rx_mbit_s"] or 0))
    check(bool(conns) and conns[0]["subflows"] == 2 and len(subflows) == 3,
          "ss: one MPTCP connection with 2 additional subflows, 3 TCP subflows", subflows)
    check(sv.get("subflows_max") == 2 and res.get("subflows_max") == 2,
          "MPTCP_INFO: 2 additional subflows at both ends",
          (res.get("subflows_max"), sv.get("subflows_max")))
    return [c.path for c in caps], before, after


def check_counters(check, before, after):
    for node, want in EXPECTED.items():
        for name, n in want.items():
            if name not in after[node]:
                check.info("MPTcpExt%s not exported by this kernel: not checked" % name)
                continue
            got = delta(after[node], before[node], name)
            check(got == n, "nstat %s MPTcpExt%s += %d" % (node, name, n), got)
    nonzero = {"%s:%s" % (node, name): delta(after[node], before[node], name)
               for node in ("a", "b") for name in ZERO
               if delta(after[node], before[node], name)}
    check(not nonzero, "nstat: no HMAC failure, unknown token, fallback, DSS mismatch, infinite "
          "mapping, checksum error, MP_FAIL, MP_FASTCLOSE or MP_TCPRST", nonzero)


def check_verdict(check, tb, pcaps, fam):
    res, problems = analysis.mptcp_verdict(pcaps, subflows=3, streams=1)
    check.info(analysis.mptcp_summary_line(res))
    if not check(len(res["streams"]) >= 1, "tshark finds the MPTCP connection",
                 "%d packets, %d with MPTCP options" % (res["packets"], res["mptcp_packets"])):
        return
    check(not problems, "MPTCP verdict clean", "; ".join(problems))
    conn = next(iter(res["streams"].values()))
    d, j = conn["dss"], conn["joins"]
    check(conn["subflows"] == 3 and j["total"] == 2, "3 subflows: MP_CAPABLE + 2 MP_JOIN",
          conn["tcp_streams"])
    check(conn["version"] == 1 and conn["keys_seen"] == 2, "MPTCP v1, both keys seen",
          conn["tokens"])
    check(j["token_ok"] == 2 and j["hmac_ok"] == 2,
          "both MP_JOIN tokens name the server's key, both HMACs match", j)
    check(d["missing_mapping"] == 0, "0 payload segments without a DSS mapping",
          "%d; %d segments without payload that tshark 4.0 flags too" %
          (d["missing_mapping"], d["missing_mapping_no_payload"]))
    check(d["idsn_checked"] > 1000 and d["idsn_bad"] == 0,
          "DSNs and data ACKs consistent with the IDSNs", d)
    check(d["data_bytes"]["client>server"] == NBYTES,
          "DSS mappings cover exactly the %d bytes sent" % NBYTES, d["data_bytes"])
    a = tb.a
    joined = sorted(s["src"].rsplit(":", 1)[0].strip("[]") for s in conn["subflow_info"]
                    if s["kind"] == "mp_join")
    check(joined == sorted([a.addr(1, fam), a.addr(2, fam)]),
          "the joins come from a's path-1 and path-2 addresses", joined)
    payload = [s["bytes"].get("client>server", 0) for s in conn["subflow_info"]]
    check(all(x > MB for x in payload), "every subflow carried payload",
          ["%.1f MB" % (x / 1e6) for x in payload])
    for pcap in pcaps:
        tcp = analysis.analyze(pcap)
        tcp_problems = analysis.capture_problems(tcp, allow=analysis.LOSS_ALLOWED)
        check(not tcp_problems, "TCP verdict clean on %s" % os.path.basename(pcap),
              "; ".join(tcp_problems) or analysis.summary_line(tcp))


def check_verdict_sees_faults(check, tb, pcaps):
    """The verdict on copies with an MP_JOIN token (subflow of b1) and an MP_JOIN HMAC (b2)
    altered."""
    altered = []
    for pcap, syn in zip(pcaps, (None, True, False)):
        if syn is None:
            altered.append(pcap)
            continue
        dst = os.path.join(tb.workdir, "altered-" + os.path.basename(pcap))
        frame = alter_mp_join(pcap, dst, syn)
        check(frame is not None, "altered the MP_JOIN %s in %s" %
              ("SYN's token" if syn else "third ACK's HMAC", os.path.basename(pcap)), frame)
        altered.append(dst)
    _, problems = analysis.mptcp_verdict(altered, subflows=3, streams=1)
    text = "; ".join(problems)
    check("token" in text and "HMAC mismatch" in text,
          "the verdict reports the altered token and HMAC", text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", type=int, choices=(4, 6), default=4)
    args = parser.parse_args()
    braidtest.require_e2e()
    for tool, pkg in (("tshark", "tshark"), ("mergecap", "tshark"), ("ethtool", "ethtool")):
        if shutil.which(tool) is None:
            print("SKIP: %s not found (package %s)" % (tool, pkg), flush=True)
            return braidtest.SKIP

    def over_budget(_signum, _frame):
        raise TimeoutError("over the %d s budget" % BUDGET_SECONDS)
    signal.signal(signal.SIGALRM, over_budget)
    signal.alarm(BUDGET_SECONDS)
    name = "kernel MPTCP baseline IPv%d" % args.family
    check = Checker(name)
    print("=== %s ===" % name, flush=True)
    t0 = time.monotonic()
    try:
        with braidtest.Testbed(paths=3, router=True) as tb:
            try:
                for i in range(3):
                    # The scheduler must spread the data over every path.
                    tb.set_rate(i, RATE, "a>b")
                    # With transmit checksumming on, a veth hands segments on with their
                    # checksums unfinished, and the captures would show them so.
                    for node in (tb.a, tb.b):
                        node.run(["ethtool", "-K", node.iface(i), "tx", "off"])
                pcaps, before, after = transfer(check, tb, args.family)
                check_counters(check, before, after)
                check_verdict(check, tb, pcaps, args.family)
                check_verdict_sees_faults(check, tb, pcaps)
            finally:
                if check.failures:
                    tb.mark_failed()   # keep the captures
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
