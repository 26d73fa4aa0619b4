"""Everything before the first test but the helpers (helpers.py): packages, runc's source, the test tree."""
import glob
import os
import re
import shutil
import subprocess
import tempfile

from . import images

# Debian packages the suite and the helper builds need (bats >= 1.2.1, jq, gawk, gcc for
# hooks.bats and seccomp.bats, Go and the -dev packages of recvtty/sd-helper/seccompagent).
PACKAGES = [
    "bats", "jq", "gawk", "gcc", "libc6-dev", "busybox-static", "util-linux", "iproute2",
    "dpkg-dev", "golang-go", "pkg-config", "libseccomp-dev",
    "golang-github-opencontainers-runc-dev", "golang-github-containerd-console-dev",
    "golang-github-urfave-cli-dev", "golang-github-coreos-go-systemd-dev",
    "golang-github-sirupsen-logrus-dev", "golang-github-seccomp-libseccomp-golang-dev",
]
COMMANDS = ["bats", "jq", "gawk", "gcc", "unshare", "timeout", "go"]


def install_packages():
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES], env=env, check=True)


def missing_commands():
    return [c for c in COMMANDS if shutil.which(c) is None]


def fetch(dest, package="runc"):
    """apt-get source PACKAGE into dest with a private deb-src list (the system's apt lists and
    caches stay untouched); unpacks the upstream tarball; returns the unpacked tree."""
    os.makedirs(dest, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="runc-suite-apt.")
    try:
        parts = os.path.join(tmp, "sources.list.d")
        lists = os.path.join(tmp, "lists")
        os.makedirs(os.path.join(lists, "partial"))
        os.makedirs(parts)
        n = 0
        for src in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
            text = open(src).read()
            text = re.sub(r"(?m)^Types:.*$", "Types: deb-src", text)
            with open(os.path.join(parts, f"{n}-src.sources"), "w") as f:
                f.write(text)
            n += 1
        for src in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
            if os.path.exists(src):
                lines = [re.sub(r"^deb(\s)", r"deb-src\1", l) for l in open(src) if l.startswith("deb ")]
                with open(os.path.join(parts, f"{n}-src.list"), "w") as f:
                    f.writelines(lines)
                n += 1
        opts = ["-o", "Dir::Etc::sourcelist=/dev/null", "-o", f"Dir::Etc::sourceparts={parts}",
                "-o", f"Dir::State::Lists={lists}", "-o", "Dir::Cache::pkgcache=",
                "-o", "Dir::Cache::srcpkgcache=", "-o", "APT::Sandbox::User=root"]
        subprocess.run(["apt-get", *opts, "update"], check=True)
        subprocess.run(["apt-get", *opts, "source", "--download-only", package], cwd=dest, check=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    origs = sorted(glob.glob(os.path.join(dest, f"{package}_*.orig.tar.*")))
    if not origs:
        raise SystemExit(f"runc-suite: no {package}_*.orig.tar.* in {dest}")
    version = re.match(rf"{package}_([^+~-]+)", os.path.basename(origs[-1])).group(1)
    tree = os.path.join(dest, f"{package}-{version}")
    if not os.path.isdir(tree):
        os.makedirs(tree)
        subprocess.run(["tar", "-xf", origs[-1], "-C", tree, "--strip-components=1"], check=True)
    return tree


GET_IMAGES = """#!/bin/bash
# Written by scripts/runc_suite (runc-suite.sh) in place of runc's get-images.sh, which
# downloads the images with curl: these were built offline by scripts/runc_suite/images.py.
echo BUSYBOX_IMAGE={busybox}
echo DEBIAN_IMAGE={debian}
"""


def test_tree(src, work, image_dir):
    """Copies src/tests/integration into work/tests/integration (fresh every run) with the
    offline get-images.sh; returns its path."""
    orig = os.path.join(src, "tests/integration")
    if not os.path.isfile(os.path.join(orig, "helpers.bash")):
        raise SystemExit(f"runc-suite: {orig}/helpers.bash not found: not a runc source tree")
    dest = os.path.join(work, "tests/integration")
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(orig, dest, symlinks=True)
    # Files the tests read beside the tree: go.mod (spec.bats), the helpers' scripts
    # (seccomp-notify.bats runs contrib/cmd/seccompagent/gen-seccomp-example-cfg.sh).
    for name in ("go.mod", "go.sum"):
        if os.path.exists(os.path.join(src, name)):
            shutil.copy2(os.path.join(src, name), os.path.join(work, name))
    for helper in glob.glob(os.path.join(src, "contrib/cmd/*/*")) + glob.glob(os.path.join(src, "tests/cmd/*/*")):
        if not helper.endswith(".go") and os.path.isfile(helper):
            target = os.path.join(work, os.path.relpath(helper, src))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(helper, target)
    busybox = images.busybox(os.path.join(image_dir, f"busybox-{images.VERSION}.tar.xz"))
    debian = images.debian(os.path.join(image_dir, f"debian-{images.VERSION}.tar.xz"))
    path = os.path.join(dest, "get-images.sh")
    with open(path, "w") as f:
        f.write(GET_IMAGES.format(busybox=busybox, debian=debian))
    os.chmod(path, 0o755)
    return dest
