#!/usr/bin/env python3
"""The kernel peer: an MPTCP/TCP bulk and echo server and client, and an ICMP ping, in Python
(standard library only), reporting byte counts, SHA-256 of the bytes received and sent, and
throughput as one JSON line per connection.

As a script (run inside a node; the library starts it with `ip netns exec`):
  peer.py server --port P [--bind ADDR] [--family 4|6|dual] [--proto mptcp|tcp]
                 [--mode sink|echo|source] [--bytes N] [--count K] [--timeout S]
                 [--progress FILE [--progress-interval S]]
  peer.py client --connect ADDR --port P [--bind ADDR] [--proto mptcp|tcp]
                 [--mode send|echo|recv] [--bytes N] [--wait-subflows K] [--timeout S]
                 [--progress FILE [--progress-interval S]]
  peer.py ping ADDR [--count N] [--interval S] [--timeout S] [--size B]

Modes are plain byte streams, no framing, so any peer (Braid's apps, iperf-like tools) can talk
to them: a sink reads until EOF and then closes; echo writes back what it reads; source writes
--bytes and then shuts down its sending side. The client's send/echo/recv are the counterparts.
Payload: a fixed pseudo-random block of a prime length (1048573 bytes, seed 1) repeated, so
misplaced data changes the SHA-256. Throughput: receivers count from the first byte to EOF;
senders from the first byte to the peer's EOF (everything delivered).

The server listens on the wildcard address by default (MP_JOIN SYNs arrive at other addresses);
'dual' (default) is an IPv6 socket that also accepts IPv4 (v4-mapped).

Delivery progress (--progress FILE): the receiving side notes when its reads return, as lines
"<CLOCK_MONOTONIC seconds> <bytes received so far>": at most one line per --progress-interval
(default 1 ms) while data flows, plus both ends of every pause between two reads of at least that
long, so the longest stall in delivery is exact to the read. CLOCK_MONOTONIC is the same in
every network namespace: a test compares these times with its own time.monotonic() (when it cut
a path). Connections are separated by a line "# connection N". The done line then also carries
"rx_max_gap_ms" (the longest pause between two reads that returned data) and "progress".
read_progress() reads the file back; longest_gap() and delivery_rate_mbit() measure it.
"""

import argparse
import hashlib
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import threading
import time

IPPROTO_MPTCP = 262
SOL_MPTCP = 284
MPTCP_INFO = 1
BLOCK_LEN = 1048573
SEED = 1
CHUNK = 256 * 1024
SCRIPT = os.path.abspath(__file__)


def python():
    """The interpreter to run this script with inside a node."""
    return sys.executable or "/usr/bin/python3"


# --- the script -----------------------------------------------------------------------------

_pattern = None


def pattern():
    global _pattern
    if _pattern is None:
        block = random.Random(SEED).randbytes(BLOCK_LEN)
        _pattern = memoryview(block + block)
    return _pattern


def emit(obj):
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def proto_number(name):
    return IPPROTO_MPTCP if name == "mptcp" else socket.IPPROTO_TCP


def mptcp_subflows(sock):
    """Additional subflows of an MPTCP socket (mptcp_info.mptcpi_subflows), or None when the
    socket is plain TCP or fell back to TCP."""
    try:
        info = sock.getsockopt(SOL_MPTCP, MPTCP_INFO, 64)
    except OSError:
        return None
    return info[0] if info else None


class Stats:
    def __init__(self, sock, proto):
        self.sock, self.proto = sock, proto
        # Named now: once both FINs have crossed, getpeername() fails (ENOTCONN).
        try:
            self.local = "%s:%d" % sock.getsockname()[:2]
            self.peer = "%s:%d" % sock.getpeername()[:2]
        except OSError:
            self.local = self.peer = None
        self.rx, self.tx = hashlib.sha256(), hashlib.sha256()
        self.bytes_rx = self.bytes_tx = 0
        self.first_rx = self.last_rx = self.first_tx = self.done_tx = None
        self.subflows_max = None
        self._next_poll = 0.0
        self.progress = None

    def poll_mptcp(self, force=False):
        now = time.monotonic()
        if self.proto != "mptcp" or (not force and now < self._next_poll):
            return
        self._next_poll = now + 0.1
        n = mptcp_subflows(self.sock)
        if n is not None:
            self.subflows_max = max(self.subflows_max or 0, n)

    def report(self, role, mode, error=None):
        def rate(nbytes, t0, t1):
            if t0 is None or t1 is None or t1 <= t0:
                return None
            return round(nbytes * 8 / (t1 - t0) / 1e6, 3)
        return {
            "event": "done", "role": role, "mode": mode, "proto": self.proto, "local": self.local,
            "peer": self.peer, "bytes_rx": self.bytes_rx, "sha256_rx": self.rx.hexdigest(),
            "bytes_tx": self.bytes_tx, "sha256_tx": self.tx.hexdigest(),
            "rx_seconds": (round(self.last_rx - self.first_rx, 6)
                           if self.first_rx is not None else None),
            "tx_seconds": (round(self.done_tx - self.first_tx, 6)
                           if self.first_tx is not None and self.done_tx else None),
            "rx_mbit_s": rate(self.bytes_rx, self.first_rx, self.last_rx),
            "tx_mbit_s": rate(self.bytes_tx, self.first_tx, self.done_tx),
            "mptcp": (self.subflows_max is not None) if self.proto == "mptcp" else False,
            "subflows_max": self.subflows_max, "error": error,
        } | (self.progress.report() if self.progress else {})


class Progress:
    """Delivery progress of a receiver (see the module docstring): samples (time, bytes) and
    the longest pause between two reads that returned data."""

    def __init__(self, path, interval):
        self.path, self.interval = path, interval
        self.samples = []
        self.logged_at = None
        self.max_gap = 0.0

    def note(self, prev_t, prev_bytes, now, nbytes):
        """A read returned at `now` with `nbytes` received in all; the one before at prev_t."""
        if prev_t is not None:
            gap = now - prev_t
            self.max_gap = max(self.max_gap, gap)
            if gap >= self.interval and (not self.samples or self.samples[-1][0] != prev_t):
                self.samples.append((prev_t, prev_bytes))
        if self.logged_at is None or now - self.logged_at >= self.interval:
            self.samples.append((now, nbytes))
            self.logged_at = now

    def write(self, index):
        with open(self.path, "a") as f:
            f.write("# connection %d\n" % index)
            f.writelines("%.6f %d\n" % s for s in self.samples)

    def report(self):
        return {"rx_max_gap_ms": round(self.max_gap * 1000, 3), "progress": self.path}


def recv_all(st):
    """Reads until EOF, hashing."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while True:
        n = st.sock.recv_into(buf)
        if n == 0:
            return
        now = time.monotonic()
        if st.first_rx is None:
            st.first_rx = now
        if st.progress:
            st.progress.note(st.last_rx, st.bytes_rx, now, st.bytes_rx + n)
        st.last_rx = now
        st.rx.update(view[:n])
        st.bytes_rx += n
        st.poll_mptcp()


def send_n(st, nbytes, after_first=None):
    """Sends nbytes of the pattern; after_first() runs once the first chunk is sent (the kernel
    only opens more subflows once data has made the connection fully established)."""
    pat = pattern()
    off = 0
    st.first_tx = time.monotonic()
    first = True
    while nbytes > 0:
        if not first and after_first:
            after_first()
            after_first = None
        first = False
        n = min(nbytes, CHUNK if after_first is None else min(CHUNK, 16384))
        chunk = pat[off:off + n]
        st.sock.sendall(chunk)
        st.tx.update(chunk)
        st.bytes_tx += n
        nbytes -= n
        off = (off + n) % BLOCK_LEN
        st.poll_mptcp()


def echo_loop(st):
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    while True:
        n = st.sock.recv_into(buf)
        if n == 0:
            return
        now = time.monotonic()
        if st.first_rx is None:
            st.first_rx = st.first_tx = now
        if st.progress:
            st.progress.note(st.last_rx, st.bytes_rx, now, st.bytes_rx + n)
        st.last_rx = now
        st.rx.update(view[:n])
        st.bytes_rx += n
        st.sock.sendall(view[:n])
        st.tx.update(view[:n])
        st.bytes_tx += n
        st.poll_mptcp()


def family_of(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve(args):
    if args.bind:
        fam, host = family_of(args.bind), args.bind
    elif args.family == "4":
        fam, host = socket.AF_INET, "0.0.0.0"
    else:
        fam, host = socket.AF_INET6, "::"
    ls = socket.socket(fam, socket.SOCK_STREAM, proto_number(args.proto))
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if fam == socket.AF_INET6 and not args.bind:
        ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if args.family == "6" else 0)
    ls.bind((host, args.port))
    ls.listen(16)
    emit({"event": "listening", "port": ls.getsockname()[1], "proto": args.proto,
          "mode": args.mode})
    served = 0
    ls.settimeout(args.accept_timeout)
    while args.count == 0 or served < args.count:
        conn, _ = ls.accept()
        conn.settimeout(args.timeout)
        st = Stats(conn, args.proto)
        if args.progress:
            st.progress = Progress(args.progress, args.progress_interval)
        error = None
        try:
            if args.mode == "sink":
                recv_all(st)
            elif args.mode == "echo":
                echo_loop(st)
            else:  # source
                send_n(st, args.bytes)
                conn.shutdown(socket.SHUT_WR)
                recv_all(st)  # until the client closes: everything was delivered
                st.done_tx = time.monotonic()
        except OSError as e:
            error = "%s: %s" % (type(e).__name__, e)
        st.poll_mptcp(force=True)
        if st.progress:
            st.progress.write(served)
        emit(st.report("server", args.mode, error))
        conn.close()
        served += 1
    ls.close()


def client(args):
    fam = family_of(args.connect)
    s = socket.socket(fam, socket.SOCK_STREAM, proto_number(args.proto))
    s.settimeout(args.timeout)
    if args.dev:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, args.dev.encode())
    if args.bind:
        s.bind((args.bind, 0))
    s.connect((args.connect, args.port))
    st = Stats(s, args.proto)
    if args.progress:
        st.progress = Progress(args.progress, args.progress_interval)
    error = None

    def wait_subflows():
        deadline = time.monotonic() + args.wait_subflows_timeout
        while True:
            n = mptcp_subflows(s)
            if n is not None and n >= args.wait_subflows:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("only %s additional subflow(s) after %.1f s, wanted %d" %
                                   (n, args.wait_subflows_timeout, args.wait_subflows))
            time.sleep(0.01)
    after_first = wait_subflows if args.wait_subflows else None
    try:
        if args.mode == "send":
            send_n(st, args.bytes, after_first)
            if args.hold:
                emit({"event": "holding", "seconds": args.hold})
                time.sleep(args.hold)
            s.shutdown(socket.SHUT_WR)
            recv_all(st)  # the sink closes after reading everything
            st.done_tx = time.monotonic()
        elif args.mode == "recv":
            recv_all(st)
            s.shutdown(socket.SHUT_WR)
        else:  # echo: send in a thread, receive here
            failure = []

            def sender():
                try:
                    send_n(st, args.bytes, after_first)
                    s.shutdown(socket.SHUT_WR)
                except (OSError, TimeoutError) as e:
                    failure.append(e)
            t = threading.Thread(target=sender, daemon=True)
            t.start()
            recv_all(st)
            st.done_tx = time.monotonic()
            t.join(args.timeout)
            if failure:
                raise failure[0]
    except (OSError, TimeoutError) as e:
        error = "%s: %s" % (type(e).__name__, e)
    st.poll_mptcp(force=True)
    if st.progress:
        st.progress.write(0)
    emit(st.report("client", args.mode, error))
    s.close()
    return 0 if error is None else 1


def _csum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


def ping(args):
    """ICMP/ICMPv6 echo over a raw socket (root; the kernel fills the ICMPv6 checksum)."""
    v6 = ":" in args.addr
    s = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_RAW,
                      socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
    ident = os.getpid() & 0xFFFF
    received, rtts = 0, []
    for seq in range(args.count):
        hdr = struct.pack("!BBHHH", 128 if v6 else 8, 0, 0, ident, seq) + b"\xa5" * args.size
        if not v6:
            hdr = hdr[:2] + struct.pack("!H", _csum(hdr)) + hdr[4:]
        t0 = time.monotonic()
        try:
            s.sendto(hdr, (args.addr, 0))
        except OSError:
            time.sleep(args.interval)
            continue
        deadline = t0 + args.timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([s], [], [], left)[0]:
                break
            data, _ = s.recvfrom(65535)
            if not v6:
                data = data[(data[0] & 0x0F) * 4:]
            if len(data) >= 8 and data[0] == (129 if v6 else 0) and \
                    struct.unpack("!HH", data[4:8]) == (ident, seq):
                received += 1
                rtts.append(round((time.monotonic() - t0) * 1000, 3))
                break
        time.sleep(args.interval)
    emit({"event": "ping", "addr": args.addr, "sent": args.count, "received": received,
          "rtt_ms": rtts})
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description="braidtest kernel peer")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("server")
    sp.add_argument("--port", type=int, required=True)
    sp.add_argument("--bind")
    sp.add_argument("--family", choices=["4", "6", "dual"], default="dual")
    sp.add_argument("--proto", choices=["mptcp", "tcp"], default="mptcp")
    sp.add_argument("--mode", choices=["sink", "echo", "source"], default="sink")
    sp.add_argument("--bytes", type=int, default=0)
    sp.add_argument("--count", type=int, default=1, help="connections to serve (0: forever)")
    sp.add_argument("--timeout", type=float, default=30.0, help="idle timeout per connection")
    sp.add_argument("--accept-timeout", type=float, default=120.0)
    cp = sub.add_parser("client")
    cp.add_argument("--connect", required=True)
    cp.add_argument("--port", type=int, required=True)
    cp.add_argument("--bind")
    cp.add_argument("--dev", help="SO_BINDTODEVICE: leave through this interface")
    cp.add_argument("--proto", choices=["mptcp", "tcp"], default="mptcp")
    cp.add_argument("--mode", choices=["send", "echo", "recv"], default="send")
    cp.add_argument("--bytes", type=int, default=0)
    cp.add_argument("--timeout", type=float, default=30.0)
    cp.add_argument("--wait-subflows", type=int, default=0,
                    help="after the first 16 KiB, wait until MPTCP reports this many extra "
                    "subflows before sending the rest (send and echo modes)")
    cp.add_argument("--wait-subflows-timeout", type=float, default=10.0)
    cp.add_argument("--hold", type=float, default=0.0,
                    help="send mode: keep the connection open this long after the last byte "
                    "(to inspect it with ss)")
    for receiver in (sp, cp):
        receiver.add_argument("--progress", help="append delivery progress to this file")
        receiver.add_argument("--progress-interval", type=float, default=0.001,
                              help="seconds between progress lines while data flows")
    pp = sub.add_parser("ping")
    pp.add_argument("addr")
    pp.add_argument("--count", type=int, default=3)
    pp.add_argument("--interval", type=float, default=0.05)
    pp.add_argument("--timeout", type=float, default=1.0)
    pp.add_argument("--size", type=int, default=56)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if args.cmd == "server":
            return serve(args) or 0
        if args.cmd == "client":
            return client(args)
        return ping(args)
    except (OSError, TimeoutError) as e:
        emit({"event": "error", "error": "%s: %s" % (type(e).__name__, e)})
        return 1


# --- library side: run the script in a node ------------------------------------------------

def json_lines(text):
    """The JSON objects of a tool's output, one per line (this script, braid-testapp, tcp_peer);
    other lines (logs) are skipped. Here because this file also runs alone, as a script."""
    out = []
    for line in (text or "").splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


class PeerError(RuntimeError):
    pass


class PeerServer:
    """A running server (see start_server)."""

    def __init__(self, node, proc, port):
        self.node, self.proc, self.port = node, proc, port
        self._out = ""

    def wait_ready(self, timeout=10):
        deadline = time.monotonic() + timeout
        line = b""
        fd = self.proc.stdout
        while time.monotonic() < deadline:
            r = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]
            if not r:
                break
            line = fd.readline()
            if not line:
                break
            msgs = json_lines(line.decode(errors="replace"))
            if msgs and msgs[0].get("event") == "listening":
                return self
            if msgs and msgs[0].get("event") == "error":
                raise PeerError("server on %s: %s" % (self.node.name, msgs[0]["error"]))
        err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None \
            else ""
        raise PeerError("server on %s not listening on port %d within %.0f s: %s %s" %
                        (self.node.name, self.port, timeout, line, err))

    def results(self, timeout=60):
        """Waits for the server to finish its connections; returns their result dicts."""
        import subprocess
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.stop()
            out, err = self.proc.communicate()
            raise PeerError("server on %s did not finish within %.0f s: %s" %
                            (self.node.name, timeout, err.decode(errors="replace")))
        self._out += out.decode(errors="replace")
        res = [m for m in json_lines(self._out) if m.get("event") == "done"]
        errors = [m for m in json_lines(self._out) if m.get("event") == "error"]
        if errors:
            raise PeerError("server on %s: %s" % (self.node.name, errors[0]["error"]))
        return res

    def stop(self):
        return self.proc.stop()


def start_server(node, port, proto="mptcp", mode="sink", family="dual", bind=None, nbytes=0,
                 count=1, timeout=30.0, ready_timeout=10.0, progress=None,
                 progress_interval=None):
    """Starts the peer server in node and waits until it listens. Returns a PeerServer.
    progress: a file for the delivery progress of what it receives (see read_progress)."""
    import subprocess
    argv = [python(), SCRIPT, "server", "--port", str(port), "--proto", proto, "--mode", mode,
            "--family", str(family), "--bytes", str(nbytes), "--count", str(count),
            "--timeout", str(timeout)] + _progress_args(progress, progress_interval)
    if bind:
        argv += ["--bind", bind]
    # Unbuffered: wait_ready reads the first line without swallowing later output that
    # communicate() (raw fd reads) would then miss.
    proc = node.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    return PeerServer(node, proc, port).wait_ready(ready_timeout)


def _progress_args(progress, interval):
    if not progress:
        return []
    return ["--progress", progress] + \
        (["--progress-interval", str(interval)] if interval else [])


def client_argv(addr, port, proto="mptcp", mode="send", nbytes=0, bind=None, dev=None,
                wait_subflows=0, hold=0.0, timeout=30.0, progress=None, progress_interval=None):
    """argv of the peer client (for node.popen when the test does something meanwhile)."""
    argv = [python(), SCRIPT, "client", "--connect", addr, "--port", str(port), "--proto",
            proto, "--mode", mode, "--bytes", str(nbytes), "--timeout", str(timeout)]
    argv += _progress_args(progress, progress_interval)
    if bind:
        argv += ["--bind", bind]
    if dev:
        argv += ["--dev", dev]
    if wait_subflows:
        argv += ["--wait-subflows", str(wait_subflows)]
    if hold:
        argv += ["--hold", str(hold)]
    return argv


def client_result(node, returncode, stdout, stderr="", check=True):
    """The result dict from a finished client's output (PeerError if it failed and check)."""
    msgs = [m for m in json_lines(stdout) if m.get("event") in ("done", "error")]
    res = msgs[-1] if msgs else {"event": "error", "error": stderr.strip()}
    if check and (returncode != 0 or res.get("error")):
        raise PeerError("client on %s failed (exit %s): %s" %
                        (node.name, returncode, res.get("error") or stderr.strip()))
    return res


class PeerClient:
    """A client running in the background (see start_client)."""

    def __init__(self, node, proc):
        self.node, self.proc = node, proc

    def result(self, timeout=60, check=True):
        import subprocess
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.stop()
            out, err = self.proc.communicate()
            raise PeerError("client on %s did not finish within %.0f s: %s" %
                            (self.node.name, timeout, err))
        return client_result(self.node, self.proc.returncode, out, err, check)

    def stop(self):
        return self.proc.stop()


def start_client(node, addr, port, **kwargs):
    """Starts the peer client in the background (kwargs as client_argv); .result() waits."""
    import subprocess
    proc = node.popen(client_argv(addr, port, **kwargs), stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, text=True)
    return PeerClient(node, proc)


def run_client(node, addr, port, proto="mptcp", mode="send", nbytes=0, bind=None, dev=None,
               wait_subflows=0, hold=0.0, timeout=60.0, check=True):
    """Runs the peer client in node to completion; returns its result dict (PeerError if it
    failed and check)."""
    argv = client_argv(addr, port, proto, mode, nbytes, bind, dev, wait_subflows, hold,
                       min(timeout, 30))
    p = node.run(argv, timeout=timeout, check=False)
    return client_result(node, p.returncode, p.stdout, p.stderr, check)


def transfer(src, dst, addr, nbytes, port=5201, proto="mptcp", bind=None, dev=None,
             wait_subflows=0, timeout=60.0):
    """nbytes from node src to a sink on node dst at addr. Returns {'ok', 'bytes', 'mbit_s',
    'sha256_sent', 'sha256_received', 'client', 'server'}; ok means every byte arrived intact."""
    server = start_server(dst, port, proto=proto, mode="sink",
                          family="6" if ":" in addr else "4", timeout=min(timeout, 30))
    try:
        cl = run_client(src, addr, port, proto=proto, mode="send", nbytes=nbytes, bind=bind,
                        dev=dev, wait_subflows=wait_subflows, timeout=timeout)
        sv = server.results(timeout=15)
    finally:
        server.stop()
    if not sv:
        raise PeerError("the server reported no connection")
    sv = sv[0]
    return {"ok": (sv["bytes_rx"] == nbytes and sv["sha256_rx"] == cl["sha256_tx"]
                   and not sv["error"]),
            "bytes": sv["bytes_rx"], "mbit_s": sv["rx_mbit_s"], "sha256_sent": cl["sha256_tx"],
            "sha256_received": sv["sha256_rx"], "client": cl, "server": sv}


def read_progress(path):
    """The delivery progress a peer wrote (--progress): one list of (monotonic seconds, bytes)
    per connection, in order."""
    conns = []
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                conns.append([])
            elif line.strip() and conns:
                t, n = line.split()
                conns[-1].append((float(t), int(n)))
    return conns


def longest_gap(samples, after=None):
    """The longest pause in delivery among progress samples: (seconds, start, end), where
    start/end are the times of the reads around it; with `after` (a monotonic time) only pauses
    that end later (a stall that a path failure at that time caused or overlaps). (0.0, None,
    None) when there is none."""
    best = (0.0, None, None)
    for (t0, n0), (t1, n1) in zip(samples, samples[1:]):
        if n1 <= n0 or (after is not None and t1 <= after):
            continue
        if t1 - t0 > best[0]:
            best = (t1 - t0, t0, t1)
    return best


def delivery_rate_mbit(samples, start, end, step=0.001):
    """Mbit/s delivered between two monotonic times, from progress samples: the least-squares
    slope of the bytes received so far, read every `step` seconds. A slope, not the difference of
    the two ends: an MPTCP receiver delivers in bursts when a hole in the data sequence fills,
    so the bytes at either end of a window jitter by up to a path's queue of data."""
    import bisect
    import statistics
    if end - start < 10 * step or not samples:
        return None
    times = [t for t, _ in samples]
    xs, ys = [], []
    t = start
    while t <= end:
        i = bisect.bisect_right(times, t)
        xs.append(t - start)
        ys.append(samples[i - 1][1] if i else 0)
        t += step
    return statistics.linear_regression(xs, ys).slope * 8 / 1e6


def expected_sha256(nbytes):
    """SHA-256 of the first nbytes of the payload stream (what a sender of nbytes sends)."""
    h = hashlib.sha256()
    pat = pattern()
    off = 0
    while nbytes > 0:
        n = min(nbytes, BLOCK_LEN - off)
        h.update(pat[off:off + n])
        nbytes -= n
        off = (off + n) % BLOCK_LEN
    return h.hexdigest()


if __name__ == "__main__":
    sys.exit(main())
