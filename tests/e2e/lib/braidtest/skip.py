"""Can this machine run e2e tests? If not, say why and exit 77 (CTest SKIP_RETURN_CODE)."""

import os
import shutil
import sys

from .sweep import DEFAULT_PREFIX
from .util import run

SKIP = 77

# What each requirement needs and the package that provides it on Debian.
_TOOLS = {"ip": "iproute2", "nft": "nftables", "tc": "iproute2", "nstat": "iproute2",
          "ss": "iproute2", "dumpcap": "tshark"}


def check_e2e(need=("root", "netns", "mptcp", "dumpcap", "nft", "tc")):
    """Returns None when every requirement in `need` is met, else the reason (a string).
    Requirements: root, netns (can create a network namespace), mptcp (kernel MPTCP and a
    working `ip mptcp`), dumpcap, nft, tc."""
    need = set(need)
    if "root" in need and os.geteuid() != 0:
        return "needs root (network namespaces, qdiscs, nftables, captures)"
    tools = {"ip", "nstat", "ss"} | ({"dumpcap", "nft", "tc"} & need)
    for tool in sorted(tools):
        if shutil.which(tool) is None:
            return "%s not found (package %s)" % (tool, _TOOLS[tool])
    if "netns" in need:
        # Named like a testbed namespace (counter 0) so that the sweeper removes it should this
        # process die right here.
        probe = "%s%d-0-probe" % (DEFAULT_PREFIX, os.getpid())
        p = run(["ip", "netns", "add", probe], check=False)
        if p.returncode != 0:
            return "cannot create a network namespace: %s" % p.stderr.strip()
        try:
            if "mptcp" in need:
                if not os.path.exists("/proc/sys/net/mptcp/enabled"):
                    return "the kernel has no MPTCP (/proc/sys/net/mptcp missing)"
                q = run(["ip", "-n", probe, "mptcp", "limits", "show"], check=False)
                if q.returncode != 0:
                    return "`ip mptcp` does not work: %s" % (q.stderr.strip() or q.stdout.strip())
            if "nft" in need:
                q = run(["ip", "netns", "exec", probe, "nft", "add", "table", "netdev", "probe"],
                        check=False)
                if q.returncode != 0:
                    return "nftables does not work in a namespace: %s" % q.stderr.strip()
        finally:
            run(["ip", "netns", "del", probe], check=False)
    elif "mptcp" in need and not os.path.exists("/proc/sys/net/mptcp/enabled"):
        return "the kernel has no MPTCP (/proc/sys/net/mptcp missing)"
    return None


def require_e2e(need=("root", "netns", "mptcp", "dumpcap", "nft", "tc")):
    """Exits 77 with 'SKIP: <reason>' unless check_e2e(need) passes."""
    reason = check_e2e(need)
    if reason:
        print("SKIP: %s" % reason, flush=True)
        sys.exit(SKIP)
