"""The Markdown report (RESULTS.md): the run's metadata, the summary, and per layout the
lifecycle, create, teardown (with floors and ratios), systemd, memory, scaling and failure
sections, then the method.
"""

import re

from . import systemd_report
from .common import LIFECYCLE_METRICS
from .sections import create_state_section, memory_section, scaling_section, summary
from .stats import cell, fmt_ratio, median, ordered_runtimes, stale_cell


def make_report(data):
    meta = data["meta"]
    L = []
    L.append("# berth benchmark results\n")
    L.append(f"Command: `python3 {meta['command']}` — {meta['date']}, kernel {meta['kernel']}, "
             f"{meta['cpus']} CPUs, Python {meta['python']}.  ")
    b = meta["berth"]
    L.append(f"berth: {b['version']} (git {b['git']}, binary sha256 {b['sha256'][:12]}, built {b['mtime']}); "
             f"{meta['runc']}; {meta['crun']}.  ")
    L.append(f"Load average at start: {meta['loadavg_start']}; at end: {meta.get('loadavg_end', '?')}.  ")
    L.append(f"Trials: {meta['trials']} lifecycle trials, "
             + (f"{meta['create_trials']} quiet and warm create trials, " if meta.get("create_trials") else "")
             + f"{meta['teardown_trials']} teardown trials per N and mode"
             + (f", {meta['mem_trials']} peak-memory trials" if meta.get("mem_trials") else "")
             + (f", {meta.get('scaling_trials')} state/list/ps trials per K (K = "
                f"{','.join(map(str, meta['scaling_n']))} containers)" if meta.get("scaling_n") else "")
             + ".")
    if meta.get("interrupted"):
        L.append("\n**The run was interrupted: the numbers below are partial.**")
    L.append("")
    L.append("All times in milliseconds: **median (p90)**, runtimes timed as whole processes (fork/exec "
             "until the process has exited, observed through a pidfd). Ratios are of medians; "
             "< 1 means berth is faster.\n")
    L.extend(summary(data))
    for layout, res in data["layouts"].items():
        if layout.startswith("_"):
            continue
        L.append(f"## Layout: {layout}\n")
        if res.get("hierarchies"):
            L.append("cgroup hierarchies: " + "; ".join(res["hierarchies"]) + "  ")
        L.append(f"Runtimes: {', '.join(res.get('runtimes', [])) or 'none'}"
                 + (f"; skipped: {', '.join(f'{k} ({v})' for k, v in res.get('skipped', {}).items())}"
                    if res.get("skipped") else "")
                 + (f"; worker time {res['elapsed_s']} s" if res.get("elapsed_s") else "") + ".  ")
        cpu = res.get("cpu") or {}
        if cpu.get("machine_busy_pct") is not None:
            L.append(f"CPU while this layout ran (share of all {meta['cpus']} CPUs): machine {cpu['machine_busy_pct']}%, "
                     f"this benchmark and its containers {cpu['bench_pct']}%, other work {cpu['others_pct']}%.")
        L.append("")
        rts = ordered_runtimes(res.get("lifecycle", {}).keys())
        others = [r for r in rts if r != "berth"]
        if rts:
            L.append("### Lifecycle (one `sleep` process, private PID namespace)\n")
            hdr = "| metric | " + " | ".join(rts) + " | " + " | ".join(f"berth/{o}" for o in others) + " |"
            L.append(hdr)
            L.append("|" + "---|" * (1 + len(rts) + len(others)))
            lc = res["lifecycle"]
            for key, label in LIFECYCLE_METRICS:
                row = [label] + [cell(lc.get(r, {}).get(key, [])) for r in rts]
                row += [fmt_ratio(median(lc.get("berth", {}).get(key, [])), median(lc.get(o, {}).get(key, [])))
                        for o in others]
                L.append("| " + " | ".join(row) + " |")
            row = ["processes alive when kill / delete -f returned (median / max)"]
            row += [f"{stale_cell(lc.get(r, {}).get('kill_stale', []))} ; "
                    f"{stale_cell(lc.get(r, {}).get('delete_f_stale', []))}" for r in rts]
            row += [""] * len(others)
            L.append("| " + " | ".join(row) + " |")
            L.append("")
        L.extend(create_state_section(res))
        for pidns in ("private", "host"):
            td = res.get("teardown", {}).get(pidns, {})
            if not td:
                continue
            kill_cmd = "`kill ID KILL`" if pidns == "private" else \
                "`kill --all ID KILL` (berth-noall: `kill ID KILL`)"
            L.append(f"### Teardown, {pidns} PID namespace: N extra `sleep`s (N+1 processes)\n")
            L.append(f"kill = {kill_cmd} returns; gone = every pidfd readable (from the start of the "
                     "command); stale = processes still alive when the command returned (median / max); "
                     "delete -f after kill = the `delete -f` that follows; delete -f = `delete -f` on the "
                     "running container instead of kill; spawn wait = from `start`'s return until N+1 "
                     "processes were in the cgroup. Floor = the harness SIGKILLs N+1 forked sleeps "
                     "through pidfds itself.\n")
            L.append("| N | runtime | kill | gone | stale | delete -f after kill | delete -f | "
                     "delete -f gone | delete -f stale | spawn wait |")
            L.append("|---|---|---|---|---|---|---|---|---|---|")
            for n in sorted(td, key=int):
                for rt in ordered_runtimes(td[n].keys()):
                    t = td[n][rt]
                    L.append(f"| {n} | {rt} | {cell(t.get('kill'))} | {cell(t.get('gone'))} | "
                             f"{stale_cell(t.get('stale', []))} | {cell(t.get('delete_after_kill'))} | "
                             f"{cell(t.get('delete_f'))} | {cell(t.get('delete_f_gone'))} | "
                             f"{stale_cell(t.get('delete_f_stale', []))} | {cell(t.get('ready'))} |")
                fl = res.get("floor", {}).get(n)
                if fl:
                    L.append(f"| {n} | *floor* | (send {cell(fl.get('send'))}) | {cell(fl.get('gone'))} | "
                             f"| | | | | |")
                fc = res.get("floor_ct", {}).get(pidns, {}).get(n)
                if fc:
                    L.append(f"| {n} | *floor, these processes* | (send {cell(fc.get('send'))}) | "
                             f"{cell(fc.get('gone'))} | | | | | | |")
            L.append("")
            if res.get("floor_ct", {}).get(pidns):
                L.append("*floor, these processes*: the harness SIGKILLs the processes of a container (made by "
                         "berth) itself, through the pidfds it holds, and waits until all have exited; no "
                         "runtime involved. Container processes take longer to die than the harness's own "
                         "forks (*floor*).\n")
                L.append("| N | berth gone / floor | berth gone / floor, these processes | "
                         "berth delete -f gone / floor, these processes |")
                L.append("|---|---|---|---|")
                for n in sorted(td, key=int):
                    bt = td[n].get("berth", {})
                    fl = res.get("floor", {}).get(n, {})
                    fc = res["floor_ct"][pidns].get(n, {})
                    L.append(f"| {n} | {fmt_ratio(median(bt.get('gone', [])), median(fl.get('gone', [])))} | "
                             f"{fmt_ratio(median(bt.get('gone', [])), median(fc.get('gone', [])))} | "
                             f"{fmt_ratio(median(bt.get('delete_f_gone', [])), median(fc.get('gone', [])))} |")
                L.append("")
            # ratios
            names = set()
            for n in td:
                names |= set(td[n].keys())
            comps = [o for o in ordered_runtimes(names) if not o.startswith("berth")]
            if "berth" in names and comps:
                L.append(f"Ratios berth / other ({pidns} PID namespace), medians:\n")
                cols = []
                for o in comps:
                    for key, lab in (("kill", "kill"), ("gone", "gone"), ("delete_f", "delete -f"),
                                     ("delete_f_gone", "delete -f gone")):
                        cols.append((o, key, f"{lab} b/{o}"))
                L.append("| N | " + " | ".join(c[2] for c in cols) + " |")
                L.append("|---|" + "---|" * len(cols))
                for n in sorted(td, key=int):
                    bt = td[n].get("berth", {})
                    row = [n] + [fmt_ratio(median(bt.get(k, [])), median(td[n].get(o, {}).get(k, [])))
                                 for o, k, _ in cols]
                    L.append("| " + " | ".join(row) + " |")
                L.append("")
        if layout == "systemd":
            L.extend(systemd_report.report_section(res, ordered_runtimes))
        L.extend(memory_section(res))
        L.extend(scaling_section(res))
        fails = res.get("failures", [])
        L.append(f"### Failures and oddities ({len(fails)})\n")
        if not fails:
            L.append("None: every runtime call succeeded, every container was gone after delete.\n")
        else:
            groups = {}
            for f in fails:
                generic = re.sub(r"\[[^\]]*\]|'[^']*'|\b(td|lc|rd|probe)\d+\b|\d+", "#", f.get("what", ""))[:200]
                k = (f.get("phase"), f.get("runtime"), generic)
                groups.setdefault(k, []).append(f)
            for (phase, rt, _generic), fs in groups.items():
                ns = sorted({f.get("n") for f in fs if "n" in f})
                L.append(f"- **{rt}**, {phase}{' N=' + ','.join(map(str, ns)) if ns else ''}, ×{len(fs)}: "
                         f"{fs[0].get('what', '')}" + (f" (container {fs[0]['id']})" if fs[0].get("id") else ""))
            L.append("")
    L.append("## Method\n")
    L.append(
        "- Each layout runs in its own worker under `scripts/cgroup-view LAYOUT` (a private mount "
        "namespace), which is a child subreaper (like containerd's shim) and reaps what is reparented to it.\n"
        "- Containers: busybox rootfs (read-only), `terminal: false`, runc's default spec otherwise, a private "
        "`--root` per runtime (on a tmpfs, as /run is on real hosts), a unique `cgroupsPath` per container, "
        "cgroupfs driver.\n"
        "- Lifecycle trial i runs the runtimes in an order rotated by i; teardown trial i rotates the list of "
        "(runtime, mode) jobs and the kernel floor the same way.\n"
        "- `kill` in the lifecycle test returns at once for runc and crun (they only deliver the signal); "
        "\"kill until init exited\" is what a caller who needs the container stopped waits, and \"cycle\" "
        "uses it instead of kill's return.\n"
        "- Host PID namespace: runc and crun only signal init with plain `kill`, leaving the other processes "
        "running, so they (and berth) get `kill --all ID KILL`, as containerd's shim does for such containers. "
        "berth-noall shows berth's own guarantee (plain `kill ID KILL` kills the whole cgroup).\n"
        "- Stale = watched processes whose pidfd was not yet readable when the runtime's exit was observed "
        "(one epoll over the runtime's pidfd and every container pidfd). For berth anything but 0 is a bug "
        "(and is listed under failures).\n"
        "- After every delete the harness checks that no cgroup directory (any hierarchy), process or state "
        "directory is left; anything left is recorded as a failure and removed by force.\n"
        "- Every runtime call is killed after its timeout and recorded as a failure; timings never fail the run.\n"
        "- Peak memory: each command runs under GNU time (`/usr/bin/time -f %M`), which wait4()s the runtime "
        "as its direct child. The harness's own wait4 would be useless: Linux copies the parent's RSS "
        "high-water mark into a forked or vforked child and keeps it across exec, so every child of the "
        "Python worker reports at least the worker's RSS. The wrapper's floor is shown with the table.\n"
        "- state/list/ps scaling: containers are added one runtime at a time in rotated order up to each K, "
        "then each runtime gets `--scaling-trials` rounds of list, list --format json, state and ps "
        "(rotated order); the first round also checks that the output lists K containers. Everything is "
        "removed with `delete -f` and checked afterwards.\n"
        "- Other work on the machine (e.g. test suites running concurrently) adds noise; compare the "
        "interleaved runtimes with each other rather than with other runs.\n")
    if "systemd" in data["layouts"]:
        L.append(systemd_report.METHOD)
    return "\n".join(L) + "\n"
