"""Parses a /metrics text (Prometheus exposition format 0.0.4) with prometheus_client and checks it.

usage:
  check_metrics.py SOURCE [ASSERTION ...]
      SOURCE     a file, "-" for stdin, or an http:// / https:// URL (fetched with urllib)
      ASSERTION  FAMILY                       the family is declared (e.g. jpki_up,
                                              jpki_http_requests_total)
                 SERIES                       the series is present, e.g.
                                              'jpki_ocsp_responses_total{ca="sign",status="good"}'
                 SERIES==NUMBER, SERIES>=NUMBER
                                              the series is present with that value

Exits 0 when everything holds, 1 with a message on stderr otherwise (2 on bad usage).

prometheus_client's parser is laxer than Prometheus's own: it turns a sample outside any declared
family into an "untyped" singleton and accepts repeated series. jpki declares every family and
never emits untyped metrics, so both are refused here, and histograms are checked for cumulative
buckets ending in +Inf == _count.

Runs with Debian's /usr/bin/python3 and python3-prometheus-client (scripts/setup installs it).
"""
import math
import re
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

TYPES = {"counter", "gauge", "histogram"}
LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')
ASSERT_RE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?(?:(==|>=)(.+))?$")


class CheckError(Exception):
    pass


def read_source(source):
    if source == "-":
        return sys.stdin.read()
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=10) as resp:
            if resp.status != 200:
                raise CheckError(f"HTTP {resp.status}")
            ctype = resp.headers.get("Content-Type", "")
            if not ctype.startswith("text/plain"):
                raise CheckError(f"Content-Type {ctype!r}, expected text/plain")
            return resp.read().decode("utf-8")
    with open(source, encoding="utf-8") as f:
        return f.read()


def unescape_label(value):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


def parse_labels(text):
    """'{a="x",b="y"}' -> {"a": "x", "b": "y"}"""
    body = text[1:-1]
    labels = {}
    pos = 0
    while pos < len(body):
        m = LABEL_RE.match(body, pos)
        if m is None:
            raise CheckError(f"bad label set {text!r}")
        labels[m.group(1)] = unescape_label(m.group(2))
        pos = m.end()
    return labels


def check_histogram(family):
    series = {}
    for s in family.samples:
        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        entry = series.setdefault(key, {"buckets": [], "count": None, "sum": None})
        if s.name.endswith("_bucket"):
            if "le" not in s.labels:
                raise CheckError(f"{s.name}{key}: bucket without le")
            entry["buckets"].append((float(s.labels["le"]), s.value))
        elif s.name.endswith("_count"):
            entry["count"] = s.value
        elif s.name.endswith("_sum"):
            entry["sum"] = s.value
    for key, entry in series.items():
        where = f"{family.name}{dict(key)}"
        buckets = entry["buckets"]
        if not buckets or not math.isinf(buckets[-1][0]):
            raise CheckError(f"{where}: buckets do not end with le=\"+Inf\"")
        if [le for le, _ in buckets] != sorted(le for le, _ in buckets):
            raise CheckError(f"{where}: buckets not in increasing le order")
        counts = [c for _, c in buckets]
        if counts != sorted(counts):
            raise CheckError(f"{where}: bucket counts are not cumulative")
        if entry["count"] is None or entry["sum"] is None:
            raise CheckError(f"{where}: _count or _sum missing")
        if entry["count"] != counts[-1]:
            raise CheckError(f"{where}: _count {entry['count']} != +Inf bucket {counts[-1]}")


def parse(text):
    """Returns ({family name: Metric}, {(sample name, labels): value}); raises CheckError."""
    families = {}
    samples = {}
    try:
        parsed = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError, KeyError, IndexError, ...
        raise CheckError(f"parse error: {type(e).__name__}: {e}") from e
    for family in parsed:
        # Counters are named without _total by prometheus_client (OpenMetrics style).
        name = family.name + "_total" if family.type == "counter" else family.name
        if family.type not in TYPES:
            first = family.samples[0].name if family.samples else family.name
            raise CheckError(f"{first}: {family.type} sample outside a declared family")
        if name in families:
            raise CheckError(f"{name}: family declared twice")
        families[name] = family
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            if key in samples:
                raise CheckError(f"{s.name}{s.labels}: series repeated")
            if s.timestamp is not None:
                raise CheckError(f"{s.name}{s.labels}: unexpected timestamp")
            samples[key] = s.value
        if family.type == "histogram":
            check_histogram(family)
    return families, samples


def check_assertion(arg, families, samples):
    m = ASSERT_RE.match(arg.replace(" ", ""))
    if m is None:
        raise CheckError(f"cannot read assertion {arg!r}")
    name, labels, op, want = m.groups()
    if labels is None and op is None:
        if name not in families:
            raise CheckError(f"family {name} not found (have: {', '.join(sorted(families))})")
        return
    key = (name, tuple(sorted(parse_labels(labels or "{}").items())))
    if key not in samples:
        raise CheckError(f"series {name}{labels or ''} not found")
    if op is None:
        return
    got = samples[key]
    want = float(want)
    if (op == "==" and got != want) or (op == ">=" and not got >= want):
        raise CheckError(f"series {name}{labels or ''} is {got}, expected {op} {want}")


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        text = read_source(argv[1])
        families, samples = parse(text)
        for arg in argv[2:]:
            check_assertion(arg, families, samples)
    except (CheckError, OSError, UnicodeDecodeError) as e:
        print(f"check_metrics: {argv[1]}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
