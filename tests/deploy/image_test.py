#!/usr/bin/env python3
"""The container image, built from the Dockerfile and run as the chart's DaemonSet says
(CTest labels e2e, oracle).

  image_test.py

There is no Docker engine and no registry here, so:
  base       Debian 12 from Debian's own packages: `debootstrap --variant=minbase bookworm` with
             the host's apt sources (bookworm, -updates, -security, as the debian:12 image has),
             imported as localhost/debian:12 and localhost/debian:12-slim into a private
             container storage under the build tree (vfs driver). Cached across runs.
  image      `buildah bud` of the Dockerfile's runtime stage with BRAID_BINARIES=prebuilt: the
             binaries are the release build's, staged as out/ exactly as the build stage stages
             them. The runtime stage itself runs unchanged: apt installs the runtime libraries,
             ldconfig, its own `ldd ... | grep "not found"` check. The build stage (compiling
             the project inside the image) is not run here; it is the same CMake build.
  contents   the image's command and environment; every shipped binary starts inside it
             (braid-agent, braid-cni's VERSION, braidctl, kubectl-braid, braid-perf); the SDK's
             library is in the loader's cache and its headers are in place.
  daemonset  `helm template` of the chart for this testbed, then the rendered DaemonSet's pod
             run with podman as a kubelet would run it: the init container first, then the
             agent, each with its command, environment, security context (capabilities dropped
             and added, read-only root, no new privileges), host network (the node namespace),
             and volumes (hostPath, ConfigMap with subPath and defaultMode, mount propagation).
             The init container installs braid-cni into the node's CNI directory and writes the
             chained conflist after the primary's; the agent becomes ready by the readiness
             probe; then agent_test.py's `cni` scenario runs against it with the braid-cni the
             init container installed and the preload shim copied out of the image: curl in a
             pod fetches 4 MB from a kernel MPTCP peer byte-exact, with a join. Then the
             preStop hook and a SIGTERM stop: the agent exits 0 and the CNI directories are as
             they were before the install.

Environment: BRAID_BUILD_DIR (the CMake build tree). Exit 0 pass, 1 fail, 77 skip (not root; no
podman, buildah, debootstrap or runc; no binaries; no npm tools for Helm).
"""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.dont_write_bytecode = True
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

import agent_test  # noqa: E402
import deploytools  # noqa: E402
from braidtest.check import Checker  # noqa: E402
from braidtest.skip import SKIP, check_e2e  # noqa: E402

BUILD = os.path.abspath(os.environ.get("BRAID_BUILD_DIR", os.path.join(ROOT, "build")))
CHART = os.path.join(ROOT, "deploy", "helm", "braid")
WORK = os.path.join(BUILD, "image")
IMAGE = "localhost/braid:test"
# What the Dockerfile's build stage puts in /out, from the release build tree.
SHIPPED = {"bin": ("agent/braid-agent", "cni/braid-cni", "tools/braidctl/braidctl",
                   "tools/braid-perf/braid-perf"),
           "lib/braid": ("sdk/libbraid.so", "sdk/libbraid.so.1", "sdk/libbraid.so.1.0.0",
                         "sdk/preload/libbraid_preload.so")}
# RLIMIT_NOFILE/RLIMIT_NPROC for every container. Podman's defaults are raised limits, which a
# runtime without CAP_SYS_RESOURCE (this sandbox) is refused; these are within any host's.
ULIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]


class Fail(Exception):
    pass


def run(argv, check=True, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, **kw)
    if check and p.returncode != 0:
        raise Fail("%s: exit %d: %s" % (" ".join(argv[:6]), p.returncode,
                                        (p.stderr or p.stdout)[-2000:]))
    return p


def storage():
    return ["--root", os.path.join(WORK, "storage"), "--runroot", os.path.join(WORK, "run"),
            "--storage-driver", "vfs"]


def podman(*args, check=True, **kw):
    return run(["podman"] + storage() + list(args), check=check, **kw)


def host_mirror():
    """The first Debian archive the host's apt uses (debootstrap's mirror)."""
    for path in sorted(os.listdir("/etc/apt/sources.list.d")):
        if path.endswith(".sources"):
            for line in open(os.path.join("/etc/apt/sources.list.d", path)):
                m = re.match(r"URIs:\s*(\S+)", line)
                if m and "security" not in m.group(1):
                    return m.group(1)
    if os.path.exists("/etc/apt/sources.list"):
        for line in open("/etc/apt/sources.list"):
            m = re.match(r"deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\s", line)
            if m:
                return m.group(1)
    return "http://deb.debian.org/debian"


def base_image():
    """localhost/debian:12 and :12-slim in the private storage, from debootstrap."""
    if podman("image", "exists", "localhost/debian:12-slim", check=False).returncode == 0:
        return "cached"
    rootfs = os.path.join(WORK, "rootfs")
    shutil.rmtree(rootfs, ignore_errors=True)
    t0 = time.time()
    run(["debootstrap", "--variant=minbase", "bookworm", rootfs, host_mirror()], timeout=900)
    # The suites the debian:12 image has: the host's apt sources replace debootstrap's one line.
    os.remove(os.path.join(rootfs, "etc", "apt", "sources.list"))
    for name in os.listdir("/etc/apt/sources.list.d"):
        if name.endswith((".sources", ".list")):
            shutil.copy(os.path.join("/etc/apt/sources.list.d", name),
                        os.path.join(rootfs, "etc", "apt", "sources.list.d", name))
    if os.path.getsize("/etc/apt/sources.list") if os.path.exists("/etc/apt/sources.list") else 0:
        shutil.copy("/etc/apt/sources.list", os.path.join(rootfs, "etc", "apt", "sources.list"))
    tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
    podman("import", "-", "localhost/debian:12", stdin=tar.stdout)
    if tar.wait() != 0:
        raise Fail("tar of the debootstrap root failed")
    podman("tag", "localhost/debian:12", "localhost/debian:12-slim")
    shutil.rmtree(rootfs, ignore_errors=True)
    return "debootstrap %.0f s" % (time.time() - t0)


def build_image():
    ctx = os.path.join(WORK, "ctx")
    shutil.rmtree(ctx, ignore_errors=True)
    for sub, files in SHIPPED.items():
        os.makedirs(os.path.join(ctx, "out", sub))
        for f in files:
            src = os.path.join(BUILD, f)
            dst = os.path.join(ctx, "out", sub, os.path.basename(f))
            if os.path.islink(src):
                os.symlink(os.readlink(src), dst)
            else:
                shutil.copy2(src, dst)
                run(["strip", "--strip-debug", dst])
    shutil.copytree(os.path.join(ROOT, "sdk", "include", "braid"),
                    os.path.join(ctx, "out", "include", "braid"))
    shutil.copy(os.path.join(ROOT, "Dockerfile"), ctx)
    t0 = time.time()
    p = run(["buildah"] + storage() + ["bud", "--isolation", "chroot", "--pull=never",
                                       "--build-arg", "BRAID_BINARIES=prebuilt",
                                       "-t", IMAGE, ctx], timeout=900)
    with open(os.path.join(WORK, "bud.log"), "w") as f:
        f.write(p.stdout + p.stderr)
    # Each build leaves the previous image and its stages untagged; vfs keeps whole copies.
    podman("image", "prune", "-f", check=False)
    return time.time() - t0


def check_contents(ck):
    info = json.loads(podman("image", "inspect", IMAGE).stdout)[0]
    cfg = info.get("Config", {})
    ck(cfg.get("Cmd") == ["braid-agent", "--config", "/etc/braid/agent.yaml"],
       "the image's command is the agent with the chart's config path", cfg.get("Cmd"))
    ck("BRAID_PRELOAD=/usr/local/lib/braid/libbraid_preload.so" in cfg.get("Env", []),
       "BRAID_PRELOAD names the shim in the image", cfg.get("Env"))
    print("image size: %.0f MB" % (info.get("Size", 0) / 1e6))
    script = "; ".join([
        "set -e",
        "braid-agent --config-reference >/dev/null && echo agent-ok",
        "CNI_COMMAND=VERSION braid-cni </dev/null",
        "echo",
        "braidctl --help >/dev/null 2>&1 && echo braidctl-ok",
        "kubectl-braid --help 2>&1 | head -1",
        "braid-perf --help >/dev/null 2>&1 && echo perf-ok",
        "ldconfig -p | grep -c 'libbraid.so.1 '",
        "test -f /usr/local/include/braid/braid.h && echo headers-ok",
        "for t in jq sha256sum ip; do command -v $t >/dev/null && echo have-$t; done",
    ])
    p = podman("run", "--rm", *ULIMITS, "--network", "none", IMAGE, "/bin/sh", "-c", script,
               check=False)
    out = p.stdout
    ck(p.returncode == 0, "the checks ran in the image", "" if p.returncode == 0 else
       p.stdout + p.stderr)
    for want in ("agent-ok", '"supportedVersions":["0.3.0","0.3.1","0.4.0","1.0.0","1.1.0"]',
                 "braidctl-ok", "usage: kubectl braid", "perf-ok", "headers-ok", "have-jq",
                 "have-sha256sum", "have-ip"):
        ck(want in out, "in the image: " + want, "" if want in out else out)
    cached = re.search(r"^1$", out, flags=re.M) is not None
    ck(cached, "libbraid.so.1 is in the loader's cache", "" if cached else out)


def to_json(tools, text):
    """YAML documents to a JSON list, with the `yaml` npm package of the deploy tools. YAML 1.1,
    as Kubernetes reads manifests: `defaultMode: 0555` is octal there, decimal in YAML 1.2."""
    js = ("const Y=require(process.argv[1]);let s='';process.stdin.on('data',d=>s+=d);"
          "process.stdin.on('end',()=>console.log(JSON.stringify("
          "Y.parseAllDocuments(s,{version:'1.1'}).map(d=>d.toJSON()).filter(d=>d))));")
    p = run([tools.node, "-e", js, os.path.join(tools.dir, "node_modules", "yaml")], input=text)
    return json.loads(p.stdout)


def render(tools, tmp, bed):
    values = {
        "image": {"repository": IMAGE.split(":")[0], "tag": IMAGE.split(":")[1],
                  "pullPolicy": "Never"},
        "hostPaths": {"stateDir": bed.state, "runDir": os.path.join(tmp, "run"),
                      "netnsDir": "/var/run/netns"},
        "metrics": {"port": agent_test.METRICS_PORT, "bindAddress": "127.0.0.1"},
        "cni": {"binDir": os.path.join(tmp, "cni-bin"), "confDir": os.path.join(tmp, "net.d"),
                "ipamDataDir": bed.ipam, "chained": {"waitSeconds": 10}},
        "config": {"datapath": {"lcores": [1]}},
        "paths": [{"name": name, "kind": "af_packet", "netdev": "a%d" % i,
                   "ipv4Subnet": net + ".0/24", "ipv4Gateway": net + ".254",
                   "ipv4RangeStart": net + ".10", "ipv4RangeEnd": net + ".40"}
                  for i, (name, net) in enumerate(agent_test.PATHS)],
    }
    path = os.path.join(tmp, "values.json")
    with open(path, "w") as f:
        json.dump(values, f)
    p = run([tools.helm, "template", "braid", CHART, "--namespace", "braid-system", "-f", path])
    docs = to_json(tools, p.stdout)
    ds = [d for d in docs if d["kind"] == "DaemonSet"]
    if len(ds) != 1:
        raise Fail("expected one DaemonSet, got %d" % len(ds))
    maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    return ds[0]["spec"]["template"]["spec"], maps


class Kubelet:
    """Runs one pod spec's containers with podman, as a kubelet would, in the node's network
    namespace (hostNetwork). Only what the chart's DaemonSet uses is translated; anything else
    is refused, so the test cannot pass on a spec it did not really run."""

    def __init__(self, spec, maps, tmp):
        self.spec, self.maps, self.tmp = spec, maps, tmp
        self.node = self.agent = self.name = None
        self.volumes = {v["name"]: v for v in spec.get("volumes", [])}
        self.running = []
        if not spec.get("hostNetwork"):
            raise Fail("the agent pod is not on the host network")
        if spec.get("hostPID"):
            raise Fail("hostPID is not translated")

    def configmap_dir(self, name, mode):
        d = os.path.join(self.tmp, "configmaps", name)
        if not os.path.isdir(d):
            os.makedirs(d)
            for key, value in self.maps[name].items():
                with open(os.path.join(d, key), "w") as f:
                    f.write(value)
                os.chmod(os.path.join(d, key), mode)
        return d

    def mount_args(self, c):
        args = []
        for m in c.get("volumeMounts", []):
            v = self.volumes[m["name"]]
            if "hostPath" in v:
                src = v["hostPath"]["path"]
                if v["hostPath"].get("type") == "DirectoryOrCreate":
                    os.makedirs(src, exist_ok=True)
                elif not os.path.exists(src):
                    raise Fail("hostPath %s does not exist" % src)
            elif "configMap" in v:
                src = self.configmap_dir(v["configMap"]["name"],
                                         v["configMap"].get("defaultMode", 0o644))
            else:
                raise Fail("volume %s: only hostPath and configMap are translated" % m["name"])
            if m.get("subPath"):
                src = os.path.join(src, m["subPath"])
            opts = ["ro"] if m.get("readOnly") else ["rw"]
            prop = m.get("mountPropagation", "None")
            if prop == "HostToContainer":
                opts.append("rslave")
            elif prop != "None":
                raise Fail("mountPropagation %s is not translated" % prop)
            args += ["-v", "%s:%s:%s" % (src, m["mountPath"], ",".join(opts))]
        return args

    def security_args(self, c):
        sc = c.get("securityContext", {})
        args = []
        if sc.get("privileged"):
            args.append("--privileged")
        caps = sc.get("capabilities", {})
        for cap in caps.get("drop", []):
            args += ["--cap-drop", cap.lower()]
        for cap in caps.get("add", []):
            args += ["--cap-add", "CAP_" + cap]
        if sc.get("readOnlyRootFilesystem"):
            args.append("--read-only")
        if sc.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        if "runAsUser" in sc:
            args += ["--user", str(sc["runAsUser"])]
        return args

    def argv(self, c, name, detach):
        env = []
        for e in c.get("env", []):
            if "value" not in e:
                raise Fail("env %s: only literal values are translated" % e["name"])
            env += ["-e", "%s=%s" % (e["name"], e["value"])]
        # hostNetwork: the node's namespace is the host's here. Joined by path, not by running
        # podman under `ip netns exec`, whose private /sys hides the cgroup mounts runc needs.
        net = "ns:/var/run/netns/" + self.node
        return (["run", "--name", name, "--network", net, "--pull", "never"] + ULIMITS +
                (["-d"] if detach else ["--rm"]) + self.security_args(c) + env +
                self.mount_args(c) + [c["image"]] + c["command"] + c.get("args", []))

    def run_init(self):
        for c in self.spec.get("initContainers", []):
            p = podman(*self.argv(c, "braid-" + c["name"], False), check=False, timeout=120)
            if p.returncode != 0:
                raise Fail("init container %s: exit %d: %s" % (c["name"], p.returncode,
                                                               p.stderr[-2000:]))
            yield c["name"], p.stderr

    def start(self):
        (c,) = self.spec["containers"]
        self.agent = c
        self.name = "braid-" + c["name"]
        podman("rm", "-f", self.name, check=False)
        podman(*self.argv(c, self.name, True), timeout=60)
        self.running.append(self.name)

    def wait_ready(self, metrics, timeout=30):
        probe = self.agent["readinessProbe"]["httpGet"]
        ports = {p["name"]: p["containerPort"] for p in self.agent.get("ports", [])}
        port = ports.get(probe["port"], probe["port"])
        if port != agent_test.METRICS_PORT:
            raise Fail("the readiness probe's port %s is not the metrics port" % port)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if metrics(probe["path"])[0] == 200:
                return True
            state = self.state()
            if state.get("Status") == "exited":
                raise Fail("the agent exited (%s): %s" % (state.get("ExitCode"), self.logs()))
            time.sleep(0.2)
        return False

    def state(self):
        p = podman("inspect", self.name, "--format", "{{json .State}}", check=False)
        return json.loads(p.stdout) if p.returncode == 0 else {}

    def logs(self):
        return podman("logs", self.name, check=False).stderr[-3000:]

    def pre_stop_and_stop(self):
        """The preStop hook, then SIGTERM with the grace period; the exit code."""
        hook = self.agent["lifecycle"]["preStop"]["exec"]["command"]
        p = podman("exec", self.name, *hook, check=False)
        grace = self.spec.get("terminationGracePeriodSeconds", 30)
        podman("stop", "-t", str(grace), self.name, check=False, timeout=grace + 30)
        code = self.state().get("ExitCode")
        return p, code

    def remove(self):
        for name in self.running:
            podman("rm", "-f", name, check=False)
        self.running = []


def snapshot(*dirs):
    out = {}
    for d in dirs:
        for dirpath, _, files in os.walk(d):
            for f in files:
                path = os.path.join(dirpath, f)
                with open(path, "rb") as fh:
                    out[path] = hashlib.sha256(fh.read()).hexdigest()
    return out


class ImageBed(agent_test.Bed):
    """agent_test's testbed with the agent run from the image by the chart's pod spec: Bed.up
    makes the namespaces and the kernel peer, then calls start_agent, which runs the init
    containers first (once), as the kubelet does."""

    def __init__(self, tmp, ck):
        super().__init__(tmp)
        self.ck = ck
        self.kubelet = None
        self.rendered_config = None
        self.bin_dir, self.conf_dir = os.path.join(tmp, "cni-bin"), os.path.join(tmp, "net.d")

    def agent_yaml(self):
        return self.rendered_config

    def start_agent(self):
        ck = self.ck
        self.kubelet.node = self.node
        for name, log in self.kubelet.run_init():
            ck.info("init container %s: %s" % (name, " | ".join(log.strip().splitlines())))
        installed = os.path.join(self.bin_dir, "braid-cni")
        with open(installed, "rb") as a, open(os.path.join(WORK, "ctx", "out", "bin",
                                                             "braid-cni"), "rb") as b:
            same = a.read() == b.read()
        ck(same and os.access(installed, os.X_OK),
           "the init container installed the image's braid-cni on the node", installed)
        with open(os.path.join(self.conf_dir, "05-braid.conflist")) as f:
            conflist = json.load(f)
        plugins = conflist.get("plugins", [])
        ck(conflist.get("name") == "primary" and len(plugins) == 2 and
           plugins[0] == {"type": "loopback"} and plugins[1].get("type") == "braid-cni" and
           plugins[1].get("agentSocket") == self.socket,
           "the chained conflist is the primary's with braid-cni after it", conflist)
        self.kubelet.start()
        if not self.kubelet.wait_ready(self.metrics):
            raise Fail("the agent is not ready by its readiness probe: " + self.kubelet.logs())
        ck(True, "the agent from the image is ready by the chart's readiness probe")
        # The pods use what the node has: the braid-cni the init container installed, the shim
        # out of the image.
        agent_test.CNI = installed
        shim = os.path.join(self.tmp, "libbraid_preload.so")
        podman("cp", self.kubelet.name + ":/usr/local/lib/braid/libbraid_preload.so", shim)
        agent_test.PRELOAD = shim

    def stop_agent(self, sig=None):
        if self.kubelet:
            self.kubelet.remove()

    def agent_log(self):
        return self.kubelet.logs() if self.kubelet else ""


def daemonset(ck, tools, tmp):
    bed = ImageBed(tmp, ck)
    spec, maps = render(tools, tmp, bed)
    bed.rendered_config = maps["braid-agent"]["agent.yaml"]
    bed.socket = re.search(r"^\s*cni_socket:\s*(\S+)", bed.rendered_config, flags=re.M).group(1)
    os.makedirs(bed.bin_dir)
    os.makedirs(bed.conf_dir)
    # The node's primary network: a loopback conflist, which braid-cni is chained after.
    with open(os.path.join(bed.conf_dir, "10-primary.conflist"), "w") as f:
        json.dump({"cniVersion": "1.0.0", "name": "primary",
                   "plugins": [{"type": "loopback"}]}, f)
    before = snapshot(bed.bin_dir, bed.conf_dir)
    bed.kubelet = Kubelet(spec, maps, tmp)
    try:
        bed.up()
        print("== cni (agent_test.py's scenario, the agent in the image)", flush=True)
        agent_test.scenario_cni(bed, ck)
        hook, code = bed.kubelet.pre_stop_and_stop()
        ck(hook.returncode == 0, "the preStop hook (cni-install.sh uninstall) succeeds",
           hook.stdout + hook.stderr)
        ck(code == 0, "the agent exits 0 on SIGTERM", "exit %s: %s" % (code, bed.kubelet.logs()))
        after = snapshot(bed.bin_dir, bed.conf_dir)
        ck(after == before, "the node's CNI directories are as before the install",
           sorted(set(after.items()) ^ set(before.items())))
    finally:
        bed.down()


def main():
    reason = check_e2e(need=("root", "netns", "mptcp"))
    for tool in ("podman", "buildah", "debootstrap", "runc", "strip", "curl", "mptcpize"):
        if not reason and shutil.which(tool) is None:
            reason = tool + " not installed (scripts/install-deps installs it)"
    for files in SHIPPED.values():
        for f in files:
            if not reason and not os.path.exists(os.path.join(BUILD, f)):
                reason = "%s not built" % os.path.join(BUILD, f)
    if not reason and not os.path.exists(os.path.join(agent_test.CNI_DIR, "host-local")):
        reason = "host-local not found in " + agent_test.CNI_DIR
    tools = None
    if not reason:
        tools = deploytools.ensure(BUILD)
        if isinstance(tools, str):
            reason, tools = tools, None
    if reason:
        print("SKIP: " + reason)
        return SKIP
    os.makedirs(WORK, exist_ok=True)
    ck = Checker("image")
    tmp = tempfile.mkdtemp(prefix="braid-image-e2e-")
    try:
        print("base image: " + base_image(), flush=True)
        print("buildah bud (runtime stage): %.0f s" % build_image(), flush=True)
        check_contents(ck)
        daemonset(ck, tools, tmp)
    except (Fail, subprocess.TimeoutExpired, OSError, ValueError, KeyError) as e:
        ck(False, "image test", str(e))
    finally:
        if not ck.failures:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept " + tmp)
    return 0 if not ck.failures else 1


if __name__ == "__main__":
    sys.exit(main())
