"""tshark's verdict on a capture: malformed packets, bad checksums, TCP sequence analysis.

    res = analyze(pcap)                 # one tshark pass (-T fields), a dict of counts
    problems = capture_problems(res, allow=("lost_segment",))
    assert_clean(res)                   # AssertionError listing what is wrong

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
import json
import os
import re
import shutil
import subprocess

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
