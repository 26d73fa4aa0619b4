"""The systemd layout's part of the report: the table of what was still there (processes, scope
unit, cgroup) when each kill / delete / delete -f returned, the summary line, and the method
paragraph.
"""

RETURN_ROWS = [
    # (section, table key, command as shown)
    ("lifecycle", "kill", "kill KILL"),
    ("lifecycle", "delete", "delete (after kill)"),
    ("lifecycle", "delete_f", "delete -f"),
    ("teardown", "kill", "kill KILL (host: kill --all)"),
    ("teardown", "delete_after_kill", "delete -f after kill"),
    ("teardown", "delete_f", "delete -f"),
]


def _count(snaps, pred):
    return sum(1 for s in snaps if pred(s))


def _return_cells(snaps, stale):
    n = len(snaps)
    cells = [str(n),
             "–" if not stale else f"{sum(1 for x in stale if x)} (max {max(stale)})",
             f"{_count(snaps, lambda s: s['present'])}",
             f"{_count(snaps, lambda s: s['cgroup'])}"]
    states = {}
    for s in snaps:
        k = s["unit"] + (" (then inactive)" if s["present"] and s["unit"] in ("inactive", "failed") else "")
        states[k] = states.get(k, 0) + 1
    cells.append(", ".join(f"{k} ×{v}" for k, v in sorted(states.items())))
    untils = sorted(s["until_ms"] for s in snaps if s.get("until_ms") is not None)
    cells.append(f"{untils[len(untils) // 2]:.1f}" if untils else "–")
    probes = sorted(s["probe_ms"] for s in snaps)
    cells.append(f"{probes[len(probes) // 2]:.2f}" if probes else "–")
    return cells


STALE_KEY = {"kill": "stale", "delete_f": "delete_f_stale"}


def _rows(res):
    """(label, runtime, snapshots, stale counts) for every at-return record of a layout."""
    out = []
    lc = res.get("lifecycle", {})
    td = res.get("teardown", {})
    for section, key, shown in RETURN_ROWS:
        if section == "lifecycle":
            for rt, t in lc.items():
                snaps = t.get(f"{key}_at_return", [])
                if snaps:
                    stale = t.get({"kill": "kill_stale", "delete_f": "delete_f_stale"}.get(key, ""), [])
                    out.append((f"lifecycle: {shown}", rt, snaps, [x for x in stale if x is not None]))
            continue
        for pidns in ("private", "host"):
            for n in sorted(td.get(pidns, {}), key=int):
                for rt, t in td[pidns][n].items():
                    snaps = t.get(f"{key}_at_return", [])
                    if snaps:
                        stale = [x for x in t.get(STALE_KEY.get(key, ""), []) if x is not None]
                        out.append((f"{pidns} pidns, N={n}: {shown}", rt, snaps, stale))
    return out


def report_section(res, ordered_runtimes):
    rows = _rows(res)
    if not rows:
        return []
    host = res.get("host", {})
    L = ["### Under systemd: what was still there when the command returned\n",
         "Right when the command's exit was seen: *stale* = trials with container processes still "
         "alive (max of them in one trial); *unit present* = trials whose scope unit was still "
         "active or deactivating (asked over D-Bus at once; a unit found inactive/failed counts if "
         "systemd's StateChangeTimestampMonotonic is after the return); *cgroup* = trials whose scope "
         "cgroup directory still existed (a stat at once). *unit states* = what the probe found "
         "(gone = systemd no longer had the unit loaded); *inactive after* = median ms from the "
         "return until systemd had the unit inactive, over the trials where that was later; "
         "*probe* = median ms the probe took (the window in which a unit could vanish unseen).\n",
         "| teardown | runtime | trials | stale | unit present | cgroup | unit states | "
         "inactive after (ms) | probe (ms) |",
         "|---|---|---|---|---|---|---|---|---|"]
    order = {r: i for i, r in enumerate(ordered_runtimes({r for _l, r, _s, _t in rows}))}
    seen = []
    for label, _rt, _s, _t in rows:
        if label not in seen:
            seen.append(label)
    for label in seen:
        for lab, rt, snaps, stale in sorted((x for x in rows if x[0] == label), key=lambda x: order[x[1]]):
            L.append(f"| {lab} | {rt} | " + " | ".join(_return_cells(snaps, stale)) + " |")
    L.append("")
    L.append("runc's `kill` only sends the signal: its unit is stopped by systemd itself once the "
             "scope's cgroup is empty, and its `delete` stops the unit afterwards. berth's `kill KILL` "
             "waits for the processes, then stops the unit and waits until systemd has removed it.\n")
    if host:
        s, e = host.get("start", {}), host.get("end", {})
        L.append(f"Host: {res.get('versions', {}).get('systemd', '?')}; "
                 f"{res.get('versions', {}).get('runc', '?')}. Processes in the host at start / end: "
                 f"{s.get('processes', '?')} / {e.get('processes', '?')}; other `systemd-host run` units: "
                 f"{s.get('other_run_units', '?')} / {e.get('other_run_units', '?')}; load average "
                 f"{s.get('loadavg', '?')} / {e.get('loadavg', '?')}.\n")
    return L


def summary_lines(res):
    """One line per runtime for the summary: delete -f returns with unit / cgroup / processes."""
    per = {}
    for label, rt, snaps, stale in _rows(res):
        if "delete -f" not in label or "after kill" in label:
            continue
        p = per.setdefault(rt, [0, 0, 0, 0, 0])
        p[0] += len(snaps)
        p[1] += _count(snaps, lambda s: s["present"])
        p[2] += _count(snaps, lambda s: s["cgroup"])
        p[3] += sum(1 for x in stale if x)
        p[4] = max([p[4]] + stale)
    if not per:
        return []
    parts = [f"{rt}: unit still active/deactivating in {p[1]}, cgroup still there in {p[2]}, "
             f"processes still alive in {p[3]} (max {p[4]})" for rt, p in sorted(per.items())]
    n = max(p[0] for p in per.values())
    return [f"systemd: when `delete -f` returned (of {n} per runtime: lifecycle and teardown, both PID "
            f"namespaces) — " + "; ".join(parts) + ".  "]


METHOD = ("- Layout systemd: the worker runs inside the systemd host of scripts/systemd-host (Debian "
          "bookworm booted by systemd-nspawn, systemd as PID 1, cgroup v2 without controllers) as a "
          "transient service; every runtime is called with `--systemd-cgroup`, every container's "
          "cgroupsPath is `system.slice:bench:NAME` (NAME unique per container), i.e. the scope unit "
          "`bench-NAME.scope`. Right after each kill/delete returns, the harness stats the scope's "
          "cgroup and asks systemd over D-Bus for the unit's state (see bench/berthbench/systemd_layout.py). "
          "The host is shared: other work in it adds noise (its process count is recorded).\n")
