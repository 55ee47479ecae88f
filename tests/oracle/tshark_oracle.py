#!/usr/bin/env python3
"""Checks Braid's wire codecs against Wireshark's dissector (tshark), which we did not write.

The generator (tests/oracle/wire_oracle_gen.cc) encodes one or more frames of every header and
option form with Braid's own emitters, writes them to a pcap, and writes what it encoded as
expectations: for each frame, tshark field names and the values they must show. This script runs
tshark over the pcap and compares field by field, then checks that tshark reports no malformed
packet and no expert error (bad checksums included). It also checks that every form the issue
names is covered, so a form silently dropped from the generator fails the test.

Usage: tshark_oracle.py GENERATOR WORKDIR
Exit: 0 pass, 1 mismatch, 77 skipped (no tshark).
"""
import json
import os
import re
import shutil
import subprocess
import sys

# Every form the generator must cover (names it gives its frames). Keep in step with the issue's
# list: a form missing here or there is a failure, not a silent pass.
REQUIRED_FORMS = [
    "eth", "eth.vlan", "arp.request", "arp.reply",
    "ipv4", "ipv4.options", "ipv4.fragment", "ipv6", "ipv6.ext.hopbyhop", "ipv6.ext.routing",
    "ipv6.ext.fragment", "ipv6.ext.dstopts",
    "icmpv4.echo_request", "icmpv4.echo_reply", "icmpv4.unreachable", "icmpv4.frag_needed",
    "icmpv4.time_exceeded",
    "icmpv6.echo_request", "icmpv6.echo_reply", "icmpv6.unreachable", "icmpv6.packet_too_big",
    "icmpv6.time_exceeded", "icmpv6.ns", "icmpv6.na", "icmpv6.rs", "icmpv6.ra",
    "tcp.syn.options", "tcp.sack", "tcp.unknown_option", "tcp.ipv6",
    "mptcp.mp_capable.syn", "mptcp.mp_capable.synack", "mptcp.mp_capable.ack",
    "mptcp.mp_capable.ack_data", "mptcp.mp_capable.ack_data_csum",
    "mptcp.mp_join.syn", "mptcp.mp_join.synack", "mptcp.mp_join.ack",
    "mptcp.dss.ack32", "mptcp.dss.ack64", "mptcp.dss.map32", "mptcp.dss.map64",
    "mptcp.dss.map_csum", "mptcp.dss.ack_map", "mptcp.dss.data_fin",
    "mptcp.add_addr.v4", "mptcp.add_addr.v4.port", "mptcp.add_addr.v6", "mptcp.add_addr.v6.port",
    "mptcp.add_addr.v4.echo", "mptcp.add_addr.v6.echo",
    "mptcp.remove_addr", "mptcp.mp_prio", "mptcp.mp_fail", "mptcp.mp_fastclose",
    "mptcp.mp_tcprst",
]

AGGREGATOR = "|"

PREFERENCES = [
    "ip.check_checksum:TRUE",
    "tcp.check_checksum:TRUE",
    "tcp.relative_sequence_numbers:FALSE",
    "tcp.analyze_sequence_numbers:FALSE",
    "mptcp.analyze_mptcp:TRUE",
    "mptcp.relative_sequence_numbers:FALSE",
]


def normalize(value):
    """tshark prints integers in decimal or hex (by the field's base) and booleans as words or
    digits; addresses and byte strings as text. Compare numbers as numbers."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    text = str(value).strip()
    low = text.lower()
    if low in ("true", "set"):
        return 1
    if low in ("false", "not set"):
        return 0
    try:
        if low.startswith("0x"):
            return int(low, 16)
        if low.isdigit():
            return int(low)
    except ValueError:
        pass
    # Byte strings: tshark prints some as aa:bb:cc, some as aabbcc; compare without separators.
    if re.fullmatch(r"[0-9a-f]{2}(:[0-9a-f]{2})+", low):
        return low.replace(":", "")
    return low


def run_tshark(pcap, fields, display_filter=None):
    cmd = ["tshark", "-n", "-r", pcap]
    for p in PREFERENCES:
        cmd += ["-o", p]
    if display_filter:
        cmd += ["-Y", display_filter]
    cmd += ["-T", "fields", "-E", "header=n", "-E", "occurrence=a", "-E",
            "aggregator=" + AGGREGATOR, "-E", "separator=\t"]
    for f in fields:
        cmd += ["-e", f]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit("tshark failed (%d): %s\n%s" % (proc.returncode, " ".join(cmd), proc.stderr))
    return [line.split("\t") for line in proc.stdout.splitlines()]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    generator, workdir = sys.argv[1], sys.argv[2]
    if shutil.which("tshark") is None:
        print("SKIPPED: tshark is not installed (scripts/install-deps installs it)")
        return 77
    os.makedirs(workdir, exist_ok=True)
    pcap = os.path.join(workdir, "wire_oracle.pcap")
    expect_path = os.path.join(workdir, "wire_oracle.json")
    subprocess.run([generator, pcap, expect_path], check=True)
    with open(expect_path) as f:
        frames = json.load(f)

    failures = []
    covered = {form for fr in frames for form in fr["forms"]}
    for form in REQUIRED_FORMS:
        if form not in covered:
            failures.append("form %s is not covered by the generator" % form)

    fields = sorted({name for fr in frames for name in fr["fields"]})
    rows = run_tshark(pcap, ["frame.number"] + fields)
    by_number = {int(r[0]): r[1:] for r in rows}
    if len(by_number) != len(frames):
        failures.append("tshark read %d frames, generator wrote %d" % (len(by_number), len(frames)))

    checked = 0
    for number, fr in enumerate(frames, start=1):
        row = by_number.get(number)
        if row is None:
            failures.append("frame %d (%s) missing from tshark output" % (number, "/".join(fr["forms"])))
            continue
        for name, want in fr["fields"].items():
            got_text = row[fields.index(name)]
            got = [normalize(v) for v in got_text.split(AGGREGATOR)] if got_text != "" else []
            want_list = [normalize(v) for v in (want if isinstance(want, list) else [want])]
            checked += 1
            if got != want_list:
                failures.append("frame %d (%s): %s: tshark shows %r, we encoded %r" %
                                (number, "/".join(fr["forms"]), name, got_text, want))

    # Nothing may be malformed, and no expert error (bad checksums are errors when checked).
    bad = run_tshark(pcap, ["frame.number", "_ws.expert.message"],
                     "_ws.malformed || _ws.expert.severity == error")
    for r in bad:
        form = "/".join(frames[int(r[0]) - 1]["forms"]) if int(r[0]) <= len(frames) else "?"
        failures.append("frame %s (%s): tshark reports malformed/error: %s" % (r[0], form, r[1]))

    print("tshark oracle: %d frames, %d forms, %d field comparisons" %
          (len(frames), len(covered), checked))
    if failures:
        print("FAILED (%d):" % len(failures))
        for f in failures:
            print("  " + f)
        return 1
    print("all fields agree; no malformed packets, no expert errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
