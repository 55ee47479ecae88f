"""A real braid-agent in a network namespace, for reading what /metrics exports.

The node namespace holds two veth pairs (AF_PACKET paths, both ends inside it); one pod (a
network namespace) is attached through the real braid-cni with Debian's host-local, so per-pod
series and the CNI latency histogram exist; braid-cni STATUS adds another CNI observation.
Everything is removed on every exit path. Needs root, `ip netns`, host-local.
"""

import json
import os
import subprocess
import tempfile
import time
import urllib.request

HOST_LOCAL_DIR = "/usr/lib/cni"
PORT = 19471


def sh(argv, ns=None, check=True, **kw):
    if ns:
        argv = ["ip", "netns", "exec", ns] + argv
    p = subprocess.run(argv, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), (p.stderr or p.stdout).strip()))
    return p


def unavailable(agent, cni):
    if os.geteuid() != 0:
        return "not root (network namespaces)"
    for path in (agent, cni):
        if not os.access(path, os.X_OK):
            return "%s not built" % path
    if not os.access(os.path.join(HOST_LOCAL_DIR, "host-local"), os.X_OK):
        return "host-local not installed (containernetworking-plugins)"
    if sh(["ip", "netns", "list"], check=False).returncode != 0:
        return "ip netns does not work here"
    return None


def parse_families(text):
    """{family: type} from the text format's # TYPE lines."""
    out = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(None, 3)
            out[name] = kind
    return out


def exported_metrics(agent, cni):
    base = "braiddeploy%d" % os.getpid()
    node, pod = base + "-node", base + "-pod"
    tmp = tempfile.mkdtemp(prefix="braid-deploy-")
    proc = None
    try:
        for ns in (node, pod):
            sh(["ip", "netns", "add", ns])
            sh(["ip", "-n", ns, "link", "set", "lo", "up"])
        for i in range(2):
            sh(["ip", "-n", node, "link", "add", "bd%d" % i, "type", "veth", "peer", "name",
                "bdp%d" % i])
            for dev in ("bd%d" % i, "bdp%d" % i):
                sh(["ip", "-n", node, "link", "set", dev, "up"])
        sock = os.path.join(tmp, "agent.sock")
        config = os.path.join(tmp, "agent.yaml")
        with open(config, "w") as f:
            f.write("node: {name: deploy, state_dir: %s/state, run_dir: %s/run}\n" % (tmp, tmp))
            f.write("api: {cni_socket: %s, debug_socket: %s, metrics_listen: \"127.0.0.1:%d\"}\n"
                    % (sock, sock, PORT))
            f.write("datapath: {lcores: [1]}\npaths:\n")
            for i in range(2):
                f.write("  - {name: path%d, kind: af_packet, netdev: bd%d, "
                        "ipv4_subnet: 10.9%d.0.0/24}\n" % (i, i, i))
        log = open(os.path.join(tmp, "agent.log"), "w")
        proc = subprocess.Popen(["ip", "netns", "exec", node, agent, "--config", config],
                                stdout=log, stderr=log)
        fetch = lambda path: sh(["curl", "-s", "--max-time", "5", "-o", "-", "-w",
                                 "\n%{http_code}", "http://127.0.0.1:%d%s" % (PORT, path)],
                                ns=node, check=False).stdout.rpartition("\n")
        deadline = time.time() + 30
        while fetch("/readyz")[2] != "200":
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("braid-agent did not become ready: " +
                                   open(os.path.join(tmp, "agent.log")).read()[-2000:])
            time.sleep(0.2)
        conf = {"cniVersion": "1.1.0", "name": "braid", "type": "braid-cni", "agentSocket": sock,
                "ipam": {"type": "host-local", "dataDir": os.path.join(tmp, "ipam")},
                "paths": [{"name": "path%d" % i, "ranges": [{"subnet": "10.9%d.0.0/24" % i}]}
                          for i in range(2)]}
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "CNI_CONTAINERID": "deploytest",
               "CNI_NETNS": "/var/run/netns/" + pod, "CNI_IFNAME": "eth0",
               "CNI_PATH": HOST_LOCAL_DIR, "CNI_ARGS": "K8S_POD_NAMESPACE=deploy;K8S_POD_NAME=web"}
        for verb in ("ADD", "STATUS"):
            p = subprocess.run(["ip", "netns", "exec", node, cni], input=json.dumps(conf),
                               env=dict(env, CNI_COMMAND=verb), capture_output=True, text=True,
                               timeout=30)
            if p.returncode != 0:
                raise RuntimeError("braid-cni %s: %s %s" % (verb, p.stdout, p.stderr))
        body = fetch("/metrics")[0]
        p = subprocess.run(["ip", "netns", "exec", node, cni], input=json.dumps(conf),
                           env=dict(env, CNI_COMMAND="DEL"), capture_output=True, text=True,
                           timeout=30)
        return parse_families(body)
    finally:
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        for ns in (pod, node):
            sh(["ip", "netns", "del", ns], check=False)
        subprocess.run(["rm", "-rf", tmp])
