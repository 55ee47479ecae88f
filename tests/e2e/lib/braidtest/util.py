"""Running commands, in the host namespace or inside a node (`ip netns exec`), with timeouts."""

import ctypes
import os
import shlex
import signal
import subprocess
import sys
import time

# Default bound for one command: configuration commands take milliseconds; a hung one must not
# hang a test until CTest's TIMEOUT.
DEFAULT_TIMEOUT = 30

_PR_SET_PDEATHSIG = 1


class CommandError(RuntimeError):
    """A command exited non-zero (check=True). Carries the CompletedProcess."""

    def __init__(self, result, what=None):
        self.result = result
        cmd = result.args if isinstance(result.args, str) else shlex.join(result.args)
        out = (result.stdout or "") + (result.stderr or "")
        detail = ("\n" + out.strip()) if out.strip() else ""
        super().__init__("%s failed (exit %d): %s%s" %
                         (what or "command", result.returncode, cmd, detail))


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def as_argv(cmd):
    """Accepts an argv list or a shell-like string (split with shlex, no shell)."""
    if isinstance(cmd, str):
        return shlex.split(cmd)
    return [str(c) for c in cmd]


def netns_argv(ns, argv):
    """argv prefixed with `ip netns exec NS` (ns None: the current namespace)."""
    return (["ip", "netns", "exec", ns] if ns else []) + argv


def run(cmd, ns=None, timeout=DEFAULT_TIMEOUT, check=True, input=None, env=None, what=None):
    """Runs cmd (list or string) to completion, text output captured. Raises CommandError when
    check and it fails, subprocess.TimeoutExpired (after killing it) when it outlives timeout."""
    argv = netns_argv(ns, as_argv(cmd))
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, input=input,
                       env=env, stdin=None if input is not None else subprocess.DEVNULL)
    if check and p.returncode != 0:
        raise CommandError(p, what)
    return p


def ip_batch(lines, ns=None, timeout=DEFAULT_TIMEOUT):
    """Runs several `ip` commands in one process (`ip [-n NS] -batch -`): stops at the first
    error and raises it with the whole batch for context."""
    lines = [l for l in lines if l]
    if not lines:
        return
    argv = ["ip"] + (["-n", ns] if ns else []) + ["-batch", "-"]
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                       input="\n".join(lines) + "\n")
    if p.returncode != 0:
        raise CommandError(p, "ip batch in %s:\n  %s\n" % (ns or "host", "\n  ".join(lines)))


def _set_pdeathsig():
    # The child (ip netns exec execs the command, same pid) is killed if this process dies
    # without cleaning up (SIGKILL, crash): nothing keeps running in a stale namespace.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:  # pylint: disable=broad-except
        pass


class Proc(subprocess.Popen):
    """A process started in a node. Runs in its own session (process group) so that a terminal's
    ^C reaches only the test driver, which then stops it; and dies with its parent by default."""

    def __init__(self, argv, node_name=None, die_with_parent=True, **kwargs):
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("start_new_session", True)
        if die_with_parent:
            kwargs["preexec_fn"] = _set_pdeathsig
        super().__init__(argv, **kwargs)
        self.node_name = node_name
        self.started = time.monotonic()

    def stop(self, sig=signal.SIGTERM, timeout=3.0):
        """Sends sig to the process group, waits up to timeout, then SIGKILLs. Returns the exit
        status (negative: killed by that signal)."""
        if self.poll() is None:
            self._signal_group(sig)
            try:
                self.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                try:
                    self.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
        return self.returncode

    def _signal_group(self, sig):
        try:
            os.killpg(self.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass


def popen(cmd, ns=None, node_name=None, **kwargs):
    """Starts cmd in namespace ns (not tracked: Testbed.popen / Node.popen track for cleanup)."""
    return Proc(netns_argv(ns, as_argv(cmd)), node_name=node_name, **kwargs)


def wait_until(predicate, timeout, interval=0.02, what="condition"):
    """Polls predicate() until it returns a true value (returned) or timeout (TimeoutError)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


_RATE_UNITS = {
    "bit": 1, "kbit": 10**3, "mbit": 10**6, "gbit": 10**9, "tbit": 10**12,
    "bps": 8, "kbps": 8 * 10**3, "mbps": 8 * 10**6, "gbps": 8 * 10**9,
}


def parse_rate(rate):
    """'100mbit' / '2.5gbit' / '500kbit' / an int (bit/s) -> bit/s (int). tc's units: 'mbps' is
    megabytes per second there too."""
    if isinstance(rate, (int, float)):
        return int(rate)
    s = str(rate).strip().lower()
    for unit in sorted(_RATE_UNITS, key=len, reverse=True):
        if s.endswith(unit):
            return int(float(s[:-len(unit)]) * _RATE_UNITS[unit])
    return int(float(s))


def format_rate(bits):
    """bit/s -> a tc rate string."""
    for unit, mult in (("gbit", 10**9), ("mbit", 10**6), ("kbit", 10**3)):
        if bits >= mult and bits % mult == 0:
            return "%d%s" % (bits // mult, unit)
    return "%dbit" % bits
