"""The `systemd` layout of bench.py: berth and runc under `--systemd-cgroup` on a real systemd host.

    python3 bench/bench.py --layout systemd [--trials 20] [--teardown-trials 5] [--n 0,1000]

The worker runs inside the host that scripts/systemd-host boots (Debian bookworm, systemd as
PID 1, pure cgroup v2, runc 1.1.5 inside; no crun), started by the driver as
`scripts/systemd-host run -- python3 bench/bench.py --worker systemd ...` (a transient service
of the host's systemd). The host binds the repository at the same path, so the driver puts its
work directory (berth snapshot, rootfs, bundles, state roots, the worker's raw JSON) under
target/ instead of /tmp. The host is shared: the driver only runs `up` when it is down.

Every runtime gets `--systemd-cgroup`; every container the cgroupsPath `system.slice:bench:NAME`
with NAME = TAG-RUNTIME-ID (unique per container and per run), so libcontainer's and runc's
systemd drivers put it into the transient scope unit `bench-NAME.scope`, whose cgroup is
/sys/fs/cgroup/system.slice/bench-NAME.scope. Sections: the lifecycle and the teardown against N
(default N = 0, 1000), as in the other layouts; no create-by-attach-state, peak-memory or
scaling sections (GNU time is not in the host, and they are about cgroupfs).

What this layout adds: the moment a `kill`, `delete` or `delete -f` is seen to have exited (its
pidfd readable), the harness records whether the container's cgroup directory still existed
(a stat, microseconds after the return) and in which state its scope unit was, asked over D-Bus
(GetUnit, then ActiveState and StateChangeTimestampMonotonic of the unit, a few hundred
microseconds). A unit that is still active or deactivating when asked was so at the return; one
that is inactive or failed by then was still active or deactivating at the return if systemd's
own timestamp of that last state change is later than the return (both CLOCK_MONOTONIC); one
that systemd no longer knows counts as gone, which can be wrong only within the probe's own
latency (probe_ms, recorded). After each teardown the harness gives systemd up to SETTLE_S to
finish (unit inactive or unloaded, cgroup removed) and records what is still there as a failure
(a failed unit left loaded, a cgroup directory), then removes it by force.

Python 3.11 standard library only: D-Bus is spoken directly over the system bus socket (AUTH
EXTERNAL, method calls, replies), enough for the three calls above, by dbus.py. This module holds
the worker's side (Layout) and the driver's (the host, the worker's argv, the cleanup); the
report's side is systemd_report.py.
"""

import os
import subprocess
import time

from .common import REPO
from .dbus import (DBUS, MANAGER, MANAGER_PATH, PROPERTIES, SYSTEMD, UNIT, Bus, BusError, unit_path,
                   unit_state)

SLICE = "system.slice"
PREFIX = "bench"
GLOBAL_ARGS = ("--systemd-cgroup",)
RUNTIMES = ("berth", "runc")
DEFAULT_N = [0, 1000]
SETTLE_S = 2.0
# Unit states that count as "still there" (a scope never goes back from inactive to active).
PRESENT_STATES = ("active", "activating", "deactivating", "reloading")
SYSTEMD_HOST = os.path.join(REPO, "scripts", "systemd-host")


def unit_name(name):
    return f"{PREFIX}-{name}.scope"


def cgroups_path(name):
    """linux.cgroupsPath for the container named `name` (slice:prefix:name)."""
    return f"{SLICE}:{PREFIX}:{name}"


def cgroup_path(name):
    """The scope's cgroup, relative to the cgroup2 root."""
    return f"/{SLICE}/{unit_name(name)}"


def tag_pattern(tag):
    """A systemctl glob for every scope unit of a run (tag = berthbench-PID-systemd)."""
    return f"{PREFIX}-{tag}-*.scope"


def tag_cgroup_prefix(tag):
    """cgroups.sweep_cgroups' prefix for every scope cgroup of a run."""
    return f"{SLICE}/{PREFIX}-{tag}-"

# --------------------------------------------------------------------------------------------
# the worker's side
# --------------------------------------------------------------------------------------------


def systemctl(*args, timeout=30):
    try:
        return subprocess.run(["systemctl", *args], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"systemctl {' '.join(args)}: {e}"


def listed_units(pattern):
    """(unit, active state) of every loaded unit matching a systemctl glob."""
    units = []
    for line in systemctl("list-units", "--all", "--plain", "--no-legend", "--full", pattern).splitlines():
        words = line.replace("\u25cf", " ").split()  # a failed unit has a bullet in front
        if len(words) >= 3:
            units.append((words[0], words[2]))
    return units


class Layout:
    """What the worker does differently in the systemd layout (see the module's docstring)."""

    def __init__(self, tag, hierarchies):
        self.tag = tag
        v2 = [mnt for mnt, v, _o in hierarchies if v == 2]
        if not v2 or len(hierarchies) != 1:
            raise RuntimeError(f"the systemd layout needs a pure cgroup v2 host, not {hierarchies}")
        self.mount = v2[0]
        if not os.path.isdir("/run/systemd/system"):
            raise RuntimeError("not running on a host booted with systemd")
        self.bus = Bus()
        # systemd sends unit signals only while some client is subscribed; the bus daemon passes
        # on only those our match rules (watch) ask for.
        self.bus.call(SYSTEMD, MANAGER_PATH, MANAGER, "Subscribe")
        self.rules = []

    def cgroups_path(self, name):
        return cgroups_path(name)

    def cgroup(self, name):
        return cgroup_path(name)

    def _match(self, method, rules):
        for serial in [self.bus.send(DBUS, "/org/freedesktop/DBus", DBUS, method, "s", (r,)) for r in rules]:
            try:
                self.bus.reply(serial)
            except BusError:
                pass  # RemoveMatch of a rule the bus no longer has

    def watch(self, name):
        """Before a command: have systemd's state changes of the unit of container `name` sent
        to us (PropertiesChanged carries ActiveState and StateChangeTimestampMonotonic), so that
        at_return knows when it went inactive even if systemd has dropped it by the time it asks."""
        self.unwatch()
        self.rules = [f"type='signal',sender='{SYSTEMD}',path='{unit_path(unit_name(name))}',"
                      f"interface='{PROPERTIES}',member='PropertiesChanged'"]
        self._match("AddMatch", self.rules)
        self.bus.signals.clear()

    def unwatch(self):
        if self.rules:
            self._match("RemoveMatch", self.rules)
            self.rules = []

    def at_return(self, name):
        """Where the unit and the cgroup of container `name` are, right after a command returned
        (watch(name) must have come before the command). The unit counts as present if systemd
        still has it active/deactivating when asked, or its last change to inactive/failed has
        a timestamp later than the return."""
        t_ret = time.monotonic_ns() // 1000  # µs, like systemd's monotonic timestamps
        cgroup = os.path.isdir(os.path.join(self.mount, cgroup_path(name).lstrip("/")))
        unit = unit_name(name)
        try:
            state, changed = unit_state(self.bus, unit)
        except (BusError, OSError) as e:
            state, changed = f"error ({e})", None
        t_q = time.monotonic_ns() // 1000
        path = unit_path(unit)
        ended = [body[1].get("StateChangeTimestampMonotonic") for p, member, body in self.bus.signals
                 if p == path and member == "PropertiesChanged" and len(body) > 1 and body[0] == UNIT
                 and body[1].get("ActiveState") in ("inactive", "failed")]
        ended = [ts for ts in ended if ts]
        end = changed if state in ("inactive", "failed") else (max(ended) if ended else None)
        present = state in PRESENT_STATES or bool(end and end > t_ret)
        until = round((end - t_ret) / 1000, 3) if end and end > t_ret else None
        return {"cgroup": cgroup, "unit": state or "gone", "present": present, "until_ms": until,
                "probe_ms": round((t_q - t_ret) / 1000, 3), "signals": len(ended)}

    def settle(self, name):
        """Waits up to SETTLE_S until systemd is done with the unit and its cgroup; problems left.
        (The cgroup directory itself is checked by the caller, like in the other layouts.)"""
        unit = unit_name(name)
        cgdir = os.path.join(self.mount, cgroup_path(name).lstrip("/"))
        end = time.monotonic() + SETTLE_S
        while True:
            try:
                state, _ = unit_state(self.bus, unit)
            except (BusError, OSError) as e:
                return [f"cannot ask systemd about {unit}: {e}"]
            done = state in (None, "inactive")
            if (done and not os.path.isdir(cgdir)) or time.monotonic() > end:
                break
            time.sleep(0.01)
        return [] if done else [f"unit {unit} still {state} {SETTLE_S:g} s after the command"]

    def stop_units(self, pattern):
        """Kills, stops and resets every loaded unit matching pattern; what was there."""
        units = listed_units(pattern)
        if not units:
            return []
        names = [u for u, _s in units]
        systemctl("kill", "--signal=KILL", *names)
        systemctl("stop", *names)
        systemctl("reset-failed", *names)
        return [f"unit {u} ({s})" for u, s in units]

    def stop_unit_of(self, cgpath):
        """stop_units for the scope whose cgroup is cgpath (as Worker.cgpath gives it)."""
        return self.stop_units(os.path.basename(cgpath))

    def stop_all(self):
        return self.stop_units(tag_pattern(self.tag))

    def sweep_prefix(self):
        return tag_cgroup_prefix(self.tag)


def host_info():
    """How busy the shared host is: its processes and the other `systemd-host run` units."""
    procs = sum(1 for d in os.listdir("/proc") if d.isdigit())
    runs = [u for u, s in listed_units("berth-run-*.service") if s in PRESENT_STATES]
    with open("/proc/loadavg") as f:
        load = f.read().strip()
    return {"processes": procs, "other_run_units": max(0, len(runs) - 1), "loadavg": load}


def versions():
    def first(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.split("\n")[0]
        except (OSError, subprocess.TimeoutExpired):
            return "?"
    return {"systemd": first(["systemctl", "--version"]), "runc": first(["/usr/sbin/runc", "--version"]),
            "python": first(["python3", "--version"])}


# --------------------------------------------------------------------------------------------
# the driver's side
# --------------------------------------------------------------------------------------------


def ensure_host(log):
    """Boots the shared host if it is down (`up` is idempotent; never `down` or `prepare`)."""
    rc = subprocess.run([SYSTEMD_HOST, "status"], stdout=subprocess.DEVNULL).returncode
    if rc == 0:
        return
    log("the systemd host is down: scripts/systemd-host up")
    subprocess.run([SYSTEMD_HOST, "up"], check=True, timeout=300)


def worker_argv(argv):
    """argv (bench.py --worker systemd ...) run inside the host as a transient service."""
    return [SYSTEMD_HOST, "run", "-C", os.path.dirname(os.path.dirname(SYSTEMD_HOST)), "--", "python3", *argv]


def driver_cleanup(tag):
    """What a killed worker left in the host: its scope units (stopped here). The scope cgroups
    go with their units; the state roots are in the driver's work directory."""
    script = ('u=$(systemctl list-units --all --plain --no-legend --full "$1" '
              "| tr -d '\u25cf' | awk '{print $1}'); "
              '[ -z "$u" ] && exit 0; echo $u; systemctl kill --signal=KILL $u; '
              'systemctl stop $u; systemctl reset-failed $u 2>/dev/null; true')
    try:
        out = subprocess.run([SYSTEMD_HOST, "run", "--", "sh", "-c", script, "sh", tag_pattern(tag)],
                             capture_output=True, text=True, timeout=120).stdout.split()
    except (OSError, subprocess.TimeoutExpired) as e:
        return [f"cleanup in the systemd host failed: {e}"]
    return [f"unit {u}" for u in out]
