"""The worker's common ground, used by every phase: failure and sample bookkeeping, container ids
and cgroup paths, bundles, the timed runtime call (fork to exit through a pidfd, with watched
pidfds and optional GNU time), and checking and forcibly removing containers.
"""

import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time

from .cgroups import cg_dirs, cg_pids, proc_gone, reap_orphans, sweep_cgroups
from .common import GNU_TIME, clock, log, ms
from .runtime import CallResult


class Containers:
    """Worker methods for bookkeeping, calling runtimes and cleaning up containers."""

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

    def create_and_start(self, rt, prefix):
        """create and start a new `sleep 1000` container, registered for cleanup. Returns its id
        and the result of the last call made (start's, or create's if that failed)."""
        cid = self.new_id(prefix)
        b = self.bundle(rt, cid, ["sleep", "1000"])
        self.containers[(rt.name, cid)] = (rt, self.cgpath(rt, cid))
        r = self.call(rt, ["create", "--bundle", b, cid])
        if r.ok:
            r = self.call(rt, ["start", cid])
        return cid, r

    def probe(self, rt):
        """An untimed create/start/delete -f (and a warm-up of the page cache)."""
        cid, r = self.create_and_start(rt, "probe")
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
