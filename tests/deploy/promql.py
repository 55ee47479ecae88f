"""The metric names a PromQL expression selects, without a PromQL parser (python3 stdlib).

Enough for the expressions in deploy/helm/braid (alerts, dashboards): strings, label matchers,
ranges, grouping clauses and function calls are removed; the identifiers left are metric names.
"""

import re

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
            "bool", "offset", "inf", "nan"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def metric_names(expr):
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    # Grafana's label_values(metric, label): the label is not a metric.
    text = re.sub(r"label_values\(\s*([^,()]+),\s*\w+\s*\)", r"\1", text)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r" ", text)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = m.group(0)
        after = text[m.end():].lstrip()
        if word.lower() in KEYWORDS or after.startswith("("):
            continue
        if re.fullmatch(r"[0-9.e+-]+", word):
            continue
        names.add(word)
    return names


def base_name(name):
    """A histogram series' family name (name without _bucket/_sum/_count), else name."""
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name
