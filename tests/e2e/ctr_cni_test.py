#!/usr/bin/env python3
"""Containers started by containerd's `ctr run --cni` reach a Linux kernel MPTCP peer, and
removing them leaves nothing behind (CTest label e2e).

  ctr_cni_test.py [SCENARIO ...] [--paths N]      (default: every scenario, 2 paths)

A testbed of N direct paths: node a is the container host (ctr and the CNI plugins run there; the
test's own containerd runs in the host's namespaces) and node b is the kernel peer, MPTCP on with
a signal endpoint on every path but the first and an echo server (braidtest's peer). The
container's application is braidtest's peer client (python3, the host's /usr bind-mounted
read-only into a local rootfs: no image, no registry), held until the test says go, echoing
NBYTES with the server: both ends must see the same bytes. Then the test removes the container
(`ctr task kill`; the foreground `ctr run --rm --cni` runs CNI DEL, deletes task and container)
and checks that nothing is left: no task, no container, no shim, no runtime bundle, no
host-local lease, no libcni cached result, the container's network namespace destroyed
(braidtest.containerd.release_netns: a probe veth in it disappears once the test's own handle is
closed), and the machine's /etc/cni/net.d, /opt/cni/bin and /var/lib/cni exactly as before (ctr
sees private ones: braidtest/containerd.py says how).

Scenarios:
  reference   Debian's reference plugins, chain [loopback, bridge + host-local]: the container
              gets an address on a bridge in node a (192.0.2.128/26, a routes it over the
              paths; b answers through its per-path tables), kernel MPTCP in the container
              (its limits set through the test's handle on its namespace) joins b's announced
              addresses: MP_CAPABLE and N-1 joins in b's MPTcpExt. After removal no veth is
              left on the bridge either. Proves the harness without any Braid binary.
  agent_down  braid-cni chained after loopback with no agent at agentSocket: ADD fails with
              braid-cni's error naming the agent and no lease is left (braid-cni's undo gave
              host-local's address back; ctr's DEL then fails, the agent being unreachable).
              ctr 1.6 cannot delete a task that never started, so the created task and the
              container stay: `ctr task kill`, `ctr task rm`, `ctr container rm` by hand, then
              nothing may be left, as above. Needs braid-cni.
  braid       braid-agent (`--config` a generated YAML: af_packet paths on a's interfaces, the
              CniService on a socket of the test) owns a's path interfaces; the chain
              [loopback, braid-cni] gives the pod one address per path (host-local ranges
              .8-.14 of each path's /28) and the agent binds @braid/node in its namespace; the
              same unmodified peer client, plain TCP, runs with LD_PRELOAD=libbraid_preload.so
              and BRAID_FALLBACK=fail (the pod has no route to b: only Braid can carry it).
              Checked while it runs: the agent's pod record (<state_dir>/pods/<id>.eth0.json),
              a lease per path, @braid/node bound in the pod; after the transfer: the shim put the
              socket on Braid, b saw MP_CAPABLE and joins; after removal: the record gone, no
              @braid socket left in the pod's namespace before it is destroyed, the agent still
              ready; then it exits 0 on SIGTERM with no sanitizer report in its output. Needs
              braid-agent, braid-cni and the shim.

Binaries: $BRAID_CNI (default build/cni/braid-cni), $BRAID_AGENT (build/agent/braid-agent),
$BRAID_PRELOAD_LIB (build/sdk/preload/libbraid_preload.so); the reference plugins from
/usr/lib/cni (package containernetworking-plugins).
Exit 0 pass, 1 fail, 77 skip (not root, no namespaces/MPTCP, containerd not installed, a binary
a scenario needs not built: the reason is printed).
"""

import argparse
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(HERE, "lib"))

import braidtest  # noqa: E402
from braidtest import containerd as ctrd  # noqa: E402
from braidtest.check import Checker  # noqa: E402

SCENARIOS = ("reference", "agent_down", "braid")
PORT = 5201
NBYTES = 8 << 20
BUDGET_SECONDS = 100
REFERENCE_PLUGINS = "/usr/lib/cni"
# MPTcpExt counters that must not move on b (sdk_service_test.py's list).
MPTCP_FAILURES = ("MPJoinSynAckHMacFailure", "MPJoinAckHMacFailure", "MPJoinNoTokenFound",
                  "MPJoinRejected", "MPCapableFallbackACK", "MPCapableFallbackSYNACK",
                  "DSSNotMatching", "DSSCorruptionFallback", "DSSCorruptionReset",
                  "InfiniteMapTx", "InfiniteMapRx", "DataCsumErr", "MPFailTx", "MPFailRx",
                  "MPRstTx", "MPRstRx")
# The bridge's subnet (documentation space the testbed leaves unused with up to 12 paths).
BRIDGE_SUBNET = "192.0.2.128/26"
BRIDGE = "ctr-br0"
# host-local's range inside each path's /28 (the testbed gives .1 to a and .2 to b).
POD_RANGE = (8, 14)
IFNAME = "eth0"           # go-cni's first interface
NETWORK_REFERENCE = "braid-e2e-ref"
NETWORK_BRAID = "braid"
# In the container: the peer script, the shim, and a directory shared with the test.
PEER_IN_CONTAINER = "/braid/peer.py"
SHIM_IN_CONTAINER = "/braid/libbraid_preload.so"
SHARE_IN_CONTAINER = "/braid/run"
# The container's command: wait for the test's go, run the application, report its exit status
# as a JSON line, then stay until the test removes the container.
APP_SCRIPT = """while [ ! -e %s/go ]; do sleep 0.05; done
"$@"
echo "{\\"event\\": \\"app-exit\\", \\"code\\": $?}"
exec sleep 600
""" % SHARE_IN_CONTAINER


def binary(env, *default):
    """$env, else build/<default...> in the repository; absolute (it becomes a bind mount)."""
    return os.path.abspath(os.environ.get(env) or os.path.join(REPO, "build", *default))


def executable(path):
    return os.path.isfile(path) and os.access(path, os.X_OK)


def sanitizer_runtimes(lib):
    """A sanitized shim (a Debug build) needs its runtimes loaded ahead of the application."""
    out = subprocess.run(["ldd", lib], capture_output=True, text=True).stdout
    return [parts[2] for parts in (line.split() for line in out.splitlines())
            if len(parts) >= 3 and ("libasan.so" in parts[0] or "libubsan.so" in parts[0])]


def machine_cni_state():
    """The machine's own CNI directories (whether each exists, and what it holds)."""
    state = {}
    for d in (ctrd.CNI_CONF_DIR, ctrd.CNI_BIN_DIR, ctrd.CNI_CACHE_DIR):
        state[d] = sorted(os.listdir(d)) if os.path.isdir(d) else None
    return state


# --- the bed: testbed, containerd, CNI directories, rootfs --------------------------------------

class Bed:
    """A testbed of `paths` direct paths, a run directory, our containerd, CNI directories and a
    rootfs; everything removed on exit."""

    def __init__(self, paths):
        self.tb = braidtest.Testbed(paths=paths, router=False)
        self.containerd = self.cni = self.rundir = None
        self.machine_cni = machine_cni_state()

    def __enter__(self):
        self.tb.__enter__()
        try:
            self.rundir = ctrd.make_rundir()
            self.share = os.path.join(self.rundir, "share")
            os.makedirs(self.share)
            self.rootfs = ctrd.make_rootfs(os.path.join(self.rundir, "rootfs"))
            self.cni = ctrd.CniSandbox(os.path.join(self.rundir, "cni"))
            self.containerd = ctrd.Containerd(self.tb.a, self.rundir, self.tb.workdir).start()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, *exc):
        try:
            if self.containerd is not None:
                self.containerd.close()
            if self.rundir is not None:
                ctrd.remove_tree(self.rundir)
        finally:
            self.tb.__exit__(*exc)
        return False

    def b_addr(self, path):
        return self.tb.paths[path].addr("b", 4)

    def counters(self):
        return self.tb.b.mptcp_counters()

    def container(self, name, client_argv, mounts=(), env=()):
        peer = os.path.join(HERE, "lib", "braidtest", "peer.py")
        mounts = [ctrd.bind_mount("/usr", "/usr"), ctrd.bind_mount(peer, PEER_IN_CONTAINER),
                  ctrd.bind_mount(self.share, SHARE_IN_CONTAINER, read_only=False)] + list(mounts)
        argv = ["/bin/sh", "-c", APP_SCRIPT, "app"] + client_argv
        cid = "c%d-%s" % (os.getpid(), name.replace("_", "-"))
        return ctrd.Container(self.containerd, self.cni, cid, self.rootfs, argv, mounts=mounts,
                              env=env, logdir=self.tb.workdir)

    def go(self):
        open(os.path.join(self.share, "go"), "w").close()


def peer_client(bed, proto, wait_subflows=0):
    argv = ["/usr/bin/python3", PEER_IN_CONTAINER, "client", "--connect", bed.b_addr(0),
            "--port", PORT, "--proto", proto, "--mode", "echo", "--bytes", NBYTES,
            "--timeout", 30]
    if wait_subflows:
        argv += ["--wait-subflows", wait_subflows, "--wait-subflows-timeout", 15]
    return [str(a) for a in argv]


def netns_ipv4(fd, ifname):
    """The IPv4 addresses of ifname in the namespace fd refers to."""
    out = ctrd.in_netns(fd, ["ip", "-j", "-4", "addr", "show", "dev", ifname]).stdout
    return [ipaddress.ip_address(a["local"]) for link in json.loads(out or "[]")
            for a in link.get("addr_info", [])]


def wait_running(c, timeout=30):
    """Until the task runs (ctr starts it after CNI ADD): True; False if ctr exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and c.proc.poll() is None:
        if c.task_status() == "RUNNING":
            return True
        time.sleep(0.05)
    return False


# --- what every scenario checks ---------------------------------------------------------------

def check_transfer(check, c, server, what):
    """The app's echo: NBYTES each way, byte-exact at both ends. Returns the client's result."""
    res = c.wait_json(lambda o: o.get("event") in ("done", "error"), 60)
    exit_line = c.wait_json(lambda o: o.get("event") == "app-exit", 10)
    if not check(res is not None and not res.get("error"), "%s: the app's echo completed" % what,
                 res or (c.lines()[-5:], c.stderr()[-800:])):
        return res
    check(exit_line is not None and exit_line.get("code") == 0, "%s: the app exits 0" % what,
          exit_line)
    try:
        sv = server.results(timeout=15)
    except braidtest.PeerError as e:
        check(False, "%s: kernel server result" % what, e)
        return res
    sv = sv[0] if sv else {}
    want = braidtest.expected_sha256(NBYTES)
    check(res["bytes_tx"] == NBYTES and res["bytes_rx"] == NBYTES and
          res["sha256_tx"] == want and res["sha256_rx"] == want and
          sv.get("bytes_rx") == NBYTES and sv.get("sha256_rx") == want and not sv.get("error"),
          "%s: %d MiB each way, SHA-256 equal at both ends" % (what, NBYTES >> 20),
          (res["bytes_tx"], res["bytes_rx"], sv.get("bytes_rx"), sv.get("error")))
    check(sv.get("mptcp") is True, "%s: the kernel server's socket is MPTCP (no fallback)" % what,
          sv.get("subflows_max"))
    check.info("%s: %s Mbit/s received by the app, kernel server subflows %s" %
               (what, res.get("rx_mbit_s"), sv.get("subflows_max")))
    return res


def check_exit(check, c, what):
    """ctr's exit status after `ctr task kill`: the task's (SIGKILL), once ctr has run CNI DEL
    and deleted task and container."""
    rc = c.wait(timeout=60)
    check(rc == 137, "%s: ctr run exits 137 once the task is killed and removed" % what,
          (rc, c.stderr()[-600:]))


def check_removed(check, bed, c, what, network):
    """Everything the runtime and CNI must have undone once the container is removed."""
    cd = bed.containerd
    check(c.id not in cd.tasks() and c.id not in cd.containers(),
          "%s: no task, no container left" % what, (cd.tasks(), cd.containers()))
    check(not os.path.exists(cd.task_dir(c.id)), "%s: the runtime bundle is gone" % what,
          cd.task_dir(c.id))
    check(not cd.shims(), "%s: no runc shim left" % what, cd.shims())
    check(not bed.cni.leases(network), "%s: host-local's lease released" % what,
          bed.cni.leases(network))
    check(not bed.cni.cached_results(), "%s: no libcni cached result" % what,
          bed.cni.cached_results())
    check(not ctrd.mounts_under(bed.rundir), "%s: nothing mounted under the run directory" % what,
          ctrd.mounts_under(bed.rundir))
    check(machine_cni_state() == bed.machine_cni,
          "%s: the machine's CNI directories untouched" % what, machine_cni_state())


def check_mptcp(check, before, after, joins, what):
    """b's MPTcpExt between two snapshots: an MP_CAPABLE handshake, at least `joins` MP_JOINs
    and no failure counter moved."""
    delta = {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}
    check(delta.get("MPCapableSYNRX", 0) >= 1 and delta.get("MPJoinSynRx", 0) >= joins,
          "%s: b's MPTcpExt: MP_CAPABLE and %d joins" % (what, joins),
          (delta.get("MPCapableSYNRX", 0), delta.get("MPJoinSynRx", 0)))
    moved = {k: delta[k] for k in MPTCP_FAILURES if delta.get(k)}
    check(not moved, "%s: no MPTcpExt failure counter moved on b" % what, moved)


def start_server(bed):
    b = bed.tb.b
    b.mptcp_endpoint_flush()
    b.mptcp_endpoints_on_paths("signal", paths=range(1, len(bed.tb.paths)))
    return braidtest.peer.start_server(b, PORT, proto="mptcp", mode="echo", family="4",
                                       timeout=30)


# --- reference: bridge + host-local + loopback --------------------------------------------------

def reference_conflist(bed):
    return {"cniVersion": "1.0.0", "name": NETWORK_REFERENCE, "plugins": [
        {"type": "loopback"},
        {"type": "bridge", "bridge": BRIDGE, "isGateway": True,
         "ipam": {"type": "host-local", "ranges": [[{"subnet": BRIDGE_SUBNET}]],
                  "routes": [{"dst": "0.0.0.0/0"}], "dataDir": bed.cni.ipam_dir}}]}


def scenario_reference(check, bed):
    what = "reference"
    for plugin in ("loopback", "bridge", "host-local"):
        bed.cni.add_plugin(os.path.join(REFERENCE_PLUGINS, plugin))
    bed.cni.write_conflist(reference_conflist(bed))
    a = bed.tb.a
    a.sysctl("net.ipv4.ip_forward", 1)
    extra = len(bed.tb.paths) - 1
    server = start_server(bed)
    before = bed.counters()
    c = bed.container(what, peer_client(bed, "mptcp", wait_subflows=extra)).start()
    fd = None
    try:
        pid = c.wait_pid()
        if not check(pid is not None, "%s: ctr created the task" % what, c.stderr()[-800:]):
            return
        fd = c.open_netns(pid)
        if not check(wait_running(c), "%s: CNI ADD done, task running" % what,
                     c.stderr()[-800:]):
            return
        addrs = netns_ipv4(fd, IFNAME)
        check(len(addrs) == 1 and addrs[0] in ipaddress.ip_network(BRIDGE_SUBNET),
              "%s: the container has an address in %s on %s" % (what, BRIDGE_SUBNET, IFNAME),
              addrs)
        check(len(bed.cni.leases(NETWORK_REFERENCE)) == 1 and len(bed.cni.cached_results()) == 1,
              "%s: one lease and one cached result in the test's own directories" % what,
              (bed.cni.leases(NETWORK_REFERENCE), bed.cni.cached_results()))
        ports = [l["ifname"] for l in a.ip_json(["link", "show", "master", BRIDGE])]
        check(len(ports) == 1, "%s: one veth on the bridge in node a" % what, ports)
        check(len(bed.containerd.shims()) == 1, "%s: one runc shim serving our containerd" %
              what, bed.containerd.shims())
        # The container's kernel accepts b's announcements (a fresh namespace accepts none).
        p = ctrd.in_netns(fd, ["ip", "mptcp", "limits", "set", "subflows", 8,
                               "add_addr_accepted", 8])
        check(p.returncode == 0, "%s: MPTCP limits set in the container's namespace" % what,
              p.stderr.strip())
        bed.go()
        res = check_transfer(check, c, server, what)
        if res and not res.get("error"):
            check((res.get("subflows_max") or 0) >= extra,
                  "%s: the container's MPTCP socket has %d additional subflows" % (what, extra),
                  res.get("subflows_max"))
        check_mptcp(check, before, bed.counters(), extra, what)
        c.kill()
        check_exit(check, c, what)
        check_removed(check, bed, c, what, NETWORK_REFERENCE)
        released, detail = ctrd.release_netns(fd, a)
        fd = None
        check(released, "%s: the container's network namespace is destroyed" % what, detail)
        ports = [l["ifname"] for l in a.ip_json(["link", "show", "master", BRIDGE])]
        check(not ports, "%s: no veth left on the bridge" % what, ports)
    finally:
        if fd is not None:
            os.close(fd)
        c.stop()
        server.stop()


# --- braid-cni ------------------------------------------------------------------------------------

def braid_paths(bed):
    """braid-cni's `paths`: per path its /28, the gateway b, host-local's range .8-.14."""
    out = []
    for p in bed.tb.paths:
        net = p.segments[0].net(4)
        base = str(net.network_address).rsplit(".", 1)[0]
        first = int(str(net.network_address).rsplit(".", 1)[1])
        out.append({"name": "path%d" % p.index, "ranges": [{
            "subnet": str(net), "gateway": p.addr("b", 4),
            "rangeStart": "%s.%d" % (base, first + POD_RANGE[0]),
            "rangeEnd": "%s.%d" % (base, first + POD_RANGE[1])}]})
    return out


def braid_conflist(bed, agent_socket, timeout_seconds=10):
    """Chained mode, no Multus (cni/README.md): loopback, then braid-cni."""
    return {"cniVersion": "1.0.0", "name": NETWORK_BRAID, "plugins": [
        {"type": "loopback"},
        {"type": "braid-cni", "agentSocket": agent_socket, "timeoutSeconds": timeout_seconds,
         "capabilities": {"io.kubernetes.cri.pod-annotations": True},
         "paths": braid_paths(bed),
         "ipam": {"type": "host-local", "dataDir": bed.cni.ipam_dir}}]}


def install_braid_cni(bed, cni):
    bed.cni.add_plugin(cni, "braid-cni")
    for plugin in ("loopback", "host-local"):
        bed.cni.add_plugin(os.path.join(REFERENCE_PLUGINS, plugin))


def scenario_agent_down(check, bed, cni):
    what = "agent down"
    install_braid_cni(bed, cni)
    socket_path = os.path.join(bed.rundir, "no-agent.sock")
    bed.cni.write_conflist(braid_conflist(bed, socket_path, timeout_seconds=5))
    c = bed.container("agent_down", ["/bin/true"]).start()
    fd = None
    try:
        rc = c.wait(timeout=60)
        err = c.stderr()
        check(rc not in (0, None), "%s: ctr run fails" % what, rc)
        check('failed (add): agent at unix:%s: Add:' % socket_path in err,
              "%s: ADD fails with braid-cni's error naming the agent" % what, err[-800:])
        # braid-cni undid host-local's ADD itself; ctr's DEL after the failure then fails too
        # (agent unreachable) and releases nothing, so no lease may be left at this point.
        check(not bed.cni.leases(NETWORK_BRAID) and not bed.cni.cached_results(),
              "%s: no lease and no cached result after the failed ADD" % what,
              (bed.cni.leases(NETWORK_BRAID), bed.cni.cached_results()))
        # ctr 1.6 cannot delete a task that never started: the created task (its runc init
        # holding the network namespace) and the container stay until removed by hand.
        status = c.task_status()
        check.info("%s: after the failed `ctr run`, the task is %s" % (what, status or "gone"))
        if status is not None:
            pid = c.wait_pid(timeout=1)
            fd = c.open_netns(pid) if pid else None
        errors = c.remove_by_hand()
        check(not errors, "%s: ctr task kill, task rm, container rm" % what, errors)
        check_removed(check, bed, c, what, NETWORK_BRAID)
        if fd is not None:
            released, detail = ctrd.release_netns(fd, bed.tb.a)
            fd = None
            check(released, "%s: the container's network namespace is destroyed" % what, detail)
    finally:
        if fd is not None:
            os.close(fd)
        c.stop()


AGENT_CONFIG = """# braid-agent for ctr_cni_test.py (docs/agent-config.md)
node:
  name: ctr-e2e
  state_dir: {state}
  run_dir: {run}
api:
  cni_socket: {socket}
  debug_socket: {socket}
  metrics_listen: 127.0.0.1:{metrics}
datapath:
  workers: 1
  hugepages: false
  memory_mb: 512
paths:
{paths}
mptcp:
  path_manager:
    policy: kernel
    subflows: {subflows}
    add_addr_accepted: {subflows}
log:
  level: debug
"""
AGENT_METRICS_PORT = 9470
# What AddressSanitizer, LeakSanitizer and UBSan print (a Debug build's agent).
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def agent_config(bed, directory):
    paths = []
    for p in bed.tb.paths:
        paths.append("  - name: path%d\n    kind: af_packet\n    netdev: %s\n"
                     "    ipv4_subnet: %s\n    ipv4_gateway: %s" %
                     (p.index, p.iface("a"), p.segments[0].net(4), p.addr("b", 4)))
    text = AGENT_CONFIG.format(state=os.path.join(directory, "state"),
                               run=os.path.join(directory, "run"),
                               socket=os.path.join(directory, "agent.sock"),
                               metrics=AGENT_METRICS_PORT, paths="\n".join(paths),
                               subflows=len(bed.tb.paths) - 1)
    path = os.path.join(bed.tb.workdir, "braid-agent.yaml")
    with open(path, "w") as f:
        f.write(text)
    return path


def agent_ready(node):
    """/readyz on the agent's metrics listener answers 200 (asked from inside the node)."""
    probe = ("import sys, urllib.request\n"
             "sys.exit(0 if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200 else 1)")
    url = "http://127.0.0.1:%d/readyz" % AGENT_METRICS_PORT
    return node.run([sys.executable, "-c", probe, url], check=False).returncode == 0


def start_agent(check, bed, agent):
    directory = os.path.join(bed.rundir, "agent")
    os.makedirs(directory)
    config = agent_config(bed, directory)
    for p in bed.tb.paths:
        braidtest.braid.prepare_interface(bed.tb.a, p.iface("a"))
        braidtest.braid.prepare_peers(bed.tb.a, p.index)
    out = open(os.path.join(bed.tb.workdir, "braid-agent.out"), "wb")
    proc = bed.tb.a.popen([agent, "--config", config], stdout=out, stderr=subprocess.STDOUT)
    out.close()
    socket_path = os.path.join(directory, "agent.sock")
    deadline = time.monotonic() + 30
    ready = False
    while time.monotonic() < deadline and proc.poll() is None:
        if os.path.exists(socket_path) and agent_ready(bed.tb.a):
            ready = True
            break
        time.sleep(0.2)
    with open(os.path.join(bed.tb.workdir, "braid-agent.out"), errors="replace") as f:
        log_tail = f.read()[-1500:]
    check(ready, "braid-agent ready (/readyz) with its CniService on %s" % socket_path,
          "" if ready else (proc.poll(), log_tail))
    return proc, directory, socket_path, ready


def pod_records(directory):
    pods = os.path.join(directory, "state", "pods")
    return sorted(n for n in os.listdir(pods) if n.endswith(".json")) \
        if os.path.isdir(pods) else []


def scenario_braid(check, bed, cni, agent, shim):
    what = "braid"
    install_braid_cni(bed, cni)
    agent_proc, agent_dir, socket_path, ready = start_agent(check, bed, agent)
    if not ready:
        agent_proc.stop()
        return
    bed.cni.write_conflist(braid_conflist(bed, socket_path))
    server = start_server(bed)
    before = bed.counters()
    env = ["LD_PRELOAD=" + ":".join(sanitizer_runtimes(shim) + [SHIM_IN_CONTAINER]),
           "BRAID_FALLBACK=fail", "BRAID_PRELOAD_DEBUG=1", "ASAN_OPTIONS=detect_leaks=0"]
    c = bed.container(what, peer_client(bed, "tcp"), env=env,
                      mounts=[ctrd.bind_mount(shim, SHIM_IN_CONTAINER)]).start()
    fd = None
    record = "%s.%s.json" % (c.cni_id, IFNAME)
    try:
        pid = c.wait_pid()
        if not check(pid is not None, "%s: ctr created the task" % what, c.stderr()[-800:]):
            return
        fd = c.open_netns(pid)
        if not check(wait_running(c), "%s: CNI ADD done (agent Add), task running" % what,
                     c.stderr()[-1200:]):
            return
        check(pod_records(agent_dir) == [record], "%s: the agent's pod record %s" %
              (what, record), pod_records(agent_dir))
        check(len(bed.cni.leases(NETWORK_BRAID)) == len(bed.tb.paths),
              "%s: one host-local lease per path" % what, bed.cni.leases(NETWORK_BRAID))
        sockets = ctrd.netns_unix_sockets(fd)
        check("@braid/node" in sockets, "%s: @braid/node bound in the pod's namespace" % what,
              sockets)
        links = ctrd.netns_links(fd)
        check(links == ["lo"], "%s: no netdev moved into the pod" % what, links)
        bed.go()
        check_transfer(check, c, server, what)
        notes = [l for l in c.stderr().splitlines() if l.startswith("libbraid_preload[")]
        check(notes and all(n.endswith(": Braid") for n in notes),
              "%s: the app's socket on Braid (the shim's note)" % what, notes)
        # The pod's addresses on the other paths are its path manager's subflow endpoints.
        check_mptcp(check, before, bed.counters(), len(bed.tb.paths) - 1, what)
        c.kill()
        check_exit(check, c, what)
        check_removed(check, bed, c, what, NETWORK_BRAID)
        check(not pod_records(agent_dir), "%s: the agent's pod record removed" % what,
              pod_records(agent_dir))
        left = [s for s in ctrd.netns_unix_sockets(fd) if s.startswith("@braid/")]
        check(not left, "%s: no @braid socket left in the pod's namespace" % what, left)
        released, detail = ctrd.release_netns(fd, bed.tb.a)
        fd = None
        check(released, "%s: the pod's network namespace is destroyed (the agent let go)" % what,
              detail)
        check(agent_proc.poll() is None and agent_ready(bed.tb.a),
              "%s: the agent still running and ready" % what, agent_proc.poll())
        rc = agent_proc.stop(timeout=10)
        with open(os.path.join(bed.tb.workdir, "braid-agent.out"), errors="replace") as f:
            out = f.read()
        reports = [l for l in out.splitlines() if any(m in l for m in SANITIZER_MARKS)]
        check(rc == 0 and not reports, "%s: the agent exits 0 on SIGTERM, no sanitizer report" %
              what, (rc, reports[:3]))
    finally:
        if fd is not None:
            os.close(fd)
        c.stop()
        server.stop()
        agent_proc.stop(timeout=10)


# --- main ---------------------------------------------------------------------------------------

def skip(reason):
    print("SKIP: %s" % reason, flush=True)
    return braidtest.SKIP


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help="one of %s (default: all)" % ", ".join(SCENARIOS))
    parser.add_argument("--paths", type=int, default=2, choices=(2, 3))
    args = parser.parse_args()
    scenarios = args.scenarios or list(SCENARIOS)
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        parser.error("unknown scenario %s" % ", ".join(unknown))
    braidtest.require_e2e(("root", "netns", "mptcp", "nft", "tc"))
    reason = ctrd.missing_tools()
    if reason:
        return skip(reason)
    for plugin in ("loopback", "bridge", "host-local"):
        if not executable(os.path.join(REFERENCE_PLUGINS, plugin)):
            return skip("%s/%s not found (package containernetworking-plugins)" %
                        (REFERENCE_PLUGINS, plugin))
    cni = binary("BRAID_CNI", "cni", "braid-cni")
    agent = binary("BRAID_AGENT", "agent", "braid-agent")
    shim = binary("BRAID_PRELOAD_LIB", "sdk", "preload", "libbraid_preload.so")
    needs = {"agent_down": [(cni, "braid-cni", "BRAID_CNI")],
             "braid": [(agent, "braid-agent", "BRAID_AGENT"), (cni, "braid-cni", "BRAID_CNI"),
                       (shim, "libbraid_preload.so", "BRAID_PRELOAD_LIB")]}
    for name in scenarios:
        for path, what, env in needs.get(name, []):
            if not os.path.isfile(path):
                return skip("%s: %s not built (%s; set %s)" % (name, what, path, env))
        if name == "braid" and shutil.which("ethtool") is None:
            return skip("ethtool not found")

    def over_budget(_signum, _frame):
        raise TimeoutError("over the %d s budget" % BUDGET_SECONDS)
    signal.signal(signal.SIGALRM, over_budget)
    signal.alarm(BUDGET_SECONDS * len(scenarios))
    check = Checker("ctr cni")
    print("=== ctr --cni (%s; %d paths) ===" % (", ".join(scenarios), args.paths), flush=True)
    t0 = time.monotonic()
    for name in scenarios:
        check.info("== %s" % name)
        try:
            with Bed(args.paths) as bed:
                failures = len(check.failures)
                if name == "reference":
                    scenario_reference(check, bed)
                elif name == "agent_down":
                    scenario_agent_down(check, bed, cni)
                else:
                    scenario_braid(check, bed, cni, agent, shim)
                if len(check.failures) > failures:
                    bed.tb.mark_failed()
        except braidtest.Interrupted:
            raise
        except Exception as e:  # pylint: disable=broad-except
            import traceback
            traceback.print_exc()
            check(False, "%s raised %s: %s" % (name, type(e).__name__, e))
    print("=== ctr --cni: %s in %.1f s ===" % ("FAIL" if check.failures else "PASS",
                                              time.monotonic() - t0), flush=True)
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
