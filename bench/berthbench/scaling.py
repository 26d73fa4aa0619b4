"""Phase 5, state / list / ps against the number of containers: K running containers per runtime,
timed list, list --format json, state ID and ps --format json ID, with a check of the output.
"""

import json

from .cgroups import reap_orphans
from .common import clock, log, rotate


class Scaling:
    """Worker methods for the scaling test."""

    # ---- 5. state / list / ps against the number of containers ------------------------

    def scaling(self, rts):
        """With K containers (sleep 1000, private pidns) in each runtime's root, times list,
        list --format json, state ID and ps --format json ID. Containers of all runtimes exist
        at once; they are grown, measured and deleted interleaved."""
        ph = "scaling"
        owned = {rt.name: [] for rt in rts}
        broken = set()

        def add(rt):
            cid, r = self.create_and_start(rt, "sc")
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
