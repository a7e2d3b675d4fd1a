"""``deploy/prometheus/alerts.yml`` with every ``for:`` duration scaled by one factor.

The rules file keeps production ``for:`` durations; a test or a soak that has minutes,
not hours, renders it with ``--for-scale 0.05`` (1m becomes 3s) and loads the copy. It is
the one documented way to shorten alerts: nothing else in the file changes (range
windows such as ``[5m]`` stay, so rate-based alerts keep their meaning). The file is
rewritten as text, line by line, so its comments and layout survive.

    python -m workers.alerts.render --for-scale 0.05 > /tmp/alerts.yml
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

RULES_FILE = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"

# Prometheus' duration units, in milliseconds (a duration is one or more of them, largest first).
_UNITS_MS = {
    "y": 365 * 86_400_000,
    "w": 7 * 86_400_000,
    "d": 86_400_000,
    "h": 3_600_000,
    "m": 60_000,
    "s": 1000,
    "ms": 1,
}
_PART = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_FOR_LINE = re.compile(r"^(?P<head>\s*for:\s*)(?P<dur>\S+)(?P<tail>\s*(#.*)?)$")


def parse_duration(text: str) -> int:
    """A Prometheus duration (``1h30m``, ``90s``, ``250ms``) in milliseconds."""
    parts = _PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a Prometheus duration: {text!r}")
    return sum(int(n) * _UNITS_MS[u] for n, u in parts)


def scale_rules(text: str, scale: float) -> str:
    """``text`` (a rules file) with each ``for:`` multiplied by ``scale`` (> 0)."""
    if not (math.isfinite(scale) and scale > 0):
        raise ValueError(f"for-scale must be a number above 0, got {scale!r}")
    out = []
    for line in text.splitlines(keepends=True):
        m = _FOR_LINE.match(line.rstrip("\n"))
        if m:
            ms = round(parse_duration(m["dur"].strip("\"'")) * scale)
            line = f"{m['head']}{ms}ms{m['tail']}\n"
        out.append(line)
    return "".join(out)


def render(scale: float, source: Path = RULES_FILE) -> str:
    """The rules file at ``source`` with its ``for:`` durations scaled by ``scale``."""
    return scale_rules(source.read_text(), scale)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.alerts.render", description=__doc__)
    parser.add_argument("--for-scale", type=float, required=True, help="factor for every for:")
    parser.add_argument("--rules", type=Path, default=RULES_FILE, help="rules file to read")
    args = parser.parse_args(argv)
    try:
        sys.stdout.write(render(args.for_scale, args.rules))
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
