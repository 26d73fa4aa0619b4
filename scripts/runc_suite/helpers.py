"""The helper binaries helpers.bash runs, built from the runc tree with Go, offline.

runc 1.1.5 keeps three in contrib/cmd/X and runs them as contrib/cmd/X/X; Debian's +ds source
has no vendor/, so they build in GOPATH mode over Debian's golang-*-dev packages.
runc's main branch keeps seven in tests/cmd/X (recvtty, sd-helper, seccompagent, fs-idmap,
pidfd-kill, remap-rootfs, key_label) and runs them as tests/cmd/_bin/X; a git tree has
vendor/, so they build in module mode with -mod=vendor and the Go its go.mod wants
(toolchain.py). Either way the binaries land under the work directory, where the copy of
tests/integration finds them through the same relative paths.
"""
import glob
import os
import shutil
import subprocess

from . import toolchain

# Build tags per helper (runc's Makefile builds everything with "seccomp"; its other tag,
# libpathrs, needs a C library Debian lacks: without it runc's code uses its pure-Go path).
TAGS = {"seccompagent": ["seccomp"]}
# runc 1.1.5's helpers (contrib/cmd holds other programs the suite does not run).
CONTRIB = ["recvtty", "sd-helper", "seccompagent"]


def find(src):
    """[(name, source dir relative to src, output path relative to the work dir)]."""
    found = []
    tests_cmd = os.path.join(src, "tests/cmd")
    for name in sorted(os.listdir(tests_cmd)) if os.path.isdir(tests_cmd) else []:
        if glob.glob(os.path.join(tests_cmd, name, "*.go")):
            found.append((name, f"tests/cmd/{name}", f"tests/cmd/_bin/{name}"))
    if not found:
        for name in CONTRIB:
            if os.path.isdir(os.path.join(src, "contrib/cmd", name)):
                found.append((name, f"contrib/cmd/{name}", f"contrib/cmd/{name}/{name}"))
    return found


def _newest_mtime(paths):
    return max((os.path.getmtime(p) for p in paths), default=0)


def build(src, work, log):
    """Builds the helpers of src into work. Returns {name: error} for those that did not build."""
    errors = {}
    found = find(src)
    if not found:
        return {"helpers": "no tests/cmd/* nor contrib/cmd/{recvtty,sd-helper,seccompagent} in the tree"}
    todo = []
    for name, rel, out in found:
        out = os.path.join(work, out)
        if os.path.exists(out) and os.path.getmtime(out) >= _newest_mtime(glob.glob(os.path.join(src, rel, "*.go"))):
            continue
        todo.append((name, rel, out))
    if not todo:
        return errors
    try:
        go = toolchain.go_for(src, os.path.join(os.path.dirname(work), "toolchains"))
    except RuntimeError as e:
        return {name: f"no Go: {e}" for name, _, _ in todo}
    env = dict(os.environ, GOFLAGS="", GOCACHE=os.path.join(work, "gocache"), CGO_ENABLED="1",
               GOTOOLCHAIN="local", GOPROXY="off", PATH=os.path.dirname(go) + ":" + os.environ.get("PATH", ""))
    gopath = os.path.join(work, "gopath")
    mirror = os.path.join(gopath, "src/github.com/opencontainers/runc")
    with open(log, "a") as f:
        f.write(f"# {go}: {subprocess.run([go, 'version'], capture_output=True, text=True, env=env).stdout}")
    for name, rel, out in todo:
        if os.path.isdir(os.path.join(src, "vendor")):
            # A git tree: module mode with its vendor directory.
            cmd, cwd = [go, "build", "-mod=vendor"], src
            env["GO111MODULE"] = "on"
        else:
            # Debian's +ds source has no vendor/: GOPATH mode over Debian's /usr/share/gocode.
            if not os.path.isdir(mirror):
                shutil.copytree(src, mirror, symlinks=True, ignore=shutil.ignore_patterns(".git"))
            cmd, cwd = [go, "build"], mirror
            env.update(GO111MODULE="off", GOPATH=f"{gopath}:/usr/share/gocode")
        if TAGS.get(name):
            cmd += ["-tags", ",".join(TAGS[name])]
        cmd += ["-o", out, "./" + rel]
        r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        with open(log, "a") as f:
            f.write(f"$ {' '.join(cmd)}\n{r.stdout}{r.stderr}\n")
        if r.returncode != 0:
            errors[name] = (r.stderr.strip().splitlines() or ["go build failed"])[-1]
    return errors
