"""The driver: checks and snapshots the berth binary, makes the rootfs and base config, runs one
worker per layout (under scripts/cgroup-view, or inside the systemd host) with a timeout and the
machine's CPU accounting around it, merges their raw JSON, sweeps leftovers and writes the
outputs (raw.json, RESULTS.md, the SVGs).
"""

import datetime
import hashlib
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile

from . import systemd_layout
from .cgroups import sweep_cgroups
from .common import CGROUP_VIEW, DEFAULT_N, ENTRY, LAYOUTS, REPO, ROOTFS_SH, SYSTEM_RUNTIMES, log
from .report import make_report
from .svg import svg_lifecycle, svg_teardown


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine_cpu():
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    hz = os.sysconf("SC_CLK_TCK")
    total = sum(vals[:8])
    idle = vals[3] + vals[4]
    return (total - idle) / hz, total / hz


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def driver_main(args):
    if os.geteuid() != 0:
        sys.exit("bench.py: needs root")
    layouts = list(LAYOUTS) if args.layout == "all" else [args.layout]
    systemd = "systemd" in layouts
    if args.n is None:
        args.n = systemd_layout.DEFAULT_N if systemd else DEFAULT_N
    if systemd:  # lifecycle and teardown only (see bench/berthbench/systemd_layout.py)
        args.create_trials, args.mem_trials, args.no_scaling = 0, 0, True
    berth_src = os.path.abspath(args.berth)
    if not os.access(berth_src, os.X_OK):
        sys.exit(f"bench.py: {berth_src} not found: run `cargo build --release` first")
    out_dir = os.path.abspath(args.out)
    os.makedirs(out_dir, exist_ok=True)
    if systemd:
        systemd_layout.ensure_host(log)
    # The systemd host sees only the repository (at the same path): the work directory goes
    # under target/ (ignored by git) for it, else in /tmp; both are on the same disk here.
    wparent = os.path.join(REPO, "target") if systemd else "/tmp"
    os.makedirs(wparent, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="berthbench.", dir=wparent)
    tag = f"berthbench-{os.getpid()}"
    children = []
    interrupted = [False]

    def on_signal(signum, _frame):
        interrupted[0] = True
        for c in children:
            if c.poll() is None:
                try:
                    c.send_signal(signum)
                except ProcessLookupError:
                    pass

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    results = {}
    try:
        # A snapshot of the binary: others may rebuild target/release while this runs.
        os.makedirs(os.path.join(workdir, "bin"))
        berth = os.path.join(workdir, "bin", "berth")
        shutil.copy2(berth_src, berth)
        subprocess.run(["sh", ROOTFS_SH, os.path.join(workdir, "rootfs")], check=True, timeout=120)
        base = os.path.join(workdir, "spec")
        os.makedirs(base)
        spec_bin = SYSTEM_RUNTIMES["runc"] if os.path.exists(SYSTEM_RUNTIMES["runc"]) else berth
        subprocess.run([spec_bin, "spec"], cwd=base, check=True, timeout=30)
        shutil.copy(os.path.join(base, "config.json"), os.path.join(workdir, "base-config.json"))

        meta = {
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join([os.path.relpath(sys.argv[0], os.getcwd())] + sys.argv[1:]),
            "kernel": platform.release(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "berth": {"path": berth_src, "sha256": sha256(berth),
                      "mtime": datetime.datetime.fromtimestamp(os.path.getmtime(berth_src)).isoformat(timespec="seconds"),
                      "version": sh([berth, "--version"]).replace("\n", "; "),
                      "git": sh(["git", "-C", REPO, "describe", "--always", "--dirty"])},
            "runc": sh([SYSTEM_RUNTIMES["runc"], "--version"]).split("\n")[0],
            "crun": ("crun: not in the systemd host" if layouts == ["systemd"]
                     else sh([SYSTEM_RUNTIMES["crun"], "--version"]).split("\n")[0]),
            "loadavg_start": open("/proc/loadavg").read().strip(),
            "trials": args.trials,
            "teardown_trials": args.teardown_trials,
            "create_trials": args.create_trials,
            "n": args.n,
            "mem_trials": args.mem_trials,
            "scaling_n": [] if args.no_scaling else args.scaling_n,
            "scaling_trials": args.scaling_trials,
        }
        log(f"workdir {workdir}; berth {meta['berth']['version']} ({meta['berth']['git']}); "
            f"load {meta['loadavg_start']}")
        for layout in layouts:
            if interrupted[0]:
                break
            raw = os.path.join(workdir, f"{layout}.json")
            cmd = [ENTRY, "--worker", layout, "--workdir", workdir, "--raw", raw, "--tag", tag,
                   "--berth", berth, "--trials", str(args.trials), "--create-trials", str(args.create_trials),
                   "--teardown-trials", str(args.teardown_trials),
                   "--n", ",".join(map(str, args.n)),
                   "--call-timeout", str(args.call_timeout), "--ready-timeout", str(args.ready_timeout),
                   "--mem-trials", str(args.mem_trials), "--scaling-trials", str(args.scaling_trials),
                   "--scaling-n", ",".join(map(str, args.scaling_n))]
            if args.no_scaling:
                cmd.append("--no-scaling")
            if args.runtimes:
                cmd += ["--runtimes", args.runtimes]
            if args.no_noall:
                cmd.append("--no-noall")
            if layout == "systemd":
                cmd = systemd_layout.worker_argv(cmd)
            else:
                cmd = [CGROUP_VIEW, layout, "--", sys.executable, *cmd]
            log(f"layout {layout}: {' '.join(cmd[:5])} ...")
            cpu0, ru0 = machine_cpu(), resource.getrusage(resource.RUSAGE_CHILDREN)
            c = subprocess.Popen(cmd)
            children.append(c)
            try:
                c.wait(timeout=args.worker_timeout)
            except subprocess.TimeoutExpired:
                log(f"layout {layout}: worker over {args.worker_timeout}s, stopping it")
                c.send_signal(signal.SIGTERM)
                try:
                    c.wait(timeout=180)
                except subprocess.TimeoutExpired:
                    c.kill()
                    c.wait()
            cpu1, ru1 = machine_cpu(), resource.getrusage(resource.RUSAGE_CHILDREN)
            ours = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
            busy, total = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
            if os.path.exists(raw):
                with open(raw) as f:
                    results[layout] = json.load(f)
                if results[layout].get("cpu_s") is not None:  # a worker that is not our child
                    ours = results[layout]["cpu_s"]
                results[layout]["cpu"] = {
                    "machine_busy_pct": round(100 * busy / total, 1) if total else None,
                    "bench_pct": round(100 * ours / total, 1) if total else None,
                    "others_pct": round(100 * max(0.0, busy - ours) / total, 1) if total else None,
                }
            else:
                results[layout] = {"layout": layout, "failures": [
                    {"phase": "worker", "runtime": "-", "what": f"worker exited {c.returncode} without results"}]}
        meta["loadavg_end"] = open("/proc/loadavg").read().strip()
    finally:
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        for c in children:
            if c.poll() is None:
                c.send_signal(signal.SIGTERM)
                try:
                    c.wait(timeout=180)
                except subprocess.TimeoutExpired:
                    c.kill()
        # Whatever a killed worker left in the kernel's cgroups (visible from here too), or in
        # the systemd host (its scope units).
        left = sweep_cgroups(tag + "-")
        if systemd:
            left += systemd_layout.driver_cleanup(f"{tag}-systemd")
        if left:
            log(f"swept leftovers: {left}")
        if args.keep_workdir:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if not results:
        return 1
    if left:
        results.setdefault("_driver", {})["swept"] = left
    data = {"meta": meta, "layouts": results}
    if interrupted[0]:
        meta["interrupted"] = True
    with open(os.path.join(out_dir, f"raw{out_suffix(data)}.json"), "w") as f:
        json.dump(data, f, indent=1)
    write_outputs(data, out_dir)
    return 130 if interrupted[0] else 0


def out_suffix(data):
    """"-systemd" for a run of the systemd layout alone: its results (RESULTS-systemd.md,
    raw-systemd.json, *-systemd.svg) live beside those of `--layout all` instead of replacing
    them; "" otherwise."""
    names = [k for k in data.get("layouts", {}) if not k.startswith("_")]
    return "-systemd" if names == ["systemd"] else ""


def write_outputs(data, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    report = make_report(data)
    sfx = out_suffix(data)
    names = [f"RESULTS{sfx}.md", f"lifecycle{sfx}.svg", f"teardown{sfx}.svg", f"teardown-delete{sfx}.svg"]
    for name, text in zip(names, (report, svg_lifecycle(data), svg_teardown(data, "kill"),
                                  svg_teardown(data, "delete"))):
        with open(os.path.join(out_dir, name), "w") as f:
            f.write(text)
    print(report)
    log(f"wrote {out_dir}/{', '.join(names[:1] + [f'raw{sfx}.json'] + names[1:])}")
