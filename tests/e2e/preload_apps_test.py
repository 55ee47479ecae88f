#!/usr/bin/env python3
"""Unmodified applications on Braid through libbraid_preload.so (CTest label e2e).

  preload_apps_test.py [SCENARIO ...]      (default: every scenario)

Node a runs braid-testapp --serve (the app channel service) with --mptcp on its interfaces of
paths 0, 1 and 2 (subflow endpoints on paths 1 and 2, announced too); the applications in node a
run with LD_PRELOAD=libbraid_preload.so and BRAID_SOCKET naming that service, so their TCP
sockets are Braid's MPTCP sockets. Node b is the Linux kernel with MPTCP; its applications run
under `mptcpize run` so that they speak MPTCP too. Routers between them (Braid is on DPDK).

Scenarios:
  iperf3    iperf3 client on a (shim) -> iperf3 server on b, 64 MiB each way (-n, then -R):
            both ends count the same bytes; the kernel's MPTcpExt shows the joins.
  http      curl on a (shim) fetches a 100 MB file from nginx on b; then nginx on a (shim,
            sendfile on, single process) serves it to curl on b: SHA-256 equal both times.
  redis     redis-server on a (shim, its epoll loop on Braid's sockets) <- redis-benchmark and
            redis-cli on b; then redis-server on b <- the same on a (shim). redis-benchmark runs
            SET, GET, INCR, LPUSH, RPUSH, LPOP, RPOP, SADD, HSET, LRANGE_100 and MSET with 50
            connections, once a round trip per command and once 16 commands a write: exit 0,
            every test with a positive rate, no error text. redis-cli SETs random values (up
            to 1 MiB) and GETs them back byte-exact; INFO counts every command sent and no
            rejected connection; MPTcpExt shows an MPTCP handshake per connection and joins.
  fork      a server that forks per connection (Python's socketserver.ForkingTCPServer, an echo)
            on a (shim) <- 12 clients at once on b, 2 MiB each echoed byte-exact: each parent
            releases the connection it accepted and the child adopts it (the service's
            counters say so for every connection).
  fallback  a testbed without Braid: the same apps with the same LD_PRELOAD and a BRAID_SOCKET
            where no service listens run unchanged on the kernel stack (iperf3, http, redis,
            fork).

Exit 0 pass, 1 fail, 77 skip (not root, no namespaces/MPTCP, braid-testapp or the shim not built,
an application not installed: the reason is printed).
"""

import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "lib"))

import braidtest  # noqa: E402
from braidtest.check import Checker  # noqa: E402

MB = 1 << 20
IPERF_BYTES = 64 * MB
IPERF_BLOCK = 128 * 1024  # iperf3's default TCP block
HTTP_BYTES = 100 * 1000 * 1000
# Bytes the receiving iperf3 may not count (see iperf3_run): the socket buffers' worth.
IN_FLIGHT_SLACK = 8 * MB
IPERF_PORT = 5201
HTTP_PORT = 8080
SCENARIOS = ("iperf3", "http", "redis", "fork", "fallback")
REDIS_APPS = ("redis-server", "redis-benchmark", "redis-cli")
APPS = {"iperf3": ("iperf3",), "http": ("nginx", "curl"), "redis": REDIS_APPS,
        "fork": ("python3",), "fallback": ("iperf3", "nginx", "curl", "python3") + REDIS_APPS}


# --- the shim --------------------------------------------------------------------------------

def find_preload():
    """libbraid_preload.so: $BRAID_PRELOAD_LIB, else the default build tree's."""
    path = os.environ.get("BRAID_PRELOAD_LIB") or os.path.join(
        HERE, "..", "..", "build", "sdk", "preload", "libbraid_preload.so")
    return os.path.abspath(path) if os.path.exists(path) else None


def sanitizer_runtimes(lib):
    """A sanitized shim (a Debug build) needs its runtimes loaded ahead of the application."""
    out = subprocess.run(["ldd", lib], capture_output=True, text=True).stdout
    found = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and ("libasan.so" in parts[0] or "libubsan.so" in parts[0]):
            found.append(parts[2])
    return found


def shim_env(lib, socket_path):
    env = ["LD_PRELOAD=" + ":".join(sanitizer_runtimes(lib) + [lib]),
           "BRAID_SOCKET=" + socket_path, "BRAID_PRELOAD_DEBUG=1",
           # The application's own memory is not ours to judge (LSan in a Debug shim).
           "ASAN_OPTIONS=detect_leaks=0"]
    return ["env"] + env


# --- a testbed with Braid's service on a -----------------------------------------------------

class Bed:
    """3 routed paths; Braid's channel service on a (unless braid=False); kernel MPTCP on b."""

    def __init__(self, check, lib, braid=True):
        self.check, self.lib, self.with_braid = check, lib, braid
        self.tb = braidtest.Testbed(paths=3, router=True)
        self.socket = "@braid/preload-e2e-%d" % os.getpid()
        self.service = None

    def __enter__(self):
        self.tb.__enter__()
        b = self.tb.b
        b.mptcp_enable(True)
        b.mptcp_limits(subflows=8, add_addr_accepted=8)
        if self.with_braid:
            endpoints = []
            for i in (1, 2):
                endpoints += ["--endpoint", "%s,id=%d,subflow,signal" % (self.a_addr(i), i)]
            self.service = braidtest.start_braid(
                self.tb.a, 0, "--serve", self.socket, family=4, more_paths=(1, 2),
                extra=["--mptcp", "--subflows", "4", "--nodelay"] + endpoints)
        return self

    def __exit__(self, *exc):
        return self.tb.__exit__(*exc)

    def a_addr(self, path):
        return self.tb.paths[path].addr("a", 4)

    def b_addr(self, path):
        return self.tb.paths[path].addr("b", 4)

    def on_a(self, cmd):
        """cmd in node a through the shim."""
        return shim_env(self.lib, self.socket) + [str(c) for c in cmd]

    @staticmethod
    def on_b(cmd):
        """cmd in node b speaking MPTCP."""
        return ["mptcpize", "run"] + [str(c) for c in cmd]

    def workfile(self, name):
        return os.path.join(self.tb.workdir, name)

    def joins(self):
        c = self.tb.b.mptcp_counters()
        return c.get("MPJoinSynRx", 0) + c.get("MPJoinSynAckRx", 0)

    def shim_notes(self, text):
        """The shim's decisions (BRAID_PRELOAD_DEBUG) in an app's stderr."""
        return [line for line in text.splitlines() if line.startswith("libbraid_preload[")]


def wait_port(node, port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = node.run(["ss", "-Htln", "sport = :%d" % port], check=False).stdout
        if out.strip():
            return True
        time.sleep(0.1)
    return False


# --- iperf3 ----------------------------------------------------------------------------------

def iperf3_run(check, bed, client_cmd, server_cmd, reverse, what):
    srv = bed.tb.b.popen(server_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not check(wait_port(bed.tb.b, IPERF_PORT), "%s: iperf3 server listens on b" % what):
        return
    args = ["iperf3", "-c", bed.b_addr(0), "-p", IPERF_PORT, "-n", IPERF_BYTES, "-J"]
    if reverse:
        args.append("-R")
    client = bed.tb.a.run(client_cmd(args), timeout=120, check=False)
    out, err = srv.communicate(timeout=30)
    try:
        c = json.loads(client.stdout)
        s = json.loads(out)
    except ValueError:
        check(False, "%s: iperf3 JSON from both ends" % what,
              (client.stdout[-400:], client.stderr[-400:], err[-400:]))
        return
    check(client.returncode == 0 and "error" not in c, "%s: iperf3 client exits 0" % what,
          c.get("error", client.stderr[-400:]))
    sender, receiver = (s, c) if reverse else (c, s)
    sent = sender["end"]["sum_sent"]["bytes"]
    received = receiver["end"]["sum_received"]["bytes"]
    # The server stops counting when the client's TEST_END arrives on the control connection,
    # which may overtake the last bytes still in flight on the data connection: it counts up
    # to those fewer (the kernel alone does the same, by its socket buffers' worth). The sender
    # may write one block (128 KiB) past -n before it sees the count reached.
    check(IPERF_BYTES <= sent <= IPERF_BYTES + IPERF_BLOCK and
          IPERF_BYTES - IN_FLIGHT_SLACK <= received <= sent,
          "%s: %d MiB sent, received but for the last bytes in flight" % (what, IPERF_BYTES // MB),
          (sent, received))
    check.info("%s: %.0f Mbit/s" % (what, receiver["end"]["sum_received"]["bits_per_second"] / 1e6))
    return client.stderr


def scenario_iperf3(check, lib):
    with Bed(check, lib) as bed:
        for reverse in (False, True):
            what = "iperf3 a(shim) %s b" % ("<-" if reverse else "->")
            before = bed.joins()
            err = iperf3_run(check, bed, bed.on_a,
                             bed.on_b(["iperf3", "-s", "-1", "-p", IPERF_PORT, "-J"]),
                             reverse, what)
            notes = bed.shim_notes(err or "")
            check(notes and all(n.endswith(": Braid") for n in notes),
                  "%s: every socket of the client on Braid" % what, notes)
            check(bed.joins() - before >= 2, "%s: MPTcpExt joins on b" % what,
                  bed.joins() - before)
        errors = bed.service.errors()
        check(not errors, "Braid service: no errors", errors)


# --- curl <-> nginx --------------------------------------------------------------------------

NGINX_CONF = """daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx-{name}.pid;
error_log {dir}/nginx-{name}.log info;
events {{ worker_connections 64; }}
http {{
  access_log off;
  sendfile on;
  client_body_temp_path {dir}/tmp-{name};
  proxy_temp_path {dir}/tmp-{name};
  fastcgi_temp_path {dir}/tmp-{name};
  uwsgi_temp_path {dir}/tmp-{name};
  scgi_temp_path {dir}/tmp-{name};
  server {{
    listen {port};
    root {dir}/www;
  }}
}}
"""


def make_site(bed):
    """{workdir}/www/big.bin: HTTP_BYTES of a seeded stream; returns its SHA-256."""
    www = bed.workfile("www")
    os.makedirs(www, exist_ok=True)
    digest = hashlib.sha256()
    with open(os.path.join(www, "big.bin"), "wb") as f:
        block = hashlib.sha256(b"braid").digest() * 2048  # 64 KiB
        left = HTTP_BYTES
        counter = 0
        while left > 0:
            chunk = (counter.to_bytes(8, "little") + block)[:min(left, len(block) + 8)]
            f.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
            counter += 1
    return digest.hexdigest()


def start_nginx(bed, node, name, wrap):
    conf = bed.workfile("nginx-%s.conf" % name)
    os.makedirs(bed.workfile("tmp-%s" % name), exist_ok=True)
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(dir=bed.tb.workdir, name=name, port=HTTP_PORT))
    err = open(bed.workfile("nginx-%s.stderr" % name), "w")
    proc = node.popen(wrap(["nginx", "-p", bed.tb.workdir, "-c", conf, "-e",
                            bed.workfile("nginx-%s.log" % name)]),
                      stdout=subprocess.DEVNULL, stderr=err)
    return proc


def curl_fetch(check, bed, node, wrap, addr, name, want, what):
    out = bed.workfile("curl-%s.bin" % name)
    r = node.run(wrap(["curl", "-sS", "--max-time", "90", "-o", out,
                       "http://%s:%d/big.bin" % (addr, HTTP_PORT)]), timeout=120, check=False)
    check(r.returncode == 0, "%s: curl exits 0" % what, r.stderr[-400:])
    got = sha256_file(out) if os.path.exists(out) else None
    size = os.path.getsize(out) if os.path.exists(out) else 0
    check(got == want, "%s: %d bytes, SHA-256 equal" % (what, HTTP_BYTES), (size, (got or "")[:16]))
    return r.stderr


def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def http_both_ways(check, bed, wrap_a, wrap_b, tag):
    want = make_site(bed)
    # nginx on b, curl on a.
    what = "%s curl a -> nginx b" % tag
    before = bed.joins()
    nginx_b = start_nginx(bed, bed.tb.b, "b-" + tag, wrap_b)
    if check(wait_port(bed.tb.b, HTTP_PORT), "%s: nginx listens on b" % what):
        err = curl_fetch(check, bed, bed.tb.a, wrap_a, bed.b_addr(0), "a-" + tag, want, what)
        if bed.with_braid:
            notes = bed.shim_notes(err)
            check(notes and all(n.endswith(": Braid") for n in notes),
                  "%s: curl's socket on Braid" % what, notes)
            check(bed.joins() - before >= 2, "%s: MPTcpExt joins on b" % what,
                  bed.joins() - before)
    nginx_b.stop()
    # nginx on a, curl on b.
    what = "%s nginx a -> curl b" % tag
    before = bed.joins()
    nginx_a = start_nginx(bed, bed.tb.a, "a-" + tag, wrap_a)
    time.sleep(1.0)  # a Braid listener is not in a's `ss`: give nginx its moment
    curl_fetch(check, bed, bed.tb.b, wrap_b, bed.a_addr(0), "b-" + tag, want, what)
    if bed.with_braid:
        check(bed.joins() - before >= 1, "%s: MPTcpExt joins on b" % what, bed.joins() - before)
        with open(bed.workfile("nginx-a-%s.stderr" % tag)) as f:
            notes = bed.shim_notes(f.read())
        check(notes and all(n.endswith(": Braid") for n in notes),
              "%s: nginx's listener on Braid" % what, notes)
    check(nginx_a.poll() is None, "%s: nginx still running" % what)
    nginx_a.stop()


def scenario_http(check, lib):
    with Bed(check, lib) as bed:
        http_both_ways(check, bed, bed.on_a, bed.on_b, "braid")
        errors = bed.service.errors()
        check(not errors, "Braid service: no errors", errors)


# --- redis-benchmark <-> redis-server --------------------------------------------------------

REDIS_PORT = 6390
# Every command the benchmark has for strings, lists, sets and hashes; lrange_100 first fills
# its list with an LPUSH test of its own.
REDIS_TESTS = "set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,lrange_100,mset"
REDIS_CSV_TESTS = ("SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP", "RPOP", "SADD", "HSET",
                   "LPUSH (needed to benchmark LRANGE)", "LRANGE_100 (first 100 elements)",
                   "MSET (10 keys)")
REDIS_CLIENTS = 50
# (requests per test, pipeline depth): a round trip per command, then 16 commands per write.
REDIS_RUNS = ((20000, 1), (100000, 16))
REDIS_FALLBACK_RUNS = ((5000, 1), (20000, 16))
# Text redis-benchmark prints when the server answers an error or a connection fails.
REDIS_ERROR_TEXT = ("ERR", "Error", "Connection reset")
# Sizes of the values SET and read back with redis-cli, random bytes (any of the 256 values).
REDIS_VALUE_SIZES = (1, 1000, 64 * 1024, MB)


def start_redis(bed, node, addr, name, wrap):
    """redis-server on node bound to addr: no persistence, no protected mode, epoll-driven (its
    ae loop); its log in the workdir, its stderr (the shim's notes) in redis-NAME.stderr."""
    err = open(bed.workfile("redis-%s.stderr" % name), "w")
    return node.popen(wrap(["redis-server", "--bind", addr, "--port", REDIS_PORT,
                            "--save", "", "--appendonly", "no", "--protected-mode", "no",
                            "--dir", bed.tb.workdir, "--logfile",
                            bed.workfile("redis-%s.log" % name)]),
                      stdout=subprocess.DEVNULL, stderr=err)


def redis_cli(node, wrap, addr, args, value=None, timeout=60):
    """redis-cli ARGS against addr (value: its last argument, read from stdin with -x); the
    CompletedProcess with bytes stdout/stderr (a stalled one raises TimeoutExpired)."""
    cmd = wrap(["redis-cli", "--raw", "-h", addr, "-p", REDIS_PORT] +
               (["-x"] if value is not None else []) + list(args))
    return subprocess.run(node.argv(cmd), input=value if value is not None else b"",
                          capture_output=True, timeout=timeout)


def wait_redis(node, wrap, addr, timeout=30):
    """PING until PONG: a Braid listener is not in the node's `ss`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if redis_cli(node, wrap, addr, ["PING"], timeout=10).stdout.strip() == b"PONG":
                return True
        except subprocess.TimeoutExpired:
            pass
        time.sleep(0.2)
    return False


def redis_info(node, wrap, addr):
    """The server's INFO stats as {name: int}."""
    out = redis_cli(node, wrap, addr, ["INFO", "stats"]).stdout.decode(errors="replace")
    stats = {}
    for line in out.splitlines():
        name, _, value = line.strip().partition(":")
        if value.lstrip("-").isdigit():
            stats[name] = int(value)
    return stats


def redis_benchmark(check, bed, node, wrap, addr, requests, pipeline, what):
    """One redis-benchmark run of REDIS_TESTS with REDIS_CLIENTS connections: exit 0, every test
    in its CSV with a positive rate, no error text. Returns its stderr (the shim's notes)."""
    r = node.run(wrap(["redis-benchmark", "-h", addr, "-p", REDIS_PORT, "-c", REDIS_CLIENTS,
                       "-n", requests, "-P", pipeline, "-t", REDIS_TESTS, "--csv"]),
                 timeout=300, check=False)
    err = [line for line in r.stderr.splitlines() if not line.startswith("libbraid_preload[")]
    check(r.returncode == 0, "%s: redis-benchmark exits 0" % what,
          "" if r.returncode == 0 else (r.returncode, err[-5:]))
    rates = {}
    for row in csv.reader(r.stdout.splitlines()):
        if len(row) >= 2 and row[0] != "test":
            try:
                rates[row[0]] = float(row[1])
            except ValueError:
                pass
    missing = [t for t in REDIS_CSV_TESTS if rates.get(t, 0) <= 0]
    check(not missing, "%s: %d tests x %d requests, each with a positive rate" %
          (what, len(REDIS_CSV_TESTS), requests), ("missing %s" % missing) if missing else "")
    found = [e for e in REDIS_ERROR_TEXT if e in r.stdout + "\n".join(err)]
    check(not found, "%s: no error in redis-benchmark's output" % what, found or "")
    check.info("%s: %s" % (what, ", ".join("%s %.0f/s" % (t.split()[0], rates[t])
                                            for t in REDIS_CSV_TESTS if t in rates)))
    return r.stderr


def redis_values(check, bed, node, wrap, addr, what):
    """SET random values with redis-cli, GET them back: byte-exact. Returns the shim's notes."""
    notes = []
    for size in REDIS_VALUE_SIZES:
        key = "braid:value:%d" % size
        value = os.urandom(size)
        put = redis_cli(node, wrap, addr, ["SET", key], value=value)
        got = redis_cli(node, wrap, addr, ["GET", key])
        # --raw ends each reply with a newline.
        ok = put.stdout == b"OK\n" and got.stdout == value + b"\n"
        check(ok, "%s: SET and GET of %d random bytes, byte-exact" % (what, size),
              "" if ok else (put.stdout[:40], len(got.stdout), (put.stderr + got.stderr)[-300:]))
        for r in (put, got):
            notes += bed.shim_notes(r.stderr.decode(errors="replace"))
    return notes


def redis_session(check, bed, client, wrap, addr, runs, what):
    """The benchmark runs and the value check against the redis-server at addr, from client;
    then the server's INFO stats. Returns the shim's notes of the client side."""
    before = redis_info(client, wrap, addr)
    notes = []
    for requests, pipeline in runs:
        err = redis_benchmark(check, bed, client, wrap, addr, requests, pipeline,
                              "%s -P %d" % (what, pipeline))
        notes += bed.shim_notes(err)
    notes += redis_values(check, bed, client, wrap, addr, what)
    after = redis_info(client, wrap, addr)
    sent = sum(requests for requests, _ in runs) * len(REDIS_CSV_TESTS)
    done = after.get("total_commands_processed", 0) - before.get("total_commands_processed", 0)
    check(done >= sent, "%s: INFO total_commands_processed grew by the %d commands sent" %
          (what, sent), done)
    check(after.get("rejected_connections") == 0, "%s: INFO rejected_connections 0" % what,
          after.get("rejected_connections"))
    return notes


def redis_connections(runs):
    """The connections redis-benchmark opens in runs: REDIS_CLIENTS new ones for every test."""
    return len(runs) * len(REDIS_CSV_TESTS) * REDIS_CLIENTS


def mptcp_delta(bed, before):
    """MPTcpExt counters of b that grew since before."""
    now = bed.tb.b.mptcp_counters()
    return {k: v - before.get(k, 0) for k, v in now.items() if v != before.get(k, 0)}


def redis_server_on_a(check, bed, wrap_a, wrap_b, runs, tag):
    """redis-server on a, redis-benchmark and redis-cli on b."""
    what = "%s redis b -> a" % tag
    before = bed.tb.b.mptcp_counters()
    server = start_redis(bed, bed.tb.a, bed.a_addr(0), "a-" + tag, wrap_a)
    if check(wait_redis(bed.tb.b, wrap_b, bed.a_addr(0)), "%s: redis-server answers on a" % what):
        redis_session(check, bed, bed.tb.b, wrap_b, bed.a_addr(0), runs, what)
        if bed.with_braid:
            # b joins the addresses Braid announces: two a connection, one at least on average.
            connections = redis_connections(runs)
            delta = mptcp_delta(bed, before)
            check(delta.get("MPCapableSYNACKRX", 0) >= connections and
                  delta.get("MPJoinSynAckRx", 0) >= connections and
                  not delta.get("MPCapableFallbackSYNACK"),
                  "%s: MPTcpExt on b: %d MP_CAPABLE SYN/ACKs, joins" % (what, connections), delta)
            with open(bed.workfile("redis-a-%s.stderr" % tag)) as f:
                notes = bed.shim_notes(f.read())
            check(notes and all(n.endswith(": Braid") for n in notes),
                  "%s: redis-server's listener on Braid" % what, notes)
    check(server.poll() is None, "%s: redis-server still running" % what)
    server.stop()


def redis_server_on_b(check, bed, wrap_a, wrap_b, runs, tag):
    """redis-server on b, redis-benchmark and redis-cli on a."""
    what = "%s redis a -> b" % tag
    before = bed.tb.b.mptcp_counters()
    server = start_redis(bed, bed.tb.b, bed.b_addr(0), "b-" + tag, wrap_b)
    if check(wait_port(bed.tb.b, REDIS_PORT), "%s: redis-server listens on b" % what):
        notes = redis_session(check, bed, bed.tb.a, wrap_a, bed.b_addr(0), runs, what)
        if bed.with_braid:
            connections = redis_connections(runs)
            others = [n for n in notes if not n.endswith(": Braid")]
            check(len(notes) >= connections and not others,
                  "%s: every socket of the clients on Braid" % what,
                  "%d sockets%s" % (len(notes), (", not: %s" % others) if others else ""))
            # Braid joins from paths 1 and 2: two a connection, one at least on average.
            delta = mptcp_delta(bed, before)
            check(delta.get("MPCapableSYNRX", 0) >= connections and
                  delta.get("MPCapableACKRX", 0) >= connections and
                  delta.get("MPJoinSynRx", 0) >= connections and
                  not delta.get("MPCapableFallbackACK"),
                  "%s: MPTcpExt on b: %d MP_CAPABLE handshakes, joins" % (what, connections), delta)
            # Each client connection announces a's two other addresses on a join listener of
            # its own, closed with it: leaked, they ran out after ~128 connections.
            check(delta.get("AddAddr", 0) >= 2 * connections,
                  "%s: b received both ADD_ADDRs of every connection" % what,
                  delta.get("AddAddr", 0))
    check(server.poll() is None, "%s: redis-server still running" % what)
    server.stop()


def scenario_redis(check, lib):
    with Bed(check, lib) as bed:
        redis_server_on_a(check, bed, bed.on_a, bed.on_b, REDIS_RUNS, "braid")
        redis_server_on_b(check, bed, bed.on_a, bed.on_b, REDIS_RUNS, "braid")
        errors = bed.service.errors()
        check(not errors, "Braid service: no errors", errors)


# --- a server that forks per connection ------------------------------------------------------

FORK_PORT = 7007
FORK_CONNECTIONS = 12
FORK_BYTES = 2 * MB

# Python's own ForkingTCPServer: the parent accepts, forks, closes its copy; the child echoes
# every byte until the client's FIN, then shuts down and exits.
FORK_SERVER = r"""
import socketserver, sys
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                break
            self.request.sendall(data)
class Server(socketserver.ForkingTCPServer):
    allow_reuse_address = True
    max_children = 64
with Server((sys.argv[1], int(sys.argv[2])), Echo) as srv:
    print("listening", flush=True)
    srv.serve_forever()
"""

# Connections at once, each sending its bytes while reading the echo; one JSON line per
# connection: bytes back and whether they equal what was sent.
FORK_CLIENT = r"""
import hashlib, json, os, socket, sys, threading
host, port, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
results = [None] * count
def one(i):
    data = os.urandom(size)
    try:
        s = socket.create_connection((host, port), timeout=60)
        def send():
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        t = threading.Thread(target=send)
        t.start()
        got = bytearray()
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        t.join()
        s.close()
        results[i] = {"bytes": len(got), "ok": hashlib.sha256(got).digest() == hashlib.sha256(data).digest()}
    except OSError as e:
        results[i] = {"error": str(e)}
threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(results))
"""


def fork_echo(check, bed, what, braid=True):
    """The forking echo server on a (through the shim), FORK_CONNECTIONS clients at once on b."""
    server_py = bed.workfile("fork_server.py")
    client_py = bed.workfile("fork_client.py")
    with open(server_py, "w") as f:
        f.write(FORK_SERVER)
    with open(client_py, "w") as f:
        f.write(FORK_CLIENT)
    srv = bed.tb.a.popen(bed.on_a(["python3", server_py, bed.a_addr(0), FORK_PORT]),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    r = None
    before = bed.joins()
    try:
        if check(srv.stdout.readline().strip() == "listening",
                 "%s: forking echo server (python3 ForkingTCPServer, shim) listens on a" % what):
            r = bed.tb.b.run(bed.on_b(["python3", client_py, bed.a_addr(0), FORK_PORT,
                                       FORK_CONNECTIONS, FORK_BYTES]), timeout=180, check=False)
    finally:
        srv.terminate()
        try:
            _, server_err = srv.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            srv.kill()
            _, server_err = srv.communicate()
    if r is None:
        return
    try:
        results = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        results = []
    good = [x for x in results if x and x.get("ok") and x.get("bytes") == FORK_BYTES]
    server_notes = [line for line in server_err.splitlines()
                    if not line.startswith("libbraid_preload[")]
    check(len(good) == FORK_CONNECTIONS,
          "%s: %d connections from b (kernel MPTCP), each served by a forked child on a: "
          "%d MiB echoed byte-exact" % (what, FORK_CONNECTIONS, FORK_BYTES // MB),
          (r.stderr[-400:], [x for x in results if x not in good][:3], server_notes[-10:]))
    if braid:
        check(bed.joins() - before >= FORK_CONNECTIONS,
              "%s: MPTcpExt joins on b for the connections" % what, bed.joins() - before)


def scenario_fork(check, lib):
    with Bed(check, lib) as bed:
        fork_echo(check, bed, "fork")
        summary = bed.service.stop()
        channel = (summary or {}).get("channel") or {}
        check.info("service channel counters: %s" % json.dumps(
            {k: v for k, v in channel.items() if v}, sort_keys=True))
        check(channel.get("adopted", 0) == FORK_CONNECTIONS and
              channel.get("releases_closed", 0) == 0 and channel.get("adopt_refused", 0) == 0,
              "service: every connection moved from the parent to its child (kRelease, kAdopt)",
              {k: channel.get(k) for k in ("released", "adopted", "adopt_refused",
                                           "releases_closed")})
        check(channel.get("apps_attached", 0) >= FORK_CONNECTIONS + 1,
              "service: the parent and each child attached a channel of its own",
              channel.get("apps_attached"))


# --- the kernel fallback ---------------------------------------------------------------------

def scenario_fallback(check, lib):
    with Bed(check, lib, braid=False) as bed:
        bed.socket = "@braid/preload-e2e-nobody-%d" % os.getpid()
        for reverse in (False, True):
            what = "fallback iperf3 a %s b" % ("<-" if reverse else "->")
            iperf3_run(check, bed, bed.on_a,
                       bed.on_b(["iperf3", "-s", "-1", "-p", IPERF_PORT, "-J"]), reverse, what)
        http_both_ways(check, bed, bed.on_a, bed.on_b, "fallback")
        redis_server_on_a(check, bed, bed.on_a, bed.on_b, REDIS_FALLBACK_RUNS, "fallback")
        redis_server_on_b(check, bed, bed.on_a, bed.on_b, REDIS_FALLBACK_RUNS, "fallback")
        fork_echo(check, bed, "fallback fork", braid=False)


def skip(reason):
    print("SKIP: %s" % reason, flush=True)
    return braidtest.SKIP


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help="any of %s (default: all)" % ", ".join(SCENARIOS))
    args = parser.parse_args()
    scenarios = args.scenarios or list(SCENARIOS)
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        parser.error("unknown scenario %s" % ", ".join(unknown))
    braidtest.require_e2e(("root", "netns", "mptcp", "nft", "tc"))
    if braidtest.find_testapp() is None:
        return skip("braid-testapp not built (%s); set BRAID_TESTAPP" % braidtest.testapp_path())
    lib = find_preload()
    if lib is None:
        return skip("libbraid_preload.so not built; set BRAID_PRELOAD_LIB")
    for name in scenarios:
        for app in APPS[name] + ("mptcpize", "ethtool"):
            if shutil.which(app) is None:
                return skip("%s is not installed (scripts/install-deps)" % app)
        # libasan preloaded into curl deadlocks in its first setlocale(), shim or not.
        if "curl" in APPS[name] and sanitizer_runtimes(lib):
            return skip("%s needs curl, which hangs with a sanitized shim's libasan preloaded: "
                        "use a RelWithDebInfo build's libbraid_preload.so" % name)
    check = Checker("preload apps")
    print("=== preload apps (%s; braid-testapp: %s) ===" % (lib, braidtest.find_testapp()),
          flush=True)
    t0 = time.monotonic()
    for name in scenarios:
        check.info("== %s" % name)
        try:
            globals()["scenario_" + name](check, lib)
        except braidtest.Interrupted:
            raise
        except Exception as e:  # pylint: disable=broad-except
            import traceback
            traceback.print_exc()
            check(False, "%s raised %s: %s" % (name, type(e).__name__, e))
    print("=== preload apps: %s in %.1f s ===" % ("FAIL" if check.failures else "PASS",
                                                time.monotonic() - t0), flush=True)
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
