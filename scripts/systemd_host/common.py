"""Paths, messages and small helpers shared by the systemd-host subcommands."""

import fcntl
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

# scripts/systemd_host/common.py -> the repository (bind-mounted at the same path inside).
REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
PACKAGES_FILE = SCRIPTS / "systemd-host.packages"

CACHE = Path(os.environ.get("BERTH_SYSTEMD_HOST_CACHE") or "/var/cache/berth/systemd-host")
ROOTFS = CACHE / "rootfs"

STATE = Path("/run/berth-systemd-host")  # nspawn.pid, init.pid, nspawn.log
LOCK = Path("/run/berth-systemd-host.lock")  # outside STATE: `down` removes STATE

# What commands see on this machine and inside the host (root's usual PATH).
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Error(Exception):
    """A failure to report as one line on stderr."""


def say(msg):
    print(f"systemd-host: {msg}", file=sys.stderr, flush=True)


def lock():
    """Serialise prepare/up/down between concurrent callers (held until exit)."""
    fd = os.open(LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def tool_env(**extra):
    """A small, predictable environment for the tools we run."""
    env = {"PATH": PATH, "LANG": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
    env.update(extra)
    return env


def run_logged(argv, log, what, env=None):
    """Run argv with its output appended to the file `log`; on failure raise with the log's tail."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                env=env or tool_env(), start_new_session=True)
    try:
        rc = proc.wait()
    except BaseException:  # we are interrupted: stop it and all its children (dpkg, chroot...)
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    if rc != 0:
        sys.stderr.write(tail(log))
        raise Error(f"{what} failed (exit {rc}); full log: {log}")


def tail(path, lines=30):
    """The last lines of a log, without colours and blank lines (a console's CR LF makes many)."""
    try:
        text = re.sub(r"\x1b\[[0-9;]*m", "", Path(path).read_text(errors="replace")).splitlines()
    except OSError:
        return ""
    return "".join(f"  | {line}\n" for line in [t for t in text if t.strip()][-lines:])
