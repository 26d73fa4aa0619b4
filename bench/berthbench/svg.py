"""The SVG charts, hand-written (matplotlib is not installed): lifecycle latency per layout (bars
with p90 whiskers) and teardown against the number of processes (log-log, one panel per layout
and PID namespace).
"""

import math

from .common import LIFECYCLE_METRICS
from .stats import fmt_ms, median, ordered_runtimes, p90

COLORS = {
    "berth": "#1f77b4",
    "berth-noall": "#9467bd",
    "runc": "#ff7f0e",
    "crun": "#2ca02c",
    "floor": "#222222",
    "floor, container": "#999999",
    "berth-late": "#17becf",
    "berth-ro": "#bcbd22",
}
CHART_LABELS = {
    "kill": "kill KILL",
    "delete": "delete",
    "sum": "create+start+\nkill+delete",
    "cycle": "create+start+\n(kill & exit)+\ndelete",
    "delete_f": "delete -f\n(running)",
    "run_d+delete_f": "run -d +\ndelete -f",
}


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def nice_ticks(vmax, count=5):
    if vmax <= 0:
        return [0, 1]
    raw = vmax / count
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            step = m * mag
            break
    ticks = []
    v = 0.0
    while v < vmax + step * 0.999:
        ticks.append(round(v, 10))
        v += step
    return ticks


def svg_lifecycle(data):
    layouts = [(k, v) for k, v in data["layouts"].items() if not k.startswith("_") and v.get("lifecycle")]
    metrics = [m for m in LIFECYCLE_METRICS if m[0] not in ("kill_exit",)]
    pw, ph = 1000, 300
    top, left, bottom = 50, 70, 90
    H = len(layouts) * (ph + top + bottom) + 20
    W = pw + left + 160
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" '
         f'font-size="12"><rect width="100%" height="100%" fill="white"/>']
    for li, (layout, res) in enumerate(layouts):
        oy = li * (ph + top + bottom) + top
        lc = res["lifecycle"]
        rts = ordered_runtimes(lc.keys())
        vals = [p90(lc[r].get(k, [])) or 0 for r in rts for k, _ in metrics]
        ticks = nice_ticks(max(vals + [1]))
        ymax = ticks[-1]
        s.append(f'<text x="{left}" y="{oy - 20}" font-size="15" font-weight="bold">Lifecycle latency, '
                 f'layout {esc(layout)} (bar = median, whisker = p90), ms</text>')
        for t in ticks:
            y = oy + ph - ph * t / ymax
            s.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
            s.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{t:g}</text>')
        gw = pw / len(metrics)
        bw = gw * 0.8 / max(1, len(rts))
        for mi, (key, label) in enumerate(metrics):
            gx = left + mi * gw + gw * 0.1
            for ri, r in enumerate(rts):
                xs = lc[r].get(key, [])
                if not xs:
                    continue
                med, hi = median(xs), p90(xs)
                x = gx + ri * bw
                y = oy + ph - ph * med / ymax
                s.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw * 0.9:.1f}" height="{oy + ph - y:.1f}" '
                         f'fill="{COLORS.get(r, "#888")}"><title>{esc(r)} {esc(label)}: median {fmt_ms(med)} ms, '
                         f'p90 {fmt_ms(hi)} ms</title></rect>')
                yh = oy + ph - ph * hi / ymax
                cx = x + bw * 0.45
                s.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{y:.1f}" y2="{yh:.1f}" stroke="#000"/>')
                s.append(f'<line x1="{cx - 3:.1f}" x2="{cx + 3:.1f}" y1="{yh:.1f}" y2="{yh:.1f}" stroke="#000"/>')
            lines = CHART_LABELS.get(key, label).split("\n")
            for j, ln in enumerate(lines):
                s.append(f'<text x="{left + mi * gw + gw / 2:.1f}" y="{oy + ph + 16 + 13 * j}" '
                         f'text-anchor="middle" font-size="11">{esc(ln)}</text>')
        s.append(f'<line x1="{left}" x2="{left}" y1="{oy}" y2="{oy + ph}" stroke="#000"/>')
        s.append(f'<line x1="{left}" x2="{left + pw}" y1="{oy + ph}" y2="{oy + ph}" stroke="#000"/>')
        for ri, r in enumerate(rts):
            y = oy + 10 + ri * 18
            s.append(f'<rect x="{left + pw + 20}" y="{y}" width="12" height="12" fill="{COLORS.get(r, "#888")}"/>')
            s.append(f'<text x="{left + pw + 38}" y="{y + 11}">{esc(r)}</text>')
    s.append("</svg>")
    return "\n".join(s)


def svg_teardown(data, mode):
    """Teardown time against N+1 processes (log-log): one panel per (layout, pidns)."""
    layouts = [(k, v) for k, v in data["layouts"].items() if not k.startswith("_") and v.get("teardown")]
    pw, ph = 420, 280
    top, left, gapx, gapy = 60, 70, 110, 90
    W = left + 2 * (pw + gapx)
    H = top + len(layouts) * (ph + gapy) + 40
    what = ("kill ID KILL (host pidns: kill --all)" if mode == "kill" else "delete -f of the running container")
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" '
         f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
         f'<text x="{left}" y="22" font-size="15" font-weight="bold">Teardown vs processes: {esc(what)} (medians)</text>',
         f'<text x="{left}" y="40" font-size="12">Solid: until every process had exited; dashed: until the command '
         f'returned. Black: kernel floor (the harness SIGKILLs N+1 forked sleeps through pidfds); '
         f'grey: the same for the N+1 processes of a container.</text>']
    gone_key, ret_key = ("gone", "kill") if mode == "kill" else ("delete_f_gone", "delete_f")
    for li, (layout, res) in enumerate(layouts):
        for pi, pidns in enumerate(("private", "host")):
            ox = left + pi * (pw + gapx)
            oy = top + li * (ph + gapy) + 20
            td = res["teardown"].get(pidns, {})
            series = {}
            for n, per in td.items():
                for rt, t in per.items():
                    if mode == "delete" and rt == "berth-noall":
                        continue
                    for key, style in ((gone_key, "solid"), (ret_key, "dash")):
                        med = median(t.get(key, []))
                        if med:
                            series.setdefault((rt, style), []).append((int(n) + 1, med))
            for n, fl in res.get("floor", {}).items():
                med = median(fl.get("gone", []))
                if med:
                    series.setdefault(("floor", "solid"), []).append((int(n) + 1, med))
            for n, fl in res.get("floor_ct", {}).get(pidns, {}).items():
                med = median(fl.get("gone", []))
                if med:
                    series.setdefault(("floor, container", "solid"), []).append((int(n) + 1, med))
            allv = [v for pts in series.values() for _x, v in pts]
            allx = [x for pts in series.values() for x, _v in pts] or [1, 1000]
            if not allv:
                continue
            ylo = 10 ** math.floor(math.log10(min(allv)))
            yhi = 10 ** math.ceil(math.log10(max(allv)))
            if yhi <= ylo:
                yhi = ylo * 10
            xlo, xhi = 1, max(max(allx), 10)

            def X(x):
                return ox + pw * (math.log10(x) - math.log10(xlo)) / (math.log10(xhi) - math.log10(xlo))

            def Y(y):
                return oy + ph - ph * (math.log10(y) - math.log10(ylo)) / (math.log10(yhi) - math.log10(ylo))

            s.append(f'<text x="{ox}" y="{oy - 8}" font-size="13" font-weight="bold">{esc(layout)}, '
                     f'{esc(pidns)} PID namespace</text>')
            d = ylo
            while d <= yhi * 1.0001:
                y = Y(d)
                s.append(f'<line x1="{ox}" x2="{ox + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>')
                s.append(f'<text x="{ox - 6}" y="{y + 4:.1f}" text-anchor="end">{d:g}</text>')
                d *= 10
            d = xlo
            while d <= xhi:
                x = X(d)
                s.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{oy}" y2="{oy + ph}" stroke="#ddd"/>')
                s.append(f'<text x="{x:.1f}" y="{oy + ph + 16}" text-anchor="middle">{d:g}</text>')
                d *= 10
            s.append(f'<rect x="{ox}" y="{oy}" width="{pw}" height="{ph}" fill="none" stroke="#000"/>')
            s.append(f'<text x="{ox + pw / 2}" y="{oy + ph + 34}" text-anchor="middle">processes in the '
                     f'container (N+1, log)</text>')
            s.append(f'<text x="{ox - 48}" y="{oy + ph / 2}" text-anchor="middle" '
                     f'transform="rotate(-90 {ox - 48} {oy + ph / 2})">ms (log)</text>')
            legend = []
            rank = {r: i for i, r in enumerate(["berth", "berth-noall", "runc", "crun", "floor",
                                                "floor, container"])}
            for (rt, style), pts in sorted(series.items(), key=lambda kv: (rank.get(kv[0][0], 9), kv[0][1])):
                pts.sort()
                color = COLORS.get(rt, "#888")
                dash = ' stroke-dasharray="6,4"' if style == "dash" else ""
                path = " ".join(f"{'M' if i == 0 else 'L'}{X(x):.1f},{Y(y):.1f}" for i, (x, y) in enumerate(pts))
                s.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
                for x, y in pts:
                    s.append(f'<circle cx="{X(x):.1f}" cy="{Y(y):.1f}" r="3" fill="{color}"><title>{esc(rt)} '
                             f'{"returned" if style == "dash" else "all gone"}, {x} processes: {fmt_ms(y)} ms'
                             f'</title></circle>')
                if style == "solid":
                    legend.append((rt, color))
            for i, (rt, color) in enumerate(legend):
                y = oy + 8 + i * 16
                s.append(f'<line x1="{ox + pw + 8}" x2="{ox + pw + 28}" y1="{y + 5}" y2="{y + 5}" '
                         f'stroke="{color}" stroke-width="2"/>')
                s.append(f'<text x="{ox + pw + 32}" y="{y + 9}" font-size="11">{esc(rt)}</text>')
    s.append("</svg>")
    return "\n".join(s)
