"""`prepare`: the host's tools on this machine, and the cached Debian rootfs the host boots."""

import hashlib
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from .common import CACHE, PACKAGES_FILE, ROOTFS, Error, run_logged, say, tool_env

# Bump when configure() changes, so that existing caches get rebuilt.
FORMAT = 2
HOSTNAME = "berth-host"
STAMP = "etc/berth-systemd-host.stamp"  # inside the rootfs, so it is renamed together with it

# Units masked in the host. None fails in this container; but console-getty would run agetty on
# nspawn's read-only console (a login prompt nobody can answer, in our log), the timers would run
# apt, dpkg backups, e2scrub, fstrim or /tmp cleaning at random moments during tests, and the
# network units (not enabled by default: belt and braces) could hold boot up waiting for a network
# the host shares with this machine.
MASKED = [
    "console-getty.service", "container-getty@.service", "getty@.service",
    "serial-getty@.service", "getty.target",
    "systemd-networkd-wait-online.service", "systemd-networkd.service",
    "systemd-networkd.socket", "systemd-resolved.service", "systemd-timesyncd.service",
    "apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer",
    "e2scrub_all.timer", "e2scrub_reap.service", "fstrim.timer",
    "systemd-tmpfiles-clean.timer",
    # The clients' own daemons: integration/clients.sh starts private ones, and a dockerd
    # started at boot would make docker0 and change this machine's iptables (shared network).
    "containerd.service", "docker.service", "docker.socket", "podman.socket",
    "podman.service", "podman-restart.service", "podman-auto-update.service",
    "podman-auto-update.timer",
]

# Tools `prepare`/`up` use on this machine: command -> Debian package.
TOOLS = {"debootstrap": "debootstrap", "systemd-nspawn": "systemd-container",
         "nsenter": "util-linux", "unshare": "util-linux"}


def ensure_tools():
    missing = sorted({pkg for cmd, pkg in TOOLS.items() if not shutil.which(cmd, path=tool_env()["PATH"])})
    if not missing:
        return
    say(f"installing {' '.join(missing)} with apt-get")
    log = CACHE / "apt.log"
    CACHE.mkdir(parents=True, exist_ok=True)
    run_logged(["apt-get", "update", "-q"], log, "apt-get update")
    run_logged(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], log,
               "apt-get install")


def suite():
    """This machine's Debian release: binaries built here must find the same glibc inside."""
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("VERSION_CODENAME=") and line.split("=", 1)[1].strip('"'):
                return line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return "bookworm"


def mirror(release):
    """The machine's own Debian mirror for `release`, from its apt sources (deb822 first)."""
    try:
        stanzas = Path("/etc/apt/sources.list.d/debian.sources").read_text().split("\n\n")
    except OSError:
        stanzas = []
    for stanza in stanzas:
        fields = {}
        for line in stanza.splitlines():
            if ":" in line and not line.startswith(("#", " ", "\t")):
                key, value = line.split(":", 1)
                fields[key.strip().lower()] = value.split()
        if "deb" in fields.get("types", []) and release in fields.get("suites", []) and fields.get("uris"):
            return fields["uris"][0]
    try:
        for line in Path("/etc/apt/sources.list").read_text().splitlines():
            words = [w for w in line.split("#", 1)[0].split() if not w.startswith("[")]
            if len(words) >= 3 and words[0] == "deb" and words[2] == release:
                return words[1]
    except OSError:
        pass
    return "http://deb.debian.org/debian"


def packages():
    try:
        lines = PACKAGES_FILE.read_text().splitlines()
    except OSError as e:
        raise Error(f"cannot read the package list {PACKAGES_FILE}: {e.strerror}")
    return sorted({w for line in lines for w in line.split("#", 1)[0].split()})


def wanted_stamp():
    text = (f"format {FORMAT}\nsuite {suite()}\nmasked {' '.join(MASKED)}\n"
            + "".join(p + "\n" for p in packages()))
    return hashlib.sha256(text.encode()).hexdigest()


def is_fresh():
    try:
        return (ROOTFS / STAMP).read_text().strip() == wanted_stamp()
    except OSError:
        return False


def prepare(host_is_up=False):
    """Make sure the tools are here and the cached rootfs matches the package list."""
    ensure_tools()
    if is_fresh():
        return False
    if host_is_up and ROOTFS.exists():
        raise Error("the cached rootfs is out of date (package list or format changed) and the host "
                    "is up on it: run 'down' first")
    started = time.monotonic()
    CACHE.mkdir(parents=True, exist_ok=True)
    for stale in CACHE.glob("rootfs.*"):  # leftovers of an interrupted prepare
        remove_tree(stale)
    release, url, pkgs = suite(), mirror(suite()), packages()
    new = CACHE / f"rootfs.new.{os.getpid()}"
    log = CACHE / "debootstrap.log"
    log.write_text("")
    say(f"building the host rootfs: debootstrap {release} from {url} with {len(pkgs)} packages "
        f"(log: {log})")
    (CACHE / "debs").mkdir(exist_ok=True)
    try:
        run_logged(["debootstrap", "--variant=minbase", "--include=" + ",".join(pkgs),
                    "--cache-dir=" + str(CACHE / "debs"), release, str(new), url], log, "debootstrap")
        configure(new)
        (new / STAMP).write_text(wanted_stamp() + "\n")
    except BaseException:
        remove_tree(new)
        raise
    # Swap the finished tree in; an interruption before this leaves the old cache (or none).
    if ROOTFS.exists():
        old = CACHE / f"rootfs.old.{os.getpid()}"
        ROOTFS.rename(old)
        new.rename(ROOTFS)
        remove_tree(old)
    else:
        new.rename(ROOTFS)
    say(f"host rootfs ready in {time.monotonic() - started:.0f} s: {ROOTFS}")
    return True


def remove_tree(path):
    """rm -rf that first unmounts what a killed debootstrap left mounted inside (proc, sys)."""
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f]
    for mount in sorted((m for m in mounts if m.startswith(f"{path}/")), reverse=True):
        subprocess.call(["umount", "-l", mount], env=tool_env())
    shutil.rmtree(path, ignore_errors=True)


def write(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def configure(root):
    """Make the fresh tree boot fast and clean as a container."""
    write(root, "etc/hostname", HOSTNAME + "\n")
    write(root, "etc/hosts", f"127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n::1\tlocalhost\n")
    write(root, "etc/machine-id", uuid.uuid4().hex + "\n")
    for unit in MASKED:
        link = root / "etc/systemd/system" / unit
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to("/dev/null")
    # A stuck test process must not hold up `down` for systemd's default 90 s.
    write(root, "etc/systemd/system.conf.d/berth.conf",
          "[Manager]\nDefaultTimeoutStopSec=10s\n")
    # The boot is thrown away anyway: keep the journal in memory.
    write(root, "etc/systemd/journald.conf.d/berth.conf", "[Journal]\nStorage=volatile\n")
    # Nothing inside installs packages: drop the downloaded indexes and archives.
    subprocess.call(["chroot", str(root), "apt-get", "clean"], env=tool_env(),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for lists in (root / "var/lib/apt/lists").glob("*_*"):
        lists.unlink()
