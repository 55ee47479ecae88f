"""containerd and `ctr run --cni` inside a testbed node, with nothing taken from the machine's own
container setup (Debian 12's containerd 1.6.20 and runc 1.1.5, package `containerd`).

    rundir = make_rundir()                                   # /tmp/braid-ctr-<pid>-XXXXXXXX
    with Containerd(tb.a, rundir, tb.workdir) as cd:         # our own daemon, socket, root, state
        cni = CniSandbox(os.path.join(rundir, "cni"))
        cni.add_plugin("/usr/lib/cni/bridge"); ...; cni.write_conflist(conflist)
        rootfs = make_rootfs(os.path.join(rundir, "rootfs"))
        c = Container(cd, cni, "c1", rootfs, ["/bin/sh", "-c", "..."],
                      mounts=[bind_mount("/usr", "/usr")])
        c.start(); pid = c.wait_pid(); ... c.kill(); c.wait()  # CNI DEL, task and container gone

The daemon: `containerd --config F --root DIR --state DIR --address SOCK` with a configuration of
its own (the CRI plugin and the `opt` plugin, which would create /opt/containerd, disabled;
version 2), stopped at the end. It runs in the host's namespaces, not in the node: `ip netns
exec` mounts a fresh /sys, without the cgroup hierarchies runc needs. Containers get network
namespaces of their own from runc anyway; what must run in the node is `ctr run`, whose CNI
plugins act in the namespace they are started in. Its root, state, sockets and runc's root live
in `rundir`: a short path under /tmp, because unix socket paths are limited to 108 bytes. Two
things it cannot move: shim sockets are always `/run/containerd/s/<sha256>` (the hash covers our
socket's address, so no other containerd's can collide), and the `ctr` FIFOs default to
/run/containerd/fifo (moved with `--fifo-dir`). /run/containerd, when this module created it, is
removed again if empty.

Cleanup: Containerd.close() (also at exit and on SIGINT/SIGTERM/SIGHUP, through braidtest's
cleanup) kills and deletes what is left, stops the daemon and kills its shims. A test killed by
SIGKILL loses its daemon (PR_SET_PDEATHSIG) but not the shims, which daemonize, nor their
containers: make_rundir() first runs sweep_stale(), which finds them through the run directories
of dead owners (the shims name their daemon's socket, inside that directory) and removes them,
their cgroups, shim sockets and the directory.

No image registry is reachable, so containers run from a local root filesystem (`ctr run
--rootfs DIR`): make_rootfs() builds a directory holding only the merged-/usr symlinks (bin, sbin,
lib, lib64 -> usr/...), and the host's /usr is bind-mounted read-only over its usr
(`--mount type=bind,src=/usr,dst=/usr,options=rbind:ro`): python3, sh and every shared library
are the host's, unchanged. runc adds /proc, /dev, /sys and /run itself. `--cgroup ""` lets runc
name the cgroup after the container id (it removes it at delete; the default
/<namespace>/<id> leaves the namespace's directory behind in every hierarchy).

CNI: ctr 1.6's `--cni` uses go-cni with its defaults only: configurations from /etc/cni/net.d
(the first file in name order), plugins from /opt/cni/bin, libcni's result cache in /var/lib/cni;
no flag or environment variable moves them. So ctr runs in a private mount namespace
(CniSandbox.wrap: `unshare --mount --propagation private`) where the test's own directories are
bind-mounted over those three paths; a path that does not exist on the machine is made inside an
overlay (upper layer on a tmpfs of that namespace) over its deepest existing parent, so nothing
is created on the machine and a machine's own CNI files are never seen nor touched. The plugins
are ctr's children and see the same mounts. ctr runs in the node's network namespace: the
bridge plugin creates its bridge and host-side veths there.

CNI and the container's life in ctr 1.6: only a foreground `ctr run --cni` runs CNI ADD (on
/proc/<task pid>/ns/net, after the task is created and before it starts) and CNI DEL (after the
task exits, with an empty CNI_NETNS); `ctr task kill/rm` and `ctr container rm` run no CNI at
all, so a detached container's network is never released (its host-local lease stays). Container
therefore keeps `ctr run --rm --cni` in the foreground and removes the container with
`ctr task kill`: ctr then runs CNI DEL, deletes the task and (--rm) the container, and exits.
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from . import cleanup, sweep
from .util import log, popen, wait_until

CTR_NAMESPACE = "braid-e2e"
SHIM_SOCKET_DIR = "/run/containerd"
# go-cni's and libcni's fixed directories (ctr 1.6 has no option for them).
CNI_CONF_DIR = "/etc/cni/net.d"
CNI_BIN_DIR = "/opt/cni/bin"
CNI_CACHE_DIR = "/var/lib/cni"
# Package providing each tool on Debian 12.
TOOLS = {"containerd": "containerd", "ctr": "containerd", "containerd-shim-runc-v2": "containerd",
         "runc": "runc", "unshare": "util-linux", "nsenter": "util-linux"}

_CONFIG = """version = 2
root = "{root}"
state = "{state}"
# No CRI (ctr needs none); "opt" would create /opt/containerd; snapshotters this host lacks.
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.internal.v1.opt",
                    "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"
"""

# Run by `unshare --mount --propagation private python3 -c` (ctr's private mount namespace):
#   argv: SCRATCH PAIRS_JSON PROGRAM [ARG...]; PAIRS_JSON a list of [src, dst]. SCRATCH gets a
# tmpfs for the overlays' layers. Every overlay is made before any bind mount (an overlay on a
# parent hides the mounts below it); an overlay on a common parent may hide an earlier one's
# directory, which makedirs then makes again inside that (writable) overlay.
_WRAP = r"""
import json, os, subprocess, sys
scratch, pairs, argv = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
def mount(*args):
    subprocess.run(["mount"] + list(args), check=True)
mount("-t", "tmpfs", "-o", "mode=0700", "braid-ctr", scratch)
for n, (_, dst) in enumerate(pairs):
    if os.path.isdir(dst):
        continue
    top = dst
    while not os.path.isdir(top):
        top = os.path.dirname(top)
    if top == "/":
        sys.exit("braid-ctr: no parent of %s to overlay" % dst)
    upper, work = os.path.join(scratch, "upper%d" % n), os.path.join(scratch, "work%d" % n)
    os.mkdir(upper)
    os.mkdir(work)
    mount("-t", "overlay", "braid-ctr", "-o",
          "lowerdir=%s,upperdir=%s,workdir=%s" % (top, upper, work), top)
    os.makedirs(dst, exist_ok=True)
for src, dst in pairs:
    os.makedirs(dst, exist_ok=True)
    mount("--bind", src, dst)
os.execvp(argv[0], argv)
"""


def mount_wrapper(scratch, pairs, argv):
    """argv run in a private mount namespace where each [src, dst] of pairs is bind-mounted
    (a dst missing on the machine made inside an overlay of its deepest existing parent, the
    overlay's layers on a tmpfs mounted on scratch): nothing changes outside that namespace."""
    return ["unshare", "--mount", "--propagation", "private", sys.executable, "-c", _WRAP,
            scratch, json.dumps(pairs)] + [str(a) for a in argv]


def missing_tools():
    """None when containerd, ctr, runc, the runc shim, unshare and nsenter are all there (and
    overlayfs, needed when a CNI directory is missing on the machine), else the reason."""
    for tool, package in TOOLS.items():
        if shutil.which(tool) is None:
            return "%s not found (package %s; scripts/install-deps)" % (tool, package)
    if not all(os.path.isdir(d) for d in (CNI_CONF_DIR, CNI_BIN_DIR, CNI_CACHE_DIR)):
        with open("/proc/filesystems") as f:
            if "overlay" not in f.read().split():
                return "the kernel has no overlayfs (needed to give ctr its own CNI directories)"
    return None


def bind_mount(src, dst, read_only=True):
    """A `ctr run --mount` value binding host path src at dst in the container."""
    return "type=bind,src=%s,dst=%s,options=rbind:%s" % (src, dst, "ro" if read_only else "rw")


def make_rootfs(directory):
    """A root filesystem for `ctr run --rootfs`: the merged-/usr symlinks and an empty usr/ on
    which the container mounts the host's /usr (bind_mount('/usr', '/usr')). Returns it."""
    os.makedirs(os.path.join(directory, "usr"), exist_ok=True)
    for name in ("bin", "sbin", "lib", "lib64"):
        link = os.path.join(directory, name)
        if not os.path.lexists(link):
            os.symlink("usr/" + name, link)
    return directory


def mounts_under(directory):
    """Mount points at or below directory in this process's mount namespace."""
    directory = os.path.realpath(directory)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == directory or point.startswith(directory + "/"):
                found.append(point)
    return found


def remove_tree(directory):
    """Removes directory unless something is mounted below it (a bind mount of /usr that leaked
    into the host would otherwise be emptied). Returns the mount points that stopped it."""
    if not os.path.exists(directory):
        return []
    mounts = mounts_under(directory)
    if mounts:
        log("braidtest: not removing %s: mounts below it: %s" % (directory, mounts))
        return mounts
    shutil.rmtree(directory, ignore_errors=True)
    return []


def _comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def process_args(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode(errors="replace") for a in f.read().split(b"\0")]
    except OSError:
        return []


def children(pid):
    """PIDs whose parent is pid."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                stat = f.read()
        except OSError:
            continue
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            found.append(int(entry))
    return found


def processes_with_arg(text):
    """PIDs whose command line has an argument equal to text."""
    return [int(e) for e in os.listdir("/proc") if e.isdigit() and text in process_args(int(e))]


def _json_objects(lines):
    out = []
    for line in lines:
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


# --- run directories, and what a SIGKILLed test leaves behind -----------------------------------

RUNDIR_ROOT = "/tmp"
RUNDIR_PREFIX = "braid-ctr-"
_RUNDIR_RE = re.compile(r"^" + re.escape(RUNDIR_PREFIX) + r"(\d+)-[A-Za-z0-9_]+$")


def make_rundir():
    """A fresh directory for containerd, CNI and the agent: /tmp/braid-ctr-<pid>-XXXXXXXX (short,
    for unix socket paths; the pid names its owner for sweep_stale), after sweeping."""
    sweep_stale()
    return tempfile.mkdtemp(prefix="%s%d-" % (RUNDIR_PREFIX, os.getpid()), dir=RUNDIR_ROOT)


def shim_socket(address, namespace, cid):
    """The shim's socket containerd 1.6 derives from its own address, namespace and id."""
    digest = hashlib.sha256(os.path.join(address, namespace, cid).encode()).hexdigest()
    return os.path.join(SHIM_SOCKET_DIR, "s", digest)


def _cgroups_named(name, depth=4):
    """Directories called name in the cgroup hierarchies (runc's /<container id>, which some
    hierarchies nest below the caller's own cgroup)."""
    found = []
    for top, dirs, _ in os.walk("/sys/fs/cgroup"):
        if top.count("/") - 3 >= depth:
            dirs[:] = []
            continue
        if name in dirs:
            found.append(os.path.join(top, name))
    return found


def sweep_stale(verbose=True):
    """Removes what a test killed by SIGKILL left: its containerd (if still alive), the runc
    shims serving it and their containers (the shim's children: the container's pid 1), the
    containers' cgroups and shim sockets, and its run directory. Only run directories named
    /tmp/braid-ctr-<pid>-* whose owner is gone (sweep.py's test: the pid is not running, or
    started after the directory was last changed) are touched. Returns the directories swept."""
    swept = []
    for name in sorted(os.listdir(RUNDIR_ROOT)):
        m = _RUNDIR_RE.match(name)
        if not m:
            continue
        rundir = os.path.join(RUNDIR_ROOT, name)
        started = sweep.process_start_time(int(m.group(1)))
        try:
            changed = os.stat(rundir).st_mtime
        except FileNotFoundError:
            continue
        if started is not None and started <= changed + 2:
            continue
        if verbose:
            log("braidtest: sweeping stale %s" % rundir)
        kill_runtime(os.path.join(rundir, "containerd", "containerd.sock"))
        for d in (os.path.join(SHIM_SOCKET_DIR, "s"), SHIM_SOCKET_DIR):
            _rmdir(d)  # only when empty: a live containerd or shim keeps a socket there
        remove_tree(rundir)
        swept.append(rundir)
    return swept


def kill_runtime(address):
    """SIGKILLs every process naming the containerd socket `address` (that daemon, its runc
    shims, stray ctr) and the shims' children (each container's pid 1, whose death ends its
    pid namespace), then removes the shims' sockets and the containers' cgroups."""
    victims, cids = [], []
    for pid in processes_with_arg(address):
        args = process_args(pid)
        if _comm(pid).startswith("containerd-shim") and "-id" in args:
            namespace = args[args.index("-namespace") + 1] if "-namespace" in args else ""
            cids.append((namespace, args[args.index("-id") + 1]))
            victims += children(pid)
        victims.append(pid)
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for namespace, cid in cids:
        try:
            os.unlink(shim_socket(address, namespace, cid))
        except OSError:
            pass
        for cgroup in _cgroups_named(cid):
            # Empty once the killed processes are gone.
            try:
                wait_until(lambda c=cgroup: _rmdir(c), 5, interval=0.05,
                           what="cgroup %s removed" % cgroup)
            except TimeoutError as e:
                log("braidtest: %s" % e)


def _rmdir(path):
    try:
        os.rmdir(path)
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


class Containerd:
    """Our own containerd (in the host's namespaces) for ctr commands run in `node`: its files
    under rundir/containerd, its log in logdir."""

    def __init__(self, node, rundir, logdir, namespace=CTR_NAMESPACE):
        self.node, self.namespace = node, namespace
        self.dir = os.path.join(rundir, "containerd")
        self.socket = os.path.join(self.dir, "containerd.sock")
        self.root = os.path.join(self.dir, "root")
        self.state = os.path.join(self.dir, "state")
        self.runc_root = os.path.join(self.dir, "runc")
        self.fifo_dir = os.path.join(self.dir, "fifo")
        self.log_path = os.path.join(logdir, "containerd.log")
        self.proc = None
        self._made_shim_dir = False
        self.closed = False

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def start(self, timeout=20):
        for d in (self.dir, self.root, self.state, self.runc_root, self.fifo_dir):
            os.makedirs(d, mode=0o700, exist_ok=True)
        config = os.path.join(self.dir, "config.toml")
        with open(config, "w") as f:
            f.write(_CONFIG.format(root=self.root, state=self.state, socket=self.socket))
        self._made_shim_dir = not os.path.exists(SHIM_SOCKET_DIR)
        cleanup.register(self)
        log_file = open(self.log_path, "ab")
        # In the host's namespaces: `ip netns exec` remounts /sys, which hides the cgroup
        # hierarchies from runc ("no cgroup mount found in mountinfo").
        self.proc = popen(["containerd", "--config", config, "--root", self.root, "--state",
                           self.state, "--address", self.socket],
                          stdout=log_file, stderr=subprocess.STDOUT)
        log_file.close()

        def serving():
            if self.proc.poll() is not None:
                raise RuntimeError("containerd exited (%s); its log: %s" %
                                   (self.proc.returncode, self.log_tail()))
            return os.path.exists(self.socket) and self.ctr(["version"], check=False,
                                                            timeout=5).returncode == 0
        wait_until(serving, timeout, interval=0.1, what="containerd serving on " + self.socket)
        return self

    def log_tail(self, lines=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def ctr_argv(self, args):
        return ["ctr", "--address", self.socket, "--namespace", self.namespace] + \
            [str(a) for a in args]

    def ctr(self, args, check=True, timeout=30):
        """ctr ARGS against this daemon, run in the node; a CompletedProcess (text)."""
        return self.node.run(self.ctr_argv(args), check=check, timeout=timeout)

    def containers(self):
        return self.ctr(["containers", "list", "--quiet"]).stdout.split()

    def tasks(self):
        return self.ctr(["tasks", "list", "--quiet"]).stdout.split()

    def task_dir(self, cid):
        """The runtime's bundle of a task (gone once the task is deleted)."""
        return os.path.join(self.state, "io.containerd.runtime.v2.task", self.namespace, cid)

    def shims(self):
        """PIDs of the runc shims serving this daemon (containerd-shim-* with `-address <our
        socket>`; ctr's own command lines name the socket too)."""
        return [p for p in processes_with_arg(self.socket)
                if _comm(p).startswith("containerd-shim")]

    def remove_all(self):
        """Kills and deletes every task and container left in our namespace."""
        for cid in self.tasks():
            self.ctr(["tasks", "kill", "--signal", "SIGKILL", cid], check=False)
            self.ctr(["tasks", "delete", "--force", cid], check=False)
        for cid in self.containers():
            self.ctr(["containers", "delete", cid], check=False)

    def close(self):
        """Removes what is left, stops the daemon, kills shims it left behind (kill_runtime: found
        by their -address argument, so only ours) and removes /run/containerd if it made it and
        it is empty. Idempotent."""
        if self.closed:
            return
        self.closed = True
        with cleanup.cleaning():
            try:
                if self.proc is not None and self.proc.poll() is None:
                    self.remove_all()
            except Exception as e:  # pylint: disable=broad-except
                log("braidtest: removing containers failed: %s" % e)
            if self.proc is not None:
                self.proc.stop(timeout=10)
            kill_runtime(self.socket)  # shims a stopped daemon left
            if self._made_shim_dir:
                for d in (os.path.join(SHIM_SOCKET_DIR, "s"), SHIM_SOCKET_DIR):
                    _rmdir(d)  # only when empty
        cleanup.unregister(self)


class CniSandbox:
    """The CNI directories ctr sees (CNI_CONF_DIR, CNI_BIN_DIR, CNI_CACHE_DIR), made in directory,
    and the directory for host-local's leases (ipam_dir: use it as the `dataDir`)."""

    def __init__(self, directory):
        self.dir = directory
        self.conf_dir = os.path.join(directory, "net.d")
        self.bin_dir = os.path.join(directory, "bin")
        self.cache_dir = os.path.join(directory, "cache")
        self.ipam_dir = os.path.join(directory, "ipam")
        self.scratch = os.path.join(directory, "overlay")
        for d in (self.conf_dir, self.bin_dir, self.cache_dir, self.ipam_dir, self.scratch):
            os.makedirs(d, mode=0o700, exist_ok=True)

    def add_plugin(self, path, name=None):
        """Makes the plugin binary at path available to ctr as `name` (default its basename)."""
        link = os.path.join(self.bin_dir, name or os.path.basename(path))
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(os.path.abspath(path), link)

    def write_conflist(self, conflist, filename="10-braid-e2e.conflist"):
        """Writes the network configuration list ctr will use (the only file in net.d)."""
        for old in os.listdir(self.conf_dir):
            os.unlink(os.path.join(self.conf_dir, old))
        path = os.path.join(self.conf_dir, filename)
        with open(path, "w") as f:
            json.dump(conflist, f, indent=2)
        return path

    def wrap(self, argv):
        """argv run in a private mount namespace where the three CNI paths are ours."""
        pairs = [[self.conf_dir, CNI_CONF_DIR], [self.bin_dir, CNI_BIN_DIR],
                 [self.cache_dir, CNI_CACHE_DIR]]
        return mount_wrapper(self.scratch, pairs, argv)

    def leases(self, network):
        """host-local's reservations for network: its files that name an address."""
        d = os.path.join(self.ipam_dir, network)
        if not os.path.isdir(d):
            return []
        return sorted(n for n in os.listdir(d)
                      if n != "lock" and not n.startswith("last_reserved_ip"))

    def cached_results(self):
        """libcni's cached ADD results (removed by a successful DEL)."""
        d = os.path.join(self.cache_dir, "results")
        return sorted(os.listdir(d)) if os.path.isdir(d) else []


class Container:
    """A container run by a foreground `ctr run --rm --cni` in the containerd's node.

    stdout is read line by line (lines(), json_lines()); stderr (ctr's messages and the
    container's stderr) goes to <logdir>/ctr-<id>.stderr. The container is removed by kill()
    (ctr task kill); ctr then runs CNI DEL, deletes task and container, and exits (wait())."""

    def __init__(self, containerd, cni, cid, rootfs, argv, mounts=(), env=(), logdir=None):
        self.containerd, self.cni, self.id = containerd, cni, cid
        self.rootfs, self.argv = rootfs, [str(a) for a in argv]
        self.mounts, self.env = list(mounts), list(env)
        logdir = logdir or containerd.dir
        self.pid_file = os.path.join(containerd.dir, "%s.pid" % cid)
        self.stderr_path = os.path.join(logdir, "ctr-%s.stderr" % cid)
        self.proc = None
        self._lines = []
        self._cond = threading.Condition()
        self._reader = None

    @property
    def cni_id(self):
        """The container id CNI sees (CNI_CONTAINERID): ctr prefixes its namespace."""
        return "%s-%s" % (self.containerd.namespace, self.id)

    def command(self):
        args = ["run", "--rm", "--cni", "--cgroup", "", "--fifo-dir", self.containerd.fifo_dir,
                "--runc-root", self.containerd.runc_root, "--pid-file", self.pid_file]
        for m in self.mounts:
            args += ["--mount", m]
        for e in self.env:
            args += ["--env", e]
        args += ["--rootfs", self.rootfs, self.id] + self.argv
        return self.cni.wrap(self.containerd.ctr_argv(args))

    def start(self):
        err = open(self.stderr_path, "wb")
        self.proc = self.containerd.node.popen(self.command(), stdout=subprocess.PIPE,
                                               stderr=err)
        err.close()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self):
        for raw in self.proc.stdout:
            with self._cond:
                self._lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def lines(self):
        with self._cond:
            return list(self._lines)

    def json_lines(self):
        """The JSON objects among stdout's lines so far."""
        return _json_objects(self.lines())

    def wait_json(self, predicate, timeout):
        """The first JSON line of stdout matching predicate, waiting up to timeout; None when
        it does not come (or ctr exits first)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for obj in _json_objects(self._lines):
                    if predicate(obj):
                        return obj
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    return None
                self._cond.wait(min(left, 0.2))

    def stderr(self):
        try:
            with open(self.stderr_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_pid(self, timeout=30):
        """The task's pid (in the host's pid namespace), from ctr's --pid-file; ctr writes it
        after creating the task, before CNI ADD. None if ctr exits first."""
        def written():
            if os.path.exists(self.pid_file):
                with open(self.pid_file) as f:
                    text = f.read().strip()
                if text.isdigit():
                    return int(text)
            if self.proc.poll() is not None:
                return -1
            return None
        pid = wait_until(written, timeout, interval=0.02, what="ctr's pid file")
        return None if pid < 0 else pid

    def open_netns(self, pid):
        """An fd on the task's network namespace: it keeps the namespace alive while open."""
        return os.open("/proc/%d/ns/net" % pid, os.O_RDONLY | os.O_CLOEXEC)

    def kill(self, sig="SIGKILL"):
        """`ctr task kill`: SIGKILL by default, because the container's pid 1 ignores signals
        it has no handler for."""
        return self.containerd.ctr(["tasks", "kill", "--signal", sig, self.id], check=False)

    def wait(self, timeout=60):
        """ctr's exit status once it has run CNI DEL and deleted task and container."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.stop()
        if self._reader is not None:
            self._reader.join(5)
        return self.proc.returncode

    def task_status(self):
        """The task's status (RUNNING, CREATED, STOPPED, ...), or None when there is no task."""
        out = self.containerd.ctr(["tasks", "list"], check=False).stdout
        for line in out.splitlines()[1:]:
            fields = line.split()
            if len(fields) >= 3 and fields[0] == self.id:
                return fields[2]
        return None

    def remove_by_hand(self, timeout=20):
        """`ctr task kill -s SIGKILL`, `ctr task rm`, `ctr container rm`: what an operator does
        for a container whose `ctr run` has gone (these run no CNI). Returns the errors."""
        errors = []
        if self.task_status() is not None:
            self.kill()
            try:
                wait_until(lambda: self.task_status() in ("STOPPED", None), timeout,
                           interval=0.05, what="task %s stopped" % self.id)
            except TimeoutError as e:
                errors.append(str(e))
            p = self.containerd.ctr(["tasks", "delete", self.id], check=False)
            if p.returncode != 0:
                errors.append("ctr tasks delete: " + p.stderr.strip())
        if self.id in self.containerd.containers():
            p = self.containerd.ctr(["containers", "delete", self.id], check=False)
            if p.returncode != 0:
                errors.append("ctr containers delete: " + p.stderr.strip())
        return errors

    def stop(self):
        """For teardown: kills the task if it still runs and waits for ctr."""
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
            self.wait(timeout=20)


# --- a network namespace seen through an fd ---------------------------------------------------

def in_netns(fd, argv, timeout=30):
    """Runs argv in the network namespace fd refers to (nsenter on the inherited fd)."""
    return subprocess.run(["nsenter", "--net=/proc/self/fd/%d" % fd] + [str(a) for a in argv],
                          pass_fds=(fd,), capture_output=True, text=True, timeout=timeout)


def netns_links(fd):
    """The interface names in that namespace."""
    out = in_netns(fd, ["ip", "-j", "link", "show"]).stdout
    return [link["ifname"] for link in json.loads(out or "[]")]


def netns_unix_sockets(fd):
    """Unix socket names bound in that namespace (abstract ones start with '@'): `ss -xa`."""
    out = in_netns(fd, ["ss", "-xaH"]).stdout
    names = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[4] != "*":
            names.append(fields[4])
    return names


def release_netns(fd, node, probe="ctrprobe", timeout=10):
    """Closes fd and tells whether that network namespace was then destroyed, i.e. nothing else
    held it (no process, no socket created in it, no bind mount). The probe: a veth pair, one end
    in that namespace and the other in `node`; the kernel deletes the pair with the namespace,
    so the node's end disappears exactly when the namespace is gone. Returns (released, detail).
    """
    peer = probe + "-n"
    p = in_netns(fd, ["ip", "link", "add", probe, "type", "veth", "peer", "name", peer,
                      "netns", node.ns])
    os.close(fd)
    if p.returncode != 0:
        return False, "probe veth not created: %s" % p.stderr.strip()

    def gone():
        return peer not in [link["ifname"] for link in node.ip_json(["link", "show"])]
    try:
        wait_until(gone, timeout, interval=0.05, what="the namespace's probe veth gone")
        return True, ""
    except TimeoutError as e:
        node.ip(["link", "del", peer], check=False)
        return False, str(e)

