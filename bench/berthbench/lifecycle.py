"""Phase 1, the lifecycle of a one-process container: create, start, kill KILL, delete and their
sum, then run -d and delete -f of the running container, one trial per call of lifecycle_one.
"""

import os


class Lifecycle:
    """Worker methods for the lifecycle latency."""

    # ---- 1. lifecycle -----------------------------------------------------------------

    def make_container(self, rt, ph, prefix, command):
        """`create` or `run -d` (command) of a new `sleep 1000` container, registered for cleanup.
        Returns (id, the call's ms, a pidfd of init), or None once the failure is recorded."""
        cid = self.new_id(prefix)
        b = self.bundle(rt, cid, ["sleep", "1000"])
        pidfile = os.path.join(b, "pid")
        self.containers[(rt.name, cid)] = (rt, self.cgpath(rt, cid))
        what = " ".join(command)
        r = self.call(rt, command + ["--bundle", b, "--pid-file", pidfile, cid])
        if not r.ok:
            self.abort(ph, rt, cid, f"{what} failed", r)
            return None
        pid = self.read_pid(pidfile, rt, cid)
        if pid is None:
            self.abort(ph, rt, cid, f"no init pid after {what}")
            return None
        return cid, r.ms, os.pidfd_open(pid)

    def watched_call(self, rt, ph, table, cid, fd, argv, key, what):
        """kill or delete -f (argv, named what) while watching init's pidfd fd; records under
        key how many watched processes were still alive at its return and what it left.
        Returns the result, or None once the failure is recorded."""
        r = self.call(rt, argv, watch=[fd], gone_timeout=10, at_return=self.at_return(rt, cid))
        if not r.ok:
            self.abort(ph, rt, cid, f"{what} failed", r)
            return None
        self.sample(table, f"{key}_stale", r.stale)
        self.note_return(table, key, r)
        return r

    def lifecycle_one(self, rt):
        table = self.res["lifecycle"].setdefault(rt.name, {})
        ph = "lifecycle"
        # create / start / kill / delete
        made = self.make_container(rt, ph, "lc", ["create"])
        if made is None:
            return
        cid, t_create, fd = made
        try:
            r = self.call(rt, ["start", cid])
            if not r.ok:
                return self.abort(ph, rt, cid, "start failed", r)
            t_start = r.ms
            r = self.watched_call(rt, ph, table, cid, fd, ["kill", cid, "KILL"], "kill", "kill")
            if r is None:
                return
            t_kill = r.ms
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
        made = self.make_container(rt, ph, "rd", ["run", "-d"])
        if made is None:
            return
        cid, t_run, fd = made
        try:
            r = self.watched_call(rt, ph, table, cid, fd, ["delete", "-f", cid], "delete_f",
                                  "delete -f")
            if r is None:
                return
            t_delf = r.ms
            if not self.finish(ph, rt, cid, [fd]):
                return
        finally:
            os.close(fd)
        self.sample(table, "run_d", t_run)
        self.sample(table, "delete_f", t_delf)
        self.sample(table, "run_d+delete_f", round(t_run + t_delf, 4))
