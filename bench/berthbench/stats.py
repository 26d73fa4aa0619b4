"""Statistics and the formats of the report's cells: medians and p90s, milliseconds, MiB, ratios,
the least-squares slope of `list` against the number of containers, and the order in which
runtimes are shown.
"""

import statistics


def median(xs):
    return statistics.median(xs) if xs else None


def p90(xs):
    if not xs:
        return None
    if len(xs) == 1:
        return xs[0]
    return statistics.quantiles(xs, n=10, method="inclusive")[8]


def fmt_ms(x):
    if x is None:
        return "–"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def fmt_ratio(a, b):
    if a is None or b is None or b <= 0:
        return "–"
    return f"{a / b:.2f}×"


def fmt_mib(kib):
    if kib is None:
        return "–"
    return f"{kib / 1024:.1f}"


def mem_cell(xs):
    if not xs:
        return "–"
    return f"{fmt_mib(median(xs))} ({fmt_mib(max(xs))})"


def list_fit(per_k, key="list"):
    """(points [(K, median ms)], least-squares slope in ms per container, end-to-end slope)."""
    pts = sorted((int(k), median(t.get(key, []))) for k, t in per_k.items() if t.get(key))
    if len(pts) < 2:
        return pts, None, None
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    fit = sum((x - mx) * (y - my) for x, y in pts) / sxx if sxx else None
    ends = (ys[-1] - ys[0]) / (xs[-1] - xs[0]) if xs[-1] != xs[0] else None
    return pts, fit, ends


def fmt_slope(x):
    if x is None:
        return "–"
    return f"{x:.3f}"


def ordered_runtimes(names):
    order = ["berth", "berth-noall", "berth-late", "berth-ro", "runc", "crun"]
    return [x for x in order if x in names] + sorted(x for x in names if x not in order)


def cell(xs):
    if not xs:
        return "–"
    return f"{fmt_ms(median(xs))} ({fmt_ms(p90(xs))})"


def stale_cell(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return "–"
    return f"{median(xs):g} / {max(xs)}"
