"""The worker: runs every measurement in one cgroup layout (re-executed by the driver under
scripts/cgroup-view, or inside the systemd host). Worker combines the phase mixins with its own
setup, the order of the phases (run), the cleanup on every exit path, and worker_main, which
installs the signal handlers and writes the layout's raw JSON.
"""

import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess

from . import systemd_layout
from .cgroups import cgroup_hierarchies, reap_orphans, sweep_cgroups
from .common import GNU_TIME, SYSTEM_RUNTIMES, Interrupted, clock, log, rotate
from .containers import Containers
from .create_state import CreateState
from .lifecycle import Lifecycle
from .memory import Memory
from .runtime import Runtime
from .scaling import Scaling
from .teardown import Teardown

# Which runtimes run in which layout by default. crun refuses the hybrid layout of this machine
# and is not installed in the systemd host.
LAYOUT_RUNTIMES = {
    "native": ("berth", "runc"),
    "v2": ("berth", "runc"),
    "legacy": ("berth", "runc", "crun"),
    "systemd": systemd_layout.RUNTIMES,
}
SUBREAPER = 36  # PR_SET_CHILD_SUBREAPER


class Worker(Lifecycle, CreateState, Memory, Teardown, Scaling, Containers):
    """Every measurement in one cgroup layout: the phases' methods (the mixins) and their order."""

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
