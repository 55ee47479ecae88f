"""Cleanup on every exit path: live testbeds are torn down by their context manager, by atexit,
and on SIGINT/SIGTERM/SIGHUP.

A signal raises Interrupted (a KeyboardInterrupt) in the main thread, so `with Testbed()` blocks
and the test's own `finally` clauses unwind normally; whatever is still alive at interpreter exit
is torn down by the atexit hook, which then re-delivers the signal with its default action so that
the process's exit status still says it was killed by it (143 for SIGTERM in a shell). Signals
that arrive during a teardown are recorded but do not interrupt it. SIGKILL cannot be caught:
processes started in nodes die with us (PR_SET_PDEATHSIG) and the sweeper removes namespaces whose
owner is gone.
"""

import atexit
import os
import signal
import sys
import threading

from .util import log

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread by SIGINT/SIGTERM/SIGHUP while a testbed is alive."""

    def __init__(self, signum):
        super().__init__("interrupted by %s" % signal.Signals(signum).name)
        self.signum = signum


_lock = threading.RLock()
_live = []            # objects with a close() method, in creation order
_state = {"installed": False, "cleaning": 0, "signum": None, "atexit": False}


def register(obj):
    with _lock:
        _install()
        if obj not in _live:
            _live.append(obj)


def unregister(obj):
    with _lock:
        if obj in _live:
            _live.remove(obj)


class cleaning:
    """Context manager marking a teardown in progress: signals are recorded, not raised."""

    def __enter__(self):
        with _lock:
            _state["cleaning"] += 1
        return self

    def __exit__(self, *exc):
        with _lock:
            _state["cleaning"] -= 1
        return False


def close_all():
    """Tears down every live testbed (newest first). Safe to call more than once."""
    with cleaning():
        while True:
            with _lock:
                if not _live:
                    return
                obj = _live[-1]
            try:
                obj.close()
            except BaseException as e:  # pylint: disable=broad-except
                log("braidtest: cleanup of %r failed: %s" % (obj, e))
            unregister(obj)


def interrupted_by():
    """The signal number that interrupted this process, or None."""
    return _state["signum"]


def _handler(signum, _frame):
    first = _state["signum"] is None
    if first:
        _state["signum"] = signum
    if _state["cleaning"] or not first:
        return  # let the teardown in progress finish
    raise Interrupted(signum)


def _at_exit():
    close_all()
    signum = _state["signum"]
    if signum is not None:
        # Die the way an unhandled signal would, after cleaning up.
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _excepthook(exc_type, exc, tb):
    if isinstance(exc, Interrupted):
        log("braidtest: %s; cleaning up" % exc)
        return
    _prev_excepthook(exc_type, exc, tb)


_prev_excepthook = sys.excepthook


def _install():
    if _state["installed"]:
        return
    _state["installed"] = True
    atexit.register(_at_exit)
    sys.excepthook = _excepthook
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread
    for s in HANDLED_SIGNALS:
        current = signal.getsignal(s)
        # Do not replace a handler the program set itself (it is then responsible for exiting;
        # atexit still cleans up).
        if current in (signal.SIG_DFL, signal.default_int_handler, None) or (
                s == signal.SIGHUP and current == signal.SIG_DFL):
            signal.signal(s, _handler)
