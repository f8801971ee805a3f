#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check Prometheus text exposition (format 0.0.4) against the syntax and
the naming conventions slotfs follows.

Usage::

    check_metrics.py [--prefix slotfs_] [-q] [FILE]

Reads FILE, or standard input when FILE is missing or "-".  Prints one line
per problem ("line N: ...") on standard error and exits 1 when there is any,
else prints a summary and exits 0.  Exit status 2 means the file could not
be read.

Checked:
  * syntax: HELP and TYPE lines, sample lines ``name{label="value",...}
    value [timestamp]``, metric and label name characters, label value
    escapes (only \\\\, \\" and \\n), numeric values (NaN and +-Inf
    allowed), integer timestamps, a final newline;
  * every metric family has exactly one HELP and one TYPE line, both before
    its first sample, and its samples are not split by other families;
  * no series (name and label set) appears twice; no label name repeats
    within a sample or starts with "__";
  * every metric name starts with the prefix (default "slotfs_");
  * a counter's name ends in "_total" and its value is not negative; no
    other type uses "_total";
  * units are base units, plural, and come last (before "_total"):
    "_bytes", "_seconds"; not "_ms", "_milliseconds", "_kb", "_byte", ...;
  * an "_info" metric is a gauge with value 1.

Only the Python standard library is used.
"""

import argparse
import math
import re
import sys

METRIC_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")

# Sample-name suffixes that belong to a histogram or summary family.
FAMILY_SUFFIXES = {
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
}

# Name tokens that are units, and what to use instead.
BASE_UNITS = {"bytes", "seconds", "ratio", "celsius", "meters", "volts",
              "amperes", "joules", "grams"}
NON_BASE_UNITS = {
    "ms": "seconds", "msec": "seconds", "millis": "seconds",
    "milliseconds": "seconds", "us": "seconds", "usec": "seconds",
    "microseconds": "seconds", "ns": "seconds", "nanoseconds": "seconds",
    "minutes": "seconds", "hours": "seconds", "days": "seconds",
    "sec": "seconds", "secs": "seconds", "second": "seconds",
    "byte": "bytes", "kb": "bytes", "kib": "bytes", "kilobytes": "bytes",
    "mb": "bytes", "mib": "bytes", "megabytes": "bytes", "gb": "bytes",
    "gib": "bytes", "gigabytes": "bytes", "bits": "bytes",
    "percent": "ratio", "pct": "ratio",
}


class Family:
    """One metric family: its HELP, TYPE and samples as seen so far."""

    def __init__(self, name):
        self.name = name
        self.help = None
        self.type = None
        self.samples = []       # (line number, sample name, labels, value)
        self.first_line = None
        self.closed = False     # another family's sample came after ours


def _parse_labels(text, pos, lineno, problems):
    """Parse ``{a="b",...}`` starting at text[pos] == "{".  Returns
    (labels as a tuple of pairs, position after "}"), or (None, pos) after
    reporting a problem."""
    labels = []
    seen = set()
    pos += 1
    while True:
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if pos < len(text) and text[pos] == "}":
            return tuple(labels), pos + 1
        m = LABEL_RE.match(text, pos)
        if not m:
            problems.append((lineno, "bad label name at column %d"
                             % (pos + 1)))
            return None, pos
        lname = m.group(0)
        pos = m.end()
        if lname.startswith("__"):
            problems.append((lineno, "label name %r is reserved (starts "
                             "with __)" % lname))
        if lname in seen:
            problems.append((lineno, "label %r repeated" % lname))
        seen.add(lname)
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if text[pos:pos + 2] != '="':
            problems.append((lineno, 'label %r: expected ="' % lname))
            return None, pos
        pos += 2
        value = []
        while True:
            if pos >= len(text):
                problems.append((lineno, "label %r: unterminated value"
                                 % lname))
                return None, pos
            c = text[pos]
            if c == "\\":
                esc = text[pos + 1:pos + 2]
                if esc not in ("\\", '"', "n"):
                    problems.append((lineno, "label %r: bad escape \\%s"
                                     % (lname, esc)))
                    return None, pos
                value.append("\n" if esc == "n" else esc)
                pos += 2
            elif c == '"':
                pos += 1
                break
            elif c == "\n":
                problems.append((lineno, "label %r: raw newline in value"
                                 % lname))
                return None, pos
            else:
                value.append(c)
                pos += 1
        labels.append((lname, "".join(value)))
        while pos < len(text) and text[pos] == " ":
            pos += 1
        if pos < len(text) and text[pos] == ",":
            pos += 1
            continue
        if pos < len(text) and text[pos] == "}":
            return tuple(labels), pos + 1
        problems.append((lineno, "label list: expected , or } at column %d"
                         % (pos + 1)))
        return None, pos


def _parse_value(s):
    """A sample value as a float, or None when it is not one."""
    if s in ("NaN", "+Inf", "-Inf", "Inf"):
        return float(s.replace("Inf", "inf").replace("NaN", "nan"))
    try:
        v = float(s)
    except ValueError:
        return None
    if math.isnan(v) or math.isinf(v):
        return None         # only the spellings above are allowed
    return v


def _help_escapes_ok(text):
    """HELP text may escape only backslash and newline."""
    i = 0
    while i < len(text):
        if text[i] == "\\":
            if text[i + 1:i + 2] not in ("\\", "n"):
                return False
            i += 2
        else:
            i += 1
    return True


def _family_of(sample, families):
    """The family a sample name belongs to (histogram/summary suffixes)."""
    if sample in families:
        return families[sample]
    for fam in families.values():
        for suffix in FAMILY_SUFFIXES.get(fam.type, ()):
            if sample == fam.name + suffix:
                return fam
    return None


def _check_name(fam, prefix, problems):
    """Naming conventions of one family."""
    name = fam.name
    line = fam.first_line
    if prefix and not name.startswith(prefix):
        problems.append((line, "%s: name does not start with %r"
                         % (name, prefix)))
    if fam.type == "counter" and not name.endswith("_total"):
        problems.append((line, "%s: counter name must end in _total" % name))
    if fam.type not in (None, "counter") and name.endswith("_total"):
        problems.append((line, "%s: _total is for counters, this is a %s"
                         % (name, fam.type)))
    base = name[len(prefix):] if prefix and name.startswith(prefix) else name
    tokens = base.split("_")
    if tokens and tokens[-1] == "total":
        tokens = tokens[:-1]
    for i, tok in enumerate(tokens):
        low = tok.lower()
        if low in NON_BASE_UNITS:
            problems.append((line, "%s: unit %r is not a base unit; use "
                             "_%s" % (name, tok, NON_BASE_UNITS[low])))
        elif low in BASE_UNITS and i != len(tokens) - 1:
            problems.append((line, "%s: unit _%s must come last (before "
                             "_total)" % (name, tok)))
    if name.endswith("_info"):
        if fam.type != "gauge":
            problems.append((line, "%s: an _info metric must be a gauge"
                             % name))
        for lineno, _s, _l, v in fam.samples:
            if v != 1:
                problems.append((lineno, "%s: an _info metric's value must "
                                 "be 1" % name))


def check(text, prefix="slotfs_"):
    """Check exposition text.  Returns (problems, families): problems is a
    list of (line number, message); families maps names to Family."""
    problems = []
    families = {}
    series = set()
    current = None
    lines = text.split("\n")
    if text and not text.endswith("\n"):
        problems.append((len(lines), "text does not end with a newline"))
    if lines and lines[-1] == "":
        lines = lines[:-1]

    def family(name, lineno):
        fam = families.get(name)
        if fam is None:
            fam = families[name] = Family(name)
            fam.first_line = lineno
        return fam

    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) < 2 or parts[1] not in ("HELP", "TYPE"):
                continue                    # a plain comment
            if len(parts) < 3:
                problems.append((lineno, "%s without a metric name"
                                 % parts[1]))
                continue
            name = parts[2]
            if not METRIC_RE.fullmatch(name):
                problems.append((lineno, "bad metric name %r" % name))
                continue
            fam = family(name, lineno)
            if fam.samples:
                problems.append((lineno, "%s: %s after its samples"
                                 % (name, parts[1])))
            if parts[1] == "HELP":
                if fam.help is not None:
                    problems.append((lineno, "%s: second HELP" % name))
                htext = parts[3] if len(parts) > 3 else ""
                if not _help_escapes_ok(htext):
                    problems.append((lineno, "%s: HELP has an escape other "
                                     "than \\\\ or \\n" % name))
                if not htext.strip():
                    problems.append((lineno, "%s: empty HELP" % name))
                fam.help = htext
            else:
                if fam.type is not None:
                    problems.append((lineno, "%s: second TYPE" % name))
                t = parts[3].strip() if len(parts) > 3 else ""
                if t not in TYPES:
                    problems.append((lineno, "%s: unknown TYPE %r"
                                     % (name, t)))
                fam.type = t
            continue

        # a sample
        m = METRIC_RE.match(line)
        if not m:
            problems.append((lineno, "bad metric name at start of sample"))
            continue
        sname = m.group(0)
        pos = m.end()
        labels = ()
        if pos < len(line) and line[pos] == "{":
            labels, pos = _parse_labels(line, pos, lineno, problems)
            if labels is None:
                continue
        rest = line[pos:]
        if not rest.startswith(" "):
            problems.append((lineno, "%s: expected a space before the value"
                             % sname))
            continue
        fields = rest.split()
        if len(fields) not in (1, 2):
            problems.append((lineno, "%s: expected value [timestamp]"
                             % sname))
            continue
        value = _parse_value(fields[0])
        if value is None:
            problems.append((lineno, "%s: bad value %r" % (sname, fields[0])))
            continue
        if len(fields) == 2 and not re.fullmatch(r"-?[0-9]+", fields[1]):
            problems.append((lineno, "%s: bad timestamp %r"
                             % (sname, fields[1])))
        fam = _family_of(sname, families)
        if fam is None:
            problems.append((lineno, "%s: sample without HELP and TYPE"
                             % sname))
            fam = family(sname, lineno)
        if fam.help is None:
            problems.append((lineno, "%s: no HELP line" % fam.name))
            fam.help = ""           # report once
        if fam.type is None:
            problems.append((lineno, "%s: no TYPE line" % fam.name))
            fam.type = "untyped"
        if current is not None and current is not fam:
            current.closed = True
        if fam.closed:
            problems.append((lineno, "%s: samples split by another family"
                             % fam.name))
            fam.closed = False
        current = fam
        key = (sname, tuple(sorted(labels)))
        if key in series:
            problems.append((lineno, "%s%s: duplicate series"
                             % (sname, dict(labels) if labels else "")))
        series.add(key)
        if fam.type == "counter" and sname == fam.name and \
                not (value >= 0):
            problems.append((lineno, "%s: counter value %s is negative or "
                             "NaN" % (sname, fields[0])))
        fam.samples.append((lineno, sname, labels, value))

    for fam in families.values():
        if not fam.samples:
            problems.append((fam.first_line, "%s: HELP/TYPE without samples"
                             % fam.name))
        if fam.help is None:
            problems.append((fam.first_line, "%s: no HELP line" % fam.name))
        if fam.type is None:
            problems.append((fam.first_line, "%s: no TYPE line" % fam.name))
        _check_name(fam, prefix, problems)
    problems.sort(key=lambda p: (p[0] or 0))
    return problems, families


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Check Prometheus text exposition for syntax and "
                    "slotfs naming conventions.")
    ap.add_argument("file", nargs="?", default="-",
                    help="exposition text (default: standard input)")
    ap.add_argument("--prefix", default="slotfs_",
                    help="required metric name prefix ('' for none)")
    ap.add_argument("-q", "--quiet", action="store_true",
                    help="print nothing when the text is clean")
    args = ap.parse_args(argv)
    try:
        if args.file == "-":
            text = sys.stdin.read()
        else:
            with open(args.file, encoding="utf-8") as f:
                text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        print("check_metrics: %s" % e, file=sys.stderr)
        return 2
    problems, families = check(text, args.prefix)
    where = "<stdin>" if args.file == "-" else args.file
    for lineno, msg in problems:
        print("%s:%s: %s" % (where, lineno, msg), file=sys.stderr)
    if problems:
        print("check_metrics: %d problem(s)" % len(problems),
              file=sys.stderr)
        return 1
    if not args.quiet:
        nsamples = sum(len(f.samples) for f in families.values())
        print("OK: %d metric families, %d samples" % (len(families),
                                                      nsamples))
    return 0


if __name__ == "__main__":
    sys.exit(main())
