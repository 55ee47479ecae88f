#!/usr/bin/env python3
"""braid-agent with braid-cni driven by hand, against the Linux kernel (CTest label e2e).

  agent_test.py [SCENARIO ...]      (default: every scenario)

The node namespace holds the agent's two paths (veths, AF_PACKET) to a kernel MPTCP peer that
listens on both paths' addresses and announces its second one. braid-cni runs as a runtime runs
it (CNI_* environment, the network configuration on stdin) with Debian's host-local for IPAM;
pods are plain network namespaces holding only `lo`. The pods' applications are unmodified
(curl) with LD_PRELOAD=libbraid_preload.so: their sockets are Braid's, reached through the
channel the agent bound inside the pod's namespace.

Scenarios:
  cni        ADD with braid.io/* pod annotations (chained mode's runtimeConfig): curl in the pod
             fetches 4 MB from the kernel peer byte-exact over MPTCP (the kernel counts
             MP_CAPABLE and a join per extra path); /metrics passes `promtool check metrics`
             and counts the pod's app; DEL (twice) leaves no record, no lease, no bound name.
  options    two pods, options from Multus cni-args: one with path-manager ndiffports and 3
             subflows on path0 only, one with its defaults; the kernel peer sees 2 joins for
             the first, and for the second a join on path1; bad options are refused with code 7
             and leave nothing behind.
  braidctl   braidctl's view of a live connection (connections --subflows, JSON) against the
             kernel peer's: the MPTCP token (`ss -Mni`), every subflow's addresses and ports,
             and the bytes each subflow carried (`ss -tni` bytes_acked), equal.
  endpoints  the pod asks for MPTCP endpoints over gRPC on its own socket (braid-endpoint in the
             pod): an outgoing policy gives its scheduler to the connects it matches and not to
             the others; a listener endpoint to the connections a kernel client makes to the
             pod's server (the shim's python http.server); bad requests get their gRPC codes;
             after an agent restart the endpoints are served again.
  capture    braidctl capture of a path during a transfer and of one live connection (by id,
             to a packet limit): pcap files tshark reads, holding only the connection's
             subflows, with MPTCP options.
  carrier    a path's link loses carrier mid-transfer (the peer's end of the veth goes down):
             braid_path_up goes 0, the connection's subflows there close as path-down, the
             transfer goes on; when the link returns, a subflow over it is re-created (the
             kernel peer has one on its path1 address again); the file arrives byte-exact.
  restart    the agent is killed (SIGKILL) with a pod attached; restarted, it serves the pod
             again: a new curl works. The pod's earlier socket name is re-bound, no leak.
  prometheus a real Prometheus server scrapes the agent and answers a query on a Braid series.

Exit 0 pass, 1 fail, 77 skip (not root, no namespaces/MPTCP, a binary or tool missing).
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "lib"))

from braidtest.check import Checker  # noqa: E402
from braidtest.skip import SKIP, check_e2e  # noqa: E402
from braidtest.sweep import DEFAULT_PREFIX  # noqa: E402

BUILD = os.path.abspath(os.environ.get("BRAID_BUILD_DIR", os.path.join(HERE, "..", "..", "build")))
AGENT = os.path.join(BUILD, "agent", "braid-agent")
CNI = os.path.join(BUILD, "cni", "braid-cni")
PRELOAD = os.path.join(BUILD, "sdk", "preload", "libbraid_preload.so")
CNI_DIR = "/usr/lib/cni"
SCENARIOS = ("cni", "options", "restart", "carrier", "braidctl", "endpoints", "capture",
             "prometheus")
BRAIDCTL = os.path.join(BUILD, "tools", "braidctl", "braidctl")
ENDPOINT = os.path.join(BUILD, "tools", "braid-endpoint", "braid-endpoint")
BLOB_BYTES = 4 * 1000 * 1000
BIG_BYTES = 24 * 1000 * 1000
HTTP_PORT = 8080
METRICS_PORT = 19470
PATHS = (("path0", "10.90.0"), ("path1", "10.91.0"))


def sh(argv, ns=None, check=True, **kw):
    if ns:
        argv = ["ip", "netns", "exec", ns] + argv
    p = subprocess.run(argv, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), (p.stderr or p.stdout).strip()))
    return p


class Bed:
    """The namespaces, the kernel peer, the agent's config and its process."""

    def __init__(self, tmp):
        self.tmp = tmp
        base = "%s%d-%d-" % (DEFAULT_PREFIX, os.getpid(), int(time.time()) % 100000)
        self.node, self.peer = base + "node", base + "peer"
        self.pods = []
        self.agent = None
        self.server = None
        self.config = os.path.join(tmp, "agent.yaml")
        self.socket = os.path.join(tmp, "agent.sock")
        self.state = os.path.join(tmp, "state")
        self.ipam = os.path.join(tmp, "ipam")
        self.www = os.path.join(tmp, "www")
        self.base = base

    def up(self):
        for ns in (self.node, self.peer):
            sh(["ip", "netns", "add", ns])
            sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        for i, (_, net) in enumerate(PATHS):
            sh(["ip", "link", "add", "a%d" % i, "netns", self.node, "type", "veth", "peer",
                "name", "p%d" % i, "netns", self.peer])
            sh(["ip", "-n", self.peer, "addr", "add", "%s.254/24" % net, "dev", "p%d" % i])
            for ns, dev in ((self.node, "a%d" % i), (self.peer, "p%d" % i)):
                sh(["ip", "-n", ns, "link", "set", dev, "up"])
                # AF_PACKET sees what the veth hands it: no offloaded checksums.
                sh(["ethtool", "-K", dev, "tx", "off", "rx", "off"], ns=ns, check=False)
        sh(["sysctl", "-qw", "net.mptcp.enabled=1"], ns=self.peer)
        sh(["ip", "-n", self.peer, "mptcp", "endpoint", "add", "%s.254" % PATHS[1][1], "signal"])
        sh(["ip", "-n", self.peer, "mptcp", "limits", "set", "subflows", "8",
            "add_addr_accepted", "8"])
        os.makedirs(self.www)
        with open(os.path.join(self.www, "blob"), "wb") as f:
            f.write(os.urandom(BLOB_BYTES))
        # Read slowly, a file larger than the connection's buffers keeps a connection busy.
        with open(os.path.join(self.www, "big"), "wb") as f:
            f.write(os.urandom(BIG_BYTES))
        self.server = subprocess.Popen(
            ["ip", "netns", "exec", self.peer, "mptcpize", "run", "python3", "-m", "http.server",
             str(HTTP_PORT)], cwd=self.www, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(self.config, "w") as f:
            f.write(self.agent_yaml())
        self.start_agent()

    def agent_yaml(self):
        lines = ["node: {name: e2e, state_dir: %s}" % self.state,
                 "api: {cni_socket: %s, debug_socket: %s, metrics_listen: \"127.0.0.1:%d\"}" %
                 (self.socket, self.socket, METRICS_PORT),
                 "datapath: {lcores: [1]}", "paths:"]
        for i, (name, net) in enumerate(PATHS):
            lines.append("  - {name: %s, kind: af_packet, netdev: a%d, ipv4_subnet: %s.0/24, "
                         "ipv4_gateway: %s.254}" % (name, i, net, net))
        return "\n".join(lines) + "\n"

    def start_agent(self):
        log = open(os.path.join(self.tmp, "agent.log"), "a")
        self.agent = subprocess.Popen(["ip", "netns", "exec", self.node, AGENT, "--config",
                                       self.config], stdout=log, stderr=log)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.agent.poll() is not None:
                raise RuntimeError("braid-agent exited: " + self.agent_log())
            if self.metrics("/readyz")[0] == 200:
                return
            time.sleep(0.1)
        raise RuntimeError("braid-agent not ready in 20 s: " + self.agent_log())

    def stop_agent(self, sig=signal.SIGTERM):
        if self.agent and self.agent.poll() is None:
            self.agent.send_signal(sig)
            try:
                self.agent.wait(10)
            except subprocess.TimeoutExpired:
                self.agent.kill()
                self.agent.wait()
        self.agent = None

    def agent_log(self):
        with open(os.path.join(self.tmp, "agent.log")) as f:
            return f.read()[-3000:]

    def metrics(self, path):
        """(status, body) of the agent's HTTP endpoint, fetched inside the node namespace."""
        p = sh(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "5",
                "http://127.0.0.1:%d%s" % (METRICS_PORT, path)], ns=self.node, check=False)
        body, _, code = p.stdout.rpartition("\n")
        return (int(code) if code.isdigit() else 0), body

    def add_pod(self, role):
        ns = self.base + role
        sh(["ip", "netns", "add", ns])
        sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        self.pods.append(ns)
        return ns

    def netconf(self, annotations=None, cni_args=None):
        conf = {"cniVersion": "1.1.0", "name": "braid", "type": "braid-cni",
                "agentSocket": self.socket,
                "ipam": {"type": "host-local", "dataDir": self.ipam},
                "capabilities": {"io.kubernetes.cri.pod-annotations": True},
                "paths": [{"name": name, "ranges": [{"subnet": "%s.0/24" % net,
                                                     "gateway": "%s.254" % net,
                                                     "rangeStart": "%s.10" % net,
                                                     "rangeEnd": "%s.40" % net}]}
                          for name, net in PATHS]}
        if annotations:
            conf["runtimeConfig"] = {"io.kubernetes.cri.pod-annotations": annotations}
        if cni_args:
            conf["args"] = {"cni": cni_args}
        return conf

    def cni(self, command, ns, container, conf, pod="web"):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CNI_COMMAND": command,
               "CNI_CONTAINERID": container, "CNI_NETNS": "/var/run/netns/" + ns,
               "CNI_IFNAME": "eth0", "CNI_PATH": CNI_DIR,
               "CNI_ARGS": "K8S_POD_NAMESPACE=e2e;K8S_POD_NAME=%s" % pod}
        p = subprocess.run([CNI], input=json.dumps(conf), capture_output=True, text=True,
                           env=env, timeout=30)
        try:
            out = json.loads(p.stdout) if p.stdout.strip() else {}
        except ValueError:
            out = {"raw": p.stdout}
        return p.returncode, out, p.stderr

    def fetch(self, ns, url_host, out):
        """curl in the pod through the shim; (exit code, seconds)."""
        t0 = time.time()
        p = sh(["env", "BRAID_FALLBACK=fail", "LD_PRELOAD=" + PRELOAD, "curl", "-s",
                "--max-time", "30", "-o", out, "http://%s:%d/blob" % (url_host, HTTP_PORT)],
               ns=ns, check=False)
        return p.returncode, time.time() - t0

    def same_blob(self, path):
        with open(path, "rb") as a, open(os.path.join(self.www, "blob"), "rb") as b:
            return a.read() == b.read()

    def peer_counters(self):
        p = sh(["nstat", "-az"], ns=self.peer)
        out = {}
        for line in p.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].startswith("MPTcpExt"):
                out[parts[0]] = int(parts[1])
        return out

    def leases(self):
        d = os.path.join(self.ipam, "braid")
        if not os.path.isdir(d):
            return []
        return sorted(f for f in os.listdir(d) if f[0].isdigit())

    def records(self):
        d = os.path.join(self.state, "pods")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []

    def down(self):
        self.stop_agent()
        if self.server:
            self.server.kill()
            self.server.wait()
        for ns in self.pods + [self.node, self.peer]:
            sh(["ip", "netns", "del", ns], check=False)


def bound_names(ns):
    """Abstract unix names listening in the namespace."""
    p = sh(["ss", "-xlH"], ns=ns, check=False)
    return [w for w in p.stdout.split() if w.startswith("@")]


def scenario_cni(bed, ck):
    pod = bed.add_pod("pod1")
    conf = bed.netconf(annotations={"braid.io/scheduler": "roundrobin",
                                    "other.io/ignored": "x"})
    code, result, err = bed.cni("ADD", pod, "ctr-cni", conf)
    ck(code == 0, "ADD succeeds", err)
    ifaces = result.get("interfaces", [])
    ck(ifaces and ifaces[0].get("socketPath") == "@braid/node",
       "the result names the pod's channel socket (CNI 1.1 socketPath)", result)
    ck(len(result.get("ips", [])) == 2, "one address per path", result)
    ck("@braid/node" in bound_names(pod), "the channel is bound in the pod's namespace",
       bound_names(pod))
    if os.path.exists(BRAIDCTL):
        p = sh([BRAIDCTL, "--socket", bed.socket, "-o", "json", "pods"], ns=bed.node, check=False)
        pods = json.loads(p.stdout or "{}").get("pods", [])
        ck(len(pods) == 1 and pods[0].get("options", {}).get("scheduler") == "roundrobin",
           "braidctl pods shows the annotation's scheduler", p.stdout[:300] + p.stderr)
    before = bed.peer_counters()
    out = os.path.join(bed.tmp, "cni.blob")
    rc, secs = bed.fetch(pod, "%s.254" % PATHS[0][1], out)
    ck(rc == 0 and bed.same_blob(out), "curl in the pod gets the blob byte-exact (%.2f s)" % secs,
       "curl exit %d" % rc)
    after = bed.peer_counters()

    def delta(name):
        return after.get(name, 0) - before.get(name, 0)
    seen = {k: delta(k) for k in ("MPTcpExtMPCapableSYNRX", "MPTcpExtMPJoinSynRx",
                                  "MPTcpExtMPJoinAckRx", "MPTcpExtAddAddrTx", "MPTcpExtEchoAdd")}
    ck(seen["MPTcpExtMPCapableSYNRX"] == 1, "the kernel saw one MP_CAPABLE SYN", seen)
    ck(seen["MPTcpExtMPJoinAckRx"] >= 1, "the kernel saw a join complete (path1)", seen)
    status, body = bed.metrics("/metrics")
    ck(status == 200 and 'braid_channel_apps_attached_total{namespace="e2e",pod="web"} 1' in body,
       "/metrics counts the pod's app", "" if status == 200 else body[:300])
    ck('braid_path_rx_packets_total{path="path0"}' in body and
       'braid_path_up{path="path1"} 1' in body, "/metrics has per-path series",
       [line for line in body.splitlines() if line.startswith("braid_path_")][:4])
    if shutil.which("promtool"):
        p = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                           text=True)
        ck(p.returncode == 0, "promtool check metrics passes", p.stdout + p.stderr)
    for i in range(2):
        code, result, err = bed.cni("DEL", pod, "ctr-cni", conf)
        ck(code == 0, "DEL #%d succeeds" % (i + 1), err or result)
    ck(bed.records() == [], "no pod record left", bed.records())
    ck(bed.leases() == [], "no address lease left", bed.leases())
    ck("@braid/node" not in bound_names(pod), "the channel name is unbound", bound_names(pod))


def scenario_options(bed, ck):
    a = bed.add_pod("popt1")
    b = bed.add_pod("popt2")
    nd = bed.netconf(cni_args={"path-manager": "ndiffports", "ndiffports-subflows": 3,
                               "paths": ["path0"]})
    code, result, err = bed.cni("ADD", a, "ctr-nd", nd, pod="nd")
    ck(code == 0, "ADD with Multus cni-args (ndiffports, 3 subflows, path0)", err)
    plain = bed.netconf()
    code, result, err = bed.cni("ADD", b, "ctr-plain", plain, pod="plain")
    ck(code == 0, "ADD with the defaults", err)
    # ndiffports with 3 subflows on path0 only: 2 joins over the initial pair, none to the
    # address the peer announces on path1 (the pod has no address of its own selected there).
    # The defaults: a subflow from the pod's path1 address, and one to the announced address.
    for ns, name, joins in ((a, "ndiffports", 2), (b, "defaults", 2)):
        before = bed.peer_counters()
        out = os.path.join(bed.tmp, name + ".blob")
        rc, _ = bed.fetch(ns, "%s.254" % PATHS[0][1], out)
        ck(rc == 0 and bed.same_blob(out), "%s pod: byte-exact" % name, "curl exit %d" % rc)
        after = bed.peer_counters()
        got = after.get("MPTcpExtMPJoinSynRx", 0) - before.get("MPTcpExtMPJoinSynRx", 0)
        ck(got == joins, "%s pod: the kernel saw %d join SYNs" % (name, joins),
           "saw %d" % got)
    bad = bed.netconf(cni_args={"scheduler": "fastest"})
    c = bed.add_pod("popt3")
    code, result, err = bed.cni("ADD", c, "ctr-bad", bad, pod="bad")
    ck(code == 1 and result.get("code") == 7 and "fastest" in result.get("msg", ""),
       "a bad option is refused with CNI code 7 naming it", result)
    ck("@braid/node" not in bound_names(c), "nothing bound for the refused pod", bound_names(c))
    for ns, cid, conf in ((a, "ctr-nd", nd), (b, "ctr-plain", plain), (c, "ctr-bad", bad)):
        code, result, err = bed.cni("DEL", ns, cid, conf)
        ck(code == 0, "DEL %s" % cid, err or result)
    ck(bed.records() == [] and bed.leases() == [], "no record, no lease left",
       (bed.records(), bed.leases()))


def scenario_restart(bed, ck):
    pod = bed.add_pod("prst")
    conf = bed.netconf()
    code, result, err = bed.cni("ADD", pod, "ctr-rst", conf)
    ck(code == 0, "ADD", err)
    # A transfer in flight when the agent dies fails promptly (agent/README.md: the datapath is
    # the agent's process; the app's socket reports ECONNABORTED), it does not hang.
    slow = subprocess.Popen(
        ["ip", "netns", "exec", pod, "env", "BRAID_FALLBACK=fail", "LD_PRELOAD=" + PRELOAD,
         "curl", "-s", "--limit-rate", "1M", "--max-time", "60", "-o",
         os.path.join(bed.tmp, "cut.blob"), "http://%s.254:%d/big" % (PATHS[0][1], HTTP_PORT)])
    time.sleep(1.5)
    ck(slow.poll() is None, "a rate-limited curl is mid-transfer")
    killed = time.time()
    bed.stop_agent(signal.SIGKILL)
    try:
        rc = slow.wait(15)
    except subprocess.TimeoutExpired:
        slow.kill()
        rc = None
    got = os.path.getsize(os.path.join(bed.tmp, "cut.blob"))
    ck(rc not in (None, 0) and got < BIG_BYTES,
       "the cut transfer fails within %.1f s, short (%d of %d bytes)" %
       (time.time() - killed, got, BIG_BYTES), "curl exit %s" % rc)
    ck("@braid/node" not in bound_names(pod), "the killed agent's channel name is gone",
       bound_names(pod))
    bed.start_agent()
    ck("served again" in bed.agent_log(), "the restarted agent serves the recorded pod again",
       "" if "served again" in bed.agent_log() else bed.agent_log())
    ck("@braid/node" in bound_names(pod), "the channel is bound again", bound_names(pod))
    out = os.path.join(bed.tmp, "restart.blob")
    rc, _ = bed.fetch(pod, "%s.254" % PATHS[1][1], out)
    ck(rc == 0 and bed.same_blob(out), "a new curl after the restart is byte-exact",
       "curl exit %d" % rc)
    check, _, err = bed.cni("CHECK", pod, "ctr-rst", dict(conf, prevResult=result))
    ck(check == 0, "CHECK after the restart passes", err)
    code, result, err = bed.cni("DEL", pod, "ctr-rst", conf)
    ck(code == 0 and bed.records() == [] and bed.leases() == [], "DEL leaves nothing",
       (code, bed.records(), bed.leases()))


def metric_value(body, series):
    """The value of one exact series line ('name{labels}') in a /metrics body, else None."""
    for line in body.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def metric_sum(body, name):
    """The sum of every series of metric `name` (over all label sets, e.g. per worker)."""
    return sum(float(line.split()[-1]) for line in body.splitlines()
               if line.startswith((name + "{", name + " ")))


# The peer's server for scenario_carrier: it answers one GET with the file and keeps its end open
# until the client closes. python's http.server closes as soon as the last bytes fit in its send
# buffer, and the kernel then refuses joins (MPJoinRejected: its connection is no longer
# established), which made a re-join a race against how much the node buffers.
HOLD_SERVER = """
import socket, sys
data = open(sys.argv[2], "rb").read()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(4)
while True:
    c, _ = s.accept()
    c.recv(65536)
    c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(data) + data)
    while c.recv(65536):
        pass
    c.close()
"""
HOLD_PORT = 8082


def scenario_carrier(bed, ck):
    pod = bed.add_pod("pcar")
    conf = bed.netconf()
    code, _, err = bed.cni("ADD", pod, "ctr-car", conf)
    ck(code == 0, "ADD", err)
    out = os.path.join(bed.tmp, "carrier.blob")
    server = subprocess.Popen(
        ["ip", "netns", "exec", bed.peer, "mptcpize", "run", "python3", "-c", HOLD_SERVER,
         str(HOLD_PORT), os.path.join(bed.www, "big")], stdout=subprocess.DEVNULL)
    try:
        scenario_carrier_transfer(bed, ck, pod, out)
    finally:
        server.kill()
        server.wait()
    code, _, err = bed.cni("DEL", pod, "ctr-car", conf)
    ck(code == 0, "DEL", err)


def scenario_carrier_transfer(bed, ck, pod, out):
    deadline = time.time() + 5
    while time.time() < deadline and sh(["ss", "-tlnH", "sport", "= :%d" % HOLD_PORT],
                                        ns=bed.peer).stdout.strip() == "":
        time.sleep(0.05)
    slow = subprocess.Popen(
        ["ip", "netns", "exec", pod, "env", "BRAID_FALLBACK=fail", "LD_PRELOAD=" + PRELOAD,
         "curl", "-s", "--limit-rate", "2M", "--max-time", "60", "-o", out,
         "http://%s.254:%d/big" % (PATHS[0][1], HOLD_PORT)])
    time.sleep(1.0)
    _, body = bed.metrics("/metrics")
    before_down = metric_sum(body, "braid_mptcp_subflows_path_down_total")
    # The peer's end of path1 goes down: the node's netdev a1 loses carrier (the AF_PACKET PMD
    # itself keeps saying up; io::Port::Link asks the kernel).
    sh(["ip", "-n", bed.peer, "link", "set", "p1", "down"])
    down_at = time.time()
    seen = None
    while time.time() - down_at < 3:
        _, body = bed.metrics("/metrics")
        if metric_value(body, 'braid_path_up{path="path1"}') == 0:
            seen = time.time() - down_at
            break
        time.sleep(0.02)
    ck(seen is not None, "braid_path_up{path=\"path1\"} is 0 once a1 loses carrier (%s)" %
       ("%.0f ms" % (seen * 1e3) if seen is not None else "not in 3 s"))
    time.sleep(0.3)
    _, body = bed.metrics("/metrics")
    closed = metric_sum(body, "braid_mptcp_subflows_path_down_total") - before_down
    ck(closed >= 1, "the subflows on path1 closed as path-down (%d)" % closed,
       [line for line in body.splitlines() if "path_down" in line or "link_changes" in line])
    ck(slow.poll() is None, "the transfer goes on over path0")
    on_path1 = "%s.254:%d" % (PATHS[1][1], HOLD_PORT)

    def path1_subflows():
        return [k for k in kernel_subflows(bed) if k[0] == on_path1]
    # The closed subflows' ends linger at the peer (their RST could not cross the dead link).
    stale = set(path1_subflows())
    sh(["ip", "-n", bed.peer, "link", "set", "p1", "up"])
    up_at = time.time()
    rejoined = None
    while time.time() - up_at < 5 and slow.poll() is None:
        if set(path1_subflows()) - stale:
            rejoined = time.time() - up_at
            break
        time.sleep(0.05)
    _, body = bed.metrics("/metrics")
    ck(rejoined is not None, "a new subflow over path1 is created once it is back (%s)" %
       ("after %.2f s" % rejoined if rejoined is not None else
        "none in 5 s" if slow.poll() is None else
        "none before the transfer ended, %.2f s after" % (time.time() - up_at)),
       # The kernel's join counters first: the detail is cut at 1500 characters.
       "" if rejoined is not None else
       ["kernel %s %d" % kv for kv in sorted(bed.peer_counters().items()) if "Join" in kv[0]] +
       [line for line in body.splitlines() if line.startswith("braid_mptcp_") and
        not line.endswith(" 0")])
    ck(metric_value(body, 'braid_path_up{path="path1"}') == 1 and
       metric_sum(body, "braid_worker_link_changes_total") >= 2,
       "path1 is up again; the worker saw the link go down and come back",
       [line for line in body.splitlines() if "link_changes" in line or "path_up" in line])
    try:
        rc = slow.wait(30)
    except subprocess.TimeoutExpired:
        slow.kill()
        rc = None
    with open(out, "rb") as a, open(os.path.join(bed.www, "big"), "rb") as b:
        same = a.read() == b.read()
    ck(rc == 0 and same, "the %d MB transfer across the cut is byte-exact" % (BIG_BYTES // 10**6),
       "curl exit %s" % rc)


def kernel_subflows(bed):
    """The peer's TCP subflows: {(local, peer): {"bytes_acked": n, "token": hex}}."""
    out = {}
    lines = sh(["ss", "-tniH"], ns=bed.peer).stdout.splitlines()
    for head, info in zip(lines[0::2], lines[1::2]):
        f = head.split()
        if len(f) < 4:
            continue
        fields = dict(kv.split(":", 1) for kv in info.split() if ":" in kv)
        token = fields.get("token", "").split("/")[-1].split("(")[0]
        out[(f[-2], f[-1])] = {"bytes_acked": int(fields.get("bytes_acked", "0")),
                               "token": token}
    return out


def scenario_braidctl(bed, ck):
    if not os.path.exists(BRAIDCTL):
        ck.info("braidctl not built: scenario skipped")
        return
    pod = bed.add_pod("pctl")
    conf = bed.netconf()
    code, _, err = bed.cni("ADD", pod, "ctr-ctl", conf)
    ck(code == 0, "ADD", err)
    # curl reads slowly: the peer has sent everything and the connection stays open, quiet.
    slow = subprocess.Popen(
        ["ip", "netns", "exec", pod, "env", "BRAID_FALLBACK=fail", "LD_PRELOAD=" + PRELOAD,
         "curl", "-s", "--limit-rate", "200k", "--max-time", "60", "-o", "/dev/null",
         "http://%s.254:%d/blob" % (PATHS[0][1], HTTP_PORT)])
    try:
        time.sleep(3)
        p = sh([BRAIDCTL, "--socket", bed.socket, "-o", "json", "connections", "--subflows"],
               ns=bed.node, check=False)
        ck(p.returncode == 0, "braidctl connections --subflows", p.stderr)
        conns = json.loads(p.stdout or "{}").get("connections", [])
        ck(len(conns) == 1, "one connection, the pod's",
           "%d; curl %s" % (len(conns), "running" if slow.poll() is None else
                            "exited %s" % slow.returncode))
        if not conns:
            return
        c = conns[0]
        ck(c.get("pod", {}).get("name") == "web", "attributed to pod e2e/web", c.get("pod"))
        kernel = kernel_subflows(bed)
        tokens = {v["token"] for v in kernel.values()}
        # ss prints the token without leading zeros.
        ck({int(t, 16) for t in tokens if t} == {c["remoteToken"]},
           "the kernel's token is braidctl's remote token", (tokens, c["remoteToken"]))
        ours = {}
        for sf in c.get("subflows", []):
            # The peer's view: its local is our remote.
            key = ("%s:%d" % (sf["remote"]["address"], sf["remote"]["port"]),
                   "%s:%d" % (sf["local"]["address"], sf["local"]["port"]))
            ours[key] = int(sf.get("bytesReceived", "0"))
        ck(set(ours) == set(kernel), "the same subflows, addresses and ports, on both sides",
           (sorted(ours), sorted(kernel)))
        same = all(ours[k] == kernel[k]["bytes_acked"] for k in ours if k in kernel)
        ck(same, "each subflow's bytes: braidctl's received = the kernel's bytes_acked",
           [(k, ours[k], kernel.get(k, {}).get("bytes_acked")) for k in ours])
        p = sh([BRAIDCTL, "--socket", bed.socket, "subflows", "999999"], ns=bed.node,
               check=False)
        ck(p.returncode == 1 and "NOT_FOUND" in p.stderr,
           "an unknown connection is NOT_FOUND", p.stderr)
        p = sh([BRAIDCTL, "--socket", bed.socket, "subflows", c["id"]], ns=bed.node, check=False)
        ck(p.returncode == 0 and len(p.stdout.strip().splitlines()) == 1 + len(ours),
           "braidctl subflows ID lists them as a table", p.stdout + p.stderr)
    finally:
        slow.kill()
        slow.wait()
    code, _, err = bed.cni("DEL", pod, "ctr-ctl", conf)
    ck(code == 0, "DEL", err)


def endpoint_cli(pod, *args):
    """braid-endpoint in the pod: (exit code, parsed JSON or {}, stderr)."""
    p = sh([ENDPOINT] + list(args), ns=pod, check=False)
    try:
        out = json.loads(p.stdout) if p.stdout.strip() else {}
    except ValueError:
        out = {}
    return p.returncode, out, p.stderr.strip()


def braidctl_connections(bed):
    p = sh([BRAIDCTL, "--socket", bed.socket, "-o", "json", "connections"], ns=bed.node,
           check=False)
    return json.loads(p.stdout or "{}").get("connections", [])


def scenario_endpoints(bed, ck):
    for path, what in ((ENDPOINT, "braid-endpoint"), (BRAIDCTL, "braidctl")):
        if not os.path.exists(path):
            ck.info("%s not built: scenario skipped" % what)
            return
    pod = bed.add_pod("pend")
    conf = bed.netconf()
    code, result, err = bed.cni("ADD", pod, "ctr-ep", conf)
    ck(code == 0, "ADD", err)
    pod_v4 = result["ips"][0]["address"].split("/")[0]
    rc, out, err = endpoint_cli(pod, "outgoing", "to-b", "%s.254/32" % PATHS[1][1], "--ports",
                                str(HTTP_PORT), "scheduler=roundrobin")
    ck(rc == 0 and out.get("endpoint", {}).get("effectiveOptions", {}).get("scheduler") ==
       "roundrobin", "an outgoing policy is created over the pod's gRPC socket", err or out)
    rc, out, err = endpoint_cli(pod, "listen", "web", "8081", "scheduler=redundant")
    ck(rc == 0, "a listener endpoint is created", err)
    for args, want, what in (
            (("outgoing", "to-b", "10.0.0.0/8"), "6", "the same name twice: ALREADY_EXISTS"),
            (("outgoing", "bad", "10.0.0.0/33"), "3", "a bad prefix: INVALID_ARGUMENT"),
            (("listen", "elsewhere", "10.99.0.1:80"), "3",
             "a listener at an address not the pod's: INVALID_ARGUMENT"),
            (("outgoing", "sched", "scheduler=fastest"), "3", "an unknown scheduler"),
            (("get", "nope"), "5", "an unknown endpoint: NOT_FOUND")):
        rc, _, err = endpoint_cli(pod, *args)
        ck(rc == 1 and err.startswith("braid-endpoint: %s:" % want), what, err)

    # Two connects at once: the one the policy matches takes its scheduler.
    slow = []
    for net in (PATHS[1][1], PATHS[0][1]):
        slow.append(subprocess.Popen(
            ["ip", "netns", "exec", pod, "env", "BRAID_FALLBACK=fail", "LD_PRELOAD=" + PRELOAD,
             "curl", "-s", "--limit-rate", "200k", "--max-time", "60", "-o", "/dev/null",
             "http://%s.254:%d/blob" % (net, HTTP_PORT)]))
    try:
        time.sleep(2)
        seen = {c["remote"]["address"]: (c.get("scheduler"), c.get("endpoint", ""))
                for c in braidctl_connections(bed)}
        ck(seen.get("%s.254" % PATHS[1][1]) == ("roundrobin", "to-b"),
           "the matching connect runs roundrobin, from endpoint to-b", seen)
        ck(seen.get("%s.254" % PATHS[0][1]) == ("default", ""),
           "the other keeps the pod's default scheduler", seen)
        rc, out, err = endpoint_cli(pod, "connections", "to-b")
        ck(rc == 0 and len(out.get("connections", [])) == 1,
           "ListEndpointConnections lists the one connection", err or out)
    finally:
        for p in slow:
            p.kill()
            p.wait()

    # A server in the pod (unmodified python3 through the shim) on the listener endpoint's port.
    server = subprocess.Popen(
        ["ip", "netns", "exec", pod, "env", "BRAID_FALLBACK=fail", "LD_PRELOAD=" + PRELOAD,
         "python3", "-m", "http.server", "8081"], cwd=bed.www,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        got = os.path.join(bed.tmp, "to-pod.blob")
        ok = False
        for _ in range(50):
            p = sh(["mptcpize", "run", "curl", "-s", "--max-time", "20", "-o", got,
                    "http://%s:8081/blob" % pod_v4], ns=bed.peer, check=False)
            if p.returncode == 0:
                ok = True
                break
            time.sleep(0.1)
        ck(ok and bed.same_blob(got), "a kernel client fetches from the pod's server byte-exact")
        rc, out, err = endpoint_cli(pod, "get", "web")
        ck(rc == 0 and out.get("endpoint", {}).get("connectionsTotal") == "1",
           "the listener endpoint counted the accepted connection", err or out)
    finally:
        server.kill()
        server.wait()

    bed.stop_agent()
    bed.start_agent()
    rc, out, err = endpoint_cli(pod, "list")
    names = [e["endpoint"]["name"] for e in out.get("endpoints", [])]
    ck(rc == 0 and names == ["to-b", "web"], "after an agent restart the endpoints are back",
       err or names)
    rc, _, err = endpoint_cli(pod, "delete", "to-b")
    ck(rc == 0, "an endpoint is deleted", err)
    code, _, err = bed.cni("DEL", pod, "ctr-ep", conf)
    ck(code == 0 and bed.records() == [], "DEL", err)
    rc, _, err = endpoint_cli(pod, "list")
    ck(rc == 1, "after DEL the pod has no EndpointService", err)


def tshark_conversations(path):
    """The TCP conversations tshark finds in a capture: [(a, b, frames)]. A row: A <-> B, then
    frames, bytes (a number and its unit) each way, then the totals."""
    p = subprocess.run(["tshark", "-r", path, "-q", "-z", "conv,tcp"], capture_output=True,
                       text=True)
    out = []
    for line in p.stdout.splitlines():
        f = line.split()
        if len(f) > 9 and f[1] == "<->" and f[9].isdigit():
            out.append((f[0], f[2], int(f[9])))
    return out


def scenario_capture(bed, ck):
    if not os.path.exists(BRAIDCTL) or shutil.which("tshark") is None:
        ck.info("braidctl or tshark missing: scenario skipped")
        return
    pod = bed.add_pod("pcap")
    conf = bed.netconf()
    code, _, err = bed.cni("ADD", pod, "ctr-cap", conf)
    ck(code == 0, "ADD", err)
    ctl = [BRAIDCTL, "--socket", bed.socket]
    out = os.path.join(bed.tmp, "path0.pcap")
    cap = subprocess.Popen(["ip", "netns", "exec", bed.node] + ctl +
                           ["capture", "--path", "path0", "--duration", "3s", "-w", out],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.7)
    rc, _ = bed.fetch(pod, "%s.254" % PATHS[0][1], os.path.join(bed.tmp, "cap.blob"))
    _, err = cap.communicate(timeout=30)
    ck(cap.returncode == 0 and "time limit" in err, "a path capture ends at its time limit", err)
    convs = tshark_conversations(out)
    ck(any(b == "%s.254:%d" % (PATHS[0][1], HTTP_PORT) and n > 100 for _, b, n in convs),
       "tshark reads the transfer's subflow on path0 in it", convs)
    mptcp = sh(["tshark", "-r", out, "-Y", "mptcp"], check=False).stdout.splitlines()
    ck(len(mptcp) > 100, "its frames carry MPTCP options (tshark's dissector)", len(mptcp))

    # A live connection: the big file read slowly keeps it busy.
    slow = subprocess.Popen(
        ["ip", "netns", "exec", pod, "env", "BRAID_FALLBACK=fail", "LD_PRELOAD=" + PRELOAD,
         "curl", "-s", "--limit-rate", "2M", "--max-time", "60", "-o", "/dev/null",
         "http://%s.254:%d/big" % (PATHS[0][1], HTTP_PORT)])
    try:
        time.sleep(1.0)
        conns = braidctl_connections(bed)
        ck(len(conns) == 1, "one connection to capture", len(conns))
        if not conns:
            return
        out = os.path.join(bed.tmp, "conn.pcap")
        p = sh(ctl + ["capture", "--connection", conns[0]["id"], "--count", "200", "-w", out],
               ns=bed.node, check=False, timeout=60)
        ck(p.returncode == 0 and "packet limit" in p.stderr,
           "a connection capture ends at its packet limit", p.stderr)
        convs = tshark_conversations(out)
        frames = sum(n for _, _, n in convs)
        subflows = {("%s:%d" % (sf["local"]["address"], sf["local"]["port"]),
                     "%s:%d" % (sf["remote"]["address"], sf["remote"]["port"]))
                    for sf in json.loads(sh(ctl + ["-o", "json", "subflows", conns[0]["id"]],
                                            ns=bed.node).stdout).get("subflows", [])}
        ours = all((a, b) in subflows or (b, a) in subflows for a, b, _ in convs)
        ck(frames == 200 and convs and ours,
           "200 frames, every one of the connection's subflows", (convs, sorted(subflows)))
    finally:
        slow.kill()
        slow.wait()
    code, _, err = bed.cni("DEL", pod, "ctr-cap", conf)
    ck(code == 0, "DEL", err)


def scenario_prometheus(bed, ck):
    if not shutil.which("prometheus"):
        ck.info("prometheus not installed: scenario skipped")
        return
    data = os.path.join(bed.tmp, "prom")
    cfg = os.path.join(bed.tmp, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
                "scrape_configs:\n  - job_name: braid\n    static_configs:\n"
                "      - targets: ['127.0.0.1:%d']\n" % METRICS_PORT)
    port = 19490
    prom = subprocess.Popen(
        ["ip", "netns", "exec", bed.node, "prometheus", "--config.file=" + cfg,
         "--storage.tsdb.path=" + data, "--web.listen-address=127.0.0.1:%d" % port],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        answer = None
        deadline = time.time() + 40
        while time.time() < deadline and answer is None:
            time.sleep(1)
            p = sh(["curl", "-s", "--max-time", "3",
                    "http://127.0.0.1:%d/api/v1/query?query=braid_agent_pods" % port],
                   ns=bed.node, check=False)
            try:
                r = json.loads(p.stdout)
            except ValueError:
                continue
            if r.get("status") == "success" and r["data"]["result"]:
                answer = r["data"]["result"]
        ck(answer is not None, "Prometheus scraped the agent and answers braid_agent_pods",
           answer)
        p = sh(["curl", "-s", "--max-time", "3",
                "http://127.0.0.1:%d/api/v1/targets" % port], ns=bed.node, check=False)
        ck('"health":"up"' in p.stdout, "the scrape target is up", p.stdout[:300])
    finally:
        prom.terminate()
        prom.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=" ".join(SCENARIOS))
    args = ap.parse_args()
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        ap.error("unknown scenario(s): %s (known: %s)" % (", ".join(unknown), " ".join(SCENARIOS)))
    args.scenarios = args.scenarios or list(SCENARIOS)
    reason = check_e2e(need=("root", "netns", "mptcp"))
    for path, what in ((AGENT, "braid-agent"), (CNI, "braid-cni"), (PRELOAD, "the preload shim"),
                       (os.path.join(CNI_DIR, "host-local"), "host-local")):
        if not reason and not os.path.exists(path):
            reason = "%s not found at %s" % (what, path)
    for tool in ("curl", "mptcpize", "ethtool"):
        if not reason and shutil.which(tool) is None:
            reason = tool + " not installed"
    if reason:
        print("SKIP: " + reason)
        return SKIP
    ck = Checker("agent")
    tmp = tempfile.mkdtemp(prefix="braid-agent-e2e-")
    bed = Bed(tmp)
    try:
        bed.up()
        for name in args.scenarios:
            print("== " + name, flush=True)
            globals()["scenario_" + name](bed, ck)
    except Exception as e:  # a broken testbed is a failure, with the agent's last words
        ck(False, "testbed", "%s\n%s" % (e, bed.agent_log() if os.path.exists(
            os.path.join(tmp, "agent.log")) else ""))
    finally:
        bed.down()
        if not ck.failures:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept " + tmp)
    return 0 if not ck.failures else 1


if __name__ == "__main__":
    sys.exit(main())
