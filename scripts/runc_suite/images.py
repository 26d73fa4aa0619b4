"""The two images the suite wants, built offline from Debian packages already on the machine.

busybox: what docker's busybox (glibc) image holds that the tests use: /bin/busybox (Debian's
static one) with one hard link per applet in /bin, /etc/passwd, /etc/group and /etc/shadow as
in docker's image, and the usual empty directories.

debian: what runc's tests run in debian:buster-slim: 1.1.5's hooks.bats runs ldconfig and
grep; main's idmap, mounts_*, ioprio, scheduler and hooks_so run bash, touch, stat, findmnt,
ionice, chrt, sleep... The host's programs of DEBIAN_PACKAGES (dash as /bin/sh) and the
libraries they load, in a non-merged-/usr layout like buster-slim's.
"""
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile

# Part of the images' file names: bump it when what they hold changes.
VERSION = 3
# The Debian packages whose programs the debian image holds (those installed on the host).
DEBIAN_PACKAGES = ["dash", "bash", "coreutils", "util-linux", "mount", "grep", "sed", "findutils",
                   "libc-bin", "procps", "hostname"]

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
"""
GROUP = """\
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
kmem:x:9:
wheel:x:10:root
cdrom:x:11:
dialout:x:18:
floppy:x:19:
video:x:28:
audio:x:29:
tape:x:32:
www-data:x:33:
operator:x:37:
utmp:x:43:
plugdev:x:46:
staff:x:50:
lock:x:54:
netdev:x:82:
users:x:100:
nogroup:x:65534:
"""
SHADOW = "".join(line.split(":")[0] + ":*:10933:0:99999:7:::\n" for line in PASSWD.splitlines())


def _dir(tar, name, mode=0o755):
    info = tarfile.TarInfo("./" + name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    tar.addfile(info)


def _text(tar, name, text, mode=0o644):
    data = text.encode()
    info = tarfile.TarInfo("./" + name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def _write_atomically(dest, build):
    """Runs build(tarfile) into dest.tmp, renames it to dest."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    tmp = dest + ".tmp"
    with tarfile.open(tmp, "w:xz", format=tarfile.GNU_FORMAT) as tar:
        build(tar)
    os.rename(tmp, dest)


def busybox(dest, binary="/bin/busybox"):
    if os.path.exists(dest):
        return dest
    if not os.path.exists(binary):
        raise SystemExit(f"runc-suite: {binary} not found (apt-get install busybox-static)")
    if subprocess.run(["ldd", binary], capture_output=True).returncode == 0:
        raise SystemExit(f"runc-suite: {binary} is dynamically linked (apt-get install busybox-static)")
    applets = subprocess.run([binary, "--list"], capture_output=True, text=True, check=True).stdout.split()

    def build(tar):
        # No /proc nor /sys, as in docker's image: mask.bats replaces them with symlinks.
        for d in ["bin", "dev", "etc", "home", "usr", "usr/sbin", "var",
                  "var/spool", "var/spool/mail", "var/www"]:
            _dir(tar, d)
        _dir(tar, "root", 0o700)
        _dir(tar, "tmp", 0o1777)
        tar.add(binary, "./bin/busybox", recursive=False)
        for applet in sorted(set(applets) - {"busybox"}):
            info = tarfile.TarInfo("./bin/" + applet)
            info.type = tarfile.LNKTYPE
            info.linkname = "./bin/busybox"
            info.mode = 0o755
            tar.addfile(info)
        _text(tar, "etc/passwd", PASSWD)
        _text(tar, "etc/group", GROUP)
        _text(tar, "etc/shadow", SHADOW, 0o640)
        _text(tar, "etc/hostname", "busybox\n")
    _write_atomically(dest, build)
    return dest


def _libraries(binary):
    out = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) > parts.index("=>") + 1 and parts[parts.index("=>") + 1].startswith("/"):
            libs.append(parts[parts.index("=>") + 1])
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])
    return libs


def _package_programs(packages):
    """{path in the image: host file} for the programs (*bin/*) of the installed packages,
    at the paths dpkg lists them under (/bin, /sbin, /usr/bin...: a non-merged-/usr layout)."""
    programs = {}
    for package in packages:
        r = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
        for path in r.stdout.splitlines() if r.returncode == 0 else []:
            if re.match(r"^/(usr/)?s?bin/[^/]+$", path) and os.path.isfile(path) and not os.path.islink(path):
                programs[path.lstrip("/")] = path
    return programs


def debian(dest):
    if os.path.exists(dest):
        return dest
    programs = _package_programs(DEBIAN_PACKAGES)
    programs["bin/sh"] = "/bin/dash"
    libs = set()
    for src in programs.values():
        libs.update(_libraries(src))

    def build(tar):
        for d in ["bin", "dev", "etc", "home", "lib", "lib/x86_64-linux-gnu", "lib64", "proc", "sbin",
                  "sys", "usr", "usr/bin", "usr/lib", "usr/sbin", "var", "run"]:
            _dir(tar, d)
        _dir(tar, "root", 0o700)
        _dir(tar, "tmp", 0o1777)
        for name, src in sorted(programs.items()):
            tar.add(os.path.realpath(src), "./" + name, recursive=False)
        for lib in sorted(libs):
            real = os.path.realpath(lib)
            base = os.path.basename(lib)
            where = "lib64/" if base.startswith("ld-linux") else "lib/x86_64-linux-gnu/"
            tar.add(real, "./" + where + base, recursive=False)
        _text(tar, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
        _text(tar, "etc/group", "root:x:0:\nnogroup:x:65534:\n")
        _text(tar, "etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n")
        _dir(tar, "etc/ld.so.conf.d")
        _text(tar, "etc/ld.so.conf.d/x86_64-linux-gnu.conf", "/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n")
        _text(tar, "etc/debian_version", open("/etc/debian_version").read() if os.path.exists("/etc/debian_version") else "12\n")
    _write_atomically(dest, build)
    return dest
