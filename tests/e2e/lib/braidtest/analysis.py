"""tshark's verdict on a capture: malformed packets, bad checksums, TCP sequence analysis, and
MPTCP (RFC 8684) connection analysis.

    res = analyze(pcap)                 # one tshark pass (-T fields), a dict of counts
    problems = capture_problems(res, allow=("lost_segment",))
    assert_clean(res)                   # AssertionError listing what is wrong

    res, problems = mptcp_verdict([b0.pcap, b1.pcap, b2.pcap], subflows=3)
    # = analyze_mptcp(pcaps) + mptcp_problems(res, ...); see analyze_mptcp for what it checks

The e2e interop rule (issue 4): no malformed packet, no "ACKed segment that wasn't captured"
(tcp.analysis.ack_lost_segment) and no "Previous segment(s) not captured"
(tcp.analysis.lost_segment) unless the test injected loss upstream of the capture point. Since
a test starts its captures before its first connection, neither can be the usual "common at
capture start" case: either a frame went missing between two points of one namespace (dumpcap
dropped it: see dropped_by_capture) or a stack acknowledged or skipped sequence space it never
saw on the wire.

Captures of bulk transfers are headers only (snaplen ~128), so:
- every TCP port is decoded as plain `data` (`-d tcp.port==1-65535,data`): otherwise heuristic
  dissectors (Thrift, ...) try truncated payload bytes and report their own warnings;
- checksums are verified (`ip.check_checksum`, `tcp.check_checksum`, ICMP always) only where the
  whole packet was captured — tshark reports a truncated segment's TCP checksum as unverified —
  which still covers every handshake, pure ACK, RST, FIN and ICMP message;
- truncation itself is not malformation: tshark marks it `_ws.short`, not `_ws.malformed`.

Field extraction is used instead of `-z expert` tables because field names are stable across
tshark versions (4.0 in Debian 12) while the table layout and messages are not.
"""

import collections
import functools
import hashlib
import hmac
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile

# Flags of tshark's TCP sequence analysis (FT_NONE fields: present or not) -> our key.
TCP_ANALYSIS = {
    "lost_segment": "tcp.analysis.lost_segment",
    "ack_lost_segment": "tcp.analysis.ack_lost_segment",
    "retransmission": "tcp.analysis.retransmission",
    "fast_retransmission": "tcp.analysis.fast_retransmission",
    "spurious_retransmission": "tcp.analysis.spurious_retransmission",
    "out_of_order": "tcp.analysis.out_of_order",
    "duplicate_ack": "tcp.analysis.duplicate_ack",
    "zero_window": "tcp.analysis.zero_window",
    "zero_window_probe": "tcp.analysis.zero_window_probe",
    "window_full": "tcp.analysis.window_full",
    "window_update": "tcp.analysis.window_update",
    "keep_alive": "tcp.analysis.keep_alive",
    "reused_ports": "tcp.analysis.reused_ports",
}

# Other per-packet fields, in output order after the TCP analysis flags.
_OTHER_FIELDS = [
    ("stream", "tcp.stream"),
    ("malformed", "_ws.malformed"),
    ("severity", "_ws.expert.severity"),
    ("group", "_ws.expert.group"),
    ("message", "_ws.expert.message"),
    ("ip_checksum", "ip.checksum.status"),
    ("tcp_checksum", "tcp.checksum.status"),
    # 0xffff where the computed checksum is 0x0000: the same one's complement zero, which
    # every receiver accepts (RFC 1624 §3); the kernel emits it now and then. Counted apart.
    ("tcp_checksum_ffff", "tcp.checksum.ffff"),
    ("icmp_checksum", "icmp.checksum.status"),
    ("icmpv6_checksum", "icmpv6.checksum.status"),
    # A TCP option whose length runs past the header, or a window scale above 14: the TCP
    # dissector reports these as notes of its "Sequence" group, so they are asked for by name.
    ("option_len", "tcp.option.len.invalid"),
    ("wscale_shift", "tcp.options.wscale.shift.invalid"),
    ("rst", "tcp.flags.reset"),
    ("syn", "tcp.flags.syn"),
    ("fin", "tcp.flags.fin"),
    ("frame", "frame.number"),
]

# epan/proto.h PI_* severities as tshark prints _ws.expert.severity.
SEVERITY = {0x00100000: "comment", 0x00200000: "chat", 0x00400000: "note",
            0x00600000: "warning", 0x00800000: "error"}

# epan/proto.h PI_MALFORMED: "malformed or invalid" expert items of any severity.
GROUP_MALFORMED = 0x07000000

# proto_checksum_enum_e: 0 bad, 1 good, 2 unverified, 3 not present, 4 illegal.
_CHECKSUM_BAD, _CHECKSUM_GOOD = "0", "1"

# Separates occurrences of one field in one packet: not a character of any expert message.
_AGGREGATOR = "\x1f"

_VARIABLE = re.compile(r"(0x|#)[0-9a-fA-F]+")

# How the issue names the two sequence-gap findings.
TCP_ANALYSIS_MESSAGES = {
    "lost_segment": "previous segment not captured",
    "ack_lost_segment": "ACKed unseen segment",
}

# Loss-related analysis that a test injecting loss before the capture point expects.
LOSS_ALLOWED = ("lost_segment",)


class AnalysisError(RuntimeError):
    pass


def tshark_argv(pcap):
    fields = [f for f in TCP_ANALYSIS.values()] + [f for _, f in _OTHER_FIELDS]
    argv = ["tshark", "-r", pcap, "-n", "-d", "tcp.port==1-65535,data",
            "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
            "-o", "tcp.analyze_sequence_numbers:TRUE", "-o", "tcp.relative_sequence_numbers:TRUE",
            "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
            "-E", "aggregator=" + _AGGREGATOR]
    for f in fields:
        argv += ["-e", f]
    return argv


def analyze(pcap, timeout=300, keep_messages=20):
    """Runs tshark over a classic pcap/pcapng file; returns
    {'file', 'packets', 'tcp_packets', 'streams', 'malformed', 'bad_checksum', 'bad_option',
     'checksum_ffff' (TCP checksums 0xffff for 0x0000: valid, not counted as bad),
     'good_checksum' (packets with a checksum tshark verified good and none bad),
     'tcp': {TCP_ANALYSIS key: packets}, 'resets', 'syns', 'fins',
     'severity': {'warning': n, 'error': n, ...}, 'expert': {message: count},
     'errors': {message: count} (expert items of severity error or of the malformed
     group),
     'first': {key: [frame numbers...]} (the first few frames of each problem kind)}."""
    if shutil.which("tshark") is None:
        raise AnalysisError("tshark not found (package tshark)")
    p = subprocess.run(tshark_argv(pcap), capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise AnalysisError("tshark -r %s failed (exit %d): %s" %
                            (pcap, p.returncode, p.stderr.strip()[-2000:]))
    names = list(TCP_ANALYSIS) + [k for k, _ in _OTHER_FIELDS]
    idx = {k: i for i, k in enumerate(names)}
    tcp = collections.Counter()
    severity = collections.Counter()
    expert = collections.Counter()
    errors = collections.Counter()
    first = collections.defaultdict(list)
    streams = set()
    packets = tcp_packets = malformed = bad_checksum = bad_option = resets = syns = fins = 0
    checksum_ffff = good_checksum = 0

    def note(kind, frame):
        if len(first[kind]) < keep_messages:
            first[kind].append(int(frame) if frame.isdigit() else frame)

    for line in p.stdout.splitlines():
        cols = line.split("\t")
        if len(cols) < len(names):
            cols += [""] * (len(names) - len(cols))
        packets += 1
        frame = cols[idx["frame"]]
        if cols[idx["stream"]] != "":
            tcp_packets += 1
            streams.add(cols[idx["stream"]])
        for key in TCP_ANALYSIS:
            if cols[idx[key]] != "":
                tcp[key] += 1
                note(key, frame)
        if cols[idx["malformed"]] != "":
            malformed += 1
            note("malformed", frame)
        checksum_fields = ["ip_checksum", "icmp_checksum", "icmpv6_checksum"]
        if cols[idx["tcp_checksum_ffff"]]:
            checksum_ffff += 1
        else:
            checksum_fields.append("tcp_checksum")
        statuses = [v for k in checksum_fields for v in cols[idx[k]].split(_AGGREGATOR)]
        if _CHECKSUM_BAD in statuses:
            bad_checksum += 1
            note("bad_checksum", frame)
        elif _CHECKSUM_GOOD in statuses:
            good_checksum += 1
        if cols[idx["option_len"]] or cols[idx["wscale_shift"]]:
            bad_option += 1
            note("bad_option", frame)
        if cols[idx["rst"]] in ("1", "True"):
            resets += 1
        if cols[idx["syn"]] in ("1", "True"):
            syns += 1
        if cols[idx["fin"]] in ("1", "True"):
            fins += 1
        sevs = cols[idx["severity"]].split(_AGGREGATOR) if cols[idx["severity"]] else []
        msgs = cols[idx["message"]].split(_AGGREGATOR) if cols[idx["message"]] else []
        groups = cols[idx["group"]].split(_AGGREGATOR) if cols[idx["group"]] else []
        packet_error = False
        # One severity, group and message per expert item, in the same order.
        msgs += [""] * (len(sevs) - len(msgs))
        groups += ["0"] * (len(sevs) - len(groups))
        for sev, group, msg in zip(sevs, groups, msgs):
            try:
                level = SEVERITY.get(int(sev, 0), sev)
            except ValueError:
                level = sev
            try:
                if int(group, 0) == GROUP_MALFORMED and level != "error":
                    level = "error"  # counted with the errors: a malformed-group warning
            except ValueError:
                pass
            severity[level] += 1
            # "Bad checksum [should be 0x7f08]", "Duplicate ACK (#3)": one entry per kind.
            msg = _VARIABLE.sub(lambda m: m.group(1) + "*", msg)
            expert[msg] += 1
            if level == "error":
                errors[msg] += 1
                packet_error = True
        if packet_error:
            note("error", frame)
    return {"file": pcap, "packets": packets, "tcp_packets": tcp_packets,
            "streams": len(streams), "malformed": malformed, "bad_checksum": bad_checksum,
            "bad_option": bad_option, "checksum_ffff": checksum_ffff,
            "good_checksum": good_checksum,
            "resets": resets, "syns": syns, "fins": fins,
            "tcp": {k: tcp.get(k, 0) for k in TCP_ANALYSIS}, "severity": dict(severity),
            "expert": dict(expert), "errors": dict(errors), "first": dict(first)}


def capture_problems(res, allow=()):
    """What breaks the clean-capture rule, as strings (empty: clean). allow: TCP_ANALYSIS keys
    that the test expects (e.g. LOSS_ALLOWED when it dropped packets before the capture)."""
    problems = []
    if res["malformed"]:
        problems.append("%d malformed packet(s), frames %s" %
                        (res["malformed"], res["first"].get("malformed")))
    if res["bad_checksum"]:
        problems.append("%d packet(s) with a bad checksum, frames %s" %
                        (res["bad_checksum"], res["first"].get("bad_checksum")))
    if res["bad_option"]:
        problems.append("%d packet(s) with an invalid TCP option length or window scale, "
                        "frames %s" % (res["bad_option"], res["first"].get("bad_option")))
    for key in ("ack_lost_segment", "lost_segment"):
        if res["tcp"][key] and key not in allow:
            problems.append("%d '%s' (tcp.analysis.%s), frames %s" %
                            (res["tcp"][key], TCP_ANALYSIS_MESSAGES[key], key,
                             res["first"].get(key)))
    if res["errors"]:
        problems.append("%d expert error(s), frames %s: %s" %
                        (sum(res["errors"].values()), res["first"].get("error"),
                         json.dumps(res["errors"], sort_keys=True)[:1500]))
    return problems



def assert_clean(res, allow=()):
    """Raises AssertionError naming every violation of the clean-capture rule."""
    problems = capture_problems(res, allow)
    if problems:
        raise AssertionError("%s: %s" % (res["file"], "; ".join(problems)))
    return res


def summary_line(res):
    """One line for test logs."""
    nonzero = {k: v for k, v in res["tcp"].items() if v}
    return ("%s: %d packets, %d TCP in %d stream(s), malformed %d, bad checksum %d "
            "(0xffff for 0: %d), bad option %d, rst %d, analysis %s" %
            (os.path.basename(res["file"]), res["packets"], res["tcp_packets"], res["streams"],
             res["malformed"], res["bad_checksum"], res["checksum_ffff"], res["bad_option"],
             res["resets"], json.dumps(nonzero, sort_keys=True)))


_HS_FIELDS = ["tcp.stream", "tcp.flags.syn", "tcp.flags.ack", "tcp.flags.reset", "ip.src",
              "ipv6.src", "tcp.srcport", "ip.dst", "ipv6.dst", "tcp.dstport",
              "tcp.options.sack_perm", "tcp.options.timestamp.tsval", "tcp.options.wscale.shift",
              "tcp.options.mss_val", "tcp.options.sack_le", "tcp.len"]


def tcp_handshakes(pcap, timeout=120):
    """Per TCP stream of a capture, what each side offered and what followed:
    {stream: {'client': 'addr:port', 'server': 'addr:port',
              'syn': {'sack_perm', 'timestamps', 'wscale' (shift or None), 'mss'} or None,
              'synack': {...} or None,
              'segments': non-SYN non-RST segments, 'with_ts': of them carrying timestamps,
              'with_sack': of them carrying SACK blocks, 'resets': RST segments}}.
    For checking option negotiation (RFC 7323 §1.3, §2.2, §3.2; RFC 2018 §2) on the wire."""
    argv = ["tshark", "-r", pcap, "-n", "-d", "tcp.port==1-65535,data", "-Y", "tcp",
            "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"]
    for f in _HS_FIELDS:
        argv += ["-e", f]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise AnalysisError("tshark -r %s failed (exit %d): %s" %
                            (pcap, p.returncode, p.stderr.strip()[-2000:]))
    streams = {}
    for line in p.stdout.splitlines():
        c = dict(zip(_HS_FIELDS, line.split("\t") + [""] * len(_HS_FIELDS)))
        st = streams.setdefault(int(c["tcp.stream"]), {
            "client": None, "server": None, "syn": None, "synack": None, "segments": 0,
            "with_ts": 0, "with_sack": 0, "resets": 0})
        src = "%s:%s" % (c["ip.src"] or c["ipv6.src"], c["tcp.srcport"])
        dst = "%s:%s" % (c["ip.dst"] or c["ipv6.dst"], c["tcp.dstport"])
        syn, ack = c["tcp.flags.syn"] in ("1", "True"), c["tcp.flags.ack"] in ("1", "True")
        if c["tcp.flags.reset"] in ("1", "True"):
            st["resets"] += 1
            continue
        opts = {"sack_perm": c["tcp.options.sack_perm"] != "",
                "timestamps": c["tcp.options.timestamp.tsval"] != "",
                "wscale": int(c["tcp.options.wscale.shift"]) if c["tcp.options.wscale.shift"]
                else None,
                "mss": int(c["tcp.options.mss_val"]) if c["tcp.options.mss_val"] else None}
        if syn and not ack:
            st["syn"], st["client"], st["server"] = opts, src, dst
        elif syn:
            st["synack"] = opts
            st["client"], st["server"] = dst, src
        else:
            st["segments"] += 1
            st["with_ts"] += opts["timestamps"]
            st["with_sack"] += c["tcp.options.sack_le"] != ""
    return streams


# --- MPTCP (RFC 8684) ----------------------------------------------------------------------
#
# One tshark pass with the MPTCP dissector's analysis on (tshark 4.0 names, from
# `tshark -G defaultprefs | grep -i mptcp`; the mapping analysis needs TCP sequence analysis with
# relative sequence numbers). Every subflow of a connection must be in the one file, so captures
# of several interfaces of one node are merged first (mergecap). Tokens, IDSNs and MP_JOIN HMACs
# are recomputed here from the keys on the wire and compared with what each side sent and with
# tshark's own mptcp.expected_token / mptcp.expected_idsn.
#
# tshark 4.0 reports "No mapping available" (mptcp.dss.missing_mapping) for every segment
# without payload past the subflow's first byte: pure ACKs of a side that has sent data, and the
# DATA_FIN-only DSS (RFC 8684 §3.3.3: subflow sequence number 0, data-level length 1). Only
# segments that carry payload need a mapping, so only those count as missing_mapping; the rest is
# reported as missing_mapping_no_payload and is no problem.

MPTCP_PREFS = (("tcp.analyze_sequence_numbers", "TRUE"),
               ("tcp.relative_sequence_numbers", "TRUE"),
               ("mptcp.analyze_mptcp", "TRUE"),
               ("mptcp.analyze_mappings", "TRUE"),
               ("mptcp.relative_sequence_numbers", "TRUE"),
               ("mptcp.intersubflows_retransmission", "TRUE"))

# RFC 8684 §7 (IANA): MPTCP option subtypes.
MPTCP_SUBTYPES = {0: "MP_CAPABLE", 1: "MP_JOIN", 2: "DSS", 3: "ADD_ADDR", 4: "REMOVE_ADDR",
                  5: "MP_PRIO", 6: "MP_FAIL", 7: "MP_FASTCLOSE", 8: "MP_TCPRST"}

# Path-manager and error signals, counted per direction (ADD_ADDR_ECHO: ADD_ADDR with E set).
MPTCP_SIGNALS = ("ADD_ADDR", "ADD_ADDR_ECHO", "REMOVE_ADDR", "MP_PRIO", "MP_FAIL",
                 "MP_FASTCLOSE", "MP_TCPRST")

# What mptcp_problems(allow=...) can accept, for tests that cause it on purpose.
MPTCP_ALLOWABLE = ("mp_fail", "fastclose", "tcprst", "rst", "infinite_mapping", "fallback",
                   "join_incomplete", "no_handshake")

DIRECTIONS = ("client>server", "server>client")

# RFC 8684 §3.3.1 / §3.3.2: 64-bit data sequence numbers and data ACKs of one direction count
# from that sender's IDSN; a transfer seen here stays far below 2^48 bytes.
_DSN_RANGE = 1 << 48

_MPTCP_FIELDS = [
    ("frame", "frame.number"),
    ("ip_src", "ip.src"), ("ip6_src", "ipv6.src"), ("sport", "tcp.srcport"),
    ("ip_dst", "ip.dst"), ("ip6_dst", "ipv6.dst"), ("dport", "tcp.dstport"),
    ("stream", "tcp.stream"), ("flags", "tcp.flags"), ("len", "tcp.len"),
    ("mstream", "mptcp.stream"),
    ("subtype", "tcp.options.mptcp.subtype"),
    ("version", "tcp.options.mptcp.version"),
    ("csum_flag", "tcp.options.mptcp.checksumreq.flags"),
    ("sendkey", "tcp.options.mptcp.sendkey"),
    ("recvkey", "tcp.options.mptcp.recvkey"),
    ("recvtok", "tcp.options.mptcp.recvtok"),
    ("sendrand", "tcp.options.mptcp.sendrand"),
    ("trunchmac", "tcp.options.mptcp.sendtrunchmac"),
    ("hmac", "tcp.options.mptcp.sendhmac"),
    ("addrid", "tcp.options.mptcp.addrid"),
    ("backup", "tcp.options.mptcp.backup.flag"),
    ("echo", "tcp.options.mptcp.echo"),
    ("add_ipv4", "tcp.options.mptcp.ipv4"),
    ("add_ipv6", "tcp.options.mptcp.ipv6"),
    ("add_port", "tcp.options.mptcp.port"),
    ("rst_reason", "tcp.options.mptcp.rst_reason"),
    ("map_present", "tcp.options.mptcp.dseqnpresent.flag"),
    ("dsn8", "tcp.options.mptcp.dseqn8.flag"),
    ("dsn", "tcp.options.mptcp.rawdataseqno"),
    ("dlen", "tcp.options.mptcp.datalvllen"),
    ("datafin", "tcp.options.mptcp.datafin.flag"),
    ("ack_present", "tcp.options.mptcp.dataackpresent.flag"),
    ("ack8", "tcp.options.mptcp.dataack8.flag"),
    ("dack", "tcp.options.mptcp.rawdataack"),
    ("exp_token", "mptcp.expected_token"),
    ("exp_idsn", "mptcp.expected_idsn"),
    ("missing", "mptcp.dss.missing_mapping"),
    ("infinite", "mptcp.dss.infinite_mapping"),
    ("reinjection", "mptcp.reinjection_of"),
    ("echoed_key_mismatch", "mptcp.connection.echoed_key_mismatch"),
    ("missing_algorithm", "mptcp.connection.missing_algorithm"),
    ("unsupported_algorithm", "mptcp.connection.unsupported_algorithm"),
    ("malformed", "_ws.malformed"),
    ("severity", "_ws.expert.severity"),
    ("group", "_ws.expert.group"),
    ("message", "_ws.expert.message"),
]
_MF = {k: i for i, (k, _) in enumerate(_MPTCP_FIELDS)}

# tshark's own MPTCP handshake findings, by our name.
_TSHARK_MPTCP_FINDINGS = ("echoed_key_mismatch", "missing_algorithm", "unsupported_algorithm")


@functools.lru_cache(maxsize=256)
def _key_digest(key, version):
    """RFC 8684 §3.1: SHA-256 of the 64-bit key in network order (MPTCP v0, RFC 6824: SHA-1)."""
    algo = hashlib.sha256 if version != 0 else hashlib.sha1
    return algo(struct.pack("!Q", key)).digest()


def mptcp_token(key, version=1):
    """RFC 8684 §3.2: the token is the most significant 32 bits of the key's hash."""
    return struct.unpack("!I", _key_digest(key, version)[:4])[0]


def mptcp_idsn(key, version=1):
    """RFC 8684 §3.1: the IDSN is the least significant 64 bits of the key's hash."""
    return struct.unpack("!Q", _key_digest(key, version)[-8:])[0]


def mptcp_join_hmac(own_key, peer_key, own_rand, peer_rand, version=1):
    """RFC 8684 §3.2: the MP_JOIN HMAC that a host sends, HMAC(Key=(own key + peer key),
    Msg=(own random + peer random)); the SYN/ACK carries its leftmost 64 bits, the third ACK its
    leftmost 160 bits."""
    algo = hashlib.sha256 if version != 0 else hashlib.sha1
    return hmac.new(struct.pack("!QQ", own_key, peer_key), struct.pack("!II", own_rand, peer_rand),
                    algo).digest()


def mptcp_tshark_argv(pcap):
    argv = ["tshark", "-r", pcap, "-n", "-d", "tcp.port==1-65535,data"]
    for name, value in MPTCP_PREFS:
        argv += ["-o", "%s:%s" % (name, value)]
    argv += ["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
             "-E", "aggregator=" + _AGGREGATOR]
    for _, field in _MPTCP_FIELDS:
        argv += ["-e", field]
    return argv


def _num(text):
    """A tshark number (decimal, or 0x.. hex) or None."""
    if not text:
        return None
    try:
        return int(text, 0)
    except ValueError:
        return None


def _nums(text):
    return [n for n in (_num(t) for t in text.split(_AGGREGATOR)) if n is not None] if text \
        else []


def _first_num(text):
    vals = _nums(text)
    return vals[0] if vals else None


class _Subflow:
    """What one TCP stream of the capture showed. 'fwd' is the direction of its SYN's sender
    (host A of an MP_JOIN, the MPTCP client for the MP_CAPABLE subflow)."""

    def __init__(self, index):
        self.index = index
        self.client = self.server = None   # SYN sender / receiver "addr:port"
        self.kind = None                   # 'mp_capable', 'mp_join', or None (no MPTCP SYN seen)
        self.mstream = None
        self.version = None
        self.checksum = None
        self.syn_mptcp = self.synack_mptcp = False
        self.synack_seen = self.ack_seen = False
        self.keys = {"client": None, "server": None}   # MP_CAPABLE subflow only
        self.key_conflicts = 0
        self.join = {}                     # recvtok, rand_a, rand_b, trunchmac, hmac, addr_id...
        self.a_role = None                 # MP_JOIN: 'client' or 'server' (whose SYN it is)
        self.counts = {"fwd": collections.Counter(), "rev": collections.Counter(),
                       "?": collections.Counter()}
        self.data_end = {"fwd": 0, "rev": 0}
        self.add_addr = []

    def way(self, src):
        if self.client is None:
            return "?"
        return "fwd" if src == self.client else "rev"


class _MptcpPass:
    """Folds tshark's per-packet lines into per-subflow records (see analyze_mptcp)."""

    def __init__(self, keep):
        self.keep = keep
        self.subflows = {}
        self.masters = {}          # mptcp.stream -> the _Subflow of its MP_CAPABLE handshake
        self.first = collections.defaultdict(list)
        self.counts = collections.Counter()
        self.errors = collections.Counter()
        self.warnings = collections.Counter()

    def note(self, kind, frame):
        self.counts[kind] += 1
        if len(self.first[kind]) < self.keep:
            self.first[kind].append(frame)

    # Keys, roles.
    def master_of(self, sf):
        if sf.kind == "mp_capable":
            return sf
        return self.masters.get(sf.mstream)

    def role(self, sf, way):
        """'client' or 'server': which end of the MPTCP connection sends in this direction."""
        if way == "?":
            return None
        if sf.kind == "mp_join":
            self.resolve_join(sf)
            a = sf.a_role
        elif sf.kind == "mp_capable":
            a = "client"
        else:
            return None
        if a is None:
            return None
        return a if way == "fwd" else ("server" if a == "client" else "client")

    def resolve_join(self, sf):
        """Host A of an MP_JOIN is the end whose peer's token the SYN carried (RFC 8684 §3.2)."""
        if sf.a_role is not None or sf.join.get("token") is None:
            return
        m = self.master_of(sf)
        if m is None:
            return
        for role in ("server", "client"):
            key = m.keys[role]
            if key is not None and mptcp_token(key, m.version or 1) == sf.join["token"]:
                sf.a_role = "client" if role == "server" else "server"
                return

    @staticmethod
    def idsn(key, version):
        return mptcp_idsn(key, version)

    # One packet.
    def packet(self, c):
        frame = int(c[_MF["frame"]]) if c[_MF["frame"]].isdigit() else c[_MF["frame"]]
        self.counts["packets"] += 1
        self.expert(c, frame)
        if c[_MF["stream"]] == "":
            return
        sf = self.subflows.get(c[_MF["stream"]])
        if sf is None:
            sf = self.subflows[c[_MF["stream"]]] = _Subflow(int(c[_MF["stream"]]))
        src = "%s:%s" % (c[_MF["ip_src"]] or c[_MF["ip6_src"]], c[_MF["sport"]])
        dst = "%s:%s" % (c[_MF["ip_dst"]] or c[_MF["ip6_dst"]], c[_MF["dport"]])
        flags = _num(c[_MF["flags"]]) or 0
        syn, ack, rst, fin = flags & 0x02, flags & 0x10, flags & 0x04, flags & 0x01
        subtypes = [MPTCP_SUBTYPES.get(t, "unknown") for t in _nums(c[_MF["subtype"]])]
        mstream = _first_num(c[_MF["mstream"]])
        if mstream is not None and sf.mstream is None:
            sf.mstream = mstream
        if syn and not ack:
            sf.client, sf.server = src, dst
        elif syn and sf.client is None:
            sf.client, sf.server = dst, src
        way = sf.way(src)
        cnt = sf.counts[way]
        cnt["packets"] += 1
        seglen = _num(c[_MF["len"]]) or 0
        cnt["bytes"] += seglen
        if rst:
            cnt["rst"] += 1
        if fin:
            cnt["fin"] += 1
        if subtypes:
            self.counts["mptcp_packets"] += 1
        if "MP_CAPABLE" in subtypes:
            self.mp_capable(sf, c, frame, way, syn, ack)
        elif syn and ack and sf.kind == "mp_capable":
            sf.synack_seen = True   # a SYN/ACK without MP_CAPABLE: fallback to TCP
        if "MP_JOIN" in subtypes:
            self.mp_join(sf, c, frame, way, syn, ack)
        if "DSS" in subtypes:
            self.dss(sf, c, frame, way, seglen)
        for name in subtypes:
            if name in ("ADD_ADDR", "REMOVE_ADDR", "MP_PRIO", "MP_FAIL", "MP_FASTCLOSE",
                        "MP_TCPRST"):
                if name == "ADD_ADDR" and _first_num(c[_MF["echo"]]):
                    name = "ADD_ADDR_ECHO"
                cnt[name] += 1
                self.note(name, frame)
        if "ADD_ADDR" in subtypes and len(sf.add_addr) < self.keep:
            sf.add_addr.append({"way": way, "frame": frame,
                                "id": _first_num(c[_MF["addrid"]]),
                                "addr": c[_MF["add_ipv4"]] or c[_MF["add_ipv6"]],
                                "port": _first_num(c[_MF["add_port"]]),
                                "echo": bool(_first_num(c[_MF["echo"]]))})
        if "MP_TCPRST" in subtypes:
            cnt["tcprst_reason_%s" % _first_num(c[_MF["rst_reason"]])] += 1
        if c[_MF["infinite"]]:
            cnt["infinite_mapping"] += 1
            self.note("infinite_mapping", frame)
        if c[_MF["reinjection"]]:
            cnt["reinjections"] += 1
        if c[_MF["missing"]]:
            if seglen > 0:
                cnt["missing_mapping"] += 1
                self.note("missing_mapping", frame)
            else:
                cnt["missing_mapping_no_payload"] += 1
        for name in _TSHARK_MPTCP_FINDINGS:
            if c[_MF[name]]:
                self.note(name, frame)

    def mp_capable(self, sf, c, frame, way, syn, ack):
        version = _first_num(c[_MF["version"]])
        if syn:
            sf.kind = sf.kind or "mp_capable"
            if ack:
                sf.synack_mptcp = sf.synack_seen = True
            else:
                sf.syn_mptcp = True
            if version is not None:
                sf.version = version if sf.version is None else min(sf.version, version)
            csum = _first_num(c[_MF["csum_flag"]])
            if csum is not None:
                sf.checksum = bool(csum) if sf.checksum is None else (sf.checksum or bool(csum))
        elif sf.kind == "mp_capable":
            sf.ack_seen = True
        if sf.kind != "mp_capable" or way == "?":
            return
        sender = "client" if way == "fwd" else "server"
        receiver = "server" if sender == "client" else "client"
        for role, field in ((sender, "sendkey"), (receiver, "recvkey")):
            key = _first_num(c[_MF[field]])
            if key is None:
                continue
            if sf.keys[role] is None:
                sf.keys[role] = key
            elif sf.keys[role] != key:
                sf.key_conflicts += 1
                self.note("key_conflict", frame)
        key = _first_num(c[_MF["sendkey"]])
        if key is not None:
            v = sf.version if sf.version is not None else 1
            exp_token, exp_idsn = _first_num(c[_MF["exp_token"]]), _first_num(c[_MF["exp_idsn"]])
            if exp_token is not None and exp_token != mptcp_token(key, v):
                self.note("tshark_token_differs", frame)
            if exp_idsn is not None and exp_idsn != self.idsn(key, v):
                self.note("tshark_idsn_differs", frame)
        if sf.mstream is not None and sf.mstream not in self.masters:
            self.masters[sf.mstream] = sf

    def mp_join(self, sf, c, frame, way, syn, ack):
        j = sf.join
        if syn and not ack:
            sf.kind = "mp_join"
            j.setdefault("syn_frame", frame)
            j["token"] = _first_num(c[_MF["recvtok"]])
            j["rand_a"] = _first_num(c[_MF["sendrand"]])
            j["addr_id_a"] = _first_num(c[_MF["addrid"]])
            j["backup_a"] = bool(_first_num(c[_MF["backup"]]))
        elif syn:
            sf.synack_seen = True
            j.setdefault("synack_frame", frame)
            j["rand_b"] = _first_num(c[_MF["sendrand"]])
            j["trunchmac"] = _first_num(c[_MF["trunchmac"]])
            j["addr_id_b"] = _first_num(c[_MF["addrid"]])
            j["backup_b"] = bool(_first_num(c[_MF["backup"]]))
        elif way == "fwd" and c[_MF["hmac"]]:
            sf.ack_seen = True
            j.setdefault("ack_frame", frame)
            j["hmac"] = c[_MF["hmac"]].split(_AGGREGATOR)[0].replace(":", "").lower()

    def dss(self, sf, c, frame, way, seglen):
        cnt = sf.counts[way]
        mapping = _first_num(c[_MF["map_present"]])
        datafin = _first_num(c[_MF["datafin"]]) or 0
        if datafin:
            cnt["data_fin"] += 1
        role = self.role(sf, way)
        m = self.master_of(sf)
        keys_known = (role is not None and m is not None and m.keys["client"] is not None and
                      m.keys["server"] is not None)
        version = (m.version if m is not None and m.version is not None else 1)
        if mapping:
            cnt["mappings"] += 1
            dsn, dlen = _first_num(c[_MF["dsn"]]), _first_num(c[_MF["dlen"]]) or 0
            if dsn is not None and keys_known:
                idsn = self.idsn(m.keys[role], version)
                if _first_num(c[_MF["dsn8"]]):
                    rel = (dsn - idsn) % (1 << 64)
                    self.dsn_check(cnt, frame, rel)
                else:
                    rel = (dsn - idsn) % (1 << 32)
                # The end of the data-level sequence space this mapping covers (a DATA_FIN takes
                # one number, RFC 8684 §3.3.3; dlen 0 is an infinite mapping).
                if dlen:
                    sf.data_end[way] = max(sf.data_end[way], rel + dlen - (1 if datafin else 0))
            elif dsn is not None:
                cnt["idsn_unchecked"] += 1
        dack = _first_num(c[_MF["dack"]])
        if _first_num(c[_MF["ack_present"]]) and dack is not None:
            if keys_known and _first_num(c[_MF["ack8"]]):
                peer = "server" if role == "client" else "client"
                self.dsn_check(cnt, frame, (dack - self.idsn(m.keys[peer], version)) % (1 << 64))
            elif not keys_known:
                cnt["idsn_unchecked"] += 1

    def dsn_check(self, cnt, frame, rel):
        cnt["idsn_checked"] += 1
        if not 0 < rel < _DSN_RANGE:
            cnt["idsn_bad"] += 1
            self.note("idsn_bad", frame)

    def expert(self, c, frame):
        if c[_MF["malformed"]]:
            self.note("malformed", frame)
        sevs = c[_MF["severity"]].split(_AGGREGATOR) if c[_MF["severity"]] else []
        msgs = c[_MF["message"]].split(_AGGREGATOR) if c[_MF["message"]] else []
        groups = c[_MF["group"]].split(_AGGREGATOR) if c[_MF["group"]] else []
        msgs += [""] * (len(sevs) - len(msgs))
        groups += ["0"] * (len(sevs) - len(groups))
        error = False
        for sev, group, msg in zip(sevs, groups, msgs):
            level = SEVERITY.get(_num(sev), sev)
            if _num(group) == GROUP_MALFORMED:
                level = "error"
            msg = _VARIABLE.sub(lambda m: m.group(1) + "*", msg)
            if level == "error":
                self.errors[msg] += 1
                error = True
            elif level == "warning":
                self.warnings[msg] += 1
        if error:
            self.note("expert_error", frame)


def _merge(pcaps, workdir):
    """One capture file holding every frame of pcaps in time order (mergecap -w)."""
    if len(pcaps) == 1:
        return pcaps[0]
    if shutil.which("mergecap") is None:
        raise AnalysisError("mergecap not found (package wireshark-common, with tshark)")
    out = os.path.join(workdir, "merged.pcapng")
    p = subprocess.run(["mergecap", "-w", out] + list(pcaps), capture_output=True, text=True,
                       timeout=300, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise AnalysisError("mergecap failed (exit %d): %s" % (p.returncode, p.stderr.strip()))
    return out


def _directed(sf, role_of_fwd):
    """sf.counts with 'fwd'/'rev' renamed to client>server / server>client ('?' stays)."""
    out = {}
    for way, cnt in sf.counts.items():
        if way == "?":
            name = "?"
        elif role_of_fwd is None:
            name = "?"
        else:
            fwd_dir = "client>server" if role_of_fwd == "client" else "server>client"
            name = fwd_dir if way == "fwd" else \
                ("server>client" if fwd_dir == "client>server" else "client>server")
        out.setdefault(name, collections.Counter()).update(cnt)
    return out


def _join_verdict(sf, m):
    """Token and HMAC checks of one MP_JOIN subflow against its connection's keys."""
    j = sf.join
    res = {"token": j.get("token"), "token_ok": None, "hmac_synack_ok": None,
           "hmac_ack_ok": None}
    if m is None or m.keys["client"] is None or m.keys["server"] is None:
        return res
    version = m.version if m.version is not None else 1
    tokens = {role: mptcp_token(m.keys[role], version) for role in ("client", "server")}
    res["token_ok"] = j.get("token") in tokens.values()
    if not res["token_ok"] or sf.a_role is None:
        return res
    b_role = "server" if sf.a_role == "client" else "client"
    key_a, key_b = m.keys[sf.a_role], m.keys[b_role]
    if j.get("rand_a") is not None and j.get("rand_b") is not None:
        if j.get("trunchmac") is not None:
            mac_b = mptcp_join_hmac(key_b, key_a, j["rand_b"], j["rand_a"], version)
            res["hmac_synack_ok"] = int.from_bytes(mac_b[:8], "big") == j["trunchmac"]
        if j.get("hmac"):
            mac_a = mptcp_join_hmac(key_a, key_b, j["rand_a"], j["rand_b"], version)
            res["hmac_ack_ok"] = mac_a[:20].hex() == j["hmac"]
    return res


def _subflow_summary(state, sf, m):
    role_of_fwd = state.role(sf, "fwd")
    counts = _directed(sf, role_of_fwd)
    shown = [d for d in counts if d != "?" or counts[d]["packets"]]
    out = {"tcp_stream": sf.index, "kind": sf.kind, "syn_from": role_of_fwd,
           "src": sf.client, "dst": sf.server,
           "established": bool(sf.synack_seen and sf.ack_seen),
           "bytes": {d: counts[d]["bytes"] for d in shown},
           "packets": {d: counts[d]["packets"] for d in shown}}
    if sf.kind == "mp_join":
        out.update(_join_verdict(sf, m))
        out["addr_id"] = sf.join.get("addr_id_a")
        out["backup"] = sf.join.get("backup_a", False)
    data_end = {}
    for way in ("fwd", "rev"):
        role = state.role(sf, way)
        if role is not None and sf.data_end[way]:
            d = "client>server" if role == "client" else "server>client"
            data_end[d] = sf.data_end[way]
    return out, counts, data_end


def _connection_summary(state, mstream, members):
    m = state.masters.get(mstream)
    if m is None:
        m = next((sf for sf in members if sf.kind == "mp_capable"), None)
    version = m.version if m is not None and m.version is not None else None
    conn = {"mptcp_stream": mstream, "version": version,
            "checksum": m.checksum if m is not None else None,
            "client": m.client if m is not None else None,
            "server": m.server if m is not None else None,
            "handshake": m is not None and m.syn_mptcp and m.synack_mptcp,
            "keys": dict(m.keys) if m is not None else {"client": None, "server": None},
            "key_conflicts": m.key_conflicts if m is not None else 0,
            "tokens": {}, "idsn": {}, "subflows": len(members),
            "tcp_streams": sorted(sf.index for sf in members), "subflow_info": []}
    for role, key in conn["keys"].items():
        if key is not None:
            conn["tokens"][role] = mptcp_token(key, version if version is not None else 1)
            conn["idsn"][role] = mptcp_idsn(key, version if version is not None else 1)
    conn["keys_seen"] = sum(1 for k in conn["keys"].values() if k is not None)
    totals = {d: collections.Counter() for d in DIRECTIONS + ("?",)}
    data_bytes = {}
    add_addr = []
    for sf in sorted(members, key=lambda s: s.index):
        info, counts, data_end = _subflow_summary(state, sf, m)
        conn["subflow_info"].append(info)
        for d, cnt in counts.items():
            totals[d].update(cnt)
        for d, end in data_end.items():
            data_bytes[d] = max(data_bytes.get(d, 0), end - 1)
        for a in sf.add_addr:
            role = state.role(sf, a["way"])
            add_addr.append(dict({k: v for k, v in a.items() if k != "way"},
                                 direction=("client>server" if role == "client" else
                                            "server>client" if role == "server" else "?")))
    joins = [s for s in conn["subflow_info"] if s["kind"] == "mp_join"]
    conn["joins"] = {
        "total": len(joins),
        "token_ok": sum(1 for s in joins if s["token_ok"]),
        "token_bad": sum(1 for s in joins if s["token_ok"] is False),
        "token_unchecked": sum(1 for s in joins if s["token_ok"] is None),
        "hmac_ok": sum(1 for s in joins if s["hmac_synack_ok"] and s["hmac_ack_ok"]),
        "hmac_bad": sum(1 for s in joins
                        if s["hmac_synack_ok"] is False or s["hmac_ack_ok"] is False),
        "incomplete": sum(1 for s in joins if not s["established"]),
    }
    dirs = [d for d in DIRECTIONS + ("?",) if totals[d]["packets"] or d != "?"]

    def per_dir(key):
        return {d: totals[d][key] for d in dirs}
    conn["dss"] = {
        "mappings": per_dir("mappings"),
        "missing_mapping": sum(totals[d]["missing_mapping"] for d in dirs),
        "missing_mapping_no_payload": sum(totals[d]["missing_mapping_no_payload"] for d in dirs),
        "infinite_mapping": sum(totals[d]["infinite_mapping"] for d in dirs),
        "reinjections": per_dir("reinjections"),
        "data_fin": per_dir("data_fin"),
        "data_bytes": {d: data_bytes.get(d, 0) for d in DIRECTIONS},
        "idsn_checked": sum(totals[d]["idsn_checked"] for d in dirs),
        "idsn_bad": sum(totals[d]["idsn_bad"] for d in dirs),
        "idsn_unchecked": sum(totals[d]["idsn_unchecked"] for d in dirs),
    }
    conn["signals"] = {name: per_dir(name) for name in MPTCP_SIGNALS}
    conn["tcprst_reasons"] = {k[len("tcprst_reason_"):]: sum(totals[d][k] for d in dirs)
                              for d in dirs for k in totals[d] if k.startswith("tcprst_reason_")}
    conn["add_addr"] = add_addr
    conn["bytes"] = per_dir("bytes")
    conn["resets"] = per_dir("rst")
    conn["fins"] = per_dir("fin")
    return conn


def analyze_mptcp(pcaps, timeout=300, keep=20):
    """tshark's MPTCP analysis of one node's captures (a path or a list of paths, merged in
    time order: every subflow of a connection must be in the analysed file). Returns
    {'files', 'packets', 'mptcp_packets', 'tcp_streams',
     'streams': {mptcp.stream: connection}, 'fallbacks': [tcp streams whose MP_CAPABLE SYN was
       answered without MP_CAPABLE], 'unattached': [MPTCP subflows tshark tied to no
       connection], 'malformed', 'errors': {expert message: n} (severity error or malformed
       group), 'warnings': {message: n}, 'tshark_findings': {echoed_key_mismatch, ...: n},
     'first': {problem kind: [first frames]}}.
    A connection: {'mptcp_stream', 'version', 'checksum' (A flag), 'client', 'server'
       ("addr:port" of the MP_CAPABLE subflow), 'handshake' (MP_CAPABLE SYN and SYN/ACK seen),
       'keys': {'client', 'server'}, 'keys_seen', 'key_conflicts', 'tokens' and 'idsn' (from the
       keys, RFC 8684 §3.1-3.2), 'subflows' (TCP streams of this mptcp.stream), 'tcp_streams',
       'subflow_info': [{'tcp_stream', 'kind' (mp_capable/mp_join), 'syn_from' (client/server),
         'src', 'dst', 'established', 'bytes' and 'packets' per direction, and for MP_JOIN:
         'token', 'token_ok', 'hmac_synack_ok', 'hmac_ack_ok', 'addr_id', 'backup'}],
       'joins': {'total', 'token_ok', 'token_bad', 'token_unchecked', 'hmac_ok', 'hmac_bad',
         'incomplete'},
       'dss': {'mappings', 'reinjections', 'data_fin': per direction; 'missing_mapping'
         (payload segments without a mapping), 'missing_mapping_no_payload', 'infinite_mapping',
         'data_bytes' per direction (data-level sequence space the mappings cover),
         'idsn_checked', 'idsn_bad' (64-bit DSNs and data ACKs not within 2^48 above the
         sender's / the acknowledged side's IDSN), 'idsn_unchecked' (keys unknown)},
       'signals': {ADD_ADDR, ADD_ADDR_ECHO, REMOVE_ADDR, MP_PRIO, MP_FAIL, MP_FASTCLOSE,
         MP_TCPRST: {direction: n}}, 'tcprst_reasons', 'add_addr': [..], 'bytes', 'resets' and
       'fins' per direction}.
    Directions are 'client>server' and 'server>client' of the MPTCP connection (an MP_JOIN
    sent by the server counts as the server's), '?' where the handshake was not captured."""
    if isinstance(pcaps, str):
        pcaps = [pcaps]
    if shutil.which("tshark") is None:
        raise AnalysisError("tshark not found (package tshark)")
    workdir = tempfile.mkdtemp(prefix="braidtest-mptcp-")
    try:
        pcap = _merge(pcaps, workdir)
        p = subprocess.run(mptcp_tshark_argv(pcap), capture_output=True, text=True,
                           timeout=timeout, stdin=subprocess.DEVNULL)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if p.returncode != 0:
        raise AnalysisError("tshark -r %s failed (exit %d): %s" %
                            (pcap, p.returncode, p.stderr.strip()[-2000:]))
    state = _MptcpPass(keep)
    width = len(_MPTCP_FIELDS)
    for line in p.stdout.splitlines():
        cols = line.split("\t")
        if len(cols) < width:
            cols += [""] * (width - len(cols))
        state.packet(cols)
    groups = collections.defaultdict(list)
    fallbacks, unattached = [], []
    for sf in state.subflows.values():
        fallback = (sf.kind == "mp_capable" and sf.syn_mptcp and sf.synack_seen and
                    not sf.synack_mptcp)
        if fallback:
            fallbacks.append(sf.index)
        if sf.mstream is not None:
            groups[sf.mstream].append(sf)
        elif sf.kind is not None and not fallback:
            unattached.append(sf.index)
    return {"files": list(pcaps), "packets": state.counts["packets"],
            "mptcp_packets": state.counts["mptcp_packets"], "tcp_streams": len(state.subflows),
            "streams": {ms: _connection_summary(state, ms, members)
                        for ms, members in sorted(groups.items())},
            "fallbacks": sorted(fallbacks), "unattached": sorted(unattached),
            "malformed": state.counts["malformed"], "errors": dict(state.errors),
            "warnings": dict(state.warnings),
            "tshark_findings": {k: state.counts[k] for k in _TSHARK_MPTCP_FINDINGS},
            "first": dict(state.first)}


def mptcp_problems(res, subflows=None, streams=1, allow=()):
    """What breaks the clean-MPTCP-capture rule, as strings (empty: clean). subflows: the number
    of subflows every connection must have (None: any); streams: the number of MPTCP connections
    the capture must hold (None: any, but at least one); allow: MPTCP_ALLOWABLE names the test
    causes on purpose (e.g. 'tcprst', 'rst' when it cuts a path)."""
    unknown = set(allow) - set(MPTCP_ALLOWABLE)
    if unknown:
        raise ValueError("unknown allow name(s) %s; choose from %s" %
                         (sorted(unknown), MPTCP_ALLOWABLE))
    first = res["first"]
    problems = []
    n = len(res["streams"])
    if n == 0:
        problems.append("no MPTCP connection in %d packets (%d with MPTCP options)" %
                        (res["packets"], res["mptcp_packets"]))
    elif streams is not None and n != streams:
        problems.append("%d MPTCP connections, expected %d" % (n, streams))
    if res["malformed"]:
        problems.append("%d malformed packet(s), frames %s" %
                        (res["malformed"], first.get("malformed")))
    if res["errors"]:
        problems.append("%d expert error(s), frames %s: %s" %
                        (sum(res["errors"].values()), first.get("expert_error"),
                         json.dumps(res["errors"], sort_keys=True)[:1500]))
    for name, count in res["tshark_findings"].items():
        if count:
            problems.append("tshark: %d x mptcp.connection.%s, frames %s" %
                            (count, name, first.get(name)))
    if res["fallbacks"] and "fallback" not in allow:
        problems.append("MP_CAPABLE SYN answered without MP_CAPABLE (fallback to TCP) in TCP "
                        "stream(s) %s" % res["fallbacks"])
    if res["unattached"]:
        problems.append("MPTCP subflow(s) in TCP stream(s) %s belong to no connection" %
                        res["unattached"])
    for kind, what in (("tshark_token_differs", "tshark's expected token"),
                       ("tshark_idsn_differs", "tshark's expected IDSN")):
        if first.get(kind):
            problems.append("%s differs from the key's hash (RFC 8684 §3.1), frames %s" %
                            (what, first[kind]))
    known = {t for c in res["streams"].values() for t in c["tokens"].values()}
    for ms, conn in res["streams"].items():
        problems += _connection_problems(ms, conn, subflows, allow, first, known)
    return problems


def _connection_problems(ms, conn, subflows, allow, first, known_tokens):
    out = []
    label = "MPTCP stream %s" % ms
    orphans = [s for s in conn["subflow_info"] if s["kind"] == "mp_join"]
    if not conn["handshake"] and orphans and "no_handshake" not in allow:
        # tshark ties an MP_JOIN to a connection by its token; these matched none.
        out.append("%s: MP_JOIN subflow(s) %s carry token(s) %s that no MP_CAPABLE handshake "
                   "in the capture derives (known tokens %s; RFC 8684 §3.2)" %
                   (label, [s["tcp_stream"] for s in orphans],
                    sorted({s["token"] for s in orphans}, key=str), sorted(known_tokens)))
    elif conn["keys_seen"] < 2 and "no_handshake" not in allow:
        out.append("%s: %d of 2 keys seen (MP_CAPABLE handshake not captured?)" %
                   (label, conn["keys_seen"]))
    if conn["key_conflicts"]:
        out.append("%s: a side's key changed %d time(s), frames %s" %
                   (label, conn["key_conflicts"], first.get("key_conflict")))
    if subflows is not None and conn["subflows"] != subflows:
        out.append("%s: %d subflow(s), expected %d (TCP streams %s)" %
                   (label, conn["subflows"], subflows, conn["tcp_streams"]))
    j = conn["joins"]
    if j["token_bad"]:
        bad = [(s["tcp_stream"], s["token"]) for s in conn["subflow_info"]
               if s.get("token_ok") is False]
        out.append("%s: %d MP_JOIN SYN(s) with a token matching neither key (RFC 8684 §3.2): "
                   "(tcp stream, token) %s, tokens from keys %s" %
                   (label, j["token_bad"], bad, conn["tokens"]))
    if j["hmac_bad"]:
        bad = [(s["tcp_stream"], s["hmac_synack_ok"], s["hmac_ack_ok"])
               for s in conn["subflow_info"]
               if s.get("hmac_synack_ok") is False or s.get("hmac_ack_ok") is False]
        out.append("%s: MP_JOIN HMAC mismatch (RFC 8684 §3.2): (tcp stream, SYN/ACK ok, "
                   "ACK ok) %s" % (label, bad))
    if j["incomplete"] and "join_incomplete" not in allow:
        out.append("%s: %d MP_JOIN subflow(s) without SYN/ACK or third ACK" %
                   (label, j["incomplete"]))
    d = conn["dss"]
    if d["missing_mapping"]:
        out.append("%s: %d segment(s) with payload and no DSS mapping, frames %s" %
                   (label, d["missing_mapping"], first.get("missing_mapping")))
    if d["idsn_bad"]:
        out.append("%s: %d DSN/data ACK(s) inconsistent with the IDSN, frames %s" %
                   (label, d["idsn_bad"], first.get("idsn_bad")))
    if d["infinite_mapping"] and "infinite_mapping" not in allow:
        out.append("%s: %d infinite mapping(s) (fallback), frames %s" %
                   (label, d["infinite_mapping"], first.get("infinite_mapping")))
    for signal, name in (("MP_FAIL", "mp_fail"), ("MP_FASTCLOSE", "fastclose"),
                         ("MP_TCPRST", "tcprst")):
        total = sum(conn["signals"][signal].values())
        if total and name not in allow:
            out.append("%s: %d %s %s, frames %s" % (label, total, signal,
                                                     conn["signals"][signal],
                                                     first.get(signal)))
    resets = sum(conn["resets"].values())
    if resets and "rst" not in allow:
        out.append("%s: %d TCP RST(s) %s" % (label, resets, conn["resets"]))
    return out


def mptcp_verdict(pcaps, subflows=None, streams=1, allow=(), timeout=300):
    """analyze_mptcp + mptcp_problems: (result dict, problems list; empty = clean)."""
    res = analyze_mptcp(pcaps, timeout=timeout)
    return res, mptcp_problems(res, subflows=subflows, streams=streams, allow=allow)


def mptcp_summary_line(res):
    """One line for test logs."""
    parts = []
    for ms, c in res["streams"].items():
        parts.append("stream %s v%s %d subflow(s), keys %d, joins %d/%d token ok, %d hmac ok, "
                     "mappings %s, missing %d (+%d without payload), infinite %d, reinjections "
                     "%s, data %s, signals %s" %
                     (ms, c["version"], c["subflows"], c["keys_seen"], c["joins"]["token_ok"],
                      c["joins"]["total"], c["joins"]["hmac_ok"],
                      json.dumps(c["dss"]["mappings"]), c["dss"]["missing_mapping"],
                      c["dss"]["missing_mapping_no_payload"], c["dss"]["infinite_mapping"],
                      json.dumps(c["dss"]["reinjections"]), json.dumps(c["dss"]["data_bytes"]),
                      json.dumps({k: v for k, v in c["signals"].items() if any(v.values())})))
    return "%d packets (%d MPTCP), %d TCP stream(s), %d MPTCP connection(s): %s" % (
        res["packets"], res["mptcp_packets"], res["tcp_streams"], len(res["streams"]),
        "; ".join(parts) or "-")
