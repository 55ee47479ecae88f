"""CLI: build and remove testbeds by hand (and for `make demo`).

  python3 -m braidtest up [--paths 3] [--router] [--rate 100mbit] [--loss 1] [--no-mptcp]
                          [--nodes a,b] [--json]
  python3 -m braidtest impair ID --path 1 [--dir a>b] [--rate R|--no-rate] [--loss P]
                          [--down|--up] [--blackhole|--restore]
  python3 -m braidtest status [--json]
  python3 -m braidtest down [ID ...|--all]
  python3 -m braidtest sweep [--prefix P] [--all] [--dry-run]

`up` leaves the testbed running (recorded under /run/braidtest/ID.json) and prints its
namespaces, interfaces and addresses; `down` removes it. Run `PYTHONPATH=tests/e2e/lib` from the
repository root, or use tests/e2e/testbed.py which sets the path itself.
"""

import argparse
import json
import sys

from . import sweep as sweeper
from .skip import SKIP, check_e2e
from .testbed import Testbed


def _print_state(tb, as_json):
    if as_json:
        print(json.dumps(tb.to_state(), indent=2, sort_keys=True))
    else:
        print(tb.describe())


def cmd_up(args):
    reason = check_e2e(("root", "netns") + (("mptcp",) if args.mptcp else ()) +
                       (("tc",) if args.rate else ()) + (("nft",) if args.loss else ()))
    if reason:
        print("cannot build a testbed here: %s" % reason, file=sys.stderr)
        return SKIP
    tb = Testbed(paths=args.paths, router=args.router, nodes=tuple(args.nodes.split(",")),
                 rate=args.rate, loss=args.loss, mptcp=args.mptcp, prefix=args.prefix,
                 persistent=True, keep="always")
    tb.start()
    _print_state(tb, args.json)
    if not args.json:
        print("\nrun inside a node:  ip netns exec %s <cmd>" % tb.a.ns)
        print("remove:             python3 -m braidtest down %s" % tb.id)
    return 0


def _ids(args):
    if getattr(args, "all", False) or not args.ids:
        return sweeper.persistent_ids()
    return args.ids


def cmd_down(args):
    ids = _ids(args)
    if not ids:
        print("no testbeds created by `up`")
    for tb_id in ids:
        try:
            tb = Testbed.attach(tb_id)
        except FileNotFoundError:
            print("%s: unknown (see `status`)" % tb_id, file=sys.stderr)
            continue
        tb.close()
        print("removed %s (%s)" % (tb_id, ", ".join(tb.namespaces())))
    return 0


def cmd_impair(args):
    tb = Testbed.attach(args.id)
    d = args.dir or "both"
    if args.no_rate:
        tb.clear_rate(args.path, d)
    elif args.rate:
        tb.set_rate(args.path, args.rate, d, kind=args.kind)
    if args.loss is not None:
        tb.set_loss(args.path, args.loss, d)
    if args.blackhole:
        tb.blackhole(args.path, d)
    if args.restore:
        tb.restore(args.path, d)
    if args.down:
        tb.link_down(args.path, args.at)
    if args.up:
        tb.link_up(args.path, args.at)
    print(tb.describe())
    return 0


def cmd_status(args):
    persistent = sweeper.persistent_ids()
    states = []
    for tb_id in persistent:
        try:
            states.append(sweeper.load_state(tb_id))
        except (OSError, ValueError):
            pass
    others = {}
    for prefix in sweeper.KNOWN_PREFIXES + tuple(args.prefix or ()):
        rx = sweeper.name_regex(prefix)
        for name in sweeper.list_namespaces():
            m = rx.match(name)
            if not m:
                continue
            tb_id = sweeper.testbed_id(name, prefix)
            if tb_id in persistent:
                continue
            alive = sweeper.owner_alive(name, int(m.group(1)))
            others.setdefault(tb_id, {"namespaces": [], "owner_pid": int(m.group(1)),
                                      "owner_alive": alive})["namespaces"].append(name)
    if args.json:
        print(json.dumps({"persistent": states, "other": others}, indent=2, sort_keys=True))
        return 0
    if not states and not others:
        print("no braidtest namespaces")
    for st in states:
        tb = Testbed.attach(st["id"])
        print(tb.describe())
        missing = [ns for ns in tb.namespaces() if ns not in sweeper.list_namespaces()]
        if missing:
            print("  MISSING namespaces: %s" % ", ".join(missing))
    for tb_id, info in sorted(others.items()):
        print("%s: %s, owner pid %d %s" % (tb_id, " ".join(info["namespaces"]),
                                          info["owner_pid"],
                                          "running" if info["owner_alive"] else
                                          "gone (stale: `sweep` removes it)"))
    return 0


def cmd_sweep(args):
    prefixes = tuple(args.prefix) if args.prefix else sweeper.KNOWN_PREFIXES
    removed = sweeper.sweep(prefixes, include_persistent=args.all, dry_run=args.dry_run,
                            verbose=False)
    for name in removed:
        print("%s %s" % ("would remove" if args.dry_run else "removed", name))
    if not removed:
        print("nothing to sweep")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m braidtest",
                                     description="network-namespace testbeds for Braid")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("up", help="create a testbed and leave it running")
    p.add_argument("--paths", type=int, default=3)
    p.add_argument("--router", action="store_true",
                   help="a router namespace on every path (needed when a side is DPDK)")
    p.add_argument("--rate", help="rate cap per path and direction, e.g. 100mbit")
    p.add_argument("--loss", type=float, help="random loss per path and direction, percent")
    p.add_argument("--no-mptcp", dest="mptcp", action="store_false")
    p.add_argument("--nodes", default="a,b", help="endpoint names (default a,b)")
    p.add_argument("--prefix", default=sweeper.CLI_PREFIX)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_up)
    p = sub.add_parser("down", help="remove testbeds created by up (default: all)")
    p.add_argument("ids", nargs="*")
    p.add_argument("--all", action="store_true")
    p.set_defaults(func=cmd_down)
    p = sub.add_parser("impair", help="change a path of a testbed created by up")
    p.add_argument("id")
    p.add_argument("--path", type=int, required=True)
    p.add_argument("--dir", help="'a>b', 'b>a' or 'both' (default)")
    p.add_argument("--rate")
    p.add_argument("--kind", choices=["tbf", "htb"], default="tbf")
    p.add_argument("--no-rate", action="store_true")
    p.add_argument("--loss", type=float)
    p.add_argument("--blackhole", action="store_true")
    p.add_argument("--restore", action="store_true")
    p.add_argument("--down", action="store_true")
    p.add_argument("--up", action="store_true")
    p.add_argument("--at", help="for --down/--up: endpoint or interface (default: first node)")
    p.set_defaults(func=cmd_impair)
    p = sub.add_parser("status", help="list testbeds and braidtest namespaces")
    p.add_argument("--json", action="store_true")
    p.add_argument("--prefix", action="append")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("sweep", help="remove namespaces whose creator is gone")
    p.add_argument("--prefix", action="append", help="default: %s" %
                   " ".join(sweeper.KNOWN_PREFIXES))
    p.add_argument("--all", action="store_true", help="also remove testbeds created by up")
    p.add_argument("--dry-run", action="store_true")
    p.set_defaults(func=cmd_sweep)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
