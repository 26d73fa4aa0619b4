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

Layout systemd (on demand, alone; bench/systemd_layout.py): the worker runs inside the systemd host
of scripts/systemd-host, berth and runc with `--systemd-cgroup` and cgroupsPath
`system.slice:bench:NAME`; sections 1 and 2-3 only (N = 0, 1000 by default), plus, right when each
kill/delete returns, whether the container's scope unit was still active/deactivating and its
cgroup directory still there. Its results go to RESULTS-systemd.md, raw-systemd.json and
*-systemd.svg beside the others.

It is a benchmark, never a test: timings never fail it. Every runtime call is bounded (killed
after --call-timeout seconds and recorded as a failure), every wait is bounded, and containers,
cgroups and processes are cleaned up on every exit path (try/finally and signal handlers).
"""

import argparse
import ctypes
import datetime
import hashlib
import json
import math
import os
import platform
import re
import resource
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no bench/__pycache__ in the work tree
import systemd_layout  # noqa: E402  (bench/, next to this file)

HERE = os.path.dirname(os.path.abspath(__file__))
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
# systemd: inside the shared systemd host of scripts/systemd-host, on demand (bench/systemd_layout.py)
WORKER_LAYOUTS = LAYOUTS + ("systemd",)
DEFAULT_N = [0, 10, 100, 1000]
# Which runtimes run in which layout by default. crun refuses the hybrid layout of this machine
# and is not installed in the systemd host.
LAYOUT_RUNTIMES = {
    "native": ("berth", "runc"),
    "v2": ("berth", "runc"),
    "legacy": ("berth", "runc", "crun"),
    "systemd": systemd_layout.RUNTIMES,
}
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
SUBREAPER = 36  # PR_SET_CHILD_SUBREAPER


def clock():
    return time.perf_counter()


def ms(seconds):
    return round(seconds * 1000.0, 4)


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Interrupted(BaseException):
    """Raised from a signal handler: unwinds to the cleanup code."""


# --------------------------------------------------------------------------------------------
# cgroups
# --------------------------------------------------------------------------------------------


def cgroup_hierarchies():
    """(mount point, version, options) of every cgroup hierarchy mounted in this view, once."""
    out, seen = [], set()
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if not rfields or rfields[0] not in ("cgroup", "cgroup2"):
                continue
            mnt, root = fields[4], fields[3]
            if root != "/":
                continue
            version = 2 if rfields[0] == "cgroup2" else 1
            opts = ""
            if version == 1:
                keep = [o for o in rfields[2].split(",") if o not in ("rw", "ro")]
                opts = ",".join(sorted(keep))
            key = (version, opts)
            if key in seen:
                continue
            seen.add(key)
            out.append((mnt, version, opts))
    return out


def cg_dirs(cgpath, hierarchies=None):
    """Existing directories of cgroup path cgpath, in every hierarchy."""
    rel = cgpath.lstrip("/")
    dirs = []
    for mnt, _v, _o in hierarchies or cgroup_hierarchies():
        d = os.path.join(mnt, rel)
        if os.path.isdir(d):
            dirs.append(d)
    return dirs


def walk_deepest_first(top):
    out = []
    for dirpath, _dirs, _files in os.walk(top, topdown=False):
        out.append(dirpath)
    return out


def read_procs(d):
    pids = set()
    try:
        with open(os.path.join(d, "cgroup.procs")) as f:
            for line in f:
                line = line.strip()
                if line:
                    pids.add(int(line))
    except OSError:
        pass
    return pids


def cg_pids(dirs):
    pids = set()
    for top in dirs:
        for d in walk_deepest_first(top):
            pids |= read_procs(d)
    return pids


def primary_dir(cgpath, hierarchies):
    """The one directory readiness polls: v1 pids/freezer/memory if the container has one, else v2."""
    rel = cgpath.lstrip("/")
    order = []
    for want in ("pids", "freezer", "memory"):
        for mnt, v, opts in hierarchies:
            if v == 1 and want in opts.split(","):
                order.append(os.path.join(mnt, rel))
    for mnt, v, _o in hierarchies:
        if v == 2:
            order.append(os.path.join(mnt, rel))
    for mnt, _v, _o in hierarchies:
        order.append(os.path.join(mnt, rel))
    for d in order:
        if os.path.isdir(d):
            return d
    return None


def proc_gone(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state in ("Z", "X")
    except (OSError, IndexError):
        return True


def sweep_cgroups(prefix, deadline_s=10.0):
    """Kills every process in, and removes, every cgroup whose top directory starts with prefix
    ("PARENT/NAMEPREFIX": directories below PARENT instead of the hierarchy's root).

    Returns a list of what was found (for the failure report); empty when nothing was there.
    """
    found = []
    hier = cgroup_hierarchies()
    tops = []
    parent, _, prefix = prefix.strip("/").rpartition("/")
    for mnt, v, opts in hier:
        base = os.path.join(mnt, parent) if parent else mnt
        try:
            names = os.listdir(base)
        except OSError:
            continue
        for name in names:
            if name.startswith(prefix) and os.path.isdir(os.path.join(base, name)):
                tops.append((os.path.join(base, name), v, opts))
    if not tops:
        return found
    pids = set()
    for top, v, opts in tops:
        found.append(top)
        for d in walk_deepest_first(top):
            # Thaw, else frozen tasks cannot die (v1); v2: cgroup.kill does it all.
            if v == 1 and "freezer" in opts.split(","):
                try:
                    with open(os.path.join(d, "freezer.state"), "w") as f:
                        f.write("THAWED")
                except OSError:
                    pass
            if v == 2:
                for name, val in (("cgroup.freeze", "0"), ("cgroup.kill", "1")):
                    try:
                        with open(os.path.join(d, name), "w") as f:
                            f.write(val)
                    except OSError:
                        pass
            pids |= read_procs(d)
    end = clock() + deadline_s
    while True:
        for pid in list(pids):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        reap_orphans()
        pids = set(p for p in cg_pids([t for t, _v, _o in tops]) if not proc_gone(p))
        if not pids or clock() > end:
            break
        time.sleep(0.01)
    if pids:
        found.append(f"processes that would not die: {sorted(pids)[:20]}")
    for top, _v, _o in tops:
        for d in walk_deepest_first(top):
            while True:
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if clock() > end:
                        found.append(f"cannot remove {d}")
                        break
                    reap_orphans()
                    time.sleep(0.01)
    return found


def reap_orphans():
    """Reaps exited children (the harness is a subreaper, like containerd's shim)."""
    while True:
        try:
            pid, _st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


# --------------------------------------------------------------------------------------------
# statistics
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# the worker: runs every measurement in one cgroup layout
# --------------------------------------------------------------------------------------------


class Runtime:
    def __init__(self, name, binary, root, use_all_on_host=True, env=None, global_args=()):
        self.name = name
        self.binary = binary
        self.root = root
        self.use_all_on_host = use_all_on_host
        self.env = env  # extra environment variables, or None
        self.global_args = tuple(global_args)  # e.g. --systemd-cgroup

    def argv(self, *args):
        return [self.binary, "--root", self.root, *self.global_args, *args]


class CallResult:
    __slots__ = ("ok", "rc", "ms", "msg", "timed_out", "stale", "gone_ms", "alive_after", "maxrss",
                 "at_return")

    def __init__(self):
        self.ok = False
        self.rc = None
        self.ms = None
        self.msg = ""
        self.timed_out = False
        self.stale = None  # watched processes still alive when the command returned
        self.gone_ms = None  # from the command's start until every watched process had exited
        self.alive_after = 0  # watched processes still alive at the end of the bounded wait
        self.maxrss = None  # KiB, the runtime's ru_maxrss (only for call(..., mem=True))
        self.at_return = None  # what call(..., at_return=f) got from f() right at the return


class Worker:
    def __init__(self, args):
        self.args = args
        self.layout = args.worker
        self.workdir = os.path.join(args.workdir, self.layout)
        self.tag = f"{args.tag}-{self.layout}"
        self.rootfs = os.path.join(args.workdir, "rootfs")
        self.base_config = json.load(open(os.path.join(args.workdir, "base-config.json")))
        self.hier = cgroup_hierarchies()
        # The systemd layout's own parts (scope units, the D-Bus probe), else None.
        self.systemd = systemd_layout.Layout(self.tag, self.hier) if self.layout == "systemd" else None
        self.seq = 0
        self.active = set()  # running runtime processes (Popen)
        self.containers = {}  # (runtime name, id) -> (Runtime, cgroup path)
        self.floor_children = set()
        self.own_procs = None  # the harness's own cgroup.procs, for attach_self
        self.interrupted = False
        self.res = {
            "layout": self.layout,
            "hierarchies": [f"{m} (v{v}{' ' + o if o else ''})" for m, v, o in self.hier],
            "runtimes": [],
            "skipped": {},
            "lifecycle": {},
            "create_state": {},
            "teardown": {"private": {}, "host": {}},
            "floor": {},
            "floor_ct": {"private": {}, "host": {}},
            "memory": {},
            "memory_floor": [],
            "scaling": {},
            "failures": [],
            "interrupted": False,
            "elapsed_s": None,
        }

    # ---- bookkeeping -------------------------------------------------------------------

    def fail(self, phase, rt, what, **kw):
        entry = {"phase": phase, "runtime": rt, "what": what, **kw}
        self.res["failures"].append(entry)
        log(f"FAILURE {self.layout} {phase} {rt}: {what}"
            + (" " + json.dumps(kw, default=str) if kw else ""))

    def sample(self, table, key, value):
        table.setdefault(key, []).append(value)

    def new_id(self, kind):
        self.seq += 1
        return f"{kind}{self.seq}"

    def cgname(self, rt, cid):
        """Unique per container and run: the cgroup's name (cgroupfs) or the scope's (systemd)."""
        return f"{self.tag}-{rt.name}-{cid}"

    def cgpath(self, rt, cid):
        """The container's cgroup, relative to each hierarchy's root."""
        if self.systemd:
            return self.systemd.cgroup(self.cgname(rt, cid))
        return f"/{self.cgname(rt, cid)}"

    def at_return(self, rt, cid):
        """For call(..., at_return=): the systemd layout's probe of unit and cgroup, else None."""
        if not self.systemd:
            return None
        name = self.cgname(rt, cid)
        self.systemd.watch(name)  # before the command, outside its timing
        return lambda: self.systemd.at_return(name)

    def note_return(self, table, key, r):
        if r.at_return is not None:
            self.sample(table, f"{key}_at_return", r.at_return)

    # ---- bundles -----------------------------------------------------------------------

    def bundle(self, rt, cid, args, host_pidns=False):
        d = os.path.join(self.workdir, "bundles", f"{rt.name}-{cid}")
        os.makedirs(d, exist_ok=True)
        c = json.loads(json.dumps(self.base_config))
        c["process"]["terminal"] = False
        c["process"]["args"] = args
        c["root"] = {"path": self.rootfs, "readonly": True}
        c["hostname"] = "bench"
        c["linux"]["cgroupsPath"] = (self.systemd.cgroups_path(self.cgname(rt, cid)) if self.systemd
                                     else self.cgpath(rt, cid))
        if host_pidns:
            c["linux"]["namespaces"] = [n for n in c["linux"]["namespaces"] if n["type"] != "pid"]
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(c, f, indent=1)
        return d

    # ---- running a runtime -------------------------------------------------------------

    def call(self, rt, args, watch=(), timeout=None, gone_timeout=None, mem=False, at_return=None):
        """Runs the runtime, times it from fork to exit (observed through a pidfd), and
        watches the given pidfds: how many are still alive when the command returns, and when
        the last one has exited (bounded by gone_timeout from the start). at_return, if given,
        is called the moment the exit is seen (before waiting for the watched processes); its
        result is r.at_return.

        mem=True runs it under GNU time (see GNU_TIME) and sets r.maxrss (KiB); the time then
        includes GNU time's own fork/exec and is not reported."""
        timeout = timeout or self.args.call_timeout
        gone_timeout = gone_timeout or self.args.call_timeout
        r = CallResult()
        out = tempfile.TemporaryFile(dir=self.workdir)
        argv = rt.argv(*args)
        memfile = None
        if mem:
            mfd, memfile = tempfile.mkstemp(dir=self.workdir, prefix="rss.")
            os.close(mfd)
            argv = [GNU_TIME, "-f", "%M", "-o", memfile] + argv
        alive = set(watch)
        ep = select.epoll()
        t0 = clock()
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                 start_new_session=True, close_fds=True,
                                 env={**os.environ, **rt.env} if rt.env else None)
        except OSError as e:
            out.close()
            ep.close()
            if memfile:
                os.unlink(memfile)
            r.msg = f"cannot run {argv[0]}: {e}"
            return r
        self.active.add(p)
        kfd = None
        try:
            kfd = os.pidfd_open(p.pid)
            ep.register(kfd, select.EPOLLIN)
            for fd in alive:
                ep.register(fd, select.EPOLLIN)
            t_ret = None
            if not alive:
                r.gone_ms = 0.0
            while t_ret is None or alive:
                limit = t0 + (timeout if t_ret is None else gone_timeout)
                now = clock()
                if now >= limit:
                    break
                events = ep.poll(limit - now, len(alive) + 1)
                now = clock()
                for fd, _ev in events:
                    ep.unregister(fd)
                    if fd == kfd:
                        t_ret = now
                    else:
                        alive.discard(fd)
                if t_ret is not None and r.stale is None:
                    r.stale = len(alive)
                    r.ms = ms(t_ret - t0)
                    if at_return:
                        r.at_return = at_return()
                if not alive and r.gone_ms is None:
                    r.gone_ms = ms(now - t0)
            if t_ret is None:
                r.timed_out = True
                r.stale = len(alive)
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                r.rc = p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                r.rc = None
            r.alive_after = len(alive)
        finally:
            if p.returncode is not None:
                self.active.discard(p)
            if kfd is not None:
                os.close(kfd)
            ep.close()
        out.seek(0)
        r.msg = out.read().decode(errors="replace").strip()
        out.close()
        if memfile:
            try:
                with open(memfile) as f:
                    lines = [x.strip() for x in f.read().splitlines() if x.strip()]
                r.maxrss = int(lines[-1])
            except (OSError, ValueError, IndexError):
                r.maxrss = None
            try:
                os.unlink(memfile)
            except OSError:
                pass
        r.ok = (not r.timed_out) and r.rc == 0
        if r.timed_out:
            r.msg = f"timed out after {timeout:.0f}s and was killed; output: {r.msg}"
        return r

    @staticmethod
    def one_line(msg, limit=300):
        msg = " | ".join(x for x in msg.splitlines() if x.strip())
        return msg[:limit]

    def read_pid(self, path, rt, cid):
        for _ in range(50):
            try:
                with open(path) as f:
                    txt = f.read().strip()
                if txt:
                    return int(txt)
            except (OSError, ValueError):
                pass
            time.sleep(0.002)
        r = self.call(rt, ["state", cid], timeout=10)
        try:
            return int(json.loads(r.msg)["pid"])
        except (ValueError, KeyError, TypeError):
            return None

    def remove_container(self, rt, cid, reason=None):
        """Forced cleanup of one container: delete -f, then sweep its cgroups."""
        key = (rt.name, cid)
        if key not in self.containers:
            return []
        _rt, cgp = self.containers[key]
        problems = []
        r = self.call(rt, ["delete", "-f", cid], timeout=15)
        if not r.ok:
            problems.append(f"delete -f during cleanup: {self.one_line(r.msg)}")
        if self.systemd:
            units = self.systemd.stop_unit_of(cgp)
            if units:
                problems.append(f"stopped: {units}")
        left = sweep_cgroups(cgp.lstrip("/"))
        if left:
            problems.append(f"swept: {left}")
        shutil.rmtree(os.path.join(rt.root, cid), ignore_errors=True)
        del self.containers[key]
        reap_orphans()
        return problems

    def verify_gone(self, rt, cid, fds):
        """After a successful delete: what of the container is still there."""
        problems = []
        cgp = self.containers[(rt.name, cid)][1]
        if self.systemd:  # give systemd SETTLE_S to finish with the unit and its cgroup
            problems += self.systemd.settle(self.cgname(rt, cid))
        dirs = cg_dirs(cgp, self.hier)
        if dirs:
            pids = sorted(p for p in cg_pids(dirs) if not proc_gone(p))
            problems.append(f"cgroup dirs left: {dirs}" + (f" with live pids {pids[:10]}" if pids else ""))
        if fds:
            pl = select.poll()
            for fd in fds:
                pl.register(fd, select.POLLIN)
            ready = {fd for fd, _e in pl.poll(0)}
            alive = [fd for fd in fds if fd not in ready]
            if alive:
                problems.append(f"{len(alive)} processes still alive after delete")
        if os.path.exists(os.path.join(rt.root, cid)):
            problems.append(f"state dir {os.path.join(rt.root, cid)} left")
        return problems

    def finish(self, phase, rt, cid, fds, **kw):
        """Verify a deleted container; on leftovers record a failure and clean up by force."""
        problems = self.verify_gone(rt, cid, fds)
        if problems:
            self.fail(phase, rt.name, "leftovers after delete: " + "; ".join(problems), id=cid, **kw)
            self.remove_container(rt, cid)
        else:
            self.containers.pop((rt.name, cid), None)
        return not problems

    def abort(self, phase, rt, cid, what, r=None, **kw):
        detail = self.one_line(r.msg) if r is not None else ""
        self.fail(phase, rt.name, what + (f": {detail}" if detail else ""), id=cid, **kw)
        self.remove_container(rt, cid)

    # ---- probe ------------------------------------------------------------------------

    def probe(self, rt):
        """An untimed create/start/delete -f (and a warm-up of the page cache)."""
        cid = self.new_id("probe")
        b = self.bundle(rt, cid, ["sleep", "1000"])
        self.containers[(rt.name, cid)] = (rt, self.cgpath(rt, cid))
        r = self.call(rt, ["create", "--bundle", b, cid])
        if r.ok:
            r = self.call(rt, ["start", cid])
        if r.ok:
            r = self.call(rt, ["delete", "-f", cid])
        problems = []
        if r.ok:
            problems = self.verify_gone(rt, cid, [])
        self.remove_container(rt, cid)
        if not r.ok:
            return self.one_line(r.msg) or f"exit status {r.rc}"
        if problems:
            return "; ".join(problems)
        return None

    # ---- 1. lifecycle -----------------------------------------------------------------

    def lifecycle_one(self, rt):
        table = self.res["lifecycle"].setdefault(rt.name, {})
        ph = "lifecycle"
        # create / start / kill / delete
        cid = self.new_id("lc")
        b = self.bundle(rt, cid, ["sleep", "1000"])
        pidfile = os.path.join(b, "pid")
        self.containers[(rt.name, cid)] = (rt, self.cgpath(rt, cid))
        r = self.call(rt, ["create", "--bundle", b, "--pid-file", pidfile, cid])
        if not r.ok:
            return self.abort(ph, rt, cid, "create failed", r)
        t_create = r.ms
        pid = self.read_pid(pidfile, rt, cid)
        if pid is None:
            return self.abort(ph, rt, cid, "no init pid after create")
        fd = os.pidfd_open(pid)
        try:
            r = self.call(rt, ["start", cid])
            if not r.ok:
                return self.abort(ph, rt, cid, "start failed", r)
            t_start = r.ms
            r = self.call(rt, ["kill", cid, "KILL"], watch=[fd], gone_timeout=10,
                          at_return=self.at_return(rt, cid))
            if not r.ok:
                return self.abort(ph, rt, cid, "kill failed", r)
            t_kill = r.ms
            self.sample(table, "kill_stale", r.stale)
            self.note_return(table, "kill", r)
            if r.gone_ms is None:
                return self.abort(ph, rt, cid, "init still alive 10s after kill")
            t_kill_exit = max(r.gone_ms, r.ms)
            r = self.call(rt, ["delete", cid], at_return=self.at_return(rt, cid))
            if not r.ok:
                return self.abort(ph, rt, cid, "delete failed", r)
            t_delete = r.ms
            self.note_return(table, "delete", r)
            if not self.finish(ph, rt, cid, [fd]):
                return
        finally:
            os.close(fd)
        for k, v in (("create", t_create), ("start", t_start), ("kill", t_kill), ("delete", t_delete),
                     ("kill_exit", t_kill_exit)):
            self.sample(table, k, v)
        self.sample(table, "sum", round(t_create + t_start + t_kill + t_delete, 4))
        self.sample(table, "cycle", round(t_create + t_start + t_kill_exit + t_delete, 4))

        # run -d / delete -f
        cid = self.new_id("rd")
        b = self.bundle(rt, cid, ["sleep", "1000"])
        pidfile = os.path.join(b, "pid")
        self.containers[(rt.name, cid)] = (rt, self.cgpath(rt, cid))
        r = self.call(rt, ["run", "-d", "--bundle", b, "--pid-file", pidfile, cid])
        if not r.ok:
            return self.abort(ph, rt, cid, "run -d failed", r)
        t_run = r.ms
        pid = self.read_pid(pidfile, rt, cid)
        if pid is None:
            return self.abort(ph, rt, cid, "no init pid after run -d")
        fd = os.pidfd_open(pid)
        try:
            r = self.call(rt, ["delete", "-f", cid], watch=[fd], gone_timeout=10,
                          at_return=self.at_return(rt, cid))
            if not r.ok:
                return self.abort(ph, rt, cid, "delete -f failed", r)
            t_delf = r.ms
            self.sample(table, "delete_f_stale", r.stale)
            self.note_return(table, "delete_f", r)
            if not self.finish(ph, rt, cid, [fd]):
                return
        finally:
            os.close(fd)
        self.sample(table, "run_d", t_run)
        self.sample(table, "delete_f", t_delf)
        self.sample(table, "run_d+delete_f", round(t_run + t_delf, 4))

    # ---- 1b. create, by the state of the kernel's cgroup-attach lock ---------------------

    def attach_self(self):
        """A cgroup attach by the harness itself (it moves into the cgroup it is already in):
        the kernel's global cgroup_threadgroup_rwsem has just been taken for writing, so the
        next attach within a grace period does not wait for one."""
        if self.own_procs is None:
            me = str(os.getpid())
            with open("/proc/self/cgroup") as f:
                paths = [line.rstrip("\n").split(":", 2)[2] for line in f]
            for mnt, _v, _o in self.hier:
                for path in paths:
                    procs = os.path.join(mnt, path.lstrip("/"), "cgroup.procs")
                    try:
                        with open(procs) as f:
                            if me in f.read().split():
                                self.own_procs = procs
                                break
                    except OSError:
                        pass
                if self.own_procs:
                    break
            else:
                self.own_procs = ""
        if not self.own_procs:
            return False
        with open(self.own_procs, "w") as f:
            f.write("0")
        return True

    def create_state_one(self, rt, state):
        """`create` timed after QUIET_S of idleness (state "quiet": the first attach waits for an
        RCU grace period) or right after an attach of the harness's own ("warm")."""
        ph = f"create-{state}"
        table = self.res["create_state"].setdefault(rt.name, {})
        cid = self.new_id("cs")
        b = self.bundle(rt, cid, ["sleep", "1000"])
        self.containers[(rt.name, cid)] = (rt, self.cgpath(rt, cid))
        if state == "quiet":
            time.sleep(QUIET_S)
        elif not self.attach_self():
            return self.abort(ph, rt, cid, "the harness found no cgroup.procs of its own")
        r = self.call(rt, ["create", "--bundle", b, cid])
        if not r.ok:
            return self.abort(ph, rt, cid, "create failed", r)
        t = r.ms
        r = self.call(rt, ["delete", "-f", cid])
        if not r.ok:
            return self.abort(ph, rt, cid, "delete -f failed", r)
        if self.finish(ph, rt, cid, []):
            self.sample(table, state, t)

    # ---- 2. teardown ------------------------------------------------------------------

    def teardown_one(self, rt, n, pidns, mode):
        ph = f"teardown-{pidns}-{mode}"
        table = {} if mode == "direct" else \
            self.res["teardown"][pidns].setdefault(str(n), {}).setdefault(rt.name, {})
        host = pidns == "host"
        cid = self.new_id("td")
        script = (f"i=0; while [ $i -lt {n} ]; do sleep 1000 & i=$((i+1)); done; exec sleep 1000"
                  if n else "exec sleep 1000")
        b = self.bundle(rt, cid, ["sh", "-c", script], host_pidns=host)
        cgp = self.cgpath(rt, cid)
        self.containers[(rt.name, cid)] = (rt, cgp)
        r = self.call(rt, ["create", "--bundle", b, cid])
        if not r.ok:
            return self.abort(ph, rt, cid, "create failed", r, n=n)
        r = self.call(rt, ["start", cid])
        if not r.ok:
            return self.abort(ph, rt, cid, "start failed", r, n=n)
        # Readiness: N+1 processes in the cgroup, bounded.
        t0 = clock()
        want = n + 1
        count = 0
        pdir = None
        while clock() - t0 < self.args.ready_timeout:
            pdir = pdir or primary_dir(cgp, self.hier)
            if pdir:
                count = len(read_procs(pdir))
                if count >= want:
                    break
            time.sleep(0.01)
        if count < want:
            return self.abort(ph, rt, cid, f"not ready: {count} of {want} processes after "
                              f"{self.args.ready_timeout:.0f}s", n=n)
        self.sample(table, "ready", ms(clock() - t0))
        pids = cg_pids(cg_dirs(cgp, self.hier))
        if len(pids) != want:
            self.fail(ph, rt.name, f"{len(pids)} processes in the cgroups, expected {want}", id=cid, n=n)
        fds = []
        try:
            for pid in sorted(pids):
                try:
                    fds.append(os.pidfd_open(pid))
                except ProcessLookupError:
                    pass
            if mode == "direct":
                # The floor for these very processes: the harness SIGKILLs each through its own
                # pidfd, no runtime involved; the runtime's delete -f then cleans up, untimed.
                send, gone, alive = sigkill_all(fds, self.args.call_timeout)
                if alive:
                    return self.abort(ph, rt, cid, f"{alive} of {len(fds)} processes alive after SIGKILL",
                                      n=n)
                floor = self.res["floor_ct"][pidns].setdefault(str(n), {})
                self.sample(floor, "send", send)
                self.sample(floor, "gone", gone)
                r = self.call(rt, ["delete", "-f", cid], watch=fds)
                if not r.ok:
                    return self.abort(ph, rt, cid, "delete -f after the direct kill failed", r, n=n)
            elif mode == "kill":
                kargs = ["kill"] + (["--all"] if host and rt.use_all_on_host else []) + [cid, "KILL"]
                r = self.call(rt, kargs, watch=fds, at_return=self.at_return(rt, cid))
                if not r.ok:
                    return self.abort(ph, rt, cid, f"{' '.join(kargs[:2])} failed", r, n=n,
                                      stale=r.stale)
                self.sample(table, "kill", r.ms)
                self.sample(table, "stale", r.stale)
                self.note_return(table, "kill", r)
                if r.gone_ms is None:
                    return self.abort(ph, rt, cid, f"{r.alive_after} of {len(fds)} processes still "
                                      f"alive {self.args.call_timeout:.0f}s after kill", n=n)
                self.sample(table, "gone", r.gone_ms)
                if r.stale and rt.name.startswith("berth"):
                    self.fail(ph, rt.name, f"kill returned with {r.stale} of {len(fds)} processes "
                              "still alive (synchronous kill broken)", id=cid, n=n)
                r = self.call(rt, ["delete", "-f", cid], watch=fds, at_return=self.at_return(rt, cid))
                if not r.ok:
                    return self.abort(ph, rt, cid, "delete -f after kill failed", r, n=n)
                self.sample(table, "delete_after_kill", r.ms)
                self.note_return(table, "delete_after_kill", r)
            else:
                r = self.call(rt, ["delete", "-f", cid], watch=fds, at_return=self.at_return(rt, cid))
                if not r.ok:
                    return self.abort(ph, rt, cid, "delete -f failed", r, n=n, stale=r.stale)
                self.sample(table, "delete_f", r.ms)
                self.sample(table, "delete_f_stale", r.stale)
                self.note_return(table, "delete_f", r)
                if r.gone_ms is None:
                    return self.abort(ph, rt, cid, f"{r.alive_after} of {len(fds)} processes still "
                                      f"alive {self.args.call_timeout:.0f}s after delete -f", n=n)
                self.sample(table, "delete_f_gone", r.gone_ms)
                if r.stale and rt.name.startswith("berth"):
                    self.fail(ph, rt.name, f"delete -f returned with {r.stale} of {len(fds)} processes "
                              "still alive (synchronous delete broken)", id=cid, n=n)
            self.finish(ph, rt, cid, fds, n=n)
        finally:
            for fd in fds:
                os.close(fd)
            reap_orphans()

    # ---- 3. kernel floor --------------------------------------------------------------

    def floor_one(self, n):
        table = self.res["floor"].setdefault(str(n), {})
        busybox = os.path.join(self.rootfs, "bin", "busybox")
        pids, fds = [], []
        try:
            for _ in range(n + 1):
                pid = os.posix_spawn(busybox, [busybox, "sleep", "1000"], os.environ)
                pids.append(pid)
                self.floor_children.add(pid)
            # Every child has exec'd sleep (bounded), as in the containers.
            end = clock() + self.args.ready_timeout
            for pid in pids:
                while clock() < end:
                    try:
                        with open(f"/proc/{pid}/cmdline", "rb") as f:
                            if f.read().startswith(busybox.encode()):
                                break
                    except OSError:
                        break
                    time.sleep(0.001)
            fds = [os.pidfd_open(pid) for pid in pids]
            send, gone, alive = sigkill_all(fds, self.args.call_timeout)
            if alive:
                self.fail("floor", "floor", f"{alive} of {len(fds)} sleeps alive after SIGKILL", n=n)
            else:
                self.sample(table, "gone", gone)
                self.sample(table, "send", send)
        finally:
            for fd in fds:
                os.close(fd)
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    os.waitpid(pid, 0)
                except ChildProcessError:
                    pass
                self.floor_children.discard(pid)

    # ---- 4. peak memory of one invocation ---------------------------------------------

    def mem_one(self, rt):
        """create / start / state / kill KILL / delete, each under GNU time: its ru_maxrss."""
        table = self.res["memory"].setdefault(rt.name, {})
        ph = "memory"
        cid = self.new_id("mem")
        b = self.bundle(rt, cid, ["sleep", "1000"])
        pidfile = os.path.join(b, "pid")
        self.containers[(rt.name, cid)] = (rt, self.cgpath(rt, cid))
        got = {}
        r = self.call(rt, ["create", "--bundle", b, "--pid-file", pidfile, cid], mem=True)
        if not r.ok:
            return self.abort(ph, rt, cid, "create failed", r)
        got["create"] = r.maxrss
        pid = self.read_pid(pidfile, rt, cid)
        if pid is None:
            return self.abort(ph, rt, cid, "no init pid after create")
        fd = os.pidfd_open(pid)
        try:
            for cmd, args, kw in (("start", ["start", cid], {}),
                                  ("state", ["state", cid], {}),
                                  ("kill", ["kill", cid, "KILL"], {"watch": [fd], "gone_timeout": 10}),
                                  ("delete", ["delete", cid], {})):
                r = self.call(rt, args, mem=True, **kw)
                if not r.ok:
                    return self.abort(ph, rt, cid, f"{cmd} failed", r)
                if cmd == "kill" and r.gone_ms is None:
                    return self.abort(ph, rt, cid, "init still alive 10s after kill")
                got[cmd] = r.maxrss
            if not self.finish(ph, rt, cid, [fd]):
                return
        finally:
            os.close(fd)
        for cmd, kib in got.items():
            if kib is None:
                self.fail(ph, rt.name, f"no max RSS from {GNU_TIME} for {cmd}", id=cid)
            else:
                self.sample(table, cmd, kib)

    def mem_floor(self):
        """What GNU time reports for a static busybox `true`: the floor of the memory numbers."""
        busybox = os.path.join(self.rootfs, "bin", "busybox")
        mfd, memfile = tempfile.mkstemp(dir=self.workdir, prefix="rss.")
        os.close(mfd)
        try:
            subprocess.run([GNU_TIME, "-f", "%M", "-o", memfile, busybox, "true"], timeout=10,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with open(memfile) as f:
                self.res["memory_floor"].append(int(f.read().split()[-1]))
        except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
            pass
        finally:
            os.unlink(memfile)

    # ---- 5. state / list / ps against the number of containers ------------------------

    def scaling(self, rts):
        """With K containers (sleep 1000, private pidns) in each runtime's root, times list,
        list --format json, state ID and ps --format json ID. Containers of all runtimes exist
        at once; they are grown, measured and deleted interleaved."""
        ph = "scaling"
        owned = {rt.name: [] for rt in rts}
        broken = set()

        def add(rt):
            cid = self.new_id("sc")
            b = self.bundle(rt, cid, ["sleep", "1000"])
            self.containers[(rt.name, cid)] = (rt, self.cgpath(rt, cid))
            r = self.call(rt, ["create", "--bundle", b, cid])
            if r.ok:
                r = self.call(rt, ["start", cid])
            if not r.ok:
                self.abort(ph, rt, cid, "create/start failed", r, k=len(owned[rt.name]) + 1)
                broken.add(rt.name)
                return
            owned[rt.name].append(cid)

        started = clock()
        for k in sorted(set(x for x in self.args.scaling_n if x > 0)):
            step = 0
            while True:
                todo = [rt for rt in rts if rt.name not in broken and len(owned[rt.name]) < k]
                if not todo:
                    break
                for rt in rotate(todo, step):
                    add(rt)
                step += 1
            reap_orphans()
            live = [rt for rt in rts if rt.name not in broken]
            for i in range(self.args.scaling_trials):
                for rt in rotate(live, i):
                    ids = owned[rt.name]
                    table = self.res["scaling"].setdefault(rt.name, {}).setdefault(str(k), {})
                    for key, args in (("list", ["list"]), ("list_json", ["list", "--format", "json"]),
                                      ("state", ["state", ids[0]]),
                                      ("ps_json", ["ps", "--format", "json", ids[0]])):
                        r = self.call(rt, args)
                        if not r.ok:
                            self.fail(ph, rt.name, f"{' '.join(args[:3])} failed: {self.one_line(r.msg)}", k=k)
                            continue
                        self.sample(table, key, r.ms)
                        if i == 0:
                            self.scaling_check(rt, key, r.msg, k, ids)
            log(f"{self.layout}: scaling K={k} done")
        # Clean up, interleaved; remove_container (delete -f, sweep) on anything that fails.
        step = 0
        while any(owned.values()):
            for rt in rotate([rt for rt in rts if owned[rt.name]], step):
                cid = owned[rt.name].pop()
                r = self.call(rt, ["delete", "-f", cid], timeout=15)
                if not r.ok:
                    self.abort(ph, rt, cid, "delete -f failed", r)
                else:
                    self.finish(ph, rt, cid, [])
            step += 1
        reap_orphans()
        self.res["scaling_elapsed_s"] = round(clock() - started, 1)

    def scaling_check(self, rt, key, out, k, ids):
        """Once per runtime and K: does the output list what is there?"""
        try:
            if key == "list":
                rows = [x for x in out.splitlines()[1:] if x.strip()]
                n = len(rows)
            elif key == "list_json":
                n = len(json.loads(out or "[]") or [])
            elif key == "state":
                st = json.loads(out).get("status")
                if st != "running":
                    self.fail("scaling", rt.name, f"state says {st!r}, expected 'running'", k=k)
                return
            else:
                pids = json.loads(out or "[]") or []
                if len(pids) != 1:
                    self.fail("scaling", rt.name, f"ps --format json listed {len(pids)} pids, expected 1", k=k)
                return
        except (ValueError, AttributeError, TypeError) as e:
            self.fail("scaling", rt.name, f"cannot parse {key} output: {e}: {self.one_line(out, 120)}", k=k)
            return
        if n != len(ids):
            self.fail("scaling", rt.name, f"{key} listed {n} containers, expected {len(ids)}", k=k)

    # ---- the run ----------------------------------------------------------------------

    def runtimes(self):
        wanted = [x for x in self.args.runtimes.split(",") if x] if self.args.runtimes else None
        names = wanted or list(LAYOUT_RUNTIMES[self.layout])
        if wanted is None and self.layout == "legacy" and not os.path.exists(SYSTEM_RUNTIMES["crun"]):
            names = [x for x in names if x != "crun"]
        rts = []
        for name in names:
            if name == "berth":
                binary = self.args.berth
            elif name in SYSTEM_RUNTIMES:
                binary = SYSTEM_RUNTIMES[name]
            else:
                self.res["skipped"][name] = "unknown runtime"
                continue
            if not os.access(binary, os.X_OK):
                self.res["skipped"][name] = f"{binary} not found"
                continue
            rts.append(Runtime(name, binary, os.path.join(self.workdir, "state", name),
                               global_args=systemd_layout.GLOBAL_ARGS if self.systemd else ()))
        return rts

    def state_on_tmpfs(self):
        """Every runtime's `--root` on a tmpfs, as /run is on real hosts (/run/runc, /run/crun,
        /run/berth): on this machine's ext4 (mounted with `discard`) each truncated or replaced
        state file waits for a synchronous discard, which no deployment pays. Returns whether
        the tmpfs is mounted (the worker runs in a private mount namespace of its own)."""
        state = os.path.join(self.workdir, "state")
        os.makedirs(state, exist_ok=True)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0700", "berthbench-state", state],
                           capture_output=True, text=True)
        if r.returncode != 0:
            log(f"state roots stay on {state}'s filesystem: {r.stderr.strip()}")
            return False
        self.state_mount = state
        return True

    def readonly_install(self, binary):
        """A copy of berth on a read-only bind mount, as a package on a read-only /usr installs
        it: berth then runs as it is, protected by the mount, where from a writable binary it
        re-executes itself from a read-only view first (src/exe.rs). Returns the copy's path, or
        None if the mount cannot be made (the worker runs in a private mount namespace)."""
        d = os.path.join(self.workdir, "ro-bin")
        os.makedirs(d, exist_ok=True)
        path = os.path.join(d, "berth")
        shutil.copy2(binary, path)
        for cmd in (["mount", "--bind", d, d], ["mount", "-o", "remount,bind,ro", d]):
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                log(f"no read-only berth: {' '.join(cmd)}: {r.stderr.strip()}")
                subprocess.run(["umount", "-l", d], capture_output=True)
                return None
        self.ro_mount = d
        return path

    def run(self):
        os.makedirs(self.workdir, exist_ok=True)
        self.res["state_on_tmpfs"] = self.state_on_tmpfs()
        started = clock()
        if self.systemd:
            self.res["versions"] = systemd_layout.versions()
            self.res["host"] = {"start": systemd_layout.host_info()}
        rts = []
        for rt in self.runtimes():
            err = self.probe(rt)
            if err:
                self.res["skipped"][rt.name] = f"probe failed: {err}"
                log(f"{self.layout}: skipping {rt.name}: {err}")
            else:
                rts.append(rt)
        self.res["runtimes"] = [rt.name for rt in rts]
        log(f"{self.layout}: runtimes {', '.join(self.res['runtimes']) or 'none'}; "
            f"cgroups: {'; '.join(self.res['hierarchies'])}")

        # 1. lifecycle, interleaved
        for i in range(self.args.trials):
            for rt in rotate(rts, i):
                self.lifecycle_one(rt)
            reap_orphans()
        log(f"{self.layout}: lifecycle done ({self.args.trials} trials)")

        # 1b. create from a quiet machine and right after another attach; berth-late is berth
        # without its early attach (BERTH_NO_EARLY_ATTACH=1), to show what that buys; berth-ro
        # is berth installed on a read-only mount, which it runs without re-executing itself
        berth = next((rt for rt in rts if rt.name == "berth"), None)
        if self.args.create_trials:
            crts = list(rts)
            if berth:
                crts.append(Runtime("berth-late", berth.binary, os.path.join(self.workdir, "state", "berth-late"),
                                    env={"BERTH_NO_EARLY_ATTACH": "1"}, global_args=berth.global_args))
            ro = self.readonly_install(berth.binary) if berth and not self.systemd else None
            if ro:
                crts.append(Runtime("berth-ro", ro, os.path.join(self.workdir, "state", "berth-ro"),
                                    global_args=berth.global_args))
            for i in range(self.args.create_trials):
                for state in ("quiet", "warm"):
                    for rt in rotate(crts, i):
                        self.create_state_one(rt, state)
                reap_orphans()
            log(f"{self.layout}: create by attach state done ({self.args.create_trials} trials)")

        # 4. peak memory, interleaved
        if self.args.mem_trials and not os.access(GNU_TIME, os.X_OK):
            self.res["skipped"]["memory"] = f"{GNU_TIME} not found (apt-get install time)"
        elif self.args.mem_trials:
            for i in range(self.args.mem_trials):
                self.mem_floor()
                for rt in rotate(rts, i):
                    self.mem_one(rt)
                reap_orphans()
            log(f"{self.layout}: memory done ({self.args.mem_trials} trials)")

        # 2 + 3. teardown against N, interleaved with the kernel floor
        noall = None
        if berth and not self.args.no_noall:
            noall = Runtime("berth-noall", berth.binary, os.path.join(self.workdir, "state", "berth-noall"),
                            use_all_on_host=False, global_args=berth.global_args)
            self.res["runtimes_host_extra"] = ["berth-noall"]
        for n in self.args.n:
            trials = self.args.teardown_trials
            for i in range(trials):
                for pidns in ("private", "host"):
                    jobs = [(rt, mode) for rt in rts for mode in ("kill", "delete")]
                    if pidns == "host" and noall:
                        jobs.append((noall, "kill"))
                    if pidns == "private":
                        jobs.append((None, "floor"))
                    if berth:
                        jobs.append((berth, "direct"))
                    for rt, mode in rotate(jobs, i):
                        if rt is None:
                            self.floor_one(n)
                        else:
                            self.teardown_one(rt, n, pidns, mode)
            log(f"{self.layout}: teardown N={n} done ({trials} trials)")

        # 5. state / list / ps against the number of containers
        if not self.args.no_scaling and self.args.scaling_n and rts:
            self.scaling(rts)
        if self.systemd:
            self.res["host"]["end"] = systemd_layout.host_info()
        self.res["elapsed_s"] = round(clock() - started, 1)

    def cleanup(self):
        for p in list(self.active):
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.active.clear()
        for pid in list(self.floor_children):
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        for (name, cid), (rt, _cgp) in list(self.containers.items()):
            problems = self.remove_container(rt, cid)
            log(f"cleanup: removed {name} {cid}" + (f" ({'; '.join(problems)})" if problems else ""))
        left = self.systemd.stop_all() if self.systemd else []
        left += sweep_cgroups(self.systemd.sweep_prefix() if self.systemd else self.tag + "-")
        if left:
            self.fail("cleanup", "-", f"cgroups left behind and swept: {left}")
        reap_orphans()
        for attr in ("state_mount", "ro_mount"):
            if getattr(self, attr, None):
                subprocess.run(["umount", "-l", getattr(self, attr)], check=False)
                setattr(self, attr, None)


def sigkill_all(fds, timeout):
    """SIGKILLs every pidfd's process and waits until each pidfd is readable (bounded):
    (ms to send, ms until all had exited, how many had not)."""
    ep = select.epoll()
    for fd in fds:
        ep.register(fd, select.EPOLLIN)
    alive = set(fds)
    t0 = clock()
    for fd in fds:
        try:
            signal.pidfd_send_signal(fd, signal.SIGKILL)
        except ProcessLookupError:
            pass  # already reaped: a pid namespace's init, dying, kills and reaps the rest
    t_sent = clock()
    limit = t0 + timeout
    while alive and clock() < limit:
        for fd, _e in ep.poll(max(0.0, limit - clock()), len(alive)):
            ep.unregister(fd)
            alive.discard(fd)
    t1 = clock()
    ep.close()
    return ms(t_sent - t0), ms(t1 - t0), len(alive)


def rotate(xs, i):
    xs = list(xs)
    if not xs:
        return xs
    k = i % len(xs)
    return xs[k:] + xs[:k]


def worker_main(args):
    w = Worker(args)

    def on_signal(signum, _frame):
        if not w.interrupted:
            w.interrupted = True
            raise Interrupted(signal.Signals(signum).name)

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(SUBREAPER, 1, 0, 0, 0)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    rc = 0
    try:
        w.run()
    except Interrupted as e:
        w.res["interrupted"] = True
        log(f"{w.layout}: interrupted by {e}; cleaning up")
        rc = 130
    except Exception as e:  # a harness bug must not leak containers either
        import traceback
        traceback.print_exc()
        w.res["interrupted"] = True
        w.fail("harness", "-", f"harness error: {e!r}")
        rc = 1
    finally:
        w.interrupted = True  # further signals are ignored by on_signal while cleaning up
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN)
        w.cleanup()
        if w.systemd:  # not the driver's child: it cannot count this worker's CPU time itself
            ru = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
            w.res["cpu_s"] = round(sum(r.ru_utime + r.ru_stime for r in ru), 2)
        with open(args.raw + ".tmp", "w") as f:
            json.dump(w.res, f, indent=1)
        os.rename(args.raw + ".tmp", args.raw)
    return rc


# --------------------------------------------------------------------------------------------
# the driver: prepares, runs one worker per layout under cgroup-view, reports
# --------------------------------------------------------------------------------------------


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
    if systemd:  # lifecycle and teardown only (see bench/systemd_layout.py)
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
            cmd = [os.path.abspath(__file__), "--worker", layout, "--workdir", workdir, "--raw", raw, "--tag", tag,
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


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------

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


CHART_LABELS = {
    "kill": "kill KILL",
    "delete": "delete",
    "sum": "create+start+\nkill+delete",
    "cycle": "create+start+\n(kill & exit)+\ndelete",
    "delete_f": "delete -f\n(running)",
    "run_d+delete_f": "run -d +\ndelete -f",
}


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
            L.extend(systemd_layout.summary_lines(res))
    L.append("Failures and oddities: " + (", ".join(f"{l}/{r}: {c}" for (l, r), c in sorted(nfail.items()))
                                          if nfail else "none") + " (details per layout below).\n")
    return L


def create_state_section(res):
    cs = res.get("create_state", {})
    if not cs:
        return []
    rts = ordered_runtimes(cs.keys())
    others = [r for r in rts if r != "berth"]
    L = ["### `create` by the state of the kernel's cgroup-attach lock\n",
         "The first cgroup attach after a quiet spell waits for an RCU grace period (the global "
         "`cgroup_threadgroup_rwsem`); attaches within a grace period of another do not. quiet = the "
         f"harness idles {QUIET_S} s before `create`; warm = the harness attaches itself to its own "
         "cgroup just before. berth-late = berth with `BERTH_NO_EARLY_ATTACH=1` (no early attach by a "
         "helper process, so the grace period starts only when libcontainer attaches). berth-ro = berth "
         "installed on a read-only mount, as a package on a read-only /usr is: it runs as it is, where "
         "from a writable binary it first re-executes itself from a read-only view (its /proc/self/exe "
         "protection; equally protected either way).\n",
         "| state | " + " | ".join(rts) + " | " + " | ".join(f"berth/{o}" for o in others) + " |",
         "|" + "---|" * (1 + len(rts) + len(others))]
    for key in ("quiet", "warm"):
        row = [key] + [cell(cs.get(r, {}).get(key, [])) for r in rts]
        row += [fmt_ratio(median(cs.get("berth", {}).get(key, [])), median(cs.get(o, {}).get(key, [])))
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
    others = [r for r in rts if r != "berth"]
    L.append("### Peak memory of one invocation (max RSS in MiB: median (max))\n")
    L.append("ru_maxrss of the runtime process, as reported by GNU time, which runs it as its direct child "
             "and wait4()s it (`/usr/bin/time -f %M`). It includes children the runtime waited for "
             "(e.g. runc's `runc init` stages), not the container's processes. Floor: what the same "
             "wrapper reports for a static busybox `true`"
             + (f": {mem_cell(res.get('memory_floor'))} MiB" if res.get("memory_floor") else "") + ".\n")
    L.append("| command | " + " | ".join(rts) + " | " + " | ".join(f"berth/{o}" for o in others) + " |")
    L.append("|" + "---|" * (1 + len(rts) + len(others)))
    for cmd in MEM_COMMANDS:
        row = [f"`{cmd}`"] + [mem_cell(mem.get(r, {}).get(cmd, [])) for r in rts]
        row += [fmt_ratio(median(mem.get("berth", {}).get(cmd, [])), median(mem.get(o, {}).get(cmd, [])))
                for o in others]
        L.append("| " + " | ".join(row) + " |")
    L.append("")
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
            L.extend(systemd_layout.report_section(res, ordered_runtimes))
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
        L.append(systemd_layout.METHOD)
    return "\n".join(L) + "\n"


# --------------------------------------------------------------------------------------------
# SVG (hand-written; matplotlib is not installed)
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20, help="lifecycle trials per runtime (default 20)")
    ap.add_argument("--create-trials", type=int, default=15,
                    help="create trials per runtime after a quiet spell and right after an attach "
                         "(default 15, 0 skips)")
    ap.add_argument("--teardown-trials", type=int, default=5,
                    help="teardown trials per N, PID namespace and mode (default 5)")
    ap.add_argument("--layout", choices=WORKER_LAYOUTS + ("all",), default="native",
                    help="native, v2, legacy (this machine, under scripts/cgroup-view), all (those "
                         "three), or systemd (inside scripts/systemd-host, --systemd-cgroup; alone)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--n", type=lambda s: [int(x) for x in s.split(",") if x != ""],
                    default=None, help="extra processes per container (default 0,10,100,1000; "
                                       "systemd: 0,1000)")
    ap.add_argument("--runtimes", default="",
                    help="comma-separated subset of berth,runc,crun (default: per layout; crun in legacy only)")
    ap.add_argument("--berth", default=DEFAULT_BERTH, help="berth binary (default target/release/berth)")
    ap.add_argument("--no-noall", action="store_true", help="skip berth's plain `kill` in a host PID namespace")
    ap.add_argument("--mem-trials", type=int, default=5,
                    help="peak-memory trials per runtime (create/start/state/kill/delete under GNU time; "
                         "default 5, 0 skips)")
    ap.add_argument("--no-scaling", action="store_true",
                    help="skip timing state/list/ps with 1, 10, 100 containers")
    ap.add_argument("--scaling-n", type=lambda s: [int(x) for x in s.split(",") if x != ""],
                    default=[1, 10, 100], help="containers per runtime for the scaling test (default 1,10,100)")
    ap.add_argument("--scaling-trials", type=int, default=5,
                    help="timed list/state/ps calls per runtime and container count (default 5)")
    ap.add_argument("--call-timeout", type=float, default=30.0, help="seconds before a runtime call is killed")
    ap.add_argument("--ready-timeout", type=float, default=60.0, help="seconds to wait for N+1 processes")
    ap.add_argument("--worker-timeout", type=float, default=3600.0, help="seconds per layout worker")
    ap.add_argument("--keep-workdir", action="store_true")
    ap.add_argument("--report", metavar="RAW_JSON",
                    help="only rebuild RESULTS.md and the SVGs in --out from an earlier raw.json")
    # internal: the per-layout worker
    ap.add_argument("--worker", choices=WORKER_LAYOUTS, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", help=argparse.SUPPRESS)
    ap.add_argument("--raw", help=argparse.SUPPRESS)
    ap.add_argument("--tag", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.worker:
        return worker_main(args)
    if args.report:
        with open(args.report) as f:
            data = json.load(f)
        write_outputs(data, os.path.abspath(args.out))
        return 0
    return driver_main(args)


if __name__ == "__main__":
    sys.exit(main())
