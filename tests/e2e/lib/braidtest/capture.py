"""Packet captures with dumpcap (package tshark; there is no tcpdump here) inside a node.

One dumpcap per interface (classic pcap holds one link). Classic pcap format: `-F pcap` on
dumpcap >= 4.2, `-P` on older ones such as Debian 12's 4.0. start() returns once the capture is
live (dumpcap writes the 24-byte file header after opening the interface), so traffic started
afterwards is in the file; stop() sends SIGINT (dumpcap flushes and closes the file) and waits a
bounded time before killing it. `-a duration:` stops dumpcap on its own should everything else
fail.
"""

import functools
import os
import re
import signal
import subprocess
import time

from .util import run

PCAP_HEADER_LEN = 24


@functools.lru_cache(maxsize=1)
def dumpcap_format_args():
    p = run(["dumpcap", "-h"], check=False)
    if re.search(r"^\s*-F\s", p.stdout + p.stderr, re.M):
        return ("-F", "pcap")
    return ("-P",)


class Capture:
    def __init__(self, node, ifname, path, snaplen=None, capture_filter=None, max_seconds=600):
        self.node, self.ifname, self.path = node, ifname, path
        self.snaplen, self.capture_filter, self.max_seconds = snaplen, capture_filter, max_seconds
        self.proc = None
        self._errfile = None

    def __repr__(self):
        return "Capture(%s/%s -> %s)" % (self.node.name, self.ifname, self.path)

    def start(self):
        if os.path.exists(self.path):
            os.unlink(self.path)
        argv = ["dumpcap", "-q", "-n", "-i", self.ifname, "-w", self.path,
                "-a", "duration:%d" % self.max_seconds] + list(dumpcap_format_args())
        if self.snaplen:
            argv += ["-s", str(self.snaplen)]
        if self.capture_filter:
            argv += ["-f", self.capture_filter]
        self._errfile = open(self.path + ".log", "w+")
        self.proc = self.node.popen(argv, stdout=subprocess.DEVNULL, stderr=self._errfile)
        return self

    def wait_started(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dumpcap on %s/%s exited (%d): %s" %
                                   (self.node.name, self.ifname, self.proc.returncode,
                                    self._stderr()))
            if os.path.exists(self.path) and os.path.getsize(self.path) >= PCAP_HEADER_LEN:
                return self
            time.sleep(0.02)
        raise RuntimeError("dumpcap on %s/%s did not start within %.0f s: %s" %
                           (self.node.name, self.ifname, timeout, self._stderr()))

    def _stderr(self):
        if not self._errfile:
            return ""
        self._errfile.flush()
        self._errfile.seek(0)
        return self._errfile.read().strip()

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=5.0):
        """Stops dumpcap cleanly (the file is complete when this returns) and returns the path.
        Idempotent."""
        if self.proc is not None:
            self.proc.stop(sig=signal.SIGINT, timeout=timeout)
        if self._errfile:
            log_text = self._stderr()
            self._errfile.close()
            self._errfile = None
            if not log_text:
                try:
                    os.unlink(self.path + ".log")
                except FileNotFoundError:
                    pass
        return self.path

    def packets(self):
        """Number of records in the (stopped) classic pcap file."""
        return sum(1 for _ in iter_pcap(self.path))


def iter_pcap(path):
    """Yields (timestamp, frame bytes) from a classic pcap file (either byte order, us or ns)."""
    import struct
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < PCAP_HEADER_LEN:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError("%s is not a classic pcap file" % path)
    frac = 1e-9 if magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 1e-6
    pos = PCAP_HEADER_LEN
    while pos + 16 <= len(data):
        sec, sub, incl, _orig = struct.unpack(endian + "IIII", data[pos:pos + 16])
        if pos + 16 + incl > len(data):
            break  # truncated last record
        yield sec + sub * frac, data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
