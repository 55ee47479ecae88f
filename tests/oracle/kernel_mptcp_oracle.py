#!/usr/bin/env python3
"""Kernel MPTCP oracle: Braid's crypto and parsers against the Linux kernel's own packets.

Builds two network namespaces joined by two veth pairs, has the kernel run an MPTCP connection
between them with a second subflow (the server announces its second address with ADD_ADDR, the
client joins it with MP_JOIN), captures the server side with dumpcap in classic pcap format, and
runs the C++ checker (kernel_capture_check) on the capture. The checker recomputes tokens, IDSNs
and HMACs with Braid's code and compares them with what the kernel sent.

One more IPv4 run has both kernels negotiate DSS checksums (net.mptcp.checksum_enabled=1, a
per-namespace sysctl): the checker then also recomputes every DSS checksum with Braid's code. A
copy of that capture with one payload byte flipped must make the checker fail (negative control).

Needs root, `ip netns`, kernel MPTCP and dumpcap (package tshark); without them it prints why and
exits 77, which CTest reports as skipped. Python standard library only.

Usage: kernel_mptcp_oracle.py --checker PATH [--family 4|6|both] [--checksum yes|no|only]
                              [--keep-captures DIR]
"""

import argparse
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

SKIP = 77
IPPROTO_MPTCP = 262
NS_PREFIX = "braid-oracle-"
# Whole-run budget: below the CTest TIMEOUT, so that cleanup runs before CTest kills us.
BUDGET_SECONDS = 150

# The checksum run (IPv4 addresses) uses its own port.
CHECKSUM_PORT = 15203
CHECKSUM_SYSCTL = "net.mptcp.checksum_enabled"

# Documentation prefixes only (RFC 5737, RFC 3849): the traffic never leaves the namespaces.
FAMILIES = {
    "4": {
        "client": ["192.0.2.1/24", "198.51.100.1/24"],
        "server": ["192.0.2.2/24", "198.51.100.2/24"],
        "server_addr": "192.0.2.2",
        "signal_addr": "198.51.100.2",
        "port": 15201,
    },
    "6": {
        "client": ["2001:db8:1::1/64", "2001:db8:2::1/64"],
        "server": ["2001:db8:1::2/64", "2001:db8:2::2/64"],
        "server_addr": "2001:db8:1::2",
        "signal_addr": "2001:db8:2::2",
        "port": 15202,
    },
}

# The kernel's MPTCP server: accepts one connection and echoes everything until the client
# closes. It listens on the wildcard address: the client's MP_JOIN SYN arrives at the second
# address and must find a listener there.
SERVER_CODE = r"""
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
wildcard = "::" if family == socket.AF_INET6 else "0.0.0.0"
s = socket.socket(family, socket.SOCK_STREAM, %(proto)d)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((wildcard, int(sys.argv[2])))
s.listen(1)
print("listening", flush=True)
s.settimeout(60)
c, peer = s.accept()
c.settimeout(60)
total = 0
while True:
    data = c.recv(65536)
    if not data:
        break
    c.sendall(data)
    total += len(data)
c.close()
print("server echoed %%d bytes" %% total, flush=True)
""" % {"proto": IPPROTO_MPTCP}

# The kernel's MPTCP client: one round of data, then waits until the kernel reports a joined
# subflow (MPTCP_INFO's mptcpi_subflows, struct mptcp_info's first byte), then a second round so
# that data and data ACKs also flow after the join, then closes.
CLIENT_CODE = r"""
import socket, sys, time
SOL_MPTCP, MPTCP_INFO = 284, 1
addr, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(family, socket.SOCK_STREAM, %(proto)d)
s.settimeout(30)
s.connect((addr, port))

def exchange(n, fill):
    payload = bytes([fill]) * n
    s.sendall(payload)
    got = b""
    while len(got) < n:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("server closed early after %%d of %%d bytes" %% (len(got), n))
        got += chunk
    if got != payload:
        sys.exit("echo differs from what was sent")

exchange(20000, 0x61)
deadline = time.time() + 15
subflows = 0
while time.time() < deadline:
    subflows = s.getsockopt(SOL_MPTCP, MPTCP_INFO, 64)[0]
    if subflows >= 1:
        break
    time.sleep(0.05)
if subflows < 1:
    sys.exit("no additional subflow joined within 15 s")
exchange(30000, 0x62)
s.shutdown(socket.SHUT_WR)
while s.recv(65536):
    pass
s.close()
print("client done, %%d additional subflow(s)" %% subflows, flush=True)
""" % {"proto": IPPROTO_MPTCP}


class Skip(Exception):
    pass


class Budget(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def run(cmd, check=True, ns=None, timeout=30):
    if ns is not None:
        cmd = ["ip", "netns", "exec", ns] + cmd
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("command failed (%d): %s\n%s%s" %
                           (p.returncode, " ".join(cmd), p.stdout, p.stderr))
    return p


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_namespaces():
    """Deletes namespaces left by an earlier run that was killed (SIGKILL skips cleanup)."""
    p = run(["ip", "netns", "list"], check=False)
    for line in p.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(re.escape(NS_PREFIX) + r"(\d+)-[cs]", name)
        if m and not pid_alive(int(m.group(1))):
            log("removing stale namespace %s" % name)
            # Processes an earlier run left inside (dumpcap, the server) keep the namespace alive.
            pids = run(["ip", "netns", "pids", name], check=False).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            run(["ip", "netns", "del", name], check=False)


def check_prerequisites(checker):
    if not os.path.isfile(checker) or not os.access(checker, os.X_OK):
        # A missing checker is a build problem, not an environment one: fail, do not skip.
        raise RuntimeError("checker binary not found or not executable: %s" % checker)
    if os.geteuid() != 0:
        raise Skip("needs root (network namespaces, captures)")
    for tool in ("ip", "dumpcap"):
        if shutil.which(tool) is None:
            raise Skip("%s not found (package %s)" %
                       (tool, "iproute2" if tool == "ip" else "tshark"))
    if not os.path.exists("/proc/sys/net/mptcp/enabled"):
        raise Skip("the kernel has no MPTCP (/proc/sys/net/mptcp missing)")
    p = run(["ip", "mptcp", "limits", "show"], check=False)
    if p.returncode != 0:
        raise Skip("`ip mptcp` does not work here: %s" % (p.stderr.strip() or p.stdout.strip()))


def dumpcap_format_args():
    """`-F pcap` on dumpcap ≥ 4.2, `-P` (libpcap format) on older ones such as Debian 12's 4.0."""
    p = run(["dumpcap", "-h"], check=False)
    help_text = p.stdout + p.stderr
    if re.search(r"^\s*-F\s", help_text, re.M):
        return ["-F", "pcap"]
    return ["-P"]


class Testbed:
    """Two namespaces, client (c) and server (s), joined by veth pairs c0-s0 and c1-s1."""

    def __init__(self):
        self.client = "%s%d-c" % (NS_PREFIX, os.getpid())
        self.server = "%s%d-s" % (NS_PREFIX, os.getpid())
        self.created = []
        self.procs = []

    def setup(self):
        for ns in (self.client, self.server):
            p = run(["ip", "netns", "add", ns], check=False)
            if p.returncode != 0:
                raise Skip("cannot create a network namespace: %s" % p.stderr.strip())
            self.created.append(ns)
        for i in (0, 1):
            run(["ip", "-n", self.client, "link", "add", "c%d" % i, "type", "veth", "peer",
                 "name", "s%d" % i, "netns", self.server])
        for ns, prefix in ((self.client, "c"), (self.server, "s")):
            run(["ip", "-n", ns, "link", "set", "lo", "up"])
            # Per-namespace sysctls; DAD off so IPv6 addresses are usable at once.
            run(["sysctl", "-q", "-w", "net.mptcp.enabled=1"], ns=ns)
            run(["sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0"], ns=ns, check=False)
            run(["sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0"], ns=ns, check=False)
            for i in (0, 1):
                run(["ip", "-n", ns, "link", "set", "%s%d" % (prefix, i), "up"])
            p = run(["ip", "-n", ns, "mptcp", "limits", "set", "subflows", "2",
                     "add_addr_accepted", "2"], check=False)
            if p.returncode != 0:
                raise Skip("`ip mptcp limits set` failed: %s" % p.stderr.strip())
        for fam in FAMILIES.values():
            for ns, prefix, addrs in ((self.client, "c", fam["client"]),
                                      (self.server, "s", fam["server"])):
                for i, addr in enumerate(addrs):
                    extra = ["nodad"] if ":" in addr else []
                    run(["ip", "-n", ns, "addr", "add", addr, "dev", "%s%d" % (prefix, i)] + extra)

    def spawn(self, ns, cmd, **kwargs):
        p = subprocess.Popen(["ip", "netns", "exec", ns] + cmd, **kwargs)
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, wait=5):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def cleanup(self):
        for p in self.procs:
            try:
                self.stop(p, wait=3)
            except Exception as e:  # keep cleaning up whatever happens
                log("cleanup: %s" % e)
        for ns in self.created:
            p = run(["ip", "netns", "del", ns], check=False)
            if p.returncode != 0:
                log("cleanup: cannot delete namespace %s: %s" % (ns, p.stderr.strip()))
        self.created = []


def wait_for_capture_start(path, proc, timeout=10):
    """dumpcap writes the 24-byte file header once the interface is open."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("dumpcap exited early (%d): %s" %
                               (proc.returncode, proc.stderr.read().decode(errors="replace")))
        if os.path.exists(path) and os.path.getsize(path) >= 24:
            return
        time.sleep(0.05)
    raise RuntimeError("dumpcap did not start capturing into %s" % path)


def sysctl_value(name, ns=None):
    return run(["sysctl", "-n", name], ns=ns).stdout.strip()


def enable_checksums(bed):
    """Sets net.mptcp.checksum_enabled=1 in both namespaces, checking that it is per namespace."""
    host_before = sysctl_value(CHECKSUM_SYSCTL)
    for ns in (bed.client, bed.server):
        run(["sysctl", "-q", "-w", CHECKSUM_SYSCTL + "=1"], ns=ns)
    values = {ns: sysctl_value(CHECKSUM_SYSCTL, ns=ns) for ns in (bed.client, bed.server)}
    host_after = sysctl_value(CHECKSUM_SYSCTL)
    log("%s: client namespace %s, server namespace %s, this namespace %s (was %s)" %
        (CHECKSUM_SYSCTL, values[bed.client], values[bed.server], host_after, host_before))
    if any(v != "1" for v in values.values()):
        raise RuntimeError("%s did not become 1 in the namespaces" % CHECKSUM_SYSCTL)
    if host_after != host_before:
        run(["sysctl", "-q", "-w", "%s=%s" % (CHECKSUM_SYSCTL, host_before)], check=False)
        raise RuntimeError("%s is not per namespace here: setting it in the test namespaces "
                           "changed this one (restored)" % CHECKSUM_SYSCTL)


def tcp_payload_span(frame):
    """(offset, length) of the TCP payload of an Ethernet/IPv4 frame, or None."""
    if len(frame) < 14 + 20 or frame[12:14] != b"\x08\x00":
        return None
    ip = 14
    ihl = (frame[ip] & 0x0F) * 4
    total = struct.unpack("!H", frame[ip + 2:ip + 4])[0]
    if frame[ip + 9] != 6 or len(frame) < ip + total or total < ihl + 20:
        return None
    tcp = ip + ihl
    doff = (frame[tcp + 12] >> 4) * 4
    start, end = tcp + doff, ip + total
    return (start, end - start) if end > start else None


def flip_payload_byte(src, dst, min_payload=100):
    """Copies the classic pcap `src` to `dst` with one TCP payload byte of its first data segment
    (at least `min_payload` bytes) changed. Returns (record index, byte offset in the payload)."""
    data = bytearray(open(src, "rb").read())
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    pos, index = 24, 0
    while pos + 16 <= len(data):
        incl_len = struct.unpack(endian + "I", data[pos + 8:pos + 12])[0]
        frame = bytes(data[pos + 16:pos + 16 + incl_len])
        span = tcp_payload_span(frame)
        if span and span[1] >= min_payload:
            offset = span[1] // 2
            # XOR 1: a ones'-complement sum always sees a change of one bit.
            data[pos + 16 + span[0] + offset] ^= 0x01
            with open(dst, "wb") as f:
                f.write(data)
            return index, offset
        pos += 16 + incl_len
        index += 1
    raise RuntimeError("no TCP segment with %d+ payload bytes in %s" % (min_payload, src))


def negative_control(cmd, captures, workdir):
    """The checksum check must reject a capture whose payload was changed after the kernel
    computed its checksums: only DSS checksum checks may fail."""
    bad = os.path.join(workdir, "corrupted-" + os.path.basename(captures[0]))
    index, offset = flip_payload_byte(captures[0], bad)
    log("negative control: %s with payload byte %d of record #%d flipped" %
        (os.path.basename(bad), offset, index))
    p = subprocess.run(cmd[:1] + [a for a in cmd[1:] if a not in captures] + [bad] + captures[1:],
                       text=True, capture_output=True, timeout=60)
    fails = [l for l in p.stdout.splitlines() if l.startswith("[FAIL]")]
    for l in fails:
        log("  rejected as expected: " + l)
    # "DSS checksum, ..." for the mapping; "DSS checksums verified" too, should an untouched
    # retransmitted copy of the byte also be in the capture.
    ok = (p.returncode == 1 and fails and
          all(l.startswith("[FAIL] DSS checksum") for l in fails))
    if not ok:
        sys.stdout.write(p.stdout + p.stderr)
        log("negative control FAILED: the checker did not reject the flipped byte (exit %d, "
            "%d failed check(s))" % (p.returncode, len(fails)))
    return ok


def run_family(bed, family, checker, workdir, fmt_args, checksum=False):
    fam = FAMILIES[family]
    port = CHECKSUM_PORT if checksum else fam["port"]
    tag = "ipv%s%s" % (family, "-csum" if checksum else "")
    log("=== IPv%s%s: server %s, signal endpoint %s ===" %
        (family, " with DSS checksums" if checksum else "", fam["server_addr"],
         fam["signal_addr"]))
    if checksum:
        enable_checksums(bed)
    run(["ip", "-n", bed.server, "mptcp", "endpoint", "flush"])
    run(["ip", "-n", bed.client, "mptcp", "endpoint", "flush"])
    # The server announces its second address (ADD_ADDR with an HMAC); the client, allowed by
    # add_addr_accepted, opens a subflow to it (MP_JOIN).
    run(["ip", "-n", bed.server, "mptcp", "endpoint", "add", fam["signal_addr"], "dev", "s1",
         "signal"])

    captures = []
    dumpcaps = []
    for ifname in ("s0", "s1"):
        path = os.path.join(workdir, "%s-%s.pcap" % (tag, ifname))
        # -a duration: even if this script is killed outright, dumpcap stops on its own.
        proc = bed.spawn(bed.server, ["dumpcap", "-q", "-i", ifname, "-w", path,
                                      "-a", "duration:%d" % BUDGET_SECONDS] + fmt_args,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for_capture_start(path, proc)
        captures.append(path)
        dumpcaps.append(proc)
    time.sleep(0.3)

    server = bed.spawn(bed.server, [sys.executable, "-c", SERVER_CODE, fam["server_addr"],
                                    str(port)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    line = server.stdout.readline()
    if "listening" not in line:
        raise RuntimeError("server did not start: %s%s" % (line, server.stdout.read()))
    client = run([sys.executable, "-c", CLIENT_CODE, fam["server_addr"], str(port)],
                 ns=bed.client, check=False, timeout=60)
    log("client: %s" % (client.stdout.strip() or client.stderr.strip()))
    try:
        out, _ = server.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        bed.stop(server)
        out = "(timed out)"
    log("server: %s" % out.strip())
    if client.returncode != 0 or server.returncode != 0:
        raise RuntimeError("the kernel MPTCP exchange failed (client %d, server %s)" %
                           (client.returncode, server.returncode))
    nstat = run(["nstat", "-azs"], ns=bed.server, check=False).stdout
    wanted = ("MPCapableSYNRX", "MPJoinSynRx", "MPJoinAckRx", "AddAddrTx", "EchoAdd",
              "MPJoinAckHMacFailure")
    csum_wanted = ("DataCsumErr", "MPFailTx", "MPFailRx")
    if checksum:
        wanted += csum_wanted
    counters = [l.split()[0] + "=" + l.split()[1] for l in nstat.splitlines()
                if l.split() and any(l.split()[0].endswith(w) for w in wanted)]
    log("server MIB: %s" % " ".join(counters))
    csum_errors = 0
    if checksum:
        # Each kernel verified the other's checksums: neither may have counted a bad one.
        client_nstat = run(["nstat", "-azs"], ns=bed.client, check=False).stdout
        csum_counters = [l.split()[:2] for l in (nstat + client_nstat).splitlines()
                         if l.split() and l.split()[0].endswith(csum_wanted)]
        log("client MIB: %s" % " ".join(
            l.split()[0] + "=" + l.split()[1] for l in client_nstat.splitlines()
            if l.split() and l.split()[0].endswith(csum_wanted)))
        csum_errors = sum(int(value) for _, value in csum_counters)

    time.sleep(1.0)  # let the last ACKs and FINs reach the capture
    for p in dumpcaps:
        bed.stop(p, signal.SIGTERM)

    cmd = [checker, "--server", fam["server_addr"], "--signal-address", fam["signal_addr"]]
    if checksum:
        cmd.append("--checksum")
    cmd += captures
    log("$ " + " ".join(cmd))
    p = subprocess.run(cmd, text=True, capture_output=True, timeout=60)
    sys.stdout.write(p.stdout)
    sys.stdout.write(p.stderr)
    sys.stdout.flush()
    if not checksum:
        return p.returncode == 0
    if csum_errors:
        log("FAIL: the kernels counted %d DSS checksum error(s) or MP_FAIL(s)" % csum_errors)
    return p.returncode == 0 and csum_errors == 0 and negative_control(cmd, captures, workdir)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checker", required=True, help="path of kernel_capture_check")
    parser.add_argument("--family", choices=["4", "6", "both"], default="both")
    parser.add_argument("--checksum", choices=["yes", "no", "only"], default="yes",
                        help="add an IPv4 run with DSS checksums (default), skip it, or run "
                        "only it")
    parser.add_argument("--keep-captures", metavar="DIR",
                        help="copy the captures here (they are kept anyway on failure)")
    args = parser.parse_args()

    def on_signal(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)

    def on_alarm(_signum, _frame):
        raise Budget("run exceeded %d s" % BUDGET_SECONDS)

    for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(s, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(BUDGET_SECONDS)

    try:
        check_prerequisites(args.checker)
    except Skip as e:
        print("SKIP: %s" % e, flush=True)
        return SKIP
    except RuntimeError as e:
        print("FAIL: %s" % e, flush=True)
        return 1

    remove_stale_namespaces()
    workdir = tempfile.mkdtemp(prefix="braid-oracle-")
    bed = Testbed()
    ok = False
    try:
        bed.setup()
        fmt_args = dumpcap_format_args()
        families = ["4", "6"] if args.family == "both" else [args.family]
        if args.checksum == "only":
            families = []
        results = {}
        for family in families:
            results["IPv" + family] = run_family(bed, family, args.checker, workdir, fmt_args)
        # Last: the sysctl stays set in the namespaces for the rest of their (short) life.
        if args.checksum != "no":
            results["IPv4 with DSS checksums"] = run_family(bed, "4", args.checker, workdir,
                                                            fmt_args, checksum=True)
        ok = all(results.values())
        log("=== %s: %s ===" % ("PASS" if ok else "FAIL",
                                ", ".join("%s %s" % (f, "ok" if r else "FAILED")
                                          for f, r in results.items())))
        return 0 if ok else 1
    except Skip as e:
        print("SKIP: %s" % e, flush=True)
        ok = True  # nothing worth keeping
        return SKIP
    except (RuntimeError, subprocess.TimeoutExpired, Budget, KeyboardInterrupt) as e:
        print("FAIL: %s" % e, flush=True)
        return 1
    finally:
        signal.alarm(0)
        # Cleanup must not be interrupted by a second signal.
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        bed.cleanup()
        if args.keep_captures:
            os.makedirs(args.keep_captures, exist_ok=True)
            for name in os.listdir(workdir):
                shutil.copy(os.path.join(workdir, name), args.keep_captures)
        if ok:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print("captures kept in %s" % workdir, flush=True)


if __name__ == "__main__":
    sys.exit(main())
