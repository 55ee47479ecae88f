#!/usr/bin/env python3
"""Checks the agent's /metrics with Prometheus' own linter, `promtool check metrics`.

The server (tests/oracle/metrics_oracle_server.cc) serves every family of the counter catalog on
several workers, per-path and per-pod series, and the agent's histograms and gauges, through the
real exporter and HTTP server. This script fetches /metrics over HTTP and pipes it to promtool,
which parses the text format and lints it (counters end in _total, base units, help present,
no reserved characters); any problem it reports fails the test.

Usage: promtool_oracle.py SERVER
Exit: 0 pass, 1 failure, 77 skipped (no promtool: Debian package `prometheus`).
"""
import shutil
import subprocess
import sys
import urllib.request

SKIP = 77

# Families the scrape must hold: a drop family, a gauge, a scaled counter, the agent's own.
REQUIRED = [
    "braid_net_drops_total",
    "braid_io_dropped_total",
    "braid_tcp_connections",
    "braid_worker_cpu_seconds_total",
    "braid_channel_apps_attached_total",
    "braid_agent_cni_request_duration_seconds",
    "braid_agent_grpc_request_duration_seconds",
    "braid_agent_build_info",
    "braid_agent_pods",
    "braid_agent_http_errors_total",
    "braid_agent_metrics_errors_total",
]


def fetch(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read()


def check(server_path, promtool):
    server = subprocess.Popen([server_path], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        line = server.stdout.readline().split()
        if len(line) != 2 or line[0] != "port":
            print(f"FAIL: the server did not start (said {line!r})")
            return 1
        status, content_type, body = fetch(int(line[1]), "/metrics")
    finally:
        server.stdin.close()
        server.wait(timeout=30)

    failures = []
    if status != 200:
        failures.append(f"/metrics answered {status}")
    if "version=0.0.4" not in content_type:
        failures.append(f"Content-Type {content_type!r} is not the text format 0.0.4")
    text = body.decode("utf-8")
    for family in REQUIRED:
        if f"# TYPE {family} " not in text:
            failures.append(f"no family {family}")
    if 'worker="2"' not in text or 'path="path1"' not in text or 'pod="web-0"' not in text:
        failures.append("worker, path or pod series missing")

    lint = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True)
    report = (lint.stdout + lint.stderr).decode("utf-8", "replace").strip()
    if lint.returncode != 0 or report:
        failures.append(f"promtool check metrics (exit {lint.returncode}):\n{report}")

    families = text.count("# TYPE ")
    series = sum(1 for l in text.splitlines() if l and not l.startswith("#"))
    if failures:
        print("FAIL:\n" + "\n".join(failures))
        return 1
    print(f"ok: promtool found no problem in {families} families, {series} series")
    return 0


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 1
    promtool = shutil.which("promtool")
    if promtool is None:
        print("skipped: promtool not installed (Debian package prometheus)")
        return SKIP
    return check(sys.argv[1], promtool)


if __name__ == "__main__":
    sys.exit(main())
