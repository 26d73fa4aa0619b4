"""cgroup helpers: the hierarchies mounted in this view, a cgroup path's directories and
processes, the directory readiness polls, whether a process is gone, the forced sweep of a run's
cgroups, and the reaping of orphans (the harness is a subreaper).
"""

import os
import signal
import time

from .common import clock


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
