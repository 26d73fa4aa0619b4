"""Phases 2 and 3, teardown against the number of processes: kill or delete -f of a container
with N extra sleeps (private or host PID namespace), the harness's own SIGKILL of the same
processes ("floor, these processes"), and the kernel floor of N+1 forked sleeps.
"""

import os
import select
import signal
import time

from .cgroups import cg_dirs, cg_pids, primary_dir, read_procs, reap_orphans
from .common import clock, ms


class Teardown:
    """Worker methods for teardown against N and the kernel floor."""

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
                if not self.record_teardown(ph, rt, cid, fds, n, table, r, " ".join(kargs[:2]),
                                            ("kill", "stale", "gone"), "kill", "kill"):
                    return
                r = self.call(rt, ["delete", "-f", cid], watch=fds, at_return=self.at_return(rt, cid))
                if not r.ok:
                    return self.abort(ph, rt, cid, "delete -f after kill failed", r, n=n)
                self.sample(table, "delete_after_kill", r.ms)
                self.note_return(table, "delete_after_kill", r)
            else:
                r = self.call(rt, ["delete", "-f", cid], watch=fds, at_return=self.at_return(rt, cid))
                if not self.record_teardown(ph, rt, cid, fds, n, table, r, "delete -f",
                                            ("delete_f", "delete_f_stale", "delete_f_gone"),
                                            "delete -f", "delete"):
                    return
            self.finish(ph, rt, cid, fds, n=n)
        finally:
            for fd in fds:
                os.close(fd)
            reap_orphans()

    def record_teardown(self, ph, rt, cid, fds, n, table, r, what, keys, verb, promise):
        """Records a kill or delete -f of the container's processes `fds`: its time, how many
        were still alive when it returned, and when all had exited, under `keys` (time, stale,
        gone) of `table`; a berth that returned before all were gone breaks its `promise`
        (kill, delete). Returns False, after aborting the trial, when the call failed or the
        processes outlived the bounded wait."""
        if not r.ok:
            self.abort(ph, rt, cid, f"{what} failed", r, n=n, stale=r.stale)
            return False
        ms_key, stale_key, gone_key = keys
        self.sample(table, ms_key, r.ms)
        self.sample(table, stale_key, r.stale)
        self.note_return(table, ms_key, r)
        if r.gone_ms is None:
            self.abort(ph, rt, cid, f"{r.alive_after} of {len(fds)} processes still alive "
                       f"{self.args.call_timeout:.0f}s after {verb}", n=n)
            return False
        self.sample(table, gone_key, r.gone_ms)
        if r.stale and rt.name.startswith("berth"):
            self.fail(ph, rt.name, f"{verb} returned with {r.stale} of {len(fds)} processes "
                      f"still alive (synchronous {promise} broken)", id=cid, n=n)
        return True

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
