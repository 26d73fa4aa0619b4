"""Paths, constants and small helpers shared by every part of the harness: where the repository,
its scripts and the entry point (bench/bench.py) are, the system runtimes, the metric lists of
the report, the clock, the log line, the Interrupted exception and the rotation of trial orders.
"""

import os
import sys
import time

# bench/, the directory of the entry point bench.py (this file is bench/berthbench/common.py).
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The entry point: the driver re-executes it as each layout's worker.
ENTRY = os.path.join(HERE, "bench.py")
REPO = os.path.dirname(HERE)
CGROUP_VIEW = os.path.join(REPO, "scripts", "cgroup-view")
ROOTFS_SH = os.path.join(REPO, "scripts", "rootfs.sh")
DEFAULT_BERTH = os.path.join(REPO, "target", "release", "berth")
SYSTEM_RUNTIMES = {"runc": "/usr/sbin/runc", "crun": "/usr/bin/crun"}
# GNU time: wait4()s the runtime as its own direct child and prints ru_maxrss (KiB). The harness
# cannot use the rusage of its own children: Linux carries the parent's RSS high-water mark into a
# forked (or vforked) child and keeps it across exec, so every child of the Python worker reports
# at least the worker's own RSS. GNU time forks from a ~1-2 MB process, which is the floor left.
GNU_TIME = "/usr/bin/time"
# Idle time before a "quiet" create: several RCU grace periods, so that the kernel's cgroup
# attach lock is back in its idle state (see Worker.create_state_one).
QUIET_S = 0.2
MEM_COMMANDS = ("create", "start", "state", "kill", "delete")
SCALING_METRICS = [
    ("list", "list"),
    ("list_json", "list --format json"),
    ("state", "state ID"),
    ("ps_json", "ps --format json ID"),
]
LAYOUTS = ("native", "v2", "legacy")  # what --layout all runs: this machine, under cgroup-view
# systemd: inside the shared systemd host of scripts/systemd-host, on demand (bench/berthbench/systemd_layout.py)
WORKER_LAYOUTS = LAYOUTS + ("systemd",)
DEFAULT_N = [0, 10, 100, 1000]
LIFECYCLE_METRICS = [
    ("create", "create"),
    ("start", "start"),
    ("kill", "kill KILL (returns)"),
    ("delete", "delete (after init exited)"),
    ("sum", "create+start+kill+delete"),
    ("kill_exit", "kill KILL until init exited"),
    ("cycle", "create+start+(kill & wait exit)+delete"),
    ("run_d", "run -d"),
    ("delete_f", "delete -f (running, 1 process)"),
    ("run_d+delete_f", "run -d + delete -f"),
]


def clock():
    return time.perf_counter()


def ms(seconds):
    return round(seconds * 1000.0, 4)


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Interrupted(BaseException):
    """Raised from a signal handler: unwinds to the cleanup code."""


def rotate(xs, i):
    xs = list(xs)
    if not xs:
        return xs
    k = i % len(xs)
    return xs[k:] + xs[:k]
