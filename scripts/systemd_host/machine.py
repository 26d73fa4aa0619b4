"""`up`, `down`, `status`: booting the host with systemd-nspawn and tearing it down.

nspawn runs under scripts/cgroup-view v2, i.e. in a private mount namespace that has cgroup2
alone at /sys/fs/cgroup. That cgroup2 is the machine's own hierarchy, which the machine itself
shows at /sys/fs/cgroup/unified (hybrid layout). nspawn (--keep-unit, no systemd outside to ask)
makes `payload` (the container) and `supervisor` (itself) cgroups under the cgroup it was started
in, and leaves them behind after power-off. Started from a shell, that is the hierarchy's root;
we start it in a cgroup of its own, CGROUP below, so that everything the host and its tests leave
behind is in one subtree that `down` kills and removes.
"""

import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import rootfs
from .common import REPO, ROOTFS, SCRIPTS, STATE, Error, lock, say, tail, tool_env

CGROUP = "berth-systemd-host"
BOOT_TIMEOUT = 90
STOP_TIMEOUT = 30
NSPAWN_PID, INIT_PID, LOG = STATE / "nspawn.pid", STATE / "init.pid", STATE / "nspawn.log"
REPO_FILE = STATE / "repo"  # the repository the host binds
FAILED_LOG = Path("/run/berth-systemd-host-failed-boot.log")


def cgroup2_root():
    """Where this mount namespace shows the cgroup2 hierarchy's root."""
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, right = line.split(" - ", 1)
            if right.split()[0] == "cgroup2" and left.split()[3] == "/":
                return Path(left.split()[4])
    raise Error("no cgroup2 hierarchy is mounted on this machine")


def alive(pid, comm):
    """pid runs (not a zombie) and is the program `comm`."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, TypeError):
        return False
    name, state = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2]
    return name == comm and state not in "ZX"


def read_pid(path):
    try:
        return int(path.read_text())
    except (OSError, ValueError):
        return None


def running():
    """(nspawn pid, the host's PID 1 as seen here) when the host is up, else None."""
    nspawn, init = read_pid(NSPAWN_PID), read_pid(INIT_PID)
    if alive(nspawn, "systemd-nspawn") and alive(init, "systemd"):
        return nspawn, init
    return None


def init_pid():
    up = running()
    if not up:
        raise Error("the host is down: run 'scripts/systemd-host up' first")
    return up[1]


def nsenter(init, *argv):
    """argv for a command in all of the host's namespaces (but still in the caller's cgroup)."""
    return ["nsenter", "-t", str(init), "-a", "env", "-i", *(f"{k}={v}" for k, v in tool_env().items()),
            *argv]


def find_init(nspawn):
    """The container's PID 1: nspawn's child that is PID 1 of its own PID namespace, once exec'd."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        if (fields.get("PPid") == str(nspawn) and fields.get("NSpid", "").split()[-1:] == ["1"]
                and fields.get("Name") == "systemd"):
            return int(entry)
    return None


def nspawn_argv():
    argv = [str(SCRIPTS / "cgroup-view"), "v2", "--", "systemd-nspawn",
            "--boot", "--register=no", "--keep-unit",
            "--volatile=overlay",  # writes go to a tmpfs over the cached rootfs: every boot is fresh
            f"--directory={ROOTFS}", f"--machine={rootfs.HOSTNAME}",
            "--console=read-only",  # the console's output goes to our log; no getty reads it
            "--link-journal=no",  # leave the machine's /var/log/journal alone
            "--capability=all",  # tests give containers capabilities: keep them all in the host
            f"--bind={REPO}"]  # target/ binaries run inside at the same paths
    if Path("/dev/fuse").exists():
        argv.append("--bind=/dev/fuse")  # no device cgroup restricts it: nothing else to allow
    return argv


def up():
    lock()
    if running():
        bound = REPO_FILE.read_text().strip() if REPO_FILE.exists() else "?"
        if bound != str(REPO):
            raise Error(f"the host is up for another repository ({bound}): run 'down' first")
        say("already up")
        return
    rootfs.prepare()
    teardown()  # whatever an earlier boot left: processes, cgroups, state
    started = time.monotonic()
    try:
        proc = boot()
        init, state = wait_booted(proc, started + BOOT_TIMEOUT)
    except BaseException:  # failed or interrupted: leave nothing half up
        teardown()
        raise
    INIT_PID.write_text(f"{init}\n")
    FAILED_LOG.unlink(missing_ok=True)  # the last failure's log no longer tells the state
    if state == "degraded":
        failed = subprocess.run(nsenter(init, "systemctl", "--failed", "--plain", "--no-legend"),
                                capture_output=True, text=True).stdout.split("\n")
        say("the host is degraded; failed units: " + " ".join(line.split()[0] for line in failed if line))
    say(f"up in {time.monotonic() - started:.1f} s ({state}; nspawn pid {proc.pid}, "
        f"host PID 1 = {init}; log: {LOG})")


def boot():
    """Start nspawn in the background, in its own session and cgroup, output to the log."""
    cgroup = cgroup2_root() / CGROUP
    cgroup.mkdir(exist_ok=True)
    STATE.mkdir(parents=True, exist_ok=True)
    REPO_FILE.write_text(f"{REPO}\n")

    def enter_cgroup():  # in the child, before it execs cgroup-view (-> unshare -> nspawn)
        with open(cgroup / "cgroup.procs", "w") as procs:
            procs.write("0")

    with open(LOG, "wb") as log:
        # SYSTEMD_SECCOMP=0: no nspawn syscall filter, the tests get this kernel's full syscall set.
        proc = subprocess.Popen(nspawn_argv(), stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=enter_cgroup, env=tool_env(SYSTEMD_SECCOMP="0"))
    NSPAWN_PID.write_text(f"{proc.pid}\n")  # cgroup-view and unshare exec: this pid becomes nspawn
    return proc


def wait_booted(proc, deadline):
    """(host PID 1, running|degraded) once systemd inside has finished booting."""
    init = state = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            boot_failed(f"systemd-nspawn exited with status {proc.returncode} during boot")
        init = init or find_init(proc.pid)
        if init:
            # --wait blocks until boot is finished, once systemctl can reach systemd at all
            # (before that it says "offline" at once).
            try:
                state = subprocess.run(nsenter(init, "systemctl", "is-system-running", "--wait"),
                                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                       timeout=max(deadline - time.monotonic(), 0.1)).stdout.strip()
            except subprocess.TimeoutExpired:
                break
            if state in ("running", "degraded"):
                return init, state
            if state in ("maintenance", "stopping"):
                boot_failed(f"the host's systemd is {state}")
        time.sleep(0.05)
    boot_failed(f"the host did not finish booting within {BOOT_TIMEOUT} s "
                f"(is-system-running: {state or 'no answer'})")


def boot_failed(reason):
    say(f"nspawn log ({LOG}), last lines:")
    sys.stderr.write(tail(LOG))
    shutil.copyfile(LOG, FAILED_LOG)  # `up` tears down, state dir and log included
    raise Error(f"{reason}; log kept at {FAILED_LOG}")


def down():
    lock()
    was_up = running()
    teardown()
    say("down" if was_up else "already down")


def teardown():
    """Power off (or kill) whatever nspawn the state names, then clear cgroups and state."""
    nspawn, init = read_pid(NSPAWN_PID), read_pid(INIT_PID)
    if alive(nspawn, "systemd-nspawn"):
        if alive(init, "systemd"):
            os.kill(init, signal.SIGRTMIN + 4)  # systemd: poweroff
        else:
            os.kill(nspawn, signal.SIGTERM)  # nspawn -b: asks the container's init to halt
        if not wait_exit(nspawn, STOP_TIMEOUT):
            say(f"the host did not power off within {STOP_TIMEOUT} s: killing it")
            os.kill(nspawn, signal.SIGKILL)
            wait_exit(nspawn, 5)
    remove_cgroups()
    # nspawn's own leftover on this machine's /run (here a disk, not a tmpfs).
    try:
        os.rmdir(f"/run/systemd/nspawn/propagate/{rootfs.HOSTNAME}")
    except OSError:
        pass
    shutil.rmtree(STATE, ignore_errors=True)


def wait_exit(pid, timeout):
    """Wait for pid (not our child) to exit; True if it did."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def populated(cgroup):
    try:
        return "populated 1" in (cgroup / "cgroup.events").read_text()
    except OSError:
        return False


def remove_cgroups():
    """Kill what is left in our cgroup and remove it; remove empty nspawn leftovers at the root."""
    root = cgroup2_root()
    ours = root / CGROUP
    if populated(ours):
        (ours / "cgroup.kill").write_text("1")
        deadline = time.monotonic() + 10
        while populated(ours) and time.monotonic() < deadline:
            time.sleep(0.05)
    for top in (ours, root / "payload", root / "supervisor"):
        if not top.is_dir():
            continue
        if populated(top):  # an nspawn we did not start (at the root) still runs: not ours to kill
            say(f"warning: {top} still has processes; leaving it")
            continue
        for dirpath, _, _ in os.walk(top, topdown=False):
            try:
                os.rmdir(dirpath)
            except OSError as e:
                raise Error(f"cannot remove the cgroup {dirpath}: {e.strerror}")


def status():
    up = running()
    print("up" if up else "down")
    return 0 if up else 3
