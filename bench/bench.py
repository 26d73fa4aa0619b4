#!/usr/bin/env python3
"""Benchmark harness for berth against runc and crun (Python 3.11 standard library only).

    python3 bench/bench.py [--trials 20] [--teardown-trials 5] [--layout native|v2|legacy|all|systemd]
                           [--out bench/results] [--runtimes berth,runc,crun] [--n 0,10,100,1000]
                           [--mem-trials 5] [--no-scaling] [--scaling-n 1,10,100] [--scaling-trials 5]

It times the runtimes as whole processes, the way callers (containerd's shim, podman, people at a
shell) use them: fork/exec of the runtime binary up to the moment its process has exited.

What it measures, per cgroup layout (native = this machine's hybrid v1 layout, v2 = cgroup v2
alone, legacy = cgroup v1 alone; every layout runs in a worker re-executed under
scripts/cgroup-view, and crun only runs in legacy, the one layout here that it accepts; `--layout
all` runs these three):

1. Lifecycle latency of a one-process container (`sleep 1000`, terminal false, private PID
   namespace): `create`, `start`, `kill ID KILL`, `delete`, their sum; `run -d`; `delete -f` of a
   running container. Trial i runs the runtimes in an order rotated by i, so that drift of the
   machine hits all of them alike.
1b. `create` by the state of the kernel's cgroup-attach lock: the first cgroup attach after a
   quiet spell waits for an RCU grace period, so the lifecycle's `create` depends on what ran
   just before it. Here each runtime's `create` is timed after QUIET_S of idleness ("quiet")
   and right after the harness attached itself to its own cgroup ("warm"), --create-trials
   times each, with "berth-late" (berth with BERTH_NO_EARLY_ATTACH=1) beside berth.
2. Teardown against the number of processes: N extra `sleep`s (N = 0, 10, 100, 1000) in a
   private and in a host PID namespace. Once N+1 processes are in the container's cgroup, the
   harness opens a pidfd on each, then runs `kill ID KILL` (host pidns: `kill --all ID KILL` for
   every runtime, as containerd's shim does; berth is additionally run without `--all` as
   "berth-noall", because its contract kills the whole cgroup anyway) and records (a) when the
   command returned, (b) when every pidfd was readable and (c) how many processes were still
   alive when the command returned ("stale"). Then `delete -f` (timed) and a check that no
   cgroup, process or state is left. The same is done with `delete -f` on the running container
   instead of `kill`.
3. The kernel floor: the harness forks N+1 `sleep`s itself, SIGKILLs each through its pidfd and
   waits until every pidfd is readable. And the floor for the containers' own processes, which
   die slower than the harness's forks: in a container made by berth, the harness SIGKILLs the
   N+1 processes itself through the pidfds it holds ("floor, these processes"), no runtime
   involved, then cleans up with `delete -f`.
4. Peak memory of one invocation: `create`, `start`, `state`, `kill KILL`, `delete` of a
   `sleep 1000` container, each run under GNU time (/usr/bin/time -f %M), which wait4()s the
   runtime as its direct child and reports ru_maxrss (KiB). Not the harness's own wait4: Linux
   carries a parent's RSS high-water mark into its forked/vforked children across exec, so any
   child of this Python process reports at least the worker's RSS (see GNU_TIME). Interleaved
   like the lifecycle; --mem-trials 0 skips it.
5. state / list / ps against the number of containers: K = 1, 10, 100 running `sleep 1000`
   containers (private PID namespace) per runtime, all runtimes' containers at once; per K each
   runtime gets --scaling-trials rotated rounds of `list`, `list --format json`, `state ID` and
   `ps --format json ID`; the report fits ms per listed container. All removed with `delete -f`
   and checked afterwards. --no-scaling skips it.
6. A report: medians, p90s and ratios on stdout and in RESULTS.md, raw samples in raw.json,
   hand-written SVG charts (lifecycle.svg, teardown.svg, teardown-delete.svg).

Layout systemd (on demand, alone; bench/berthbench/systemd_layout.py): the worker runs inside the systemd host
of scripts/systemd-host, berth and runc with `--systemd-cgroup` and cgroupsPath
`system.slice:bench:NAME`; sections 1 and 2-3 only (N = 0, 1000 by default), plus, right when each
kill/delete returns, whether the container's scope unit was still active/deactivating and its
cgroup directory still there. Its results go to RESULTS-systemd.md, raw-systemd.json and
*-systemd.svg beside the others.

It is a benchmark, never a test: timings never fail it. Every runtime call is bounded (killed
after --call-timeout seconds and recorded as a failure), every wait is bounded, and containers,
cgroups and processes are cleaned up on every exit path (try/finally and signal handlers).
"""

import os
import sys

sys.dont_write_bytecode = True  # no bench/__pycache__ in the work tree
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)  # the package bench/berthbench, next to this file

from berthbench import cli  # noqa: E402  (after the sys.path setup above)

if __name__ == "__main__":
    sys.exit(cli.main(doc=__doc__))
