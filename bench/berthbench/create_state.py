"""Phase 1b, `create` by the state of the kernel's cgroup-attach lock: after QUIET_S of idleness
("quiet") or right after the harness attached itself to its own cgroup ("warm").
"""

import os
import time

from .common import QUIET_S


class CreateState:
    """Worker methods for create by attach state."""

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
