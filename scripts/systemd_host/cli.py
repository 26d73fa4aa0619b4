"""Command line: prepare, up, down, status, run, shell (usage in scripts/systemd-host)."""

import os
import re
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from . import machine, rootfs
from .common import PATH, Error, lock, say

# Variables of the caller that `run` passes on (then -e KEY=VAL on top).
PASS_ENV = re.compile(r"RUST_BACKTRACE|RUST_LOG|BERTH_\w*|CARGO_\w*")
RUN_ERROR = 125  # `run` failing itself (not the command), as docker and podman do


def host_env(extra):
    env = {"PATH": PATH, "HOME": "/root", "USER": "root", "LOGNAME": "root", "LANG": "C.UTF-8"}
    env.update((k, v) for k, v in os.environ.items() if PASS_ENV.fullmatch(k))
    for item in extra:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise Error(f"-e wants KEY=VALUE, not '{item}'")
        env[key] = value
    return env


def workdir(init, wanted):
    """WorkingDirectory= for the unit: -C DIR must exist inside; the caller's cwd may not."""
    if wanted:
        path = os.path.abspath(wanted)
        if not Path(f"/proc/{init}/root{path}").is_dir():
            raise Error(f"no directory {path} inside the host")
        return path
    path = os.getcwd()
    if Path(f"/proc/{init}/root{path}").is_dir():
        return path
    say(f"note: {path} is not inside the host; running in /root")
    return "/root"


def resolve(init, name, cwd, path):
    """CMD as an absolute path inside the host, looked up like a shell would (with the command's
    PATH, relative to its working directory); systemd-run would look from / with its own PATH."""
    if "/" in name:
        candidates = [os.path.normpath(os.path.join(cwd, name))]
    else:
        candidates = [os.path.join(os.path.join(cwd, d), name) for d in path.split(":")]
    for candidate in candidates:
        # lexists: an absolute symlink inside would resolve against this machine's / from here.
        if os.path.lexists(f"/proc/{init}/root{candidate}"):
            return candidate
    return None


def unit_argv(init, env, cwd, tty=False, collect=False):
    """systemd-run, entered into the host, that makes the command a transient service of the
    host's systemd: so it lives in the host's cgroup tree (Delegate=yes: its own subtree to use),
    and systemd inside can move processes it starts into scope units. Without --collect a
    failed unit stays loaded (and the host degraded), so that run() can read how it ended;
    run() then resets it."""
    unit = f"berth-run-{secrets.token_hex(4)}.service"
    argv = machine.nsenter(init, "systemd-run", "--quiet", f"--unit={unit}", *["--collect"] * collect,
                           "--pty" if tty else "--pipe", "--wait",
                           # oneshot: no start timeout, and death by SIGTERM/SIGINT/SIGHUP counts
                           # as a failure (a daemon type would call it a clean exit)
                           "--service-type=oneshot",
                           "-p", "Delegate=yes", "-p", f"WorkingDirectory={cwd}",
                           *(f"--setenv={k}={v}" for k, v in env.items()), "--")
    return unit, argv


def run(args):
    env_items, cwd, cmd = [], None, None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            cmd = args[i + 1:]
            break
        if not arg.startswith("-"):
            cmd = args[i:]
            break
        opt, value = arg[:2], arg[2:]  # -e KEY=VAL or -eKEY=VAL, -C DIR or -CDIR
        if opt not in ("-e", "-C"):
            raise Error(f"run: unknown option '{arg}'")
        if not value:
            i += 1
            if i == len(args):
                raise Error(f"run: {opt} wants a value")
            value = args[i]
        if opt == "-e":
            env_items.append(value)
        else:
            cwd = value
        i += 1
    if not cmd:
        raise Error("usage: systemd-host run [-e KEY=VAL]... [-C DIR] -- CMD [ARGS...]")
    init = machine.init_pid()
    env, cwd = host_env(env_items), workdir(init, cwd)
    path = resolve(init, cmd[0], cwd, env["PATH"])
    if not path:
        say(f"{cmd[0]}: command not found in the host")
        return 127
    unit, argv = unit_argv(init, env, cwd)
    # systemd expands $VAR in the command line (systemd 252 has no --expand-environment=no): $$ is $.
    argv += [a.replace("$", "$$") for a in [path, *cmd[1:]]]

    # The command runs in the host, not under us: pass these signals on to all of its unit.
    def forward(sig, _frame):
        subprocess.call(machine.nsenter(init, "systemctl", "kill", f"--signal={int(sig)}",
                                        "--kill-whom=all", unit),
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, start_new_session=True, env={"PATH": PATH})
    rc = proc.wait()
    if rc != 0:
        # systemd-run says 255 for a command killed by a signal, 1 for a core dump: ask systemd.
        # (Without --collect the failed unit is still there to ask; then reset it.)
        script = 'systemctl show -p Result -p ExecMainStatus "$1"; systemctl reset-failed "$1" 2>/dev/null'
        show = subprocess.run(machine.nsenter(init, "sh", "-c", script, "sh", unit),
                              stdin=subprocess.DEVNULL, capture_output=True, text=True).stdout
        props = dict(line.split("=", 1) for line in show.splitlines() if "=" in line)
        if props.get("Result") in ("signal", "core-dump") and props.get("ExecMainStatus", "").isdigit():
            rc = 128 + int(props["ExecMainStatus"])
    return 128 - rc if rc < 0 else rc


def shell(args):
    if args:
        raise Error("usage: systemd-host shell")
    init = machine.init_pid()
    env = host_env([])
    env["TERM"] = os.environ.get("TERM", "xterm")
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    _, argv = unit_argv(init, env, workdir(init, None), tty, collect=True)
    os.execve("/usr/bin/env", ["env", f"PATH={PATH}", *argv, "/bin/bash", "-l"], {"PATH": PATH})


def interrupted(sig, _frame):
    raise Error(f"interrupted by signal {sig}")


USAGE = "usage: systemd-host prepare|up|down|status|shell|run [-e KEY=VAL]... [-C DIR] -- CMD..."


def main(argv):
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, file=sys.stderr if not argv else sys.stdout)
        return 0 if argv else 2
    command, args = argv[0], argv[1:]
    if command in ("prepare", "up", "down"):  # killed: stop debootstrap & co. too, say so, exit 1
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, interrupted)
    try:
        if os.geteuid() != 0:
            raise Error("must run as root")
        if command in ("prepare", "up", "down", "status") and args:
            raise Error(f"{command} takes no arguments")
        if command == "prepare":
            lock()
            if not rootfs.prepare(host_is_up=bool(machine.running())):
                say(f"host rootfs up to date: {rootfs.ROOTFS}")
            return 0
        if command == "up":
            machine.up()
            return 0
        if command == "down":
            machine.down()
            return 0
        if command == "status":
            return machine.status()
        if command == "run":
            return run(args)
        if command == "shell":
            return shell(args)
        raise Error(f"unknown command '{command}' ({USAGE})")
    except Error as e:
        say(f"error: {e}")
        return RUN_ERROR if command in ("run", "shell") else 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
