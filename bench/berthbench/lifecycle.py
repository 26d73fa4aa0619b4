"""Phase 1, the lifecycle of a one-process container: create, start, kill KILL, delete and their
sum, then run -d and delete -f of the running container, one trial per call of lifecycle_one.
"""

import os


class Lifecycle:
    """Worker methods for the lifecycle latency."""

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
