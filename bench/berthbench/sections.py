"""Parts of the Markdown report: the headline summary table over all layouts, and the per-layout
sections for create by attach state, peak memory and state / list / ps scaling.
"""

from . import systemd_report
from .common import MEM_COMMANDS, QUIET_S, SCALING_METRICS
from .stats import (cell, fmt_ms, fmt_ratio, fmt_slope, list_fit, median, mem_cell,
                    ordered_runtimes)


def summary(data):
    """The headline table: a few medians per layout, with ratios."""
    L = ["## Summary (medians in ms unless marked MiB; ratio < 1: berth faster or smaller)\n"]
    allrts = set()
    for layout, res in data["layouts"].items():
        if not layout.startswith("_"):
            allrts |= set(res.get("runtimes", []))
    rts = [r for r in ordered_runtimes(allrts)]
    others = [r for r in rts if r != "berth"]
    L.append("| layout | metric | " + " | ".join(rts) + " | " + " | ".join(f"berth/{o}" for o in others) + " |")
    L.append("|---|---|" + "---|" * (len(rts) + len(others)))
    stale_rows = []
    for layout, res in data["layouts"].items():
        if layout.startswith("_"):
            continue
        lc = res.get("lifecycle", {})
        rows = [(f"lifecycle: {lab}", {r: lc.get(r, {}).get(k, []) for r in rts})
                for k, lab in (("sum", "create+start+kill+delete"), ("run_d+delete_f", "run -d + delete -f"),
                               ("delete_f", "delete -f (1 process)"))]
        cs = res.get("create_state", {})
        rows += [(lab, {r: cs.get(r, {}).get(k, []) for r in rts})
                 for k, lab in (("quiet", "create, machine quiet for 0.2 s"),
                                ("warm", "create, right after another cgroup attach"))]
        if "berth-ro" in cs:
            rows += [(lab, {r: cs.get("berth-ro" if r == "berth" else r, {}).get(k, []) for r in rts})
                     for k, lab in (("quiet", "create, quiet; berth on a read-only mount"),
                                    ("warm", "create, warm; berth on a read-only mount"))]
        for pidns in ("private", "host"):
            td = res.get("teardown", {}).get(pidns, {})
            if not td:
                continue
            nmax = max(td, key=int)
            kcmd = "kill" if pidns == "private" else "kill --all"
            for k, lab in (("kill", f"{kcmd} returns"), ("gone", f"{kcmd}: all exited"),
                           ("delete_f", "delete -f returns")):
                rows.append((f"{pidns} pidns, N={nmax}: {lab}", {r: td[nmax].get(r, {}).get(k, []) for r in rts}))
            fc = res.get("floor_ct", {}).get(pidns, {}).get(nmax, {}).get("gone", [])
            if fc:
                rows.append((f"{pidns} pidns, N={nmax}: floor, these processes (harness SIGKILLs them)",
                             {r: fc if r == "berth" else [] for r in rts}))
            for n, per in td.items():
                for r, t in per.items():
                    for k in ("stale", "delete_f_stale"):
                        xs = [x for x in t.get(k, []) if x is not None]
                        if xs and r.startswith("berth") and max(xs) > 0:
                            stale_rows.append(f"{layout} {pidns} N={n} {r} {k}: max {max(xs)}")
        mem = res.get("memory", {})
        for cmd in ("create", "state"):
            if any(mem.get(r, {}).get(cmd) for r in rts):
                rows.append((f"peak RSS of `{cmd}`, MiB", {r: [x / 1024 for x in mem.get(r, {}).get(cmd, [])]
                                                          for r in rts}))
        sc = res.get("scaling", {})
        if sc:
            kmax = max((int(k) for r in sc.values() for k in r), default=None)
            rows.append((f"`list` with {kmax} containers", {r: sc.get(r, {}).get(str(kmax), {}).get("list", [])
                                                           for r in rts}))
            slopes = {r: [list_fit(sc[r])[1]] if r in sc and list_fit(sc[r])[1] is not None else [] for r in rts}
            rows.append(("`list`: ms per container (fit)", slopes))
        for lab, vals in rows:
            if not any(vals.values()):
                continue  # a section this layout did not run (e.g. create states under systemd)
            row = [layout, lab] + [fmt_ms(median(vals[r])) if vals[r] else "–" for r in rts]
            row += [fmt_ratio(median(vals["berth"]), median(vals[o])) if vals.get("berth") else "–" for o in others]
            L.append("| " + " | ".join(row) + " |")
    L.append("")
    nfail = {}
    for layout, res in data["layouts"].items():
        for f in res.get("failures", []) if not layout.startswith("_") else []:
            nfail[(layout, f.get("runtime"))] = nfail.get((layout, f.get("runtime")), 0) + 1
    L.append("berth processes alive when its kill / delete -f returned: "
             + ("**" + "; ".join(stale_rows) + "** (a bug)" if stale_rows else "none in any trial (as promised)") + ".  ")
    for layout, res in data["layouts"].items():
        if layout == "systemd":
            L.extend(systemd_report.summary_lines(res))
    L.append("Failures and oddities: " + (", ".join(f"{l}/{r}: {c}" for (l, r), c in sorted(nfail.items()))
                                          if nfail else "none") + " (details per layout below).\n")
    return L


def create_state_section(res):
    cs = res.get("create_state", {})
    if not cs:
        return []
    rts = ordered_runtimes(cs.keys())
    L = ["### `create` by the state of the kernel's cgroup-attach lock\n",
         "The first cgroup attach after a quiet spell waits for an RCU grace period (the global "
         "`cgroup_threadgroup_rwsem`); attaches within a grace period of another do not. quiet = the "
         f"harness idles {QUIET_S} s before `create`; warm = the harness attaches itself to its own "
         "cgroup just before. berth-late = berth with `BERTH_NO_EARLY_ATTACH=1` (no early attach by a "
         "helper process, so the grace period starts only when libcontainer attaches). berth-ro = berth "
         "installed on a read-only mount, as a package on a read-only /usr is: it runs as it is, where "
         "from a writable binary it first re-executes itself from a read-only view (its /proc/self/exe "
         "protection; equally protected either way).\n"]
    L += runtime_table("state", rts, [(key, key) for key in ("quiet", "warm")], cs, cell)
    return L


def runtime_table(first, rts, rows, data, show):
    """A table with a column per runtime, then one per berth/other ratio of medians: a row per
    (label, key) of `rows`, from the samples data[runtime][key], each cell shown by `show`;
    ends with a blank line."""
    others = [r for r in rts if r != "berth"]
    L = [f"| {first} | " + " | ".join(rts) + " | " + " | ".join(f"berth/{o}" for o in others) + " |",
         "|" + "---|" * (1 + len(rts) + len(others))]
    for label, key in rows:
        row = [label] + [show(data.get(r, {}).get(key, [])) for r in rts]
        row += [fmt_ratio(median(data.get("berth", {}).get(key, [])), median(data.get(o, {}).get(key, [])))
                for o in others]
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    return L


def memory_section(res):
    mem = res.get("memory", {})
    L = []
    if not mem:
        if res.get("skipped", {}).get("memory"):
            L.append(f"Peak memory: skipped ({res['skipped']['memory']}).\n")
        return L
    rts = ordered_runtimes(mem.keys())
    L.append("### Peak memory of one invocation (max RSS in MiB: median (max))\n")
    L.append("ru_maxrss of the runtime process, as reported by GNU time, which runs it as its direct child "
             "and wait4()s it (`/usr/bin/time -f %M`). It includes children the runtime waited for "
             "(e.g. runc's `runc init` stages), not the container's processes. Floor: what the same "
             "wrapper reports for a static busybox `true`"
             + (f": {mem_cell(res.get('memory_floor'))} MiB" if res.get("memory_floor") else "") + ".\n")
    L += runtime_table("command", rts, [(f"`{cmd}`", cmd) for cmd in MEM_COMMANDS], mem, mem_cell)
    return L


def scaling_section(res):
    sc = res.get("scaling", {})
    L = []
    if not sc:
        return L
    rts = ordered_runtimes(sc.keys())
    others = [r for r in rts if r != "berth"]
    ks = sorted({int(k) for r in sc.values() for k in r})
    L.append("### state / list / ps against the number of containers (median (p90), ms)\n")
    L.append("K containers (`sleep 1000`, private PID namespace, running) in each runtime's `--root`; the "
             "containers of all runtimes exist at once. `state` and `ps` ask for the first container."
             + (f" Section time {res['scaling_elapsed_s']} s (creating and deleting included)."
                if res.get("scaling_elapsed_s") else "") + "\n")
    L.append("| K | runtime | " + " | ".join(lab for _k, lab in SCALING_METRICS) + " |")
    L.append("|---|---|" + "---|" * len(SCALING_METRICS))
    for k in ks:
        for r in rts:
            t = sc[r].get(str(k), {})
            L.append(f"| {k} | {r} | " + " | ".join(cell(t.get(key)) for key, _l in SCALING_METRICS) + " |")
    L.append("")
    L.append("Linear check of `list` (medians; slope = least-squares fit over the points, and end to end):\n")
    L.append("| runtime | " + " | ".join(f"K={k}" for k in ks) + " | ms per container (fit) | "
             "ms per container (end to end) | `list --format json` ms per container (fit) |")
    L.append("|---|" + "---|" * (len(ks) + 3))
    for r in rts:
        pts, fit, ends = list_fit(sc[r])
        by_k = dict(pts)
        _p, jfit, _e = list_fit(sc[r], "list_json")
        L.append(f"| {r} | " + " | ".join(fmt_ms(by_k.get(k)) for k in ks)
                 + f" | {fmt_slope(fit)} | {fmt_slope(ends)} | {fmt_slope(jfit)} |")
    L.append("")
    if "berth" in sc and others:
        cols = [(o, key, f"{lab} b/{o}") for o in others for key, lab in SCALING_METRICS]
        L.append("Ratios berth / other, medians:\n")
        L.append("| K | " + " | ".join(c[2] for c in cols) + " |")
        L.append("|---|" + "---|" * len(cols))
        for k in ks:
            bt = sc["berth"].get(str(k), {})
            L.append(f"| {k} | " + " | ".join(fmt_ratio(median(bt.get(key, [])),
                                                       median(sc[o].get(str(k), {}).get(key, [])))
                                            for o, key, _l in cols) + " |")
        L.append("")
    return L
