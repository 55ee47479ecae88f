"""braidtest: network-namespace testbeds for Braid's e2e tests and `make demo`.

    import sys; sys.path.insert(0, "<repo>/tests/e2e/lib")
    import braidtest
    braidtest.require_e2e()                       # exit 77 (CTest skip) with the reason
    with braidtest.Testbed(paths=3, router=True) as tb:
        tb.b.mptcp_endpoints_on_paths("signal")
        r = tb.transfer(tb.a, tb.b, tb.b.addr(0), 10 << 20)
        assert r["ok"]

Modules: testbed (Testbed, Node, Path, addressing, impairments), capture (dumpcap), peer (kernel
MPTCP/TCP server/client, ping), braid (braid-testapp on a path's interface via DPDK), analysis
(tshark's verdict on a capture), check (Checker, endpoint text), cleanup (signals, atexit), sweep (names, stale namespaces, CLI
state), skip (check_e2e, require_e2e), util (run, Proc). CLI: `python3 -m braidtest --help`.
Standard library only; runs on Debian 12's /usr/bin/python3 (3.11).
"""

from . import analysis
from .braid import BraidApp, BraidError, find_testapp, start_braid, testapp_path
from .check import Checker, host_of, port_of
from .capture import Capture, dumpcap_format_args, iter_pcap
from .cleanup import Interrupted, close_all
from .peer import PeerError, expected_sha256
from .skip import SKIP, check_e2e, require_e2e
from .sweep import CLI_PREFIX, DEFAULT_PREFIX, namespaces_with_prefix
from .sweep import sweep as sweep_namespaces
from .testbed import MAX_PATHS, Node, Path, Testbed, subnet4, subnet6
from .util import CommandError, parse_rate, run

__all__ = [
    "BraidApp", "BraidError", "analysis", "find_testapp", "start_braid", "testapp_path",
    "Capture", "Checker", "CLI_PREFIX", "CommandError", "DEFAULT_PREFIX", "Interrupted", "MAX_PATHS",
    "Node", "Path", "PeerError", "SKIP", "Testbed", "check_e2e", "close_all",
    "dumpcap_format_args", "expected_sha256", "iter_pcap", "namespaces_with_prefix",
    "host_of", "parse_rate", "port_of", "require_e2e", "run", "subnet4", "subnet6", "sweep_namespaces",
]
