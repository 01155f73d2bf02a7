#!/usr/bin/env python3
"""Draws how strata's time and memory grow with the size of a stack, from the work
directory bench/scale.sh keeps with BENCH_KEEP=1 (results.tsv, and proxied.tsv when it ran
with SCALE_PROXY=1), as one SVG with three panels: apply and destroy time, no-op plan time
(and its floor through the quota proxy), peak memory. Standard library only.

usage: bench/plot-scale.py WORK_DIR OUT.svg
"""

import json
import statistics
import sys
from pathlib import Path

W, H = 300, 220          # one panel
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 30, 40
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"]


def read(work):
    rows = {}
    for line in (work / "results.tsv").read_text().splitlines():
        n, apply_s, plans, rss, _changes, destroy_s, *_ = line.split("\t")
        rows[int(n)] = {
            "apply": float(apply_s),
            "destroy": float(destroy_s),
            "plan": statistics.median(float(x) for x in plans.split(",")),
            "rss": max(int(x) for x in rss.split(",")) / 1024,
        }
    proxied = work / "proxied.tsv"
    if proxied.exists():
        args = (work / "proxy-args").read_text().split() if (work / "proxy-args").exists() else []
        rates = {}
        for i, a in enumerate(args):
            if a == "--rate":
                key, _, value = args[i + 1].partition("=")
                rates[key] = float(value.partition(":")[0])
        for line in proxied.read_text().splitlines():
            n, _run, _wall, path = line.split("\t")
            stats = json.loads(Path(path).read_text())
            floor = max([c / rates[s] for s, c in stats["by_service"].items() if s in rates] or [0])
            rows[int(n)]["floor"] = floor
    return dict(sorted(rows.items()))


def nice(top):
    """A round axis maximum at or above `top`."""
    step = 1.0
    while step * 10 < top:
        step *= 10
    for m in (1, 2, 2.5, 5, 10):
        if m * step >= top:
            return m * step
    return 10 * step


def panel(x0, title, unit, sizes, series):
    """One line chart: `series` is [(label, {size: value})]."""
    top = nice(max(v for _, values in series for v in values.values()) * 1.05)
    right = nice(max(sizes))
    px = lambda n: x0 + LEFT + (W - LEFT - RIGHT) * n / right
    py = lambda v: TOP + (H - TOP - BOTTOM) * (1 - v / top)
    out = [f'<text x="{x0 + W / 2}" y="16" text-anchor="middle" font-weight="bold">{title}</text>',
           f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(right)}" y2="{py(0)}" stroke="#444"/>',
           f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(0)}" y2="{py(top)}" stroke="#444"/>']
    for i in range(5):
        v = top * i / 4
        out.append(f'<line x1="{px(0)}" y1="{py(v)}" x2="{px(right)}" y2="{py(v)}" stroke="#ddd"/>')
        out.append(f'<text x="{px(0) - 4}" y="{py(v) + 4}" text-anchor="end">{v:g}</text>')
    for i in range(5):
        n = right * i / 4
        out.append(f'<text x="{px(n)}" y="{py(0) + 14}" text-anchor="middle">{n:g}</text>')
    out.append(f'<text x="{x0 + W / 2}" y="{H - 6}" text-anchor="middle">resources</text>')
    out.append(f'<text x="{x0 + 12}" y="{TOP - 8}">{unit}</text>')
    for k, (label, values) in enumerate(series):
        colour = COLOURS[k % len(COLOURS)]
        points = " ".join(f"{px(n):.1f},{py(v):.1f}" for n, v in sorted(values.items()))
        dash = ' stroke-dasharray="4 3"' if label.startswith("floor") else ""
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        for n, v in values.items():
            out.append(f'<circle cx="{px(n):.1f}" cy="{py(v):.1f}" r="3" fill="{colour}"/>')
        out.append(f'<text x="{px(0) + 8}" y="{TOP + 14 + 14 * k}" fill="{colour}">{label}</text>')
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    rows = read(Path(sys.argv[1]))
    sizes = list(rows)
    col = lambda key: {n: r[key] for n, r in rows.items() if key in r}
    plan_series = [("no-op plan", col("plan"))]
    if col("floor"):
        plan_series.append(("floor (calls / quota)", col("floor")))
    parts = []
    parts += panel(0, "apply and destroy", "s", sizes, [("apply", col("apply")), ("destroy", col("destroy"))])
    parts += panel(W, "no-op plan", "s", sizes, plan_series)
    parts += panel(2 * W, "peak memory (plan)", "MB", sizes, [("peak RSS", col("rss"))])
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{3 * W}" height="{H}" '
           f'font-family="sans-serif" font-size="11">'
           f'<rect width="100%" height="100%" fill="white"/>' + "".join(parts) + "</svg>\n")
    Path(sys.argv[2]).write_text(svg)


if __name__ == "__main__":
    main()
