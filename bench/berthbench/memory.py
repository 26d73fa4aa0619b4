"""Phase 4, peak memory of one invocation: create, start, state, kill KILL and delete each under
GNU time, and GNU time's own floor for a static busybox `true`.
"""

import os
import subprocess
import tempfile

from .common import GNU_TIME


class Memory:
    """Worker methods for peak memory."""

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
