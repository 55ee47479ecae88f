#!/usr/bin/env python3
"""Renders the chart's README.md from README.md.in and the `# --` comments of values.yaml.

  chart-readme.py [CHART_DIR]           rewrite CHART_DIR/README.md (default: braid/ beside this)
  chart-readme.py --check [CHART_DIR]   exit 1 if README.md differs from what would be written

A `# --` comment documents the key on the line after it (helm-docs' convention); a comment that
goes on over several lines continues with `#` lines. The table lists every documented key with
its default as JSON. Keys without a comment of their own must sit under a documented one (the
items of `paths`, say); any other undocumented leaf is an error, so every value has a comment.
values.yaml is read with a small parser for the YAML subset it uses: block maps, block lists,
plain and quoted scalars, `[]` and `{}`.
"""

import json
import os
import re
import sys

MARKER = "<!-- values table -->"
KEY_RE = re.compile(r'^(\s*)(- )?([A-Za-z0-9_.\-/]+|"[^"]+"):(?:\s+(.*))?$')


def scalar(text):
    """A YAML plain or quoted scalar as a Python value."""
    text = text.strip()
    if text in ("", "~", "null"):
        return None
    if text[0] in "\"'":
        return text[1:-1]
    if text == "[]":
        return []
    if text == "{}":
        return {}
    if text in ("true", "false"):
        return text == "true"
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    if re.fullmatch(r"-?[0-9]+\.[0-9]+", text):
        return float(text)
    return text


def significant(lines):
    """(indent, text) of lines that are neither blank nor comments."""
    out = []
    for line in lines:
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            out.append((len(line) - len(line.lstrip(" ")), stripped))
    return out


def parse_block(items, pos, indent):
    """Parses the map or list starting at items[pos] (all at `indent`); returns (value, pos)."""
    if items[pos][1].startswith("- "):
        out = []
        while pos < len(items) and items[pos][0] == indent and items[pos][1].startswith("- "):
            rest = items[pos][1][2:]
            if ":" in rest and not rest.startswith(("'", '"')):
                # A map item: its first key sits after the dash, the others two columns deeper.
                items[pos] = (indent + 2, rest)
                value, pos = parse_block(items, pos, indent + 2)
            else:
                value, pos = scalar(rest), pos + 1
            out.append(value)
        return out, pos
    out = {}
    while pos < len(items) and items[pos][0] == indent and not items[pos][1].startswith("- "):
        key, _, rest = items[pos][1].partition(":")
        key = key.strip().strip('"')
        pos += 1
        if rest.strip():
            out[key] = scalar(rest)
        elif pos < len(items) and items[pos][0] >= indent and (
                items[pos][0] > indent or items[pos][1].startswith("- ")):
            out[key], pos = parse_block(items, pos, items[pos][0])
        else:
            out[key] = None
    return out, pos


def load_values(lines):
    value, _ = parse_block(significant(lines), 0, 0)
    return value


def documented_keys(lines):
    """{dotted key: description} from `# --` comments, in file order."""
    docs = {}
    stack = []  # (indent, key)
    pending = None
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = stripped[4:].strip()
            continue
        if stripped.startswith("#") and pending is not None:
            pending += " " + stripped[1:].strip()
            continue
        m = KEY_RE.match(line)
        if not m or m.group(2):
            pending = None
            continue
        indent, key = len(m.group(1)), m.group(3).strip('"')
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, key))
        if pending is not None:
            docs[".".join(k for _, k in stack)] = pending
        pending = None
    return docs


def lookup(values, dotted):
    node = values
    for part in dotted.split("."):
        node = node[part]
    return node


def leaves(node, prefix=""):
    """Dotted keys of every leaf (scalars, empty collections, lists count as one leaf)."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from leaves(value, prefix + "." + key if prefix else key)
    else:
        yield prefix


def undocumented(values, docs):
    missing = []
    for leaf in leaves(values):
        parts = leaf.split(".")
        if not any(".".join(parts[:n]) in docs for n in range(1, len(parts) + 1)):
            missing.append(leaf)
    return missing


def cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def table(values, docs):
    rows = ["| Key | Default | Description |", "|---|---|---|"]
    for key, desc in docs.items():
        default = json.dumps(lookup(values, key), separators=(", ", ": "))
        rows.append("| `%s` | `%s` | %s |" % (key, cell(default), cell(desc)))
    return "\n".join(rows) + "\n"


def render(chart):
    with open(os.path.join(chart, "values.yaml")) as f:
        lines = f.read().splitlines()
    values, docs = load_values(lines), documented_keys(lines)
    missing = undocumented(values, docs)
    if missing:
        raise SystemExit("values.yaml: no `# --` comment for: " + ", ".join(missing))
    with open(os.path.join(chart, "README.md.in")) as f:
        template = f.read()
    if MARKER not in template:
        raise SystemExit("README.md.in: no %s line" % MARKER)
    header = ("<!-- Generated by deploy/helm/chart-readme.py from README.md.in and values.yaml;"
              " do not edit. -->\n")
    return header + template.replace(MARKER + "\n", table(values, docs))


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    chart = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "braid")
    text = render(chart)
    readme = os.path.join(chart, "README.md")
    if check:
        current = open(readme).read() if os.path.exists(readme) else ""
        if current != text:
            print("%s is out of date: run deploy/helm/chart-readme.py" % readme)
            return 1
        print("%s is up to date" % readme)
        return 0
    with open(readme, "w") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
