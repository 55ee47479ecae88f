#!/usr/bin/env python3
"""Checks deploy/: the Helm chart, its alerts and dashboards, the CNI install script.

  chart_test.py SCENARIO [ARG]

Scenarios (one CTest test each, tests/deploy/CMakeLists.txt):
  render VALUES     `helm lint --strict` and `helm template` with values/VALUES.yaml (`default`:
                    the chart's own), every object validated by validate.mjs (kubernetes-models,
                    the NetworkAttachmentDefinition with ajv), and the agent ConfigMap's config
                    through `braid-agent --config F --check`, and braid-cni's plugin entry read
                    back; each value set's own expectations (expect_*) below
  reject NAME       bad-values/NAME.yaml: helm lint and helm template both refuse it (schema)
  readme            the chart README is what deploy/helm/chart-readme.py renders
  cni-install       files/cni-install.sh in temporary directories: install, chained conflist,
                    uninstall removes exactly what it wrote
  alerts            promtool check rules + promtool test rules (alerts_test.yaml), and every
                    metric the rules name is in the agent's catalog (agent/metrics/README.md)
  examples          every object of deploy/examples/*.yaml validates (validate.mjs)
  dashboards        a live braid-agent (two AF_PACKET paths in a network namespace, one pod
                    attached through braid-cni) serves /metrics; every metric every dashboard
                    panel queries is among its series (histograms' _bucket/_sum/_count count)

Environment: BRAID_BUILD_DIR (the CMake build tree: braid-agent, braid-cni, the npm tools under
deploy-tools/). Exit 0 pass, 1 fail, 77 skip (a tool, a binary or root missing; the reason on
stdout).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
CHART = os.path.join(ROOT, "deploy", "helm", "braid")
BUILD = os.path.abspath(os.environ.get("BRAID_BUILD_DIR", os.path.join(ROOT, "build")))
AGENT = os.path.join(BUILD, "agent", "braid-agent")
CNI = os.path.join(BUILD, "cni", "braid-cni")
SKIP = 77

sys.path.insert(0, HERE)
import deploytools  # noqa: E402
import promql  # noqa: E402


class Fail(Exception):
    pass


def skip(reason):
    print("SKIP: " + reason)
    sys.exit(SKIP)


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, **kw)


def helm():
    tools = deploytools.ensure(BUILD)
    if isinstance(tools, str):
        skip(tools)
    return tools


def documents(text):
    """The rendered manifests split into (source template, text) pairs."""
    docs = []
    for chunk in re.split(r"^---\s*$", text, flags=re.M):
        m = re.search(r"^# Source: (\S+)", chunk, flags=re.M)
        if m:
            docs.append((m.group(1), chunk))
    return docs


def block(doc, key):
    """The literal block `key: |` of a ConfigMap's data (or a NAD's spec), dedented."""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        if line.strip() in ("%s: |" % key, "%s: |-" % key):
            indent = len(line) - len(line.lstrip())
            body = []
            for follow in lines[i + 1:]:
                if follow.strip() and len(follow) - len(follow.lstrip()) <= indent:
                    break
                body.append(follow)
            inner = min(len(l) - len(l.lstrip()) for l in body if l.strip())
            return "\n".join(l[inner:] for l in body).strip("\n") + "\n"
    raise Fail("no %s block" % key)


def render(tools, values):
    argv = [tools.helm, "template", "braid", CHART, "--namespace", "braid-system"]
    lint = [tools.helm, "lint", "--strict", CHART, "--namespace", "braid-system"]
    if values:
        argv += ["-f", values]
        lint += ["-f", values]
    p = run(lint)
    if p.returncode != 0:
        raise Fail("helm lint --strict: " + p.stdout + p.stderr)
    p = run(argv)
    if p.returncode != 0:
        raise Fail("helm template: " + p.stderr)
    return p.stdout


def scenario_render(name):
    tools = helm()
    values = None if name == "default" else os.path.join(HERE, "values", name + ".yaml")
    out = render(tools, values)
    with tempfile.TemporaryDirectory() as tmp:
        manifests = os.path.join(tmp, "manifests.yaml")
        with open(manifests, "w") as f:
            f.write(out)
        p = run([tools.node, os.path.join(tools.dir, "validate.mjs"), manifests])
        print(p.stdout, end="")
        if p.returncode != 0:
            raise Fail("validate.mjs: " + p.stdout[-2000:] + p.stderr[-2000:])
        docs = {}
        for source, text in documents(out):
            docs[source] = docs.get(source, "") + text
        config = block(docs["braid/templates/configmap.yaml"], "agent.yaml")
        check_agent_config(config, tmp)
        plugin = json.loads(block(docs["braid/templates/cni-configmap.yaml"], "braid-plugin.json"))
        if plugin["type"] != "braid-cni" or not plugin["paths"]:
            raise Fail("braid-plugin.json: %r" % plugin)
        EXPECT.get(name, lambda docs, plugin: None)(docs, plugin)
    print("render %s: ok" % name)


def check_agent_config(config, tmp):
    if not os.access(AGENT, os.X_OK):
        print("note: %s not built: the rendered agent config is not checked" % AGENT)
        return
    path = os.path.join(tmp, "agent.yaml")
    with open(path, "w") as f:
        f.write(config)
    p = run([AGENT, "--config", path, "--check"])
    if p.returncode != 0:
        raise Fail("braid-agent --check refused the rendered config:\n%s%s\n%s" %
                   (p.stdout, p.stderr, config))
    print("braid-agent --check: " + p.stdout.strip())


def need(cond, what):
    if not cond:
        raise Fail(what)


def expect_default(docs, plugin):
    ds = docs["braid/templates/daemonset.yaml"]
    need("privileged: false" in ds and "- SYS_ADMIN" in ds, "default: unprivileged, capabilities")
    need("/host/cni/net.d" in ds, "chained: the conf dir is mounted")
    need(plugin.get("capabilities") == {"io.kubernetes.cri.pod-annotations": True},
         "chained: the pod-annotations capability")
    need("braid/templates/network-attachment-definition.yaml" not in docs, "no NAD when chained")
    need("preStop" in ds, "cni.uninstall: the preStop hook")
    need("kind: PodMonitor" not in "".join(docs.values()), "monitoring off by default")


def expect_multus(docs, plugin):
    ds = docs["braid/templates/daemonset.yaml"]
    need("privileged: true" in ds and "/dev/vfio" in ds, "vf paths: privileged, /dev/vfio")
    need("hugepages-1Gi: 2Gi" in ds and "medium: HugePages-1Gi" in ds, "1Gi hugepages")
    need("cni-conf" not in ds, "multus: no conf dir mounted")
    need("capabilities" not in plugin, "multus: no pod-annotations capability")
    nad = docs["braid/templates/network-attachment-definition.yaml"]
    conf = json.loads(block(nad, "config"))
    need(conf["name"] == "braid-net" and conf["cniVersions"] == ["1.0.0", "1.1.0"], "NAD config")
    need([p["name"] for p in conf["paths"]] == ["path0", "path1"], "NAD paths")
    need(len(conf["paths"][0]["ranges"]) == 2, "dual-stack path0: two ranges")
    cfg = block(docs["braid/templates/configmap.yaml"], "agent.yaml")
    need('pci: "0000:03:10.1"' in cfg and "huge_dir: /dev/hugepages-braid" in cfg, "agent config")


def expect_monitoring(docs, plugin):
    text = "".join(docs.values())
    for kind in ("PodMonitor", "ServiceMonitor", "PrometheusRule", "Service"):
        need("kind: %s\n" % kind in text, kind)
    need("grafana_dashboard: \"1\"" in text and "namespace: monitoring" in text, "dashboards")
    ds = docs["braid/templates/daemonset.yaml"]
    need("preStop" not in ds, "cni.uninstall false: no preStop")
    need('host: "127.0.0.1"' in ds, "probes on the bound address")
    need("BraidMptcpFallbacksRising" in text, "the alert rules")


def expect_hugepages(docs, plugin):
    ds = docs["braid/templates/daemonset.yaml"]
    need("hugepages-2Mi: 1Gi" in ds and "medium: HugePages-2Mi" in ds, "2Mi hugepages")
    cfg = block(docs["braid/templates/configmap.yaml"], "agent.yaml")
    need('metrics_listen: '"'"'[::]:9470'"'"'' in cfg or 'metrics_listen: "[::]:9470"' in cfg,
         "IPv6 metrics listener: " + cfg)


EXPECT = {"default": expect_default, "multus-vf": expect_multus,
          "chained-afpacket-monitoring": expect_monitoring, "hugepages-ipv6": expect_hugepages}


def scenario_reject(name):
    tools = helm()
    values = os.path.join(HERE, "bad-values", name + ".yaml")
    for argv in ([tools.helm, "lint", "--strict", CHART, "-f", values],
                 [tools.helm, "template", "braid", CHART, "-f", values]):
        p = run(argv)
        if p.returncode == 0:
            raise Fail("%s accepted %s" % (argv[1], values))
        if "schema" not in (p.stdout + p.stderr).lower() and "at '/" not in p.stdout + p.stderr:
            raise Fail("%s refused %s, but not by the schema: %s" % (argv[1], name, p.stderr))
    print("reject %s: refused by the schema: %s" % (name, (p.stderr.strip().splitlines() or [""])[-1]))


def scenario_readme():
    p = run([sys.executable, os.path.join(ROOT, "deploy", "helm", "chart-readme.py"), "--check"])
    print(p.stdout + p.stderr, end="")
    if p.returncode != 0:
        raise Fail("chart README out of date")


def scenario_cni_install():
    for tool in ("jq", "sha256sum"):
        if not shutil.which(tool):
            skip(tool + " not installed")
    script = os.path.join(CHART, "files", "cni-install.sh")
    with tempfile.TemporaryDirectory() as tmp:
        binsrc = os.path.join(tmp, "image-braid-cni")
        with open(binsrc, "w") as f:
            f.write("#!/bin/sh\necho braid-cni\n")
        os.chmod(binsrc, 0o755)
        bindir, confdir = os.path.join(tmp, "bin"), os.path.join(tmp, "net.d")
        os.makedirs(bindir)
        os.makedirs(confdir)
        for other in ("host-local", "bridge"):
            open(os.path.join(bindir, other), "w").close()
        primary = {"cniVersion": "1.0.0", "name": "cbr0",
                   "plugins": [{"type": "flannel"}, {"type": "portmap"}]}
        with open(os.path.join(confdir, "10-flannel.conflist"), "w") as f:
            json.dump(primary, f)
        with open(os.path.join(confdir, "99-loopback.conf"), "w") as f:
            json.dump({"cniVersion": "0.3.1", "name": "lo", "type": "loopback"}, f)
        plugin = os.path.join(tmp, "braid-plugin.json")
        with open(plugin, "w") as f:
            json.dump({"type": "braid-cni", "paths": [{"name": "p0"}]}, f)
        env = dict(os.environ, BRAID_CNI_MODE="chained", BRAID_CNI_SRC=binsrc, CNI_BIN_DIR=bindir,
                   CNI_CONF_DIR=confdir, BRAID_CONF_NAME="05-braid.conflist",
                   BRAID_BASE_CONFIG="", BRAID_PLUGIN_FILE=plugin, BRAID_WAIT_SECONDS="0",
                   BRAID_RECORD=os.path.join(tmp, "state", "cni-install.record"))

        def sh(verb, **extra):
            p = run(["sh", script, verb], env=dict(env, **extra))
            if p.returncode != 0:
                raise Fail("cni-install.sh %s: %s" % (verb, p.stderr))
            return p

        before = snapshot(tmp)
        sh("install")
        sh("install")  # again, as a restarted init container does
        conf = json.load(open(os.path.join(confdir, "05-braid.conflist")))
        need(conf == {"cniVersion": "1.0.0", "name": "cbr0",
                      "plugins": [{"type": "flannel"}, {"type": "portmap"},
                                  {"type": "braid-cni", "paths": [{"name": "p0"}]}]},
             "chained conflist: %r" % conf)
        need(open(os.path.join(bindir, "braid-cni")).read().endswith("echo braid-cni\n"), "binary")
        need(os.stat(os.path.join(bindir, "braid-cni")).st_mode & 0o777 == 0o755, "mode 755")
        sh("uninstall")
        after = snapshot(tmp)
        need(after == before, "uninstall left %s" % sorted(set(after) ^ set(before)))
        sh("uninstall")  # nothing recorded: a no-op

        # A single .conf primary becomes a one-plugin list; a file changed after install stays.
        os.remove(os.path.join(confdir, "10-flannel.conflist"))
        sh("install", BRAID_BASE_CONFIG="99-loopback.conf")
        conf = json.load(open(os.path.join(confdir, "05-braid.conflist")))
        need(conf["name"] == "lo" and [p["type"] for p in conf["plugins"]] ==
             ["loopback", "braid-cni"], "single conf chained: %r" % conf)
        with open(os.path.join(confdir, "05-braid.conflist"), "a") as f:
            f.write(" ")
        sh("uninstall")
        need(os.path.exists(os.path.join(confdir, "05-braid.conflist")), "changed file kept")
        need(not os.path.exists(os.path.join(bindir, "braid-cni")), "binary removed")
        os.remove(os.path.join(confdir, "05-braid.conflist"))

        # Multus mode writes no configuration; no primary in chained mode is an error.
        sh("install", BRAID_CNI_MODE="multus")
        need(sorted(os.listdir(confdir)) == ["99-loopback.conf"], "multus: no conf written")
        sh("uninstall")
        os.remove(os.path.join(confdir, "99-loopback.conf"))
        p = run(["sh", script, "install"], env=env)
        need(p.returncode != 0 and "no primary CNI configuration" in p.stderr, "no primary")
        need(not os.path.exists(os.path.join(bindir, "braid-cni.braid-tmp")), "no temp left")
    print("cni-install: ok")


def snapshot(root):
    """{path: content} of every file under root except the script's inputs."""
    out = {}
    for d, _, files in os.walk(root):
        for name in files:
            path = os.path.join(d, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def catalog_metrics():
    """Metric names agent/metrics/README.md lists (the agent's own and the catalog's)."""
    text = open(os.path.join(ROOT, "agent", "metrics", "README.md")).read()
    return set(re.findall(r"^\| `(braid_[a-z0-9_]+)` \|", text, flags=re.M))


def scenario_alerts():
    promtool = shutil.which("promtool")
    if not promtool:
        skip("promtool not installed (Debian package prometheus)")
    rules = os.path.join(CHART, "files", "alerts.yaml")
    for argv in ([promtool, "check", "rules", rules],
                 [promtool, "test", "rules", os.path.join(HERE, "alerts_test.yaml")]):
        p = run(argv, cwd=HERE)
        print(p.stdout + p.stderr, end="")
        if p.returncode != 0:
            raise Fail(" ".join(argv[1:3]) + " failed")
    known = catalog_metrics() | {"up"}
    exprs = re.findall(r"^\s+expr: (?:>-\n)?((?:.*\n)*?)(?=^\s+(?:for|labels):)",
                       open(rules).read(), flags=re.M)
    names = set().union(*(promql.metric_names(e) for e in exprs))
    need(len(exprs) >= 8 and names, "alert expressions found: %d" % len(exprs))
    unknown = sorted(n for n in names if n not in known and promql.base_name(n) not in known)
    need(not unknown, "alert rules name metrics the agent does not have: %s" % unknown)
    fired = set(re.findall(r"alertname: (\w+)", open(os.path.join(HERE, "alerts_test.yaml")).read()))
    defined = set(re.findall(r"alert: (\w+)", open(rules).read()))
    need(defined <= fired, "alerts no test fires: %s" % sorted(defined - fired))
    print("alerts: %d rules, metrics %s" % (len(defined), sorted(names)))


def dashboard_exprs():
    out = []
    for name in sorted(os.listdir(os.path.join(CHART, "files", "dashboards"))):
        dash = json.load(open(os.path.join(CHART, "files", "dashboards", name)))
        for panel in dash["panels"]:
            exprs = [t["expr"] for t in panel.get("targets", [])]
            need(exprs, "%s: panel %r has no query" % (name, panel["title"]))
            out += [(name, panel["title"], e) for e in exprs]
        for var in dash["templating"]["list"]:
            if var["type"] == "query":
                out.append((name, "variable " + var["name"], var["definition"]))
    return out


def scenario_dashboards():
    import live_agent  # noqa: E402 (needs root and namespaces; imported only here)
    reason = live_agent.unavailable(AGENT, CNI)
    if reason:
        skip(reason)
    series = live_agent.exported_metrics(AGENT, CNI)
    exported = set(series)
    for name, kind in series.items():
        if kind == "histogram":
            exported |= {name + "_bucket", name + "_sum", name + "_count"}
    bad = []
    exprs = dashboard_exprs()
    for dash, title, expr in exprs:
        names = promql.metric_names(expr)
        if not names:
            bad.append("%s / %s: names no metric: %s" % (dash, title, expr))
        bad += ["%s / %s: %s is not exported" % (dash, title, n) for n in names if n not in exported]
    for line in bad:
        print(line)
    need(not bad, "%d dashboard queries name metrics the agent does not export" % len(bad))
    print("dashboards: %d queries, every metric exported (%d families live)" %
          (len(exprs), len(series)))


def scenario_examples():
    tools = helm()
    examples = os.path.join(ROOT, "deploy", "examples")
    for name in sorted(os.listdir(examples)):
        if not name.endswith(".yaml"):
            continue
        p = run([tools.node, os.path.join(tools.dir, "validate.mjs"), os.path.join(examples, name)])
        print(p.stdout, end="")
        if p.returncode != 0:
            raise Fail("deploy/examples/%s: %s" % (name, p.stderr[-1000:]))
    print("examples: ok")


def main(argv):
    if not argv:
        print(__doc__)
        return 2
    name, arg = argv[0], argv[1:]
    handlers = {"render": scenario_render, "reject": scenario_reject, "readme": scenario_readme,
                "cni-install": scenario_cni_install, "alerts": scenario_alerts,
                "dashboards": scenario_dashboards, "examples": scenario_examples}
    try:
        handlers[name](*arg)
    except Fail as e:
        print("FAIL: %s" % e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
