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

Python 3.11 standard library only: D-Bus is spoken here directly over the system bus socket
(AUTH EXTERNAL, method calls, replies), enough for the three calls above.
"""

import os
import socket
import struct
import subprocess
import time

from .common import REPO

SLICE = "system.slice"
PREFIX = "bench"
GLOBAL_ARGS = ("--systemd-cgroup",)
RUNTIMES = ("berth", "runc")
DEFAULT_N = [0, 1000]
SETTLE_S = 2.0
# Unit states that count as "still there" (a scope never goes back from inactive to active).
PRESENT_STATES = ("active", "activating", "deactivating", "reloading")
BUS_SOCKET = "/run/dbus/system_bus_socket"
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
# a minimal D-Bus client (little-endian messages, method calls and their replies)
# --------------------------------------------------------------------------------------------

ALIGN = {"y": 1, "b": 4, "n": 2, "q": 2, "i": 4, "u": 4, "x": 8, "t": 8, "d": 8, "h": 4,
         "s": 4, "o": 4, "g": 1, "v": 1, "a": 4, "(": 8, "{": 8}
FIXED = {"y": "B", "b": "I", "n": "h", "q": "H", "i": "i", "u": "I", "x": "q", "t": "Q", "d": "d",
         "h": "I"}
METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL = 1, 2, 3, 4


class BusError(Exception):
    def __init__(self, name, text=""):
        super().__init__(f"{name}: {text}" if text else name)
        self.name = name


def _pad(buf, n):
    buf.extend(b"\0" * (-len(buf) % n))


def _put(buf, t, v):
    """Appends value v of basic type t (y u s o g) or a variant ("v": (signature, value))."""
    _pad(buf, ALIGN[t])
    if t in FIXED:
        buf.extend(struct.pack("<" + FIXED[t], v))
    elif t in "so":
        b = v.encode()
        buf.extend(struct.pack("<I", len(b)) + b + b"\0")
    elif t == "g":
        b = v.encode()
        buf.extend(bytes([len(b)]) + b + b"\0")
    elif t == "v":
        sig, val = v
        _put(buf, "g", sig)
        _put(buf, sig, val)
    else:
        raise ValueError(f"cannot marshal type {t!r}")


def _type_end(sig, i):
    """Index just past the single complete type that starts at sig[i]."""
    c = sig[i]
    if c == "a":
        return _type_end(sig, i + 1)
    if c in "({":
        close = ")" if c == "(" else "}"
        j = i + 1
        while sig[j] != close:
            j = _type_end(sig, j)
        return j + 1
    return i + 1


def _split(sig):
    out, i = [], 0
    while i < len(sig):
        j = _type_end(sig, i)
        out.append(sig[i:j])
        i = j
    return out


def _get(data, off, t):
    """(value, next offset) of the complete type t at data[off:] (offsets from message start)."""
    c = t[0]
    off += -off % ALIGN[c]
    if c in FIXED:
        fmt = "<" + FIXED[c]
        return struct.unpack_from(fmt, data, off)[0], off + struct.calcsize(fmt)
    if c in "so":
        n = struct.unpack_from("<I", data, off)[0]
        return data[off + 4:off + 4 + n].decode(errors="replace"), off + 4 + n + 1
    if c == "g":
        n = data[off]
        return data[off + 1:off + 1 + n].decode(), off + 1 + n + 1
    if c == "v":
        sig, off = _get(data, off, "g")
        return _get(data, off, sig)
    if c == "a":
        n = struct.unpack_from("<I", data, off)[0]
        off += 4
        elem = t[1:]
        off += -off % ALIGN[elem[0]]
        end, items = off + n, []
        while off < end:
            v, off = _get(data, off, elem)
            items.append(v)
        return (dict(items) if elem[0] == "{" else items), off
    if c in "({":
        vals = []
        for ft in _split(t[1:-1]):
            v, off = _get(data, off, ft)
            vals.append(v)
        return tuple(vals), off
    raise ValueError(f"cannot unmarshal type {t!r}")


class Bus:
    """A connection to the system bus: call() and send()/reply() (for pipelined calls)."""

    def __init__(self, path=BUS_SOCKET):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self.sock.connect(path)
        self.sock.sendall(b"\0AUTH EXTERNAL " + str(os.geteuid()).encode().hex().encode() + b"\r\n")
        line = b""
        while not line.endswith(b"\r\n"):
            chunk = self.sock.recv(1)
            if not chunk:
                raise BusError("org.freedesktop.DBus.Error.NoReply", "the bus closed during AUTH")
            line += chunk
        if not line.startswith(b"OK "):
            raise BusError("org.freedesktop.DBus.Error.AuthFailed", line.decode(errors="replace").strip())
        self.sock.sendall(b"BEGIN\r\n")
        self.serial = 0
        self.pending = {}  # reply serial -> (type, fields, body) read while waiting for another
        self.signals = []  # (path, member, body) of every signal read, in order
        self.call("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "Hello")

    def close(self):
        self.sock.close()

    def send(self, dest, path, iface, member, sig="", args=()):
        self.serial += 1
        body = bytearray()
        for t, a in zip(_split(sig), args):
            _put(body, t, a)
        msg = bytearray(b"l" + bytes([METHOD_CALL, 0, 1]))
        msg.extend(struct.pack("<III", len(body), self.serial, 0))  # the fields' length: below
        fields = [(1, "o", path), (3, "s", member), (6, "s", dest)]
        if iface:
            fields.append((2, "s", iface))
        if sig:
            fields.append((8, "g", sig))
        for code, t, v in fields:
            _pad(msg, 8)
            msg.append(code)
            _put(msg, "v", (t, v))
        struct.pack_into("<I", msg, 12, len(msg) - 16)
        _pad(msg, 8)
        self.sock.sendall(bytes(msg + body))
        return self.serial

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise BusError("org.freedesktop.DBus.Error.Disconnected", "the bus closed the connection")
            buf.extend(chunk)
        return bytes(buf)

    def _read_message(self):
        head = self._recv_exact(16)
        if head[0:1] != b"l":
            raise BusError("org.freedesktop.DBus.Error.InvalidArgs", "big-endian message")
        body_len, _serial, fields_len = struct.unpack_from("<III", head, 4)
        rest = self._recv_exact(fields_len + (-(16 + fields_len) % 8) + body_len)
        data = head + rest
        fields, off = _get(data, 12, "a(yv)")
        off += -off % 8
        return head[1], dict(fields), data, off

    @staticmethod
    def _body(fields, data, off):
        body = []
        for t in _split(fields.get(8, "")):
            v, off = _get(data, off, t)
            body.append(v)
        return body

    def reply(self, serial):
        """The body (a list of values) of the reply to `serial`; an error reply raises BusError.
        Signals read meanwhile are kept in self.signals (a sender's messages arrive in order: a
        signal systemd sent before its reply is there once the reply is)."""
        while serial not in self.pending:
            mtype, fields, data, off = self._read_message()
            if mtype in (METHOD_RETURN, ERROR) and 5 in fields:
                self.pending[fields[5]] = (mtype, fields, data, off)
            elif mtype == SIGNAL:
                self.signals.append((fields.get(1), fields.get(3), self._body(fields, data, off)))
        mtype, fields, data, off = self.pending.pop(serial)
        body = self._body(fields, data, off)
        if mtype == ERROR:
            raise BusError(fields.get(4, "?"), body[0] if body and isinstance(body[0], str) else "")
        return body

    def call(self, dest, path, iface, member, sig="", args=()):
        return self.reply(self.send(dest, path, iface, member, sig, args))


DBUS = "org.freedesktop.DBus"
SYSTEMD = "org.freedesktop.systemd1"
MANAGER_PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
PROPERTIES = "org.freedesktop.DBus.Properties"
UNIT = "org.freedesktop.systemd1.Unit"
NO_SUCH_UNIT = "org.freedesktop.systemd1.NoSuchUnit"


def unit_path(unit):
    """systemd's object path of a unit (bus_label_escape: every byte but a letter, or a digit
    after the first, becomes _xx), known before the unit exists."""
    out = []
    for i, b in enumerate(unit.encode()):
        c = chr(b)
        out.append(c if (c.isascii() and c.isalpha()) or (i > 0 and c.isdigit()) else f"_{b:02x}")
    return "/org/freedesktop/systemd1/unit/" + "".join(out)


def unit_state(bus, unit):
    """(ActiveState, StateChangeTimestampMonotonic in µs) of a loaded unit; (None, None) when
    systemd does not have it loaded. GetUnit never loads a unit (a Get on a made-up path would)."""
    try:
        path = bus.call(SYSTEMD, MANAGER_PATH, MANAGER, "GetUnit", "s", (unit,))[0]
    except BusError as e:
        if e.name == NO_SUCH_UNIT:
            return None, None
        raise
    s1 = bus.send(SYSTEMD, path, PROPERTIES, "Get", "ss", (UNIT, "ActiveState"))
    s2 = bus.send(SYSTEMD, path, PROPERTIES, "Get", "ss", (UNIT, "StateChangeTimestampMonotonic"))
    try:
        state = bus.reply(s1)[0]
        changed = bus.reply(s2)[0]
    except BusError as e:  # unloaded between the calls
        if e.name in (NO_SUCH_UNIT, "org.freedesktop.DBus.Error.UnknownObject"):
            return None, None
        raise
    return state, changed


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


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------

RETURN_ROWS = [
    # (section, table key, command as shown)
    ("lifecycle", "kill", "kill KILL"),
    ("lifecycle", "delete", "delete (after kill)"),
    ("lifecycle", "delete_f", "delete -f"),
    ("teardown", "kill", "kill KILL (host: kill --all)"),
    ("teardown", "delete_after_kill", "delete -f after kill"),
    ("teardown", "delete_f", "delete -f"),
]


def _count(snaps, pred):
    return sum(1 for s in snaps if pred(s))


def _return_cells(snaps, stale):
    n = len(snaps)
    cells = [str(n),
             "–" if not stale else f"{sum(1 for x in stale if x)} (max {max(stale)})",
             f"{_count(snaps, lambda s: s['present'])}",
             f"{_count(snaps, lambda s: s['cgroup'])}"]
    states = {}
    for s in snaps:
        k = s["unit"] + (" (then inactive)" if s["present"] and s["unit"] in ("inactive", "failed") else "")
        states[k] = states.get(k, 0) + 1
    cells.append(", ".join(f"{k} ×{v}" for k, v in sorted(states.items())))
    untils = sorted(s["until_ms"] for s in snaps if s.get("until_ms") is not None)
    cells.append(f"{untils[len(untils) // 2]:.1f}" if untils else "–")
    probes = sorted(s["probe_ms"] for s in snaps)
    cells.append(f"{probes[len(probes) // 2]:.2f}" if probes else "–")
    return cells


STALE_KEY = {"kill": "stale", "delete_f": "delete_f_stale"}


def _rows(res):
    """(label, runtime, snapshots, stale counts) for every at-return record of a layout."""
    out = []
    lc = res.get("lifecycle", {})
    td = res.get("teardown", {})
    for section, key, shown in RETURN_ROWS:
        if section == "lifecycle":
            for rt, t in lc.items():
                snaps = t.get(f"{key}_at_return", [])
                if snaps:
                    stale = t.get({"kill": "kill_stale", "delete_f": "delete_f_stale"}.get(key, ""), [])
                    out.append((f"lifecycle: {shown}", rt, snaps, [x for x in stale if x is not None]))
            continue
        for pidns in ("private", "host"):
            for n in sorted(td.get(pidns, {}), key=int):
                for rt, t in td[pidns][n].items():
                    snaps = t.get(f"{key}_at_return", [])
                    if snaps:
                        stale = [x for x in t.get(STALE_KEY.get(key, ""), []) if x is not None]
                        out.append((f"{pidns} pidns, N={n}: {shown}", rt, snaps, stale))
    return out


def report_section(res, ordered_runtimes):
    rows = _rows(res)
    if not rows:
        return []
    host = res.get("host", {})
    L = ["### Under systemd: what was still there when the command returned\n",
         "Right when the command's exit was seen: *stale* = trials with container processes still "
         "alive (max of them in one trial); *unit present* = trials whose scope unit was still "
         "active or deactivating (asked over D-Bus at once; a unit found inactive/failed counts if "
         "systemd's StateChangeTimestampMonotonic is after the return); *cgroup* = trials whose scope "
         "cgroup directory still existed (a stat at once). *unit states* = what the probe found "
         "(gone = systemd no longer had the unit loaded); *inactive after* = median ms from the "
         "return until systemd had the unit inactive, over the trials where that was later; "
         "*probe* = median ms the probe took (the window in which a unit could vanish unseen).\n",
         "| teardown | runtime | trials | stale | unit present | cgroup | unit states | "
         "inactive after (ms) | probe (ms) |",
         "|---|---|---|---|---|---|---|---|---|"]
    order = {r: i for i, r in enumerate(ordered_runtimes({r for _l, r, _s, _t in rows}))}
    seen = []
    for label, _rt, _s, _t in rows:
        if label not in seen:
            seen.append(label)
    for label in seen:
        for lab, rt, snaps, stale in sorted((x for x in rows if x[0] == label), key=lambda x: order[x[1]]):
            L.append(f"| {lab} | {rt} | " + " | ".join(_return_cells(snaps, stale)) + " |")
    L.append("")
    L.append("runc's `kill` only sends the signal: its unit is stopped by systemd itself once the "
             "scope's cgroup is empty, and its `delete` stops the unit afterwards. berth's `kill KILL` "
             "waits for the processes, then stops the unit and waits until systemd has removed it.\n")
    if host:
        s, e = host.get("start", {}), host.get("end", {})
        L.append(f"Host: {res.get('versions', {}).get('systemd', '?')}; "
                 f"{res.get('versions', {}).get('runc', '?')}. Processes in the host at start / end: "
                 f"{s.get('processes', '?')} / {e.get('processes', '?')}; other `systemd-host run` units: "
                 f"{s.get('other_run_units', '?')} / {e.get('other_run_units', '?')}; load average "
                 f"{s.get('loadavg', '?')} / {e.get('loadavg', '?')}.\n")
    return L


def summary_lines(res):
    """One line per runtime for the summary: delete -f returns with unit / cgroup / processes."""
    per = {}
    for label, rt, snaps, stale in _rows(res):
        if "delete -f" not in label or "after kill" in label:
            continue
        p = per.setdefault(rt, [0, 0, 0, 0, 0])
        p[0] += len(snaps)
        p[1] += _count(snaps, lambda s: s["present"])
        p[2] += _count(snaps, lambda s: s["cgroup"])
        p[3] += sum(1 for x in stale if x)
        p[4] = max([p[4]] + stale)
    if not per:
        return []
    parts = [f"{rt}: unit still active/deactivating in {p[1]}, cgroup still there in {p[2]}, "
             f"processes still alive in {p[3]} (max {p[4]})" for rt, p in sorted(per.items())]
    n = max(p[0] for p in per.values())
    return [f"systemd: when `delete -f` returned (of {n} per runtime: lifecycle and teardown, both PID "
            f"namespaces) — " + "; ".join(parts) + ".  "]


METHOD = ("- Layout systemd: the worker runs inside the systemd host of scripts/systemd-host (Debian "
          "bookworm booted by systemd-nspawn, systemd as PID 1, cgroup v2 without controllers) as a "
          "transient service; every runtime is called with `--systemd-cgroup`, every container's "
          "cgroupsPath is `system.slice:bench:NAME` (NAME unique per container), i.e. the scope unit "
          "`bench-NAME.scope`. Right after each kill/delete returns, the harness stats the scope's "
          "cgroup and asks systemd over D-Bus for the unit's state (see bench/berthbench/systemd_layout.py). "
          "The host is shared: other work in it adds noise (its process count is recorded).\n")
