"""Declarative network-namespace testbeds: two endpoint nodes joined by N paths (veth pairs),
each optionally through its own router namespace, with IPv4 + IPv6 documentation addresses,
per-path source routing, impairments (tbf/htb rate, nftables loss and blackhole, link down/up)
that can change mid-run, kernel MPTCP helpers, captures and guaranteed cleanup.

Addressing (path i = 0, 1, 2, ...; at most MAX_PATHS = 24):
  Every path has one segment (direct) or two (through router r<i>): segment 0 joins the first
  endpoint node to the router (or to the second node), segment 1 joins the router to the second
  node. The left end of a segment gets host 1, the right end host 2:
    IPv4: /24 = (192.0.2, 198.51.100, 203.0.113)[i % 3]; the /28 block (i // 3) * 2 + segment:
          path 0: 192.0.2.0/28    a=192.0.2.1    b=192.0.2.2       (direct)
                  192.0.2.0/28    a=192.0.2.1    r0=192.0.2.2      (routed, segment 0)
                  192.0.2.16/28   r0=192.0.2.17  b=192.0.2.18      (routed, segment 1)
          path 1: 198.51.100.0/28 (.16/28),  path 2: 203.0.113.0/28 (.16/28),
          path 3: 192.0.2.32/28 (.48/28), path 4: 198.51.100.32/28, ...
    IPv6: 2001:db8:<i+1>:<segment>::/64, hosts ::1 (left) and ::2 (right):
          path 0 direct: a=2001:db8:1::1, b=2001:db8:1::2; routed: a=2001:db8:1::1,
          r0=2001:db8:1::2 | r0=2001:db8:1:1::1, b=2001:db8:1:1::2.
  Interfaces: endpoint node X's end of path i is "X<i>" (a0, b2); router r<i>'s ends are
  "r<i><X>" (r0a faces a, r0b faces b). MACs are fixed: 02:b7:<path>:<segment>:<0 left|1 right>:00.

Routing (both families), per endpoint node, in rule order:
  pref 900   `lookup main suppress_prefixlength 0`: a destination inside a path's subnets (the
             connected subnet, or through r<i> the far one) goes over that path; default routes
             are ignored here. So a peer answers on the path the packet arrived on.
  pref 1000+i `from <the node's address on path i> lookup 100+i`: table 100+i holds the path's
             subnet and a default route over path i (to the peer, or to r<i>). It serves sockets
             bound to a path's interface (kernel MPTCP endpoints added with `dev`, SO_BINDTODEVICE)
             whose destination lies on another path: the main lookup skips routes through other
             interfaces, so they leave through their own path.
  Result: a kernel subflow from a's path-1 endpoint to b's path-0 address goes over path 1 both
  ways (a by its bound interface, b by destination). A socket bound to an address but not to an
  interface follows the destination instead (pref 900), out of the destination's path.
Routers forward both families and have host routes to the endpoints' addresses on every other
path through the endpoint on that side, so crossed subflows are forwarded.

Impairments and where they act (a DPDK endpoint on AF_XDP/AF_PACKET bypasses its own qdiscs and
netfilter hooks, and AF_XDP takes packets before the receiving kernel's ingress hooks, so
impairments live where the kernel forwards — the router — or, on direct paths, in the kernel
endpoints). For direction X>Y on path i:
  rate (tbf or htb, egress qdisc): routed: router's interface towards Y; direct: X's interface.
  loss / blackhole (nftables netdev ingress chain, table `netdev braidtest`): routed: router's
      interface facing X; direct: Y's interface.
  Use routed paths whenever one side is not the kernel.
Loss is `meta protocol { ip, ip6 } numgen random mod 100000 < N drop` (0.001 % steps), sparing
ARP and IPv6 neighbour discovery so that a lossy path never stalls on address resolution; a
blackhole drops everything, ARP included, silently. Each drop rule feeds a named nft counter.
"""

import ipaddress
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile

from . import cleanup, sweep
from .util import (Proc, as_argv, format_rate, ip_batch, log, netns_argv,
                   parse_rate, run, wait_until)

MAX_PATHS = 24
V4_BASES = ("192.0.2", "198.51.100", "203.0.113")
TABLE_BASE = 100
RULE_PREF_BASE = 1000
DEST_RULE_PREF = 900
NFT_TABLE = "braidtest"
LOSS_SCALE = 100000   # numgen modulus: loss in steps of 0.001 %
DEFAULT_LIMITS = {"subflows": 8, "add_addr_accepted": 8}

_counter = itertools.count(1)


# --- addressing ---------------------------------------------------------------------------

def subnet4(path, segment):
    """IPv4 /28 of a path segment (see the module docstring)."""
    if not 0 <= path < MAX_PATHS or segment not in (0, 1):
        raise ValueError("path %d segment %d out of range" % (path, segment))
    block = (path // 3) * 2 + segment
    return ipaddress.ip_network("%s.%d/28" % (V4_BASES[path % 3], block * 16))


def subnet6(path, segment):
    if not 0 <= path < MAX_PATHS or segment not in (0, 1):
        raise ValueError("path %d segment %d out of range" % (path, segment))
    return ipaddress.ip_network("2001:db8:%x:%x::/64" % (path + 1, segment))


def host(net, n):
    """The n-th address of a network (1: left end, 2: right end)."""
    return str(net.network_address + n)


class End:
    """One end of a segment: namespace role, interface, addresses (with prefix lengths)."""

    def __init__(self, role, ifname, v4, v6, mac):
        self.role, self.ifname, self.v4, self.v6, self.mac = role, ifname, v4, v6, mac

    def addr(self, family=4):
        return self.v4 if family == 4 else self.v6

    def to_dict(self):
        return {"node": self.role, "ifname": self.ifname, "ipv4": self.v4, "ipv6": self.v6,
                "mac": self.mac}


class Segment:
    """A veth pair: left End, right End, their subnets."""

    def __init__(self, path, index, left_role, left_if, right_role, right_if):
        self.path, self.index = path, index
        self.net4, self.net6 = subnet4(path, index), subnet6(path, index)
        mac = "02:b7:%02x:%02x:%02x:00"
        self.left = End(left_role, left_if, host(self.net4, 1), host(self.net6, 1),
                        mac % (path, index, 0))
        self.right = End(right_role, right_if, host(self.net4, 2), host(self.net6, 2),
                         mac % (path, index, 1))

    def ends(self):
        return (self.left, self.right)

    def net(self, family):
        return self.net4 if family == 4 else self.net6


class Path:
    """Path i between the two endpoint nodes; .router is the router's role name or None."""

    def __init__(self, index, a, b, routed):
        self.index = index
        self.a, self.b = a, b
        self.router = "r%d" % index if routed else None
        self.table = TABLE_BASE + index
        if routed:
            self.segments = [Segment(index, 0, a, "%s%d" % (a, index), self.router,
                                     "r%d%s" % (index, a)),
                             Segment(index, 1, self.router, "r%d%s" % (index, b), b,
                                     "%s%d" % (b, index))]
        else:
            self.segments = [Segment(index, 0, a, "%s%d" % (a, index), b, "%s%d" % (b, index))]

    def end(self, node):
        """The End of an endpoint node (a or b) on this path."""
        if node == self.a:
            return self.segments[0].left
        if node == self.b:
            return self.segments[-1].right
        raise KeyError("%s is not an endpoint of path %d" % (node, self.index))

    def segment_of(self, node):
        return self.segments[0] if node == self.a else self.segments[-1]

    def neighbor(self, node):
        """The End across node's segment (the router, or the other endpoint)."""
        seg = self.segment_of(node)
        return seg.right if seg.left.role == node else seg.left

    def addr(self, node, family=4):
        return self.end(node).addr(family)

    def iface(self, node):
        return self.end(node).ifname

    def all_ends(self):
        return [e for s in self.segments for e in s.ends()]

    def find_iface(self, ifname):
        for e in self.all_ends():
            if e.ifname == ifname:
                return e
        raise KeyError("no interface %s on path %d" % (ifname, self.index))

    def to_dict(self):
        return {"index": self.index, "router": self.router, "table": self.table,
                "segments": [{"ipv4": str(s.net4), "ipv6": str(s.net6),
                              "left": s.left.to_dict(), "right": s.right.to_dict()}
                             for s in self.segments]}


# --- nodes --------------------------------------------------------------------------------

class Node:
    """A network namespace of a testbed: an endpoint node or a path's router."""

    def __init__(self, testbed, role, ns, kind):
        self.testbed, self.name, self.ns, self.kind = testbed, role, ns, kind

    def __repr__(self):
        return "Node(%s, ns=%s)" % (self.name, self.ns)

    # Running things.
    def argv(self, cmd):
        """cmd prefixed with `ip netns exec NS` (for callers building their own Popen)."""
        return netns_argv(self.ns, as_argv(cmd))

    def run(self, cmd, timeout=30, check=True, input=None, env=None):
        """Runs cmd in this node; returns a CompletedProcess (text stdout/stderr)."""
        return run(cmd, ns=self.ns, timeout=timeout, check=check, input=input, env=env)

    def sh(self, script, timeout=30, check=True):
        return self.run(["sh", "-c", script], timeout=timeout, check=check)

    def popen(self, cmd, **kwargs):
        """Starts cmd in this node, tracked by the testbed (stopped at cleanup). Popen kwargs;
        die_with_parent=True (default) kills it if the driver dies."""
        return self.testbed._track(Proc(self.argv(cmd), node_name=self.name, **kwargs))

    def ip(self, args, check=True, timeout=30):
        """`ip -n NS <args>`."""
        return run(["ip", "-n", self.ns] + as_argv(args), check=check, timeout=timeout)

    def ip_json(self, args):
        out = run(["ip", "-j", "-n", self.ns] + as_argv(args)).stdout
        return json.loads(out) if out.strip() else []

    def pids(self):
        p = run(["ip", "netns", "pids", self.ns], check=False)
        return [int(x) for x in p.stdout.split()]

    # sysctls are per network namespace (net.*).
    def sysctl(self, name, value=None):
        """Reads (value None) or sets a sysctl inside the node; returns the value as a string."""
        if value is None:
            return self.run(["sysctl", "-n", name]).stdout.strip()
        self.run(["sysctl", "-q", "-w", "%s=%s" % (name, value)])
        return str(value)

    def sysctls(self, values, check=True):
        if values:
            self.run(["sysctl", "-q", "-w"] + ["%s=%s" % kv for kv in values.items()],
                     check=check)

    # Addresses of an endpoint node.
    def addr(self, path, family=4):
        return self.testbed.paths[path].addr(self.name, family)

    def iface(self, path):
        return self.testbed.paths[path].iface(self.name)

    def addrs(self, family=4):
        return [p.addr(self.name, family) for p in self.testbed.paths]

    # Kernel MPTCP.
    def mptcp_enable(self, enabled=True):
        """net.mptcp.enabled (0 makes IPPROTO_MPTCP sockets fail: fallback/plain-TCP tests)."""
        self.sysctl("net.mptcp.enabled", 1 if enabled else 0)

    def mptcp_checksum(self, enabled=True):
        self.sysctl("net.mptcp.checksum_enabled", 1 if enabled else 0)

    def mptcp_limits(self, subflows=None, add_addr_accepted=None):
        """Sets the in-kernel path manager's limits (those given); returns the current ones."""
        args = []
        if subflows is not None:
            args += ["subflows", str(subflows)]
        if add_addr_accepted is not None:
            args += ["add_addr_accepted", str(add_addr_accepted)]
        if args:
            self.ip(["mptcp", "limits", "set"] + args)
        toks = self.ip(["mptcp", "limits", "show"]).stdout.split()
        return {toks[i]: int(toks[i + 1]) for i in range(0, len(toks) - 1, 2)}

    def mptcp_endpoint_add(self, addr, flags="subflow", dev=None, port=None, id=None):
        """`ip mptcp endpoint add ADDR [id N] [port P] [dev IF] FLAGS` where FLAGS is a string or
        list of signal/subflow/backup/fullmesh. dev defaults to the interface holding addr."""
        flags = flags.split() if isinstance(flags, str) else list(flags)
        if dev is None:
            dev = self.testbed.iface_of_addr(self.name, addr)
        args = ["mptcp", "endpoint", "add", addr]
        if id is not None:
            args += ["id", str(id)]
        if port is not None:
            args += ["port", str(port)]
        if dev:
            args += ["dev", dev]
        self.ip(args + flags)

    def mptcp_endpoints_on_paths(self, flags="subflow", paths=None, family=4, port=None):
        """Adds an endpoint for this node's address on each path (default: every path but 0,
        whose address the initial subflow uses). Returns the addresses."""
        if paths is None:
            paths = range(1, len(self.testbed.paths))
        addrs = []
        for i in paths:
            a = self.addr(i, family)
            self.mptcp_endpoint_add(a, flags, dev=self.iface(i), port=port)
            addrs.append(a)
        return addrs

    def mptcp_endpoint_flush(self):
        self.ip(["mptcp", "endpoint", "flush"])

    def mptcp_endpoints(self):
        """Parsed `ip mptcp endpoint show`: [{'addr', 'id', 'flags': [...], 'dev', 'port'}]."""
        eps = []
        for line in self.ip(["mptcp", "endpoint", "show"]).stdout.splitlines():
            toks = line.split()
            if not toks:
                continue
            ep = {"addr": toks[0], "flags": [], "raw": line.strip()}
            i = 1
            while i < len(toks):
                if toks[i] in ("id", "dev", "port") and i + 1 < len(toks):
                    ep[toks[i]] = int(toks[i + 1]) if toks[i] != "dev" else toks[i + 1]
                    i += 2
                else:
                    ep["flags"].append(toks[i])
                    i += 1
            eps.append(ep)
        return eps

    def mptcp_monitor(self):
        """Starts `ip mptcp monitor` (events on stdout, text); stop it with .stop()."""
        return self.popen(["ip", "mptcp", "monitor"], stdout=subprocess.PIPE, text=True)

    # Evidence.
    def nstat(self, prefix=None, strip=False):
        """Absolute SNMP/netstat counters (`nstat -azs`: zeros included, history untouched) as
        {name: int}; with prefix (e.g. 'MPTcpExt', 'TcpExt', 'Tcp') only those, optionally with
        the prefix stripped from the names."""
        counters = {}
        for line in self.run(["nstat", "-azs"]).stdout.splitlines():
            toks = line.split()
            if len(toks) < 2 or toks[0].startswith("#"):
                continue
            name = toks[0]
            if prefix and not name.startswith(prefix):
                continue
            try:
                counters[name[len(prefix):] if (prefix and strip) else name] = int(toks[1])
            except ValueError:
                pass
        return counters

    def mptcp_counters(self):
        """MPTcpExt counters with the prefix stripped: {'MPJoinSynRx': 2, ...}."""
        return self.nstat("MPTcpExt", strip=True)

    def ss(self, args="-Mni"):
        """`ss <args>` output (e.g. '-Mni' MPTCP sockets, '-tni' TCP incl. subflows)."""
        return self.run(["ss"] + as_argv(args)).stdout

    def ss_sockets(self, args="-tni", port=None):
        """Parsed `ss -H <args> state established`: [{'local', 'peer', 'info'}] ('info': the
        detail lines), optionally only sockets with local or peer port `port`."""
        out = self.ss(["-H"] + as_argv(args) + ["state", "established"])
        socks = []
        for line in out.splitlines():
            if not line.strip():
                continue
            if not line[0].isspace():
                toks = line.split()
                socks.append({"local": toks[-2] if len(toks) >= 2 else "",
                              "peer": toks[-1] if toks else "", "info": ""})
            elif socks:
                socks[-1]["info"] += " " + line.strip()
        if port is not None:
            sfx = ":%d" % port
            socks = [s for s in socks if s["local"].endswith(sfx) or s["peer"].endswith(sfx)]
        return socks

    def tcp_subflows(self, port=None):
        """Established TCP sockets that are MPTCP subflows (`ss -tni` shows 'tcp-ulp-mptcp'):
        [(local, peer)]."""
        return [(s["local"], s["peer"]) for s in self.ss_sockets("-tni", port)
                if "tcp-ulp-mptcp" in s["info"]]

    def mptcp_connections(self, port=None):
        """Established MPTCP sockets (`ss -Mni`): [{'local', 'peer', 'info', 'subflows'}] where
        subflows counts the additional subflows (ss prints none while it is 0)."""
        socks = self.ss_sockets("-Mni", port)
        for s in socks:
            m = re.search(r"(?:^|\s)subflows:(\d+)", s["info"])
            s["subflows"] = int(m.group(1)) if m else 0
        return socks

    def link_stats(self, ifname):
        """{'rx_bytes', 'rx_packets', 'tx_bytes', 'tx_packets', ...} of an interface."""
        info = self.ip_json(["-s", "link", "show", "dev", ifname])[0]
        st = info.get("stats64") or info.get("stats")
        return {"rx_%s" % k: v for k, v in st["rx"].items()} | \
               {"tx_%s" % k: v for k, v in st["tx"].items()}

    def ping(self, addr, count=3, interval=0.05, timeout=1.0, size=56):
        """ICMP echo (no ping binary needed: python raw socket). Returns replies received."""
        from . import peer
        res = self.run([peer.python(), peer.SCRIPT, "ping", addr, "--count", str(count),
                        "--interval", str(interval), "--timeout", str(timeout),
                        "--size", str(size)], timeout=count * (interval + timeout) + 10)
        return json.loads(res.stdout.strip().splitlines()[-1])["received"]


# --- the testbed --------------------------------------------------------------------------

def _directions(path, direction):
    """'both' | 'a>b' | (src, dst) -> [(src, dst), ...] for endpoint node names."""
    if direction in ("both", None):
        return [(path.a, path.b), (path.b, path.a)]
    if isinstance(direction, str):
        src, _, dst = direction.partition(">")
    else:
        src, dst = direction
    if {src, dst} != {path.a, path.b}:
        raise ValueError("direction must be 'both', '%s>%s' or '%s>%s': %r" %
                         (path.a, path.b, path.b, path.a, direction))
    return [(src, dst)]


class Testbed:
    """Two endpoint nodes joined by N paths. Use as a context manager:

        with Testbed(paths=3, router=True) as tb:
            tb.set_rate(1, "20mbit")
            srv = tb.start_server(tb.b, 5201)
            ...

    Arguments: paths (int, or a list of dicts {'router': bool, 'rate': ..., 'loss': ...} per
    path); router (default for every path); nodes (the two endpoint names, default a and b);
    rate / loss (initial, every path, both directions); mptcp (enable kernel MPTCP and set
    DEFAULT_LIMITS in the endpoints); prefix (namespace name prefix); workdir (artifacts:
    captures, logs; default a fresh directory under $BRAIDTEST_ARTIFACTS or /tmp); keep
    ('on-failure' (default), 'always', 'never'); persistent (CLI: not torn down at exit);
    sweep (remove stale namespaces with this prefix first)."""

    def __init__(self, paths=3, router=False, nodes=("a", "b"), rate=None, loss=None,
                 mptcp=True, offload=False, prefix=sweep.DEFAULT_PREFIX, workdir=None,
                 keep="on-failure", persistent=False, sweep_stale=True, tb_id=None):
        self.prefix = sweep.check_prefix(prefix)
        if len(nodes) != 2 or nodes[0] == nodes[1]:
            raise ValueError("need two distinct endpoint node names")
        self.node_names = tuple(sweep.check_role(n) for n in nodes)
        # (node, ifname) pairs handed to DPDK (braid.prepare_interface): no kernel routes there.
        self.dpdk_owned = set()
        if any(n.startswith("r") and n[1:].isdigit() for n in self.node_names):
            raise ValueError("r<digits> names are the routers'")
        specs = [{} for _ in range(paths)] if isinstance(paths, int) else [dict(p) for p in paths]
        if not 1 <= len(specs) <= MAX_PATHS:
            raise ValueError("1..%d paths" % MAX_PATHS)
        for s in specs:
            s.setdefault("router", router)
            s.setdefault("rate", rate)
            s.setdefault("loss", loss)
        self.specs = specs
        self.mptcp = mptcp
        self.offload = offload
        self.keep = keep
        self.persistent = persistent
        self.sweep_stale = sweep_stale
        self.id = tb_id or "%s%d-%d" % (self.prefix, os.getpid(), next(_counter))
        a, b = self.node_names
        self.paths = [Path(i, a, b, s["router"]) for i, s in enumerate(specs)]
        self.nodes = {}
        for role in self.node_names:
            self.nodes[role] = Node(self, role, "%s-%s" % (self.id, role), "host")
        for p in self.paths:
            if p.router:
                self.nodes[p.router] = Node(self, p.router, "%s-%s" % (self.id, p.router),
                                            "router")
        self._workdir = workdir
        self._own_workdir = False
        self._procs = []
        self._captures = []
        self._drop_state = {}   # (role, ifname) -> {'loss': percent, 'blackhole': bool}
        self._rate_state = {}   # (role, ifname) -> {'rate': str, 'kind': ..}
        self._link_down = set()  # (role, ifname)
        self.started = False
        self.closed = False
        self.failed = False

    # Accessors.
    @property
    def a(self):
        return self.nodes[self.node_names[0]]

    @property
    def b(self):
        return self.nodes[self.node_names[1]]

    @property
    def endpoints(self):
        return (self.a, self.b)

    @property
    def routers(self):
        return [self.nodes[p.router] for p in self.paths if p.router]

    def node(self, name):
        return name if isinstance(name, Node) else self.nodes[name]

    def path(self, i):
        return self.paths[i]

    def addr(self, node, path, family=4):
        return self.paths[path].addr(self.node(node).name, family)

    def iface_of_addr(self, role, addr):
        for p in self.paths:
            for e in p.all_ends():
                if e.role == role and addr in (e.v4, e.v6):
                    return e.ifname
        return None

    def namespaces(self):
        return [n.ns for n in self.nodes.values()]

    def __repr__(self):
        return "Testbed(%s, %d paths)" % (self.id, len(self.paths))

    # Lifecycle.
    def __enter__(self):
        if not self.started:
            self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.failed = True
        self.close()
        return False

    def mark_failed(self):
        """Keeps the artifacts (keep='on-failure') even though no exception ends the test."""
        self.failed = True

    def start(self):
        if self.started:
            return self
        self.started = True
        if not self.persistent:
            # Registered before anything exists: an interrupt mid-setup still cleans up.
            cleanup.register(self)
        if self.sweep_stale:
            sweep.sweep(self.prefix)
        try:
            self._build()
            self._save_if_persistent()
        except BaseException:
            self.failed = True
            self.close()
            raise
        return self

    @property
    def workdir(self):
        """The artifacts directory (captures, logs), created on first use: the one given, or a
        fresh one under $BRAIDTEST_ARTIFACTS (default /tmp) named after the testbed."""
        if self._workdir is None:
            root = os.environ.get("BRAIDTEST_ARTIFACTS") or tempfile.gettempdir()
            os.makedirs(root, exist_ok=True)
            self._workdir = tempfile.mkdtemp(prefix=self.id + "-", dir=root)
            self._own_workdir = True
        else:
            os.makedirs(self._workdir, exist_ok=True)
        return self._workdir

    def _build(self):
        ip_batch(["netns add %s" % ns for ns in self.namespaces()])
        for node in self.nodes.values():
            # Before any link exists: new interfaces copy the 'default' values.
            values = {
                "net.ipv6.conf.all.accept_dad": 0, "net.ipv6.conf.default.accept_dad": 0,
                "net.ipv6.conf.all.keep_addr_on_down": 1,
                "net.ipv6.conf.default.keep_addr_on_down": 1,
                "net.ipv6.conf.all.accept_ra": 0, "net.ipv6.conf.default.accept_ra": 0,
                "net.ipv6.conf.default.router_solicitations": 0,
                "net.ipv4.conf.all.rp_filter": 0, "net.ipv4.conf.default.rp_filter": 0,
            }
            if node.kind == "router":
                values.update({"net.ipv4.ip_forward": 1, "net.ipv6.conf.all.forwarding": 1})
            elif self.mptcp:
                values["net.mptcp.enabled"] = 1
            node.sysctls(values)
        # veth pairs, created inside the left namespace with the peer put straight into the
        # right one: nothing ever appears in the host namespace.
        per_ns = {n: ["link set lo up"] for n in self.nodes}
        for p in self.paths:
            for s in p.segments:
                l, r = s.left, s.right
                per_ns[l.role].append(
                    "link add %s address %s type veth peer name %s address %s netns %s" %
                    (l.ifname, l.mac, r.ifname, r.mac, self.nodes[r.role].ns))
        for role, lines in per_ns.items():
            ip_batch(lines, ns=self.nodes[role].ns)
        per_ns = {n: [] for n in self.nodes}
        for p in self.paths:
            for s in p.segments:
                for e in s.ends():
                    per_ns[e.role] += [
                        "addr add %s/%d dev %s" % (e.v4, s.net4.prefixlen, e.ifname),
                        "addr add %s/%d dev %s nodad" % (e.v6, s.net6.prefixlen, e.ifname),
                        "link set %s up" % e.ifname]
        for role, lines in per_ns.items():
            ip_batch(lines, ns=self.nodes[role].ns)
        if not self.offload:
            self._disable_offloads()
        # Routes once every link has carrier (a 'via' must be reachable).
        self.wait_settled()
        for role in self.nodes:
            ip_batch(self._route_lines(role), ns=self.nodes[role].ns)
            for fam in (4, 6):
                lines = self._rule_lines(role, fam)
                if lines:
                    run(["ip", "-%d" % fam, "-n", self.nodes[role].ns, "-batch", "-"],
                        input="\n".join(lines) + "\n", what="ip rules")
        if self.mptcp:
            for n in self.endpoints:
                n.mptcp_limits(**DEFAULT_LIMITS)
        for i, s in enumerate(self.specs):
            if s.get("rate"):
                self.set_rate(i, s["rate"])
            if s.get("loss"):
                self.set_loss(i, s["loss"])

    def _disable_offloads(self):
        """Per-packet fidelity: without TSO/GSO/GRO a kernel sender's skbs are single packets,
        so a loss rule or a qdisc acts on packets (as with a DPDK sender), not on 64 KB
        super-packets. offload=True keeps the kernel's defaults (faster)."""
        for role in self.nodes:
            ifs = [e.ifname for p in self.paths for e in p.all_ends() if e.role == role]
            script = "; ".join("ethtool -K %s tso off gso off gro off 2>/dev/null || "
                               "ip link set dev %s gso_max_segs 1" % (i, i) for i in ifs)
            self.nodes[role].sh(script)

    def _route_lines(self, role, paths=None):
        """`ip route replace` lines for a node (idempotent: link_up re-applies them)."""
        lines = []
        paths = self.paths if paths is None else paths
        if role in self.node_names:
            other = self.node_names[1] if role == self.node_names[0] else self.node_names[0]
            for p in paths:
                end, nb = p.end(role), p.neighbor(role)
                seg = p.segment_of(role)
                for fam in (4, 6):
                    lines.append("route replace %s dev %s table %d" %
                                 (seg.net(fam), end.ifname, p.table))
                    lines.append("route replace %s via %s dev %s table %d" %
                                 ("default" if fam == 4 else "::/0", nb.addr(fam), end.ifname,
                                  p.table))
                    if p.router:
                        # The far subnet of this path, through its router.
                        far = p.segment_of(other).net(fam)
                        lines.append("route replace %s via %s dev %s" %
                                     (far, nb.addr(fam), end.ifname))
        else:
            p = next(p for p in self.paths if p.router == role)
            if paths is not self.paths and p not in paths:
                # A router only routes through its own links; re-apply when its path is named.
                return lines
            # Host routes: a direct path's subnet holds both endpoints' addresses.
            for q in self.paths:
                if q is p:
                    continue
                for node in self.node_names:
                    for fam in (4, 6):
                        lines.append("route replace %s/%d via %s dev %s" %
                                     (q.addr(node, fam), 32 if fam == 4 else 128,
                                      p.addr(node, fam), self._router_end(p, node).ifname))
        return lines

    def _rule_lines(self, role, fam):
        if role not in self.node_names:
            return []
        return (["rule add lookup main suppress_prefixlength 0 pref %d" % DEST_RULE_PREF] +
                ["rule add from %s table %d pref %d" %
                 (p.addr(role, fam), p.table, RULE_PREF_BASE + p.index) for p in self.paths])

    def wait_settled(self, timeout=10):
        """Waits until every interface has carrier (operstate UP) and no IPv6 address is
        tentative (DAD is off, but the check makes it certain)."""
        down = set()
        for role, dev in self._link_down:
            for p in self.paths:
                for s in p.segments:
                    if (role, dev) in {(e.role, e.ifname) for e in s.ends()}:
                        down |= {(e.role, e.ifname) for e in s.ends()}

        def settled():
            for node in self.nodes.values():
                for link in node.ip_json(["addr", "show"]):
                    if link["ifname"] == "lo":
                        continue
                    if (node.name, link["ifname"]) in down:
                        continue
                    if link.get("operstate") != "UP":
                        return False
                    for a in link.get("addr_info", []):
                        if a.get("tentative") or a.get("dadfailed"):
                            return False
            return True
        wait_until(settled, timeout, what="links up and IPv6 addresses settled")

    def close(self):
        """Stops captures (flushed) and processes, deletes the namespaces (with their veths,
        qdiscs and nft tables), and removes the workdir unless it is kept. Idempotent."""
        if self.closed:
            return
        self.closed = True
        with cleanup.cleaning():
            for cap in list(self._captures):
                try:
                    cap.stop()
                except Exception as e:  # pylint: disable=broad-except
                    log("braidtest: stopping capture %s: %s" % (cap.path, e))
            for p in reversed(self._procs):
                try:
                    p.stop(timeout=2)
                except Exception as e:  # pylint: disable=broad-except
                    log("braidtest: stopping %s: %s" % (p.args, e))
            for name in sweep.list_namespaces():
                if name.startswith(self.id + "-"):
                    sweep.delete_namespace(name)
            if self.persistent:
                sweep.remove_state(self.id)
            self._finish_workdir()
        cleanup.unregister(self)

    def _finish_workdir(self):
        if not self._workdir or not os.path.isdir(self._workdir):
            return
        keep = self.keep == "always" or (self.keep == "on-failure" and self.failed)
        if keep:
            if os.listdir(self.workdir):
                log("braidtest: artifacts of %s kept in %s" % (self.id, self.workdir))
            elif self._own_workdir:
                os.rmdir(self.workdir)
        elif self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _track(self, proc):
        self._procs.append(proc)
        return proc

    # Running things (node: a Node or its name).
    def run(self, node, cmd, **kwargs):
        return self.node(node).run(cmd, **kwargs)

    def popen(self, node, cmd, **kwargs):
        return self.node(node).popen(cmd, **kwargs)

    # Impairments.
    @staticmethod
    def _router_end(p, node):
        """The router's End on the segment that joins it to endpoint node."""
        seg = p.segment_of(node)
        return seg.right if seg.left.role == node else seg.left

    def _shaping_point(self, p, src, dst):
        if p.router:
            return p.router, self._router_end(p, dst).ifname   # egress towards dst
        return src, p.iface(src)

    def _drop_point(self, p, src, dst):
        if p.router:
            return p.router, self._router_end(p, src).ifname    # ingress from src
        return dst, p.iface(dst)

    def shaping_points(self, path, direction="both"):
        """[(node, ifname)] where set_rate puts the qdisc for this path/direction."""
        p = self.paths[path]
        return [self._shaping_point(p, s, d) for s, d in _directions(p, direction)]

    def drop_points(self, path, direction="both"):
        """[(node, ifname)] whose ingress chain drops for loss/blackhole on this path."""
        p = self.paths[path]
        return [self._drop_point(p, s, d) for s, d in _directions(p, direction)]

    def set_rate(self, path, rate, direction="both", kind="tbf", burst=None, latency="50ms"):
        """Caps path's rate (e.g. '20mbit') in direction 'a>b', 'b>a' or 'both' with a tbf
        (default) or htb root qdisc; replaces an earlier one. rate None/0 clears."""
        if not rate:
            return self.clear_rate(path, direction)
        bits = parse_rate(rate)
        # At least 32 KiB, and 10 ms worth at this rate (timer granularity).
        burst_bytes = burst or max(32 * 1024, bits // 8 // 100)
        for role, dev in self.shaping_points(path, direction):
            node = self.nodes[role]
            if kind == "tbf":
                node.run(["tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate",
                          format_rate(bits), "burst", str(burst_bytes), "latency", latency])
            elif kind == "htb":
                node.run(["tc", "qdisc", "del", "dev", dev, "root"], check=False)
                node.run(["tc", "qdisc", "add", "dev", dev, "root", "handle", "1:", "htb",
                          "default", "10"])
                node.run(["tc", "class", "add", "dev", dev, "parent", "1:", "classid", "1:10",
                          "htb", "rate", format_rate(bits), "ceil", format_rate(bits), "burst",
                          str(burst_bytes), "cburst", str(burst_bytes)])
            else:
                raise ValueError("kind must be tbf or htb")
            self._rate_state[(role, dev)] = {"rate": format_rate(bits), "kind": kind}
        self._save_if_persistent()

    def clear_rate(self, path, direction="both"):
        for role, dev in self.shaping_points(path, direction):
            self.nodes[role].run(["tc", "qdisc", "del", "dev", dev, "root"], check=False)
            self._rate_state.pop((role, dev), None)
        self._save_if_persistent()

    def qdisc_stats(self, path, direction):
        """tc -s statistics of the rate qdisc of one direction: {'bytes', 'packets', 'drops',
        'overlimits', ...} (empty without a qdisc)."""
        (role, dev), = self.shaping_points(path, direction)
        out = self.nodes[role].run(["tc", "-s", "-j", "qdisc", "show", "dev", dev]).stdout
        for q in json.loads(out or "[]"):
            if q.get("root"):
                return q
        return {}

    def set_loss(self, path, percent, direction="both"):
        """Drops `percent` % (0.001 % steps; 0 clears) of the IP packets of path in direction
        'a>b', 'b>a' or 'both' (nft netdev ingress at the drop point, see module docstring)."""
        for role, dev in self.drop_points(path, direction):
            self._drop_state.setdefault((role, dev), {"loss": 0, "blackhole": False})
            self._drop_state[(role, dev)]["loss"] = float(percent or 0)
            self._apply_drops(role, dev)
        self._save_if_persistent()

    def blackhole(self, path, direction="both"):
        """Silently drops every packet (ARP included) on path: a dead path whose links stay
        up. restore() undoes it."""
        for role, dev in self.drop_points(path, direction):
            self._drop_state.setdefault((role, dev), {"loss": 0, "blackhole": False})
            self._drop_state[(role, dev)]["blackhole"] = True
            self._apply_drops(role, dev)
        self._save_if_persistent()

    def restore(self, path, direction="both"):
        """Ends a blackhole (loss settings stay)."""
        for role, dev in self.drop_points(path, direction):
            if (role, dev) in self._drop_state:
                self._drop_state[(role, dev)]["blackhole"] = False
                self._apply_drops(role, dev)
        self._save_if_persistent()

    def _apply_drops(self, role, dev):
        st = self._drop_state[(role, dev)]
        threshold = int(round(st["loss"] * LOSS_SCALE / 100.0))
        if not 0 <= threshold <= LOSS_SCALE:
            raise ValueError("loss must be within 0..100 %%: %r" % st["loss"])
        chain = "in_" + dev
        rules = []
        if st["blackhole"]:
            rules.append("counter name blackhole_%s drop" % dev)
        if threshold:
            rules.append("arp operation != 0 accept")  # ARP: always through (not 'loss')
            rules.append("icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, "
                         "nd-router-solicit, nd-router-advert } accept")
            rules.append("meta protocol { ip, ip6 } numgen random mod %d < %d "
                         "counter name loss_%s drop" % (LOSS_SCALE, threshold, dev))
        # One transaction: declare (idempotent), flush, refill.
        script = ["table netdev %s {" % NFT_TABLE,
                  "  counter loss_%s { }" % dev,
                  "  counter blackhole_%s { }" % dev,
                  "  chain %s { type filter hook ingress device \"%s\" priority 0; "
                  "policy accept; }" % (chain, dev),
                  "}",
                  "flush chain netdev %s %s" % (NFT_TABLE, chain)]
        script += ["add rule netdev %s %s %s" % (NFT_TABLE, chain, r) for r in rules]
        self.nodes[role].run(["nft", "-f", "-"], input="\n".join(script) + "\n")

    def drops(self, path, direction):
        """Packets dropped so far by loss and blackhole on path in one direction:
        {'loss': n, 'blackhole': m}."""
        (role, dev), = self.drop_points(path, direction)
        res = {"loss": 0, "blackhole": 0}
        if (role, dev) not in self._drop_state:
            return res
        out = self.nodes[role].run(["nft", "-j", "list", "counters", "table", "netdev",
                                    NFT_TABLE]).stdout
        for item in json.loads(out)["nftables"]:
            c = item.get("counter")
            if c and c["name"] in ("loss_" + dev, "blackhole_" + dev):
                res[c["name"].split("_")[0]] = c["packets"]
        return res

    def _link_end(self, path, at):
        p = self.paths[path]
        at = self.node_names[0] if at is None else (at.name if isinstance(at, Node) else at)
        if at in self.node_names:
            return at, p.iface(at)
        e = p.find_iface(at)
        return e.role, e.ifname

    def link_down(self, path, at=None):
        """Sets one interface of path down (default: the first endpoint's; `at` is an endpoint
        name or an interface name such as 'r1b'). The veth peer loses carrier too."""
        role, dev = self._link_end(path, at)
        self.nodes[role].ip(["link", "set", dev, "down"])
        self._link_down.add((role, dev))
        self._save_if_persistent()

    def link_up(self, path, at=None, timeout=10):
        """Brings the interface back, waits for carrier, and re-installs the routes the kernel
        removed with the link (addresses are kept: keep_addr_on_down)."""
        role, dev = self._link_end(path, at)
        self.nodes[role].ip(["link", "set", dev, "up"])
        self._link_down.discard((role, dev))
        self.wait_settled(timeout)
        p = self.paths[path]
        roles = {e.role for e in p.all_ends()}
        for r in sorted(roles):
            if r in self.node_names and (r, p.iface(r)) in self.dpdk_owned:
                continue  # the kernel has no addresses there: DPDK owns the interface
            ip_batch(self._route_lines(r, [p]), ns=self.nodes[r].ns)
        # Routers of other paths route to this path's subnets through their own links: intact.
        self._save_if_persistent()

    def impairments(self):
        """Current impairments: {'rates': {..}, 'drops': {..}, 'down': [..]} keyed by
        'node/ifname'."""
        return {"rates": {"%s/%s" % k: v for k, v in sorted(self._rate_state.items())},
                "drops": {"%s/%s" % k: v for k, v in sorted(self._drop_state.items())
                          if v["loss"] or v["blackhole"]},
                "down": sorted("%s/%s" % k for k in self._link_down)}

    # Captures.
    def capture(self, node, ifaces=None, name=None, snaplen=None, capture_filter=None,
                max_seconds=600):
        """Starts dumpcap (classic pcap) on each interface of node (default: all its path
        interfaces), one file per interface in workdir; returns once every capture is live.
        Returns a list of Capture; stop them with .stop() (or at cleanup)."""
        from .capture import Capture
        node = self.node(node)
        if ifaces is None:
            ifaces = [e.ifname for p in self.paths for e in p.all_ends() if e.role == node.name]
        elif isinstance(ifaces, str):
            ifaces = [ifaces]
        caps = []
        for ifname in ifaces:
            fname = "%s%s-%s.pcap" % ((name + "-") if name else "", node.name, ifname)
            cap = Capture(node, ifname, os.path.join(self.workdir, fname), snaplen=snaplen,
                          capture_filter=capture_filter, max_seconds=max_seconds)
            self._captures.append(cap)
            cap.start()
            caps.append(cap)
        for cap in caps:
            cap.wait_started()
        return caps

    # Kernel peer (python MPTCP/TCP server and client, see peer.py).
    def start_server(self, node, port, **kwargs):
        from . import peer
        return peer.start_server(self.node(node), port, **kwargs)

    def run_client(self, node, addr, port, **kwargs):
        from . import peer
        return peer.run_client(self.node(node), addr, port, **kwargs)

    def start_client(self, node, addr, port, **kwargs):
        """The peer client in the background: returns a PeerClient (.result(timeout))."""
        from . import peer
        return peer.start_client(self.node(node), addr, port, **kwargs)

    def transfer(self, src, dst, addr, nbytes, port=5201, **kwargs):
        """Sends nbytes from node src to a sink server on node dst at addr; returns the result
        dict (see peer.transfer)."""
        from . import peer
        return peer.transfer(self.node(src), self.node(dst), addr, nbytes, port=port, **kwargs)

    # Description, persistence.
    def to_state(self):
        return {
            "id": self.id, "prefix": self.prefix, "nodes": list(self.node_names),
            "specs": self.specs, "mptcp": self.mptcp, "offload": self.offload,
            "workdir": self._workdir,
            "namespaces": {n.name: n.ns for n in self.nodes.values()},
            "paths": [p.to_dict() for p in self.paths],
            "drop_state": [[r, d, v] for (r, d), v in self._drop_state.items()],
            "rate_state": [[r, d, v] for (r, d), v in self._rate_state.items()],
            "link_down": [list(k) for k in self._link_down],
        }

    def _save_if_persistent(self):
        if self.persistent and self.started and not self.closed:
            sweep.save_state(self.id, self.to_state())

    @classmethod
    def attach(cls, tb_id):
        """A handle on a persistent (CLI-created) testbed, for changing or removing it."""
        st = sweep.load_state(tb_id)
        tb = cls(paths=st["specs"], nodes=st["nodes"], mptcp=st["mptcp"], prefix=st["prefix"],
                 offload=st.get("offload", False),
                 workdir=st["workdir"], keep="always", persistent=True, sweep_stale=False,
                 tb_id=st["id"])
        tb.started = True
        tb._drop_state = {(r, d): v for r, d, v in st["drop_state"]}
        tb._rate_state = {(r, d): v for r, d, v in st["rate_state"]}
        tb._link_down = {tuple(k) for k in st["link_down"]}
        return tb

    def describe(self):
        """Human-readable summary: namespaces, interfaces, addresses, impairments."""
        out = ["testbed %s (%d path%s)%s" % (self.id, len(self.paths),
                                             "" if len(self.paths) == 1 else "s",
                                             "  artifacts: %s" % self._workdir
                                             if self._workdir else "")]
        for n in self.nodes.values():
            out.append("  %-6s netns %s" % (n.name, n.ns))
        imp = self.impairments()
        for p in self.paths:
            out.append("  path %d%s:" % (p.index, " via router %s" % p.router if p.router
                                         else ""))
            for s in p.segments:
                out.append("    %-4s %-5s %-15s %-20s <-> %-4s %-5s %-15s %s" %
                           (s.left.role, s.left.ifname, s.left.v4, s.left.v6, s.right.role,
                            s.right.ifname, s.right.v4, s.right.v6))
            for src, dst in _directions(p, "both"):
                notes = []
                rk = "%s/%s" % self._shaping_point(p, src, dst)
                if rk in imp["rates"]:
                    notes.append("%s %s at %s egress" % (imp["rates"][rk]["kind"],
                                                        imp["rates"][rk]["rate"], rk))
                dk = "%s/%s" % self._drop_point(p, src, dst)
                d = imp["drops"].get(dk, {})
                if d.get("loss"):
                    notes.append("loss %g%% at %s ingress" % (d["loss"], dk))
                if d.get("blackhole"):
                    notes.append("BLACKHOLE at %s ingress" % dk)
                if notes:
                    out.append("    %s>%s: %s" % (src, dst, ", ".join(notes)))
            down = [k for k in imp["down"]
                    if k in {"%s/%s" % (e.role, e.ifname) for e in p.all_ends()}]
            if down:
                out.append("    link DOWN: %s" % ", ".join(down))
        return "\n".join(out)
