"""Namespace names, ownership, persistent (CLI) testbed state, and the sweeper.

Every namespace a testbed creates is named PREFIX + PID + "-" + COUNTER + "-" + ROLE, e.g.
`braid-e2e-4242-1-a`, `braid-e2e-4242-1-r0` (PID: the creating process; COUNTER: per process, so
one process can hold several testbeds; ROLE: a node or router name). The testbed's id is
PREFIX + PID + "-" + COUNTER. Interfaces are created inside the namespaces directly, never in the
host namespace, so their names (a0, r0a, ...) cannot collide between parallel runs.

A namespace is *stale* when its creating process is gone: the PID is not running, or it is
running but started after the namespace was created (a reused PID). Testbeds created by the CLI
(`python3 -m braidtest up`) outlive their process on purpose; they are recorded in STATE_DIR and
the sweeper leaves them alone unless asked to remove them too. The sweeper only ever looks at
names that match the exact pattern for the prefix it is given.
"""

import json
import os
import re
import signal
import time

from .util import log, run

DEFAULT_PREFIX = "braid-e2e-"   # tests
CLI_PREFIX = "braid-cli-"       # `python3 -m braidtest up` (persistent until `down`)
KNOWN_PREFIXES = (DEFAULT_PREFIX, CLI_PREFIX)
NETNS_DIR = "/run/netns"
STATE_DIR = "/run/braidtest"    # tmpfs: gone at reboot, like the namespaces

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}-$")
_ROLE_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")


def check_prefix(prefix):
    if not _PREFIX_RE.match(prefix):
        raise ValueError("prefix must match %s (lower case, ends with '-'): %r" %
                         (_PREFIX_RE.pattern, prefix))
    return prefix


def check_role(role):
    if not _ROLE_RE.match(role):
        raise ValueError("node names must match %s (they become interface names): %r" %
                         (_ROLE_RE.pattern, role))
    return role


def name_regex(prefix):
    """Matches PREFIX<pid>-<counter>-<role>; groups: pid, counter, role."""
    return re.compile("^" + re.escape(prefix) + r"(\d+)-(\d+)-([a-z][a-z0-9]*)$")


def list_namespaces():
    """Names of the named network namespaces (`ip netns list`)."""
    try:
        return sorted(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return []


def namespaces_with_prefix(prefix):
    rx = name_regex(prefix)
    return [n for n in list_namespaces() if rx.match(n)]


def _boot_time():
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return int(line.split()[1])
    return 0


def process_start_time(pid):
    """Wall-clock start time of pid (seconds), or None if it does not exist."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # Field 22 (starttime, clock ticks since boot); the command name (field 2) may hold spaces.
    fields = stat[stat.rindex(")") + 2:].split()
    return _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def owner_alive(ns_name, pid):
    """True if the process that created ns_name (pid from its name) still runs."""
    started = process_start_time(pid)
    if started is None:
        return False
    try:
        created = os.stat(os.path.join(NETNS_DIR, ns_name)).st_mtime
    except FileNotFoundError:
        return False
    # nsfs files carry the namespace's creation time. A process started after it cannot have
    # created it: the pid was reused. (2 s of slack: btime and ticks are coarse.)
    return started <= created + 2


def testbed_id(ns_name, prefix):
    m = name_regex(prefix).match(ns_name)
    return "%s%s-%s" % (prefix, m.group(1), m.group(2)) if m else None


# --- persistent (CLI) testbeds -------------------------------------------------------------

def state_path(tb_id):
    return os.path.join(STATE_DIR, tb_id + ".json")


def save_state(tb_id, state):
    os.makedirs(STATE_DIR, exist_ok=True)
    tmp = state_path(tb_id) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=2, sort_keys=True)
    os.replace(tmp, state_path(tb_id))


def load_state(tb_id):
    with open(state_path(tb_id)) as f:
        return json.load(f)


def remove_state(tb_id):
    try:
        os.unlink(state_path(tb_id))
    except FileNotFoundError:
        pass


def persistent_ids():
    try:
        names = os.listdir(STATE_DIR)
    except FileNotFoundError:
        return []
    return sorted(n[:-5] for n in names if n.endswith(".json"))


# --- removal --------------------------------------------------------------------------------

def kill_namespace_processes(ns_name):
    """SIGKILLs every process inside ns_name (only processes in *our* namespaces)."""
    p = run(["ip", "netns", "pids", ns_name], check=False, timeout=10)
    killed = 0
    for tok in p.stdout.split():
        try:
            os.kill(int(tok), signal.SIGKILL)
            killed += 1
        except (ProcessLookupError, ValueError):
            pass
    return killed


def delete_namespace(ns_name, timeout=10):
    """Kills what runs in ns_name and deletes it (its veths, qdiscs and nft tables go with it).
    Returns True when it is gone."""
    if kill_namespace_processes(ns_name):
        time.sleep(0.05)
    p = run(["ip", "netns", "del", ns_name], check=False, timeout=timeout)
    gone = not os.path.exists(os.path.join(NETNS_DIR, ns_name))
    if not gone:
        log("braidtest: cannot delete namespace %s: %s" % (ns_name, p.stderr.strip()))
    return gone


def sweep(prefixes=KNOWN_PREFIXES, include_persistent=False, dry_run=False, verbose=True):
    """Deletes namespaces left by crashed earlier runs: names matching PREFIX<pid>-<n>-<role>
    for one of `prefixes` whose creator is gone. Testbeds recorded by the CLI are kept unless
    include_persistent (their state files are then removed too). Returns the names removed."""
    if isinstance(prefixes, str):
        prefixes = (prefixes,)
    persistent = set(persistent_ids())
    removed = []
    for prefix in prefixes:
        rx = name_regex(check_prefix(prefix))
        for name in list_namespaces():
            m = rx.match(name)
            if not m:
                continue
            tb_id = "%s%s-%s" % (prefix, m.group(1), m.group(2))
            if tb_id in persistent:
                if not include_persistent:
                    continue
            elif owner_alive(name, int(m.group(1))):
                continue
            if verbose:
                log("braidtest: sweeping %s namespace %s" %
                    ("persistent" if tb_id in persistent else "stale", name))
            if not dry_run and delete_namespace(name):
                removed.append(name)
            elif dry_run:
                removed.append(name)
    if include_persistent and not dry_run:
        for tb_id in persistent:
            if any(tb_id.startswith(p) for p in prefixes) and not any(
                    n.startswith(tb_id + "-") for n in list_namespaces()):
                remove_state(tb_id)
    return removed
