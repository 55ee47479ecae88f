"""Braid on real packets in a testbed: braid-testapp (tools/braid-testapp/README.md) on one path
interface of a node, through DPDK's af_packet or af_xdp PMD.

    app = braidtest.start_braid(tb.a, 0, "--listen", 5000, "--mode", "echo", family=4)
    app.wait_ready()                    # the `ready` line: port up, addresses announced
    ... the kernel in tb.b talks to app.addr(4) ...
    conns = app.wait_connections(1)     # `connection` lines (dicts)
    summary = app.stop()                # SIGTERM; the `summary` line printed at exit

Handing the interface to DPDK (prepare_interface): the kernel in that namespace must not answer
on it as well (ARP replies, RSTs, ICMP, IPv6 neighbour discovery from a second stack with the
same addresses), so its addresses are flushed (both families), IPv6 is disabled on it and ARP is
off; it stays up (AF_PACKET and AF_XDP need a running netdev). The testbed's addresses of that
interface are given to Braid (`--addr`), and on a routed path the router's address on that
segment is the gateway.

The kernel interfaces that send towards Braid get `ethtool -K IF tx off` (prepare_peers): a TCP
segment the kernel sends with CHECKSUM_PARTIAL keeps that state across veths and forwarding, and
an AF_PACKET socket (net_af_packet; the kernel only flags it TP_STATUS_CSUMNOTREADY, which the
PMD ignores) or an XDP socket on the veth (net_af_xdp) then reads it with the checksum
unfinished, so Braid rightly drops it (net drop tcp_bad_checksum) and the connection stalls.
Verified here with both PMDs on a routed path: with transmit checksumming on everywhere, a kernel
client's echo times out and Braid counts tcp_bad_checksum; switching it off on either the kernel
endpoint's interface or the router's interface facing Braid is enough (whoever transmits the skb
with it off completes the checksum in software). Both are switched: the router's covers anything
it forwards, the endpoint's makes the kernel-side captures show final checksums.

af_xdp needs bpffs on /sys/fs/bpf (libxdp pins its dispatcher there) and locked memory for the
UMEM: `ip netns exec` remounts /sys for the namespace, so the mount is made inside the command's
own mount namespace, by a small sh wrapper that also sets `ulimit -l unlimited` and then execs
braid-testapp (same pid: SIGTERM reaches it).

Testbeds for Braid should be router=True (testbed.md): DPDK's AF_PACKET/AF_XDP transmit bypasses
the sender's qdiscs and netfilter hooks, so impairments must act in the router.
"""

import json
import os
import shlex
import signal
import subprocess
import threading
import time

from .testbed import Path

PMDS = ("af_packet", "af_xdp")
# net_af_packet's default RX ring is 512 frames (blocksz 4096, framesz 2048, framecnt 512).
# On a shared 2-core machine a worker descheduled for ~13 ms at ~40 kpps (a bulk transfer)
# overflows it: the kernel drops the frames (PACKET_STATISTICS tp_drops, which DPDK 22.11's
# af_packet PMD does not report as rx_missed), seen here as 1-2 % of a bulk transfer's segments
# lost with no counter in Braid. 4096 frames (8 MiB) absorb that.
DEFAULT_PORT_ARGS = {"af_packet": "framecnt=4096,blocksz=4096,framesz=2048"}
_REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
_instances = {}


class BraidError(RuntimeError):
    pass


def testapp_path():
    """Where braid-testapp is expected: $BRAID_TESTAPP, else build/tools/braid-testapp/ in the
    repository."""
    return os.environ.get("BRAID_TESTAPP") or os.path.join(
        _REPO, "build", "tools", "braid-testapp", "braid-testapp")


def find_testapp():
    """The braid-testapp binary, or None when it is not built."""
    path = testapp_path()
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


def _path_of(node, path):
    if isinstance(path, Path):
        return path
    return node.testbed.paths[path]


def interface_addresses(node, path, family="dual"):
    """The testbed's addresses of node on path as CIDRs (family 4, 6 or 'dual'), and the
    gateways (the router's addresses on that segment; none on a direct path)."""
    p = _path_of(node, path)
    seg = p.segment_of(node.name)
    end, nb = p.end(node.name), p.neighbor(node.name)
    fams = _families(family)
    addrs = ["%s/%d" % (end.addr(f), seg.net(f).prefixlen) for f in fams]
    gateways = [nb.addr(f) for f in fams] if p.router else []
    return addrs, gateways


def far_routes(node, path, family="dual"):
    """`--route` arguments for the subnets at the other end of a routed path (through its
    router): replies to subflows that arrived on this path then leave on it (Braid's weak host
    model sends by the most specific route, as the testbed's kernels do)."""
    p = _path_of(node, path)
    if not p.router:
        return []
    args = []
    for end in p.all_ends():
        if end.role in (node.name, p.router):
            continue
        seg = p.segment_of(end.role)
        for f in _families(family):
            args += ["--route", str(seg.net(f))]
    return args


def _families(family):
    if family in ("dual", "both", None):
        return (4, 6)
    if str(family) in ("4", "6"):
        return (int(family),)
    raise ValueError("family must be 4, 6 or 'dual': %r" % (family,))


def prepare_interface(node, ifname):
    """Takes the kernel off ifname in node (see the module docstring); idempotent."""
    node.ip(["addr", "flush", "dev", ifname])
    node.sysctl("net.ipv6.conf.%s.disable_ipv6" % ifname, 1)
    node.ip(["link", "set", "dev", ifname, "arp", "off", "up"])
    node.testbed.dpdk_owned.add((node.name, ifname))


def prepare_peers(node, path):
    """`ethtool -K tx off` on the kernel interfaces that transmit towards node's interface on
    path: the router's interface on node's segment (routed) and the other endpoint's interface
    on the path. Returns [(node name, ifname)]."""
    p = _path_of(node, path)
    tb = node.testbed
    done = []
    ends = [p.neighbor(node.name)]
    other = p.b if node.name == p.a else p.a
    if p.router:
        ends.append(p.end(other))
    for e in ends:
        tb.nodes[e.role].run(["ethtool", "-K", e.ifname, "tx", "off"])
        done.append((e.role, e.ifname))
    return done


class BraidApp:
    """A running braid-testapp (see start_braid). Reads its JSON lines as they come."""

    def __init__(self, node, path, ifname, pmd, argv, proc, log_prefix, addrs, gateways,
                 link_before=None):
        self.node, self.path, self.ifname, self.pmd = node, path, ifname, pmd
        self.link_before = link_before or {}
        self.argv, self.proc, self.addrs, self.gateways = argv, proc, addrs, gateways
        self.log_prefix = log_prefix
        self.events = []       # every JSON object printed, in order
        self.other_lines = []  # anything else on stdout (DPDK log lines, ...)
        self._cond = threading.Condition()
        self._eof = False
        self._out = open(log_prefix + ".out", "w")
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def __repr__(self):
        return "BraidApp(%s/%s %s, pid %d)" % (self.node.name, self.ifname, self.pmd,
                                               self.proc.pid)

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self._out.write(line + "\n")
            self._out.flush()
            obj = None
            if line.startswith("{"):
                try:
                    obj = json.loads(line)
                except ValueError:
                    obj = None
            with self._cond:
                if isinstance(obj, dict):
                    self.events.append(obj)
                else:
                    self.other_lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()
        self._out.close()

    # Addresses.
    def addr(self, family=4):
        """Braid's address of that family (without prefix length)."""
        for a in self.addrs:
            ip = a.split("/")[0]
            if (":" in ip) == (int(family) == 6):
                return ip
        raise KeyError("no IPv%s address given to Braid" % family)

    # Events.
    def _wait_for(self, predicate, timeout, what):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                if self._eof:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise BraidError("%s: no %s within %.0f s%s" %
                                     (self, what, timeout, self._tail()))
                self._cond.wait(min(left, 0.5))
        # EOF: the process is exiting.
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        value = predicate()
        if value:
            return value
        raise BraidError("%s exited (status %s) before %s%s" %
                         (self, self.proc.returncode, what, self._tail()))

    def _events(self, name):
        return [e for e in self.events if e.get("event") == name]

    def wait_ready(self, timeout=30):
        """Waits for the `ready` line; returns it. BraidError (with the output) otherwise."""
        return self._wait_for(lambda: (self._events("ready") or [None])[0], timeout,
                              "'ready' line")

    def connections(self):
        """The `connection` lines so far."""
        with self._cond:
            return self._events("connection")

    def wait_connections(self, n=1, timeout=60):
        """Waits until n `connection` lines were printed; returns them all."""
        return self._wait_for(lambda: (self._events("connection")
                                       if len(self._events("connection")) >= n else None),
                              timeout, "%d 'connection' line(s)" % n)

    def rr(self):
        with self._cond:
            return self._events("rr")

    def summary(self):
        """The `summary` line (printed at exit), or None so far."""
        with self._cond:
            s = self._events("summary")
            return s[-1] if s else None

    def errors(self):
        """`error` fields of the connection lines and of any other event that has one."""
        with self._cond:
            return [e["error"] for e in self.events if e.get("error")]

    # Lifetime.
    @property
    def running(self):
        return self.proc.poll() is None

    def wait(self, timeout=120):
        """Waits for the process to exit by itself (client mode, server --count); returns the
        exit status. BraidError when it is still running after timeout (it is then stopped)."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise BraidError("%s still running after %.0f s%s" % (self, timeout, self._tail()))
        self._reader.join(10)
        return self.proc.returncode

    def stop(self, timeout=10):
        """SIGTERM (the app prints its summary and exits), then waits; SIGKILL after timeout.
        Returns the summary dict (None if none was printed)."""
        self.proc.stop(sig=signal.SIGTERM, timeout=timeout)
        self._reader.join(10)
        return self.summary()

    def port_stats(self):
        """The first port's statistics from the summary ({} before it is printed)."""
        ports = (self.summary() or {}).get("ports") or [{}]
        return ports[0]

    def kernel_rx_drops(self):
        """Frames the kernel received on the interface during this run that never reached the
        DPDK port: the interface's rx_packets since start minus the port's rx_packets (the
        PMD's socket ring overflowing: af_packet tp_drops, af_xdp rx ring full). Read after
        exit; frames that arrive after the process is gone (a peer's retransmitted FIN) count
        too, so this is an upper bound. None when unknown."""
        rx = self.port_stats().get("rx_packets")
        if rx is None or "rx_packets" not in self.link_before:
            return None
        now = self.node.link_stats(self.ifname)["rx_packets"]
        return now - self.link_before["rx_packets"] - rx

    @property
    def returncode(self):
        return self.proc.returncode

    def stderr_text(self):
        try:
            with open(self.log_prefix + ".err") as f:
                return f.read()
        except OSError:
            return ""

    def _tail(self, n=15):
        lines = (self.other_lines[-n:] +
                 [json.dumps(e)[:300] for e in self.events[-3:]] +
                 self.stderr_text().strip().splitlines()[-n:])
        return (":\n  " + "\n  ".join(lines)) if lines else ""


def start_braid(node, path, *app_args, pmd="af_packet", family="dual", sack=None,
                timestamps=None, window_scaling=None, extra=(), binary=None, ready=True,
                ready_timeout=30, prepare=True, port_args=None, more_paths=()):
    """Starts braid-testapp in node on its interface of path (a Path or an index) with the
    testbed's addresses of that interface (family 4, 6 or 'dual') and the router as gateway.
    app_args: the APP part (`"--listen", 5000, "--mode", "echo"` or `"--connect", addr,
    "--to-port", 5001, "--mode", "send", "--bytes", n`); sack / timestamps / window_scaling:
    0/1 (None: Braid's default); extra: further options (`--cc newreno`, `--timeout 60`);
    port_args: PMD arguments after iface= (default DEFAULT_PORT_ARGS[pmd]); more_paths: further
    paths (Path objects or indexes) Braid also owns, one DPDK port each (MPTCP's paths).
    Waits for the `ready` line unless ready=False. Returns a BraidApp, tracked by the testbed
    (stopped at cleanup)."""
    if pmd not in PMDS:
        raise ValueError("pmd must be one of %s" % (PMDS,))
    binary = binary or find_testapp()
    if not binary:
        raise BraidError("braid-testapp not built (%s); set BRAID_TESTAPP" % testapp_path())
    p = _path_of(node, path)
    ifname = p.iface(node.name)
    addrs, gateways = interface_addresses(node, p, family)
    if prepare:
        prepare_interface(node, ifname)
        prepare_peers(node, p)
    tb = node.testbed
    k = _instances.setdefault(tb.id, 0)
    _instances[tb.id] = k + 1
    spec = "net_%s0,iface=%s" % (pmd, ifname)
    if port_args is None:
        port_args = DEFAULT_PORT_ARGS.get(pmd, "")
    if port_args:
        spec += "," + port_args
    argv = [binary, "--port", spec]
    for a in addrs:
        argv += ["--addr", a]
    for g in gateways:
        argv += ["--gateway", g]
    argv += far_routes(node, p, family)
    for n, extra_path in enumerate(more_paths, start=1):
        q = _path_of(node, extra_path)
        q_if = q.iface(node.name)
        q_addrs, q_gateways = interface_addresses(node, q, family)
        if prepare:
            prepare_interface(node, q_if)
            prepare_peers(node, q)
        q_spec = "net_%s%d,iface=%s" % (pmd, n, q_if)
        if port_args:
            q_spec += "," + port_args
        argv += ["--port", q_spec]
        for a in q_addrs:
            argv += ["--addr", a]
        for g in q_gateways:
            argv += ["--gateway", g]
        argv += far_routes(node, q, family)
    for flag, value in (("--sack", sack), ("--timestamps", timestamps),
                        ("--window-scaling", window_scaling)):
        if value is not None:
            argv += [flag, str(int(value))]
    argv += [str(a) for a in extra] + [str(a) for a in app_args]
    if pmd == "af_xdp":
        script = ("grep -qs ' /sys/fs/bpf bpf ' /proc/mounts || mount -t bpf bpf /sys/fs/bpf; "
                  "ulimit -l unlimited; exec \"$@\"")
        cmd = ["sh", "-c", script, "braid-testapp"] + argv
    else:
        cmd = argv
    log_prefix = os.path.join(tb.workdir, "braid-%s-%s-%d" % (node.name, ifname, k))
    with open(log_prefix + ".cmd", "w") as f:
        f.write(shlex.join(node.argv(cmd)) + "\n")
    link_before = node.link_stats(ifname)
    err = open(log_prefix + ".err", "w")
    try:
        proc = node.popen(cmd, stdout=subprocess.PIPE, stderr=err, bufsize=0)
    finally:
        err.close()
    app = BraidApp(node, p, ifname, pmd, argv, proc, log_prefix, addrs, gateways, link_before)
    if ready:
        app.wait_ready(ready_timeout)
    return app


def flatten(obj, prefix=""):
    """{'a': {'b': 1, 'c': [2]}} -> {'a.b': 1, 'a.c.0': 2}: numbers only (summary counters)."""
    out = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, "%s%s." % (prefix, k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.update(flatten(v, "%s%d." % (prefix, i)))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        out[prefix[:-1]] = obj
    return out
