#!/usr/bin/env python3
"""on-pty.py SECONDS CMD: runs `sh -c CMD` as the leader of a new session whose controlling
terminal is a new pseudo-terminal (its stdin, stdout and stderr), copies what it writes there to
stdout without carriage returns, and exits with its status (128+N when signal N killed it).

The client tests use it for `-t` (ctr, docker and podman want a terminal of their own). Unlike
script(1) it reads nothing from its own stdin, so it behaves the same whatever the caller's stdin
is (a terminal, a pipe, /dev/null, closed), and it cannot hang: after SECONDS it kills every
process of the session and exits 124; once the command has exited it reads the terminal for at
most 2 seconds more (a daemon the command left behind may hold it open).
"""

import fcntl
import os
import pty
import select
import signal
import sys
import termios
import time


def kill_session(sid):
    """SIGKILL to every process whose session is `sid`."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid:
                os.kill(int(entry), signal.SIGKILL)
        except (OSError, IndexError, ValueError):
            pass


def copy(master, out):
    """One read of the terminal to `out`; False once no process holds the terminal open."""
    try:
        data = os.read(master, 65536)
    except OSError:  # EIO: the last holder of the terminal closed it
        return False
    out.write(data.replace(b"\r", b""))
    out.flush()
    return bool(data)


def main():
    seconds, cmd = float(sys.argv[1]), sys.argv[2]
    master, slave = pty.openpty()
    pid = os.fork()
    if pid == 0:
        os.close(master)
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        os.close(slave)
        os.execvp("sh", ["sh", "-c", cmd])
    os.close(slave)
    pidfd = os.pidfd_open(pid)
    out = sys.stdout.buffer
    deadline = time.monotonic() + seconds
    tty_open = True
    status = None
    while status is None:
        left = deadline - time.monotonic()
        if left <= 0:
            kill_session(pid)
            os.waitpid(pid, 0)
            print(f"on-pty: '{cmd}' still running after {seconds:g} s: killed", file=sys.stderr)
            sys.exit(124)
        ready, _, _ = select.select([pidfd] + ([master] if tty_open else []), [], [], left)
        if master in ready:
            tty_open = copy(master, out)
        if pidfd in ready:
            status = os.waitpid(pid, 0)[1]
    quiet_until = min(time.monotonic() + 2, deadline)
    while tty_open:
        left = quiet_until - time.monotonic()
        if left <= 0 or not select.select([master], [], [], left)[0]:
            break
        tty_open = copy(master, out)
    code = os.waitstatus_to_exitcode(status)
    sys.exit(code if code >= 0 else 128 - code)


if __name__ == "__main__":
    main()
